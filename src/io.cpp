// strata_precompiled: the archive format's CRC-32C, writer and reader (io/archive.hpp declares
// them in precompiled mode; see config.hpp).
#include "strata/io/archive_impl.hpp"
