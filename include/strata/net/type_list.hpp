// strata/net/type_list.hpp — a flat list of types and indexed access, for network definitions
// (no recursion deeper than the number of layers).
#pragma once

#include <cstddef>
#include <tuple>

namespace strata {

template <class... T>
struct type_list {
  static constexpr std::size_t size = sizeof...(T);
};

template <std::size_t I, class List>
struct type_at;
template <std::size_t I, class... T>
struct type_at<I, type_list<T...>> {
  using type = std::tuple_element_t<I, std::tuple<T...>>;
};
template <std::size_t I, class List>
using type_at_t = typename type_at<I, List>::type;

template <class List, class T>
struct push_front;
template <class... T, class U>
struct push_front<type_list<T...>, U> {
  using type = type_list<U, T...>;
};

}  // namespace strata
