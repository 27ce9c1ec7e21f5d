// strata/io/archive.hpp — strata's one file format for models: a versioned, checksummed archive of
// named tensors with a kind ("strata.model", …) and an architecture signature. Writes are atomic;
// reads tell corruption, truncation, a newer format and a different architecture apart, and say so.
//
// File format, version 1. All integers little-endian; "str" is a u32 byte count, then that many
// bytes (UTF-8, no terminator). Offsets are from the start of the file.
//
//   offset  size   field
//   0       8      magic: 53 54 52 41 54 41 00 1A ("STRATA", NUL, Ctrl-Z: text tools stop there)
//   8       4      u32 format version = 1
//   12      4      u32 flags = 0 (a v1 reader rejects any other value)
//   16      8      u64 total length of the file in bytes, this preamble and the trailer included
//   24      4      u32 CRC-32C of bytes 0..23
//                  ^ these 28 bytes keep this layout in every future version, so any reader can
//                    tell a newer file, a truncated one and a corrupted one apart before parsing.
//   28             str kind           what the archive holds (at most 65535 bytes)
//                  str signature      the architecture signature, compared byte for byte (<= 16 MiB)
//                  u32 kind version   the writer's version of the kind's own layout
//                  u32 entry count N
//                  u32 CRC-32C of every byte from offset 0 up to here
//   then N entries, each:
//                  str name           1..65535 bytes, unique within the archive
//                  u8  element code   see element_code below (the numbers are part of the format)
//                  u8  rank R         0..32 (rank 0 holds one element)
//                  R x i64 extents    row-major, outermost first, each >= 0
//                  u64 data length B  = product of the extents x element size
//                  u32 CRC-32C of this entry's bytes from its name's length up to here
//                  B   data           elements row-major, each little-endian (f16: IEEE binary16 bits)
//                  u32 CRC-32C of the data
//   last 4         u32 CRC-32C of every byte before it
//
// CRC-32C is the Castagnoli CRC (reflected polynomial 0x82F63B78, initial value and final XOR
// 0xFFFFFFFF; CRC-32C("123456789") = 0xE3069283), as used by iSCSI, ext4 and the SSE4.2 crc32
// instruction. It detects every error burst of up to 32 bits, so any one damaged byte is caught.
// Each length is checked against the file's size and a limit before anything is allocated, and
// each record's checksum is checked before its fields are trusted: an entry's extents and data
// length before its data is allocated, the kind and signature before they are compared.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "strata/config.hpp"
#include "strata/core/error.hpp"
#include "strata/core/shape.hpp"
#include "strata/core/tensor.hpp"
#include "strata/core/device_tags.hpp"
#include "strata/numeric/half.hpp"
#include "strata/numeric/precision_traits.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define STRATA_IO_X86_CRC32C 1
#else
#define STRATA_IO_X86_CRC32C 0
#endif

