// strata/kernels/cpu/half_operands.hpp — what the CPU's fp16 kernels share: they widen fp16
// operands to fp32, run the fp32 kernel and round the results back (round to nearest even). Here:
// bulk conversions split across threads, fp32 scratch per thread, and fp32 copies of fp16 weights
// that are made again only when the weights change.
#pragma once

#include <array>
#include <cstdint>

#include "strata/core/parallel.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/filter_cache.hpp"
#include "strata/numeric/half.hpp"

namespace strata::kernels::cpu {

// Conversions are memory-bound: a chunk per thread, on whole cache lines of the fp16 side.
inline void widen(const half* src, float* dst, std::int64_t n) {
  parallel_ranges(n, [&](std::int64_t b, std::int64_t e) { strata::convert(src + b, dst + b, e - b); }, 32);
}
inline void narrow(const float* src, half* dst, std::int64_t n) {
  parallel_ranges(n, [&](std::int64_t b, std::int64_t e) { strata::convert(src + b, dst + b, e - b); }, 32);
}

// The operands of one fp16 call that need fp32 scratch at the same time.
enum class half_slot { input, output, weight, bias, extra, count };

// fp32 scratch for one operand, at least n values. Per thread and reused across calls (it only
// grows), so fp32 copies of activations live only while a kernel runs: fp16 keeps its memory gain.
inline float* fp32_scratch(half_slot slot, std::int64_t n) {
  thread_local std::array<Tensor<float, 1>, static_cast<std::size_t>(half_slot::count)> buffers;
  auto& b = buffers[static_cast<std::size_t>(slot)];
  if (b.size() < n) b = Tensor<float, 1>::uninitialized(Shape<1>{n});
  return b.data();
}

// widen() into the slot's scratch; null stays null (optional operands such as a bias).
inline const float* widened(half_slot slot, const half* src, std::int64_t n) {
  if (!src) return nullptr;
  float* dst = fp32_scratch(slot, n);
  widen(src, dst, n);
  return dst;
}

// An fp32 copy of a layer's fp16 weights, kept by a filter_cache: compared bit for bit with the
// weights on every use, so never stale whatever wrote them. Training widens the weights once per
// step (forward and backward share the copy), inference never again.
class widened_weights {
 public:
  const float* of(const half* w, std::int64_t n) {
    if (!w) return nullptr;
    if (cache_.stale(0, conv_geometry{}, w, n, n)) {
      widen(w, cache_.data(), n);
      cache_.mark(0, conv_geometry{}, w, n);
    }
    return cache_.data();
  }
  void invalidate() noexcept { cache_.invalidate(); }

 private:
  filter_cache<half, float> cache_;
};

}  // namespace strata::kernels::cpu
