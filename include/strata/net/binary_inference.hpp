// strata/net/binary_inference.hpp — Inference<Net, binary> (and scaled_binary): a trained binary
// model frozen into stages that run on packed bits from the first layer's output to the last
// layer's input. Each binary layer with the max pool, batch norm and sign after it becomes one
// XNOR-popcount product plus one integer threshold per channel (no float work between binary
// layers); the first layer (real input) and the last (real weights) run in fp32 as in the model.
//
//   Model<Net, binary> model;  …train or load…
//   Inference engine(model);          // a snapshot, as Inference<Net, float>
//   auto logits = engine.forward(x);  // [n, outputs], equal to model.forward(x) value for value
//
// Why thresholds are exact: between a binary layer's integer sum c and the next sign, the model
// computes sign(BN(α·c + b)) in fp32 (after a max pool, which picks the largest c), and every step
// is monotone in c. So each channel's sign changes once, at an integer found by bisection on the
// model's own float arithmetic (its layers run on probe values), and a max pool of thresholded
// bits is an AND (rising channels) or an OR (falling ones) over the window.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/bit_tensor.hpp"
#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/kernels/pool_geometry.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/binary_conv.hpp"
#include "strata/layers/binary_dense.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/sign.hpp"
#include "strata/net/binary_network.hpp"
#include "strata/net/inference.hpp"
#include "strata/net/model.hpp"
#include "strata/ops/binary.hpp"

