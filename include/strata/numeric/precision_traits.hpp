// strata/numeric/precision_traits.hpp — the one list of precisions: what each element type
// stores, computes in, accumulates in and keeps as the optimizer's master copy, how a value is
// quantized (rounded) into storage, its name (summaries, conv plans, signatures) and its code in
// saved files. Callers use only these names, so fixed point and binary precisions slot in as new
// specialisations here (and kernels for them) without touching layers, networks or the archive.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/numeric/binary.hpp"
#include "strata/numeric/dynamic_fixed.hpp"
#include "strata/numeric/fixed.hpp"
#include "strata/numeric/half.hpp"

namespace strata {


// Primary template: deliberately undefined, so an unsupported element type fails the
// Precision concept below with its name in the message.
template <class T>
struct precision_traits;

// The common case: a type that stores, computes and accumulates in itself (Acc for sums), so
// conversions and quantization are the identity.
template <class T, class Acc = T>
struct self_computing_precision {
  using storage = T;
  using compute = T;
  using accumulate = Acc;
  using master = T;
  static constexpr int storage_bits = 8 * sizeof(T);
  static constexpr rounding default_rounding = rounding::nearest_even;

  STRATA_HD static constexpr compute to_compute(storage x) noexcept { return x; }
  STRATA_HD static constexpr storage from_compute(compute x) noexcept { return x; }
  template <class Rng>
  static constexpr storage quantize(master x, Rng&) noexcept { return x; }
};

// archive_code: the element code saved files store values of the precision under (part of the
// file format: never renumber; 1–15 floating formats, 16–27 integers, 28– packed binary).
template <>
struct precision_traits<double> : self_computing_precision<double> {
  static constexpr const char* name = "fp64";
  static constexpr std::uint8_t archive_code = 1;
};

template <>
struct precision_traits<float> : self_computing_precision<float> {
  static constexpr const char* name = "fp32";
  static constexpr std::uint8_t archive_code = 2;
};

// IEEE binary16 storage; arithmetic runs in fp32 (no fp16 ALU on the CPUs we target), sums
// accumulate in fp32 and optimizers update an fp32 master copy (mixed precision).
template <>
struct precision_traits<half> {
  using storage = half;
  using compute = float;
  using accumulate = float;
  using master = float;
  static constexpr const char* name = "fp16";
  static constexpr std::uint8_t archive_code = 3;
  static constexpr int storage_bits = 16;
  static constexpr rounding default_rounding = rounding::nearest_even;

  STRATA_HD static constexpr compute to_compute(storage x) noexcept {
    return half_bits_to_float(x.bits());
  }
  STRATA_HD static constexpr storage from_compute(compute x) noexcept {
    return half::from_bits(float_to_half_bits(x));
  }
  template <class Rng>
  static constexpr storage quantize(master x, Rng&) noexcept { return from_compute(x); }
};

namespace detail {
// A type's name as a constant: prefix, two numbers and a suffix ("fixed<" 16 "," 8 ",nearest>").
struct name_buffer {
  char c[40]{};
};
constexpr name_buffer numbered_name(const char* prefix, int a, int b, const char* suffix) {
  name_buffer out;
  int n = 0;
  auto put = [&](const char* s) {
    while (*s) out.c[n++] = *s++;
  };
  auto number = [&](int v) {
    if (v >= 10) out.c[n++] = char('0' + v / 10);
    out.c[n++] = char('0' + v % 10);
  };
  put(prefix);
  number(a);
  put(",");
  number(b);
  put(suffix);
  return out;
}
// "fixed<16,8>" (stochastic rounding, the default) or "fixed<16,8,nearest>".
template <int B, int F, rounding R>
struct fixed_name {
  static constexpr name_buffer text =
      numbered_name("fixed<", B, F, R == rounding::nearest ? ",nearest>" : R == rounding::nearest_even ? ",nearest_even>" : ">");
};
}  // namespace detail

// Fixed point: int16 (up to 16 bits) or int32 storage of raw · 2^-Frac. Matrix products and convolutions multiply the
// raw integers and accumulate exactly in int32/int64 (kernels/cpu/int16_gemm.hpp), rounding once
// into storage with the type's rounding; element-wise work converts exactly to `compute` (fp32 up
// to 24 bits) and rounds back to nearest. Optimizers compute an update in `master` from the
// stored value and round it into storage with the type's rounding, keeping no wider copy
// (persistent_master = false): with stochastic rounding an update smaller than one unit still
// moves the weight in expectation, which is Gupta et al.'s point.
template <int B, int F, rounding R>
struct precision_traits<fixed<B, F, R>> {
  using storage = fixed<B, F, R>;
  using compute = std::conditional_t<(B <= 24), float, double>;
  using accumulate = double;
  using master = compute;
  static constexpr bool persistent_master = false;
  static constexpr const char* name = detail::fixed_name<B, F, R>::text.c;
  // 21, 22: raw int16, int32 (the format itself is in the model's signature; 20 is kept for int8).
  static constexpr std::uint8_t archive_code = B <= 16 ? 21 : 22;
  static constexpr int storage_bits = 8 * int(sizeof(typename storage::raw_type));
  static constexpr rounding default_rounding = R;

