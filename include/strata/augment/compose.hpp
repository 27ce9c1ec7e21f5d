// strata/augment/compose.hpp — combinators that are augmentations themselves: compose(a, b, …)
// chains parts (sizes, pixels and target points), random_apply(p, a) applies a with probability p,
// one_of(a, b, …) applies one part chosen uniformly. They rely on the Augmentation concept only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "strata/augment/augmentation.hpp"
#include "strata/core/error.hpp"
#include "strata/image/image.hpp"

namespace strata::augment {

namespace detail {

// `in` copied into `out` as interleaved pixels: what an augmentation that is skipped produces.
template <class T>
void copy_image(image_view<const T> in, image<T>& out) {
  out.reshape(in.height(), in.width(), in.channels());
  if (in.empty()) return;
  const std::int64_t channels = in.channels(), row = in.width() * channels;
  if (in.interleaved()) {
    std::memcpy(out.data(), in.data(), std::size_t(row * in.height()) * sizeof(T));
    return;
  }
  for (std::int64_t y = 0; y < in.height(); ++y) {
    T* dst = &out(y, 0, 0);
    for (std::int64_t x = 0; x < in.width(); ++x)
      for (std::int64_t c = 0; c < channels; ++c) dst[x * channels + c] = in(y, x, c);
  }
}

template <class... A>
inline constexpr bool all_augmentations = (Augmentation<A> && ...);

}  // namespace detail

// Parts run left to right: each samples its params for the size the previous ones produce.
// apply needs `in` not to alias `out`. The intermediate images alternate between `out` itself
// and one buffer per thread (per compose type and pixel type), so a warm loader thread chains
// any number of parts without allocating: part k writes to `out` when N − k is even.
template <class... A>
class compose {
  static_assert(sizeof...(A) >= 1, "strata::augment::compose: needs at least one part");
  static_assert(detail::all_augmentations<A...>,
                "strata::augment::compose: every part must satisfy strata::augment::Augmentation");

 public:
  using params = std::tuple<typename A::params...>;

  explicit compose(A... parts) : parts_(std::move(parts)...) {}

  const std::tuple<A...>& parts() const noexcept { return parts_; }

  params sample(random_engine& rng, image_size in) const {
    return sample_parts(rng, in, std::index_sequence_for<A...>{});
  }

  image_size output_size(const params& p, image_size in) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((in = std::get<I>(parts_).output_size(std::get<I>(p), in)), ...);
    }(std::index_sequence_for<A...>{});
    return in;
  }

  point map(const params& p, image_size in, point q) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((q = std::get<I>(parts_).map(std::get<I>(p), in, q), in = std::get<I>(parts_).output_size(std::get<I>(p), in)),
       ...);
    }(std::index_sequence_for<A...>{});
    return q;
  }

  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    constexpr std::size_t n = sizeof...(A);
    if constexpr (n == 1) {
      std::get<0>(parts_).apply(std::get<0>(p), in, out);
    } else {
      thread_local image<T> scratch;
      // Part I (0-based) writes to `out` when n − 1 − I is even, else to scratch; it reads what
      // part I − 1 wrote, which is always the other one.
      auto target = [&](std::size_t i) -> image<T>& { return (n - 1 - i) % 2 == 0 ? out : scratch; };
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        ((I == 0 ? std::get<I>(parts_).apply(std::get<I>(p), in, target(I))
                 : std::get<I>(parts_).apply(std::get<I>(p), image_view<const T>(target(I - 1).view()), target(I))),
         ...);
      }(std::index_sequence_for<A...>{});
    }
  }

 private:
  template <std::size_t... I>
  params sample_parts(random_engine& rng, image_size size, std::index_sequence<I...>) const {
    // A braced list is evaluated left to right, so part I sees the size parts 0 … I − 1 produce.
    auto one = [&]<std::size_t J>(std::integral_constant<std::size_t, J>) {
      auto q = std::get<J>(parts_).sample(rng, size);
      size = std::get<J>(parts_).output_size(q, size);
      return q;
    };
    return params{one(std::integral_constant<std::size_t, I>{})...};
  }

  std::tuple<A...> parts_;
};

