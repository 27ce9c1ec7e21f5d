// strata/train/event_file.hpp — training curves for TensorBoard without TensorFlow or protobuf:
// an event-file writer for scalars and histograms, with the record framing and a protobuf encoder
// of its own. Each record reaches the OS as it is written, so a crash loses at most that record.
//
// File: <log dir>/events.out.tfevents.<unix seconds>.<hostname>, a sequence of records, each
//   u64 length of data (little-endian) | u32 masked CRC-32C of those 8 bytes | data |
//   u32 masked CRC-32C of data
// with masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32). The mask exists because
// the CRC of bytes that embed their own CRC is degenerate; TensorFlow stores every CRC masked.
// Each record's data is a serialized tensorboard.Event; the first carries only file_version.
// The messages written, with the field numbers of tensorboard/compat/proto/{event,summary,
// histogram}.proto (the numbers are the format):
//   Event          { double wall_time = 1; int64 step = 2;
//                    oneof what { string file_version = 3; Summary summary = 5; } }
//   Summary        { repeated Value value = 1; }
//   Summary.Value  { string tag = 1; oneof value { float simple_value = 2; HistogramProto histo = 5; } }
//   HistogramProto { double min = 1; double max = 2; double num = 3; double sum = 4;
//                    double sum_squares = 5; repeated double bucket_limit = 6 [packed];
//                    repeated double bucket = 7 [packed]; }
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#if defined(_WIN32)
#include <io.h>  // _commit
#else
#include <unistd.h>  // fsync, gethostname
#endif

#include "strata/config.hpp"
#include "strata/core/error.hpp"
#include "strata/io/archive.hpp"  // io::crc32c, the one CRC-32C in strata (SSE4.2 where the CPU has it)

namespace strata::train {

// TensorBoard's own histogram summary (tensorboard.summary.histogram) uses 30 buckets by default.
inline constexpr int default_histogram_buckets = 30;

// One value of a histogram summary: statistics of the finite values and equal-width buckets.
// bucket_limits[i] is the right edge of bucket i (the event format's convention; TensorBoard takes
// min as the left edge of the first bucket). Buckets are closed-open except the last, which also
// holds max, as TensorBoard's own writer bins them.
struct histogram_summary {
  double min = 0, max = 0;
  double count = 0;  // finite values; equals the sum of bucket_counts
  double sum = 0, sum_squares = 0;
  std::vector<double> bucket_limits;
  std::vector<double> bucket_counts;
};

// Equal-width buckets between the smallest and largest value, rather than TensorFlow's fixed
// exponential ladder (~1,500 edges from 1e-12 to 1e20): TensorBoard re-bins for display anyway, and
// a few buckets spanning the actual range keep each record small. NaN and ±inf are left out (a
// histogram has no place for them; a diverging run shows in its loss). All values equal: one
// bucket. No finite value: count 0 and no buckets.
template <class T>
  requires std::same_as<T, float> || std::same_as<T, double>
histogram_summary histogram_of(std::span<const T> values, int buckets = default_histogram_buckets) {
  if (buckets < 1) throw error("histogram_of: buckets must be at least 1, got " + std::to_string(buckets));
  histogram_summary h;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const T v : values) {
    const double x = v;
    if (!std::isfinite(x)) continue;
    lo = x < lo ? x : lo;
    hi = x > hi ? x : hi;
    h.count += 1;
    h.sum += x;
    h.sum_squares += x * x;
  }
  if (h.count == 0) return h;
  h.min = lo;
  h.max = hi;
  if (lo == hi) {
    h.bucket_limits = {hi};
    h.bucket_counts = {h.count};
    return h;
  }
  const auto k = static_cast<std::size_t>(buckets);
  h.bucket_limits.resize(k);
  h.bucket_counts.assign(k, 0.0);
  // Edges as convex combinations and positions from halved values: neither overflows when the
  // range is wider than the largest double (lo near -DBL_MAX, hi near DBL_MAX).
  for (std::size_t i = 0; i + 1 < k; ++i) {
    const double f = static_cast<double>(i + 1) / static_cast<double>(k);
    h.bucket_limits[i] = lo * (1 - f) + hi * f;
  }
  h.bucket_limits[k - 1] = hi;
  const double half_range = hi * 0.5 - lo * 0.5;
  for (const T v : values) {
    const double x = v;
    if (!std::isfinite(x)) continue;
    const double f = (x * 0.5 - lo * 0.5) / half_range;  // in [0, 1]
    std::size_t i = std::min(static_cast<std::size_t>(f * static_cast<double>(k)), k - 1);
    // The position may round across an edge: settle on the bucket the written edges give, so a
    // reader re-binning by bucket_limits finds every value where it was counted.
    while (i + 1 < k && x >= h.bucket_limits[i]) ++i;
    while (i > 0 && x < h.bucket_limits[i - 1]) --i;
    h.bucket_counts[i] += 1;
  }
  return h;
}

