// Every augmentation in strata/augment, seen at once: one PNG grid whose rows are source images
// (three photographs, then three Fashion-MNIST garments enlarged ×4 by nearest neighbour and
// made RGB) and whose columns are the original followed by one augmentation each. A number above
// each column matches the legend printed to stdout (the same as this list):
//
//    0 original                   9 rotation (±30°)
//    1 horizontal flip           10 stretching (x, y × 0.7–1.3)
//    2 vertical flip             11 shearing (±20°)
//    3 random crop (padding)     12 lens distortion, barrel (k1 0.25–0.35)
//    4 ResNet scale crop         13 lens distortion, pincushion (k1 −0.25 … −0.2)
//    5 random resized crop       14 Gaussian noise (σ 0.05)
//    6 colour jitter             15 salt and pepper (5%)
//    7 PCA lighting              16 a composed pipeline (resized crop, flip, jitter 80%, rotate)
//    8 translation (±15%)
//
// Flips and random_apply use probability 1 here, so that every cell shows its augmentation; PCA
// lighting's σ is raised from AlexNet's 0.1 so that its colour shift is visible. Every cell is
// `cell` × `cell` pixels (104 by default, to keep the file near 1.5 MB): outputs of another size
// are resized to it.
//
//   augment_gallery [--photos DIR] [--fashion DIR] [--out FILE.png] [--seed N] [--cell PIXELS]
#include <strata/augment/affine.hpp>
#include <strata/augment/color_jitter.hpp>
#include <strata/augment/compose.hpp>
#include <strata/augment/crop.hpp>
#include <strata/augment/flip.hpp>
#include <strata/augment/lens_distortion.hpp>
#include <strata/augment/noise.hpp>
#include <strata/augment/pca_lighting.hpp>
#include <strata/augment/resize.hpp>
#include <strata/data/dataset.hpp>
#include <strata/image/image_io.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

using namespace strata;
namespace fs = std::filesystem;

