// strata/augment/color_jitter.hpp — color_jitter: random brightness, contrast, saturation and hue
// with torchvision's ColorJitter semantics (factor ranges, luma weights, HSV hue rotation, the four
// applied in a random order), for uint8_t, uint16_t and float pixels.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/augment/augmentation.hpp"
#include "strata/config.hpp"
#include "strata/core/error.hpp"
#include "strata/image/image.hpp"

namespace strata::augment {

// Brightness and contrast work on any channel count (contrast then blends with the mean of all
// values; with one channel that is torchvision's grey mean); saturation and hue need RGB.
// Each step clamps to [0, full range] as torchvision does, but intermediate values stay in float
// rather than being truncated to the pixel type between steps: one rounding, at the end.
class color_jitter {
 public:
  enum class step : std::uint8_t { brightness, contrast, saturation, hue };

  struct params {
    float brightness = 1, contrast = 1, saturation = 1;  // blend factors; 1 leaves the image as it is
    float hue = 0;                                       // shift as a fraction of the colour circle
    std::array<step, 4> order{step::brightness, step::contrast, step::saturation, step::hue};
  };

  // Factors are drawn from [max(0, 1 − v), 1 + v]; the hue shift from [−hue, hue], hue ≤ ½.
  explicit color_jitter(double brightness = 0, double contrast = 0, double saturation = 0, double hue = 0)
      : brightness_(brightness), contrast_(contrast), saturation_(saturation), hue_(hue) {
    auto check = [](double v, const char* name) {
      if (!(v >= 0))
        throw error(std::string("color_jitter: ") + name + " strength must be ≥ 0, got " + std::to_string(v));
    };
    check(brightness, "brightness"), check(contrast, "contrast"), check(saturation, "saturation"), check(hue, "hue");
    if (hue > 0.5) throw error("color_jitter: hue strength must be ≤ 0.5 (half the colour circle), got " + std::to_string(hue));
  }

  double brightness() const noexcept { return brightness_; }
  double contrast() const noexcept { return contrast_; }
  double saturation() const noexcept { return saturation_; }
  double hue() const noexcept { return hue_; }

  params sample(random_engine& rng, image_size) const {
    params p;
    for (std::uint32_t i = 3; i > 0; --i) std::swap(p.order[i], p.order[rng.below(i + 1)]);  // Fisher–Yates
    // A zero strength draws nothing, so adding a step to a jitter does not reshuffle the others' draws.
    auto factor = [&](double v) { return v > 0 ? rng.uniform(float(std::max(0.0, 1 - v)), float(1 + v)) : 1.0f; };
    p.brightness = factor(brightness_);
    p.contrast = factor(contrast_);
    p.saturation = factor(saturation_);
    p.hue = hue_ > 0 ? rng.uniform(float(-hue_), float(hue_)) : 0.0f;
    return p;
  }

  image_size output_size(const params&, image_size in) const noexcept { return in; }
  point map(const params&, image_size, point q) const noexcept { return q; }

  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    const std::int64_t channels = in.channels();
    const bool colour = saturation_ > 0 || hue_ > 0 || p.saturation != 1 || p.hue != 0;
    if (colour && channels != 3)
      throw shape_error("color_jitter: saturation and hue need 3 (RGB) channels, the image has " +
                        std::to_string(channels));
    out.reshape(in.height(), in.width(), channels);
    if (in.empty()) return;

    // Identity steps are skipped: the pipeline then costs only what is really applied.
    std::array<step, 4> steps{};
    int n = 0, contrast_at = -1;
    for (step s : p.order) {
      const bool active = (s == step::brightness && p.brightness != 1) || (s == step::contrast && p.contrast != 1) ||
                          (s == step::saturation && p.saturation != 1) || (s == step::hue && p.hue != 0);
      if (!active) continue;
      if (s == step::contrast) contrast_at = n;
      steps[std::size_t(n++)] = s;
    }

    pipeline<T> run{in, p, steps.data(), n};
    // Contrast blends with the mean grey of the image as it is when contrast's turn comes, so
    // the steps before it are run once, read-only, to measure that mean.
    if (contrast_at >= 0) run.mean = run.measure_mean(contrast_at);
    run.transform(out);
  }

