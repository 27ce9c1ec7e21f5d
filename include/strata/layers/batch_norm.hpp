// strata/layers/batch_norm.hpp — BatchNorm: per-channel normalisation (per feature for vectors)
// with learned scale γ and shift β. Training normalises with the batch statistics (biased
// variance) and updates running averages (momentum 0.1, unbiased variance, as PyTorch);
// inference and frozen fine-tuning use the running statistics.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "strata/core/broadcast.hpp"
#include "strata/core/cast.hpp"
#include "strata/core/error.hpp"
#include "strata/core/functions.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/reduction.hpp"
#include "strata/layers/layer.hpp"

namespace strata {

// Momentum and epsilon (PyTorch's defaults: 0.1 and 1e-5); `BatchNorm` is the usual choice.
template <double Momentum = 0.1, double Epsilon = 1e-5>
struct BatchNormalization {
  static_assert(Momentum > 0 && Momentum <= 1, "strata::BatchNormalization: momentum must be in (0, 1]");
  static_assert(Epsilon > 0, "strata::BatchNormalization: epsilon must be positive");
  using spec_tag = void;
  static constexpr double momentum = Momentum;
  static constexpr double epsilon = Epsilon;

  template <class In>
  static constexpr bool accepts = StaticShape<In> && (In::rank == 3 || In::rank == 1);
  template <class In>
  using expects = image_or_vector;

  template <class In>
  struct traits {
    using output_shape = In;
    static constexpr std::int64_t channels = In::extents[0];
    static constexpr std::int64_t parameters = 2 * channels;
    static constexpr std::int64_t flops = 2 * In::elements;
    static constexpr std::int64_t saved = 0;  // mean and 1/σ per channel only
    static std::string describe() { return "batch norm, " + std::to_string(channels) + (In::rank == 3 ? " channels" : " features"); }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    using output_shape = In;
    static constexpr std::int64_t C = In::extents[0];
    static constexpr std::int64_t spatial = In::elements / C;  // H·W for images, 1 for vectors

    Tensor<T, 1, D> gamma = filled(1), beta{Shape<1>{C}};
    Tensor<T, 1, D> gamma_gradient{Shape<1>{C}}, beta_gradient{Shape<1>{C}};
    Tensor<T, 1, D> running_mean{Shape<1>{C}}, running_var = filled(1);
    // The batch statistics live in the compute precision (fp32 for fp16 and fixed point): 1/σ of
    // a small variance is far outside fixed point's range, and fp16 would round it coarsely.
    using S = compute_t<T>;
    Tensor<S, 1, D> mean_{Shape<1>{C}}, inv_std_{Shape<1>{C}};  // of the last forward pass
    Tensor<S, 1, D> scratch_{Shape<1>{C}};
    std::int64_t count_ = 0;                    // values per channel behind the last batch statistics
    Tensor<S, 1, D> dy_sum_, dy_xhat_sum_;      // synchronised backward: sums over every replica

    // x as an expression of S values (free: T's expressions already compute in S).
    template <class X>
    static decltype(auto) as_compute(X&& x) {
      if constexpr (std::is_same_v<S, T>) return std::forward<X>(x);
      else return cast<S>(std::forward<X>(x));
    }
    template <class X>
    static decltype(auto) as_storage(X&& x) {
      if constexpr (std::is_same_v<S, T>) return std::forward<X>(x);
      else return cast<T>(std::forward<X>(x));
    }

    static Tensor<T, 1, D> filled(double value) {  // through fill: a dynamic fixed-point element has no value alone
      Tensor<T, 1, D> t(Shape<1>{C});
      t.fill(value);
      return t;
    }

    void initialize(random_engine&) {
      gamma.fill(1);
      beta.fill(0);
      running_mean.fill(0);
      running_var.fill(1);
    }

    template <class V>
    static auto per_channel(const Tensor<V, 1, D>& v, std::int64_t n) {
      return as_compute(broadcast(v, axes<1>, Shape{n, C, spatial}));
    }

