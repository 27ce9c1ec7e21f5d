// strata/strata.hpp — the CPU library in one include: tensors, expressions, reductions, matrix
// products, precisions and random fills. CUDA lives behind <strata/cuda.hpp>.
#pragma once

#include "strata/core/axes.hpp"
#include "strata/core/broadcast.hpp"
#include "strata/core/cast.hpp"
#include "strata/core/elementwise.hpp"
#include "strata/core/error.hpp"
#include "strata/core/functions.hpp"
#include "strata/core/matmul.hpp"
#include "strata/ops/gemm.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/random.hpp"
#include "strata/core/reduction.hpp"
#include "strata/core/shape.hpp"
#include "strata/core/tensor.hpp"
#include "strata/core/transpose.hpp"
#include "strata/core/cpu_device.hpp"
#include "strata/core/device_tags.hpp"
#include "strata/numeric/half.hpp"
#include "strata/numeric/precision_traits.hpp"
