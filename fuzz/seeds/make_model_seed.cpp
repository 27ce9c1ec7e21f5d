// Writes the model_archive target's seed: a valid model file of fuzz/small_network.hpp's network
// (and one with a wrong signature, so the fuzzer also starts from the refusal). Run once by hand:
//   g++ -std=c++20 -I include -I fuzz -isystem /usr/include/eigen3 fuzz/seeds/make_model_seed.cpp -o /tmp/seed && /tmp/seed fuzz/corpus/model_archive
#include <filesystem>

#include "small_network.hpp"
#include "strata/io/model_file.hpp"

int main(int argc, char** argv) {
  using namespace strata;
  const std::filesystem::path dir = argc > 1 ? argv[1] : ".";
  std::filesystem::create_directories(dir);
  Model<fuzz::small_network> m(7);
  save_model(m, dir / "small_network.strata");
  Model<Sequential<Input<1, 8, 8>, Conv<2, Kernel<3>>, ReLU, Flatten, Dense<3>>> other(7);
  save_model(other, dir / "other_network.strata");
}