  STRATA_HD static constexpr compute to_compute(storage x) noexcept { return compute(x.raw()) * compute(storage::resolution); }
  STRATA_HD static constexpr storage from_compute(compute x) noexcept {
    return storage::from_raw(storage::from_double_nearest(double(x)));
  }
  // Round x into storage with the type's rounding: stochastic draws 32 uniform bits from rng.
  template <class Rng>
  static constexpr storage quantize(master x, Rng& rng) noexcept {
    if constexpr (R == rounding::stochastic) {
      const double u = double(static_cast<std::uint32_t>(rng())) * 0x1.0p-32;
      return storage::from_raw(storage::from_double_stochastic(double(x), u));
    } else {
      return from_compute(x);
    }
  }
};

namespace detail {
// "dynamic_fixed<10,12>".
template <int B, int U>
struct dynamic_fixed_name {
  static constexpr name_buffer text = numbered_name("dynamic_fixed<", B, U, ">");
};
}  // namespace detail

// Dynamic fixed point (Courbariaux et al. 2014): Bits-bit integer mantissas in int16 storage
// with one exponent per tensor (core/dynamic_scale.hpp), so an element converts only together
// with its tensor's step 2^-f: to_compute(x, step) and from_compute(v, 1/step) (round to nearest
// even, saturating at ±(2^(Bits−1) − 1), NaN → 0). Products run in the int16 kernels with the
// shift the operands' and the result's exponents give; the optimizer updates a copy of the
// parameters with UpdateBits-bit mantissas (the master), also with one exponent per tensor.
template <int B, int U>
struct precision_traits<dynamic_fixed<B, U>> {
  using storage = dynamic_fixed<B, U>;
  using compute = float;
  using accumulate = double;
  using master = dynamic_fixed<U, U>;
  static constexpr bool dynamic_scale = true;
  static constexpr const char* name = detail::dynamic_fixed_name<B, U>::text.c;
  static constexpr std::uint8_t archive_code = 23;  // raw int16 mantissas; each tensor's exponent in its own entry
  static constexpr int storage_bits = 16;
  static constexpr rounding default_rounding = rounding::nearest_even;

  STRATA_HD static constexpr compute to_compute(storage x, compute step) noexcept { return compute(x.raw()) * step; }
  STRATA_HD static storage from_compute(compute v, compute inverse_step) noexcept {
    compute s = v * inverse_step;
    constexpr compute hi = compute(storage::raw_max), lo = compute(storage::raw_min);
    s = s > hi ? hi : s;
    s = s < lo ? lo : s;
    s = s == s ? s : compute(0);  // NaN → 0
    return storage::from_raw(static_cast<std::int64_t>(std::nearbyint(s)));
  }
};

// Binary precisions (BinaryNet; XNOR-Net with per-channel scales): one bit per value, packed 64
// to a word along channels in Tensor<binary, …> (core/bit_tensor.hpp), so summaries and
// memory<Net, T> count one bit per binarised value. Products of two binary operands are
// XNOR-popcounts accumulated in int32; everything else (batch norm, the real first input and
// last layer, gradients) computes in fp32, and optimizers update fp32 latent weights (the
// master), which the forward pass binarises by sign (+0 and NaN give +1).
template <>
struct precision_traits<binary> {
  using storage = binary;
  using compute = float;
  using accumulate = std::int32_t;
  using master = float;
  static constexpr const char* name = "binary";
  static constexpr std::uint8_t archive_code = 28;  // packed: 64 values to a little-endian word along the last axis
  static constexpr int storage_bits = 1;
  static constexpr bool packed = true;
  static constexpr rounding default_rounding = rounding::nearest_even;

