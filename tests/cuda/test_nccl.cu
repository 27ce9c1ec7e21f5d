// The NCCL transport (strata/parallel/nccl_communicator.cuh) on GPUs. On one GPU: the summing
// kernel bit for bit against a serial rank-order sum, every collective of a one-rank group (device
// and host memory, both sum orders, errors), and one replica over NCCL training as train::fit does.
// A rank joined by a unique id broadcast over a host communicator (the one-process-per-GPU way).
// On two or more GPUs (one thread each; cases tagged [two_gpus], which say "needs 2 GPUs, found N"
// and pass with fewer, or exit 77 under cuda.nccl.two_gpus): rank-order sums bit-identical to a
// host rank-order sum (uneven and even parts, fewer values than ranks), NCCL's order, started sums
// around a blocking one, gathers and scatters with unequal and empty parts, broadcasts, barriers,
// the bytes counted, a failing rank ending the others with its message, and the data-parallel
// invariant: Model<Net, float, cuda> replicas on 2 GPUs give the weights one CUDA model gives on
// the global batches (within 1e-5), the same bits whatever the buckets.
#include "support/skip.hpp"

#if !defined(STRATA_TEST_HAVE_NCCL)

TEST_CASE("the NCCL transport", "[nccl]") {
  strata::testing::skip_test(
      "NCCL was not found when the build was configured (cmake/StrataNccl.cmake looks beside the CUDA toolkit; set "
      "NCCL_ROOT to its prefix)");
}

#else

#include <strata/cuda.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "parallel/training_data.hpp"
#include "strata/parallel/fit.hpp"
#include "strata/parallel/nccl_communicator.cuh"
#include "strata/train/fit.hpp"
#include "strata/train/sgd.hpp"
#include "support/autotune_guard.hpp"

using namespace strata;
using namespace strata::testing::parallel_data;
using gpu = strata::cuda;  // (unqualified `cuda` may meet libcu++'s ::cuda namespace)

namespace {

int gpus() { return cuda_runtime::device_count(); }

// The [two_gpus] cases start here: fewer GPUs skip with the count.
bool two_gpus() {
  const int n = gpus();
  if (n >= 2) return true;
  testing::skip_test("needs 2 GPUs, found " + std::to_string(n));
  return false;
}
int ranks_up_to(int most) { return std::min(gpus(), most); }

template <class T>
Tensor<T, 1, gpu> device_copy(const std::vector<T>& v) {
  if (v.empty()) return {};
  Tensor<T, 1> h(static_cast<std::int64_t>(v.size()));
  std::copy(v.begin(), v.end(), h.data());
  return to_device(h);
}
template <class T>
std::vector<T> host_copy(const Tensor<T, 1, gpu>& d) {
  if (d.size() == 0) return {};
  const auto h = to_host(d);
  return std::vector<T>(h.data(), h.data() + h.size());
}
template <class T>
std::span<T> span_of(Tensor<T, 1, gpu>& d) {
  return std::span<T>(d.data(), static_cast<std::size_t>(d.size()));
}

// Values whose sum depends on the order (as the thread transport's test): 1e16 cancels, small
// terms survive or not. Divisions, not products: no fused multiply-add rounds the expectation.
template <class T>
T value(int rank, std::int64_t i) {
  if constexpr (std::is_same_v<T, double>) {
    const double big = (rank % 2 ? -1e16 : 1e16) / double(1 + i % 3);
    return rank < 2 ? big : 1.0 + double(rank) / 4.0 + double(i) / 1024.0;
  } else {
    return float(rank + 1) / 8.0f + float(i) / 1024.0f + (i % 2 ? (rank % 2 ? -6e7f : 6e7f) : 0.0f);
  }
}
template <class T>
std::vector<T> values_of(int rank, std::int64_t n) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = value<T>(rank, i);
  return v;
}
template <class T>
std::vector<T> rank_order_sum(int ranks, std::int64_t n) {
  std::vector<T> s = values_of<T>(0, n);
  for (int r = 1; r < ranks; ++r)
    for (std::int64_t i = 0; i < n; ++i) s[static_cast<std::size_t>(i)] += value<T>(r, i);
  return s;
}
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Catch2's assertions are not thread-safe: each rank notes what failed, the test's thread checks.
class rank_notes {
 public:
  explicit rank_notes(int ranks) : notes_(static_cast<std::size_t>(ranks)) {}
  void expect(int rank, bool ok, const std::string& what) {
    if (!ok) notes_[static_cast<std::size_t>(rank)].push_back(what);
  }
  template <class F>
  void expect_throw(int rank, F&& f, const std::string& text, const std::string& what) {
    try {
      f();
      notes_[static_cast<std::size_t>(rank)].push_back(what + ": nothing thrown");
    } catch (const std::exception& e) {
      if (std::string(e.what()).find(text) == std::string::npos)
        notes_[static_cast<std::size_t>(rank)].push_back(what + ": threw \"" + e.what() + "\", not \"" + text + "\"");
    }
  }
  void check() const {
    for (std::size_t r = 0; r < notes_.size(); ++r)
      for (const auto& n : notes_[r]) FAIL_CHECK("rank " << r << ": " << n);
  }

