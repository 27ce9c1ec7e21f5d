# Data-parallel training on threads (strata/parallel/): included from tests/CMakeLists.txt.