namespace strata {

// The layer where a binary network stops matching what Inference<Net, binary> folds: a first
// binary layer on the real input, then binary layers each followed by [MaxPool] BatchNorm Sign
// (MaxPool and Flatten may also stand between them), then a real Dense [BatchNorm] at the end.
template <std::size_t LayerIndex, class Layer>
struct binary_inference_cannot_fold_at {
  static constexpr bool ok = false;
};
template <class Net>
struct binary_inference_needs_a_last_dense {  // the network ends before its real last Dense
  static constexpr bool ok = false;
};
struct binary_inference_folds {
  static constexpr bool ok = true;
};

namespace detail::binary_plan {

enum class kind { real_conv, real_dense, conv, dense, last_dense, batch_norm, sign, max_pool, flatten, dropout, other };

template <class L>
struct kind_of {
  static constexpr kind value = kind::other;
};
template <std::int64_t F, class... O>
struct kind_of<BinaryConv<F, O...>> {
  static constexpr kind value = BinaryConv<F, O...>::real_input ? kind::real_conv : kind::conv;
};
template <std::int64_t N, class... O>
struct kind_of<BinaryDense<N, O...>> {
  static constexpr kind value = BinaryDense<N, O...>::real_input ? kind::real_dense : kind::dense;
};
template <std::int64_t N, class... O>
struct kind_of<Dense<N, O...>> {
  static constexpr kind value = kind::last_dense;
};
template <double M, double E>
struct kind_of<BatchNormalization<M, E>> {
  static constexpr kind value = kind::batch_norm;
};
template <>
struct kind_of<Sign> {
  static constexpr kind value = kind::sign;
};
template <std::int64_t W, std::int64_t S, std::int64_t P, class R>
struct kind_of<MaxPool<W, S, P, R>> {
  static constexpr kind value = kind::max_pool;
};
template <>
struct kind_of<Flatten> {
  static constexpr kind value = kind::flatten;
};
template <float P>
struct kind_of<Dropout<P>> {
  static constexpr kind value = kind::dropout;
};

// The index of the first layer that breaks the grammar above; N when the network ends too early;
// N + 1 when it parses.
template <std::size_t N>
constexpr std::size_t first_unfoldable(const std::array<kind, N>& k) {
  std::size_t i = 0;
  const auto skip = [&] {
    while (i < N && k[i] == kind::dropout) ++i;
  };
  const auto folded_tail = [&](bool conv) {  // [MaxPool] BatchNorm Sign after a binary layer
    skip();
    if (conv && i < N && k[i] == kind::max_pool) {
      ++i;
      skip();
    }
    if (i >= N || k[i] != kind::batch_norm) return false;
    ++i;
    skip();
    if (i >= N || k[i] != kind::sign) return false;
    ++i;
    return true;
  };
  skip();
  if (i >= N || (k[i] != kind::real_conv && k[i] != kind::real_dense)) return i;
  bool pixels = k[i] == kind::real_conv;
  ++i;
  if (!folded_tail(pixels)) return i;
  for (;;) {
    skip();
    if (i >= N) return N;
    switch (k[i]) {
      case kind::flatten:
        pixels = false;
        ++i;
        break;
      case kind::max_pool:
        if (!pixels) return i;
        ++i;
        break;
      case kind::conv:
        if (!pixels) return i;
        ++i;
        if (!folded_tail(true)) return i;
        break;
      case kind::dense:
        ++i;
        pixels = false;
        if (!folded_tail(false)) return i;
        break;
      case kind::last_dense:
        ++i;
        skip();
        if (i < N && k[i] == kind::batch_norm) ++i;
        skip();
        return i == N ? N + 1 : i;
      default:
        return i;
    }
  }
}

template <class Net>
struct check;
template <class In, class... L>
struct check<Sequential<In, L...>> {
  static constexpr std::size_t count = sizeof...(L);
  static constexpr std::size_t at = first_unfoldable(std::array<kind, count>{kind_of<L>::value...});
  using problem = std::conditional_t<
      at == count + 1, binary_inference_folds,
      std::conditional_t<at == count, binary_inference_needs_a_last_dense<Sequential<In, L...>>,
                         binary_inference_cannot_fold_at<(at < count ? at : 0), type_at_t<(at < count ? at : 0), type_list<L...>>>>>;
};

// Activations between stages: Tensor<binary, 4> [n, H, W, C]; a vector of C values is 1×1.
struct buffers {
  Tensor<binary, 4> bits[2];
  int current = 0;
  Tensor<binary, 4>& in() { return bits[current]; }
  Tensor<binary, 4>& out(const Shape<4>& s) {
    Tensor<binary, 4>& o = bits[1 - current];
    if (o.shape() != s) o = Tensor<binary, 4>::uninitialized(s);
    return o;
  }
  void flip() { current = 1 - current; }
};

struct bit_stage {
  virtual ~bit_stage() = default;
  virtual void run(buffers& b, std::int64_t n) = 0;
};

// Per channel: output bit (−1) where (c < threshold) XOR falling, for an integer sum c.
struct channel_thresholds {
  std::vector<std::int32_t> threshold;
  std::vector<std::uint64_t> falling_words;  // per channel whether the bit falls, packed as channels
};

// Finds each channel's threshold from probe(c) → the sign bits (one per channel) the model's
// float layers give for sum c in every channel, over sums in [−range, range].
template <class Probe>
channel_thresholds find_thresholds(std::int64_t K, std::int64_t range, Probe&& probe) {
  channel_thresholds t;
  t.threshold.resize(static_cast<std::size_t>(K));
  t.falling_words.assign(std::size_t(packed_words(K)), 0);
  std::vector<std::int64_t> lo(std::size_t(K), -range), hi(std::size_t(K), range + 1), probe_at(static_cast<std::size_t>(K));
  const std::vector<std::uint8_t> at_lo = probe(std::vector<std::int64_t>(std::size_t(K), -range));
  const std::vector<std::uint8_t> at_hi = probe(std::vector<std::int64_t>(std::size_t(K), range));
  // Bisect for the first sum whose bit differs from the bit at −range (hi = range + 1: none).
  for (;;) {
    bool open = false;
    for (std::size_t k = 0; k < std::size_t(K); ++k) {
      probe_at[k] = at_lo[k] == at_hi[k] ? lo[k] : lo[k] + (hi[k] - lo[k]) / 2;
      open = open || (at_lo[k] != at_hi[k] && hi[k] - lo[k] > 1);
    }
    if (!open) break;
    const std::vector<std::uint8_t> bits = probe(probe_at);
    for (std::size_t k = 0; k < std::size_t(K); ++k) {
      if (at_lo[k] == at_hi[k] || hi[k] - lo[k] <= 1) continue;
      (bits[k] == at_lo[k] ? lo[k] : hi[k]) = probe_at[k];
    }
  }
  for (std::size_t k = 0; k < std::size_t(K); ++k) {
    if (at_lo[k] == at_hi[k]) {  // constant: c < range + 1 always, c < −range never
      t.threshold[k] = std::int32_t(at_lo[k] ? range + 1 : -range);
    } else {  // the bit flips at hi: set below it (rising sums clear the sign) or from it on
      t.threshold[k] = std::int32_t(hi[k]);
      if (!at_lo[k]) t.falling_words[k / 64] |= std::uint64_t{1} << (k % 64);  // falling
    }
  }
  return t;
}

// Max pooling of sign bits [n, H, W, C] per channel: AND over the window's valid pixels where the
// channel's bit rises with the pre-threshold value (the maximum is −1 only if all are), OR where
// it falls. `and_everywhere` pools signs themselves (MaxPool after Sign: +1 wins, so AND).
inline void pool_bits(const kernels::pool_geometry& g, std::int64_t n, const Tensor<binary, 4>& in, Tensor<binary, 4>& out,
                      const std::uint64_t* or_words) {
  const std::int64_t words = packed_words(g.C), P = g.P(), Q = g.Q();
  parallel_ranges(n * P, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t np = first; np < last; ++np) {
      const std::int64_t i = np / P, p = np % P;
      for (std::int64_t q = 0; q < Q; ++q) {
        const auto b = g.bounds(p, q);
        std::uint64_t* o = out.row(((i * P + p) * Q + q));
        for (std::int64_t w = 0; w < words; ++w) {
          std::uint64_t all = ~std::uint64_t{0}, any = 0;
          for (std::int64_t y = b.y0; y < b.y1; ++y)
            for (std::int64_t x = b.x0; x < b.x1; ++x) {
              const std::uint64_t v = in.row((i * g.H + y) * g.W + x)[w];
              all &= v;
              any |= v;
            }
          const std::uint64_t ors = or_words ? or_words[w] : 0;
          o[w] = (all & ~ors) | (any & ors);
        }
      }
    }
  }, 1, 64);
}

