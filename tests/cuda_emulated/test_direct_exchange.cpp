// The NCCL transport's arithmetic on the CPU (parallel/direct_exchange.hpp): R ranks simulated in
// one process, each transfer of the plan carried out as a message that must be received exactly
// once with the count it was sent with, the summing kernel's per-thread body run over its whole
// grid. Checked: rank-order sums bit for bit against a serial left-to-right sum on every rank
// (even and uneven parts, fewer values than ranks, 1 to 5 ranks, fp32 and fp64, values whose sum
// depends on the order), reduce-scatters and all-gathers with unequal and empty parts, the bytes
// each rank sends equal to the convention the other transports count, and the split equal to the
// thread transport's. What only GPUs can check: NCCL itself, streams and events.
#include <cstdint>
#include <cstring>
#include <map>
#include <numeric>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/parallel/direct_exchange.hpp"
#include "strata/parallel/thread_group.hpp"

using namespace strata;
namespace dx = strata::parallel::direct_exchange;

namespace {

// Messages in flight during one group of transfers: sent values by (from, to), each received once.
template <class T>
class mailbox {
 public:
  void send(int from, int to, const T* values, std::int64_t count) {
    auto [it, inserted] = messages_.try_emplace({from, to}, values, values + count);
    INFO("rank " << from << " → rank " << to);
    REQUIRE(inserted);  // one message per pair and group
    sent_values_[from] += count;
  }
  void receive(int to, int from, T* into, std::int64_t count) {
    const auto it = messages_.find({from, to});
    INFO("rank " << to << " ← rank " << from);
    REQUIRE(it != messages_.end());
    REQUIRE(static_cast<std::int64_t>(it->second.size()) == count);
    std::copy(it->second.begin(), it->second.end(), into);
    messages_.erase(it);
  }
  bool empty() const { return messages_.empty(); }
  std::int64_t sent_values(int rank) { return sent_values_[rank]; }

