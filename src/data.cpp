// strata_precompiled: IDX reading (data/idx.hpp declares it in precompiled mode; see config.hpp).
#include "strata/data/idx_impl.hpp"