// A copy of a runtime layer's parameters and state (what a snapshot needs).
template <class R>
void copy_layer(R& to, R& from) {
  std::vector<TensorView<float, 1>> values;
  visit_layer_parameters(from, [&](auto& p) { values.push_back(p.value); });
  visit_layer_state(from, [&](const std::string&, TensorView<float, 1> v) { values.push_back(v); });
  std::size_t i = 0;
  const auto take = [&](TensorView<float, 1> v) {
    const TensorView<float, 1>& from_view = values[i++];
    std::copy(from_view.data(), from_view.data() + from_view.size(), v.data());
  };
  visit_layer_parameters(to, [&](auto& p) { take(p.value); });
  visit_layer_state(to, [&](const std::string&, TensorView<float, 1> v) { take(v); });
}

}  // namespace detail::binary_plan

template <class Net, class T>
  requires is_binary_precision_v<T>
class Inference<Net, T, cpu> {
  using model_type = Model<Net, T, cpu>;
  using R = typename model_type::runtime_network;
  using plan = detail::binary_plan::check<R>;
  static_assert(plan::problem::ok,
                "strata::Inference<Net, binary>: the binary network does not fold into bit stages; the note names "
                "binary_inference_cannot_fold_at<index, layer> or binary_inference_needs_a_last_dense<net> (expected: "
                "the first layer on the real input, each binary layer followed by [MaxPool] BatchNorm Sign, a real "
                "Dense [BatchNorm] last)");
  using kind = detail::binary_plan::kind;
  using buffers = detail::binary_plan::buffers;
  template <std::size_t I>
  using spec_at = type_at_t<I, typename R::body::layers>;
  template <std::size_t I>
  using input_at = type_at_t<I, typename R::body::template plan<typename R::input_shape>::inputs>;
  template <std::size_t I>
  using layer_at = runtime_layer<spec_at<I>, input_at<I>, float, cpu>;
  static constexpr std::size_t count = R::layer_count;
  static constexpr std::size_t none = std::size_t(-1);

