// mpi_communicator against serial computations of the same values: every rank knows every rank's
// data (a hash of rank and index), so it can add them up itself in rank order and demand the
// transport's sums bit for bit. Run under mpiexec with 2 and 4 ranks (and alone, as one rank).
#include "strata/mpi.hpp"  // first: it includes what it uses

#include <catch2/catch.hpp>

#include <chrono>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

using namespace strata::parallel;

namespace {

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Rank `rank`'s value i of data set `salt`. Every fifth value is +big, 1, −big, 1 on ranks
// 0, 1, 2, 3 (big + 1 rounds to big), the others span 2^−20 … 2^20 with both signs, so a sum in
// another order than 0, 1, …, R−1 comes out different.
template <class T>
T sample(std::uint64_t salt, int rank, std::int64_t i) {
  if (i % 5 == 0) {
    const T big = std::is_same_v<T, float> ? T(1e8) : T(1e16);
    switch (rank % 4) {
      case 0: return big;
      case 2: return -big;
      default: return T(1);
    }
  }
  const std::uint64_t h = mix(salt * 0x100000001b3ULL ^ mix(static_cast<std::uint64_t>(rank) + 17) ^
                              mix(static_cast<std::uint64_t>(i)));
  const double unit = static_cast<double>(h >> 11) * 0x1.0p-53;
  const int exponent = static_cast<int>((h >> 3) % 41) - 20;
  return static_cast<T>(std::ldexp(0.5 + unit, exponent) * ((h & 1) != 0 ? -1.0 : 1.0));
}

template <class T>
std::vector<T> rank_data(std::uint64_t salt, int rank, std::int64_t n) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = sample<T>(salt, rank, i);
  return v;
}

// Values [begin, begin + n) summed over ranks serially: rank 0's values, + rank 1's, + … .
template <class T>
std::vector<T> rank_order_sum(std::uint64_t salt, int ranks, std::int64_t begin, std::int64_t n) {
  std::vector<T> sum(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    T s = sample<T>(salt, 0, begin + i);
    for (int q = 1; q < ranks; ++q) s += sample<T>(salt, q, begin + i);
    sum[static_cast<std::size_t>(i)] = s;
  }
  return sum;
}

template <class T>
std::vector<T> reverse_order_sum(std::uint64_t salt, int ranks, std::int64_t begin, std::int64_t n) {
  std::vector<T> sum(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    T s = sample<T>(salt, ranks - 1, begin + i);
    for (int q = ranks - 2; q >= 0; --q) s += sample<T>(salt, q, begin + i);
    sum[static_cast<std::size_t>(i)] = s;
  }
  return sum;
}

// The first index where the two differ in any bit (−0 ≠ +0), or −1.
template <class T>
std::int64_t first_difference(std::span<const T> got, std::span<const T> want) {
  if (got.size() != want.size()) return 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) return static_cast<std::int64_t>(i);
  }
  return -1;
}

// The communication arithmetic's convention, written out again: chunk r is [N·r/R, N·(r+1)/R);
// rank r sends (N − c_r)·s in the exchange and c_r·s to each of the R − 1 others in the gather.
std::int64_t all_reduce_bytes(std::int64_t n, std::int64_t s, int rank, int ranks) {
  const std::int64_t c = n * (rank + 1) / ranks - n * rank / ranks;
  return (n - c) * s + (ranks - 1) * c * s;
}

const std::int64_t sizes[] = {0, 1, 2, 3, 5, 7, 64, 1001, 65537};

template <class T>
void check_all_reduce(mpi_communicator& comm) {
  const int R = comm.size(), me = comm.rank();
  for (const std::int64_t n : sizes) {
    const std::uint64_t salt = 1000 + static_cast<std::uint64_t>(n);
    auto data = rank_data<T>(salt, me, n);
    const auto want = rank_order_sum<T>(salt, R, 0, n);
    const std::int64_t before = comm.bytes_sent();
    comm.all_reduce_sum(std::span<T>(data));
    INFO("N = " << n << ", R = " << R << ", rank " << me << ", " << sizeof(T) << "-byte values");
    CHECK(first_difference<T>(data, want) == -1);
    CHECK(comm.bytes_sent() - before == all_reduce_bytes(n, sizeof(T), me, R));
  }
}

}  // namespace

