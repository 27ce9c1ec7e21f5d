# Data-parallel training on threads (strata/parallel/): included from tests/CMakeLists.txt.
strata_add_test(parallel.data_parallel parallel/test_data_parallel.cpp)
set_tests_properties(parallel.data_parallel PROPERTIES TIMEOUT 300)
