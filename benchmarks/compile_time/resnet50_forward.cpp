// What benchmarks/compile_time compiles: a translation unit that instantiates Model<ResNet50>
// and runs one forward pass.
#include <strata/net/model.hpp>
#include <strata/zoo/resnet.hpp>

int main() {
  strata::Model<strata::zoo::ResNet50<>> model(1);
  strata::Tensor<float, 2> x(1, 3 * 224 * 224);
  strata::fill_uniform(x, -1, 1, 2);
  const auto y = model.forward(x);
  return y.size() == 1000 ? 0 : 1;
}