template <class... A>
compose(A...) -> compose<A...>;

// Applies `a` with probability p. The part's params are sampled whether or not it is applied, so
// random_apply needs nothing of them (not even a default constructor) and the engine advances
// by the same amount either way.
template <class A>
class random_apply {
  static_assert(Augmentation<A>, "strata::augment::random_apply: the part must satisfy strata::augment::Augmentation");

 public:
  struct params {
    bool applied = false;
    typename A::params part;
  };

  random_apply(double p, A part) : p_(p), part_(std::move(part)) {
    if (!(p >= 0 && p <= 1)) throw error("random_apply: probability must be in [0, 1], got " + std::to_string(p));
  }

  double probability() const noexcept { return p_; }
  const A& part() const noexcept { return part_; }

  params sample(random_engine& rng, image_size in) const {
    // p = 1 and p = 0 are exact: uniform() lies in [0, 1).
    const bool applied = rng.uniform() < p_;
    return params{applied, part_.sample(rng, in)};
  }
  image_size output_size(const params& p, image_size in) const { return p.applied ? part_.output_size(p.part, in) : in; }
  point map(const params& p, image_size in, point q) const { return p.applied ? part_.map(p.part, in, q) : q; }

  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    if (p.applied)
      part_.apply(p.part, in, out);
    else
      detail::copy_image(in, out);
  }

 private:
  double p_;
  A part_;
};

template <class A>
random_apply(double, A) -> random_apply<A>;

// Applies one of its parts, each with probability 1/N. The params hold the chosen part's params
// in a variant indexed by position (so two parts of the same type stay distinct).
template <class... A>
class one_of {
  static_assert(sizeof...(A) >= 1, "strata::augment::one_of: needs at least one part");
  static_assert(detail::all_augmentations<A...>,
                "strata::augment::one_of: every part must satisfy strata::augment::Augmentation");

 public:
  struct params {
    std::variant<typename A::params...> chosen;
    std::size_t which() const noexcept { return chosen.index(); }
  };

  explicit one_of(A... parts) : parts_(std::move(parts)...) {}

  const std::tuple<A...>& parts() const noexcept { return parts_; }

  params sample(random_engine& rng, image_size in) const {
    return params{sample_part<0>(rng.below(std::uint32_t(sizeof...(A))), rng, in)};
  }

  image_size output_size(const params& p, image_size in) const {
    return dispatch(p, [&](const auto& part, const auto& q) { return part.output_size(q, in); });
  }
  point map(const params& p, image_size in, point pt) const {
    return dispatch(p, [&](const auto& part, const auto& q) { return part.map(q, in, pt); });
  }
  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    dispatch(p, [&](const auto& part, const auto& q) { part.apply(q, in, out); });
  }

 private:
  using variant = std::variant<typename A::params...>;

  template <std::size_t I>
  variant sample_part(std::size_t which, random_engine& rng, image_size in) const {
    if constexpr (I + 1 < sizeof...(A))
      if (which != I) return sample_part<I + 1>(which, rng, in);
    return variant(std::in_place_index<I>, std::get<I>(parts_).sample(rng, in));
  }

  // f(part I, its params) for the part the params chose.
  template <class F, std::size_t I = 0>
  decltype(auto) dispatch(const params& p, F&& f) const {
    if (p.chosen.valueless_by_exception()) throw error("one_of: params hold no choice");
    if constexpr (I + 1 < sizeof...(A))
      if (p.chosen.index() != I) return dispatch<F, I + 1>(p, std::forward<F>(f));
    return f(std::get<I>(parts_), std::get<I>(p.chosen));
  }

  std::tuple<A...> parts_;
};

template <class... A>
one_of(A...) -> one_of<A...>;

}  // namespace strata::augment