TEST_CASE("the test data's sums depend on the order of the ranks (so the checks below can fail)", "[mpi]") {
  mpi_communicator comm;
  const int R = comm.size();
  if (R < 3) return;  // two values add the same either way round
  if (R % 4 == 0) {   // big + 1 − big + 1 = 1 in rank order, 1 − big + 1 + big = 0 backwards
    CHECK(rank_order_sum<double>(1, R, 0, 1)[0] == 1.0);
    CHECK(reverse_order_sum<double>(1, R, 0, 1)[0] == 0.0);
  }
  const std::int64_t n = 65537;
  std::int64_t differ_double = 0, differ_float = 0;
  const auto d = rank_order_sum<double>(7, R, 0, n), rd = reverse_order_sum<double>(7, R, 0, n);
  const auto f = rank_order_sum<float>(7, R, 0, n), rf = reverse_order_sum<float>(7, R, 0, n);
  for (std::size_t i = 0; i < d.size(); ++i) {
    differ_double += d[i] != rd[i];
    differ_float += f[i] != rf[i];
  }
  CHECK(differ_double > n / 10);
  CHECK(differ_float > n / 10);
}

TEST_CASE("all_reduce_sum is the rank-order serial sum bit for bit, for any size, and counts its bytes",
          "[mpi][all_reduce]") {
  mpi_communicator comm;
  CHECK(comm.sum_order() == mpi_sum_order::rank);
  int world = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  CHECK(comm.size() == world);
  check_all_reduce<double>(comm);
  check_all_reduce<float>(comm);
}

TEST_CASE("started sums, float and double, finish correctly around blocking collectives and progress()",
          "[mpi][started]") {
  mpi_communicator comm;
  const int R = comm.size(), me = comm.rank();
  for (int round = 0; round < 2; ++round) {  // the second round reuses the communicator's state
    const std::uint64_t salt = 50 + static_cast<std::uint64_t>(round) * 10;
    auto f0 = rank_data<float>(salt + 0, me, 1001);
    auto d1 = rank_data<double>(salt + 1, me, 3);
    auto f2 = rank_data<float>(salt + 2, me, 0);
    auto d3 = rank_data<double>(salt + 3, me, 65537);
    auto f4 = rank_data<float>(salt + 4, me, 1);
    auto d5 = rank_data<double>(salt + 5, me, 7);
    auto blocking = rank_data<double>(salt + 6, me, 333);
    const std::int64_t before = comm.bytes_sent();

    comm.start_all_reduce_sum(std::span<float>(f0));
    comm.start_all_reduce_sum(std::span<double>(d1));
    comm.progress();
    comm.start_all_reduce_sum(std::span<float>(f2));
    comm.start_all_reduce_sum(std::span<double>(d3));
    // A blocking collective while sums are in flight (as a loss all-reduce during backward would).
    comm.all_reduce_sum(std::span<double>(blocking));
    comm.progress();
    comm.start_all_reduce_sum(std::span<float>(f4));
    comm.progress();
    comm.start_all_reduce_sum(std::span<double>(d5));
    comm.progress();
    comm.wait_all();
    CHECK(comm.in_flight() == 0);

    INFO("round " << round << ", R = " << R << ", rank " << me);
    CHECK(first_difference<float>(f0, rank_order_sum<float>(salt + 0, R, 0, 1001)) == -1);
    CHECK(first_difference<double>(d1, rank_order_sum<double>(salt + 1, R, 0, 3)) == -1);
    CHECK(f2.empty());
    CHECK(first_difference<double>(d3, rank_order_sum<double>(salt + 3, R, 0, 65537)) == -1);
    CHECK(first_difference<float>(f4, rank_order_sum<float>(salt + 4, R, 0, 1)) == -1);
    CHECK(first_difference<double>(d5, rank_order_sum<double>(salt + 5, R, 0, 7)) == -1);
    CHECK(first_difference<double>(blocking, rank_order_sum<double>(salt + 6, R, 0, 333)) == -1);
    CHECK(comm.bytes_sent() - before ==
          all_reduce_bytes(1001, 4, me, R) + all_reduce_bytes(3, 8, me, R) + all_reduce_bytes(65537, 8, me, R) +
              all_reduce_bytes(1, 4, me, R) + all_reduce_bytes(7, 8, me, R) + all_reduce_bytes(333, 8, me, R));
  }
}

