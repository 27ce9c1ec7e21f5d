// strata/kernels/cpu/half_operands.hpp — what the CPU's fp16 kernels share: they widen fp16
// operands to fp32, run the fp32 kernel and round the results back (round to nearest even). Here:
// bulk conversions split across threads, fp32 scratch per thread, and fp32 copies of fp16 weights
// that are made again only when the weights change.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "strata/core/parallel.hpp"
#include "strata/core/tensor.hpp"
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

// An fp32 copy of a layer's fp16 weights. Like filter_cache it keeps the fp16 values it was made
// from and compares them bit for bit on every use, so it is never stale whatever wrote the weights;
// after an optimizer step the first difference ends the comparison at once. Training then widens
// the weights once per step (forward and backward share the copy), inference never again.
class widened_weights {
 public:
  const float* of(const half* w, std::int64_t n) {
    if (!w) return nullptr;
    if (valid_ && source_.size() == n && std::memcmp(source_.data(), w, static_cast<std::size_t>(n) * sizeof(half)) == 0)
      return data_.data();
    if (source_.size() != n) {
      source_ = Tensor<half, 1>::uninitialized(Shape<1>{n});
      data_ = Tensor<float, 1>::uninitialized(Shape<1>{n});
    }
    std::memcpy(source_.data(), w, static_cast<std::size_t>(n) * sizeof(half));
    widen(w, data_.data(), n);
    valid_ = true;
    return data_.data();
  }
  void invalidate() noexcept { valid_ = false; }

 private:
  Tensor<half, 1> source_;  // the weights data_ was made from
  Tensor<float, 1> data_;
  bool valid_ = false;
};

}  // namespace strata::kernels::cpu
