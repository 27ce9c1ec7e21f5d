# Data-parallel training on threads (strata/parallel/): included from tests/CMakeLists.txt.
strata_add_test(parallel.data_parallel parallel/test_data_parallel.cpp)
set_tests_properties(parallel.data_parallel PROPERTIES TIMEOUT 300)
strata_add_test(parallel.hybrid parallel/test_hybrid.cpp)
set_tests_properties(parallel.hybrid PROPERTIES TIMEOUT 300)