  template <std::size_t... I>
  static constexpr std::array<kind, count> kinds_of(std::index_sequence<I...>) {
    return {detail::binary_plan::kind_of<spec_at<I>>::value...};
  }
  static constexpr std::array<kind, count> kinds = kinds_of(std::make_index_sequence<count>{});
  // Which layers make each stage: for a Sign, the binary layer it closes; for that layer, its
  // max pool and batch norm; a max pool of signs; the last Dense and its batch norm.
  struct layout {
    std::array<std::size_t, count> head{}, pool{}, norm{};
    std::array<bool, count> sign_pool{};
    std::size_t last = none, last_norm = none;
  };
  static constexpr layout roles = [] {
    layout r;
    r.head.fill(none);
    r.pool.fill(none);
    r.norm.fill(none);
    std::size_t open = none;
    for (std::size_t i = 0; i < count; ++i) {
      const kind k = kinds[i];
      if (k == kind::real_conv || k == kind::real_dense || k == kind::conv || k == kind::dense) {
        open = i;
      } else if (k == kind::max_pool) {
        if (open != none) r.pool[open] = i;
        else r.sign_pool[i] = true;
      } else if (k == kind::batch_norm) {
        if (open != none) r.norm[open] = i;
        else r.last_norm = i;
      } else if (k == kind::sign && open != none) {
        r.head[i] = open;
        open = none;
      } else if (k == kind::last_dense) {
        r.last = i;
      }
    }
    return r;
  }();

 public:
  using network = Net;
  using element_type = float;
  using input_shape = typename Net::input_shape;
  using output_shape = typename Net::output_shape;

  explicit Inference(model_type& model) { refresh(model); }
  Inference(const Inference&) = delete;
  Inference& operator=(const Inference&) = delete;

  // Takes the model's current weights and statistics again.
  void refresh(model_type& model) {
    stages_.clear();
    describe_.clear();
    if constexpr (plan::problem::ok)
      [&]<std::size_t... I>(std::index_sequence<I...>) { (absorb<I>(model), ...); }(std::make_index_sequence<count>{});
  }

  // The outputs for a batch x ([n, input elements]); valid until the next forward.
  batch_view<const float> forward(batch_view<const float> x) {
    if (x.extent(1) != input_shape::elements)
      throw shape_error("Inference::forward: a batch of " + input_shape::to_string() + " samples has " +
                        std::to_string(input_shape::elements) + " values per row, got " + x.shape().to_string());
    const std::int64_t n = x.extent(0);
    batch_view<float> y = ensure_batch(output_, n, output_shape::elements);
    if (n == 0) return y;
    first_(x, buffers_);
    for (auto& s : stages_) s->run(buffers_, n);
    last_(buffers_, y);
    return y;
  }

  // The stages, one line each, with the layers each folds.
  const std::string& describe() const { return describe_; }

 private:
  template <std::size_t I>
  void absorb(model_type& model) {
    if constexpr (kinds[I] == kind::sign && roles.head[I] != none) make_stage<roles.head[I]>(model);
    else if constexpr (kinds[I] == kind::max_pool && roles.sign_pool[I]) add_sign_pool<I>();
    else if constexpr (I == roles.last) make_last<I>(model);
  }

  template <std::size_t I>
  static std::string described() {
    return layer_traits<spec_at<I>, input_at<I>>::describe();
  }

  // A copy of layer I of the model, owned by the engine.
  template <std::size_t I>
  static std::shared_ptr<layer_at<I>> snapshot(model_type& model) {
    auto copy = std::make_shared<layer_at<I>>();
    detail::binary_plan::copy_layer(*copy, model.layers().template part<I>());
    return copy;
  }

  // The bits of a [C] or [C, H, W] shape: [n, H, W, C].
  template <class S>
  static Shape<4> bits_shape(std::int64_t n) {
    if constexpr (S::rank == 3) return Shape{n, S::extents[1], S::extents[2], S::extents[0]};
    else return Shape{n, std::int64_t{1}, std::int64_t{1}, S::elements};
  }

