// strata/core/parallel.hpp — how many CPU threads strata uses (process-wide, or for one thread of
// the caller's: a data-parallel replica, a loader worker) and the parallel loops it splits work
// with (OpenMP when the build has it, serial otherwise).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace strata {

namespace detail {
inline std::atomic<int>& thread_setting() {
  static std::atomic<int> n{0};  // 0: as many as OpenMP offers
  return n;
}
// A budget for the calling thread alone (0: none; the process-wide setting applies).
inline int& thread_budget_here() {
  thread_local int n = 0;
  return n;
}
inline std::atomic<std::int64_t>& parallel_threshold_setting() {
  // Below this many elements an element-wise loop runs on one thread: forking costs a few
  // microseconds, which is what ~64k floats take to stream through one core.
  static std::atomic<std::int64_t> n{1 << 16};
  return n;
}
}  // namespace detail

// Threads strata uses for its CPU loops (and asks Eigen/BLAS to use for GEMM): the calling
// thread's budget when it has one, else the process-wide setting.
inline int num_threads() {
#if defined(_OPENMP)
  if (const int here = detail::thread_budget_here(); here > 0) return here;
  const int n = detail::thread_setting().load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
#else
  return 1;
#endif
}

// n <= 0 restores the default (OpenMP's, i.e. OMP_NUM_THREADS or the number of cores).
inline void set_num_threads(int n) { detail::thread_setting().store(n > 0 ? n : 0); }

// Limits strata's loops on the calling thread to n threads while it lives (n <= 0: no limit of
// its own), restoring the previous budget after. R replicas training side by side on C cores
// each take C / R, so the process never runs more compute threads than cores.
class thread_budget {
 public:
  explicit thread_budget(int n) : previous_(detail::thread_budget_here()) {
    detail::thread_budget_here() = n > 0 ? n : 0;
#if defined(_OPENMP)
    // OpenMP's own default for this thread too (a per-thread setting), for loops that name no count.
    omp_previous_ = omp_get_max_threads();
    if (n > 0) omp_set_num_threads(n);
#endif
  }
  thread_budget(const thread_budget&) = delete;
  thread_budget& operator=(const thread_budget&) = delete;
  ~thread_budget() {
    detail::thread_budget_here() = previous_;
#if defined(_OPENMP)
    omp_set_num_threads(omp_previous_);
#endif
  }

 private:
  int previous_;
  int omp_previous_ = 0;
};

// True inside one of strata's (or anyone's) OpenMP parallel regions.
inline bool in_parallel_region() {
#if defined(_OPENMP)
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

inline std::int64_t parallel_threshold() { return detail::parallel_threshold_setting().load(); }
inline void set_parallel_threshold(std::int64_t elements) {
  detail::parallel_threshold_setting().store(std::max<std::int64_t>(elements, 1));
}

// Calls body() once on each of `threads` threads at once, the calling thread among them (one
// OpenMP team, so no threads beyond strata's own), for work the threads share by claiming items
// from a counter: items of uneven cost, or items that threads outside the team claim too.
template <class Body>
void on_team(int threads, Body&& body) {
#if defined(_OPENMP)
  if (threads > 1 && !in_parallel_region()) {
#pragma omp parallel num_threads(threads)
    body();
    return;
  }
#endif
  (void)threads;
  body();
}

// Splits [0, n) into one contiguous range per thread, boundaries rounded to `align` elements
// (a cache line of floats by default, so threads never share a line they write), and calls
// body(begin, end) once per non-empty range. Serial when n is below the threshold.
template <class Body>
void parallel_ranges(std::int64_t n, Body&& body, std::int64_t align = 16,
                     std::int64_t threshold = parallel_threshold()) {
  if (n <= 0) return;
  int threads = num_threads();
  if (n < threshold || threads <= 1) {
    body(std::int64_t{0}, n);
    return;
  }
  threads = static_cast<int>(std::min<std::int64_t>(threads, (n + align - 1) / align));
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
  {
    const std::int64_t t = omp_get_thread_num();
    const std::int64_t nt = omp_get_num_threads();
    const std::int64_t per = ((n + nt - 1) / nt + align - 1) / align * align;
    const std::int64_t begin = std::min(n, t * per);
    const std::int64_t end = std::min(n, begin + per);
    if (begin < end) body(begin, end);
  }
#else
  body(std::int64_t{0}, n);
#endif
}

// Splits [0, n) into `chunks` contiguous pieces of near-equal size and calls
// body(chunk, begin, end) for each, in parallel. Unlike parallel_ranges the chunk index is
// stable, so callers can give each chunk its own accumulator and combine them in a fixed
// order afterwards (deterministic for a given chunk count).
template <class Body>
void parallel_chunks(std::int64_t n, std::int64_t chunks, Body&& body) {
  if (n <= 0 || chunks <= 0) return;
  chunks = std::min(chunks, n);
  const auto range = [&](std::int64_t c) {
    const std::int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    if (begin < end) body(c, begin, end);
  };
#if defined(_OPENMP)
  if (chunks > 1) {
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(std::min<std::int64_t>(chunks, num_threads())))
    for (std::int64_t c = 0; c < chunks; ++c) range(c);
    return;
  }
#endif
  for (std::int64_t c = 0; c < chunks; ++c) range(c);
}

}  // namespace strata
