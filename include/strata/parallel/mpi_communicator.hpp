// strata/parallel/mpi_communicator.hpp — the communicator over MPI processes, one rank each. Sums
// run in rank order as a direct exchange (every rank adds up one chunk, then the chunks are
// gathered); started sums overlap the backward pass; an opt-in fast mode leaves the order to MPI.
// Include strata/mpi.hpp for it (with mpi_environment and mpi_main); link strata::mpi.
#pragma once

// The deprecated MPI C++ bindings are never used: skipping them saves compile time.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/parallel/communicator.hpp"

namespace strata::parallel {

enum class mpi_sum_order {
  rank,  // 0, 1, …, R−1: bit-identical on every rank, run to run, and to the thread transport
  mpi,   // MPI_Allreduce's own order: faster on many ranks; not bit-identical across transports,
         // rank counts or MPI libraries. Only all-reduce sums (reduce_scatter_sum keeps rank
         // order); bytes_sent() still counts what the rank-order exchange would have sent.
};

namespace detail {

// MPI counts and displacements are int, and OpenMPI 4.1 has no large-count (_c) functions: a
// size that does not fit is refused, with its numbers, before anything is sent.
inline int mpi_count(std::int64_t n, const char* what, const char* operation) {
  if (n < 0 || n > INT_MAX) {
    throw error(std::string("mpi_communicator::") + operation + ": " + what + " is " + std::to_string(n) +
                ", outside MPI's int counts (0 to " + std::to_string(INT_MAX) + ")");
  }
  return static_cast<int>(n);
}

inline void mpi_check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw group_error(std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(length)));
}

template <class T>
MPI_Datatype mpi_datatype() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "mpi_communicator sums float or double");
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}

// The counts and displacements of one direct exchange: this rank sends part r of its buffer
// (counts[r] values at offsets[r]) to rank r and receives every rank's part `me`, rank q's at
// q·counts[me] in a scratch buffer. MPI reads these arrays until a started exchange completes.
struct exchange_plan {
  std::vector<int> counts, offsets, recv_counts, recv_offsets;
  std::int64_t total = 0;  // values in the whole buffer
  int mine = 0;            // counts[me]

  exchange_plan(std::span<const std::int64_t> parts, int me, const char* operation) {
    const auto ranks = static_cast<std::int64_t>(parts.size());
    counts.resize(parts.size());
    offsets.resize(parts.size());
    for (std::size_t r = 0; r < parts.size(); ++r) {
      offsets[r] = mpi_count(total, "an offset into the buffer", operation);
      counts[r] = mpi_count(parts[r], "a part's count", operation);
      total += parts[r];
    }
    mpi_count(total, "the buffer's length", operation);
    mine = counts[static_cast<std::size_t>(me)];
    mpi_count(ranks * mine, "the received values (ranks × this rank's part)", operation);
    recv_counts.assign(parts.size(), mine);
    recv_offsets.resize(parts.size());
    for (std::size_t q = 0; q < parts.size(); ++q) recv_offsets[q] = static_cast<int>(q) * mine;
  }
};

// out ← rank 0's part, then + rank 1's, + rank 2's, …: this order is the result's definition.
template <class T>
void sum_in_rank_order(const T* received, std::int64_t count, int ranks, T* out) {
  for (std::int64_t i = 0; i < count; ++i) out[i] = received[i];
  for (int q = 1; q < ranks; ++q) {
    const T* part = received + static_cast<std::int64_t>(q) * count;
    for (std::int64_t i = 0; i < count; ++i) out[i] += part[i];
  }
}

// The contiguous segments of values [first, first + count) of a vector held in pieces (the
// pieces one after the other): f(pointer, length, offset within the range), each length within
// MPI's int counts.
template <class T, class F>
void for_each_segment(std::span<const std::span<T>> pieces, std::int64_t first, std::int64_t count, F&& f) {
  constexpr std::int64_t largest = std::int64_t{1} << 30;
  std::int64_t at = 0;  // the current piece's first value in the vector
  for (const auto& piece : pieces) {
    const auto size = static_cast<std::int64_t>(piece.size());
    const std::int64_t begin = std::max(first, at), end = std::min(first + count, at + size);
    for (std::int64_t b = begin; b < end; b += largest) f(piece.data() + (b - at), std::min(largest, end - b), b - first);
    at += size;
    if (at >= first + count) break;
  }
}

