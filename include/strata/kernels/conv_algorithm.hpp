// strata/kernels/conv_algorithm.hpp — the convolution algorithms as device-neutral tags a layer
// can force (`Algorithm<algo::winograd<4>>`): each names itself and says which shapes it can run.
// A device implements a tag for an element type by specialising conv_kernel<A, Device, T>
// (kernels/<device>/conv_algorithms); conv_available<A, T, D> says whether it did, and
// algo::automatic chooses among the candidates available for (T, D). Every algorithm here runs one
// group only (geometry.groups == 1): a grouped layer runs them per group, a depthwise one has its
// own kernel (ops/depthwise_conv2d.hpp).
#pragma once

#include <concepts>
#include <tuple>

#include "strata/kernels/conv_geometry.hpp"

namespace strata::algo {

using kernels::conv_geometry;

// The contract of an algorithm tag.
template <class A>
concept ConvAlgorithm = requires(const conv_geometry& g) {
  { A::name } -> std::convertible_to<const char*>;
  { A::supports(g) } -> std::same_as<bool>;
};

// The plain loops of the definition: the reference every other algorithm is tested against.
struct reference {
  static constexpr const char* name = "reference";
  static constexpr bool supports(const conv_geometry& g) { return g.groups == 1; }
};

// Patch matrix + GEMM.
struct im2col {
  static constexpr const char* name = "im2col";
  static constexpr bool supports(const conv_geometry& g) { return g.groups == 1; }
};

// Vectorised direct loops (forward); its backward passes may be another algorithm's.
struct direct {
  static constexpr const char* name = "direct";
  static constexpr bool supports(const conv_geometry& g) { return g.groups == 1; }
};

// 1×1 convolutions as GEMMs on the input itself (strides gathered), no patch copy.
struct gemm_1x1 {
  static constexpr const char* name = "gemm_1x1";
  static constexpr bool supports(const conv_geometry& g) {
    return g.R == 1 && g.S == 1 && g.pad_y == 0 && g.pad_x == 0 && g.groups == 1;
  }
};

// Winograd F(M×M, 3×3) (Lavin & Gray): 3×3, stride 1. Backward data runs as a forward pass
// with padding 2 − pad, hence pad ≤ 2.
template <int M>
struct winograd {
  static_assert(M == 2 || M == 4, "strata::algo::winograd<M>: M is 2 (F(2×2,3×3)) or 4 (F(4×4,3×3))");
  static constexpr const char* name = M == 2 ? "winograd<2>" : "winograd<4>";
  static constexpr bool supports(const conv_geometry& g) {
    return g.R == 3 && g.S == 3 && g.stride_y == 1 && g.stride_x == 1 && g.pad_y >= 0 && g.pad_x >= 0 && g.pad_y <= 2 &&
           g.pad_x <= 2 && g.C > 0 && g.K > 0 && g.P() >= 1 && g.Q() >= 1 && g.groups == 1;
  }
};

// FFT: a complex product per frequency. Stride 1 only (a strided output would waste most of
// the transform), any kernel and padding.
struct fft {
  static constexpr const char* name = "fft";
  static constexpr bool supports(const conv_geometry& g) {
    return g.stride_y == 1 && g.stride_x == 1 && g.pad_y >= 0 && g.pad_x >= 0 && g.R >= 1 && g.S >= 1 && g.P() >= 1 &&
           g.Q() >= 1 && g.C >= 1 && g.K >= 1 && g.groups == 1;
  }
};

// Chooses per (pass, shape, batch, precision, threads) among the candidates a device has.
struct automatic {
  static constexpr const char* name = "automatic";
  static constexpr bool supports(const conv_geometry& g) { return g.groups == 1; }
};

// What automatic may choose from, in this order (ties go to the earlier one). A new algorithm is
// listed here; the tests then run every available candidate of every pass against reference.
using candidates = std::tuple<im2col, gemm_1x1, direct, winograd<2>, winograd<4>, fft>;

enum class conv_pass { forward, backward_data, backward_filter };
inline const char* name_of(conv_pass p) {
  return p == conv_pass::forward ? "forward" : p == conv_pass::backward_data ? "backward data" : "backward filter";
}

}  // namespace strata::algo

namespace strata::kernels {

// Device D's implementation of algorithm A for element type T: static forward, backward_data
// and backward_filter over raw device pointers and a conv_state<D, T>. Primary: none.
template <class A, class D, class T>
struct conv_kernel {
  static constexpr bool missing = true;
};

// What a convolution layer keeps between calls on device D (cached transforms, the automatic
// choice). Primary: the device has no convolution for T.
template <class D, class T>
struct conv_state {
  static constexpr bool missing = true;
};

template <class A, class T, class D>
inline constexpr bool conv_available = !requires { conv_kernel<A, D, T>::missing; };

// Named in the compiler's note when a forced algorithm does not exist for (T, D).
template <class Algorithm, class Device, class T>
struct no_conv_algorithm_for {
  static constexpr bool ok = false;
};

}  // namespace strata::kernels
