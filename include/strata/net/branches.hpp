// strata/net/branches.hpp — what the layers that run several branches on one input share
// (Concat, Add, Residual with a chosen shortcut): a branch given as one layer or as a Chain<…>,
// the types that name a branch's failure in the compiler's note, and the per-sample copies that
// move a branch's block of channels in and out of a wider batch.
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
#include "strata/net/chain.hpp"

namespace strata {

// Branch `Branch` of a Concat or Add cannot take the input: Failure is what its own chain says
// (shape_mismatch_at<layer index in the branch, layer, input shape, expected>, …).
template <std::size_t Branch, class Failure>
struct in_branch_at {
  static constexpr bool ok = false;
};

namespace detail {

// A branch as a chain: Chain<L…> stays itself, a single layer L becomes Chain<L>, so every
// branch's parameters are named "<branch>.<layer>.…".
template <class L>
struct as_chain {
  using type = Chain<L>;
};
template <class... L>
struct as_chain<Chain<L...>> {
  using type = Chain<L...>;
};
template <class L>
using as_chain_t = typename as_chain<L>::type;

// What a branch chain gives for In: its output shape (In itself when it cannot take In, so that
// nothing cascades) and, when it cannot, its first failure.
template <class Branch, class In>
using branch_output = typename output_if<Branch::template accepts<In>, Branch, In>::type;
template <class Branch, class In>
using branch_failure = typename Branch::template plan<In>::first_mismatch;

// The same shape with another first extent: sample_shape<C, H, W> from sample_shape<C0, H, W>.
template <std::int64_t First, class S>
struct with_first_extent;
template <std::int64_t First, std::int64_t E0, std::int64_t... E>
struct with_first_extent<First, sample_shape<E0, E...>> {
  using type = sample_shape<First, E...>;
};

// Whether A and B agree in every extent but the first (H and W of images; vectors always do).
template <class A, class B>
constexpr bool same_but_first() {
  if constexpr (A::rank != B::rank) {
    return false;
  } else {
    for (std::size_t i = 1; i < A::rank; ++i)
      if (A::extents[i] != B::extents[i]) return false;
    return true;
  }
}

// rows × count values from src (rows src_stride apart) to dst (rows dst_stride apart), one
// device copy per row: concatenation along channels moves each sample's block of channels.
template <class D, class T>
void copy_rows(const T* src, std::int64_t src_stride, T* dst, std::int64_t dst_stride, std::int64_t rows,
               std::int64_t count) {
  static_assert(!has_dynamic_scale<T>,
                "strata: concatenation (Concat, Inception branches) has no dynamic fixed-point path yet: each branch's "
                "output has an exponent of its own, and the concatenated tensor would need one for all");
  if (src_stride == count && dst_stride == count) {
    device_traits<D>::copy(src, dst, rows * count);
    return;
  }
  for (std::int64_t r = 0; r < rows; ++r) device_traits<D>::copy(src + r * src_stride, dst + r * dst_stride, count);
}

// An empty member for a part that a configuration does not have.
struct no_part {};

// What Concat and Add share: the branches as chains that all see the input, the first branch
// that fails (after Joinable, which checks branch I's output against branch 0's), the costs as
// sums over the branches, the parts a summary shows, and a runtime that owns the branches' layers,
// keeps their outputs for backward and sums their input gradients.
template <class... Branch>
struct parallel_branches {
  static_assert(sizeof...(Branch) >= 1, "strata: a layer with branches needs at least one branch");
  using branches = type_list<as_chain_t<Branch>...>;
  static constexpr std::size_t size = sizeof...(Branch);
  template <std::size_t I>
  using branch = type_at_t<I, branches>;
  template <std::size_t I, class In>
  using output_of = branch_output<branch<I>, In>;

