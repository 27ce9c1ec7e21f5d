// strata_precompiled: FFT convolution, float and double (declared `extern template` by
// kernels/cpu/fft_conv.hpp in precompiled mode; see config.hpp).
#include "strata/kernels/cpu/fft_conv.hpp"

namespace strata::kernels::cpu {
STRATA_INSTANTIATE_FFT_CONV(, float)
STRATA_INSTANTIATE_FFT_CONV(, double)
}  // namespace strata::kernels::cpu