  // The stage of binary layer W with its max pool (if any) and batch norm, up to the sign.
  template <std::size_t W>
  void make_stage(model_type& model) {
    constexpr std::size_t Pool = roles.pool[W], Norm = roles.norm[W];
    constexpr kind k = kinds[W];
    constexpr bool pooled = Pool != none;
    using norm_shape = input_at<Norm>;
    auto norm = snapshot<Norm>(model);
    auto layer = snapshot<W>(model);
    describe_ += described<W>() + (pooled ? ", " + described<(pooled ? Pool : W)>() : std::string()) + ", " +
                 described<Norm>() + ", sign";
    if constexpr (k == kind::real_conv || k == kind::real_dense) {
      // The first stage: the model's own float layers on the real input, then the signs packed.
      describe_ += ": fp32, signs packed\n";
      std::shared_ptr<layer_at<(pooled ? Pool : W)>> pool;
      if constexpr (pooled) pool = std::make_shared<layer_at<Pool>>();
      auto a = std::make_shared<Tensor<float, 1>>(), b = std::make_shared<Tensor<float, 1>>();
      first_ = [layer, pool, norm, a, b](batch_view<const float> x, buffers& buf) {
        constexpr std::int64_t in_size = input_at<W>::elements, out_size = output_shape_of<spec_at<W>, input_at<W>>::elements;
        const std::int64_t n = x.extent(0);
        Tensor<binary, 4>& bits = buf.out(bits_shape<norm_shape>(n));
        const std::int64_t bits_per_sample = bits.words_per_row() * (norm_shape::rank == 3 ? norm_shape::extents[1] * norm_shape::extents[2] : 1);
        context ctx;
        ctx.training = false;
        // A few samples at a time, so that the real layer's output (the largest tensor here, 32
        // planes of 28×28 in examples/binary) is read back by the pool from cache, not memory.
        const std::int64_t chunk = std::clamp<std::int64_t>((std::int64_t{1} << 20) / (out_size * 4), 1, n);
        for (std::int64_t i0 = 0; i0 < n; i0 += chunk) {
          const std::int64_t c = std::min(chunk, n - i0);
          batch_view<float> out = ensure_batch(*a, c, out_size);
          layer->forward(batch_view<const float>(x.data() + i0 * in_size, Shape{c, in_size}), out, ctx);
          const float* to_norm = out.data();
          if constexpr (pooled) {
            batch_view<float> z = ensure_batch(*b, c, norm_shape::elements);
            pool->forward(batch_view<const float>(out), z, ctx);
            to_norm = z.data();
          }
          batch_view<float> normed = ensure_batch(pooled ? *a : *b, c, norm_shape::elements);
          norm->forward(batch_view<const float>(to_norm, Shape{c, norm_shape::elements}), normed, ctx);
          std::uint64_t* words = bits.words() + i0 * bits_per_sample;
          if constexpr (norm_shape::rank == 3)
            ops::pack_signs_nchw(cpu{}, normed.data(), c, norm_shape::extents[0], norm_shape::extents[1], norm_shape::extents[2], words);
          else
            ops::pack_signs_rows(cpu{}, normed.data(), c, norm_shape::elements, words);
        }
        buf.flip();
      };
    } else {
      describe_ += ": XNOR-popcount, integer thresholds\n";
      stages_.push_back(std::make_unique<bit_layer_stage<W, Pool, Norm>>(*layer, *norm, bits_in_));
    }
    bits_in_ = bits_shape<typename layer_traits<spec_at<Norm>, norm_shape>::output_shape>(1);
  }

  // A binary convolution or dense layer on bits [n, H, W, C], its sums thresholded per channel
  // (and max-pooled as bits) into the next bits.
  template <std::size_t W, std::size_t Pool, std::size_t Norm>
  struct bit_layer_stage : detail::binary_plan::bit_stage {
    static constexpr bool conv = kinds[W] == kind::conv, pooled = Pool != none;
    using norm_shape = input_at<Norm>;
    static constexpr std::int64_t K = conv ? output_shape_of<spec_at<W>, input_at<W>>::extents[0]
                                           : output_shape_of<spec_at<W>, input_at<W>>::elements;

    kernels::conv_geometry g{};
    ops::xnor_conv_state<cpu> xnor;
    Tensor<binary, 2> dense_weight;
    std::int64_t row_bits = 0, gaps = 0;  // dense: bits per input row (pixels padded to whole words), of which unused
    kernels::pool_geometry pool_g{};
    detail::binary_plan::channel_thresholds thresholds;
    Tensor<binary, 4> unpooled;