// out[i] ← Σ over q in rank order 0, 1, …, R−1 of part q, where this rank's own part is `out`
// itself and rank q's (q ≠ me) is received[slot(q)·stride + i]: one pass, in blocks that stay in
// the first-level cache.
template <class T>
void sum_in_rank_order_in_place(T* out, std::int64_t count, const T* received, std::int64_t stride, int ranks, int me) {
  constexpr std::int64_t block = 1024;
  T acc[block];
  for (std::int64_t at = 0; at < count; at += block) {
    const std::int64_t m = std::min(block, count - at);
    for (int q = 0; q < ranks; ++q) {
      const T* part = q == me ? out + at : received + static_cast<std::int64_t>(q - (q > me)) * stride + at;
      if (q == 0)
        for (std::int64_t i = 0; i < m; ++i) acc[i] = part[i];
      else
        for (std::int64_t i = 0; i < m; ++i) acc[i] += part[i];
    }
    std::copy(acc, acc + m, out + at);
  }
}

}  // namespace detail

class mpi_communicator final : public communicator {
 public:
  // Works on duplicates of `comm`, three of them. MPI matches collectives on a communicator by the
  // order in which each rank starts them, and a started sum's gather starts whenever its exchange
  // has arrived, which differs from rank to rank: so blocking collectives, the started sums'
  // exchanges and their gathers each get a communicator, on which every rank starts them in the
  // same order. MPI errors on them are returned and thrown as group_error.
  explicit mpi_communicator(MPI_Comm comm = MPI_COMM_WORLD, mpi_sum_order order = mpi_sum_order::rank)
      : order_(order) {
    for (MPI_Comm* c : {&comm_, &exchange_comm_, &gather_comm_}) {
      detail::mpi_check(MPI_Comm_dup(comm, c), "MPI_Comm_dup");
      MPI_Comm_set_errhandler(*c, MPI_ERRORS_RETURN);
    }
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  mpi_communicator(const mpi_communicator&) = delete;
  mpi_communicator& operator=(const mpi_communicator&) = delete;

  ~mpi_communicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    if (!started_.empty()) {
      // Sums still in flight (wait_all() was skipped, by an exception): MPI may still write into
      // their scratch buffers, so those are left allocated and the communicators not freed.
      (void)new std::deque<started_sum>(std::move(started_));
      return;
    }
    for (MPI_Comm* c : {&gather_comm_, &exchange_comm_, &comm_}) MPI_Comm_free(c);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  mpi_sum_order sum_order() const noexcept { return order_; }
  // The (blocking collectives') communicator, for a caller that needs MPI itself.
  MPI_Comm native() const noexcept { return comm_; }
  // Started sums not finished yet: progress() finishes them without wait_all() as data arrives.
  std::int64_t in_flight() const noexcept {
    std::int64_t n = 0;
    for (const auto& s : started_) n += s.at != stage::done;
    return n;
  }

  void all_reduce_sum(std::span<float> data) override { all_reduce(data); }
  void all_reduce_sum(std::span<double> data) override { all_reduce(data); }

  void start_all_reduce_sum(std::span<float> data) override { start(data); }
  void start_all_reduce_sum(std::span<double> data) override { start(data); }

  // In rank order the pieces are sent and summed where they lie (point-to-point messages, one
  // copy each way); MPI's own order needs one buffer.
  bool sums_pieces() const override { return order_ == mpi_sum_order::rank; }
  void start_all_reduce_sum(std::span<const std::span<float>> pieces) override { start_pieces(pieces, true); }
  void start_all_reduce_sum(std::span<const std::span<double>> pieces) override { start_pieces(pieces, true); }
  void start_reduce_scatter_sum(std::span<const std::span<float>> pieces) override { start_pieces(pieces, false); }
  void start_reduce_scatter_sum(std::span<const std::span<double>> pieces) override { start_pieces(pieces, false); }
  void all_gather_chunks(std::span<const std::span<float>> pieces) override { gather_chunks(pieces); }
  void all_gather_chunks(std::span<const std::span<double>> pieces) override { gather_chunks(pieces); }

  // Tests the started sums; one whose exchange has arrived is summed and its gather started.
  // Gathers start in start order only, so that every rank starts them in the same order.
  void progress() override {
    bool earlier_gathering = true;
    for (auto& s : started_) {
      if (s.at == stage::exchanging && test(s)) s.at = stage::exchanged;
      if (s.at == stage::exchanged && earlier_gathering) start_gather(s);
      if (s.at == stage::gathering && test(s)) s.at = stage::done;
      if (s.at == stage::exchanging || s.at == stage::exchanged) earlier_gathering = false;
    }
    while (!started_.empty() && started_.front().at == stage::done) started_.pop_front();
  }

  void wait_all() override {
    for (auto& s : started_) {  // every gather started, in order, before any is waited for
      if (s.at == stage::exchanging) {
        wait(s);
        s.at = stage::exchanged;
      }
      if (s.at == stage::exchanged) start_gather(s);
    }
    for (auto& s : started_) {
      if (s.at == stage::gathering) wait(s);
      s.at = stage::done;
    }
    started_.clear();
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
    if (root < 0 || root >= size_) {
      throw error("mpi_communicator::broadcast: root " + std::to_string(root) + " is not a rank of " +
                  std::to_string(size_));
    }
    // In pieces that fit MPI's int count; the pieces change nothing but the number of calls.
    for (std::size_t at = 0; at < data.size();) {
      const std::size_t piece = std::min<std::size_t>(data.size() - at, INT_MAX);
      detail::mpi_check(MPI_Bcast(data.data() + at, static_cast<int>(piece), MPI_BYTE, root, comm_), "MPI_Bcast");
      at += piece;
    }
    if (rank_ == root) count_sent(static_cast<std::int64_t>(size_ - 1) * static_cast<std::int64_t>(data.size()));
  }

  void barrier() override { detail::mpi_check(MPI_Barrier(comm_), "MPI_Barrier"); }

  [[noreturn]] void abort(const std::string& message) override {
    std::fprintf(stderr, "strata: rank %d: %s\n", rank_, message.c_str());
    std::fflush(stderr);
    MPI_Abort(comm_, 1);
    std::abort();  // MPI_Abort does not return; nothing tells the compiler so
  }

 private:
  enum class stage { exchanging, exchanged, gathering, done };

  // One started sum: in rank order, exchanging → exchanged → gathering → done; in MPI's order,
  // a single MPI_Iallreduce (gathering → done).
  struct started_sum {
    std::vector<std::span<float>> pieces_float;  // the vector, where it lies (one type is used)
    std::vector<std::span<double>> pieces_double;
    bool is_double = false;
    bool gather = true;  // false: a reduce-scatter, done once this rank's chunk is summed
    std::int64_t values = 0;
    std::unique_ptr<float[]> scratch_float;  // the other ranks' parts of this rank's chunk
    std::unique_ptr<double[]> scratch_double;
    std::vector<MPI_Request> requests;
    stage at = stage::exchanging;
  };

  template <class T>
  std::vector<std::span<T>>& pieces_of(started_sum& s) {
    if constexpr (std::is_same_v<T, float>) return s.pieces_float;
    else return s.pieces_double;
  }
  template <class T>
  std::unique_ptr<T[]>& scratch_of(started_sum& s) {
    if constexpr (std::is_same_v<T, float>) return s.scratch_float;
    else return s.scratch_double;
  }

  // What the communication arithmetic counts for an all-reduce of n values of `bytes` each:
  // n − c_me values out in the exchange, c_me to each of R−1 ranks in the gather.
  void count_all_reduce(std::int64_t n, std::int64_t bytes) {
    const std::int64_t c = n * (rank_ + 1) / size_ - n * rank_ / size_;
    count_sent((n - c) * bytes + static_cast<std::int64_t>(size_ - 1) * c * bytes);
  }

  // The all-reduce split: chunk q of n values is [n·q/R, n·(q+1)/R), the thread transport's too.
  std::int64_t chunk_first(std::int64_t n, int q) const { return n * q / size_; }
  std::int64_t chunk_count(std::int64_t n, int q) const { return n * (q + 1) / size_ - n * q / size_; }

  // The exchange: chunk q of the vector to rank q, and every other rank's part of this rank's
  // chunk into scratch (rank q's at slot q − (q > me)), segment by segment as the pieces cut it.
  template <class T>
  void post_exchange(started_sum& s, MPI_Comm comm) {
    const std::span<const std::span<T>> pieces(pieces_of<T>(s));
    const std::int64_t n = s.values, mine = chunk_count(n, rank_), first = chunk_first(n, rank_);
    auto& scratch = scratch_of<T>(s);
    scratch.reset(new T[static_cast<std::size_t>((size_ - 1) * mine)]);  // left uninitialised: MPI writes it
    const MPI_Datatype type = detail::mpi_datatype<T>();
    for (int q = 0; q < size_; ++q) {
      if (q == rank_) continue;
      T* slot = scratch.get() + static_cast<std::int64_t>(q - (q > rank_)) * mine;
      detail::for_each_segment(pieces, first, mine, [&](T*, std::int64_t length, std::int64_t offset) {
        s.requests.emplace_back();
        detail::mpi_check(MPI_Irecv(slot + offset, static_cast<int>(length), type, q, 0, comm, &s.requests.back()), "MPI_Irecv");
      });
    }
    for (int q = 0; q < size_; ++q) {
      if (q == rank_) continue;
      detail::for_each_segment(pieces, chunk_first(n, q), chunk_count(n, q), [&](T* data, std::int64_t length, std::int64_t) {
        s.requests.emplace_back();
        detail::mpi_check(MPI_Isend(data, static_cast<int>(length), type, q, 0, comm, &s.requests.back()), "MPI_Isend");
      });
    }
  }

  // After the exchange: this rank's chunk summed in rank order where it lies.
  template <class T>
  void sum_chunk(started_sum& s) {
    const std::span<const std::span<T>> pieces(pieces_of<T>(s));
    const std::int64_t n = s.values, mine = chunk_count(n, rank_);
    auto& scratch = scratch_of<T>(s);
    detail::for_each_segment(pieces, chunk_first(n, rank_), mine, [&](T* data, std::int64_t length, std::int64_t offset) {
      detail::sum_in_rank_order_in_place(data, length, scratch.get() + offset, mine, size_, rank_);
    });
    scratch.reset();
    s.requests.clear();
  }

  // This rank's chunk to every other rank while theirs arrive where they lie.
  template <class T>
  void post_gather(started_sum& s, MPI_Comm comm) {
    const std::span<const std::span<T>> pieces(pieces_of<T>(s));
    const std::int64_t n = s.values, mine = chunk_count(n, rank_), first = chunk_first(n, rank_);
    const MPI_Datatype type = detail::mpi_datatype<T>();
    for (int q = 0; q < size_; ++q) {
      if (q == rank_) continue;
      detail::for_each_segment(pieces, chunk_first(n, q), chunk_count(n, q), [&](T* data, std::int64_t length, std::int64_t) {
        s.requests.emplace_back();
        detail::mpi_check(MPI_Irecv(data, static_cast<int>(length), type, q, 0, comm, &s.requests.back()), "MPI_Irecv");
      });
    }
    for (int q = 0; q < size_; ++q) {
      if (q == rank_) continue;
      detail::for_each_segment(pieces, first, mine, [&](T* data, std::int64_t length, std::int64_t) {
        s.requests.emplace_back();
        detail::mpi_check(MPI_Isend(data, static_cast<int>(length), type, q, 0, comm, &s.requests.back()), "MPI_Isend");
      });
    }
    s.at = stage::gathering;
  }

  template <class T>
  void gather_chunks(std::span<const std::span<T>> pieces) {
    started_sum s = make_sum<T>(pieces);
    if (s.values == 0 || size_ == 1) return;
    post_gather<T>(s, comm_);
    wait(s);
    count_sent(static_cast<std::int64_t>(size_ - 1) * chunk_count(s.values, rank_) * static_cast<std::int64_t>(sizeof(T)));
  }

  template <class T>
  started_sum make_sum(std::span<const std::span<T>> pieces) {
    started_sum s;
    s.is_double = std::is_same_v<T, double>;
    for (const auto& p : pieces) {
      if (p.empty()) continue;
      pieces_of<T>(s).push_back(p);
      s.values += static_cast<std::int64_t>(p.size());
    }
    return s;
  }

  template <class T>
  void all_reduce(std::span<T> data) {
    const auto n = static_cast<std::int64_t>(data.size());
    if (n == 0 || size_ == 1) return;
    if (order_ == mpi_sum_order::mpi) {
      const int count = detail::mpi_count(n, "the buffer's length", "all_reduce_sum");
      detail::mpi_check(MPI_Allreduce(MPI_IN_PLACE, data.data(), count, detail::mpi_datatype<T>(), MPI_SUM, comm_), "MPI_Allreduce");
    } else {
      const std::span<T> one[1] = {data};
      started_sum s = make_sum<T>(std::span<const std::span<T>>(one));
      post_exchange<T>(s, comm_);
      wait(s);
      sum_chunk<T>(s);
      post_gather<T>(s, comm_);
      wait(s);
    }
    count_all_reduce(n, static_cast<std::int64_t>(sizeof(T)));
  }

  template <class T>
  void start(std::span<T> data) {
    const std::span<T> one[1] = {data};
    start_pieces(std::span<const std::span<T>>(one), true);
  }

  template <class T>
  void start_pieces(std::span<const std::span<T>> pieces, bool gather) {
    started_sum s = make_sum<T>(pieces);
    s.gather = gather;
    const std::int64_t n = s.values;
    if (n == 0 || size_ == 1) return;
    if (!gather && order_ == mpi_sum_order::mpi)
      throw error("mpi_communicator: a reduce-scatter in place runs in rank order only (sums_pieces() is false in MPI's order)");
    if (order_ == mpi_sum_order::mpi) {
      if (pieces_of<T>(s).size() != 1)
        throw error("mpi_communicator: in MPI's sum order a started sum takes one contiguous buffer, got " +
                    std::to_string(pieces_of<T>(s).size()) + " pieces (sums_pieces() is false)");
      s.requests.emplace_back();
      detail::mpi_check(MPI_Iallreduce(MPI_IN_PLACE, pieces_of<T>(s)[0].data(), detail::mpi_count(n, "the buffer's length", "start_all_reduce_sum"),
                                       detail::mpi_datatype<T>(), MPI_SUM, exchange_comm_, &s.requests.back()),
                        "MPI_Iallreduce");
      s.at = stage::gathering;
    } else {
      post_exchange<T>(s, exchange_comm_);
    }
    started_.push_back(std::move(s));  // the requests' buffers (pieces, scratch) stay put
    if (gather) count_all_reduce(n, static_cast<std::int64_t>(sizeof(T)));
    else count_sent((n - chunk_count(n, rank_)) * static_cast<std::int64_t>(sizeof(T)));
  }

  // An exchanged sum: its chunk summed, then its gather started (a reduce-scatter is done).
  void start_gather(started_sum& s) {
    if (s.is_double) sum_chunk<double>(s);
    else sum_chunk<float>(s);
    if (!s.gather) {
      s.at = stage::done;
      return;
    }
    if (s.is_double) post_gather<double>(s, gather_comm_);
    else post_gather<float>(s, gather_comm_);
  }

  bool test(started_sum& s) {
    int done = 0;
    detail::mpi_check(MPI_Testall(static_cast<int>(s.requests.size()), s.requests.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
    return done != 0;
  }
  void wait(started_sum& s) {
    detail::mpi_check(MPI_Waitall(static_cast<int>(s.requests.size()), s.requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  }

  template <class T>
  void gather(std::span<const T> mine, std::span<T> out, std::span<const std::int64_t> counts) {
    check_counts(counts, "all_gather");
    const detail::exchange_plan plan(counts, rank_, "all_gather");
    check_length(static_cast<std::int64_t>(mine.size()), plan.mine, "all_gather", "mine", "counts[rank]");
    check_length(static_cast<std::int64_t>(out.size()), plan.total, "all_gather", "out", "the counts' sum");
    const MPI_Datatype type = detail::mpi_datatype<T>();
    // (MPI's send buffer is not const in every MPI the library may meet; it is only read.)
    detail::mpi_check(MPI_Allgatherv(const_cast<T*>(mine.data()), plan.mine, type, out.data(), plan.counts.data(),
                                     plan.offsets.data(), type, comm_),
                      "MPI_Allgatherv");
    count_sent(static_cast<std::int64_t>(size_ - 1) * plan.mine * static_cast<std::int64_t>(sizeof(T)));
  }

  template <class T>
  void reduce_scatter(std::span<const T> all, std::span<T> mine, std::span<const std::int64_t> counts) {
    check_counts(counts, "reduce_scatter_sum");
    const detail::exchange_plan plan(counts, rank_, "reduce_scatter_sum");
    check_length(static_cast<std::int64_t>(all.size()), plan.total, "reduce_scatter_sum", "all", "the counts' sum");
    check_length(static_cast<std::int64_t>(mine.size()), plan.mine, "reduce_scatter_sum", "mine", "counts[rank]");
    if (plan.total == 0) return;
    const MPI_Datatype type = detail::mpi_datatype<T>();
    auto& received = scratch_of<T>();
    received.resize(static_cast<std::size_t>(size_) * static_cast<std::size_t>(plan.mine));
    detail::mpi_check(MPI_Alltoallv(const_cast<T*>(all.data()), plan.counts.data(), plan.offsets.data(), type,
                                    received.data(), plan.recv_counts.data(), plan.recv_offsets.data(), type, comm_),
                      "MPI_Alltoallv");
    detail::sum_in_rank_order(received.data(), plan.mine, size_, mine.data());
    count_sent((plan.total - plan.mine) * static_cast<std::int64_t>(sizeof(T)));
  }

  void check_counts(std::span<const std::int64_t> counts, const char* operation) const {
    if (static_cast<std::int64_t>(counts.size()) != size_) {
      throw shape_error(std::string("mpi_communicator::") + operation + ": counts has " +
                        std::to_string(counts.size()) + " entries for " + std::to_string(size_) + " ranks");
    }
  }
  void check_length(std::int64_t got, std::int64_t want, const char* operation, const char* what,
                    const char* from) const {
    if (got != want) {
      throw shape_error(std::string("mpi_communicator::") + operation + ": rank " + std::to_string(rank_) + "'s " +
                        what + " holds " + std::to_string(got) + " values, " + from + " says " +
                        std::to_string(want));
    }
  }

  template <class T>
  std::vector<T>& scratch_of() {
    if constexpr (std::is_same_v<T, float>) return scratch_float_;
    else return scratch_double_;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Comm exchange_comm_ = MPI_COMM_NULL;  // started sums' exchanges (and fast mode's all-reduces)
  MPI_Comm gather_comm_ = MPI_COMM_NULL;    // started sums' gathers
  int rank_ = 0;
  int size_ = 1;
  mpi_sum_order order_;
  std::deque<started_sum> started_;
  std::vector<float> scratch_float_;  // the blocking collectives' received parts, reused
  std::vector<double> scratch_double_;
};

}  // namespace strata::parallel
