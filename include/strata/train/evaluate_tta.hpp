// strata/train/evaluate_tta.hpp — evaluation with test-time augmentation: every test image is
// turned into several views (ten_crop, multi_scale, noise_views or any function), the model
// classifies each, and the softmax probabilities are averaged before taking the class.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "strata/core/tensor.hpp"
#include "strata/image/convert.hpp"
#include "strata/train/fit.hpp"

namespace strata::train {

struct tta_options {
  std::vector<float> mean = {}, stddev = {};  // the normalisation the model was trained with
  std::int64_t batch_size = 256;              // views per forward pass (whole images at a time)
};

// views(image_view<const P>) → std::vector<image<P>> of equal sizes. Loss is the cross-entropy of
// the averaged probabilities.
template <class Model, class Dataset, class Views>
evaluation evaluate_tta(Model& model, const Dataset& data, Views&& views, const tta_options& options = {}) {
  using T = typename Model::element_type;
  const std::int64_t n = std::int64_t(data.size());
  const normalization norm{std::span<const float>(options.mean), std::span<const float>(options.stddev)};
  double loss = 0;
  std::int64_t correct = 0;
  Tensor<T, 2> x;
  for (std::int64_t first = 0; first < n;) {
    // Whole images, as many as fit in a batch of views (at least one).
    std::vector<std::int32_t> labels;
    std::vector<std::int64_t> counts;
    std::vector<float> values;
    std::int64_t per = -1, total = 0;
    for (; first < n; ++first) {
      const auto s = data.get(first);
      const auto vs = views(s.image.view());
      if (vs.empty()) throw error("evaluate_tta: the views function returned no views");
      if (total > 0 && total + std::int64_t(vs.size()) > options.batch_size) break;
      for (const auto& v : vs) {
        const std::int64_t p = v.channels() * v.height() * v.width();
        if (per < 0) per = p;
        if (p != per) throw shape_error("evaluate_tta: views of different sizes (" + std::to_string(p) + " and " + std::to_string(per) + " values)");
        values.resize(values.size() + std::size_t(p));
        to_chw(v.view(), values.data() + values.size() - std::size_t(p), norm);
      }
      labels.push_back(s.label);
      counts.push_back(std::int64_t(vs.size()));
      total += std::int64_t(vs.size());
    }
    if (x.extent(0) != total || x.extent(1) != per) x = Tensor<T, 2>::uninitialized(Shape{total, per});
    for (std::int64_t i = 0; i < total * per; ++i) x.data()[i] = T(values[std::size_t(i)]);
    const auto out = model.forward(x, false);
    const std::int64_t classes = out.extent(1);
    std::vector<double> mean_p(static_cast<std::size_t>(classes));
    std::int64_t row = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      std::fill(mean_p.begin(), mean_p.end(), 0.0);
      for (std::int64_t v = 0; v < counts[i]; ++v, ++row) {  // softmax of each view, averaged
        double top = -INFINITY, sum = 0;
        for (std::int64_t k = 0; k < classes; ++k) top = std::max(top, double(out(row, k)));
        for (std::int64_t k = 0; k < classes; ++k) sum += std::exp(double(out(row, k)) - top);
        for (std::int64_t k = 0; k < classes; ++k) mean_p[std::size_t(k)] += std::exp(double(out(row, k)) - top) / sum / double(counts[i]);
      }
      const auto best = std::max_element(mean_p.begin(), mean_p.end()) - mean_p.begin();
      correct += best == labels[i];
      loss -= std::log(std::max(mean_p[std::size_t(labels[i])], 1e-30));
    }
  }
  return {n ? loss / double(n) : 0.0, n ? double(correct) / double(n) : 0.0, n};
}

}  // namespace strata::train