    bit_layer_stage(layer_at<W>& layer, layer_at<Norm>& norm, const Shape<4>& in) {
      using S = spec_at<W>;
      Tensor<float, 1> binarized(Shape<1>{layer.weight.size()}), scale(Shape<1>{K});
      const std::int64_t per_row = layer.weight.size() / K;
      detail::binarize_weights(layer.weight.data(), binarized.data(), scale.data(), K, per_row, false, S::scaled);
      if constexpr (conv) {
        g = S::template geometry<input_at<W>>();
        Tensor<binary, 4> packed(Shape{g.K, g.R, g.S, g.C});
        ops::pack_filter_signs(cpu{}, binarized.data(), g.K, g.C, g.R, g.S, packed);
        ops::xnor_conv2d_prepare(cpu{}, g, packed, xnor);
      } else {
        // Weights in the order of the bits: pixel by pixel, each pixel's channels in whole words.
        const std::int64_t H = in[1], Wd = in[2], C = in[3], words = packed_words(C);
        row_bits = H * Wd == 1 ? C : H * Wd * words * 64;
        gaps = row_bits - H * Wd * C;
        dense_weight = Tensor<binary, 2>(Shape{K, row_bits});
        for (std::int64_t j = 0; j < K; ++j)
          for (std::int64_t c = 0; c < C; ++c)
            for (std::int64_t p = 0; p < H * Wd; ++p)
              if (binarized(j * per_row + c * H * Wd + p) < 0) dense_weight.set(binary::from_bit(true), j, p * words * 64 + c);
      }
      if constexpr (pooled) pool_g = spec_at<Pool>::template geometry<input_at<Pool>>();
      // Sums range over ±(values per output); probe the model's float arithmetic on them.
      const std::int64_t range = conv ? g.C * g.R * g.S : per_row;
      const float* b = S::has_bias ? layer.bias.data() : nullptr;
      Tensor<std::int32_t, 1> probe_sums(Shape<1>{K});
      Tensor<float, 1> y(Shape<1>{K}), planes(Shape<1>{norm_shape::elements}), z(Shape<1>{norm_shape::elements});
      constexpr std::int64_t spatial = norm_shape::elements / K;
      thresholds = detail::binary_plan::find_thresholds(K, range, [&](const std::vector<std::int64_t>& c) {
        for (std::int64_t k = 0; k < K; ++k) probe_sums(k) = std::int32_t(c[std::size_t(k)]);
        detail::counts_to_nchw(probe_sums.data(), 1, K, 1, scale.data(), b, y.data());
        for (std::int64_t k = 0; k < K; ++k)
          for (std::int64_t i = 0; i < spatial; ++i) planes(k * spatial + i) = y(k);
        context ctx;
        ctx.training = false;
        norm.forward(batch_view<const float>(planes.data(), Shape{std::int64_t{1}, norm_shape::elements}),
                     batch_view<float>(z.data(), Shape{std::int64_t{1}, norm_shape::elements}), ctx);
        std::vector<std::uint8_t> bits(static_cast<std::size_t>(K));
        for (std::int64_t k = 0; k < K; ++k) bits[std::size_t(k)] = z(k * spatial) < 0;
        return bits;
      });
      // Dense sums over padded pixels count each unused bit as a +1 product: shift the thresholds.
      if (gaps != 0)
        for (auto& t : thresholds.threshold) t += std::int32_t(gaps);
    }