 private:
  std::map<std::pair<int, int>, std::vector<T>> messages_;
  std::map<int, std::int64_t> sent_values_;
};

// Values whose sum depends on the order: large terms that cancel, small ones that survive or not.
template <class T>
T value(int rank, std::int64_t i) {
  if constexpr (std::is_same_v<T, double>) {
    const double big = (rank % 2 ? -1e16 : 1e16) / double(1 + i % 3);
    return rank < 2 ? big : 1.0 + double(rank) / 4.0 + double(i) / 1024.0;
  } else {
    return float(rank + 1) / 8.0f + float(i) / 1024.0f + (i % 2 ? (rank % 2 ? -6e7f : 6e7f) : 0.0f);
  }
}

// The exchange of every rank (sends, then receives, as in one NCCL group), its own part copied.
template <class T>
void exchange(const dx::layout& l, const std::vector<std::vector<T>>& source, std::vector<std::vector<T>>& scratch,
              mailbox<T>& box) {
  const int ranks = l.ranks();
  for (int me = 0; me < ranks; ++me) {
    scratch[static_cast<std::size_t>(me)].assign(static_cast<std::size_t>(ranks * l.count(me)), T(-999));
    const T* mine = source[static_cast<std::size_t>(me)].data();
    for (const auto& t : dx::exchange_sends(l, me)) box.send(me, t.peer, mine + t.offset, t.count);
  }
  for (int me = 0; me < ranks; ++me) {
    auto& s = scratch[static_cast<std::size_t>(me)];
    std::copy_n(source[static_cast<std::size_t>(me)].data() + l.offset(me), l.count(me), s.data() + dx::own_slot(l, me));
    for (const auto& t : dx::exchange_receives(l, me)) box.receive(me, t.peer, s.data() + t.offset, t.count);
  }
  REQUIRE(box.empty());
}

// The gather of every rank, in place on its buffer.
template <class T>
void gather(const dx::layout& l, std::vector<std::vector<T>>& buffers, mailbox<T>& box) {
  for (int me = 0; me < l.ranks(); ++me) {
    const T* mine = buffers[static_cast<std::size_t>(me)].data();
    for (const auto& t : dx::gather_sends(l, me)) box.send(me, t.peer, mine + t.offset, t.count);
  }
  for (int me = 0; me < l.ranks(); ++me)
    for (const auto& t : dx::gather_receives(l, me))
      box.receive(me, t.peer, buffers[static_cast<std::size_t>(me)].data() + t.offset, t.count);
  REQUIRE(box.empty());
}

template <class T>
void check_all_reduce(int ranks, std::int64_t n) {
  INFO(ranks << " ranks, " << n << " values, " << sizeof(T) * 8 << "-bit");
  std::vector<std::vector<T>> data(static_cast<std::size_t>(ranks)), scratch(data.size());
  for (int r = 0; r < ranks; ++r)
    for (std::int64_t i = 0; i < n; ++i) data[static_cast<std::size_t>(r)].push_back(value<T>(r, i));
  std::vector<T> expected(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    T s = value<T>(0, i);
    for (int r = 1; r < ranks; ++r) s += value<T>(r, i);
    expected[static_cast<std::size_t>(i)] = s;
  }

  const dx::layout l = dx::all_reduce_split(n, ranks);
  REQUIRE(l.total == n);
  for (int r = 0; r < ranks; ++r) {  // the thread transport's split
    CHECK(l.offset(r) == parallel::detail::share_begin(n, r, ranks));
    CHECK(l.offset(r) + l.count(r) == parallel::detail::share_end(n, r, ranks));
  }
  CHECK(l.equal_counts() == (n % ranks == 0));
  mailbox<T> box;
  exchange(l, data, scratch, box);
  for (int me = 0; me < ranks; ++me)
    dx::emulate_rank_order_sum(scratch[static_cast<std::size_t>(me)].data(), l.count(me), ranks,
                               data[static_cast<std::size_t>(me)].data() + l.offset(me));
  gather(l, data, box);
  for (int r = 0; r < ranks; ++r) {
    INFO("rank " << r);
    std::int64_t wrong = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const T got = data[static_cast<std::size_t>(r)][static_cast<std::size_t>(i)], want = expected[static_cast<std::size_t>(i)];
      wrong += std::memcmp(&got, &want, sizeof(T)) != 0;  // the same bits
    }
    CHECK(wrong == 0);
    CHECK(box.sent_values(r) * std::int64_t(sizeof(T)) == dx::all_reduce_bytes(n, r, ranks, sizeof(T)));
  }
}

}  // namespace

TEST_CASE("rank-order sums over the exchange plan equal a serial left-to-right sum, bit for bit", "[direct_exchange]") {
  for (int ranks = 1; ranks <= 5; ++ranks) {
    for (std::int64_t n : {0, 1, 2, 3, 4, 7, 12, 1000, 1001}) {
      check_all_reduce<float>(ranks, n);
      check_all_reduce<double>(ranks, n);
    }
  }
}

TEST_CASE("the exchange split and the bytes it counts", "[direct_exchange]") {
  // 10 values over 4 ranks: [0,2) [2,5) [5,7) [7,10).
  const dx::layout l = dx::all_reduce_split(10, 4);
  CHECK(l.counts == std::vector<std::int64_t>{2, 3, 2, 3});
  CHECK(l.offsets == std::vector<std::int64_t>{0, 2, 5, 7});
  CHECK_FALSE(l.equal_counts());
  // Rank 1 sends 10 − 3 values in the exchange and its 3 sums to 3 ranks: 16 values.
  CHECK(dx::all_reduce_bytes(10, 1, 4, 4) == 4 * 16);
  CHECK(dx::all_reduce_bytes(10, 0, 1, 8) == 0);  // one rank sends nothing
  CHECK(dx::exchange_sends(dx::all_reduce_split(10, 1), 0).empty());
  // Fewer values than ranks: empty parts send and receive nothing.
  const dx::layout few = dx::all_reduce_split(2, 4);
  CHECK(few.counts == std::vector<std::int64_t>{0, 1, 0, 1});
  CHECK(dx::exchange_receives(few, 0).empty());
  CHECK(dx::gather_sends(few, 2).empty());
  CHECK(dx::broadcast_bytes(100, 2, 2, 4) == 300);
  CHECK(dx::broadcast_bytes(100, 1, 2, 4) == 0);
  CHECK_THROWS_WITH(dx::from_counts(std::vector<std::int64_t>{1, -2}), Catch::Contains("count is -2"));
}