// A named scalar, for writing several in one event (one record: all of a step's metrics or none).
struct scalar_value {
  std::string_view tag;
  double value = 0;
};

namespace detail {

// ---- protobuf wire format (developers.google.com/protocol-buffers/docs/encoding) ------------

enum class wire_type : std::uint32_t { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };

// Appends fields in protobuf's wire format. Every field given is written, zeros included: proto3
// readers treat an absent oneof member as unset, so simple_value = 0 must still be on the wire.
class protobuf_encoder {
 public:
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7F) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  void key(std::uint32_t field, wire_type type) { varint(std::uint64_t{field} << 3 | static_cast<std::uint32_t>(type)); }

  // int64 is a plain varint of the two's complement: a negative value takes ten bytes.
  void int64_field(std::uint32_t field, std::int64_t v) {
    key(field, wire_type::varint);
    varint(static_cast<std::uint64_t>(v));
  }
  void double_field(std::uint32_t field, double v) {
    key(field, wire_type::fixed64);
    fixed64(strata::bit_cast<std::uint64_t>(v));
  }
  void float_field(std::uint32_t field, float v) {
    key(field, wire_type::fixed32);
    fixed32(strata::bit_cast<std::uint32_t>(v));
  }
  // string, bytes and embedded messages share this encoding.
  void bytes_field(std::uint32_t field, std::string_view bytes) {
    key(field, wire_type::length_delimited);
    varint(bytes.size());
    out_ += bytes;
  }
  void message_field(std::uint32_t field, const protobuf_encoder& message) { bytes_field(field, message.bytes()); }
  // A packed repeated double: one length-delimited field of 8-byte values. Nothing for none.
  void packed_doubles_field(std::uint32_t field, std::span<const double> values) {
    if (values.empty()) return;
    key(field, wire_type::length_delimited);
    varint(values.size() * 8);
    for (const double v : values) fixed64(strata::bit_cast<std::uint64_t>(v));
  }

  const std::string& bytes() const noexcept { return out_; }

 private:
  // Fixed-width values are little-endian on the wire whatever the host's byte order.
  void fixed32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>(v >> (8 * i) & 0xFF);
  }
  void fixed64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out_ += static_cast<char>(v >> (8 * i) & 0xFF);
  }
  std::string out_;
};

// ---- record framing ------------------------------------------------------------------------

inline std::uint32_t masked_crc32c(std::string_view bytes) noexcept {
  const std::uint32_t crc = io::crc32c(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

// data framed as one record: length, its masked CRC, data, its masked CRC.
inline std::string event_record(std::string_view data) {
  std::string r;
  r.reserve(data.size() + 16);
  auto put = [&r](std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) r += static_cast<char>(v >> (8 * i) & 0xFF);
  };
  put(data.size(), 8);
  put(masked_crc32c(std::string_view(r.data(), 8)), 4);
  r += data;
  put(masked_crc32c(data), 4);
  return r;
}

// ---- the messages (field numbers from the protos in the header comment) -------------------

namespace event_field {
inline constexpr std::uint32_t wall_time = 1, step = 2, file_version = 3, summary = 5;
}
namespace summary_field {
inline constexpr std::uint32_t value = 1;
}
namespace value_field {
inline constexpr std::uint32_t tag = 1, simple_value = 2, histo = 5;
}
namespace histogram_field {
inline constexpr std::uint32_t min = 1, max = 2, num = 3, sum = 4, sum_squares = 5, bucket_limit = 6, bucket = 7;
}

// The version string TensorBoard expects in a file's first event.
inline constexpr std::string_view event_file_version = "brain.Event:2";

inline std::string file_version_event(double wall_time) {
  protobuf_encoder e;
  e.double_field(event_field::wall_time, wall_time);
  e.bytes_field(event_field::file_version, event_file_version);
  return e.bytes();
}

inline protobuf_encoder simple_value(std::string_view tag, float value) {
  protobuf_encoder v;
  v.bytes_field(value_field::tag, tag);
  v.float_field(value_field::simple_value, value);
  return v;
}

inline protobuf_encoder histogram_value(std::string_view tag, const histogram_summary& h) {
  protobuf_encoder histo;
  histo.double_field(histogram_field::min, h.min);
  histo.double_field(histogram_field::max, h.max);
  histo.double_field(histogram_field::num, h.count);
  histo.double_field(histogram_field::sum, h.sum);
  histo.double_field(histogram_field::sum_squares, h.sum_squares);
  histo.packed_doubles_field(histogram_field::bucket_limit, h.bucket_limits);
  histo.packed_doubles_field(histogram_field::bucket, h.bucket_counts);
  protobuf_encoder v;
  v.bytes_field(value_field::tag, tag);
  v.message_field(value_field::histo, histo);
  return v;
}

inline std::string summary_event(double wall_time, std::int64_t step, std::span<const protobuf_encoder> values) {
  protobuf_encoder summary;
  for (const protobuf_encoder& v : values) summary.message_field(summary_field::value, v);
  protobuf_encoder e;
  e.double_field(event_field::wall_time, wall_time);
  e.int64_field(event_field::step, step);
  e.message_field(event_field::summary, summary);
  return e.bytes();
}

// ---- files ---------------------------------------------------------------------------------

inline std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// proto3 strings must be UTF-8: TensorBoard's reader rejects a record whose tag is not, and a
// reader stops at the first record it cannot parse, so a bad tag is refused before it is written.
inline bool valid_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3F);
    }
    const bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// This machine's name for event file names (TensorFlow's convention), reduced to characters that
