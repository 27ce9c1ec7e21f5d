// strata/data/idx_impl.hpp — the definitions of data/idx.hpp's functions (zlib is only needed
// here). idx.hpp includes this file in header-only mode; in precompiled mode (config.hpp)
// strata_precompiled compiles it once (src/data.cpp) and users only see declarations.
#pragma once

#include <zlib.h>

#include "strata/data/idx.hpp"

namespace strata::data {

namespace detail {

inline std::string hex_byte(std::uint8_t b) {
  static constexpr char digits[] = "0123456789abcdef";
  return std::string("0x") + digits[b >> 4] + digits[b & 0xF];
}

inline std::string dims_string(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}


// One IDX file opened for sequential reading, plain or gzip (detected by the magic bytes 1f 8b,
// not by the name, so a renamed file still reads). Reads go straight into the caller's buffer in
// large chunks.
class idx_stream {
 public:
  explicit idx_stream(const std::filesystem::path& file) : file_(file) {
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) throw data_error(file, "cannot open: it is a directory");
    raw_ = std::fopen(file.string().c_str(), "rb");
    if (!raw_) {
      const int err = errno;
      if (err == ENOENT)
        throw data_error(file, "cannot open: no such file in directory " + searched_directory(file));
      throw data_error(file, std::string("cannot open: ") + std::strerror(err));
    }
    unsigned char magic[2] = {0, 0};
    const std::size_t got = std::fread(magic, 1, 2, raw_);
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
      std::fclose(std::exchange(raw_, nullptr));
      gz_ = gzopen(file.string().c_str(), "rb");
      if (!gz_) throw data_error(file, std::string("cannot open as gzip: ") + std::strerror(errno));
      gzbuffer(gz_, 1u << 18);  // the default 8 KiB costs a syscall per 8 KiB of compressed input
    } else {
      std::rewind(raw_);
      raw_size_ = static_cast<std::int64_t>(std::filesystem::file_size(file, ec));
      if (ec) raw_size_ = -1;
    }
  }
  idx_stream(const idx_stream&) = delete;
  idx_stream& operator=(const idx_stream&) = delete;
  ~idx_stream() {
    if (raw_) std::fclose(raw_);
    if (gz_) gzclose(gz_);
  }

  bool gzip() const noexcept { return gz_ != nullptr; }
  // Size of a plain file in bytes (-1 for gzip, whose decompressed size is known only by reading).
  std::int64_t raw_size() const noexcept { return raw_size_; }

  // Reads up to n bytes; fewer only at the end of the data. A read or decompression error throws.
  std::int64_t read(void* dst, std::int64_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    std::int64_t total = 0;
    while (total < n) {
      // gzread takes an unsigned int and returns an int: stay well inside both.
      const std::int64_t chunk = std::min<std::int64_t>(n - total, std::int64_t{1} << 30);
      std::int64_t got;
      if (gz_) {
        const int r = gzread(gz_, out + total, static_cast<unsigned>(chunk));
        if (r < 0) throw data_error(file_, "gzip data is corrupt: " + gz_message());
        got = r;
      } else {
        got = static_cast<std::int64_t>(std::fread(out + total, 1, static_cast<std::size_t>(chunk), raw_));
        if (got < chunk && std::ferror(raw_)) throw data_error(file_, std::string("read failed: ") + std::strerror(errno));
      }
      if (got == 0) break;
      total += got;
    }
    return total;
  }

  // True when a gzip stream ended before its end-of-stream marker and checksum: zlib then returns
  // the data it could decompress and records Z_BUF_ERROR ("unexpected end of file") instead of
  // failing the read, so it has to be asked.
  bool gzip_cut_short() const {
    if (!gz_) return false;
    int errnum = Z_OK;
    gzerror(gz_, &errnum);
    return errnum == Z_BUF_ERROR;
  }

