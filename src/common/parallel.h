#pragma once
// A small fixed thread pool for the CPU reference engine and the synthetic model writer.
// parallel_for splits [0, n) into contiguous chunks, one per worker; it blocks until all finish.
#include <cstddef>
#include <functional>

namespace eco {

// Number of worker threads (ECO_THREADS env var, else hardware concurrency).
int thread_count();

// Calls fn(begin, end) on disjoint chunks covering [0, n). Runs inline when n is small.
void parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn, size_t min_chunk = 1);

}  // namespace eco
