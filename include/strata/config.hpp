// strata/config.hpp — portability macros shared by every header: host/device annotations,
// forced inlining, restrict, and a bit_cast that also works inside CUDA device code.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__CUDACC__)
#define STRATA_HD __host__ __device__
#define STRATA_DEVICE_CODE 1
#else
#define STRATA_HD
#define STRATA_DEVICE_CODE 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define STRATA_INLINE inline __attribute__((always_inline))
#define STRATA_RESTRICT __restrict__
#else
#define STRATA_INLINE inline
#define STRATA_RESTRICT
#endif

// Loops that must vectorise are marked with this; it needs -fopenmp or -fopenmp-simd,
// which the CMake target adds, and is ignored (with the loop still correct) elsewhere.
#define STRATA_PRAGMA(x) _Pragma(#x)
#if defined(_OPENMP) || defined(STRATA_HAVE_OPENMP_SIMD)
#define STRATA_SIMD STRATA_PRAGMA(omp simd)
#else
#define STRATA_SIMD
#endif

// Precompiled mode. CMake's strata::strata (option STRATA_PRECOMPILED, on by default) links a
// small static library, strata_precompiled (src/), and defines STRATA_PRECOMPILED for its users:
// the headers then only declare the fixed part every translation unit would otherwise compile
// again — the CPU convolution, pooling and GEMM kernels for float and double (as `extern
// template`) and the archive, IDX and progress functions (their bodies are in *_impl.hpp, which
// the header includes only without the macro). Without it strata is header-only: STRATA_FUNC is
// `inline` and every definition is in the headers. Both modes run the same code.
#if defined(STRATA_PRECOMPILED)
#define STRATA_FUNC
#else
#define STRATA_FUNC inline
#endif

namespace strata {

// std::bit_cast is not callable from CUDA device code; the builtin is, and is constexpr in
// both g++ and nvcc.
template <class To, class From>
STRATA_HD constexpr To bit_cast(const From& from) noexcept {
  static_assert(sizeof(To) == sizeof(From), "strata::bit_cast: sizes differ");
  static_assert(std::is_trivially_copyable_v<To> && std::is_trivially_copyable_v<From>,
                "strata::bit_cast: types must be trivially copyable");
  return __builtin_bit_cast(To, from);
}

}  // namespace strata
