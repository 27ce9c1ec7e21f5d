// strata/core/thread_plan.hpp — one rule for sharing a node's cores among MPI ranks, strata's
// compute threads and data-loader workers, so that together they never ask for more cores than
// there are: plan_threads(cores, ranks per node, loader workers[, compute threads]), the cores
// this process may use, and the priority a thread runs at.
//
// The rule (plan_threads): each rank gets cores / ranks cores; its compute threads take all of
// them unless fewer are asked for; a loader worker runs as a thread of its own only on a core the
// compute leaves free, and the work of every other worker is done on the compute threads, between
// steps (data::loader does it inside next(), all compute threads together). So ranks × (compute
// threads + worker threads) ≤ cores. Why not let workers share the compute's cores: the compute
// threads meet at a barrier many times per step (every parallel loop), so a worker that takes a
// core from ONE of them stalls them ALL for as long as it runs — on 2 cores a loader costing ~5 %
// of one core cost 4–7 % of the training throughput, at normal priority and (on Linux 6.18's
// scheduler) still ~3.5 % at idle priority; made on the compute threads it cost ~2 %, its CPU time
// spread over both (benchmarks/RESULTS.md, loader_overlap).
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <thread>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "strata/core/parallel.hpp"

namespace strata {

enum class thread_priority {
  normal,  // shares the cores equally with the compute (and preempts it when woken)
  idle,    // meant for cycles no normal-priority thread wants (Linux SCHED_IDLE); the scheduler
           // still lends it some, in slices that stall a compute team (see above)
};

// How one rank's threads use its cores. compute_threads + dedicated_workers ≤ cores_per_rank.
struct thread_plan {
  int cores_per_rank = 1;
  int compute_threads = 1;    // for set_num_threads / thread_budget on this rank
  int loader_workers = 0;     // loader workers on this rank, as asked for
  int dedicated_workers = 0;  // of those, the ones with a core of their own: threads at normal priority

  // Workers without a core of their own: their work runs on the compute threads, between steps.
  constexpr int workers_on_compute_threads() const { return loader_workers - dedicated_workers; }
};

// The rule above. cores: cores of the node (or of the process's affinity mask); ranks_per_node:
// processes sharing them (each gets at least one core: more ranks than cores oversubscribe
// whatever the threads do); loader_workers: background loader threads per rank;
// compute_threads: per rank, ≤ 0 for all its cores (more than its cores are cut to its cores).
constexpr thread_plan plan_threads(int cores, int ranks_per_node, int loader_workers, int compute_threads = 0) {
  thread_plan p;
  p.cores_per_rank = std::max(1, std::max(1, cores) / std::max(1, ranks_per_node));
  p.compute_threads = compute_threads > 0 ? std::min(compute_threads, p.cores_per_rank) : p.cores_per_rank;
  p.loader_workers = std::max(0, loader_workers);
  p.dedicated_workers = std::min(p.loader_workers, p.cores_per_rank - p.compute_threads);
  return p;
}

// CPUs this process may run on (its affinity mask on Linux, which an MPI launcher that binds
// ranks narrows to the rank's own cores), else the hardware's count.
inline int available_cores() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1, int(std::thread::hardware_concurrency()));
}

namespace detail {
inline std::atomic<int>& local_ranks_setting() {
  static std::atomic<int> n{0};  // 0: from the launcher's environment
  return n;
}
}  // namespace detail

// Processes of this job on this node: set_local_ranks(n) (a trainer that knows), else what
// Open MPI (OMPI_COMM_WORLD_LOCAL_SIZE) or MPICH (MPI_LOCALNRANKS) told the process, else 1.
inline int local_ranks() {
  if (const int n = detail::local_ranks_setting().load(); n > 0) return n;
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"})
    if (const char* v = std::getenv(name); v && std::atoi(v) > 0) return std::atoi(v);
  return 1;
}
inline void set_local_ranks(int n) { detail::local_ranks_setting().store(std::max(0, n)); }

// The plan for this process as it runs now: its cores (a mask narrower than the machine means
// the launcher already gave this rank its own cores, so they are not divided again), the local
// ranks, and the compute threads of the calling thread (num_threads(): its thread_budget, the
// process-wide setting, or OpenMP's default).
inline thread_plan plan_threads_here(int loader_workers) {
  const int cores = available_cores();
  const int machine = std::max(1, int(std::thread::hardware_concurrency()));
  const int ranks = cores < machine ? 1 : local_ranks();
  return plan_threads(cores, ranks, loader_workers, num_threads());
}

// Sets the calling thread's priority; false where the system refused or has no such notion.
// Lowering is always allowed; raising back from idle may need privileges (new threads inherit
// their creator's priority, so give the lower one only to threads that keep it).
inline bool set_this_thread_priority(thread_priority p) {
#if defined(__linux__)
  sched_param none{};
  none.sched_priority = 0;
  if (pthread_setschedparam(pthread_self(), p == thread_priority::idle ? SCHED_IDLE : SCHED_OTHER, &none) == 0)
    return true;
  // Without SCHED_IDLE (some containers filter it), the lowest nice value comes closest.
  if (p == thread_priority::idle) return setpriority(PRIO_PROCESS, id_t(syscall(SYS_gettid)), 19) == 0;
#else
  (void)p;
#endif
  return false;
}

// The calling thread's priority (idle: SCHED_IDLE, or SCHED_OTHER at nice 19).
inline thread_priority this_thread_priority() {
#if defined(__linux__)
  int policy = 0;
  sched_param param{};
  if (pthread_getschedparam(pthread_self(), &policy, &param) == 0 && policy == SCHED_IDLE) return thread_priority::idle;
  errno = 0;
  if (getpriority(PRIO_PROCESS, id_t(syscall(SYS_gettid))) == 19 && errno == 0) return thread_priority::idle;
#endif
  return thread_priority::normal;
}

}  // namespace strata