 private:
  template <class T>
  struct pipeline {
    // Pixels are processed in chunks of `chunk` held as float planes (one per channel, plus one
    // for grey), so every step is a fixed-length loop that vectorises and the chunk stays in L1.
    // Steps always run over the whole chunk: the stale tail of a short chunk costs less than
    // the epilogues a variable trip count would need, and is never stored.
    static constexpr std::int64_t chunk = 256;

    image_view<const T> in;
    const params& p;
    const step* steps;
    int count;
    float mean = 0;
    std::vector<float> buffer = std::vector<float>(std::size_t(chunk * (in.channels() + 1)));

    float* plane(std::int64_t c) { return buffer.data() + c * chunk; }

    // Calls f(first pixel, pixel index in the output, length) for each chunk. Rows that follow
    // each other in memory (any interleaved image) are one run, so a 224-wide image fills whole
    // chunks instead of one short chunk per row.
    template <class F>
    void for_each_chunk(F&& f) const {
      const std::int64_t h = in.height(), w = in.width(), xs = in.col_stride();
      const bool contiguous_rows = in.row_stride() == w * xs;
      const std::int64_t runs = contiguous_rows ? 1 : h, run = contiguous_rows ? h * w : w;
      for (std::int64_t r = 0; r < runs; ++r)
        for (std::int64_t i = 0; i < run; i += chunk)
          f(in.data() + r * in.row_stride() + i * xs, r * run + i, std::min(chunk, run - i));
    }

    void load(const T* src, std::int64_t len) {
      const std::int64_t channels = in.channels(), cs = in.channel_stride(), xs = in.col_stride();
      if (channels == 3 && cs == 1 && xs == 3) {
        float *r = plane(0), *g = plane(1), *b = plane(2);
        STRATA_SIMD
        for (std::int64_t i = 0; i < len; ++i) r[i] = float(src[3 * i]), g[i] = float(src[3 * i + 1]), b[i] = float(src[3 * i + 2]);
        return;
      }
      for (std::int64_t c = 0; c < channels; ++c) {
        float* d = plane(c);
        const T* s = src + c * cs;
        STRATA_SIMD
        for (std::int64_t i = 0; i < len; ++i) d[i] = float(s[i * xs]);
      }
    }

    static float clamp(float v) { return std::min(std::max(v, 0.0f), float(pixel_traits<T>::max)); }

    void run_steps(int first, int last) {
      const std::int64_t channels = in.channels();
      for (int k = first; k < last; ++k) {
        switch (steps[k]) {
          case step::brightness: {  // blend with black
            const float f = p.brightness;
            for (std::int64_t c = 0; c < channels; ++c) {
              float* v = plane(c);
              STRATA_SIMD
              for (std::int64_t i = 0; i < chunk; ++i) v[i] = clamp(f * v[i]);
            }
            break;
          }
          case step::contrast: {  // blend with the image's mean grey
            const float f = p.contrast, m = (1 - f) * mean;
            for (std::int64_t c = 0; c < channels; ++c) {
              float* v = plane(c);
              STRATA_SIMD
              for (std::int64_t i = 0; i < chunk; ++i) v[i] = clamp(f * v[i] + m);
            }
            break;
          }
          case step::saturation: {  // blend with the pixel's own grey
            const float f = p.saturation, g1 = 1 - f;
            float *r = plane(0), *g = plane(1), *b = plane(2);
            STRATA_SIMD
            for (std::int64_t i = 0; i < chunk; ++i) {
              const float grey = g1 * (0.299f * r[i] + 0.587f * g[i] + 0.114f * b[i]);
              r[i] = clamp(f * r[i] + grey), g[i] = clamp(f * g[i] + grey), b[i] = clamp(f * b[i] + grey);
            }
            break;
          }
          case step::hue: rotate_hue(); break;
        }
      }
    }

