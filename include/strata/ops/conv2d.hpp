// strata/ops/conv2d.hpp — 2-D convolution as layers call it: forward, backward data and backward
// filter with an algorithm tag (algo::automatic or a forced one), on any device whose kernels
// implement it. A (device, precision) with no convolution, or a forced algorithm a device lacks,
// is a named static_assert; a forced algorithm that cannot run the shape throws, naming the layer.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "strata/core/error.hpp"
#include "strata/kernels/conv_algorithm.hpp"
#include "strata/kernels/cpu/conv_algorithms.hpp"
#include "strata/kernels/op_kernel.hpp"

namespace strata::ops {

using kernels::conv_geometry;
template <class D, class T>
using conv_state = kernels::conv_state<D, T>;

namespace detail {
template <class A, class D, class T>
constexpr bool conv_ready() {
  if constexpr (requires { kernels::conv_state<D, T>::missing; } ||
                (std::is_same_v<A, algo::automatic> && !kernels::conv_available<A, T, D>)) {
    static_assert(kernels::no_kernel_for<kernels::op::conv2d, D, T>::ok,
                  "strata: this device has no convolution for this precision (the note names "
                  "no_kernel_for<op::conv2d, device, precision>)");
    return false;
  } else if constexpr (!kernels::conv_available<A, T, D>) {
    static_assert(kernels::no_conv_algorithm_for<A, D, T>::ok,
                  "strata: this device has no kernel for the forced convolution algorithm at this precision "
                  "(the note names no_conv_algorithm_for<algorithm, device, precision>)");
    return false;
  } else {
    return true;
  }
}

template <class A, class D, class T>
void check_supports(const conv_geometry& g, const conv_state<D, T>& s) {
  if (!A::supports(g))
    throw error(std::string("strata::Conv: the forced algorithm ") + A::name + " cannot run " +
                (s.layer.empty() ? std::string("this convolution") : s.layer));
}
}  // namespace detail

// y = x ⋆ w + b (b may be null) for a batch of n images.
template <class A, class D, class T>
void conv2d_forward(D, A, const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y,
                    conv_state<D, T>& s) {
  if constexpr (detail::conv_ready<A, D, T>()) {
    detail::check_supports<A>(g, s);
    kernels::conv_kernel<A, D, T>::forward(g, n, x, w, b, y, s);
  }
}

// dx = dL/dx for dy = dL/dy.
template <class A, class D, class T>
void conv2d_backward_data(D, A, const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx,
                          conv_state<D, T>& s) {
  if constexpr (detail::conv_ready<A, D, T>()) {
    detail::check_supports<A>(g, s);
    kernels::conv_kernel<A, D, T>::backward_data(g, n, w, dy, dx, s);
  }
}

// dw = dL/dw and db = dL/db (db may be null); both are set, not added to.
template <class A, class D, class T>
void conv2d_backward_filter(D, A, const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db,
                            conv_state<D, T>& s) {
  if constexpr (detail::conv_ready<A, D, T>()) {
    detail::check_supports<A>(g, s);
    kernels::conv_kernel<A, D, T>::backward_filter(g, n, x, dy, dw, db, s);
  }
}

}  // namespace strata::ops