  // The first failing branch as a type whose ::ok says whether there is none: in_branch_at<I, …>
  // when branch I cannot take In, else Mismatch<I, its output, branch 0's> when !Joinable.
  template <class In, template <class, class> class Joinable, template <std::size_t, class, class> class Mismatch,
            std::size_t I = 0>
  static constexpr auto failure() {
    if constexpr (I == size) return no_shape_mismatch{};
    else if constexpr (!branch<I>::template accepts<In>) return in_branch_at<I, branch_failure<branch<I>, In>>{};
    else if constexpr (!Joinable<output_of<I, In>, output_of<0, In>>::value)
      return Mismatch<I, output_of<I, In>, output_of<0, In>>{};
    else return failure<In, Joinable, Mismatch, I + 1>();
  }

  // The costs of all branches together; each branch's output is kept apart from the joined one.
  template <class In>
  struct costs {
    template <class F>
    static constexpr std::int64_t sum(F f) {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return (f(layer_traits<branch<I>, In>{}) + ... + std::int64_t{0});
      }(std::make_index_sequence<size>{});
    }
    static constexpr std::int64_t parameters = sum([](auto t) { return parameters_of<decltype(t)>(); });
    static constexpr std::int64_t flops = sum([](auto t) { return flops_of<decltype(t)>(); });
    static constexpr std::int64_t saved =
        sum([](auto t) { return saved_of<decltype(t)>() + decltype(t)::output_shape::elements; });
    template <class Seq>
    struct parts_of;
    template <std::size_t... I>
    struct parts_of<std::index_sequence<I...>> {
      using type = std::tuple<composite_part<branch<I>, In>...>;
    };
    using parts = typename parts_of<std::make_index_sequence<size>>::type;
    static std::string part_name(std::size_t i) { return std::to_string(i); }
  };

  template <class In, class T, class D>
  struct runtime {
    template <class Seq>
    struct tuple_of;
    template <std::size_t... I>
    struct tuple_of<std::index_sequence<I...>> {
      using type = std::tuple<runtime_layer<branch<I>, In, T, D>...>;
    };
    typename tuple_of<std::make_index_sequence<size>>::type parts;
    std::array<Tensor<T, 1, D>, size> outputs;  // each branch's output, for backward
    Tensor<T, 1, D> input_gradient;             // one branch's dx, before it is added

    template <std::size_t I>
    auto& part() {
      return std::get<I>(parts);
    }

    void initialize(random_engine& rng) {
      std::apply([&](auto&... p) { (initialize_layer(p, rng), ...); }, parts);
    }
    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (visit_layer_parameters(std::get<I>(parts), f, member_name(prefix, std::to_string(I))), ...);
      }(std::make_index_sequence<size>{});
    }
    template <class F>
    void visit_state(F&& f, std::string_view prefix = "") {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (visit_layer_state(std::get<I>(parts), f, member_name(prefix, std::to_string(I))), ...);
      }(std::make_index_sequence<size>{});
    }

    // Branch I's forward into its kept output ([n, elements]).
    template <std::size_t I>
    batch_view<T, D> forward_branch(batch_view<const T, D> x, std::int64_t elements, context& ctx) {
      batch_view<T, D> out = ensure_batch(outputs[I], x.extent(0), elements);
      std::get<I>(parts).forward(x, out, ctx);
      return out;
    }
    template <std::size_t I>
    batch_view<const T, D> output(std::int64_t n, std::int64_t elements) const {
      return batch_view<const T, D>(outputs[I].data(), Shape{n, elements});
    }

    // Branch I's backward for its share d_out of dy: branch 0 writes dx, the others add to it
    // (their parameter gradients are computed whether or not dx is wanted).
    template <std::size_t I>
    void backward_branch(batch_view<const T, D> x, batch_view<const T, D> d_out, std::int64_t elements,
                         batch_view<T, D> dx, context& ctx) {
      const std::int64_t n = x.extent(0);
      if (I == 0 || !ctx.want_input_gradient) {
        std::get<I>(parts).backward(x, output<I>(n, elements), d_out, dx, ctx);
      } else {
        batch_view<T, D> d_in = ensure_batch(input_gradient, n, In::elements);
        std::get<I>(parts).backward(x, output<I>(n, elements), d_out, d_in, ctx);
        dx += d_in;
      }
    }
  };
};

}  // namespace detail
}  // namespace strata
