// strata/device/cuda/bounded_cache.hpp — a thread-safe cache of at most `capacity` shared
// values that evicts the least recently used: the GPU's cuFFT plans, whose number would otherwise
// grow with every new (stream, shape, batch). A caller's shared_ptr keeps an evicted value alive
// until it is done with it. Plain C++ (the cuda_emulated tests run it without a GPU).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace strata {

template <class Key, class Value>
class bounded_cache {
 public:
  explicit bounded_cache(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  // The value for `key`, made by make() (returning std::shared_ptr<Value>) when absent. make()
  // runs under the cache's lock (one value per key, even when threads race for it) and may throw,
  // which leaves the cache as it was.
  template <class Make>
  std::shared_ptr<Value> get(const Key& key, Make&& make) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (const auto it = entries_.find(key); it != entries_.end()) {
      it->second.last_use = ++clock_;
      return it->second.value;
    }
    std::shared_ptr<Value> value = make();
    while (entries_.size() >= capacity_) evict_oldest();
    entries_.emplace(key, entry{value, ++clock_});
    ++made_;
    return value;
  }

  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
  }
  std::size_t capacity() const { return capacity_; }
  // Values made since construction (a hit makes none).
  std::uint64_t made() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return made_;
  }

 private:
  struct entry {
    std::shared_ptr<Value> value;
    std::uint64_t last_use;
  };
  void evict_oldest() {
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    entries_.erase(oldest);  // a caller's shared_ptr may still hold the value
  }

  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::map<Key, entry> entries_;
  std::uint64_t clock_ = 0, made_ = 0;
};

}  // namespace strata
