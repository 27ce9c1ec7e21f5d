// strata/kernels/cpu/filter_cache.hpp — transformed filters kept between calls. Winograd and
// FFT convolutions transform the weights before use; while the weights do not change
// (inference, or several forward passes between two optimizer steps) the transform is reused.
//
// The cache is keyed by the weights themselves: it keeps a copy of the values its transform was
// computed from and compares them bit for bit on every call. So it can never be stale, whatever
// wrote the weights (an optimizer, a load, a user's write through a view or a raw pointer, an
// all-reduce) — no version counter for anyone to forget. The comparison reads the weights twice,
// which is small beside the convolution (it does the same reads N·P·Q times over).
#pragma once

#include <cstdint>
#include <cstring>

#include "strata/core/tensor.hpp"
#include "strata/kernels/conv_geometry.hpp"

namespace strata::kernels::cpu {

// T: the weights' element type; Data: the cached values' (fp16 weights keep an fp32 copy).
template <class T, class Data = T>
class filter_cache {
 public:
  // True when `data()` must be (re)computed: the weights differ from the ones the transform was
  // made from, or the transform is another one (`transform`: the algorithm's own code, and the
  // geometry), or nothing is cached. Sizes data() to `elements`. After recomputing, call mark().
  bool stale(int transform, const conv_geometry& g, const T* weights, std::int64_t weight_count,
             std::int64_t elements) {
    if (data_.size() != elements) {
      data_ = Tensor<Data, 1>::uninitialized(Shape<1>{elements});
      valid_ = false;
    }
    if (!valid_ || transform != transform_ || !(g == geometry_) || source_.size() != weight_count) return true;
    return weight_count > 0 &&
           std::memcmp(source_.data(), weights, static_cast<std::size_t>(weight_count) * sizeof(T)) != 0;
  }

  // data() now holds that transform of these weights.
  void mark(int transform, const conv_geometry& g, const T* weights, std::int64_t weight_count) {
    if (source_.size() != weight_count) source_ = Tensor<T, 1>::uninitialized(Shape<1>{weight_count});
    if (weight_count > 0) std::memcpy(source_.data(), weights, static_cast<std::size_t>(weight_count) * sizeof(T));
    transform_ = transform;
    geometry_ = g;
    valid_ = true;
  }

  // Forgets the transform (the next call recomputes it), e.g. to time a pass as training runs it.
  void invalidate() noexcept { valid_ = false; }

  Data* data() noexcept { return data_.data(); }
  const Data* data() const noexcept { return data_.data(); }
  std::int64_t size() const noexcept { return data_.size(); }

 private:
  Tensor<Data, 1> data_;  // the algorithm's own layout
  Tensor<T, 1> source_;  // the weights data_ was computed from
  int transform_ = 0;
  conv_geometry geometry_{};
  bool valid_ = false;
};

}  // namespace strata::kernels::cpu
