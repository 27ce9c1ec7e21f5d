// strata_precompiled: Winograd convolution F(2×2, 3×3) and F(4×4, 3×3), float and double
// (declared `extern template` by kernels/cpu/winograd.hpp in precompiled mode; see config.hpp).
#include "strata/kernels/cpu/winograd.hpp"

namespace strata::kernels::cpu {
STRATA_INSTANTIATE_WINOGRAD(, 2, float)
STRATA_INSTANTIATE_WINOGRAD(, 2, double)
STRATA_INSTANTIATE_WINOGRAD(, 4, float)
STRATA_INSTANTIATE_WINOGRAD(, 4, double)
}  // namespace strata::kernels::cpu
