#include "common/parallel.h"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "common/error.h"

namespace eco {

namespace {

// More workers than this only add switching; the limit also keeps a typo (100000) from trying
// to start that many threads.
constexpr long kMaxThreads = 1024;

int threads_from_env() {
  const char* env = std::getenv("ECO_THREADS");
  if (env == nullptr || *env == '\0') return int(std::max(1u, std::thread::hardware_concurrency()));
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(env, &end, 10);
  if (end == env || *end != '\0' || errno != 0 || v < 1 || v > kMaxThreads)
    fail("ECO_THREADS='{}': give a whole number of threads from 1 to {}", env, kMaxThreads);
  return int(v);
}

}  // namespace

int thread_count() {
  static const int n = threads_from_env();
  return n;
}

namespace {

// Workers wait on a generation counter; each job is a list of chunks claimed by index.
class Pool {
 public:
  explicit Pool(int workers) {
    try {
      for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { loop(); });
    } catch (const std::system_error& e) {
      // Out of memory for stacks or over a process limit: stop the workers already started
      // (the destructor does not run when the constructor throws) and say what to change.
      const size_t started = threads_.size();
      shutdown();
      fail("cannot start {} worker threads (started {}: {}); set ECO_THREADS to a smaller number",
           workers, started, e.what());
    }
  }
  ~Pool() { shutdown(); }

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
  void shutdown() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

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