    // The sums become sign bits inside the kernels' tiles: no int32 sum reaches memory.
    void run(buffers& buf, std::int64_t n) override {
      const Tensor<binary, 4>& in = buf.in();
      const ops::sign_rule rule{thresholds.threshold.data(), thresholds.falling_words.data()};
      if constexpr (conv) {
        const Shape<4> sums_shape{n, g.P(), g.Q(), K};
        if (pooled && unpooled.shape() != sums_shape) unpooled = Tensor<binary, 4>::uninitialized(sums_shape);
        ops::xnor_conv2d_signs(cpu{}, g, n, in, xnor, rule, pooled ? unpooled : buf.out(sums_shape));
        if constexpr (pooled) detail::binary_plan::pool_bits(pool_g, n, unpooled, buf.out(Shape{n, pool_g.P(), pool_g.Q(), K}),
                                                              thresholds.falling_words.data());
      } else {
        ops::xnor_gemm_signs(cpu{}, n, K, row_bits, in.words(), dense_weight.words(), rule,
                             buf.out(Shape{n, std::int64_t{1}, std::int64_t{1}, K}).words());
      }
      buf.flip();
    }
  };

  // MaxPool on signs (after a Sign): +1 wins, so the bits AND over each window.
  struct sign_pool_stage : detail::binary_plan::bit_stage {
    kernels::pool_geometry g;
    explicit sign_pool_stage(const kernels::pool_geometry& pg) : g(pg) {}
    void run(buffers& buf, std::int64_t n) override {
      detail::binary_plan::pool_bits(g, n, buf.in(), buf.out(Shape{n, g.P(), g.Q(), g.C}), nullptr);
      buf.flip();
    }
  };

  template <std::size_t I>
  void add_sign_pool() {
    constexpr kernels::pool_geometry g = spec_at<I>::template geometry<input_at<I>>();
    stages_.push_back(std::make_unique<sign_pool_stage>(g));
    describe_ += described<I>() + ": AND of sign bits\n";
    bits_in_ = Shape{std::int64_t{1}, g.P(), g.Q(), g.C};
  }

  // The last stage: the signs unpacked in the model's (C, H, W) order, the real Dense and its batch
  // norm as the model runs them.
  template <std::size_t L>
  void make_last(model_type& model) {
    constexpr std::size_t Norm = roles.last_norm;
    constexpr bool normed = Norm != none && Norm > L;
    constexpr std::int64_t inputs = input_at<L>::elements, outputs = output_shape_of<spec_at<L>, input_at<L>>::elements;
    auto dense = snapshot<L>(model);
    std::shared_ptr<layer_at<(normed ? Norm : L)>> norm;
    if constexpr (normed) norm = snapshot<Norm>(model);
    describe_ += described<L>() + (normed ? ", " + described<(normed ? Norm : L)>() : std::string()) + ": fp32 on the unpacked signs\n";
    auto x = std::make_shared<Tensor<float, 1>>(), t = std::make_shared<Tensor<float, 1>>();
    last_ = [dense, norm, x, t](buffers& buf, batch_view<float> y) {
      const Tensor<binary, 4>& in = buf.in();
      const std::int64_t n = in.extent(0), H = in.extent(1), W = in.extent(2), C = in.extent(3);
      if (H * W * C != inputs) throw shape_error("Inference<Net, binary>: the last layer's input bits do not match");
      batch_view<float> v = ensure_batch(*x, n, inputs);
      float* out = v.data();
      parallel_ranges(n, [&](std::int64_t first, std::int64_t last) {
        for (std::int64_t i = first; i < last; ++i)
          for (std::int64_t p = 0; p < H * W; ++p) {
            const std::uint64_t* bits = in.row(i * H * W + p);
            for (std::int64_t c = 0; c < C; ++c) out[i * inputs + c * H * W + p] = (bits[c / 64] >> (c % 64)) & 1 ? -1.0f : 1.0f;
          }
      }, 1, 1);
      context ctx;
      ctx.training = false;
      if constexpr (normed) {
        batch_view<float> u = ensure_batch(*t, n, outputs);
        dense->forward(batch_view<const float>(v), u, ctx);
        norm->forward(batch_view<const float>(u), y, ctx);
      } else {
        dense->forward(batch_view<const float>(v), y, ctx);
      }
    };
  }

  std::function<void(batch_view<const float>, buffers&)> first_;
  std::vector<std::unique_ptr<detail::binary_plan::bit_stage>> stages_;
  std::function<void(buffers&, batch_view<float>)> last_;
  Shape<4> bits_in_{};  // the bits the next stage reads, for one sample
  buffers buffers_;
  Tensor<float, 1> output_;
  std::string describe_;
};

}  // namespace strata
