// strata/parallel/nccl_communicator.cuh — the communicator over NCCL for Model<…, cuda> replicas, one
// GPU per rank: rank-order sums bit-identical to the thread and MPI transports (NCCL's order on
// request), started sums that overlap backward on a stream of their own, one-thread-per-GPU groups.
//
// nvcc only (.cu files, after <strata/cuda.hpp>); link NCCL (-lnccl; in this tree's CMake, strata::nccl
// from cmake/StrataNccl.cmake). A rank-order sum is a direct exchange (rank r receives every
// rank's part r = [N·r/R, N·(r+1)/R) by ncclSend/ncclRecv in one group), a kernel that adds them in
// rank order, and a gather: ncclAllGather in place when the parts are equal, ncclSend/ncclRecv when
// they are not (ncclAllGather takes one count; no padding, so the same bytes move either way).
//
// Two ways to run ranks:
//  - one process per GPU (MPI or any launcher): every process makes a communicator from the same
//    ncclUniqueId, made on one rank and broadcast over a host communicator (nccl_unique_id):
//      parallel::mpi_communicator world;                           // strata/mpi.hpp
//      parallel::nccl_communicator gpus(parallel::nccl_unique_id(world), world.rank(), world.size(),
//                                       world.rank() % cuda_runtime::device_count(), {.abort_through = &world});
//  - one thread per GPU in one process: nccl_thread_group makes R communicators at once with
//    ncclCommInitAll, and run_nccl_threads(group, body) runs body(communicator&) on R threads, each
//    with its GPU current; a failure on one thread ends the others' waits (never a hang there).
//
// Memory: spans are device memory on the rank's GPU (the gradient buckets of a CUDA model), whose
// results are ordered on the caller's current stream when the call returns (as strata's kernels
// are); host spans (the trainer's loss totals) are staged through the GPU and complete, host-side,
// before the call returns. Every rank passes the same sizes in the same order of calls: NCCL
// cannot check that, and a mismatch hangs or fails inside NCCL.
//
// Failures: waits on the host poll for another rank's failure and NCCL's asynchronous errors, so a
// failed rank ends the others' waits. Not reached that way: a rank inside NCCL's own host-side
// connection set-up, which NCCL does at the first use of an algorithm and which waits for the
// peers (NCCL_RUNTIME_CONNECT=0 in the environment makes every connection at creation instead).
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/device/cuda/allocator.hpp"
#include "strata/device/cuda/error.hpp"
#include "strata/device/cuda/grid.hpp"
#include "strata/device/cuda/runtime.hpp"
#include "strata/device/cuda/stream.hpp"
#include "strata/parallel/communicator.hpp"
#include "strata/parallel/direct_exchange.hpp"

#if !defined(NCCL_VERSION_CODE) || NCCL_VERSION_CODE < NCCL_VERSION(2, 7, 0)
#error "strata/parallel/nccl_communicator.cuh needs NCCL 2.7 or newer (ncclSend/ncclRecv)"
#endif