    // HSV hue rotation without leaving RGB: value (max) and chroma (max − min) are kept, the hue
    // H ∈ [0, 6) sectors moves by 6·shift, and channel n ∈ {R 5, G 3, B 1} becomes
    // max − chroma·clamp(min(k, 4 − k), 0, 1) with k = (n + H) mod 6 — the branch-free form of
    // torchvision's _hsv2rgb. The shift is reduced to [0, 6) first, so k = n + H + shift lies in
    // [0, 16] (H ∈ [−1, 5)).
    void rotate_hue() {
      const float shift = 6 * (p.hue - std::floor(p.hue));
      float *r = plane(0), *g = plane(1), *b = plane(2);
      STRATA_SIMD
      for (std::int64_t i = 0; i < chunk; ++i) {
        const float R = r[i], G = g[i], B = b[i];
        const float hi = std::max(R, std::max(G, B)), lo = std::min(R, std::min(G, B)), chroma = hi - lo;
        const float inv = 1.0f / std::max(chroma, 1e-30f);  // chroma 0: any hue, every channel is hi
        // `hi` is one of R, G, B, so equal bits tell which one it is; k ∈ [0, 16] wraps to
        // [0, 6) by truncation. (GCC still keeps this loop scalar under the default
        // -ftrapping-math; with -fno-trapping-math it vectorises.)
        const float from_r = (G - B) * inv, from_g = 2 + (B - R) * inv, from_b = 4 + (R - G) * inv;
        const std::int32_t hi_bits = std::bit_cast<std::int32_t>(hi);
        const float h = (hi_bits == std::bit_cast<std::int32_t>(R)   ? from_r
                         : hi_bits == std::bit_cast<std::int32_t>(G) ? from_g
                                                                     : from_b) + shift;
        auto wrap = [](float k) { return k - 6 * float(std::int32_t(k * (1.0f / 6))); };
        const float kr = wrap(5 + h), kg = wrap(3 + h), kb = wrap(1 + h);
        r[i] = hi - chroma * std::min(std::max(std::min(kr, 4 - kr), 0.0f), 1.0f);
        g[i] = hi - chroma * std::min(std::max(std::min(kg, 4 - kg), 0.0f), 1.0f);
        b[i] = hi - chroma * std::min(std::max(std::min(kb, 4 - kb), 0.0f), 1.0f);
      }
    }

    float measure_mean(int steps_before) {
      const std::int64_t channels = in.channels();
      float* grey = plane(channels);
      double sum = 0;
      for_each_chunk([&](const T* src, std::int64_t, std::int64_t len) {
        load(src, len);
        run_steps(0, steps_before);
        if (channels == 3) {
          const float *r = plane(0), *g = plane(1), *b = plane(2);
          STRATA_SIMD
          for (std::int64_t i = 0; i < chunk; ++i) grey[i] = 0.299f * r[i] + 0.587f * g[i] + 0.114f * b[i];
        } else {
          std::fill(grey, grey + chunk, 0.0f);
          for (std::int64_t c = 0; c < channels; ++c) {
            const float* v = plane(c);
            STRATA_SIMD
            for (std::int64_t i = 0; i < chunk; ++i) grey[i] += v[i];
          }
        }
        // Eight float lanes within a chunk (≤ 32 terms each, vectorised), double across chunks.
        float lanes[8] = {};
        std::int64_t i = 0;
        for (; i + 8 <= len; i += 8)
          for (int j = 0; j < 8; ++j) lanes[j] += grey[i + j];
        double partial = 0;
        for (; i < len; ++i) partial += grey[i];
        for (float l : lanes) partial += l;
        sum += partial;
      });
      const double values = double(in.height() * in.width() * (channels == 3 ? 1 : channels));
      return float(sum / values);
    }

    void transform(image<T>& out) {
      const std::int64_t channels = in.channels();
      for_each_chunk([&](const T* src, std::int64_t at, std::int64_t len) {
        load(src, len);
        run_steps(0, count);
        T* dst = out.data() + at * channels;
        for (std::int64_t c = 0; c < channels; ++c) {
          const float* s = plane(c);
          STRATA_SIMD
          for (std::int64_t i = 0; i < len; ++i) {
            if constexpr (std::is_floating_point_v<T>)
              dst[i * channels + c] = T(s[i]);
            else  // values are ≥ 0 here, so + ½ and truncation rounds half away from zero
              dst[i * channels + c] = T(clamp(s[i]) + 0.5f);
          }
        }
      });
    }
  };

  double brightness_, contrast_, saturation_, hue_;
};

static_assert(Augmentation<color_jitter>, "color_jitter must satisfy strata::augment::Augmentation");

}  // namespace strata::augment
