// A matrix product of an element type the CPU has no GEMM for is one static_assert naming the type
// (float and double run on BLAS, half through fp32; another type brings its own overload).
#include <cstdint>
#include <strata/core/tensor.hpp>
#include <strata/ops/gemm.hpp>
// expect: strata::matmul on the CPU has no GEMM for this element type
// expect: no_gemm_kernel_for<strata::cpu, int>
// max-lines: 20
int main() {
  strata::Tensor<int, 2> a(2, 3), b(3, 4), c(2, 4);
  c = strata::matmul(a, b);
}
