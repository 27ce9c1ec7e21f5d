// strata/cuda.hpp — the CUDA device: include it (from a .cu file, compiled by nvcc) to put
// tensors on the GPU. The same expressions evaluate in one generated kernel; matmul runs on
// cuBLAS (fp64, fp32, fp16 with fp32 accumulation); FFTs on cuFFT. Plain CPU programs never
// include this header and need no CUDA toolkit.
#pragma once

#if !defined(__CUDACC__)
#error "strata/cuda.hpp must be compiled by nvcc: put this code in a .cu file (CMake: the CUDA language, STRATA_CUDA=ON)"
#endif

#include "strata/strata.hpp"

#include "strata/device/cuda.hpp"
#include "strata/device/cuda/allocator.hpp"
#include "strata/device/cuda/error.hpp"
#include "strata/device/cuda/runtime.hpp"
#include "strata/device/cuda/stream.hpp"
#include "strata/device/cuda/elementwise.cuh"
#include "strata/kernels/cuda/fft.cuh"
#include "strata/kernels/cuda/gemm.cuh"
#include "strata/kernels/cuda/conv.cuh"
#include "strata/kernels/cuda/depthwise_conv.cuh"
#include "strata/kernels/cuda/dropout.cuh"
#include "strata/kernels/cuda/pooling.cuh"
#include "strata/kernels/cuda/softmax_cross_entropy.cuh"
#include "strata/train/cuda_batch_feed.cuh"
#include "strata/device/cuda/reduce.cuh"