TEST_CASE("a sum over pieces is the packed vector's sum, bit for bit, summed where the pieces lie", "[mpi][started][pieces]") {
  // Piece sizes that put chunk boundaries inside pieces, on their edges and between empty pieces
  // (gradient buckets hold a big weight beside small biases): every split of the vector must come
  // out as the packed sum and send the same bytes.
  mpi_communicator comm;
  const int R = comm.size(), me = comm.rank();
  CHECK(comm.sums_pieces());
  const std::vector<std::vector<std::int64_t>> cuts{{1000}, {997, 3}, {1, 0, 998, 0, 1}, {250, 250, 250, 250}, {0, 7}, {5}};
  for (std::size_t c = 0; c < cuts.size(); ++c) {
    std::int64_t n = 0;
    for (const auto k : cuts[c]) n += k;
    const std::uint64_t salt = 300 + c;
    auto f = rank_data<float>(salt, me, n);
    auto d = rank_data<double>(salt + 1000, me, n);
    std::vector<std::span<float>> fp;
    std::vector<std::span<double>> dp;
    std::int64_t at = 0;
    for (const auto k : cuts[c]) {
      fp.emplace_back(f.data() + at, static_cast<std::size_t>(k));
      dp.emplace_back(d.data() + at, static_cast<std::size_t>(k));
      at += k;
    }
    const std::int64_t before = comm.bytes_sent();
    comm.start_all_reduce_sum(std::span<const std::span<float>>(fp));
    comm.progress();
    comm.start_all_reduce_sum(std::span<const std::span<double>>(dp));
    comm.wait_all();
    INFO("cut " << c << ", R = " << R << ", rank " << me);
    CHECK(first_difference<float>(f, rank_order_sum<float>(salt, R, 0, n)) == -1);
    CHECK(first_difference<double>(d, rank_order_sum<double>(salt + 1000, R, 0, n)) == -1);
    CHECK(comm.bytes_sent() - before == all_reduce_bytes(n, 4, me, R) + all_reduce_bytes(n, 8, me, R));
  }
  // MPI's own order sums one buffer: pieces are refused with the reason, on the rank that passed them.
  mpi_communicator fast(MPI_COMM_WORLD, mpi_sum_order::mpi);
  CHECK_FALSE(fast.sums_pieces());
  if (R > 1) {
    std::vector<float> a(4), b(4);
    const std::span<float> two[2] = {std::span<float>(a), std::span<float>(b)};
    CHECK_THROWS_WITH(fast.start_all_reduce_sum(std::span<const std::span<float>>(two)), Catch::Contains("one contiguous buffer, got 2 pieces"));
  }
}