  STRATA_HD static constexpr compute to_compute(storage x) noexcept { return compute(x.value()); }
  STRATA_HD static constexpr storage from_compute(compute x) noexcept { return binary::from_sign_of(x); }
  template <class Rng>
  static constexpr storage quantize(master x, Rng&) noexcept { return from_compute(x); }
};
template <>
struct precision_traits<scaled_binary> : precision_traits<binary> {
  static constexpr const char* name = "binary_scaled";
};

// Whether T is stored as packed bits (no element of its own address).
template <class T>
inline constexpr bool has_packed_storage = [] {
  if constexpr (requires { precision_traits<T>::packed; }) return bool(precision_traits<T>::packed);
  else return false;
}();

// Whether T's elements share a per-tensor exponent (dynamic fixed point).
template <class T>
inline constexpr bool has_dynamic_scale = [] {
  if constexpr (requires { precision_traits<T>::dynamic_scale; }) return bool(precision_traits<T>::dynamic_scale);
  else return false;
}();

// Integer elements (labels, pixel bytes, counters): exact arithmetic in their own type, sums in
// 64 bits.
template <class T>
  requires std::is_integral_v<T>
struct precision_traits<T>
    : self_computing_precision<T, std::conditional_t<std::is_signed_v<T>, std::int64_t, std::uint64_t>> {
  static constexpr const char* name = "int";
  // i8, i16, i32, i64 = 16..19 and u8 … u64 = 24..27 by width (bool has none).
  static constexpr std::uint8_t archive_code = std::is_same_v<T, bool> ? 0
                                               : std::uint8_t((std::is_signed_v<T> ? 16 : 24) +
                                                              (sizeof(T) == 1 ? 0 : sizeof(T) == 2 ? 1 : sizeof(T) == 4 ? 2 : 3));
};

// The contract every element type meets. A new precision (fixed<…>, binary) is a new
// specialisation of precision_traits that satisfies it. Elements convert one by one, or — for a
// precision with a per-tensor exponent — together with their tensor's step.
template <class T>
concept Precision = requires(typename precision_traits<T>::storage s,
                             typename precision_traits<T>::compute c,
                             typename precision_traits<T>::master m) {
  typename precision_traits<T>::storage;
  typename precision_traits<T>::compute;
  typename precision_traits<T>::accumulate;
  typename precision_traits<T>::master;
  { precision_traits<T>::name } -> std::convertible_to<const char*>;
} && (requires(typename precision_traits<T>::storage s, typename precision_traits<T>::compute c) {
  { precision_traits<T>::to_compute(s) } -> std::same_as<typename precision_traits<T>::compute>;
  { precision_traits<T>::from_compute(c) } -> std::same_as<typename precision_traits<T>::storage>;
} || requires(typename precision_traits<T>::storage s, typename precision_traits<T>::compute c) {
  { precision_traits<T>::to_compute(s, c) } -> std::same_as<typename precision_traits<T>::compute>;
  { precision_traits<T>::from_compute(c, c) } -> std::same_as<typename precision_traits<T>::storage>;
});

// The precisions a model can be built in (the conformance test runs each through tensors,
// expressions, summaries, save/load and an optimizer step). A new precision is added here.
template <class... T>
struct precision_list {};
using model_precisions = precision_list<double, float, half, fixed<16, 8>, dynamic_fixed<10, 12>>;

template <class T>
using compute_t = typename precision_traits<T>::compute;
// Whether optimizers keep a master copy in master_t<T> across steps (true unless the traits say
// `persistent_master = false`; only meaningful when master_t<T> is not T).
template <class T>
inline constexpr bool keeps_master_copy = [] {
  if constexpr (requires { precision_traits<T>::persistent_master; }) return bool(precision_traits<T>::persistent_master);
  else return true;
}();
template <class T>
using accumulate_t = typename precision_traits<T>::accumulate;
template <class T>
using master_t = typename precision_traits<T>::master;

}  // namespace strata