  // Counts (and discards) whatever is left, to report trailing bytes with their number.
  std::int64_t drain() {
    std::vector<unsigned char> sink(std::size_t{1} << 16);
    std::int64_t total = 0;
    for (;;) {
      const std::int64_t got = read(sink.data(), static_cast<std::int64_t>(sink.size()));
      total += got;
      if (got < static_cast<std::int64_t>(sink.size())) return total;
    }
  }

 private:
  std::string gz_message() const {
    int errnum = Z_OK;
    const char* msg = gzerror(gz_, &errnum);
    if (errnum == Z_ERRNO) return std::strerror(errno);
    return msg ? msg : "unknown zlib error";
  }

  std::filesystem::path file_;
  std::FILE* raw_ = nullptr;
  gzFile gz_ = nullptr;
  std::int64_t raw_size_ = -1;
};

inline std::uint32_t big_endian_u32(const unsigned char* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

inline std::string cut_short_message(std::int64_t promised, std::int64_t found) {
  return "truncated: the gzip stream ends in the middle of its compressed data (header promises " +
         std::to_string(promised) + " bytes of data, found " + std::to_string(found) + ")";
}

inline constexpr const char* header_cut_short_message =
    "truncated: the gzip stream ends in the middle of its compressed data, inside the IDX header";

}  // namespace detail