namespace strata::parallel {

enum class nccl_sum_order {
  rank,  // 0, 1, …, R−1: bit-identical on every rank, run to run, and to the thread and MPI transports
  nccl,  // ncclAllReduce's own order (rings, trees): faster on many GPUs; not bit-identical across
         // transports, rank counts or NCCL versions. Only all-reduce sums (reduce_scatter_sum keeps
         // rank order); bytes_sent() still counts what the rank-order exchange would have sent.
};

// A failed NCCL call or an asynchronous NCCL error; code() is the ncclResult_t.
class nccl_error : public group_error {
 public:
  nccl_error(const std::string& message, int code) : group_error(message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// What the ranks of one process share: the first failure's message. A rank that fails records it;
// the others see it in their next wait (or progress) and end with it.
class nccl_failure {
 public:
  void fail(const std::string& message) {
    std::lock_guard lock(mutex_);
    if (failed_.load()) return;  // the root cause stays, not what it set off
    message_ = message;
    failed_.store(true);
  }
  bool failed() const noexcept { return failed_.load(); }
  std::string message() const {
    std::lock_guard lock(mutex_);
    return message_;
  }

 private:
  mutable std::mutex mutex_;
  std::atomic<bool> failed_{false};
  std::string message_;
};

struct nccl_options {
  nccl_sum_order order = nccl_sum_order::rank;
  // One process per GPU: abort() ends every process through this host communicator (an
  // mpi_communicator calls MPI_Abort); without one it ends this process only (std::abort).
  communicator* abort_through = nullptr;
  // One thread per GPU: shared by the ranks of the process (nccl_thread_group sets it); abort()
  // then throws, as the thread transport's does.
  std::shared_ptr<nccl_failure> failure;
};

namespace nccl_detail {

inline std::string last_error(ncclComm_t comm) {
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  const char* text = ncclGetLastError(comm);
  if (text != nullptr && *text != '\0') return std::string(" — ") + text;
#else
  (void)comm;
#endif
  return "";
}

// "ncclGroupEnd() failed at …/nccl_communicator.cuh:300: unhandled cuda error (run with
// NCCL_DEBUG=INFO for details) — <NCCL's last message>"
inline void check(ncclResult_t status, const char* call, const char* file, int line, ncclComm_t comm = nullptr) {
  if (status == ncclSuccess) return;
  throw nccl_error(strata::detail::where(call, file, line) + ncclGetErrorString(status) + last_error(comm),
                   static_cast<int>(status));
}

template <class T>
constexpr ncclDataType_t datatype() {
  if constexpr (std::is_same_v<T, float>) return ncclFloat32;
  else if constexpr (std::is_same_v<T, double>) return ncclFloat64;
  else if constexpr (std::is_same_v<T, std::int32_t>) return ncclInt32;
  else {
    static_assert(std::is_same_v<T, std::byte>, "nccl_communicator moves float, double, int32 or bytes");
    return ncclUint8;
  }
}

// Makes `device` current until the guard ends (each rank's calls run on its GPU, whatever the
// calling thread had current).
class device_guard {
 public:
  explicit device_guard(int device) {
    STRATA_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) STRATA_CUDA_CHECK(cudaSetDevice(device));
    changed_ = previous_ != device;
  }
  device_guard(const device_guard&) = delete;
  device_guard& operator=(const device_guard&) = delete;
  ~device_guard() {
    if (changed_ && cudaSetDevice(previous_) != cudaSuccess) cudaGetLastError();
  }

 private:
  int previous_ = 0;
  bool changed_ = false;
};

// Device memory for one collective from the caching allocator, on the stream that uses it: freed
// at once into that stream's cache, since later work there runs after this collective's.
class stream_scratch {
 public:
  stream_scratch(std::size_t bytes, cudaStream_t s)
      : stream_(s), data_(bytes > 0 ? caching_allocator::instance().allocate(bytes, s) : nullptr) {}
  stream_scratch(const stream_scratch&) = delete;
  stream_scratch& operator=(const stream_scratch&) = delete;
  ~stream_scratch() { caching_allocator::instance().deallocate(data_, stream_); }
  template <class T>
  T* as() const noexcept {
    return static_cast<T*>(data_);
  }

 private:
  cudaStream_t stream_;
  void* data_;
};

// The rank-order sum's kernel: direct_exchange::rank_order_sum_thread at every grid index.
template <class T>
__global__ void __launch_bounds__(direct_exchange::sum_block)
    rank_order_sum_kernel(const T* __restrict__ received, std::int64_t count, int ranks, T* __restrict__ out) {
  direct_exchange::rank_order_sum_thread(cuda_grid::this_thread(), received, count, ranks, out);
}

// out[i] = Σ_q received[q·count + i] for q = 0, 1, …, ranks − 1 in that order, on stream s.
template <class T>
void launch_rank_order_sum(const T* received, std::int64_t count, int ranks, T* out, cudaStream_t s) {
  if (count <= 0) return;
  const cuda_grid::grid_dim blocks = direct_exchange::sum_blocks(count);
  rank_order_sum_kernel<T><<<dim3(static_cast<unsigned>(blocks.x)), dim3(direct_exchange::sum_block), 0, s>>>(received, count,
                                                                                                           ranks, out);
  STRATA_CUDA_CHECK_LAUNCH("rank_order_sum_kernel");
}

}  // namespace nccl_detail

#define STRATA_NCCL_CHECK(call, comm) ::strata::parallel::nccl_detail::check((call), #call, __FILE__, __LINE__, (comm))

class nccl_communicator final : public communicator {
 public:
  // Adopts `comm` (one rank of an NCCL communicator, made by ncclCommInitRank or ncclCommInitAll):
  // its rank, size and GPU are NCCL's; it is destroyed (or aborted, after a failure) with this.
  explicit nccl_communicator(ncclComm_t comm, nccl_options options = {}) : comm_(comm), options_(std::move(options)) {
    if (comm_ == nullptr) throw error("nccl_communicator: no NCCL communicator given (ncclComm_t is null)");
    try {
      STRATA_NCCL_CHECK(ncclCommUserRank(comm_, &rank_), comm_);
      STRATA_NCCL_CHECK(ncclCommCount(comm_, &size_), comm_);
      STRATA_NCCL_CHECK(ncclCommCuDevice(comm_, &device_), comm_);
      make_stream_and_events();
    } catch (...) {
      release_after_failure();
      throw;
    }
  }