TEST_CASE("many started sums with progress() called a different number of times on each rank", "[mpi][started]") {
  // Each rank moves its sums along at its own pace, so gathers become ready in a different order
  // on each: the transport must still start them in the same order everywhere.
  mpi_communicator comm;
  const int R = comm.size(), me = comm.rank();
  const int count = 24;
  std::vector<std::vector<float>> floats(count);
  std::vector<std::vector<double>> doubles(count);
  const auto length = [](int k) { return static_cast<std::int64_t>((k * 7919) % 5000); };
  for (int k = 0; k < count; ++k) {
    const auto salt = 500 + static_cast<std::uint64_t>(k);
    if (k % 3 == 1) {
      floats[static_cast<std::size_t>(k)] = rank_data<float>(salt, me, length(k));
      comm.start_all_reduce_sum(std::span<float>(floats[static_cast<std::size_t>(k)]));
    } else {
      doubles[static_cast<std::size_t>(k)] = rank_data<double>(salt, me, length(k));
      comm.start_all_reduce_sum(std::span<double>(doubles[static_cast<std::size_t>(k)]));
    }
    for (int p = 0; p < (k * (me + 1)) % 5; ++p) {
      comm.progress();
      if (me % 2 == 1) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  comm.wait_all();
  for (int k = 0; k < count; ++k) {
    const auto salt = 500 + static_cast<std::uint64_t>(k);
    INFO("sum " << k << " of " << length(k) << " values, R = " << R << ", rank " << me);
    if (k % 3 == 1) {
      CHECK(first_difference<float>(floats[static_cast<std::size_t>(k)], rank_order_sum<float>(salt, R, 0, length(k))) == -1);
    } else {
      CHECK(first_difference<double>(doubles[static_cast<std::size_t>(k)], rank_order_sum<double>(salt, R, 0, length(k))) ==
            -1);
    }
  }
}

TEST_CASE("progress() alone finishes started sums: they run while the caller works", "[mpi][started]") {
  mpi_communicator comm;
  const int R = comm.size(), me = comm.rank();
  auto a = rank_data<double>(80, me, 4099);
  auto b = rank_data<float>(81, me, 5);
  auto c = rank_data<double>(82, me, 100000);
  comm.start_all_reduce_sum(std::span<double>(a));
  comm.start_all_reduce_sum(std::span<float>(b));
  comm.start_all_reduce_sum(std::span<double>(c));
  CHECK(comm.in_flight() == (R > 1 ? 3 : 0));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (comm.in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    comm.progress();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  CHECK(comm.in_flight() == 0);
  // Final before wait_all(): progress() did the sums and the gathers.
  CHECK(first_difference<double>(a, rank_order_sum<double>(80, R, 0, 4099)) == -1);
  CHECK(first_difference<float>(b, rank_order_sum<float>(81, R, 0, 5)) == -1);
  CHECK(first_difference<double>(c, rank_order_sum<double>(82, R, 0, 100000)) == -1);
  comm.wait_all();
}

TEST_CASE("fast mode (MPI's own order) is within rounding of the rank-order sum", "[mpi][fast]") {
  mpi_communicator comm(MPI_COMM_WORLD, mpi_sum_order::mpi);
  CHECK(comm.sum_order() == mpi_sum_order::mpi);
  const int R = comm.size(), me = comm.rank();
  const std::int64_t n = 10007;
  const auto magnitude = [&](std::uint64_t salt, std::int64_t i) {  // Σ|x| over ranks
    double s = 0;
    for (int q = 0; q < R; ++q) s += std::abs(static_cast<double>(sample<double>(salt, q, i)));
    return s;
  };
  auto blocking = rank_data<double>(90, me, n);
  auto started = rank_data<float>(91, me, n);
  const std::int64_t before = comm.bytes_sent();
  comm.all_reduce_sum(std::span<double>(blocking));
  comm.start_all_reduce_sum(std::span<float>(started));
  comm.progress();
  comm.wait_all();
  const auto want_double = rank_order_sum<double>(90, R, 0, n);
  const auto want_float = rank_order_sum<float>(91, R, 0, n);
  std::int64_t outside = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::size_t>(i);
    // Two orders of R additions differ by at most 2(R−1) roundings of partial sums ≤ Σ|x|.
    const double bound_double = 2.0 * R * std::numeric_limits<double>::epsilon() * magnitude(90, i);
    const double bound_float = 2.0 * R * std::numeric_limits<float>::epsilon() * magnitude(91, i);
    outside += std::abs(blocking[k] - want_double[k]) > bound_double;
    outside += std::abs(static_cast<double>(started[k]) - static_cast<double>(want_float[k])) > bound_float;
  }
  CHECK(outside == 0);
  CHECK(comm.bytes_sent() - before == all_reduce_bytes(n, 8, me, R) + all_reduce_bytes(n, 4, me, R));
}

TEST_CASE("all_gather puts every rank's part in rank order, unequal counts and empty parts included",
          "[mpi][all_gather]") {
  mpi_communicator comm;
  const int R = comm.size(), me = comm.rank();
  for (int pattern = 0; pattern < 3; ++pattern) {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(R));
    for (int r = 0; r < R; ++r) {
      const std::int64_t by_pattern[] = {(r * 3 + 1) % 4, 0, 1000 + 37 * r};
      counts[static_cast<std::size_t>(r)] = by_pattern[pattern];
    }
    const auto value = [](int rank, std::int64_t i) { return 1000.0 * rank + static_cast<double>(i) + 0.25; };
    std::vector<double> mine_d, want_d;
    std::vector<float> mine_f, want_f;
    for (int r = 0; r < R; ++r) {
      for (std::int64_t i = 0; i < counts[static_cast<std::size_t>(r)]; ++i) {
        want_d.push_back(value(r, i));
        want_f.push_back(static_cast<float>(value(r, i)));
        if (r == me) {
          mine_d.push_back(value(r, i));
          mine_f.push_back(static_cast<float>(value(r, i)));
        }
      }
    }
    std::vector<double> out_d(want_d.size(), -1.0);
    std::vector<float> out_f(want_f.size(), -1.0f);
    const std::int64_t before = comm.bytes_sent();
    comm.all_gather(std::span<const double>(mine_d), std::span<double>(out_d), counts);
    comm.all_gather(std::span<const float>(mine_f), std::span<float>(out_f), counts);
    INFO("pattern " << pattern << ", R = " << R << ", rank " << me);
    CHECK(out_d == want_d);
    CHECK(out_f == want_f);
    CHECK(comm.bytes_sent() - before == (R - 1) * static_cast<std::int64_t>(mine_d.size()) * (8 + 4));
  }
}

TEST_CASE("reduce_scatter_sum gives each rank its part summed in rank order, unequal counts included",
          "[mpi][reduce_scatter]") {
  mpi_communicator comm;
  const int R = comm.size(), me = comm.rank();
  for (int pattern = 0; pattern < 3; ++pattern) {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(R));
    std::int64_t total = 0, offset = 0;
    for (int r = 0; r < R; ++r) {
      const std::int64_t by_pattern[] = {(r * 5 + 2) % 7, r, 4096 + 3 * r};  // rank 0's part is empty in the second
      counts[static_cast<std::size_t>(r)] = by_pattern[pattern];
      if (r < me) offset += by_pattern[pattern];
      total += by_pattern[pattern];
    }
    const auto mine_count = counts[static_cast<std::size_t>(me)];
    const std::uint64_t salt = 300 + static_cast<std::uint64_t>(pattern);
    const auto all_d = rank_data<double>(salt, me, total);
    const auto all_f = rank_data<float>(salt, me, total);
    std::vector<double> mine_d(static_cast<std::size_t>(mine_count), -1.0);
    std::vector<float> mine_f(static_cast<std::size_t>(mine_count), -1.0f);
    const std::int64_t before = comm.bytes_sent();
    comm.reduce_scatter_sum(std::span<const double>(all_d), std::span<double>(mine_d), counts);
    comm.reduce_scatter_sum(std::span<const float>(all_f), std::span<float>(mine_f), counts);
    INFO("pattern " << pattern << ", R = " << R << ", rank " << me);
    CHECK(first_difference<double>(mine_d, rank_order_sum<double>(salt, R, offset, mine_count)) == -1);
    CHECK(first_difference<float>(mine_f, rank_order_sum<float>(salt, R, offset, mine_count)) == -1);
    CHECK(comm.bytes_sent() - before == (total - mine_count) * (8 + 4));
  }
}