// Reads a whole IDX file: magic 00 00 <type> <rank>, rank big-endian uint32 dimensions, then
// exactly product(dims) elements. Anything else (bad magic, unknown type, a zero dimension, a
// payload shorter or longer than the header says, a gzip stream cut short) throws data_error.
STRATA_FUNC idx_array read_idx(const std::filesystem::path& file) {
  detail::idx_stream in(file);
  const auto where = [&] { return in.gzip() ? " (after gzip decompression)" : ""; };

  unsigned char magic[4];
  if (const auto got = in.read(magic, 4); got < 4) {
    if (in.gzip_cut_short()) throw data_error(file, detail::header_cut_short_message);
    throw data_error(file, "truncated: the file ends inside the IDX header (4 magic bytes expected, found " +
                               std::to_string(got) + ")" + where());
  }
  if (magic[0] != 0 || magic[1] != 0)
    throw data_error(file, "not an IDX file: magic bytes are " + detail::hex_byte(magic[0]) + " " +
                               detail::hex_byte(magic[1]) + " " + detail::hex_byte(magic[2]) + " " +
                               detail::hex_byte(magic[3]) + ", expected 0x00 0x00 <type> <rank>" + where());

  idx_array a;
  a.type_code = magic[2];
  const std::int64_t elem = idx_element_size(a.type_code);
  if (elem == 0)
    throw data_error(file, "unknown IDX element type " + detail::hex_byte(a.type_code) +
                               " (known: 0x08 unsigned byte, 0x09 signed byte, 0x0b int16, 0x0c int32, "
                               "0x0d float32, 0x0e float64)");
  const int rank = magic[3];
  if (rank == 0) throw data_error(file, "IDX header gives rank 0; an IDX array needs at least one dimension");

  std::array<unsigned char, 4 * 255> dim_bytes;
  const std::int64_t dim_len = 4 * rank;
  if (const auto got = in.read(dim_bytes.data(), dim_len); got < dim_len) {
    if (in.gzip_cut_short()) throw data_error(file, detail::header_cut_short_message);
    throw data_error(file, "truncated: the file ends inside the IDX header (" + std::to_string(rank) +
                               " dimensions need " + std::to_string(dim_len) + " bytes, found " +
                               std::to_string(got) + ")" + where());
  }
  // Bounded so that a corrupted header cannot make the size overflow or ask for absurd memory.
  constexpr std::int64_t max_payload = std::int64_t{1} << 40;
  std::int64_t payload = elem;
  for (int i = 0; i < rank; ++i) {
    const std::int64_t d = detail::big_endian_u32(dim_bytes.data() + 4 * i);
    a.dims.push_back(d);
    if (d == 0)
      throw data_error(file, "dimension " + std::to_string(i) + " of " + std::to_string(rank) +
                                 " is 0 in the IDX header; every dimension must be positive");
    if (payload > max_payload / d)
      throw data_error(file, "IDX header promises more than 2^40 bytes of data (dimensions start " +
                                 detail::dims_string(a.dims) + "); the header is corrupt");
    payload *= d;
  }
  const std::int64_t header = 4 + dim_len;
  const auto shape_note = [&] {
    return " (" + std::string(idx_type_name(a.type_code)) + " " + detail::dims_string(a.dims) + ")";
  };

  if (!in.gzip()) {
    // The size is known: check it before allocating, so a corrupt header costs nothing.
    const std::int64_t found = in.raw_size() - header;
    if (in.raw_size() >= 0 && found < payload)
      throw data_error(file, "truncated: header promises " + std::to_string(payload) + " bytes of data" +
                                 shape_note() + ", found " + std::to_string(found));
    if (in.raw_size() >= 0 && found > payload)
      throw data_error(file, "trailing bytes: header promises " + std::to_string(payload) + " bytes of data" +
                                 shape_note() + ", found " + std::to_string(found) + " (" +
                                 std::to_string(found - payload) + " extra)");
    a.bytes.resize(static_cast<std::size_t>(payload));
    if (const auto got = in.read(a.bytes.data(), payload); got < payload)  // the file shrank under us
      throw data_error(file, "truncated: header promises " + std::to_string(payload) + " bytes of data" +
                                 shape_note() + ", found " + std::to_string(got));
    if (const auto extra = in.drain(); extra > 0)
      throw data_error(file, "trailing bytes: " + std::to_string(extra) + " bytes after the " +
                                 std::to_string(payload) + " bytes of data the header promises");
  } else {
    // The decompressed size is unknown until read, so the buffer grows with the data instead of
    // trusting the header's promise up front.
    std::int64_t have = 0;
    while (have < payload) {
      const std::int64_t want = std::min(payload, std::max<std::int64_t>(2 * have, std::int64_t{1} << 20));
      a.bytes.resize(static_cast<std::size_t>(want));
      const std::int64_t got = in.read(a.bytes.data() + have, want - have);
      have += got;
      if (have < want) break;
    }
    if (have < payload) {
      if (in.gzip_cut_short()) throw data_error(file, detail::cut_short_message(payload, have));
      throw data_error(file, "truncated: header promises " + std::to_string(payload) + " bytes of data" +
                                 shape_note() + ", found " + std::to_string(have) + " (after gzip decompression)");
    }
    const std::int64_t extra = in.drain();
    // All data present but the stream's end (or its CRC trailer) missing: still a cut download.
    if (in.gzip_cut_short())
      throw data_error(file, "truncated: the gzip stream ends before its end marker and checksum "
                             "(the data may be incomplete or corrupt)");
    if (extra > 0)
      throw data_error(file, "trailing bytes: header promises " + std::to_string(payload) + " bytes of data" +
                                 shape_note() + ", found " + std::to_string(payload + extra) + " (" +
                                 std::to_string(extra) + " extra, after gzip decompression)");
  }

  if (elem > 1 && std::endian::native == std::endian::little) {
    auto* p = a.bytes.data();
    for (std::int64_t i = 0; i < payload; i += elem)
      for (std::int64_t lo = 0, hi = elem - 1; lo < hi; ++lo, --hi) std::swap(p[i + lo], p[i + hi]);
  }
  return a;
}