TEST_CASE("reduce-scatter and all-gather with unequal and empty parts", "[direct_exchange]") {
  const std::vector<std::vector<std::int64_t>> cases{{3, 0, 5, 1}, {0, 0, 4}, {2, 2}, {7}, {0, 1, 0, 1, 3}};
  for (const auto& counts : cases) {
    const int ranks = static_cast<int>(counts.size());
    const dx::layout l = dx::from_counts(counts);
    INFO(ranks << " ranks, " << l.total << " values");
    // Reduce-scatter: rank r's values of all, summed over ranks in rank order into its part.
    std::vector<std::vector<double>> all(counts.size()), scratch(counts.size());
    for (int r = 0; r < ranks; ++r)
      for (std::int64_t i = 0; i < l.total; ++i) all[static_cast<std::size_t>(r)].push_back(value<double>(r, i));
    mailbox<double> box;
    exchange(l, all, scratch, box);
    for (int me = 0; me < ranks; ++me) {
      std::vector<double> mine(static_cast<std::size_t>(l.count(me)), -1);
      dx::emulate_rank_order_sum(scratch[static_cast<std::size_t>(me)].data(), l.count(me), ranks, mine.data());
      for (std::int64_t i = 0; i < l.count(me); ++i) {
        double want = value<double>(0, l.offset(me) + i);
        for (int r = 1; r < ranks; ++r) want += value<double>(r, l.offset(me) + i);
        CHECK(mine[static_cast<std::size_t>(i)] == want);
      }
      CHECK(box.sent_values(me) * 8 == dx::reduce_scatter_bytes(l, me, 8));
    }
    // All-gather: each rank's part copied to where it lies, then the in-place gather.
    std::vector<std::vector<float>> out(counts.size(), std::vector<float>(static_cast<std::size_t>(l.total), -1.0f));
    std::vector<float> expected;
    for (int r = 0; r < ranks; ++r)
      for (std::int64_t i = 0; i < l.count(r); ++i) {
        const float v = float(100 * r) + float(i);
        expected.push_back(v);
        out[static_cast<std::size_t>(r)][static_cast<std::size_t>(l.offset(r) + i)] = v;
      }
    mailbox<float> gathered;
    gather(l, out, gathered);
    for (int r = 0; r < ranks; ++r) {
      CHECK(out[static_cast<std::size_t>(r)] == expected);
      CHECK(gathered.sent_values(r) * 4 == dx::all_gather_bytes(l, r, 4));
    }
  }
}

TEST_CASE("the summing kernel's grid covers long parts once each (grid-stride past the block cap)", "[direct_exchange]") {
  const std::int64_t count = dx::sum_max_blocks * dx::sum_block + 77;  // more than one value per thread
  CHECK(dx::sum_blocks(count).x == dx::sum_max_blocks);
  CHECK(dx::sum_blocks(300).x == 2);
  const int ranks = 3;
  std::vector<double> received(static_cast<std::size_t>(ranks * count));
  for (std::int64_t i = 0; i < ranks * count; ++i) received[static_cast<std::size_t>(i)] = double(i % 1000) + 0.25;
  std::vector<double> out(static_cast<std::size_t>(count), -1);
  dx::emulate_rank_order_sum(received.data(), count, ranks, out.data());
  std::int64_t wrong = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    const double want = received[static_cast<std::size_t>(i)] + received[static_cast<std::size_t>(count + i)] +
                        received[static_cast<std::size_t>(2 * count + i)];
    wrong += out[static_cast<std::size_t>(i)] != want;
  }
  CHECK(wrong == 0);
}
