#include <strata/strata.hpp>

#include <iostream>

int main() {
  using namespace strata;
  Tensor<float, 4> x(8, 3, 32, 32);  // a batch, NCHW, zero-filled
  fill_normal(x, 0.0, 1.0, /*seed=*/42);
  Tensor<float, 1> bias(3);
  bias(0) = 0.1f, bias(1) = 0.2f, bias(2) = 0.3f;

  // One fused loop, no temporaries: y = max(2x + bias over channels, 0).
  Tensor<float, 4> y = max(x * 2 + broadcast(bias, axes<1>, x.shape()), 0);

  Tensor<float, 1> per_channel = mean(y, axes<0, 2, 3>);  // reduce over N, H, W
  Tensor<float, 2> w(10, 3 * 32 * 32);
  fill_uniform(w, -0.01, 0.01, 7);
  Tensor<float, 2> logits = matmul(y.reshape(8, 3 * 32 * 32), transpose(w));  // one GEMM

  std::cout << "mean activation per channel: " << per_channel(0) << ' ' << per_channel(1) << ' '
            << per_channel(2) << "\nlogits " << logits.shape().to_string() << ", sum " << sum(logits) << '\n';
}