namespace strata::io {

// Anything wrong with an archive or its use: the message names the file (or the entry) and says
// what is wrong and where.
class archive_error : public strata::error {
 public:
  using error::error;
};

// The version of the container format this library writes and reads.
inline constexpr std::uint32_t format_version = 1;

// Limits a reader enforces before it allocates, so a damaged length field gives an error rather
// than a gigabyte allocation; a writer refuses archives that exceed them.
inline constexpr std::size_t max_name_bytes = 65535;
inline constexpr std::size_t max_kind_bytes = 65535;
inline constexpr std::size_t max_signature_bytes = std::size_t{1} << 24;
inline constexpr std::size_t max_rank = 32;

// Element types on disk. The numbers are part of the file format: never renumber. 4..15 are kept
// for other floating formats (bf16, fp8), 20..22 are fixed point, 28.. packed binary precisions.
enum class element_code : std::uint8_t {
  f64 = 1,
  f32 = 2,
  f16 = 3,
  i8 = 16,
  i16 = 17,
  i32 = 18,
  i64 = 19,
  fixed8 = 20,   // fixed point: raw two's-complement integers; the format (bits, fraction bits,
  fixed16 = 21,  // rounding) is part of the model's signature
  fixed32 = 22,
  dynamic_fixed16 = 23,  // dynamic fixed point: int16 mantissas; each tensor's exponent is an i32 entry of its own
  u8 = 24,
  u16 = 25,
  u32 = 26,
  u64 = 27,
  binary = 28,  // ±1 values packed 64 to a little-endian u64 word along the last axis (bit set = −1), rows padded to whole words
};

namespace detail {
// Bits per element of the model precision stored under code c (precision_traits' list), 0 if none.
template <class... T>
constexpr std::size_t model_precision_bits(element_code c, precision_list<T...>) noexcept {
  std::size_t bits = 0;
  ((static_cast<std::uint8_t>(c) == precision_traits<T>::archive_code ? (bits = precision_traits<T>::storage_bits) : 0), ...);
  return bits;
}
template <class... T>
inline std::string model_precision_name(element_code c, precision_list<T...>) {
  std::string name;
  ((static_cast<std::uint8_t>(c) == precision_traits<T>::archive_code ? (void)(name = precision_traits<T>::name) : (void)0), ...);
  return name;
}
}  // namespace detail

// Bytes per element; 0 for a code this library does not know. Floating and other model
// precisions come from precision_traits (model_precisions), integers from their width.
constexpr std::size_t element_size(element_code c) noexcept {
  if (const std::size_t bits = detail::model_precision_bits(c, model_precisions{})) return (bits + 7) / 8;
  switch (c) {
    case element_code::i64: case element_code::u64: return 8;
    case element_code::i32: case element_code::u32: return 4;
    case element_code::i16: case element_code::u16: return 2;
    case element_code::i8: case element_code::u8: return 1;
    case element_code::fixed8: return 1;
    case element_code::fixed16: return 2;
    case element_code::dynamic_fixed16: return 2;
    case element_code::fixed32: return 4;
    default: return 0;
  }
}

// Bytes of data an entry of type c holding `elements` values with last extent `row` needs: for
// packed binary, whole 64-bit words per row; otherwise elements × element_size. UINT64_MAX when
// that does not fit in 64 bits.
inline std::uint64_t entry_data_bytes(element_code c, std::int64_t elements, std::int64_t row) noexcept {
  constexpr std::uint64_t huge = ~std::uint64_t{0};
  if (c == element_code::binary) {
    if (row <= 0 || elements <= 0) return 0;
    const auto rows = static_cast<std::uint64_t>(elements / row), words = static_cast<std::uint64_t>((row + 63) / 64);
    return rows > huge / 8 / words ? huge : rows * words * 8;
  }
  const std::size_t size = element_size(c);
  return static_cast<std::uint64_t>(elements) > huge / size ? huge : static_cast<std::uint64_t>(elements) * size;
}

inline std::string to_string(element_code c) {
  switch (c) {
    case element_code::binary: return "binary";
    case element_code::f64: return "f64";
    case element_code::f32: return "f32";
    case element_code::f16: return "f16";
    case element_code::fixed8: return "fixed8";
    case element_code::fixed16: return "fixed16";
    case element_code::fixed32: return "fixed32";
    case element_code::dynamic_fixed16: return "dynamic_fixed16";
    default: break;
  }
  if (std::string name = detail::model_precision_name(c, model_precisions{}); !name.empty()) return name;
  switch (c) {
    case element_code::i8: return "i8";
    case element_code::i16: return "i16";
    case element_code::i32: return "i32";
    case element_code::i64: return "i64";
    case element_code::u8: return "u8";
    case element_code::u16: return "u16";
    case element_code::u32: return "u32";
    case element_code::u64: return "u64";
    default: break;
  }
  return "unknown element code " + std::to_string(static_cast<unsigned>(c));
}

template <class T>
inline constexpr bool has_element_code_v = [] {
  if constexpr (requires { precision_traits<T>::archive_code; }) return precision_traits<T>::archive_code != 0;
  else return false;
}();

// The code an element type is stored under. Integers go by signedness and width, so long and
// long long (both 64-bit on LP64) share i64.
template <class T>
constexpr element_code element_code_of() {
  using U = std::remove_cv_t<T>;
  static_assert(has_element_code_v<U>,
                "strata::io::element_code_of<T>: T has no archive element code (precision_traits<T>::archive_code: the "
                "model precisions and 8/16/32/64-bit integers other than bool)");
  static_assert(std::numeric_limits<double>::is_iec559 && std::numeric_limits<float>::is_iec559,
                "strata::io: archives store IEEE-754 floating point");
  return static_cast<element_code>(precision_traits<U>::archive_code);
}

// One named tensor: element type, extents and the raw little-endian bytes.
struct archive_entry {
  std::string name;
  element_code type{};
  std::vector<std::int64_t> shape;
  std::vector<std::byte> data;
};

// "[16, 3, 3, 3]", as Shape::to_string writes it.
inline std::string shape_string(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// ---------------------------------------------------------------------------------------------
// CRC-32C (the definitions are in io/archive_impl.hpp)

namespace detail {

inline std::uint32_t load_le32(const std::byte* p) noexcept {
  return std::to_integer<std::uint32_t>(p[0]) | std::to_integer<std::uint32_t>(p[1]) << 8 |
         std::to_integer<std::uint32_t>(p[2]) << 16 | std::to_integer<std::uint32_t>(p[3]) << 24;
}
inline std::uint64_t load_le64(const std::byte* p) noexcept {
  return std::uint64_t{load_le32(p)} | std::uint64_t{load_le32(p + 4)} << 32;
}

// Slicing-by-8 in portable C++ (the SSE4.2 instruction is several times faster where it exists).
STRATA_FUNC std::uint32_t crc32c_portable(std::uint32_t crc, const std::byte* p, std::size_t n) noexcept;
#if STRATA_IO_X86_CRC32C
// The SSE4.2 crc32 instruction over the same bytes into two CRCs (b may be null); only where
// cpu_has_sse42().
__attribute__((target("sse4.2"))) STRATA_FUNC void crc32c_sse42(std::uint32_t* a, std::uint32_t* b, const std::byte* p,
                                                                std::size_t n) noexcept;
STRATA_FUNC bool cpu_has_sse42() noexcept;
#endif
// Folds n bytes into both *a and *b (b may be null).
STRATA_FUNC void crc32c_update2(std::uint32_t* a, std::uint32_t* b, const std::byte* p, std::size_t n) noexcept;

}  // namespace detail

// CRC-32C of `bytes`, continuing from the CRC of what came before (0 to start): the CRC of a
// concatenation is crc32c(b, crc32c(a)).
STRATA_FUNC std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t previous = 0) noexcept;

// ---------------------------------------------------------------------------------------------
// Entries <-> tensors

namespace detail {

// 'name' with control characters escaped, so a damaged or odd name cannot garble a message.
inline std::string quote(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string q = "'";
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '\n') q += "\\n";
    else if (ch == '\t') q += "\\t";
    else if (ch == '\'' || ch == '\\') (q += '\\') += ch;
    else if (u < 0x20 || u == 0x7F) ((q += "\\x") += hex[u >> 4]) += hex[u & 15];
    else q += ch;
  }
  return q + "'";
}
inline std::string quote_path(const std::filesystem::path& p) { return quote(p.string()); }

