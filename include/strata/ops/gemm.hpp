// strata/ops/gemm.hpp — matrix products as layers use them: matmul(a, b) expressions
// (strata/core/matmul.hpp) with the CPU's GEMM kernel (OpenBLAS or Eigen) behind them — for
// fp16 through fp32, for fixed point the int16 GEMM. A device adds its own GEMM as an
// evaluate_complex overload (CUDA: kernels/cuda/gemm.cuh).
#pragma once

#include "strata/core/matmul.hpp"
#include "strata/core/transpose.hpp"
#include "strata/kernels/cpu/dynamic_fixed_gemm.hpp"
#include "strata/kernels/cpu/fixed_gemm.hpp"
#include "strata/kernels/cpu/gemm.hpp"
#include "strata/kernels/cpu/half_gemm.hpp"
