# Asynchronous SGD on threads (strata/parallel/async_sgd.hpp): included from tests/CMakeLists.txt.
# A lost wake-up would hang a worker: CTest ends the run after two minutes instead of 25.
strata_add_test(parallel.async_sgd parallel/test_async_sgd.cpp)
set_tests_properties(parallel.async_sgd PROPERTIES TIMEOUT 120)
