// strata/train/feature_cache.hpp — transfer learning with very little data: run a frozen
// feature extractor once over a data set and keep its outputs, so a small head trains on the
// cached features (many epochs cost one pass of the body).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "strata/core/error.hpp"
#include "strata/core/tensor.hpp"
#include "strata/layers/layer.hpp"

namespace strata::train {

// A data set of feature vectors: features N×F and labels N (what fit and evaluate take).
struct feature_set {
  Tensor<float, 2> images;  // named as labelled_images' member so that fit and evaluate take it
  Tensor<std::int32_t, 1> labels;
  std::int64_t classes = 0;
  std::int64_t size() const noexcept { return labels.size(); }
};

// The outputs of `extractor` (a Model whose output is one vector per sample) for every sample of
// `data` (labelled_images or anything with images N×… and labels N), in inference mode, in
// batches of batch_size; the labels are copied.
template <class Extractor, class Data>
feature_set extract_features(Extractor& extractor, const Data& data, std::int64_t batch_size = 64) {
  using T = typename Extractor::element_type;
  constexpr std::int64_t in = Extractor::input_shape::elements, out = Extractor::output_shape::elements;
  const std::int64_t n = data.images.extent(0);
  if (data.labels.extent(0) != n)
    throw shape_error("extract_features: " + std::to_string(n) + " images but " + std::to_string(data.labels.extent(0)) + " labels");
  if (n > 0 && data.images.size() / n != in)
    throw shape_error("extract_features: samples have " + std::to_string(data.images.size() / n) + " values, the extractor takes " +
                      Extractor::input_shape::to_string());
  if (batch_size <= 0) throw error("extract_features: the batch size must be positive");
  feature_set f{Tensor<float, 2>::uninitialized(Shape{n, out}), Tensor<std::int32_t, 1>(data.labels.shape()), data.classes};
  std::memcpy(f.labels.data(), data.labels.data(), sizeof(std::int32_t) * static_cast<std::size_t>(n));
  Tensor<T, 2> x;
  for (std::int64_t first = 0; first < n; first += batch_size) {
    const std::int64_t b = std::min(batch_size, n - first);
    if (x.extent(0) != b) x = Tensor<T, 2>::uninitialized(Shape{b, in});
    const auto* src = data.images.data() + first * in;
    for (std::int64_t k = 0; k < b * in; ++k) x.data()[k] = T(src[k]);
    const auto y = extractor.forward(x.view(), false);
    for (std::int64_t k = 0; k < b * out; ++k) f.images.data()[first * out + k] = float(y.data()[k]);
  }
  return f;
}

}  // namespace strata::train
