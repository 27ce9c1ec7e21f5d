// strata/data/dataset.hpp — the Dataset contract: random access by index, size(), get(i) giving
// a sample (an interleaved image and its label), classes() and class_names(); and idx_dataset,
// which makes MNIST / Fashion-MNIST data from idx.hpp (labelled_images) a Dataset.
#pragma once

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/data/idx.hpp"
#include "strata/image/image.hpp"

namespace strata::data {

// One labelled example. The image is owned (H×W×C interleaved), so a loader thread can augment
// it in place without touching the dataset.
template <class T>
struct sample {
  ::strata::image<T> image;
  std::int32_t label = 0;
};

// A Dataset is random-access so that a loader can shuffle, shard across workers and fetch
// samples from several threads:
//   D::pixel_type            the image's pixel type (uint8_t for decoded files, float for IDX)
//   d.size()                 number of samples, std::int64_t
//   d.get(i)                 sample<pixel_type> for 0 <= i < size(); const and safe to call from
//                            several threads at once; an i out of range throws index_error
//                            naming i and size(); a record that cannot be read throws
//                            data_error naming the file and i, never returns zeros
//   d.classes()              labels lie in [0, classes())
//   d.class_names()          classes() names, indexed by label (numbers where none are known)
template <class D>
concept Dataset = requires(const D& d, std::int64_t i) {
  typename D::pixel_type;
  { d.size() } -> std::convertible_to<std::int64_t>;
  { d.get(i) } -> std::same_as<sample<typename D::pixel_type>>;
  { d.classes() } -> std::convertible_to<std::int64_t>;
  { d.class_names() } -> std::convertible_to<const std::vector<std::string>&>;
};

// static_assert(check_dataset<D>()) says which requirement D misses, one message each, where a
// failed `Dataset<D>` alone only says that the concept is not satisfied.
template <class D>
consteval bool check_dataset() {
  static_assert(requires { typename D::pixel_type; }, "Dataset: D needs a member type pixel_type");
  static_assert(requires(const D& d) {
    { d.size() } -> std::convertible_to<std::int64_t>;
  }, "Dataset: D needs size() const returning the sample count (std::int64_t)");
  if constexpr (requires { typename D::pixel_type; })
    static_assert(requires(const D& d, std::int64_t i) {
      { d.get(i) } -> std::same_as<sample<typename D::pixel_type>>;
    }, "Dataset: D needs get(std::int64_t) const returning sample<D::pixel_type>");
  static_assert(requires(const D& d) {
    { d.classes() } -> std::convertible_to<std::int64_t>;
  }, "Dataset: D needs classes() const returning the class count (std::int64_t)");
  static_assert(requires(const D& d) {
    { d.class_names() } -> std::convertible_to<const std::vector<std::string>&>;
  }, "Dataset: D needs class_names() const returning const std::vector<std::string>&");
  return true;
}

namespace detail {

// "<what>: index 12 is out of range for a dataset of 10 samples".
inline void check_sample_index(std::int64_t i, std::int64_t size, const char* what) {
  if (i < 0 || i >= size)
    throw index_error(std::string(what) + ": index " + std::to_string(i) + " is out of range for a dataset of " +
                      std::to_string(size) + " samples");
}

// "0", "1", … for a dataset whose classes have no names.
inline std::vector<std::string> numbered_class_names(std::int64_t classes) {
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(classes));
  for (std::int64_t c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  return names;
}

}  // namespace detail

// labelled_images (N×C×H×W floats in [0, 1] and N labels) as a Dataset.
//
// Pixels are float by default: the images are already floats (scaled once, as torchvision's
// ToTensor does), so get(i) is a plain copy and a model sees exactly the values that training on
// the labelled_images tensors would give it. idx_dataset<std::uint8_t> serves pipelines whose
// augmentations work on bytes, at a quarter of the memory per sample; round(x · 255) recovers the
// file's byte exactly, so nothing is lost either way.
template <class T = float>
class idx_dataset {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, std::uint8_t>,
                "idx_dataset: pixel type must be float (as loaded) or std::uint8_t (the file's bytes)");

 public:
  using pixel_type = T;

  // `class_names` empty means unknown (named by number); otherwise one name per class.
  explicit idx_dataset(labelled_images data, std::vector<std::string> class_names = {})
      : data_(std::move(data)), names_(std::move(class_names)) {
    if (data_.images.extent(0) != data_.labels.size())
      throw shape_error("idx_dataset: " + std::to_string(data_.images.extent(0)) + " images but " +
                        std::to_string(data_.labels.size()) + " labels");
    if (data_.classes <= 0) throw error("idx_dataset: class count must be positive, got " + std::to_string(data_.classes));
    if (names_.empty()) names_ = detail::numbered_class_names(data_.classes);
    if (static_cast<std::int64_t>(names_.size()) != data_.classes)
      throw error("idx_dataset: " + std::to_string(names_.size()) + " class names for " +
                  std::to_string(data_.classes) + " classes");
  }

  std::int64_t size() const noexcept { return data_.labels.size(); }
  std::int64_t classes() const noexcept { return data_.classes; }
  const std::vector<std::string>& class_names() const noexcept { return names_; }
  std::int64_t height() const noexcept { return data_.images.extent(2); }
  std::int64_t width() const noexcept { return data_.images.extent(3); }
  std::int64_t channels() const noexcept { return data_.images.extent(1); }
  // The wrapped tensors, for code that wants whole batches without going through samples.
  const labelled_images& data() const noexcept { return data_; }

  std::int32_t label(std::int64_t i) const {
    detail::check_sample_index(i, size(), "idx_dataset::label");
    return data_.labels.data()[i];
  }

  sample<T> get(std::int64_t i) const {
    detail::check_sample_index(i, size(), "idx_dataset::get");
    const std::int64_t c = channels(), h = height(), w = width();
    const float* src = data_.images.data() + i * c * h * w;
    sample<T> s{::strata::image<T>(h, w, c), data_.labels.data()[i]};
    // The tensor is planar (C×H×W); samples are interleaved like every other dataset's.
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
          const float v = src[(ch * h + y) * w + x];
          if constexpr (std::is_same_v<T, float>)
            s.image(y, x, ch) = v;
          else
            s.image(y, x, ch) = pixel_traits<std::uint8_t>::from(double(v) * 255.0);
        }
    return s;
  }

 private:
  labelled_images data_;
  std::vector<std::string> names_;
};

idx_dataset(labelled_images) -> idx_dataset<float>;
idx_dataset(labelled_images, std::vector<std::string>) -> idx_dataset<float>;

// The Fashion-MNIST training or test set (see load_fashion_mnist) as a Dataset with its ten
// class names.
template <class T = float>
idx_dataset<T> fashion_mnist_dataset(const std::filesystem::path& dir, split which) {
  return idx_dataset<T>(load_fashion_mnist(dir, which),
                        std::vector<std::string>(fashion_mnist_classes.begin(), fashion_mnist_classes.end()));
}

static_assert(check_dataset<idx_dataset<float>>());
static_assert(check_dataset<idx_dataset<std::uint8_t>>());

}  // namespace strata::data
