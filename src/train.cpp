// strata_precompiled: the progress display of fit and evaluate (train/progress.hpp declares it in
// precompiled mode; see config.hpp).
#include "strata/train/progress_impl.hpp"
