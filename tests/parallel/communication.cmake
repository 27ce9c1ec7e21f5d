# Communication arithmetic and the α–β scaling model (strata/parallel/): included from tests/CMakeLists.txt.
