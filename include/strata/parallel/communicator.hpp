// strata/parallel/communicator.hpp — what data-parallel training needs from a transport: ranks,
// sums over ranks (blocking, or started during backward and finished after), gathers, scatters,
// broadcasts and a way to end every rank with one message. Threads (parallel/thread_group.hpp),
// MPI processes (strata/mpi.hpp) and NCCL GPUs implement it; the training code is the same.
//
// Every sum adds the ranks' values in rank order 0, 1, …, R−1 (unless a transport is asked for
// its own faster order), so the result is bit-identical on every rank, from run to run, and
// between transports: threads and MPI ranks train to the same bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "strata/core/error.hpp"

namespace strata::parallel {

// A rank failed, or the group was ended: the message names the rank and what went wrong.
struct group_error : error {
  using error::error;
};

class communicator {
 public:
  virtual ~communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // data ← Σ over ranks of data, in place, summed in rank order. Every rank passes the same size.
  virtual void all_reduce_sum(std::span<float> data) = 0;
  virtual void all_reduce_sum(std::span<double> data) = 0;

  // Starts the same sum, to be finished by wait_all(); the caller must leave `data` alone until
  // then. Sums started on every rank in the same order complete in that order. progress() lets a
  // transport move started sums along (called between layers of the backward pass). The default
  // runs nothing early: wait_all() does the sums, blocking.
  virtual void start_all_reduce_sum(std::span<float> data) { pending_float_.push_back(data); }
  virtual void start_all_reduce_sum(std::span<double> data) { pending_double_.push_back(data); }
  // The sum of one vector held in pieces (the pieces one after the other, as if packed), each
  // piece summed in place: no packing where the transport says sums_pieces(); the same values,
  // chunks and bytes as a start_all_reduce_sum of the packed vector. Host memory only.
  virtual bool sums_pieces() const { return false; }
  virtual void start_all_reduce_sum(std::span<const std::span<float>>) { refuse_pieces(); }
  virtual void start_all_reduce_sum(std::span<const std::span<double>>) { refuse_pieces(); }
  // The two halves of that sum, for an optimizer sharded over ranks (ZeRO's first stage): the
  // started reduce-scatter leaves this rank's chunk [n·r/R, n·(r+1)/R) summed over ranks (after
  // wait_all; the other chunks as they were), and all_gather_chunks copies chunk q from rank q to
  // every rank (blocking). Same chunks, order and bytes as the all-reduce.
  virtual void start_reduce_scatter_sum(std::span<const std::span<float>>) { refuse_pieces(); }
  virtual void start_reduce_scatter_sum(std::span<const std::span<double>>) { refuse_pieces(); }
  virtual void all_gather_chunks(std::span<const std::span<float>>) { refuse_pieces(); }
  virtual void all_gather_chunks(std::span<const std::span<double>>) { refuse_pieces(); }
  virtual void progress() {}
  virtual void wait_all() {
    for (auto d : pending_float_) all_reduce_sum(d);
    for (auto d : pending_double_) all_reduce_sum(d);
    pending_float_.clear();
    pending_double_.clear();
  }

  // out ← every rank's `mine` one after the other in rank order; counts[r] is rank r's length
  // (every rank passes the same counts; out holds their sum).
  virtual void all_gather(std::span<const float> mine, std::span<float> out, std::span<const std::int64_t> counts) = 0;
  virtual void all_gather(std::span<const double> mine, std::span<double> out, std::span<const std::int64_t> counts) = 0;

  // mine ← Σ over ranks of the part of `all` that belongs to this rank: counts[r] values for
  // rank r, one after the other (all holds their sum; mine holds counts[rank()]).
  virtual void reduce_scatter_sum(std::span<const float> all, std::span<float> mine, std::span<const std::int64_t> counts) = 0;
  virtual void reduce_scatter_sum(std::span<const double> all, std::span<double> mine, std::span<const std::int64_t> counts) = 0;

  // data ← root's data, on every rank.
  virtual void broadcast(std::span<std::byte> data, int root) = 0;

  virtual void barrier() = 0;

  // Ends every rank: the others' next (or current) call throws group_error with `message`
  // (threads) or the processes end with it (MPI). Never returns.
  [[noreturn]] virtual void abort(const std::string& message) = 0;

  // Bytes this rank has handed to the transport so far (what the communication arithmetic of
  // parallel/communication.hpp predicts, checked against what was sent).
  std::int64_t bytes_sent() const noexcept { return bytes_sent_; }

 protected:
  void count_sent(std::int64_t bytes) noexcept { bytes_sent_ += bytes; }

 private:
  [[noreturn]] static void refuse_pieces() {
    throw error("communicator: this transport sums contiguous buffers only (sums_pieces() is false); pack the pieces");
  }

  std::vector<std::span<float>> pending_float_;
  std::vector<std::span<double>> pending_double_;
  std::int64_t bytes_sent_ = 0;
};

}  // namespace strata::parallel