// are safe in a file name everywhere.
inline std::string host_name_for_files() {
  std::string name;
#if defined(_WIN32)
  if (const char* n = std::getenv("COMPUTERNAME")) name = n;
#else
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) == 0) name = buf;
#endif
  for (char& ch : name) {
    const bool safe = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                      ch == '_' || ch == '.';
    if (!safe) ch = '_';
  }
  return name.empty() ? std::string("localhost") : name;
}

inline std::FILE* open_for_writing(const std::filesystem::path& p, const char* mode) {
#if defined(_WIN32)
  std::wstring wmode(mode, mode + std::char_traits<char>::length(mode));
  return ::_wfopen(p.c_str(), wmode.c_str());
#else
  return std::fopen(p.c_str(), mode);
#endif
}

// A log file written only at its end, one whole record per append. Unbuffered, so each append is
// handed to the OS at once (a crash of the process loses nothing appended). A failed append is cut
// off again, so the file still ends after a complete record: readers stop at the first damaged
// record, and anything appended after one would never be read.
class append_only_file {
 public:
  append_only_file() = default;
  // Takes ownership of f, opened for writing at the end of path (who: the caller, for messages).
  append_only_file(std::FILE* f, std::filesystem::path path, std::string who)
      : f_(f), path_(std::move(path)), who_(std::move(who)) {
    std::setvbuf(f_, nullptr, _IONBF, 0);
  }
  append_only_file(append_only_file&& o) noexcept
      : f_(std::exchange(o.f_, nullptr)), path_(std::move(o.path_)), who_(std::move(o.who_)), size_(o.size_) {}
  append_only_file& operator=(append_only_file&& o) noexcept {
    if (this != &o) {
      close();
      f_ = std::exchange(o.f_, nullptr);
      path_ = std::move(o.path_);
      who_ = std::move(o.who_);
      size_ = o.size_;
    }
    return *this;
  }
  append_only_file(const append_only_file&) = delete;
  append_only_file& operator=(const append_only_file&) = delete;
  ~append_only_file() { close(); }

  bool is_open() const noexcept { return f_ != nullptr; }
  const std::filesystem::path& path() const noexcept { return path_; }
  std::uint64_t size() const noexcept { return size_; }

  void append(std::string_view bytes) {
    if (!f_) throw error(who_ + ": " + io::detail::quote_path(path_) + " is closed");
    errno = 0;
    const std::size_t written = std::fwrite(bytes.data(), 1, bytes.size(), f_);
    if (written == bytes.size() && std::fflush(f_) == 0) {
      size_ += written;
      return;
    }
    const int err = errno;
    std::clearerr(f_);
    std::error_code cut;
    std::filesystem::resize_file(path_, size_, cut);
    std::fseek(f_, 0, SEEK_END);
    throw error(who_ + ": writing " + io::detail::quote_path(path_) + " failed: " + errno_text(err) +
                (cut ? "; cutting off the partial record failed too (" + cut.message() + "), so readers stop there"
                     : "; the file still ends after the last complete record"));
  }

  // Asks the OS to put what was appended on the disk, for a machine that loses power.
  void sync() {
    if (!f_) return;
#if defined(_WIN32)
    const bool ok = ::_commit(::_fileno(f_)) == 0;
#else
    const bool ok = ::fsync(::fileno(f_)) == 0;
#endif
    if (!ok) throw error(who_ + ": flushing " + io::detail::quote_path(path_) + " to disk failed: " + errno_text(errno));
  }

  void close() noexcept {
    if (f_) std::fclose(f_);
    f_ = nullptr;
  }

 private:
  std::FILE* f_ = nullptr;
  std::filesystem::path path_;
  std::string who_;
  std::uint64_t size_ = 0;
};

inline double system_clock_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace detail