  // One process (or thread) per GPU: joins rank `rank` of `ranks` of the group named by `id`, on
  // GPU `device`. Blocks until every rank has joined (ncclCommInitRank).
  nccl_communicator(const ncclUniqueId& id, int rank, int ranks, int device, nccl_options options = {})
      : options_(std::move(options)) {
    if (ranks < 1 || rank < 0 || rank >= ranks)
      throw error("nccl_communicator: rank " + std::to_string(rank) + " of " + std::to_string(ranks) + " is not a rank");
    const int devices = cuda_runtime::device_count();
    if (device < 0 || device >= devices) {
      const std::string found = devices == 0 ? cuda_runtime::unavailable_reason() : "GPUs 0…" + std::to_string(devices - 1);
      throw error("nccl_communicator: rank " + std::to_string(rank) + " asks for GPU " + std::to_string(device) + ", found " +
                  std::to_string(devices) + " (" + found + ")");
    }
    const nccl_detail::device_guard on(device);
    STRATA_NCCL_CHECK(ncclCommInitRank(&comm_, ranks, id, rank), nullptr);
    rank_ = rank;
    size_ = ranks;
    device_ = device;
    try {
      make_stream_and_events();
    } catch (...) {
      release_after_failure();
      throw;
    }
  }

  nccl_communicator(const nccl_communicator&) = delete;
  nccl_communicator& operator=(const nccl_communicator&) = delete;