    void forward(batch_view<const T, D> x_flat, batch_view<T, D> y_flat, context& ctx) {
      const std::int64_t n = x_flat.extent(0);
      const auto x = x_flat.reshape(n, C, spatial);
      auto y = y_flat.reshape(n, C, spatial);
      if (ctx.training) {
        std::int64_t m = n * spatial;
        if (ctx.batch_sums) {
          m = replica_statistics(x, n, *ctx.batch_sums);
        } else {
          mean_ = mean(as_compute(x), axes<0, 2>);
          scratch_ = mean(square(as_compute(x) - per_channel(mean_, n)), axes<0, 2>);  // biased variance
        }
        count_ = m;
        inv_std_ = S(1) / sqrt(scratch_ + S(epsilon));
        const S keep = S(1 - momentum), take = S(momentum);
        running_mean = as_storage(as_compute(running_mean) * keep + mean_ * take);
        running_var = as_storage(as_compute(running_var) * keep + scratch_ * (take * S(m) / S(m > 1 ? m - 1 : 1)));
      } else {
        mean_ = as_compute(running_mean);
        inv_std_ = S(1) / sqrt(as_compute(running_var) + S(epsilon));
      }
      // y = γ·(x − μ)/σ + β in one pass.
      scratch_ = as_compute(gamma) * inv_std_;
      if constexpr (std::is_same_v<D, cpu> && !has_dynamic_scale<T>) {
        apply_affine(x_flat.data(), y_flat.data(), n);
      } else {
        y = as_storage((as_compute(x) - per_channel(mean_, n)) * per_channel(scratch_, n) + per_channel(beta, n));
      }
    }

    // Synchronised batch norm: the statistics of the global batch, every replica's rows. The mean
    // from summed per-channel sums and row counts, then the biased variance from summed squared
    // deviations from it (two passes, as above). Returns the global count of values per channel.
    template <class X>
    std::int64_t replica_statistics(const X& x, std::int64_t n, replica_sums& sums) {
      if constexpr (std::is_same_v<D, cpu> && (std::is_same_v<S, float> || std::is_same_v<S, double>)) {
        std::vector<S> buffer(static_cast<std::size_t>(C + 1));
        scratch_ = sum(as_compute(x), axes<0, 2>);
        std::copy(scratch_.data(), scratch_.data() + C, buffer.begin());
        buffer[static_cast<std::size_t>(C)] = S(n * spatial);
        sums.sum(std::span<S>(buffer));
        const S m = buffer[static_cast<std::size_t>(C)];
        for (std::int64_t c = 0; c < C; ++c) mean_.data()[c] = buffer[static_cast<std::size_t>(c)] / m;
        scratch_ = sum(square(as_compute(x) - per_channel(mean_, n)), axes<0, 2>);
        std::copy(scratch_.data(), scratch_.data() + C, buffer.begin());
        sums.sum(std::span<S>(buffer.data(), static_cast<std::size_t>(C)));
        for (std::int64_t c = 0; c < C; ++c) scratch_.data()[c] = buffer[static_cast<std::size_t>(c)] / m;
        return static_cast<std::int64_t>(m);
      } else {
        (void)x, (void)n, (void)sums;
        throw error("BatchNorm: synchronised batch statistics run on the CPU in fp32 or fp64");
      }
    }

    // On the CPU, y = (x − μ)·a + β per channel plane (a = γ/σ), one contiguous plane at a time:
    // the broadcast expression's index arithmetic cost more than the arithmetic itself (half of
    // EfficientNet-Lite0's inference time at batch 1). Same operations, same rounding.
    void apply_affine(const T* x, T* y, std::int64_t n) const {
      const S* a = scratch_.data();
      const S* mu = mean_.data();
      const T* b = beta.data();
      using traits = precision_traits<T>;
      const auto planes = [&](std::int64_t first, std::int64_t last) {
        for (std::int64_t p = first; p < last; ++p) {
          const std::int64_t c = p % C;
          const S scale = a[c], m = mu[c], shift = traits::to_compute(b[c]);
          const T* xp = x + p * spatial;
          T* yp = y + p * spatial;
          for (std::int64_t i = 0; i < spatial; ++i) yp[i] = traits::from_compute((traits::to_compute(xp[i]) - m) * scale + shift);
        }
      };
      parallel_ranges(n * C, planes, 1, std::max<std::int64_t>(1, parallel_threshold() / spatial));
    }