struct event_file_options {
  // Seconds since the Unix epoch, for the file name and each event's wall_time (TensorBoard's
  // "relative" and "wall" axes). Empty: the system clock. Tests pass a fixed one.
  std::function<double()> wall_clock = {};
};

// Writes one new event file in log_dir (created with its parents if missing). TensorBoard shows
// each directory holding event files as a run: give each training run its own directory.
// Not thread-safe: one training loop writes.
class event_file_writer {
 public:
  explicit event_file_writer(const std::filesystem::path& log_dir, event_file_options options = {})
      : options_(std::move(options)) {
    namespace fs = std::filesystem;
    if (!options_.wall_clock) options_.wall_clock = detail::system_clock_seconds;
    std::error_code ec;
    fs::create_directories(log_dir, ec);
    if (ec)
      throw error("event_file_writer: cannot create the log directory " + io::detail::quote_path(log_dir) + ": " + ec.message());
    const double now = options_.wall_clock();
    const std::string base = "events.out.tfevents." + std::to_string(static_cast<std::int64_t>(std::floor(now))) + "." +
                             detail::host_name_for_files();
    // Exclusive creation: a second writer started in the same second gets ".1", ".2", … rather
    // than truncating the first one's file (TensorBoard reads every file whose name has "tfevents").
    fs::path path;
    std::FILE* f = nullptr;
    int err = 0;
    for (int attempt = 0; attempt < 1000 && !f; ++attempt) {
      path = log_dir / (attempt == 0 ? base : base + "." + std::to_string(attempt));
      f = detail::open_for_writing(path, "wbx");
      err = errno;
      if (!f && err != EEXIST) break;
    }
    if (!f) throw error("event_file_writer: cannot create " + io::detail::quote_path(path) + ": " + detail::errno_text(err));
    file_ = detail::append_only_file(f, path, "event_file_writer");
    file_.append(detail::event_record(detail::file_version_event(now)));
  }

  // A scalar curve point. TensorBoard stores scalars as float: value is rounded to float here.
  void scalar(std::string_view tag, double value, std::int64_t step) {
    check_tag(tag);
    const detail::protobuf_encoder v = detail::simple_value(tag, static_cast<float>(value));
    write(step, std::span(&v, 1));
  }

  // Several scalars of one step in a single event (one record: all or none survive a crash).
  void scalars(std::span<const scalar_value> values, std::int64_t step) {
    if (values.empty()) return;
    std::vector<detail::protobuf_encoder> encoded;
    encoded.reserve(values.size());
    for (const scalar_value& s : values) {
      check_tag(s.tag);
      encoded.push_back(detail::simple_value(s.tag, static_cast<float>(s.value)));
    }
    write(step, encoded);
  }
  void scalars(std::initializer_list<scalar_value> values, std::int64_t step) {
    scalars(std::span<const scalar_value>(values.begin(), values.size()), step);
  }

  // A histogram of values (histogram_of: equal-width buckets between min and max).
  void histogram(std::string_view tag, std::span<const float> values, std::int64_t step,
                 int buckets = default_histogram_buckets) {
    histogram(tag, histogram_of(values, buckets), step);
  }
  void histogram(std::string_view tag, std::span<const double> values, std::int64_t step,
                 int buckets = default_histogram_buckets) {
    histogram(tag, histogram_of(values, buckets), step);
  }
  void histogram(std::string_view tag, const histogram_summary& h, std::int64_t step) {
    check_tag(tag);
    if (h.bucket_limits.size() != h.bucket_counts.size())
      throw error("event_file_writer: histogram '" + std::string(tag) + "' has " + std::to_string(h.bucket_limits.size()) +
                  " bucket limits but " + std::to_string(h.bucket_counts.size()) + " bucket counts");
    const detail::protobuf_encoder v = detail::histogram_value(tag, h);
    write(step, std::span(&v, 1));
  }

  // Every record is already with the OS when its call returns; this also puts them on the disk
  // (fsync), for a machine that may lose power. Once an epoch is plenty.
  void flush() { file_.sync(); }

  const std::filesystem::path& path() const noexcept { return file_.path(); }
  std::uint64_t bytes_written() const noexcept { return file_.size(); }

 private:
  void check_tag(std::string_view tag) const {
    if (tag.empty()) throw error("event_file_writer: empty tag (writing " + io::detail::quote_path(path()) + ")");
    if (!detail::valid_utf8(tag))
      throw error("event_file_writer: tag " + io::detail::quote(tag) + " is not UTF-8, which TensorBoard cannot read (writing " +
                  io::detail::quote_path(path()) + ")");
  }
  void write(std::int64_t step, std::span<const detail::protobuf_encoder> values) {
    file_.append(detail::event_record(detail::summary_event(options_.wall_clock(), step, values)));
  }

  event_file_options options_;
  detail::append_only_file file_;
};

}  // namespace strata::train
