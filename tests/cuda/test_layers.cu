// Layers on the GPU other than convolutions: max and average pooling, the dropout mask and
// softmax cross-entropy against the CPU kernels.
#include <strata/cuda.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/ops/dropout.hpp"
#include "strata/ops/pooling.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::random_tensor;
using gpu = strata::cuda;  // (unqualified `cuda` may meet libcu++'s ::cuda namespace)
using kernels::pool_geometry;

TEST_CASE("GPU pooling equals the CPU kernels", "[cuda][pool]") {
  const pool_geometry shapes[] = {{32, 28, 28, 2, 2, 0}, {8, 9, 7, 3, 2, 1}, {4, 7, 5, 2, 2, 0, true}, {3, 6, 6, 3, 1, 1}};
  const std::int64_t n = 4;
  for (const auto& g : shapes) {
    INFO("C" << g.C << " " << g.H << "×" << g.W << " window " << g.window << " stride " << g.stride << " pad " << g.pad);
    auto x = random_tensor<float>(Shape<1>{n * g.C * g.H * g.W}, 5);
    x(3) = x(2);  // a tie
    const auto dy = random_tensor<float>(Shape<1>{n * g.C * g.P() * g.Q()}, 6);
    Tensor<float, 1> y(dy.shape()), dx(x.shape());
    Tensor<std::int32_t, 1> arg(dy.shape());
    ops::max_pool_forward(strata::cpu{}, g, n, x.data(), y.data(), arg.data());
    ops::max_pool_backward(strata::cpu{}, g, n, dy.data(), arg.data(), dx.data());
    const auto gx = to_device(x), gdy = to_device(dy);
    Tensor<float, 1, gpu> gy(y.shape()), gdx(dx.shape());
    Tensor<std::int32_t, 1, gpu> garg(arg.shape());
    ops::max_pool_forward(gpu{}, g, n, gx.data(), gy.data(), garg.data());
    ops::max_pool_backward(gpu{}, g, n, gdy.data(), garg.data(), gdx.data());
    const auto hy = to_host(gy), hdx = to_host(gdx);
    const auto harg = to_host(garg);
    CHECK(std::memcmp(hy.data(), y.data(), std::size_t(y.bytes())) == 0);
    CHECK(std::memcmp(harg.data(), arg.data(), std::size_t(arg.bytes())) == 0);
    CHECK(std::memcmp(hdx.data(), dx.data(), std::size_t(dx.bytes())) == 0);

    ops::avg_pool_forward(strata::cpu{}, g, n, x.data(), y.data());
    ops::avg_pool_backward(strata::cpu{}, g, n, dy.data(), dx.data());
    ops::avg_pool_forward(gpu{}, g, n, gx.data(), gy.data());
    ops::avg_pool_backward(gpu{}, g, n, gdy.data(), gdx.data());
    const auto ay = to_host(gy), adx = to_host(gdx);
    CHECK(std::memcmp(ay.data(), y.data(), std::size_t(y.bytes())) == 0);
    CHECK(testing::error_relative_to_largest(adx.data(), dx.data(), std::size_t(dx.size())) < 4e-7);
  }
}

TEST_CASE("the GPU's dropout mask is the CPU's for the same seed", "[cuda][dropout]") {
  for (const std::int64_t count : {1, 5, 100003}) {
    Tensor<float, 1> want(count);
    ops::dropout_mask(strata::cpu{}, count, 0.25f, 99, want.data());
    Tensor<float, 1, gpu> got(count);
    ops::dropout_mask(gpu{}, count, 0.25f, 99, got.data());
    const auto h = to_host(got);
    CHECK(std::memcmp(h.data(), want.data(), std::size_t(want.bytes())) == 0);
  }
}

TEST_CASE("GPU softmax cross-entropy equals the CPU's, and names a bad label", "[cuda][loss]") {
  const std::int64_t n = 300, k = 10;
  const auto logits = random_tensor<float>(Shape{n, k}, 7, -30, 30);
  Tensor<std::int32_t, 1> labels(n);
  for (std::int64_t i = 0; i < n; ++i) labels(i) = std::int32_t((i * 3) % k);
  Tensor<float, 2> grad(Shape{n, k});
  const loss_result want = SoftmaxCrossEntropy::evaluate<float>(logits.view(), labels.view(), grad.view());
  const auto glogits = to_device(logits);
  auto glabels = to_device(labels);
  Tensor<float, 2, gpu> ggrad(Shape{n, k});
  const loss_result got = SoftmaxCrossEntropy::evaluate<float>(glogits.view(), glabels.view(), ggrad.view());
  CHECK(std::abs(got.loss - want.loss) <= 1e-12 * std::abs(want.loss));
  CHECK(got.correct == want.correct);
  const auto hgrad = to_host(ggrad);
  CHECK(testing::error_relative_to_largest(hgrad.data(), grad.data(), std::size_t(grad.size())) < 1e-6);
  labels(17) = 10;
  glabels = to_device(labels);
  CHECK_THROWS_WITH(SoftmaxCrossEntropy::evaluate<float>(glogits.view(), glabels.view()),
                    Catch::Contains("label 10 of sample 17"));
}
