// strata/core/bit_tensor.hpp — Tensor<binary, Rank>: a tensor of ±1 values packed 64 to a word
// along its last axis (bit set = −1, bit c of a row in word c/64 at position c%64, unused bits of
// a row's last word zero). Activations are [n, H, W, C] (channels last, so one pixel's channels
// are consecutive words) and filters [K, R, S, C]: the layout the XNOR-popcount kernels read.
// Element access reads and writes single bits; kernels take the words.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "strata/core/cpu_memory.hpp"
#include "strata/core/device_tags.hpp"
#include "strata/core/error.hpp"
#include "strata/core/shape.hpp"
#include "strata/core/tensor.hpp"  // the primary Tensor (which includes this header at its end)
#include "strata/numeric/binary.hpp"

namespace strata {

// Words that hold `bits` packed values.
constexpr std::int64_t packed_words(std::int64_t bits) noexcept { return (bits + 63) / 64; }

template <std::size_t Rank>
class Tensor<binary, Rank, cpu> {
  static_assert(Rank >= 1, "strata: a tensor has rank 1 or more");

 public:
  using element_type = binary;
  using value_type = binary;
  using device_type = cpu;
  static constexpr std::size_t rank = Rank;

  Tensor() = default;
  // All +1 (zero words).
  explicit Tensor(const Shape<Rank>& shape) : Tensor(uninitialized(shape)) { fill(binary{}); }
  template <std::integral... I>
    requires(sizeof...(I) == Rank)
  explicit Tensor(I... extents) : Tensor(Shape<Rank>{extents...}) {}

  // Words left as allocated (callers overwrite whole rows, tail bits included).
  static Tensor uninitialized(const Shape<Rank>& shape) {
    for (std::size_t a = 0; a < Rank; ++a)
      if (shape[a] < 0) throw shape_error("Tensor<binary>: negative extent in " + shape.to_string());
    Tensor t;
    t.shape_ = shape;
    t.words_ = detail::cpu_allocate<std::uint64_t>(t.word_count());
    return t;
  }

  Tensor(Tensor&& other) noexcept : words_(std::exchange(other.words_, nullptr)), shape_(std::exchange(other.shape_, {})) {}
  Tensor& operator=(Tensor&& other) noexcept {
    if (this != &other) {
      detail::cpu_deallocate(words_);
      words_ = std::exchange(other.words_, nullptr);
      shape_ = std::exchange(other.shape_, {});
    }
    return *this;
  }
  Tensor(const Tensor&) = delete;  // copies are explicit: clone()
  Tensor& operator=(const Tensor&) = delete;
  ~Tensor() { detail::cpu_deallocate(words_); }

  Tensor clone() const {
    Tensor t = uninitialized(shape_);
    detail::cpu_copy(words_, t.words_, word_count());
    return t;
  }

  const Shape<Rank>& shape() const noexcept { return shape_; }
  std::int64_t extent(std::size_t axis) const noexcept { return shape_[axis]; }
  std::int64_t size() const noexcept { return shape_.elements(); }  // values, not words
  // Values per row (the packed last axis), words per row, rows (the other axes together).
  std::int64_t row_bits() const noexcept { return shape_[Rank - 1]; }
  std::int64_t words_per_row() const noexcept { return packed_words(row_bits()); }
  std::int64_t rows() const noexcept {
    std::int64_t r = 1;
    for (std::size_t a = 0; a + 1 < Rank; ++a) r *= shape_[a];
    return r;
  }
  std::int64_t word_count() const noexcept { return rows() * words_per_row(); }
  std::int64_t bytes() const noexcept { return word_count() * std::int64_t(sizeof(std::uint64_t)); }

  std::uint64_t* words() noexcept { return words_; }
  const std::uint64_t* words() const noexcept { return words_; }
  std::uint64_t* row(std::int64_t r) noexcept { return words_ + r * words_per_row(); }
  const std::uint64_t* row(std::int64_t r) const noexcept { return words_ + r * words_per_row(); }

  void fill(binary v) noexcept {
    const std::int64_t w = words_per_row(), bits = row_bits();
    const std::uint64_t full = v.bit() ? ~std::uint64_t{0} : 0;
    const std::uint64_t last = bits % 64 == 0 ? full : full & ((std::uint64_t{1} << (bits % 64)) - 1);
    for (std::int64_t r = 0; r < rows(); ++r) {
      std::uint64_t* p = row(r);
      for (std::int64_t i = 0; i + 1 < w; ++i) p[i] = full;
      if (w > 0) p[w - 1] = last;
    }
  }

  // One value, by full index (always bounds-checked: bit access is not a hot path).
  template <std::integral... I>
    requires(sizeof...(I) == Rank)
  binary operator()(I... index) const {
    const auto [word, bit] = locate({static_cast<std::int64_t>(index)...});
    return binary::from_bit((words_[word] >> bit) & 1);
  }
  template <std::integral... I>
    requires(sizeof...(I) == Rank)
  void set(binary v, I... index) {
    const auto [word, bit] = locate({static_cast<std::int64_t>(index)...});
    const std::uint64_t mask = std::uint64_t{1} << bit;
    words_[word] = v.bit() ? words_[word] | mask : words_[word] & ~mask;
  }

 private:
  std::pair<std::int64_t, int> locate(const std::array<std::int64_t, Rank>& idx) const {
    std::int64_t r = 0;
    for (std::size_t a = 0; a < Rank; ++a) {
      if (idx[a] < 0 || idx[a] >= shape_[a]) {
        std::string s = "[";
        for (std::size_t b = 0; b < Rank; ++b) s += (b ? ", " : "") + std::to_string(idx[b]);
        throw index_error("Tensor<binary>: index " + s + "] is outside shape " + shape_.to_string());
      }
      if (a + 1 < Rank) r = r * shape_[a] + idx[a];
    }
    const std::int64_t c = idx[Rank - 1];
    return {r * words_per_row() + c / 64, int(c % 64)};
  }

  std::uint64_t* words_ = nullptr;
  Shape<Rank> shape_{};
};

}  // namespace strata
