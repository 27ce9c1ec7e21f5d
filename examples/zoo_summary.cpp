// The classic networks as types: their per-layer shapes, parameters, multiply-adds and the
// memory a training step needs, all computed by the compiler (nothing is allocated here).
//
//   zoo_summary [alexnet|vgg16|resnet18|resnet50] [--batch N]
#include <strata/net/summary.hpp>
#include <strata/zoo/alexnet.hpp>
#include <strata/zoo/resnet.hpp>
#include <strata/zoo/vgg16.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

using namespace strata;

template <class Net>
void show(const char* name, std::int64_t batch) {
  std::cout << "\n== " << name << " ==\n";
  print_summary<Net>(std::cout, batch);
  const auto forward_only = std::int64_t(batch) * (Net::traits::saved + Net::output_shape::elements) * 4;
  std::cout << "(activations alone, forward: " << forward_only / (1024 * 1024) << " MiB at batch " << batch << ")\n";
}

int main(int argc, char** argv) {
  std::string which = "all";
  std::int64_t batch = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--batch" && i + 1 < argc) batch = std::atoll(argv[++i]);
    else which = a;
  }
  if (which == "all" || which == "alexnet") show<zoo::AlexNet<>>("AlexNet (one tower)", batch ? batch : 256);
  if (which == "all" || which == "vgg16") show<zoo::VGG16<>>("VGG-16", batch ? batch : 64);
  if (which == "all" || which == "resnet18") show<zoo::ResNet18<>>("ResNet-18", batch ? batch : 256);
  if (which == "all" || which == "resnet50") show<zoo::ResNet50<>>("ResNet-50", batch ? batch : 256);
}
