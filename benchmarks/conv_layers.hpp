// benchmarks/conv_layers.hpp — the convolution layers the conv benchmarks measure (conv_algorithms on
// the CPU, cuda_conv on the GPU): a) 32,64,56,64,3,1,1  b) 32,128,28,128,3,1,1 (with backward
// passes)  c) 32,256,14,256,3,1,1  d) 32,3,224,64,7,2,3  e) 32,256,56,64,1,1,0  f) 1,64,56,64,3,1,1,
// and kernels 3…11 at N=8, C=64, H=64, K=64 with "same" padding.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "strata/kernels/conv_geometry.hpp"

struct layer_spec {
  std::string name;
  std::int64_t N, C, H, K, R, stride, pad;
  bool backward = false;
  strata::kernels::conv_geometry geometry() const { return {C, H, H, K, R, R, stride, stride, pad, pad}; }
  double flops() const {
    const auto g = geometry();
    return 2.0 * double(N) * double(K) * double(C) * double(R * R) * double(g.P() * g.Q());
  }
};

inline std::vector<layer_spec> benchmark_conv_layers() {
  std::vector<layer_spec> layers = {{"a", 32, 64, 56, 64, 3, 1, 1},   {"b", 32, 128, 28, 128, 3, 1, 1, true},
                                    {"c", 32, 256, 14, 256, 3, 1, 1}, {"d", 32, 3, 224, 64, 7, 2, 3},
                                    {"e", 32, 256, 56, 64, 1, 1, 0},  {"f", 1, 64, 56, 64, 3, 1, 1}};
  for (std::int64_t r : {3, 5, 7, 9, 11}) layers.push_back({"k" + std::to_string(r), 8, 64, 64, 64, r, 1, (r - 1) / 2});
  return layers;
}