  // Waits for the work queued on the communicator's stream, then destroys the NCCL communicator;
  // after a failure (here or, for threads, on another rank) aborts it instead, since
  // ncclCommDestroy would wait for operations that can no longer complete.
  ~nccl_communicator() override {
    if (comm_ != nullptr) {
      try {
        const nccl_detail::device_guard on(device_);
        wait_for_stream("~nccl_communicator");
        if (ncclCommDestroy(comm_) != ncclSuccess) ncclCommAbort(comm_);
        comm_ = nullptr;
      } catch (...) {
        abort_communicator();
      }
    }
    try {
      const nccl_detail::device_guard on(device_);
      for (cudaEvent_t e : {ready_, done_})
        if (e != nullptr && cudaEventDestroy(e) != cudaSuccess) cudaGetLastError();
      stream_.reset();
    } catch (...) {
      // (no device to switch to: nothing of ours can be left on it)
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device() const noexcept { return device_; }
  nccl_sum_order sum_order() const noexcept { return options_.order; }
  // NCCL's communicator (null once aborted) and the stream the collectives run on.
  ncclComm_t native() const noexcept { return comm_; }
  cudaStream_t stream() const noexcept { return stream_ ? stream_->get() : nullptr; }

  void all_reduce_sum(std::span<float> data) override { all_reduce(data, "all_reduce_sum"); }
  void all_reduce_sum(std::span<double> data) override { all_reduce(data, "all_reduce_sum"); }

  // Enqueued at once on the communicator's stream, after an event on the caller's current stream
  // (so the sum starts on the GPU when the gradients are ready, and the host goes on). Host spans
  // cannot wait for wait_all(): they are summed now, blocking.
  void start_all_reduce_sum(std::span<float> data) override { start(data); }
  void start_all_reduce_sum(std::span<double> data) override { start(data); }
  using communicator::start_all_reduce_sum;  // the pieces: refused (device buffers are packed)

  // Nothing to move along (NCCL's kernels run by themselves): looks for a failure only.
  void progress() override {
    if (started_) check_health("progress");
  }

  // The caller's current stream waits for every started sum (an event, no host wait).
  void wait_all() override {
    check_health("wait_all");
    if (!started_) return;
    const nccl_detail::device_guard on(device_);
    lead_caller();
    started_ = false;
  }

  void all_gather(std::span<const float> mine, std::span<float> out, std::span<const std::int64_t> counts) override {
    gather(mine, out, counts);
  }
  void all_gather(std::span<const double> mine, std::span<double> out, std::span<const std::int64_t> counts) override {
    gather(mine, out, counts);
  }

  void reduce_scatter_sum(std::span<const float> all, std::span<float> mine, std::span<const std::int64_t> counts) override {
    reduce_scatter(all, mine, counts);
  }
  void reduce_scatter_sum(std::span<const double> all, std::span<double> mine,
                          std::span<const std::int64_t> counts) override {
    reduce_scatter(all, mine, counts);
  }

  void broadcast(std::span<std::byte> data, int root) override {
    if (root < 0 || root >= size_)
      throw error("nccl_communicator::broadcast: root " + std::to_string(root) + " is not a rank of " + std::to_string(size_));
    check_health("broadcast");
    if (data.empty()) return;
    const nccl_detail::device_guard on(device_);
    const bool host = on_host(data.data(), "broadcast");
    if (host) wait_for_stream("broadcast");
    reachable<std::byte> d(*this, data, host, rank_ == root);
    if (!host) follow_caller();
    STRATA_NCCL_CHECK(ncclBroadcast(d.get(), d.get(), data.size(), ncclUint8, root, comm_, stream()), comm_);
    finish(host, "broadcast", d);
    count_sent(direct_exchange::broadcast_bytes(static_cast<std::int64_t>(data.size()), rank_, root, size_));
  }

  // Every rank has arrived: a one-value all-reduce, waited for on the host.
  void barrier() override {
    check_health("barrier");
    const nccl_detail::device_guard on(device_);
    const nccl_detail::stream_scratch token(sizeof(std::int32_t), stream());
    STRATA_CUDA_CHECK(cudaMemsetAsync(token.as<std::int32_t>(), 0, sizeof(std::int32_t), stream()));
    STRATA_NCCL_CHECK(ncclAllReduce(token.as<std::int32_t>(), token.as<std::int32_t>(), 1, ncclInt32, ncclSum, comm_, stream()),
                      comm_);
    wait_for_stream("barrier");
  }

  // Threads (options.failure set): records "rank r of R: message" for the other ranks, whose next
  // wait throws group_error with it, aborts this rank's NCCL communicator and throws it here. One
  // process per GPU: prints the message, aborts the NCCL communicator and ends the processes through
  // options.abort_through (MPI_Abort), else this process (std::abort).
  [[noreturn]] void abort(const std::string& message) override {
    const std::string full = "rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " + message;
    if (options_.failure) {
      options_.failure->fail(full);
      abort_communicator();
      throw group_error(full);
    }
    std::fprintf(stderr, "strata: rank %d: %s\n", rank_, message.c_str());
    std::fflush(stderr);
    abort_communicator();
    if (options_.abort_through != nullptr) options_.abort_through->abort(message);
    std::abort();
  }

  // ncclCommAbort now (this rank's thread failed, or a wait saw another rank's failure): NCCL's
  // kernels on this GPU stop; later calls throw group_error. Idempotent.
  void abort_communicator() noexcept {
    if (comm_ == nullptr) return;
    int previous = 0;
    const bool switched = cudaGetDevice(&previous) == cudaSuccess && previous != device_ && cudaSetDevice(device_) == cudaSuccess;
    ncclCommAbort(comm_);
    comm_ = nullptr;
    aborted_ = true;
    // The stopped kernels may still be leaving: memory they used is reused only after them.
    if (stream_ && cudaStreamSynchronize(stream_->get()) != cudaSuccess) cudaGetLastError();
    if (switched && cudaSetDevice(previous) != cudaSuccess) cudaGetLastError();
  }

 private:
  // A span where NCCL can reach it: device memory as it is, host memory through a device copy
  // (loaded on request, written back by unload()).
  template <class T>
  class reachable {
   public:
    reachable(nccl_communicator& c, std::span<T> s, bool host, bool load) : host_span_(s) {
      if (!host || s.empty()) {
        device_ = const_cast<std::remove_const_t<T>*>(s.data());
        return;
      }
      copy_.emplace(s.size_bytes(), c.stream());
      device_ = copy_->template as<std::remove_const_t<T>>();
      if (load) STRATA_CUDA_CHECK(cudaMemcpyAsync(device_, s.data(), s.size_bytes(), cudaMemcpyHostToDevice, c.stream()));
    }
    std::remove_const_t<T>* get() const noexcept { return device_; }
    // (after the stream has been waited for: a copy into pageable memory blocks until done)
    void unload(cudaStream_t s) {
      if constexpr (!std::is_const_v<T>) {
        if (copy_) {
          STRATA_CUDA_CHECK(cudaMemcpyAsync(host_span_.data(), device_, host_span_.size_bytes(), cudaMemcpyDeviceToHost, s));
          STRATA_CUDA_CHECK(cudaStreamSynchronize(s));
        }
      } else {
        (void)s;
      }
    }

   private:
    std::span<T> host_span_;
    std::remove_const_t<T>* device_ = nullptr;
    std::optional<nccl_detail::stream_scratch> copy_;
  };

  void make_stream_and_events() {
    const nccl_detail::device_guard on(device_);
    // Non-blocking: the legacy default stream, where strata's kernels run unless told otherwise,
    // would otherwise wait for every collective in flight, and backward could not overlap them.
    stream_.emplace(strata::stream::non_blocking);
    STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
  }
  void release_after_failure() noexcept {
    if (comm_ != nullptr) ncclCommAbort(comm_);
    comm_ = nullptr;
  }

  // Whether p is host memory (staged through the GPU); device memory must be on this rank's GPU.
  bool on_host(const void* p, const char* operation) const {
    cudaPointerAttributes a{};
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
      cudaGetLastError();
      return true;  // (runtimes before CUDA 11 report plain host memory as an error)
    }
    if (a.type == cudaMemoryTypeDevice && a.device != device_)
      throw error(std::string("nccl_communicator::") + operation + ": rank " + std::to_string(rank_) +
                  " was given memory on GPU " + std::to_string(a.device) + "; its GPU is " + std::to_string(device_));
    return a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged;
  }

  // The communicator's stream waits for what the caller queued so far on its current stream …
  void follow_caller() {
    STRATA_CUDA_CHECK(cudaEventRecord(ready_, current_stream()));
    STRATA_CUDA_CHECK(cudaStreamWaitEvent(stream(), ready_, 0));
  }
  // … and the caller's stream for what the communicator's stream holds (no host wait).
  void lead_caller() {
    STRATA_CUDA_CHECK(cudaEventRecord(done_, stream()));
    STRATA_CUDA_CHECK(cudaStreamWaitEvent(current_stream(), done_, 0));
  }
  // Device results: ordered on the caller's stream. Host results: waited for and copied back.
  template <class... R>
  void finish(bool host, const char* operation, R&... results) {
    if (!host) {
      lead_caller();
      return;
    }
    wait_for_stream(operation);
    (results.unload(stream()), ...);
  }

  // Waits on the host for the communicator's stream, looking for failures meanwhile (another
  // rank's, recorded in options.failure, or NCCL's asynchronous errors) instead of blocking in
  // cudaStreamSynchronize behind a collective that can no longer complete.
  void wait_for_stream(const char* operation) {
    const auto started = std::chrono::steady_clock::now();
    for (;;) {
      const cudaError_t status = cudaStreamQuery(stream());
      if (status == cudaSuccess) return;
      if (status != cudaErrorNotReady) STRATA_CUDA_CHECK(status);
      check_health(operation);
      if (std::chrono::steady_clock::now() - started < std::chrono::milliseconds(2)) std::this_thread::yield();
      else std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  void check_health(const char* operation) {
    if (aborted_ || comm_ == nullptr) {
      const std::string why = options_.failure && options_.failure->failed() ? options_.failure->message() : "aborted";
      throw group_error(std::string("nccl_communicator::") + operation + ": rank " + std::to_string(rank_) +
                        "'s communicator was aborted (" + why + ")");
    }
    if (options_.failure && options_.failure->failed()) {
      abort_communicator();
      throw group_error(options_.failure->message());
    }
    ncclResult_t async = ncclSuccess;
    STRATA_NCCL_CHECK(ncclCommGetAsyncError(comm_, &async), comm_);
    if (async != ncclSuccess && async != ncclInProgress) {
      const std::string message = std::string("nccl_communicator::") + operation + ": rank " + std::to_string(rank_) + " of " +
                                  std::to_string(size_) + ": NCCL reports an asynchronous error: " + ncclGetErrorString(async) +
                                  nccl_detail::last_error(comm_);
      if (options_.failure) options_.failure->fail(message);
      abort_communicator();
      throw nccl_error(message, static_cast<int>(async));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // What runs on the communicator's stream.

  // The exchange: part q of `source` to rank q, every rank's part `me` into scratch slot q (this
  // rank's own copied), all in one group so that NCCL pairs them in any order.
  template <class T>
  void enqueue_exchange(const T* source, const direct_exchange::layout& l, T* scratch) {
    const ncclDataType_t type = nccl_detail::datatype<T>();
    const auto own_bytes = static_cast<std::size_t>(l.count(rank_)) * sizeof(T);
    if (own_bytes > 0)
      STRATA_CUDA_CHECK(cudaMemcpyAsync(scratch + direct_exchange::own_slot(l, rank_), source + l.offset(rank_), own_bytes,
                                        cudaMemcpyDeviceToDevice, stream()));
    if (size_ == 1) return;
    STRATA_NCCL_CHECK(ncclGroupStart(), comm_);
    for (const auto& t : direct_exchange::exchange_sends(l, rank_))
      STRATA_NCCL_CHECK(ncclSend(source + t.offset, static_cast<std::size_t>(t.count), type, t.peer, comm_, stream()), comm_);
    for (const auto& t : direct_exchange::exchange_receives(l, rank_))
      STRATA_NCCL_CHECK(ncclRecv(scratch + t.offset, static_cast<std::size_t>(t.count), type, t.peer, comm_, stream()), comm_);
    STRATA_NCCL_CHECK(ncclGroupEnd(), comm_);
  }

  // The gather, in place: every rank's part to where it lies in every rank's buffer. Equal parts
  // take ncclAllGather (in place: this rank's part already sits at rank·count); unequal ones, which
  // ncclAllGather cannot express, point-to-point transfers in one group. Both send the same bytes.
  template <class T>
  void enqueue_gather(T* buffer, const direct_exchange::layout& l) {
    if (size_ == 1 || l.total == 0) return;
    const ncclDataType_t type = nccl_detail::datatype<T>();
    if (l.equal_counts()) {
      const auto c = static_cast<std::size_t>(l.count(rank_));
      STRATA_NCCL_CHECK(ncclAllGather(buffer + l.offset(rank_), buffer, c, type, comm_, stream()), comm_);
      return;
    }
    STRATA_NCCL_CHECK(ncclGroupStart(), comm_);
    for (const auto& t : direct_exchange::gather_sends(l, rank_))
      STRATA_NCCL_CHECK(ncclSend(buffer + t.offset, static_cast<std::size_t>(t.count), type, t.peer, comm_, stream()), comm_);
    for (const auto& t : direct_exchange::gather_receives(l, rank_))
      STRATA_NCCL_CHECK(ncclRecv(buffer + t.offset, static_cast<std::size_t>(t.count), type, t.peer, comm_, stream()), comm_);
    STRATA_NCCL_CHECK(ncclGroupEnd(), comm_);
  }

  // The exchange's scratch: every rank's part of `count` values.
  template <class T>
  std::size_t scratch_bytes(std::int64_t count) const {
    return static_cast<std::size_t>(size_) * static_cast<std::size_t>(count) * sizeof(T);
  }

  // data ← Σ over ranks, on the stream: in rank order (exchange, sum, gather) or NCCL's.
  template <class T>
  void enqueue_all_reduce(T* data, std::int64_t n) {
    if (options_.order == nccl_sum_order::nccl) {
      const ncclDataType_t type = nccl_detail::datatype<T>();
      STRATA_NCCL_CHECK(ncclAllReduce(data, data, static_cast<std::size_t>(n), type, ncclSum, comm_, stream()), comm_);
      return;
    }
    const direct_exchange::layout l = direct_exchange::all_reduce_split(n, size_);
    const std::int64_t mine = l.count(rank_);
    const nccl_detail::stream_scratch received(scratch_bytes<T>(mine), stream());
    enqueue_exchange(data, l, received.as<T>());
    nccl_detail::launch_rank_order_sum(received.as<T>(), mine, size_, data + l.offset(rank_), stream());
    enqueue_gather(data, l);
  }

  // ---------------------------------------------------------------------------------------------
  // The operations.

  template <class T>
  void all_reduce(std::span<T> data, const char* operation) {
    check_health(operation);
    const auto n = static_cast<std::int64_t>(data.size());
    if (n == 0 || size_ == 1) return;
    const nccl_detail::device_guard on(device_);
    const bool host = on_host(data.data(), operation);
    if (host) wait_for_stream(operation);  // so that staging copies never block behind a collective
    reachable<T> d(*this, data, host, true);
    if (!host) follow_caller();  // (host values wait for nothing on the GPU)
    enqueue_all_reduce(d.get(), n);
    finish(host, operation, d);
    count_sent(direct_exchange::all_reduce_bytes(n, rank_, size_, static_cast<std::int64_t>(sizeof(T))));
  }

  template <class T>
  void start(std::span<T> data) {
    check_health("start_all_reduce_sum");
    const auto n = static_cast<std::int64_t>(data.size());
    if (n == 0 || size_ == 1) return;
    const nccl_detail::device_guard on(device_);
    if (on_host(data.data(), "start_all_reduce_sum")) {
      all_reduce(data, "start_all_reduce_sum");
      return;
    }
    follow_caller();
    enqueue_all_reduce(data.data(), n);
    started_ = true;
    count_sent(direct_exchange::all_reduce_bytes(n, rank_, size_, static_cast<std::int64_t>(sizeof(T))));
  }

  template <class T>
  void gather(std::span<const T> mine, std::span<T> out, std::span<const std::int64_t> counts) {
    check_health("all_gather");
    const direct_exchange::layout l = checked_layout(counts, "all_gather");
    check_length(static_cast<std::int64_t>(mine.size()), l.count(rank_), "all_gather", "mine", "counts[rank]");
    check_length(static_cast<std::int64_t>(out.size()), l.total, "all_gather", "out", "the counts' sum");
    if (l.total == 0) return;
    const nccl_detail::device_guard on(device_);
    const bool host_mine = !mine.empty() && on_host(mine.data(), "all_gather"), host_out = on_host(out.data(), "all_gather");
    const bool host = host_mine || host_out;
    if (host) wait_for_stream("all_gather");
    reachable<const T> m(*this, mine, host_mine, true);
    reachable<T> o(*this, out, host_out, false);  // every part of it is written below
    if (!(host_out && (host_mine || mine.empty()))) follow_caller();
    if (l.count(rank_) > 0)
      STRATA_CUDA_CHECK(cudaMemcpyAsync(o.get() + l.offset(rank_), m.get(), static_cast<std::size_t>(l.count(rank_)) * sizeof(T),
                                        cudaMemcpyDeviceToDevice, stream()));
    enqueue_gather(o.get(), l);
    finish(host, "all_gather", o);
    count_sent(direct_exchange::all_gather_bytes(l, rank_, static_cast<std::int64_t>(sizeof(T))));
  }

  template <class T>
  void reduce_scatter(std::span<const T> all, std::span<T> mine, std::span<const std::int64_t> counts) {
    check_health("reduce_scatter_sum");
    const direct_exchange::layout l = checked_layout(counts, "reduce_scatter_sum");
    check_length(static_cast<std::int64_t>(all.size()), l.total, "reduce_scatter_sum", "all", "the counts' sum");
    check_length(static_cast<std::int64_t>(mine.size()), l.count(rank_), "reduce_scatter_sum", "mine", "counts[rank]");
    if (l.total == 0) return;
    const nccl_detail::device_guard on(device_);
    const bool host_all = on_host(all.data(), "reduce_scatter_sum");
    const bool host_mine = !mine.empty() && on_host(mine.data(), "reduce_scatter_sum");
    const bool host = host_all || host_mine;
    if (host) wait_for_stream("reduce_scatter_sum");
    reachable<const T> a(*this, all, host_all, true);
    reachable<T> m(*this, mine, host_mine, false);  // written whole by the sum
    if (!(host_all && (host_mine || mine.empty()))) follow_caller();
    const std::int64_t c = l.count(rank_);
    const nccl_detail::stream_scratch received(scratch_bytes<T>(c), stream());
    enqueue_exchange(a.get(), l, received.as<T>());
    nccl_detail::launch_rank_order_sum(received.as<T>(), c, size_, m.get(), stream());
    finish(host, "reduce_scatter_sum", m);
    count_sent(direct_exchange::reduce_scatter_bytes(l, rank_, static_cast<std::int64_t>(sizeof(T))));
  }

  direct_exchange::layout checked_layout(std::span<const std::int64_t> counts, const char* operation) const {
    if (static_cast<std::int64_t>(counts.size()) != size_)
      throw shape_error(std::string("nccl_communicator::") + operation + ": counts has " + std::to_string(counts.size()) +
                        " entries for " + std::to_string(size_) + " ranks");
    return direct_exchange::from_counts(counts);
  }
  void check_length(std::int64_t got, std::int64_t want, const char* operation, const char* what, const char* from) const {
    if (got != want)
      throw shape_error(std::string("nccl_communicator::") + operation + ": rank " + std::to_string(rank_) + "'s " + what +
                        " holds " + std::to_string(got) + " values, " + from + " says " + std::to_string(want));
  }

  ncclComm_t comm_ = nullptr;
  nccl_options options_;
  int rank_ = 0, size_ = 1, device_ = 0;
  std::optional<strata::stream> stream_;
  cudaEvent_t ready_ = nullptr;  // recorded on the caller's stream: the communicator's stream waits for it
  cudaEvent_t done_ = nullptr;   // recorded on the communicator's stream: the caller's stream waits for it
  bool started_ = false;         // sums started since the last wait_all()
  bool aborted_ = false;
};

// One process per GPU: rank `root` of `host` makes NCCL's unique id and broadcasts it over `host`
// (an mpi_communicator, or any communicator whose broadcast takes host memory).
inline ncclUniqueId nccl_unique_id(communicator& host, int root = 0) {
  ncclUniqueId id{};
  if (host.rank() == root) STRATA_NCCL_CHECK(ncclGetUniqueId(&id), nullptr);
  host.broadcast(std::as_writable_bytes(std::span<ncclUniqueId>(&id, 1)), root);
  return id;
}

// One thread per GPU: R communicators made at once (ncclCommInitAll) over GPUs 0…R−1, or the GPUs
// given, sharing one nccl_failure. Run them with run_nccl_threads.
class nccl_thread_group {
 public:
  explicit nccl_thread_group(int ranks, nccl_sum_order order = nccl_sum_order::rank)
      : nccl_thread_group(first_devices(ranks), order) {}
  explicit nccl_thread_group(std::vector<int> devices, nccl_sum_order order = nccl_sum_order::rank)
      : devices_(std::move(devices)), failure_(std::make_shared<nccl_failure>()) {
    const int found = cuda_runtime::device_count();
    if (devices_.empty()) throw error("nccl_thread_group: needs at least one GPU");
    for (const int d : devices_)
      if (d < 0 || d >= found)
        throw error("nccl_thread_group: " + std::to_string(devices_.size()) + " ranks need GPU " + std::to_string(d) +
                    ", found " + std::to_string(found) + " GPU(s)" +
                    (found == 0 ? " (" + cuda_runtime::unavailable_reason() + ")" : ""));
    std::vector<ncclComm_t> comms(devices_.size(), nullptr);
    STRATA_NCCL_CHECK(ncclCommInitAll(comms.data(), static_cast<int>(comms.size()), devices_.data()), nullptr);
    std::size_t adopted = 0;
    try {
      for (; adopted < comms.size(); ++adopted)
        ranks_.push_back(std::make_unique<nccl_communicator>(comms[adopted], nccl_options{order, nullptr, failure_}));
    } catch (...) {
      for (std::size_t i = adopted + 1; i < comms.size(); ++i) ncclCommAbort(comms[i]);
      throw;
    }
  }

  int size() const noexcept { return static_cast<int>(ranks_.size()); }
  int device(int rank) const { return devices_.at(static_cast<std::size_t>(rank)); }
  nccl_communicator& rank(int r) { return *ranks_.at(static_cast<std::size_t>(r)); }
  nccl_failure& failure() noexcept { return *failure_; }

 private:
  static std::vector<int> first_devices(int ranks) {
    if (ranks < 1) throw error("nccl_thread_group: needs at least one rank, got " + std::to_string(ranks));
    std::vector<int> d(static_cast<std::size_t>(ranks));
    for (int r = 0; r < ranks; ++r) d[static_cast<std::size_t>(r)] = r;
    return d;
  }

  std::vector<int> devices_;
  std::shared_ptr<nccl_failure> failure_;
  std::vector<std::unique_ptr<nccl_communicator>> ranks_;  // (destroyed in order from one thread, as NCCL's examples do)
};

// Runs body(communicator&) on one thread per rank of `group` (rank 0 on the calling thread), each
// with its rank's GPU current and a share of the CPU threads. When a rank throws, its message is
// recorded and its communicator aborted; the others' waits then throw group_error. After every
// thread has ended, the first failure is rethrown as it was thrown.
template <class Body>
void run_nccl_threads(nccl_thread_group& group, Body&& body) {
  const int ranks = group.size();
  const int threads_per_rank = std::max(1, num_threads() / ranks);
  std::mutex first_mutex;
  std::exception_ptr first;  // the root cause, not the group_errors it set off
  const auto run = [&](int rank) {
    nccl_communicator& comm = group.rank(rank);
    const auto failed = [&](const std::string& what, bool root_cause) {
      {
        std::lock_guard lock(first_mutex);
        if (!first || (root_cause && !group.failure().failed())) first = std::current_exception();
      }
      group.failure().fail("rank " + std::to_string(rank) + " of " + std::to_string(ranks) + ": " + what);
      comm.abort_communicator();
    };
    try {
      const nccl_detail::device_guard on(group.device(rank));
      const thread_budget budget(threads_per_rank);
      body(static_cast<communicator&>(comm));
    } catch (const group_error& e) {
      failed(e.what(), false);
    } catch (const std::exception& e) {
      failed(e.what(), true);
    } catch (...) {
      failed("an exception that is not a std::exception", true);
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(ranks - 1));
  for (int r = 1; r < ranks; ++r) threads.emplace_back(run, r);
  run(0);
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

// The same over GPUs 0…ranks−1 with a group made for the run.
template <class Body>
void run_nccl_threads(int ranks, Body&& body, nccl_sum_order order = nccl_sum_order::rank) {
  nccl_thread_group group(ranks, order);
  run_nccl_threads(group, std::forward<Body>(body));
}

}  // namespace strata::parallel
