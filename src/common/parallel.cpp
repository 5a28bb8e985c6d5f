#include "common/parallel.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace eco {

int thread_count() {
  static const int n = [] {
    if (const char* env = std::getenv("ECO_THREADS")) {
      const int v = std::atoi(env);
      if (v > 0) return v;
    }
    return int(std::max(1u, std::thread::hardware_concurrency()));
  }();
  return n;
}

namespace {

// Workers wait on a generation counter; each job is a list of chunks claimed by index.
class Pool {
 public:
  explicit Pool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void run(size_t chunks, const std::function<void(size_t)>& job) {
    std::unique_lock lk(mu_);
    job_ = &job;
    chunks_ = chunks;
    next_ = 0;
    done_ = 0;
    error_ = nullptr;
    ++generation_;
    cv_.notify_all();
    lk.unlock();
    work();  // the caller helps
    lk.lock();
    done_cv_.wait(lk, [&] { return done_ == chunks_; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      work();
    }
  }

  void work() {
    for (;;) {
      size_t i;
      const std::function<void(size_t)>* job;
      {
        std::lock_guard lk(mu_);
        if (job_ == nullptr || next_ >= chunks_) return;
        i = next_++;
        job = job_;
      }
      try {
        (*job)(i);
      } catch (...) {
        std::lock_guard lk(mu_);
        if (!error_) error_ = std::current_exception();
      }
      std::lock_guard lk(mu_);
      if (++done_ == chunks_) done_cv_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(size_t)>* job_ = nullptr;
  size_t chunks_ = 0, next_ = 0, done_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool p(thread_count() - 1);
  return p;
}

std::mutex& pool_entry() {
  static std::mutex m;
  return m;
}

}  // namespace

void parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn, size_t min_chunk) {
  if (n == 0) return;
  const size_t workers = size_t(thread_count());
  min_chunk = std::max<size_t>(1, min_chunk);
  size_t chunks = std::min(workers * 4, (n + min_chunk - 1) / min_chunk);
  // Nested or concurrent calls run inline rather than deadlocking on the one pool.
  std::unique_lock entry(pool_entry(), std::try_to_lock);
  if (chunks <= 1 || workers == 1 || !entry.owns_lock()) {
    fn(0, n);
    return;
  }
  const size_t per = (n + chunks - 1) / chunks;
  chunks = (n + per - 1) / per;
  pool().run(chunks, [&](size_t c) { fn(c * per, std::min(n, (c + 1) * per)); });
}

}  // namespace eco
