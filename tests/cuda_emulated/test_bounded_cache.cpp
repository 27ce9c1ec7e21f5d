// The GPU's plan cache policy (device/cuda/bounded_cache.hpp) without a GPU: at most `capacity`
// values, the least recently used evicted, one value per key when threads race, a throwing
// maker leaves the cache as it was, and a value held by a caller outlives its eviction.
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "strata/device/cuda/bounded_cache.hpp"
#include "support/testing.hpp"

using strata::bounded_cache;

TEST_CASE("bounded_cache evicts the least recently used value beyond its capacity", "[cuda_emulated][cache]") {
  bounded_cache<int, std::string> cache(3);
  int made = 0;
  auto get = [&](int k) {
    return cache.get(k, [&] {
      ++made;
      return std::make_shared<std::string>("v" + std::to_string(k));
    });
  };
  get(1), get(2), get(3);
  CHECK(made == 3);
  CHECK(*get(1) == "v1");  // a hit: 1 is now the most recently used
  CHECK(made == 3);
  get(4);  // evicts 2, the least recently used
  CHECK(cache.size() == 3);
  get(1), get(3), get(4);
  CHECK(made == 4);
  get(2);  // made again
  CHECK(made == 5);
  CHECK(cache.made() == 5);
}

TEST_CASE("bounded_cache: a held value outlives its eviction; a throwing maker changes nothing", "[cuda_emulated][cache]") {
  struct counted {
    std::atomic<int>* alive;
    explicit counted(std::atomic<int>* a) : alive(a) { ++*alive; }
    ~counted() { --*alive; }
  };
  std::atomic<int> alive{0};
  bounded_cache<int, counted> cache(1);
  auto held = cache.get(1, [&] { return std::make_shared<counted>(&alive); });
  cache.get(2, [&] { return std::make_shared<counted>(&alive); });  // evicts 1
  CHECK(cache.size() == 1);
  CHECK(alive == 2);  // 1 lives in `held`
  held.reset();
  CHECK(alive == 1);
  CHECK_THROWS_AS(cache.get(3, []() -> std::shared_ptr<counted> { throw std::runtime_error("no plan"); }), std::runtime_error);
  CHECK(cache.size() == 1);
  CHECK(cache.made() == 2);
}

TEST_CASE("bounded_cache makes one value per key when threads race for it", "[cuda_emulated][cache]") {
  bounded_cache<int, int> cache(8);
  std::atomic<int> made{0};
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<int>> got(8);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      got[std::size_t(t)] = cache.get(7, [&] {
        ++made;
        return std::make_shared<int>(t);
      });
    });
  for (auto& th : threads) th.join();
  CHECK(made == 1);
  for (const auto& p : got) CHECK(p == got[0]);
}