// The archive stores little-endian elements; a big-endian host swaps each one.
inline void swap_element_bytes(std::byte* p, std::size_t bytes, std::size_t element) noexcept {
  if (element <= 1) return;
  for (std::size_t i = 0; i + element <= bytes; i += element) std::reverse(p + i, p + i + element);
}

template <class X>
using element_of_t = typename std::remove_cvref_t<X>::element_type;

inline void check_entry_matches(const archive_entry& e, element_code type, std::span<const std::int64_t> shape,
                                const std::string& prefix) {
  const bool same_type = e.type == type;
  const bool same_shape = std::equal(e.shape.begin(), e.shape.end(), shape.begin(), shape.end());
  if (same_type && same_shape) return;
  std::string what = !same_type && !same_shape ? "element type and shape differ"
                     : !same_type              ? "element type differs"
                     : e.shape.size() != shape.size() ? "rank differs"
                                                      : "shape differs";
  throw archive_error(prefix + "entry " + quote(e.name) + " holds " + to_string(e.type) + " " +
                      shape_string(e.shape) + ", but the destination is " + to_string(type) + " " +
                      shape_string(shape) + " (" + what + ")");
}

template <class X>
void read_entry_into(const archive_entry& e, X&& into, const std::string& prefix) {
  using Xd = std::remove_cvref_t<X>;
  using T = element_of_t<X>;
  static_assert(std::is_same_v<typename Xd::device_type, cpu>,
                "strata::io::read_entry: the destination must be a CPU tensor; read into one and copy it to the device");
  static_assert(!std::is_const_v<typename Xd::value_type>, "strata::io::read_entry: the destination is a view of const elements");
  const auto& s = into.shape();
  check_entry_matches(e, element_code_of<T>(), std::span<const std::int64_t>(s.extents.data(), Xd::rank), prefix);
  const std::size_t bytes = static_cast<std::size_t>(into.size()) * sizeof(T);
  if (e.data.size() != bytes)
    throw archive_error(prefix + "entry " + quote(e.name) + " holds " + std::to_string(e.data.size()) +
                        " bytes of data, but " + to_string(e.type) + " " + shape_string(e.shape) + " needs " +
                        std::to_string(bytes));
  if (bytes == 0) return;
  auto* dst = reinterpret_cast<std::byte*>(into.data());
  std::memcpy(dst, e.data.data(), bytes);
  if constexpr (std::endian::native == std::endian::big) swap_element_bytes(dst, bytes, sizeof(T));
}

}  // namespace detail

