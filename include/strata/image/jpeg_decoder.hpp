// strata/image/jpeg_decoder.hpp — decode_jpeg: JPEG files through libjpeg (Debian's libjpeg-turbo,
// the library Pillow decodes with, and with the same settings, so the pixels are Pillow's).
// decode_image sends every JPEG here: stb_image 2.27's JPEG decoder reads and shifts out of
// bounds on corrupt entropy-coded data (found by fuzz/image), which no check of a file can screen.
//
// Without libjpeg's header (libjpeg-dev) this header still compiles, and a JPEG is then an
// image_file_error saying what to install. Define STRATA_NO_LIBJPEG to leave libjpeg out.
#pragma once

#include <algorithm>
#include <csetjmp>
#include <cstdint>
#include <cstdio>  // jpeglib.h uses FILE and size_t without including their headers
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <type_traits>

#include "strata/image/image.hpp"
#include "strata/image/image_file_error.hpp"
#include "strata/image/image_limits.hpp"

#if !defined(STRATA_NO_LIBJPEG) && __has_include(<jpeglib.h>)
#include <jpeglib.h>
#define STRATA_HAS_LIBJPEG 1
#else
#define STRATA_HAS_LIBJPEG 0
#endif

namespace strata {
namespace detail {

// What stb_image and libjpeg take for a JPEG: FF, any number of fill bytes FF, then SOI (D8).
// libjpeg refuses the fill bytes with a clear error; stb would decode the file.
inline bool looks_like_jpeg(std::span<const std::uint8_t> b) noexcept {
  std::size_t i = 1;
  if (b.empty() || b[0] != 0xFF) return false;
  while (i < b.size() && b[i] == 0xFF) ++i;
  return i < b.size() && b[i] == 0xD8;
}

// Pillow's MULDIV255: a × b / 255, rounded, in integers.
constexpr int multiply_255ths(int a, int b) noexcept {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

#if STRATA_HAS_LIBJPEG

// A progressive JPEG may hold any number of scans, each a pass over the whole image, so a small
// file could keep the decoder busy for minutes. libjpeg-turbo's own TurboJPEG API limits them to
// 500 when asked (TJFLAG_LIMITSCANS); so does strata, always.
inline constexpr int max_jpeg_scans = 500;

// Everything libjpeg and the callbacks touch lives here, in memory that setjmp/longjmp leave
// alone, and nothing in decode_jpeg_raw has a destructor for a longjmp to skip.
struct jpeg_session {
  jpeg_decompress_struct info{};
  jpeg_error_mgr errors{};
  jpeg_progress_mgr progress{};
  std::jmp_buf jump{};
  char message[JMSG_LENGTH_MAX + 64]{};
  // In: the limits and whether grey is wanted. Out: the header's size and the decoded pixels.
  image_limits limits;
  bool want_grey = false;
  std::int64_t width = 0, height = 0;
  int components = 0;          // of the decoded pixels: 1 grey, 3 RGB, 4 CMYK (Adobe-inverted)
  unsigned char* pixels = nullptr;  // std::malloc'ed; the caller frees it
};

extern "C" inline void strata_jpeg_error_exit(j_common_ptr info) {
  auto* s = static_cast<jpeg_session*>(info->client_data);
  (*info->err->format_message)(info, s->message);
  std::longjmp(s->jump, 1);
}

// Warnings (corrupt data libjpeg can step over, as Pillow does) are not printed.
extern "C" inline void strata_jpeg_output_message(j_common_ptr) {}

extern "C" inline void strata_jpeg_progress(j_common_ptr info) {
  auto* d = reinterpret_cast<j_decompress_ptr>(info);
  if (d->input_scan_number > max_jpeg_scans) {
    auto* s = static_cast<jpeg_session*>(info->client_data);
    std::snprintf(s->message, sizeof s->message, "more than %d scans (a progressive JPEG that would take too long)",
                  max_jpeg_scans);
    std::longjmp(s->jump, 1);
  }
}

enum class jpeg_outcome { decoded, failed, past_limits, out_of_memory };

// The C-style core: returns how it went, with s.message set on failure. setjmp is here, so this
// function holds no object with a destructor.
inline jpeg_outcome decode_jpeg_raw(jpeg_session& s, const std::uint8_t* data, std::size_t size) {
  s.info.err = jpeg_std_error(&s.errors);
  s.errors.error_exit = strata_jpeg_error_exit;
  s.errors.output_message = strata_jpeg_output_message;
  s.info.client_data = &s;  // kept by jpeg_create_decompress
  if (setjmp(s.jump)) {
    jpeg_destroy_decompress(&s.info);
    return jpeg_outcome::failed;
  }
  jpeg_create_decompress(&s.info);
  s.progress.progress_monitor = strata_jpeg_progress;
  s.info.progress = &s.progress;
  // Bounds the whole-image coefficient buffers of progressive and multi-scan files: 2 bytes per
  // coefficient, at most 4 components, plus room for the rest.
  s.info.mem->max_memory_to_use = static_cast<long>(std::min<std::int64_t>(
      s.limits.max_pixels, std::int64_t{1} << 40) * 8 + (std::int64_t{64} << 20));
  jpeg_mem_src(&s.info, data, static_cast<unsigned long>(size));
  jpeg_read_header(&s.info, TRUE);
  s.width = s.info.image_width;
  s.height = s.info.image_height;
  if (!image_size_problem(s.width, s.height, s.limits).empty()) {
    jpeg_destroy_decompress(&s.info);
    return jpeg_outcome::past_limits;
  }
  switch (s.info.jpeg_color_space) {
    case JCS_GRAYSCALE: s.info.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: s.info.out_color_space = JCS_CMYK; break;
    default: s.info.out_color_space = s.want_grey ? JCS_GRAYSCALE : JCS_RGB; break;
  }
  // Pillow's settings, which are libjpeg's defaults: the accurate integer IDCT (JDCT_ISLOW) and
  // smooth chroma upsampling; stated so a change of defaults cannot change the pixels.
  s.info.dct_method = JDCT_ISLOW;
  s.info.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&s.info);
  s.components = s.info.output_components;
  const std::size_t row_bytes = std::size_t(s.info.output_width) * std::size_t(s.components);
  s.pixels = static_cast<unsigned char*>(std::malloc(row_bytes * s.info.output_height));
  if (!s.pixels) {
    jpeg_destroy_decompress(&s.info);
    return jpeg_outcome::out_of_memory;
  }
  JSAMPROW rows[16];
  while (s.info.output_scanline < s.info.output_height) {
    const JDIMENSION first = s.info.output_scanline;
    const JDIMENSION count = std::min<JDIMENSION>(16, s.info.output_height - first);
    for (JDIMENSION r = 0; r < count; ++r) rows[r] = s.pixels + std::size_t(first + r) * row_bytes;
    jpeg_read_scanlines(&s.info, rows, count);
  }
  jpeg_finish_decompress(&s.info);
  jpeg_destroy_decompress(&s.info);
  return jpeg_outcome::decoded;
}

#endif  // STRATA_HAS_LIBJPEG

}  // namespace detail

// Decodes a JPEG held in memory into interleaved H×W×C pixels, as Pillow does: `channels` 0 keeps
// what the file stores (1 for grey, 3 for colour, CMYK converted to RGB as Pillow converts it);
// 1 gives the luma (Y) libjpeg decodes, 2 and 4 add an opaque alpha, 3 replicates grey. uint16_t
// scales by 257 (255 → 65535). Corrupt data libjpeg can step over decodes, as in Pillow; anything
// else, and a size past `limits` (from the header, before decoding), is an image_file_error.
// Safe to call from several threads at once.
template <class T = std::uint8_t>
image<T> decode_jpeg(std::span<const std::uint8_t> bytes, std::int64_t channels = 0,
                     const std::filesystem::path& file = "<memory>", const image_limits& limits = {}) {
  static_assert(std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::uint16_t>,
                "strata::decode_jpeg decodes to uint8_t or uint16_t pixels; convert with copy_pixels");
  if (channels < 0 || channels > 4)
    throw error("decode_jpeg: channels must be 0 (as stored) or 1 to 4, got " + std::to_string(channels));
#if STRATA_HAS_LIBJPEG
  auto session = std::make_unique<detail::jpeg_session>();
  session->limits = limits;
  session->want_grey = channels == 1 || channels == 2;
  const auto outcome = detail::decode_jpeg_raw(*session, bytes.data(), bytes.size());
  const std::unique_ptr<unsigned char, void (*)(void*)> owned(session->pixels, std::free);
  switch (outcome) {
    case detail::jpeg_outcome::failed:
      throw image_file_error(file, std::string("cannot decode JPEG: ") + session->message + " (libjpeg)");
    case detail::jpeg_outcome::past_limits:
      throw image_file_error(file, detail::image_size_problem(session->width, session->height, limits));
    case detail::jpeg_outcome::out_of_memory:
      throw image_file_error(file, "cannot decode JPEG: out of memory for " + std::to_string(session->width) + "×" +
                                       std::to_string(session->height) + " pixels");
    case detail::jpeg_outcome::decoded: break;
  }
  const std::int64_t h = session->height, w = session->width, decoded = session->components;
  const std::int64_t c = channels ? channels : (decoded == 1 ? 1 : 3);
  image<T> out(h, w, c);
  const unsigned char* in = owned.get();
  T* o = out.data();
  constexpr int scale = std::is_same_v<T, std::uint8_t> ? 1 : 257;
  for (std::int64_t p = 0; p < h * w; ++p, in += decoded, o += c) {
    int rgb[3];
    if (decoded == 4) {
      // Adobe's inverted CMYK, the form libjpeg writes and Pillow assumes ("CMYK;I"), converted as
      // Pillow's cmyk2rgb does: (255 − k′) − (255 − k′)·c′/255 with c′ = 255 − c, k′ = 255 − k.
      for (int k = 0; k < 3; ++k) rgb[k] = in[3] - detail::multiply_255ths(255 - in[k], in[3]);
    } else if (decoded == 3) {
      rgb[0] = in[0], rgb[1] = in[1], rgb[2] = in[2];
    } else {
      rgb[0] = rgb[1] = rgb[2] = in[0];
    }
    if (c <= 2) {
      // Grey was decoded as libjpeg's luma, except from CMYK: Pillow's ITU-R 601 luma of its RGB.
      o[0] = T(scale * (decoded == 1 ? in[0] : (rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16));
    } else {
      for (int k = 0; k < 3; ++k) o[k] = T(scale * rgb[k]);
    }
    if (c == 2 || c == 4) o[c - 1] = T(scale * 255);
  }
  return out;
#else
  (void)bytes;
  (void)limits;
  throw image_file_error(file, "cannot decode JPEG: strata was built without libjpeg (install libjpeg-dev; "
                               "stb_image 2.27's JPEG decoder is not used, it is unsafe on corrupt files)");
#endif
}

}  // namespace strata
