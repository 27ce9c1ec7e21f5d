# Communication arithmetic and the α–β scaling model (strata/parallel/): included from tests/CMakeLists.txt.
strata_add_test(parallel.communication parallel/test_communication.cpp)