// An entry holding a copy of a CPU tensor's elements (a Tensor or a TensorView).
template <class X>
  requires TensorLike<X>
archive_entry make_entry(std::string name, const X& tensor) {
  using Xd = std::remove_cvref_t<X>;
  using T = typename Xd::element_type;
  static_assert(std::is_same_v<typename Xd::device_type, cpu>,
                "strata::io::make_entry: copy a CUDA tensor to the host first");
  archive_entry e{std::move(name), element_code_of<T>(), {}, {}};
  e.shape.assign(tensor.shape().extents.begin(), tensor.shape().extents.end());
  e.data.resize(static_cast<std::size_t>(tensor.size()) * sizeof(T));
  if (!e.data.empty()) {
    std::memcpy(e.data.data(), tensor.data(), e.data.size());
    if constexpr (std::endian::native == std::endian::big) detail::swap_element_bytes(e.data.data(), e.data.size(), sizeof(T));
  }
  return e;
}

// Copies an entry into a CPU tensor or view of the same element type and shape; a mismatch
// throws naming the entry and both types and shapes.
template <class X>
  requires TensorLike<X>
void read_entry(const archive_entry& e, X&& into) {
  detail::read_entry_into(e, std::forward<X>(into), "");
}

// An entry of packed ±1 values: the tensor's words, little-endian (tail bits of each row zero).
template <std::size_t Rank>
archive_entry make_entry(std::string name, const Tensor<binary, Rank>& bits) {
  archive_entry e{std::move(name), element_code::binary, {}, {}};
  e.shape.assign(bits.shape().extents.begin(), bits.shape().extents.end());
  e.data.resize(static_cast<std::size_t>(bits.bytes()));
  if (!e.data.empty()) {
    std::memcpy(e.data.data(), bits.words(), e.data.size());
    if constexpr (std::endian::native == std::endian::big) detail::swap_element_bytes(e.data.data(), e.data.size(), 8);
  }
  return e;
}

// Copies a packed binary entry into a Tensor<binary> of the same shape; a mismatch throws naming
// the entry and both types and shapes, and tail bits set in the file are an error (they would
// count in every XNOR-popcount).
template <std::size_t Rank>
void read_entry(const archive_entry& e, Tensor<binary, Rank>& into, const std::string& prefix = "") {
  detail::check_entry_matches(e, element_code::binary,
                              std::span<const std::int64_t>(into.shape().extents.data(), Rank), prefix);
  if (e.data.size() != static_cast<std::size_t>(into.bytes()))
    throw archive_error(prefix + "entry " + detail::quote(e.name) + " holds " + std::to_string(e.data.size()) +
                        " bytes of packed bits, but " + shape_string(e.shape) + " needs " + std::to_string(into.bytes()));
  if (e.data.empty()) return;
  std::memcpy(into.words(), e.data.data(), e.data.size());
  if constexpr (std::endian::native == std::endian::big)
    detail::swap_element_bytes(reinterpret_cast<std::byte*>(into.words()), e.data.size(), 8);
  const std::int64_t tail = into.row_bits() % 64;
  if (tail != 0) {
    const std::uint64_t unused = ~((std::uint64_t{1} << tail) - 1);
    for (std::int64_t r = 0; r < into.rows(); ++r)
      if (into.row(r)[into.words_per_row() - 1] & unused)
        throw archive_error(prefix + "entry " + detail::quote(e.name) + ": row " + std::to_string(r) +
                            " has bits set past its " + std::to_string(into.row_bits()) + " values");
  }
}

