// strata/net/add.hpp — Add<Branch…>: every branch sees the same input and their outputs are summed
// element by element (a residual block with its own shortcut is Add<Chain<…>, Chain<…>>; for the
// usual identity or projection shortcut use Residual). Each branch is one layer or a Chain<…>;
// their outputs must have one shape, else one static_assert whose note names
// add_mismatch_at<branch, its output, branch 0's output>. Parameters are named
// "<branch>.<layer>.…". Backward passes dy unchanged to every branch and sums their input
// gradients.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "strata/layers/layer.hpp"
#include "strata/net/branches.hpp"
#include "strata/net/chain.hpp"

namespace strata {

// Branch `Branch`'s output shape differs from branch 0's.
template <std::size_t Branch, class BranchOutput, class FirstBranchOutput>
struct add_mismatch_at {
  static constexpr bool ok = false;
};

template <class... Branch>
struct Add : detail::parallel_branches<Branch...> {
  using spec_tag = void;
  using base = detail::parallel_branches<Branch...>;
  using base::size;
  template <std::size_t I, class In>
  using branch_output = typename base::template output_of<I, In>;

  template <class In>
  static constexpr auto failure() {
    return base::template failure<In, std::is_same, add_mismatch_at>();
  }
  template <class In>
  static constexpr bool accepts = decltype(failure<In>())::ok;
  template <class In>
  using expects = decltype(failure<In>());

  template <class In>
  struct traits : base::template costs<In> {
    using output_shape = branch_output<0, In>;
    static std::string describe() { return "add " + std::to_string(size) + " branches"; }
  };

  template <class In, class T, class D = cpu>
  struct layer : base::template runtime<In, T, D> {
    using output_shape = typename traits<In>::output_shape;
    static constexpr std::int64_t out_elements = output_shape::elements;

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context& ctx) {
      const std::int64_t n = x.extent(0);
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (this->template forward_branch<I>(x, out_elements, ctx), ...);
        if constexpr (size == 1) y = this->template output<0>(n, out_elements);
        else {
          y = this->template output<0>(n, out_elements) + this->template output<1>(n, out_elements);
          ((I >= 2 ? (void)(y += this->template output<I>(n, out_elements)) : (void)0), ...);
        }
      }(std::make_index_sequence<size>{});
    }

    // The sum passes dy unchanged to every branch; dx is the sum of their input gradients.
    void backward(batch_view<const T, D> x, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx,
                  context& ctx) {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (this->template backward_branch<I>(x, dy, out_elements, dx, ctx), ...);
      }(std::make_index_sequence<size>{});
    }
  };
};

}  // namespace strata