TEST_CASE("broadcast copies the root's bytes to every rank, from a non-zero root too", "[mpi][broadcast]") {
  mpi_communicator comm;
  const int R = comm.size(), me = comm.rank();
  for (const int root : {R - 1, 0}) {
    for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1000}}) {
      std::vector<std::byte> data(n, std::byte{0xEE});
      std::vector<std::byte> want(n);
      for (std::size_t i = 0; i < n; ++i) want[i] = static_cast<std::byte>((i * 7 + static_cast<std::size_t>(root)) & 0xff);
      if (me == root) data = want;
      const std::int64_t before = comm.bytes_sent();
      comm.broadcast(data, root);
      INFO("root " << root << ", " << n << " bytes, rank " << me);
      CHECK(data == want);
      CHECK(comm.bytes_sent() - before == (me == root ? (R - 1) * static_cast<std::int64_t>(n) : 0));
    }
  }
}

TEST_CASE("barrier sends nothing", "[mpi][barrier]") {
  mpi_communicator comm;
  comm.barrier();
  CHECK(comm.bytes_sent() == 0);
}

TEST_CASE("mismatched lengths are refused on the rank that passed them, before anything is sent", "[mpi][errors]") {
  mpi_communicator comm;
  const int R = comm.size();
  std::vector<double> mine(3), out(static_cast<std::size_t>(3 * R));
  const std::vector<std::int64_t> too_few(static_cast<std::size_t>(R + 1), 3);
  const std::vector<std::int64_t> threes(static_cast<std::size_t>(R), 3);
  // Every rank passes the same wrong arguments, so every rank throws and none waits for the others.
  CHECK_THROWS_AS(comm.all_gather(std::span<const double>(mine), std::span<double>(out), too_few), strata::shape_error);
  CHECK_THROWS_WITH(comm.all_gather(std::span<const double>(mine).first(2), std::span<double>(out), threes),
                    Catch::Contains("mine holds 2 values, counts[rank] says 3"));
  CHECK_THROWS_WITH(comm.reduce_scatter_sum(std::span<const double>(out).first(out.size() - 1), std::span<double>(mine),
                                            threes),
                    Catch::Contains("all holds " + std::to_string(3 * R - 1) + " values, the counts' sum says " +
                                    std::to_string(3 * R)));
  CHECK_THROWS_WITH(comm.broadcast(std::span<std::byte>(), R), Catch::Contains("root " + std::to_string(R)));
  CHECK(comm.bytes_sent() == 0);
  comm.barrier();  // and the communicator still works
}

TEST_CASE("sizes beyond MPI's int counts are refused with their numbers", "[mpi][errors]") {
  using strata::parallel::detail::exchange_plan;
  CHECK(strata::parallel::detail::mpi_count(INT_MAX, "n", "op") == INT_MAX);
  CHECK_THROWS_WITH(strata::parallel::detail::mpi_count(std::int64_t{INT_MAX} + 1, "the buffer's length", "all_reduce_sum"),
                    Catch::Contains("all_reduce_sum: the buffer's length is 2147483648"));
  const std::vector<std::int64_t> big_total{INT_MAX, 1};
  CHECK_THROWS_WITH(exchange_plan(big_total, 0, "all_gather"), Catch::Contains("2147483648"));
  // Each count fits, but rank 0 would receive three ranks' 2^30 values: 3·2^30 > 2^31 − 1.
  const std::vector<std::int64_t> big_receive{std::int64_t{1} << 30, 0, 0};
  CHECK_THROWS_WITH(exchange_plan(big_receive, 0, "reduce_scatter_sum"), Catch::Contains("3221225472"));
  CHECK_NOTHROW(exchange_plan(big_receive, 1, "reduce_scatter_sum"));
}