 private:
  std::vector<std::vector<std::string>> notes_;
};

template <class M>
std::vector<double> gpu_parameters_of(M& m) {
  std::vector<double> values;
  m.visit_parameters([&](const auto& p) {
    const auto h = to_host(p.value);
    values.insert(values.end(), h.data(), h.data() + h.size());
  });
  return values;
}

// The bytes an all-reduce of n values of T counts on rank r of R (the transports' convention).
std::int64_t all_reduce_bytes(std::int64_t n, int r, int ranks, std::int64_t value_bytes) {
  const std::int64_t c = n * (r + 1) / ranks - n * r / ranks;
  return ((n - c) + (ranks - 1) * c) * value_bytes;
}

// Weights after `steps` of data-parallel fit on `replicas` GPUs (one thread each), rank by rank.
std::vector<std::vector<double>> train_on_gpus(int replicas, const data_set& data, parallel::data_parallel_options dp = {}) {
  std::vector<std::vector<double>> weights(static_cast<std::size_t>(replicas));
  parallel::run_nccl_threads(replicas, [&](parallel::communicator& c) {
    Model<Small, float, gpu> m(3);
    train::SGD<float, gpu> sgd(momentum_and_decay());
    parallel::fit(c, m, data, sgd, decaying_rate, quiet(8), dp);
    weights[static_cast<std::size_t>(c.rank())] = gpu_parameters_of(m);
  });
  return weights;
}
std::vector<double> train_one_gpu(const data_set& data) {
  STRATA_CUDA_CHECK(cudaSetDevice(0));
  Model<Small, float, gpu> one(3);
  train::SGD<float, gpu> sgd(momentum_and_decay());
  train::fit(one, data, sgd, decaying_rate, quiet(8));
  return gpu_parameters_of(one);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// One GPU.

TEST_CASE("the summing kernel adds the received parts in rank order, bit for bit", "[nccl][one_gpu]") {
  for (int ranks : {1, 2, 5}) {
    for (std::int64_t count : {std::int64_t{1}, std::int64_t{1000},
                               parallel::direct_exchange::sum_max_blocks * parallel::direct_exchange::sum_block + 77}) {
      INFO(ranks << " parts of " << count);
      std::vector<double> received;
      for (int q = 0; q < ranks; ++q) {
        const auto v = values_of<double>(q, count);
        received.insert(received.end(), v.begin(), v.end());
      }
      const auto d_received = device_copy(received);
      auto d_out = device_copy(std::vector<double>(static_cast<std::size_t>(count), -1.0));
      parallel::nccl_detail::launch_rank_order_sum(d_received.data(), count, ranks, d_out.data(), current_stream());
      CHECK(same_bits(host_copy(d_out), rank_order_sum<double>(ranks, count)));
    }
  }
}

TEST_CASE("one rank: every collective on one GPU, in device and host memory", "[nccl][one_gpu]") {
  for (const auto order : {parallel::nccl_sum_order::rank, parallel::nccl_sum_order::nccl}) {
    parallel::nccl_thread_group group(1, order);
    parallel::run_nccl_threads(group, [&](parallel::communicator& c) {
      auto& nc = dynamic_cast<parallel::nccl_communicator&>(c);
      CHECK(c.rank() == 0);
      CHECK(c.size() == 1);
      CHECK(nc.device() == 0);
      CHECK(nc.sum_order() == order);
      CHECK(nc.native() != nullptr);
      const auto v = values_of<float>(0, 1001);
      auto d = device_copy(v);
      c.all_reduce_sum(span_of(d));
      CHECK(same_bits(host_copy(d), v));
      std::vector<double> h = values_of<double>(0, 7);
      c.all_reduce_sum(std::span<double>(h));
      CHECK(same_bits(h, values_of<double>(0, 7)));
      c.all_reduce_sum(std::span<float>());
      c.start_all_reduce_sum(span_of(d));
      c.progress();
      c.wait_all();
      CHECK(same_bits(host_copy(d), v));

      const std::vector<std::int64_t> counts{5};
      const auto mine = device_copy(std::vector<double>{1, 2, 3, 4, 5});
      auto out = device_copy(std::vector<double>(5, 0.0));
      c.all_gather(std::span<const double>(mine.data(), 5), span_of(out), counts);
      CHECK(host_copy(out) == std::vector<double>{1, 2, 3, 4, 5});
      auto part = device_copy(std::vector<double>(5, 0.0));
      c.reduce_scatter_sum(std::span<const double>(mine.data(), 5), span_of(part), counts);
      CHECK(host_copy(part) == std::vector<double>{1, 2, 3, 4, 5});
      std::vector<float> host_out(5, 0.0f);
      const std::vector<float> host_mine{5, 4, 3, 2, 1};
      c.all_gather(std::span<const float>(host_mine), std::span<float>(host_out), counts);
      CHECK(host_out == host_mine);

      auto bytes = device_copy(std::vector<float>{42.0f});
      c.broadcast(std::as_writable_bytes(span_of(bytes)), 0);
      CHECK(host_copy(bytes) == std::vector<float>{42.0f});
      std::vector<std::int32_t> word{7};
      c.broadcast(std::as_writable_bytes(std::span<std::int32_t>(word)), 0);
      CHECK(word[0] == 7);
      c.barrier();
      CHECK(c.bytes_sent() == 0);  // one rank sends nothing

      CHECK_THROWS_WITH(c.all_gather(std::span<const double>(mine.data(), 5), span_of(out), std::vector<std::int64_t>{2, 3}),
                        Catch::Contains("counts has 2 entries for 1 ranks"));
      CHECK_THROWS_WITH(c.all_gather(std::span<const double>(mine.data(), 4), span_of(out), counts),
                        Catch::Contains("rank 0's mine holds 4 values, counts[rank] says 5"));
      CHECK_THROWS_WITH(c.broadcast({}, 1), Catch::Contains("root 1 is not a rank of 1"));
    });
  }
}

TEST_CASE("a rank joined by a unique id broadcast over a host communicator (one process per GPU)", "[nccl][one_gpu]") {
  // The thread transport stands in for MPI: one rank here, one per GPU in [two_gpus] below.
  parallel::run_threads(1, [&](parallel::communicator& host) {
    parallel::nccl_communicator c(parallel::nccl_unique_id(host), host.rank(), host.size(), 0, {.abort_through = &host});
    CHECK(c.size() == 1);
    CHECK(c.device() == 0);
    auto d = device_copy(std::vector<double>{1.5, -2.0});
    c.all_reduce_sum(span_of(d));
    c.barrier();
    CHECK(host_copy(d) == std::vector<double>{1.5, -2.0});
  });
}

TEST_CASE("NCCL errors name the call and NCCL's reason", "[nccl][one_gpu]") {
  try {
    STRATA_NCCL_CHECK(ncclInvalidArgument, nullptr);
    FAIL("no error thrown");
  } catch (const parallel::nccl_error& e) {
    CHECK_THAT(std::string(e.what()),
               Catch::Contains("ncclInvalidArgument failed at") && Catch::Contains(ncclGetErrorString(ncclInvalidArgument)));
    CHECK(e.code() == ncclInvalidArgument);
  }
  CHECK_THROWS_WITH(parallel::nccl_thread_group(gpus() + 1), Catch::Contains("found " + std::to_string(gpus()) + " GPU(s)"));
}

TEST_CASE("one replica over NCCL trains as train::fit does on the same GPU", "[nccl][one_gpu]") {
  const testing::autotune_guard rule_of_thumb(false);
  const data_set data = squares(53, 4, 11);
  const auto one = train_one_gpu(data);
  const auto many = train_on_gpus(1, data);
  CHECK(relative_difference(one, many[0]) < 1e-6);  // (the same kernels on the same batches: expected bit for bit)
}

// ---------------------------------------------------------------------------------------------
// Two GPUs or more.

TEST_CASE("rank-order sums on GPUs equal a host rank-order sum, bit for bit", "[nccl][two_gpus]") {
  if (!two_gpus()) return;
  for (int ranks = 2; ranks <= ranks_up_to(4); ++ranks) {
    for (std::int64_t n : {std::int64_t{0}, std::int64_t{1}, std::int64_t{3}, std::int64_t{7}, std::int64_t{1000},
                           std::int64_t{1001}, (std::int64_t{1} << 20) + 3}) {
      INFO(ranks << " GPUs, " << n << " values");
      std::vector<std::vector<float>> floats(static_cast<std::size_t>(ranks));
      std::vector<std::vector<double>> doubles(floats.size()), staged(floats.size());
      std::vector<std::int64_t> bytes(floats.size());
      parallel::run_nccl_threads(ranks, [&](parallel::communicator& c) {
        const auto r = static_cast<std::size_t>(c.rank());
        auto f = device_copy(values_of<float>(c.rank(), n));
        auto d = device_copy(values_of<double>(c.rank(), n));
        c.all_reduce_sum(span_of(f));
        c.all_reduce_sum(span_of(d));
        std::vector<double> h = values_of<double>(c.rank(), n);  // host memory, staged through the GPU
        c.all_reduce_sum(std::span<double>(h));
        floats[r] = host_copy(f);
        doubles[r] = host_copy(d);
        staged[r] = h;
        bytes[r] = c.bytes_sent();
      });
      const auto want_f = rank_order_sum<float>(ranks, n);
      const auto want_d = rank_order_sum<double>(ranks, n);
      for (int r = 0; r < ranks; ++r) {
        INFO("rank " << r);
        const auto i = static_cast<std::size_t>(r);
        CHECK(same_bits(floats[i], want_f));
        CHECK(same_bits(doubles[i], want_d));
        CHECK(same_bits(staged[i], want_d));
        CHECK(bytes[i] == all_reduce_bytes(n, r, ranks, 4) + 2 * all_reduce_bytes(n, r, ranks, 8));
      }
    }
  }
}

TEST_CASE("NCCL's own order sums what order cannot change to the same values", "[nccl][two_gpus]") {
  if (!two_gpus()) return;
  const int ranks = ranks_up_to(4);
  parallel::nccl_thread_group group(ranks, parallel::nccl_sum_order::nccl);
  rank_notes notes(ranks);
  parallel::run_nccl_threads(group, [&](parallel::communicator& c) {
    std::vector<float> v(1001);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(c.rank() + 1) * float(i % 17);  // small integers: exact in any order
    auto d = device_copy(v);
    c.start_all_reduce_sum(span_of(d));
    c.wait_all();
    const auto got = host_copy(d);
    std::int64_t wrong = 0;
    for (std::size_t i = 0; i < got.size(); ++i) wrong += got[i] != float(ranks * (ranks + 1) / 2) * float(i % 17);
    notes.expect(c.rank(), wrong == 0, std::to_string(wrong) + " wrong sums");
    // counted as the rank-order exchange would have sent
    notes.expect(c.rank(), c.bytes_sent() == all_reduce_bytes(1001, c.rank(), ranks, 4),
                 "bytes " + std::to_string(c.bytes_sent()));
  });
  notes.check();
}

TEST_CASE("started sums around a blocking one, gathers and scatters with unequal and empty parts, broadcasts, bytes",
          "[nccl][two_gpus]") {
  if (!two_gpus()) return;
  const int ranks = ranks_up_to(3);
  const int triangle = ranks * (ranks + 1) / 2;
  rank_notes notes(ranks);
  parallel::run_nccl_threads(ranks, [&](parallel::communicator& c) {
    const int r = c.rank();
    auto a = device_copy(std::vector<float>(5, float(r + 1)));
    auto b = device_copy(std::vector<float>(2, float(10 * (r + 1))));
    std::vector<double> between{double(r)};
    c.start_all_reduce_sum(span_of(a));
    c.progress();
    c.all_reduce_sum(std::span<double>(between));  // a blocking (host) sum while a started one is in flight
    c.start_all_reduce_sum(span_of(b));
    c.progress();
    c.wait_all();
    notes.expect(r, host_copy(a) == std::vector<float>(5, float(triangle)), "a started sum");
    notes.expect(r, host_copy(b) == std::vector<float>(2, float(10 * triangle)), "a sum started after a blocking one");
    notes.expect(r, between[0] == double(ranks * (ranks - 1) / 2), "the blocking sum between started ones");
    std::int64_t expected =
        all_reduce_bytes(5, r, ranks, 4) + all_reduce_bytes(1, r, ranks, 8) + all_reduce_bytes(2, r, ranks, 4);
    notes.expect(r, c.bytes_sent() == expected, "c.bytes_sent() == expected");

    // Unequal counts with an empty part: rank q owns q values (rank 0 none).
    std::vector<std::int64_t> counts;
    std::vector<double> gathered;
    for (int q = 0; q < ranks; ++q) {
      counts.push_back(q);
      for (int k = 0; k < q; ++k) gathered.push_back(double(q));
    }
    const auto total = static_cast<std::int64_t>(gathered.size());
    auto mine = device_copy(std::vector<double>(static_cast<std::size_t>(r), double(r)));
    auto all = device_copy(std::vector<double>(static_cast<std::size_t>(total), -1.0));
    c.all_gather(std::span<const double>(mine.data(), static_cast<std::size_t>(r)), span_of(all), counts);
    notes.expect(r, host_copy(all) == gathered, "host_copy(all) == gathered");
    expected += 8 * (ranks - 1) * r;
    // Equal counts: the collective all-gather.
    const std::vector<std::int64_t> equal(static_cast<std::size_t>(ranks), 2);
    auto two = device_copy(std::vector<float>{float(r), float(r) + 0.5f});
    auto every = device_copy(std::vector<float>(static_cast<std::size_t>(2 * ranks), -1.0f));
    c.all_gather(std::span<const float>(two.data(), 2), span_of(every), equal);
    std::vector<float> every_want;
    for (int q = 0; q < ranks; ++q) every_want.insert(every_want.end(), {float(q), float(q) + 0.5f});
    notes.expect(r, host_copy(every) == every_want, "host_copy(every) == every_want");
    expected += 4 * (ranks - 1) * 2;

    // Reduce-scatter: rank r contributes (r + 1)·(i + 1) at i; part of rank q is summed in rank order.
    std::vector<double> contribution(static_cast<std::size_t>(total));
    for (std::int64_t i = 0; i < total; ++i) contribution[static_cast<std::size_t>(i)] = double((r + 1) * (i + 1));
    const auto d_contribution = device_copy(contribution);
    auto part = device_copy(std::vector<double>(static_cast<std::size_t>(r), -1.0));
    c.reduce_scatter_sum(std::span<const double>(d_contribution.data(), static_cast<std::size_t>(total)), span_of(part), counts);
    const std::int64_t offset = std::int64_t(r) * (r - 1) / 2;
    std::vector<double> part_want;
    for (std::int64_t i = 0; i < r; ++i) part_want.push_back(double(triangle) * double(offset + i + 1));
    notes.expect(r, host_copy(part) == part_want, "host_copy(part) == part_want");
    expected += 8 * (total - r);
    // The same in host memory.
    std::vector<double> host_part(static_cast<std::size_t>(r));
    c.reduce_scatter_sum(std::span<const double>(contribution), std::span<double>(host_part), counts);
    notes.expect(r, host_part == part_want, "host_part == part_want");
    expected += 8 * (total - r);
    notes.expect(r, c.bytes_sent() == expected, "c.bytes_sent() == expected");

    const int root = ranks - 1;
    auto word = device_copy(std::vector<float>{r == root ? 42.0f : -1.0f});
    c.broadcast(std::as_writable_bytes(span_of(word)), root);
    notes.expect(r, host_copy(word) == std::vector<float>{42.0f}, "host_copy(word) == std::vector<float>{42.0f}");
    std::vector<std::int32_t> host_word{r == 0 ? 7 : -1};
    c.broadcast(std::as_writable_bytes(std::span<std::int32_t>(host_word)), 0);
    notes.expect(r, host_word[0] == 7, "host_word[0] == 7");
    if (r == root) expected += 4 * (ranks - 1);
    if (r == 0) expected += 4 * (ranks - 1);
    c.barrier();
    notes.expect(r, c.bytes_sent() == expected, "c.bytes_sent() == expected");
    notes.expect_throw(
        r, [&] { c.broadcast({}, ranks); }, "root " + std::to_string(ranks) + " is not a rank of", "broadcast from no rank");
  });
  notes.check();
}

TEST_CASE("ranks joined by a unique id, one thread per GPU standing in for one process per GPU", "[nccl][two_gpus]") {
  if (!two_gpus()) return;
  const int ranks = ranks_up_to(4);
  rank_notes notes(ranks);
  parallel::run_threads(ranks, [&](parallel::communicator& host) {
    const int r = host.rank();
    STRATA_CUDA_CHECK(cudaSetDevice(r));
    parallel::nccl_communicator c(parallel::nccl_unique_id(host), r, ranks, r);
    auto d = device_copy(values_of<double>(r, 1001));
    c.all_reduce_sum(span_of(d));
    notes.expect(r, same_bits(host_copy(d), rank_order_sum<double>(ranks, 1001)), "rank-order sum");
    c.barrier();
  });
  notes.check();
}

TEST_CASE("memory on another rank's GPU is refused with both GPUs named", "[nccl][two_gpus]") {
  if (!two_gpus()) return;
  parallel::nccl_thread_group group(2);
  STRATA_CUDA_CHECK(cudaSetDevice(1));
  auto elsewhere = device_copy(std::vector<float>(4, 1.0f));
  STRATA_CUDA_CHECK(cudaSetDevice(0));
  CHECK_THROWS_WITH(group.rank(0).all_reduce_sum(span_of(elsewhere)),
                    Catch::Contains("rank 0 was given memory on GPU 1; its GPU is 0"));
  STRATA_CUDA_CHECK(cudaSetDevice(1));
  elsewhere = Tensor<float, 1, gpu>();  // freed on its own GPU
  STRATA_CUDA_CHECK(cudaSetDevice(0));
}

TEST_CASE("a failing rank ends every rank with its message, never a hang", "[nccl][two_gpus]") {
  if (!two_gpus()) return;
  const int ranks = ranks_up_to(4);
  std::atomic<int> ended{0};
  const auto rank_1_fails = [&](parallel::communicator& c) {
    std::vector<float> v(10, 1.0f);
    try {
      c.all_reduce_sum(std::span<float>(v));
      if (c.rank() == 1) throw std::runtime_error("bad record 17 in shard 1");
      for (int i = 0; i < 3; ++i) c.all_reduce_sum(std::span<float>(v));  // the others wait here for rank 1
      c.barrier();
    } catch (const parallel::group_error& e) {
      if (std::string(e.what()).find("bad record 17 in shard 1") != std::string::npos) ++ended;
      throw;
    }
  };
  CHECK_THROWS_WITH(parallel::run_nccl_threads(ranks, rank_1_fails), Catch::Contains("bad record 17 in shard 1"));
  CHECK(ended == ranks - 1);  // each ended with rank 1's message
  // abort(): the message, with the rank, on every rank. (A first barrier on every rank makes NCCL's
  // connections for it, which NCCL would otherwise make inside the second, waiting for rank 0.)
  const auto rank_0_aborts = [&](parallel::communicator& c) {
    c.barrier();
    if (c.rank() == 0) c.abort("deliberate failure");
    c.barrier();
  };
  CHECK_THROWS_WITH(parallel::run_nccl_threads(ranks, rank_0_aborts),
                    Catch::Contains("rank 0 of " + std::to_string(ranks) + ": deliberate failure"));
}

TEST_CASE("replicas on 2 GPUs train to one CUDA model's weights on the same global batches", "[nccl][two_gpus]") {
  if (!two_gpus()) return;
  const testing::autotune_guard rule_of_thumb(false);
  const data_set data = squares(53, 4, 11);  // 6 batches of 8 and a last one of 5 (rows 2 and 3)
  const auto one = train_one_gpu(data);
  const auto many = train_on_gpus(2, data);
  CHECK(same_bits(many[0], many[1]));  // every rank steps to the same weights
  CHECK(relative_difference(one, many[0]) < 1e-5);
  Model<Small, float, gpu> untouched(3);
  CHECK(relative_difference(one, gpu_parameters_of(untouched)) > 1e-2);  // training moved them
  // Bucket size and overlap change nothing: the sums are in rank order whenever they run.
  const auto tiny = train_on_gpus(2, data, {.bucket_bytes = 64, .overlap = true});
  const auto whole = train_on_gpus(2, data, {.bucket_bytes = std::int64_t{1} << 30, .overlap = false});
  CHECK(same_bits(tiny[0], many[0]));
  CHECK(same_bits(whole[0], many[0]));
}

#endif
