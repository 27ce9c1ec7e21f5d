# The NCCL transport (strata/parallel/nccl_communicator.cuh): included from tests/CMakeLists.txt.
#
# cuda.nccl (tests/cuda/test_nccl.cu, registered with the other CUDA tests, label `cuda`) runs what
# one GPU can check and skips without a GPU; its cases that need two GPUs say so and pass on one,
# so scripts/gpu-check on a one-GPU machine runs the rest. cuda.nccl.two_gpus runs only those
# cases and exits 77 (CTest: skipped) with "needs 2 GPUs, found N" below two GPUs; it is labelled
# `multi_gpu`, not `cuda`, so one-GPU runs of `ctest -L cuda` do not count it. Without NCCL the
# program compiles to a skip that names the reason, and leaves the `cuda` label.
#
# The exchange's arithmetic and the summing kernel's body run on the CPU everywhere:
# cuda_emulated.direct_exchange (no GPU, no nvcc, no NCCL needed).
strata_add_test(cuda_emulated.direct_exchange cuda_emulated/test_direct_exchange.cpp)

if(TARGET cuda.nccl)
  include(StrataNccl)
  if(STRATA_NCCL_FOUND)
    target_link_libraries(cuda.nccl PRIVATE strata::nccl)
    target_compile_definitions(cuda.nccl PRIVATE STRATA_TEST_HAVE_NCCL=1)
    set_tests_properties(cuda.nccl PROPERTIES LABELS "cuda;nccl" TIMEOUT 600)
    add_test(NAME cuda.nccl.two_gpus COMMAND cuda.nccl "[two_gpus]")
    set_tests_properties(cuda.nccl.two_gpus PROPERTIES SKIP_RETURN_CODE 77 LABELS "nccl;multi_gpu" TIMEOUT 600
                         ENVIRONMENT "STRATA_TEST_SKIP_EXIT=77")
  else()
    set_tests_properties(cuda.nccl PROPERTIES LABELS "nccl" ENVIRONMENT "STRATA_TEST_SKIP_EXIT=77")
  endif()
endif()
