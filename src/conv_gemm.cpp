// strata_precompiled: the GEMM-based and direct convolutions, pooling and the GEMM itself, float
// and double (declared `extern template` by their kernels/cpu/ headers in precompiled mode; see
// config.hpp).
#include "strata/kernels/cpu/conv_direct.hpp"
#include "strata/kernels/cpu/conv_gemm_1x1.hpp"
#include "strata/kernels/cpu/conv_im2col.hpp"
#include "strata/kernels/cpu/gemm.hpp"
#include "strata/kernels/cpu/pooling.hpp"

namespace strata::kernels::cpu {
STRATA_INSTANTIATE_GEMM(, float)
STRATA_INSTANTIATE_GEMM(, double)
STRATA_INSTANTIATE_CONV_DIRECT(, float)
STRATA_INSTANTIATE_CONV_DIRECT(, double)
STRATA_INSTANTIATE_CONV_IM2COL(, float)
STRATA_INSTANTIATE_CONV_IM2COL(, double)
STRATA_INSTANTIATE_CONV_GEMM_1X1(, float)
STRATA_INSTANTIATE_CONV_GEMM_1X1(, double)
STRATA_INSTANTIATE_POOLING(, float)
STRATA_INSTANTIATE_POOLING(, double)
}  // namespace strata::kernels::cpu