// A new tensor of the entry's shape (for state whose shape the reader does not know in advance).
template <class T, std::size_t Rank>
Tensor<T, Rank> tensor_from_entry(const archive_entry& e) {
  if (e.type != element_code_of<T>() || e.shape.size() != Rank)
    throw archive_error("entry " + detail::quote(e.name) + " holds " + to_string(e.type) + " " +
                        shape_string(e.shape) + ", but a " + to_string(element_code_of<T>()) + " tensor of rank " +
                        std::to_string(Rank) + " was asked for");
  Shape<Rank> s;
  for (std::size_t i = 0; i < Rank; ++i) s[i] = e.shape[i];
  auto t = Tensor<T, Rank>::uninitialized(s);
  read_entry(e, t.view());
  return t;
}

// ---------------------------------------------------------------------------------------------
// archive

struct archive {
  std::string kind;           // what it holds: "strata.model", "strata.optimizer", …
  std::string signature;      // the architecture signature a reader compares with its own
  std::uint32_t version = 1;  // the kind's layout version (the writer's choice; not format_version)
  std::vector<archive_entry> entries;
  std::string source;  // the file it was read from, for messages; not stored in the file

  const archive_entry* find(std::string_view name) const noexcept {
    for (const auto& e : entries)
      if (e.name == name) return &e;
    return nullptr;
  }

  // Throws naming the missing entry and listing the first few that exist.
  const archive_entry& at(std::string_view name) const {
    if (const auto* e = find(name)) return *e;
    std::string msg = prefix() + "no entry " + detail::quote(name) + "; ";
    if (entries.empty()) {
      msg += "the archive has no entries";
    } else {
      msg += "it has " + std::to_string(entries.size()) + (entries.size() == 1 ? " entry: " : " entries: ");
      constexpr std::size_t shown = 8;
      for (std::size_t i = 0; i < entries.size() && i < shown; ++i)
        msg += (i ? ", " : "") + detail::quote(entries[i].name);
      if (entries.size() > shown) msg += ", … (" + std::to_string(entries.size() - shown) + " more)";
    }
    throw archive_error(msg);
  }

  // at(name), then read_entry into `into`; messages name the file.
  template <class X>
    requires TensorLike<X>
  void read(std::string_view name, X&& into) const {
    detail::read_entry_into(at(name), std::forward<X>(into), prefix());
  }
  template <std::size_t Rank>
  void read(std::string_view name, Tensor<binary, Rank>& into) const {
    read_entry(at(name), into, prefix());
  }

 private:
  std::string prefix() const { return source.empty() ? std::string("archive: ") : detail::quote(source) + ": "; }
};

// ---------------------------------------------------------------------------------------------
// Writing and reading (the definitions are in io/archive_impl.hpp)

// The archive in the file format, in memory (for sending over a network or embedding).
STRATA_FUNC std::vector<std::byte> encode_archive(const archive& a);

// Writes atomically (io/atomic_file.hpp): to a temporary file in the same directory, flushed to
// disk, then renamed over `path`, then the directory flushed. A crash or error never leaves a
// half-written file under the final name: `path` holds the old archive or the new one, whole.
STRATA_FUNC void write_archive(const std::filesystem::path& path, const archive& a);

// Reads and checks a whole archive: the magic, the format version, every checksum and length.
STRATA_FUNC archive read_archive(const std::filesystem::path& path);

// As above, and the archive must be of `expected_kind` and saved from the architecture with
// `expected_signature`; that is checked right after the header, before any tensor is read.
STRATA_FUNC archive read_archive(const std::filesystem::path& path, std::string_view expected_kind,
                                 std::string_view expected_signature);

// The in-memory counterparts of read_archive; `name` stands for the file in messages.
STRATA_FUNC archive decode_archive(std::span<const std::byte> bytes, std::string_view name = "<memory>");
STRATA_FUNC archive decode_archive(std::span<const std::byte> bytes, std::string_view expected_kind,
                                   std::string_view expected_signature, std::string_view name = "<memory>");

}  // namespace strata::io

// Header-only mode: the definitions follow. Precompiled mode (config.hpp): strata_precompiled
// compiles them once (src/io.cpp).
#if !defined(STRATA_PRECOMPILED)
#include "strata/io/archive_impl.hpp"
#endif