    void backward(batch_view<const T, D> x_flat, batch_view<const T, D>, batch_view<const T, D> dy_flat, batch_view<T, D> dx_flat,
                  context& ctx) {
      const std::int64_t n = x_flat.extent(0);
      const std::int64_t m = n * spatial;
      const auto x = x_flat.reshape(n, C, spatial);
      const auto dy = dy_flat.reshape(n, C, spatial);
      const auto xhat = (as_compute(x) - per_channel(mean_, n)) * per_channel(inv_std_, n);
      // Training-mode dx needs both sums; a frozen layer (fixed statistics) needs neither.
      if (ctx.want_parameter_gradients || ctx.training) {
        beta_gradient = sum(dy, axes<0, 2>);
        if constexpr (std::is_same_v<S, T>) {
          gamma_gradient = sum(dy * xhat, axes<0, 2>);
        } else {  // a reduction is not an operand of a cast: sum in S, then store
          scratch_ = sum(as_compute(dy) * xhat, axes<0, 2>);
          gamma_gradient = cast<T>(scratch_);
        }
      }
      if (!ctx.want_input_gradient) return;
      auto dx = dx_flat.reshape(n, C, spatial);
      if (ctx.training && ctx.batch_sums) {
        // Synchronised: the statistics came from every replica's rows, so dx needs the sums of
        // dy and dy·x̂ over all of them (this replica's parameter gradients stay its own sums;
        // data-parallel training adds them up with the others).
        replica_gradient_sums(*ctx.batch_sums);
        scratch_ = as_compute(gamma) * inv_std_;
        const S inv_m = S(1) / S(count_);
        dx = as_storage(per_channel(scratch_, n) * (as_compute(dy) - per_channel(dy_sum_, n) * inv_m -
                                                     xhat * per_channel(dy_xhat_sum_, n) * inv_m));
        return;
      }
      scratch_ = as_compute(gamma) * inv_std_;
      if (ctx.training) {
        // The statistics depend on x too: dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂)).
        const S inv_m = S(1) / S(m);
        dx = as_storage(per_channel(scratch_, n) *
                        (as_compute(dy) - per_channel(beta_gradient, n) * inv_m - xhat * per_channel(gamma_gradient, n) * inv_m));
      } else {
        dx = as_storage(as_compute(dy) * per_channel(scratch_, n));  // fixed statistics: a per-channel affine map
      }
    }

    // Σ dy and Σ dy·x̂ per channel over every replica (from this replica's, in the parameter
    // gradients), for the synchronised input gradient.
    void replica_gradient_sums(replica_sums& sums) {
      if constexpr (std::is_same_v<D, cpu> && (std::is_same_v<S, float> || std::is_same_v<S, double>)) {
        std::vector<S> buffer(static_cast<std::size_t>(2 * C));
        for (std::int64_t c = 0; c < C; ++c) {
          buffer[static_cast<std::size_t>(c)] = S(beta_gradient.data()[c]);
          buffer[static_cast<std::size_t>(C + c)] = S(gamma_gradient.data()[c]);
        }
        sums.sum(std::span<S>(buffer));
        if (dy_sum_.size() != C) dy_sum_ = Tensor<S, 1, D>(Shape<1>{C}), dy_xhat_sum_ = Tensor<S, 1, D>(Shape<1>{C});
        std::copy(buffer.begin(), buffer.begin() + C, dy_sum_.data());
        std::copy(buffer.begin() + C, buffer.end(), dy_xhat_sum_.data());
      } else {
        (void)sums;
        throw error("BatchNorm: synchronised batch statistics run on the CPU in fp32 or fp64");
      }
    }

    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      visit_parameter(f, member_name(prefix, "gamma"), gamma.flat(), gamma_gradient.flat(), false);
      visit_parameter(f, member_name(prefix, "beta"), beta.flat(), beta_gradient.flat(), false);
    }
    template <class F>
    void visit_state(F&& f, std::string_view prefix = "") {
      f(member_name(prefix, "running_mean"), running_mean.flat());
      f(member_name(prefix, "running_var"), running_var.flat());
    }
  };
};

using BatchNorm = BatchNormalization<>;

}  // namespace strata