// Loads an image file (unsigned bytes, N×H×W) and its label file (unsigned bytes, N). Pixels are
// scaled as torchvision's ToTensor does, x / 255.0f, so models and statistics carry over exactly.
// Throws data_error for a wrong type or rank, differing counts (naming both files and counts) or
// a label not below `classes` (naming the label file and the record).
STRATA_FUNC labelled_images load_idx_images(const std::filesystem::path& images, const std::filesystem::path& labels,
                                            std::int64_t classes) {
  if (classes <= 0) throw error("load_idx_images: classes must be positive, got " + std::to_string(classes));
  const idx_array lab = read_idx(labels);
  if (lab.type_code != idx_ubyte)
    throw data_error(labels, "labels must be unsigned bytes (IDX type 0x08), found " + detail::hex_byte(lab.type_code) +
                                 " (" + std::string(idx_type_name(lab.type_code)) + ")");
  if (lab.dims.size() != 1)
    throw data_error(labels, "labels must have rank 1 (count), found rank " + std::to_string(lab.dims.size()) +
                                 " " + detail::dims_string(lab.dims));
  const idx_array img = read_idx(images);
  if (img.type_code != idx_ubyte)
    throw data_error(images, "images must be unsigned bytes (IDX type 0x08), found " + detail::hex_byte(img.type_code) +
                                 " (" + std::string(idx_type_name(img.type_code)) + ")");
  if (img.dims.size() != 3)
    throw data_error(images, "images must have rank 3 (count, rows, columns), found rank " +
                                 std::to_string(img.dims.size()) + " " + detail::dims_string(img.dims));
  const std::int64_t n = img.dims[0];
  if (lab.dims[0] != n)
    throw data_error(labels, "holds " + std::to_string(lab.dims[0]) + " labels but image file '" + images.string() +
                                 "' holds " + std::to_string(n) + " images");

  labelled_images out;
  out.classes = classes;
  out.labels = Tensor<std::int32_t, 1>::uninitialized(Shape<1>{n});
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t label = lab.bytes[static_cast<std::size_t>(i)];
    if (label >= classes)
      throw data_error(labels, "label " + std::to_string(label) + " is not below the class count " +
                                   std::to_string(classes), i);
    out.labels.data()[i] = static_cast<std::int32_t>(label);
  }

  out.images = Tensor<float, 4>::uninitialized(Shape<4>{n, std::int64_t{1}, img.dims[1], img.dims[2]});
  const std::uint8_t* STRATA_RESTRICT src = img.bytes.data();
  float* STRATA_RESTRICT dst = out.images.data();
  // Most of this loop's time is the first touch of the fresh tensor's pages; two threads and
  // vector divides (still exact: a correctly rounded divide per element) halve the rest.
  parallel_ranges(out.images.size(), [&](std::int64_t begin, std::int64_t end) {
    STRATA_SIMD for (std::int64_t i = begin; i < end; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
  });
  return out;
}

namespace detail {

// The plain name if present (no decompression), else the .gz one; neither is an error listing both.
inline std::filesystem::path find_idx_file(const std::filesystem::path& dir, const std::string& name,
                                           const std::string& what) {
  std::error_code ec;
  for (const auto& candidate : {name, name + ".gz"})
    if (std::filesystem::is_regular_file(dir / candidate, ec)) return dir / candidate;
  std::string msg = "not found: no " + what + " in directory " + searched_directory(dir / name) + "; looked for '" +
                    name + "' and '" + name + ".gz'";
  if (dir == default_fashion_mnist_dir) msg += " (Debian's dataset-fashion-mnist package installs them there)";
  throw data_error(dir / name, msg);
}

}  // namespace detail

// Loads the Fashion-MNIST training (60000) or test (10000) set from `dir`, which holds the
// original file names, gzip-compressed or not.
STRATA_FUNC labelled_images load_fashion_mnist(const std::filesystem::path& dir, split which) {
  const std::string prefix = which == split::train ? "train" : "t10k";
  const std::string set = which == split::train ? "Fashion-MNIST training " : "Fashion-MNIST test ";
  const auto images = detail::find_idx_file(dir, prefix + "-images-idx3-ubyte", set + "images");
  const auto labels = detail::find_idx_file(dir, prefix + "-labels-idx1-ubyte", set + "labels");
  return load_idx_images(images, labels, 10);
}

}  // namespace strata::data