namespace {

using byte_image = image<std::uint8_t>;
using byte_view = image_view<const std::uint8_t>;

const std::array<const char*, 3> photo_names{"astronaut.png", "chelsea.png", "coffee.png"};
const fs::path default_photo_dir = "/usr/lib/python3/dist-packages/skimage/data";
const fs::path fetched_photo_dir = "build/photos";  // where scripts/fetch-photos puts them by default

struct column {
  std::string name;
  std::function<byte_image(byte_view, random_engine&)> run;
};

template <augment::Augmentation A>
column make_column(std::string name, A a) {
  return {std::move(name), [a = std::move(a)](byte_view in, random_engine& rng) {
            byte_image out;
            augment::augment(a, in, out, rng);
            return out;
          }};
}

// The columns for square sources of side `s`: sizes (padding, crops) scale with the source, so a
// 112-pixel garment and a 128-pixel photograph get the same relative treatment.
std::vector<column> columns_for(std::int64_t s, const augment::pca_basis& basis) {
  using namespace augment;
  const auto scaled = [s](double f) { return std::max<std::int64_t>(1, std::int64_t(std::lround(double(s) * f))); };
  random_affine pipeline_rotate = random_rotate(15);
  std::vector<column> c;
  c.push_back({"original", [](byte_view in, random_engine&) { return byte_image(in); }});
  c.push_back(make_column("horizontal flip", horizontal_flip{1.0}));
  c.push_back(make_column("vertical flip", vertical_flip{1.0}));
  // CIFAR's 4 pixels of a 32-pixel image, in proportion.
  c.push_back(make_column("random crop (padding)", random_crop{.height = s, .width = s, .pad = scaled(4.0 / 32)}));
  // ResNet's proportions: short side L ∈ [256, 480] and a 224 patch become [s, 480/256·s] and
  // 224/256·s.
  c.push_back(make_column("ResNet scale crop",
                          resnet_scale_crop{.min_short = s, .max_short = scaled(480.0 / 256), .crop = scaled(224.0 / 256)}));
  c.push_back(make_column("random resized crop", random_resized_crop{.size = s}));
  c.push_back(make_column("colour jitter", color_jitter(0.4, 0.4, 0.4, 0.1)));
  c.push_back(make_column("PCA lighting", pca_lighting(basis, 1.5)));
  c.push_back(make_column("translation (±15%)", random_translate(0.15)));
  c.push_back(make_column("rotation (±30°)", random_rotate(30)));
  c.push_back(make_column("stretching (x, y × 0.7–1.3)", random_stretch(0.7, 1.3)));
  c.push_back(make_column("shearing (±20°)", random_shear(20)));
  c.push_back(make_column("lens distortion, barrel (k1 0.25–0.35)", lens_distortion{.k1 = {0.25, 0.35}}));
  c.push_back(make_column("lens distortion, pincushion (k1 −0.25 … −0.2)", lens_distortion{.k1 = {-0.25, -0.2}}));
  c.push_back(make_column("Gaussian noise (σ 0.05)", gaussian_noise(0.05)));
  c.push_back(make_column("salt and pepper (5%)", salt_and_pepper(0.05)));
  c.push_back(make_column("a composed pipeline (resized crop, flip, jitter 80%, rotate)",
                          compose(random_resized_crop{.size = s, .area = {0.3, 1.0}}, horizontal_flip{1.0},
                                  random_apply(0.8, color_jitter(0.4, 0.4, 0.4, 0.1)), pipeline_rotate)));
  return c;
}

// A photograph as a side × side square: short side resized to `side`, then the central square.
byte_image square_photo(const byte_image& photo, std::int64_t side) {
  byte_image scaled;
  augment::resize_short_side(photo.view(), scaled, side);
  const std::int64_t y0 = (scaled.height() - side) / 2, x0 = (scaled.width() - side) / 2;
  return byte_image(scaled.view().crop(y0, x0, side, side));
}

// A grey garment enlarged `factor` times (nearest neighbour: its pixels stay visible as squares)
// and replicated into three channels, so that the colour augmentations apply to it too.
byte_image enlarged_rgb(const byte_image& grey, std::int64_t factor) {
  byte_image big;
  augment::resize(grey.view(), big, {grey.height() * factor, grey.width() * factor}, augment::interpolation::nearest);
  byte_image rgb(big.height(), big.width(), 3);
  for (std::int64_t y = 0; y < big.height(); ++y)
    for (std::int64_t x = 0; x < big.width(); ++x)
      for (std::int64_t c = 0; c < 3; ++c) rgb(y, x, c) = big(y, x, 0);
  return rgb;
}

// Digits 0–9 in a 3 × 5 pixel font, one row per 3-bit number (most significant bit on the left).
constexpr std::array<std::array<std::uint8_t, 5>, 10> digit_font{{{7, 5, 5, 5, 7},
                                                                  {2, 6, 2, 2, 7},
                                                                  {7, 1, 7, 4, 7},
                                                                  {7, 1, 7, 1, 7},
                                                                  {5, 5, 7, 1, 1},
                                                                  {7, 4, 7, 1, 7},
                                                                  {7, 4, 7, 5, 7},
                                                                  {7, 1, 1, 1, 1},
                                                                  {7, 5, 7, 5, 7},
                                                                  {7, 5, 7, 1, 7}}};

// Draws number n centred at column cx of the band [top, top + 5·scale) in black.
void draw_number(byte_image& canvas, int n, std::int64_t cx, std::int64_t top, std::int64_t scale) {
  const std::string text = std::to_string(n);
  const std::int64_t advance = 4 * scale, width = std::int64_t(text.size()) * advance - scale;
  std::int64_t x0 = cx - width / 2;
  for (char ch : text) {
    const auto& glyph = digit_font[std::size_t(ch - '0')];
    for (std::int64_t r = 0; r < 5; ++r)
      for (std::int64_t b = 0; b < 3; ++b)
        if (glyph[std::size_t(r)] & (4 >> b))
          for (std::int64_t dy = 0; dy < scale; ++dy)
            for (std::int64_t dx = 0; dx < scale; ++dx)
              for (std::int64_t c = 0; c < 3; ++c) canvas(top + r * scale + dy, x0 + b * scale + dx, c) = 0;
    x0 += advance;
  }
}

fs::path find_photo_dir(const fs::path& requested, bool given) {
  auto has_all = [](const fs::path& d) {
    for (const char* n : photo_names)
      if (!fs::is_regular_file(d / n)) return false;
    return true;
  };
  if (given || has_all(requested)) return requested;
  if (has_all(fetched_photo_dir)) return fetched_photo_dir;
  return requested;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path photo_dir = default_photo_dir, fashion_dir = data::default_fashion_mnist_dir, out = "augment_gallery.png";
  bool photo_dir_given = false;
  std::uint64_t seed = 1;
  std::int64_t cell = 104;  // 112 shows the garments at exactly ×4 but makes a 1.6 MB file
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* what) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "augment_gallery: %s needs a value\n", what);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--photos") photo_dir = value("--photos"), photo_dir_given = true;
    else if (a == "--fashion") fashion_dir = value("--fashion");
    else if (a == "--out") out = value("--out");
    else if (a == "--seed") seed = std::stoull(value("--seed"));
    else if (a == "--cell") cell = std::stoll(value("--cell"));
    else {
      std::fprintf(stderr, "usage: %s [--photos DIR] [--fashion DIR] [--out FILE.png] [--seed N] [--cell PIXELS]\n", argv[0]);
      return 2;
    }
  }
  if (cell < 16) {
    std::fprintf(stderr, "augment_gallery: --cell must be at least 16 pixels\n");
    return 2;
  }

  // Sources: the photographs as cell × cell squares, the garments enlarged ×4 (112 × 112).
  photo_dir = find_photo_dir(photo_dir, photo_dir_given);
  std::vector<byte_image> photos;
  try {
    for (const char* n : photo_names) photos.push_back(square_photo(read_image<std::uint8_t>(photo_dir / n, 3), cell));
  } catch (const image_file_error& e) {
    std::cerr << "augment_gallery: cannot read the photographs: " << e.what() << "\n"
              << "They are scikit-image's sample images (astronaut, chelsea, coffee). Run\n"
              << "    scripts/fetch-photos\n"
              << "to download Debian's python3-skimage package and extract them into " << fetched_photo_dir.string()
              << " (found there automatically), or pass --photos DIR.\n";
    return 1;
  }
  std::vector<byte_image> garments;
  try {
    const auto test = data::fashion_mnist_dataset<std::uint8_t>(fashion_dir, data::split::test);
    for (std::int64_t i : {0, 1, 2}) garments.push_back(enlarged_rgb(test.get(i).image, 4));
  } catch (const data::data_error& e) {
    std::cerr << "augment_gallery: cannot read Fashion-MNIST: " << e.what()
              << "\n(install Debian's dataset-fashion-mnist, run scripts/setup, or pass --fashion DIR)\n";
    return 1;
  }

  // PCA lighting's colour statistics come from the three photographs themselves.
  augment::rgb_statistics stats;
  for (const auto& p : photos) stats.add(p);
  const augment::pca_basis basis = augment::pca_of(stats);

  const auto photo_columns = columns_for(cell, basis);
  const auto garment_columns = columns_for(garments.front().height(), basis);

  std::printf("augment_gallery: columns, left to right\n");
  for (std::size_t k = 0; k < photo_columns.size(); ++k) std::printf("  %2zu  %s\n", k, photo_columns[k].name.c_str());
  std::printf("rows: %s, %s, %s (%s), then Fashion-MNIST test images 0, 1, 2 (%s)\n", photo_names[0], photo_names[1],
              photo_names[2], photo_dir.string().c_str(), fashion_dir.string().c_str());
  std::printf("PCA lighting: RGB eigenvalues %.4f %.4f %.4f from %lld photo pixels\n", basis.eigenvalues[0],
              basis.eigenvalues[1], basis.eigenvalues[2], (long long)stats.count());

  // Layout: a band of column numbers, then one row of cells per source, `gap` white pixels apart.
  constexpr std::int64_t gap = 2, digit_scale = 2, header = 5 * digit_scale + 8;
  const std::int64_t cols = std::int64_t(photo_columns.size()), rows = std::int64_t(photos.size() + garments.size());
  byte_image canvas(header + rows * (cell + gap), gap + cols * (cell + gap), 3, 255);
  for (std::int64_t k = 0; k < cols; ++k) draw_number(canvas, int(k), gap + k * (cell + gap) + cell / 2, 4, digit_scale);

  random_engine base(seed, 0x6a11e7);
  byte_image fitted;
  for (std::int64_t r = 0; r < rows; ++r) {
    const bool is_photo = r < std::int64_t(photos.size());
    const byte_image& src = is_photo ? photos[std::size_t(r)] : garments[std::size_t(r) - photos.size()];
    const auto& columns = is_photo ? photo_columns : garment_columns;
    for (std::int64_t k = 0; k < cols; ++k) {
      random_engine rng = base.fork(std::uint64_t(r * 1000 + k));
      const byte_image result = columns[std::size_t(k)].run(src.view(), rng);
      byte_view shown = result.view();
      if (result.height() != cell || result.width() != cell) {
        // Enlarged by a whole factor: nearest neighbour, so garment pixels stay sharp squares;
        // otherwise (crops of another size) resampled.
        const bool whole = cell % result.height() == 0 && cell % result.width() == 0;
        const auto interp = whole ? augment::interpolation::nearest : augment::interpolation::bilinear;
        augment::resize(result.view(), fitted, {cell, cell}, interp);
        shown = fitted.view();
      }
      const std::int64_t top = header + r * (cell + gap), left = gap + k * (cell + gap);
      for (std::int64_t y = 0; y < cell; ++y)
        for (std::int64_t x = 0; x < cell; ++x)
          for (std::int64_t c = 0; c < 3; ++c) canvas(top + y, left + x, c) = shown(y, x, c);
    }
  }

  try {
    if (out.has_parent_path()) fs::create_directories(out.parent_path());
    write_png(out, canvas.view());
  } catch (const std::exception& e) {
    std::cerr << "augment_gallery: " << e.what() << "\n";
    return 1;
  }
  std::printf("wrote %s: %lld × %lld pixels, %lld cells of %lld × %lld, %.2f MB\n", out.string().c_str(),
              (long long)canvas.width(), (long long)canvas.height(), (long long)(rows * cols), (long long)cell,
              (long long)cell, double(fs::file_size(out)) / 1e6);
  return 0;
}
