// strata/net/concat.hpp — Concat<Branch…>: every branch sees the same input and their outputs are
// joined along channels (the first extent), as in an Inception module (Szegedy et al. 2015).
// Each branch is one layer or a Chain<…>; their outputs must agree in every other extent (H and
// W), else one static_assert whose note names concat_mismatch_at<branch, its output, branch 0's
// output>. Parameters are named "<branch>.<layer>.…". The layer keeps each branch's output
// for backward and copies it into its channel range of every sample (batches are [n, C·H·W]).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "strata/layers/layer.hpp"
#include "strata/net/branches.hpp"
#include "strata/net/chain.hpp"

namespace strata {

// Branch `Branch`'s output does not agree with branch 0's outside the channels.
template <std::size_t Branch, class BranchOutput, class FirstBranchOutput>
struct concat_mismatch_at {
  static constexpr bool ok = false;
};

namespace detail {
template <class A, class B>
struct joinable_by_channels : std::bool_constant<same_but_first<A, B>()> {};
}  // namespace detail

template <class... Branch>
struct Concat : detail::parallel_branches<Branch...> {
  using spec_tag = void;
  using base = detail::parallel_branches<Branch...>;
  using base::size;
  template <std::size_t I, class In>
  using branch_output = typename base::template output_of<I, In>;

  template <class In>
  static constexpr auto failure() {
    return base::template failure<In, detail::joinable_by_channels, concat_mismatch_at>();
  }
  template <class In>
  static constexpr bool accepts = decltype(failure<In>())::ok;
  template <class In>
  using expects = decltype(failure<In>());

  // Channels of each branch, and all of them.
  template <class In>
  static constexpr std::array<std::int64_t, size> channels = [] {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<std::int64_t, size>{branch_output<I, In>::extents[0]...};
    }(std::make_index_sequence<size>{});
  }();
  template <class In>
  static constexpr std::int64_t total_channels = [] {
    std::int64_t c = 0;
    for (std::int64_t k : channels<In>) c += k;
    return c;
  }();

  template <class In>
  struct traits : base::template costs<In> {
    using output_shape = typename detail::with_first_extent<total_channels<In>, branch_output<0, In>>::type;
    static std::string describe() {
      std::string d = "concat " + std::to_string(size) + " branches, ";
      for (std::size_t i = 0; i < size; ++i) d += (i ? " + " : "") + std::to_string(channels<In>[i]);
      return d + " → " + std::to_string(total_channels<In>) + (output_shape::rank == 1 ? " features" : " channels");
    }
  };

  template <class In, class T, class D = cpu>
  struct layer : base::template runtime<In, T, D> {
    using output_shape = typename traits<In>::output_shape;
    // Values per sample of one channel (H·W), of each branch's output, and where it starts.
    static constexpr std::int64_t plane = output_shape::elements / total_channels<In>;
    static constexpr std::int64_t row = output_shape::elements;
    template <std::size_t I>
    static constexpr std::int64_t elements = channels<In>[I] * plane;
    template <std::size_t I>
    static constexpr std::int64_t offset = [] {
      std::int64_t c = 0;
      for (std::size_t j = 0; j < I; ++j) c += channels<In>[j];
      return c * plane;
    }();
    Tensor<T, 1, D> gradient;  // one branch's share of dy

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context& ctx) {
      const std::int64_t n = x.extent(0);
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((detail::copy_rows<D>(this->template forward_branch<I>(x, elements<I>, ctx).data(), elements<I>, y.data() + offset<I>,
                               row, n, elements<I>)),
         ...);
      }(std::make_index_sequence<size>{});
    }

    // Each branch gets its channels of dy; dx is the sum of the branches' input gradients.
    void backward(batch_view<const T, D> x, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx,
                  context& ctx) {
      const std::int64_t n = x.extent(0);
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (([&] {
           batch_view<T, D> d_out = ensure_batch(gradient, n, elements<I>);
           detail::copy_rows<D>(dy.data() + offset<I>, row, d_out.data(), elements<I>, n, elements<I>);
           this->template backward_branch<I>(x, d_out, elements<I>, dx, ctx);
         }()),
         ...);
      }(std::make_index_sequence<size>{});
    }
  };
};

}  // namespace strata
