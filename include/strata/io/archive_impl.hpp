// strata/io/archive_impl.hpp — the definitions of io/archive.hpp's functions: CRC-32C, the writer
// and the reader. archive.hpp includes this file in header-only mode; in precompiled mode
// (config.hpp) strata_precompiled compiles it once (src/io.cpp) and users only see declarations.
#pragma once

#include "strata/io/archive.hpp"
#include "strata/io/atomic_file.hpp"

namespace strata::io {

// ---------------------------------------------------------------------------------------------
// CRC-32C

namespace detail {

constexpr std::array<std::array<std::uint32_t, 256>, 8> make_crc32c_tables() noexcept {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    t[0][i] = c;
  }
  // t[s][i]: the CRC of byte i followed by s zero bytes, so eight bytes fold in one step.
  for (std::uint32_t i = 0; i < 256; ++i)
    for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFu];
  return t;
}
inline constexpr auto crc32c_tables = make_crc32c_tables();

// Slicing-by-8 in portable C++ (the SSE4.2 instruction is several times faster where it exists).
STRATA_FUNC std::uint32_t crc32c_portable(std::uint32_t crc, const std::byte* p, std::size_t n) noexcept {
  const auto& t = crc32c_tables;
  std::uint32_t c = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    const std::uint32_t lo = load_le32(p) ^ c, hi = load_le32(p + 4);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) c = (c >> 8) ^ t[0][(c ^ std::to_integer<std::uint32_t>(*p)) & 0xFF];
  return ~c;
}

#if STRATA_IO_X86_CRC32C
// The SSE4.2 crc32 instruction computes exactly CRC-32C, 8 bytes per instruction. Two chains over
// the same bytes (a running whole-file CRC and an entry's own) run in parallel in the pipeline,
// so checksumming each data byte twice costs about the same as once.
__attribute__((target("sse4.2"))) STRATA_FUNC void crc32c_sse42(std::uint32_t* a, std::uint32_t* b,
                                                           const std::byte* p, std::size_t n) noexcept {
  unsigned long long ca = ~*a & 0xFFFFFFFFu, cb = b ? ~*b & 0xFFFFFFFFu : 0;
  if (b) {
    for (; n >= 8; p += 8, n -= 8) {
      unsigned long long v;
      std::memcpy(&v, p, 8);
      ca = __builtin_ia32_crc32di(ca, v);
      cb = __builtin_ia32_crc32di(cb, v);
    }
  } else {
    for (; n >= 8; p += 8, n -= 8) {
      unsigned long long v;
      std::memcpy(&v, p, 8);
      ca = __builtin_ia32_crc32di(ca, v);
    }
  }
  auto sa = static_cast<unsigned>(ca), sb = static_cast<unsigned>(cb);
  for (; n > 0; ++p, --n) {
    sa = __builtin_ia32_crc32qi(sa, std::to_integer<unsigned char>(*p));
    sb = __builtin_ia32_crc32qi(sb, std::to_integer<unsigned char>(*p));
  }
  *a = ~sa;
  if (b) *b = ~sb;
}

STRATA_FUNC bool cpu_has_sse42() noexcept {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return has;
}
#endif

// Folds n bytes into both *a and *b (b may be null).
STRATA_FUNC void crc32c_update2(std::uint32_t* a, std::uint32_t* b, const std::byte* p, std::size_t n) noexcept {
#if STRATA_IO_X86_CRC32C
  if (cpu_has_sse42()) return crc32c_sse42(a, b, p, n);
#endif
  *a = crc32c_portable(*a, p, n);
  if (b) *b = crc32c_portable(*b, p, n);
}

}  // namespace detail

// CRC-32C of `bytes`, continuing from the CRC of what came before (0 to start): the CRC of a
// concatenation is crc32c(b, crc32c(a)).
STRATA_FUNC std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t previous) noexcept {
  detail::crc32c_update2(&previous, nullptr, bytes.data(), bytes.size());
  return previous;
}


// ---------------------------------------------------------------------------------------------
// Writing

namespace detail {

inline constexpr std::array<std::byte, 8> archive_magic{std::byte{'S'}, std::byte{'T'}, std::byte{'R'}, std::byte{'A'},
                                                        std::byte{'T'}, std::byte{'A'}, std::byte{0x00}, std::byte{0x1A}};
inline constexpr std::size_t preamble_bytes = 28;
// A preamble, two empty strings, kind version, entry count, header CRC and trailer.
inline constexpr std::uint64_t smallest_archive = preamble_bytes + 4 + 4 + 4 + 4 + 4 + 4;
// Name length, a one-byte name, code, rank, data length, header CRC, data CRC.
inline constexpr std::uint64_t smallest_entry = 4 + 1 + 1 + 1 + 8 + 4 + 4;
inline constexpr std::size_t io_chunk = std::size_t{1} << 20;

inline void put_u8(std::vector<std::byte>& b, std::uint8_t v) { b.push_back(static_cast<std::byte>(v)); }
inline void put_u32(std::vector<std::byte>& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::byte>(v >> (8 * i)));
}
inline void put_u64(std::vector<std::byte>& b, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::byte>(v >> (8 * i)));
}
inline void put_str(std::vector<std::byte>& b, std::string_view s) {
  put_u32(b, static_cast<std::uint32_t>(s.size()));
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  b.insert(b.end(), p, p + s.size());
}

// Element count of an extent list, or -1 if an extent is negative or the product overflows.
inline std::int64_t checked_elements(std::span<const std::int64_t> shape) noexcept {
  std::int64_t n = 1;
  for (const auto d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

// Checks an archive against the format's rules and returns its size in bytes.
inline std::uint64_t checked_archive_size(const archive& a, const std::string& prefix) {
  auto fail = [&](const std::string& what) { throw archive_error(prefix + what); };
  if (a.kind.size() > max_kind_bytes)
    fail("the kind is " + std::to_string(a.kind.size()) + " bytes long (at most " + std::to_string(max_kind_bytes) + ")");
  if (a.signature.size() > max_signature_bytes)
    fail("the signature is " + std::to_string(a.signature.size()) + " bytes long (at most " +
         std::to_string(max_signature_bytes) + ")");
  if (a.entries.size() > std::numeric_limits<std::uint32_t>::max()) fail("too many entries");
  std::uint64_t size = smallest_archive + a.kind.size() + a.signature.size();
  std::unordered_set<std::string_view> names;
  for (std::size_t i = 0; i < a.entries.size(); ++i) {
    const auto& e = a.entries[i];
    const std::string which = e.name.empty() ? "entry #" + std::to_string(i + 1) : "entry " + quote(e.name);
    if (e.name.empty()) fail(which + " has an empty name");
    if (e.name.size() > max_name_bytes)
      fail(which + "'s name is " + std::to_string(e.name.size()) + " bytes long (at most " +
           std::to_string(max_name_bytes) + ")");
    if (!names.insert(e.name).second) fail("two entries are named " + quote(e.name));
    if (element_size(e.type) == 0 && e.type != element_code::binary) fail(which + " has " + to_string(e.type));
    if (e.shape.size() > max_rank)
      fail(which + " has rank " + std::to_string(e.shape.size()) + " (at most " + std::to_string(max_rank) + ")");
    const std::int64_t n = checked_elements(e.shape);
    if (n < 0) fail(which + " has invalid extents " + shape_string(e.shape));
    const std::uint64_t need = entry_data_bytes(e.type, n, e.shape.empty() ? 1 : e.shape.back());
    if (need == std::numeric_limits<std::uint64_t>::max() || e.data.size() != need)
      fail(which + " holds " + std::to_string(e.data.size()) + " bytes of data, but " + to_string(e.type) + " " +
           shape_string(e.shape) + " needs " + std::to_string(need));
    size += smallest_entry - 1 + e.name.size() + 8 * e.shape.size() + e.data.size();
  }
  return size;
}

// Writes the format above to sink(const std::byte*, std::size_t) in one pass.
template <class Sink>
void write_archive_to(Sink&& sink, const archive& a, std::uint64_t total) {
  std::uint32_t file_crc = 0;
  std::vector<std::byte> b;
  b.reserve(256 + a.kind.size() + a.signature.size());
  auto emit = [&] {
    detail::crc32c_update2(&file_crc, nullptr, b.data(), b.size());
    sink(b.data(), b.size());
    b.clear();
  };
  b.insert(b.end(), archive_magic.begin(), archive_magic.end());
  put_u32(b, format_version);
  put_u32(b, 0);
  put_u64(b, total);
  put_u32(b, crc32c(b));
  put_str(b, a.kind);
  put_str(b, a.signature);
  put_u32(b, a.version);
  put_u32(b, static_cast<std::uint32_t>(a.entries.size()));
  put_u32(b, crc32c(b));
  emit();
  for (const auto& e : a.entries) {
    put_str(b, e.name);
    put_u8(b, static_cast<std::uint8_t>(e.type));
    put_u8(b, static_cast<std::uint8_t>(e.shape.size()));
    for (const auto d : e.shape) put_u64(b, static_cast<std::uint64_t>(d));
    put_u64(b, e.data.size());
    put_u32(b, crc32c(b));
    emit();
    std::uint32_t data_crc = 0;
    detail::crc32c_update2(&file_crc, &data_crc, e.data.data(), e.data.size());
    if (!e.data.empty()) sink(e.data.data(), e.data.size());
    put_u32(b, data_crc);
    emit();
  }
  put_u32(b, file_crc);
  sink(b.data(), b.size());
}

inline std::string errno_message(int err) { return std::error_code(err, std::generic_category()).message(); }

inline std::FILE* open_file(const std::filesystem::path& p, const char* mode) {
#if defined(_WIN32)
  std::wstring wmode(mode, mode + std::strlen(mode));
  return ::_wfopen(p.c_str(), wmode.c_str());
#else
  return std::fopen(p.c_str(), mode);
#endif
}

}  // namespace detail

// The archive in the file format, in memory (for sending over a network or embedding).
STRATA_FUNC std::vector<std::byte> encode_archive(const archive& a) {
  const std::uint64_t total = detail::checked_archive_size(a, "cannot encode archive: ");
  std::vector<std::byte> out;
  out.reserve(static_cast<std::size_t>(total));
  detail::write_archive_to([&](const std::byte* p, std::size_t n) { out.insert(out.end(), p, p + n); }, a, total);
  return out;
}

// Streams the format through io::atomic_file, which holds no more than 64 KiB of it at a time.
STRATA_FUNC void write_archive(const std::filesystem::path& path, const archive& a) {
  const std::uint64_t total = detail::checked_archive_size(a, "cannot write " + detail::quote_path(path) + ": ");
  try {
    atomic_file file(path);
    detail::write_archive_to([&](const std::byte* p, std::size_t n) { file.write({p, n}); }, a, total);
    file.commit();
  } catch (const error& e) {  // callers of the archive functions catch one type
    throw archive_error(e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

namespace detail {

class file_source {
 public:
  file_source(const std::filesystem::path& path, const std::string& where) : where_(where) {
    f_ = open_file(path, "rb");
    if (!f_) throw archive_error("cannot open " + where_ + " for reading: " + errno_message(errno));
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) {
      std::fclose(f_);
      throw archive_error("cannot read " + where_ + ": " + ec.message());
    }
    size_ = size;
    std::setvbuf(f_, nullptr, _IOFBF, std::size_t{1} << 16);
  }
  file_source(const file_source&) = delete;
  file_source& operator=(const file_source&) = delete;
  ~file_source() { std::fclose(f_); }

  std::uint64_t size() const noexcept { return size_; }
  void read(std::byte* dst, std::size_t n) {
    if (n == 0) return;
    if (std::fread(dst, 1, n, f_) != n) {
      if (std::ferror(f_)) throw archive_error("cannot read " + where_ + ": " + errno_message(errno));
      throw archive_error("cannot read " + where_ + ": the file became shorter while it was being read");
    }
  }
  void rewind() {
    std::clearerr(f_);
    if (std::fseek(f_, 0, SEEK_SET) != 0) throw archive_error("cannot read " + where_ + ": " + errno_message(errno));
  }

 private:
  std::string where_;
  std::FILE* f_ = nullptr;
  std::uint64_t size_ = 0;
};

class memory_source {
 public:
  explicit memory_source(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}
  std::uint64_t size() const noexcept { return bytes_.size(); }
  void read(std::byte* dst, std::size_t n) noexcept {
    if (n) std::memcpy(dst, bytes_.data() + pos_, n);
    pos_ += n;
  }
  void rewind() noexcept { pos_ = 0; }

 private:
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
};

// The signatures side by side; a long one is shown around the first difference.
inline std::string signature_difference(std::string_view found, std::string_view expected) {
  const auto first = static_cast<std::size_t>(
      std::mismatch(found.begin(), found.end(), expected.begin(), expected.end()).first - found.begin());
  constexpr std::size_t width = 120, before = 40;
  auto excerpt = [&](std::string_view s) {
    if (s.size() <= width) return quote(s);
    const std::size_t from = first > before ? std::min(first - before, s.size() > width ? s.size() - width : 0) : 0;
    std::string e = (from ? "..." : "") + quote(s.substr(from, width)) + (from + width < s.size() ? "..." : "");
    return e + " (" + std::to_string(s.size()) + " characters)";
  };
  return "\n  the file's signature: " + excerpt(found) + "\n  the expected one:     " + excerpt(expected) +
         "\n  (they first differ at character " + std::to_string(first) + ")";
}

struct read_expectation {
  std::string_view kind, signature;
};

// One pass over the source: every field is bounds-checked before it is read and every record's
// checksum before its fields are used.
template <class Source>
class archive_reader {
 public:
  archive_reader(Source& src, std::string where) : src_(src), where_(std::move(where)), file_size_(src.size()) {}

  archive read(const read_expectation* expect) {
    read_preamble();
    archive a;
    a.source = where_source_;
    context_ = "in the header";
    const std::uint32_t kind_len = length_field("the kind", max_kind_bytes);
    a.kind = read_string(kind_len, "the kind");
    const std::uint32_t sig_len = length_field("the signature", max_signature_bytes);
    a.signature = read_string(sig_len, "the signature");
    a.version = read_u32();
    const std::uint32_t count = read_u32();
    check_crc(file_crc_, "in the header (kind, signature and entry count, bytes 28-" + std::to_string(pos_ - 1) + ")");
    if (expect) check_expectation(a, *expect);
    if (count > (end_of_entries() - pos_) / smallest_entry)
      malformed("the header lists " + std::to_string(count) + " entries, more than fit in the file");
    a.entries.reserve(std::min<std::uint64_t>(count, (file_size_ - pos_) / smallest_entry));
    for (std::uint32_t i = 0; i < count; ++i) a.entries.push_back(read_one_entry(i, count));
    context_ = "in the trailing checksum";
    if (pos_ != end_of_entries())
      structural(std::to_string(end_of_entries() - pos_) + " unexpected bytes after the last entry, at offset " +
                 std::to_string(pos_));
    const std::uint32_t running = file_crc_;
    std::array<std::byte, 4> b;
    take(b.data(), 4, total_, false);
    if (load_le32(b.data()) != running)
      corrupted("checksum mismatch over the whole file, trailer at offset " + std::to_string(total_ - 4));
    return a;
  }

  void set_source_name(std::string s) { where_source_ = std::move(s); }

 private:
  std::uint64_t end_of_entries() const noexcept { return total_ - 4; }

  [[noreturn]] void fail(const std::string& what) const { throw archive_error(where_ + ": " + what); }
  [[noreturn]] void corrupted(const std::string& what) const { fail("corrupted (" + what + ")"); }
  [[noreturn]] void malformed(const std::string& what) const {
    fail("malformed: " + what + " (the checksums covering it match, so whatever wrote the file broke the format)");
  }
  [[noreturn]] void truncated() const {
    fail("truncated: expected " + more_bytes(total_ - file_size_) + " at offset " +
         std::to_string(file_size_) + " (" + context_ + "; the archive is " + std::to_string(total_) +
         " bytes, the file " + std::to_string(file_size_) + ")");
  }

  // A length or count that does not fit the file. Only damage (or a broken writer) does that, so
  // the whole-file checksum decides which of the two to report.
  [[noreturn]] void structural(const std::string& what) {
    const std::string detail = what + ", " + context_;
    if (file_size_ != total_)
      fail("truncated or corrupted: " + detail + "; the preamble gives the archive's length as " +
           std::to_string(total_) + " bytes, the file has " + std::to_string(file_size_));
    src_.rewind();
    std::vector<std::byte> buf(std::min<std::uint64_t>(io_chunk, total_));
    std::uint32_t crc = 0;
    for (std::uint64_t left = total_ - 4; left > 0;) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
      src_.read(buf.data(), n);
      crc32c_update2(&crc, nullptr, buf.data(), n);
      left -= n;
    }
    src_.read(buf.data(), 4);
    if (load_le32(buf.data()) != crc) fail("corrupted (checksum mismatch): " + detail);
    malformed(detail);
  }

  // Reads n bytes ending no later than `end`; past `end` is damage, past the file's end truncation.
  void take(std::byte* dst, std::uint64_t n, std::uint64_t end, bool checksummed = true) {
    if (n > end - pos_)
      structural("a field of " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) + " runs past offset " +
                 std::to_string(end));
    if (n > file_size_ - pos_) truncated();
    src_.read(dst, static_cast<std::size_t>(n));
    if (checksummed) crc32c_update2(&file_crc_, record_ ? &record_crc_ : nullptr, dst, static_cast<std::size_t>(n));
    pos_ += n;
  }
  std::uint8_t read_u8() {
    std::byte b;
    take(&b, 1, end_of_entries());
    return std::to_integer<std::uint8_t>(b);
  }
  std::uint32_t read_u32() {
    std::array<std::byte, 4> b;
    take(b.data(), 4, end_of_entries());
    return load_le32(b.data());
  }
  std::uint64_t read_u64() {
    std::array<std::byte, 8> b;
    take(b.data(), 8, end_of_entries());
    return load_le64(b.data());
  }
  std::uint32_t length_field(const std::string& what, std::size_t limit) {
    const std::uint64_t at = pos_;
    const std::uint32_t n = read_u32();
    if (n > limit)
      structural("the length of " + what + " at offset " + std::to_string(at) + " is " + std::to_string(n) +
                 " bytes, more than the " + std::to_string(limit) + " allowed");
    return n;
  }
  std::string read_string(std::uint32_t n, const std::string& what) {
    if (n > end_of_entries() - pos_)
      structural(what + " (" + std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
                 ") runs past the end of the archive");
    if (n > file_size_ - pos_) truncated();
    std::string s(n, '\0');
    take(reinterpret_cast<std::byte*>(s.data()), n, end_of_entries());
    return s;
  }
  // Reads a stored CRC (itself part of the whole-file checksum) and compares it with `expected`.
  void check_crc(std::uint32_t expected, const std::string& where) {
    record_ = false;
    if (read_u32() != expected) corrupted("checksum mismatch " + where);
  }

  void read_preamble() {
    context_ = "in the preamble";
    std::array<std::byte, preamble_bytes> p{};
    const auto got = static_cast<std::size_t>(std::min<std::uint64_t>(file_size_, preamble_bytes));
    src_.read(p.data(), got);
    const std::size_t magic_seen = std::min(got, archive_magic.size());
    std::size_t matching = 0;
    for (std::size_t i = 0; i < magic_seen; ++i) matching += p[i] == archive_magic[i];
    if (file_size_ == 0) fail("truncated: the file is empty (a strata archive is at least " +
                              std::to_string(smallest_archive) + " bytes)");
    if (matching != magic_seen) {
      if (magic_seen == archive_magic.size() && matching == magic_seen - 1)
        corrupted("the magic number at offset 0 is damaged: " + hex_bytes(p.data(), 8) + ", expected " +
                  hex_bytes(archive_magic.data(), 8));
      fail("not a strata archive: it starts with " + hex_bytes(p.data(), magic_seen) + ", a strata archive with " +
           hex_bytes(archive_magic.data(), 8));
    }
    if (got < preamble_bytes) {
      fail("truncated: expected at least " + more_bytes(preamble_bytes - got) + " at offset " +
           std::to_string(got) + " (in the preamble; the file is " + std::to_string(file_size_) + " bytes)");
    }
    if (crc32c(std::span(p).first(24)) != load_le32(p.data() + 24))
      corrupted("checksum mismatch in the preamble, bytes 0-27");
    const std::uint32_t version = load_le32(p.data() + 8);
    if (version > format_version)
      fail("written by a newer strata (format v" + std::to_string(version) + "; this library reads v" +
           std::to_string(format_version) + ")");
    if (version == 0) malformed("format version 0 does not exist");
    if (const std::uint32_t flags = load_le32(p.data() + 12); flags != 0)
      malformed("flags " + std::to_string(flags) + " are set, which format v1 does not define");
    total_ = load_le64(p.data() + 16);
    if (total_ < smallest_archive)
      malformed("the preamble gives a length of " + std::to_string(total_) + " bytes, less than the smallest archive (" +
                std::to_string(smallest_archive) + ")");
    if (file_size_ > total_)
      fail("corrupted: the archive ends at offset " + std::to_string(total_) + " but the file is " +
           std::to_string(file_size_) + " bytes long (" + std::to_string(file_size_ - total_) +
           " unexpected bytes appended)");
    pos_ = preamble_bytes;
    file_crc_ = crc32c(p);
  }

  void check_expectation(const archive& a, const read_expectation& x) const {
    if (a.kind != x.kind)
      fail("holds a " + quote(a.kind) + " archive, but a " + quote(x.kind) + " archive was expected");
    if (a.signature != x.signature)
      fail("saved from a different architecture: its signature differs from the expected one" +
           signature_difference(a.signature, x.signature));
  }

  archive_entry read_one_entry(std::uint32_t i, std::uint32_t count) {
    const std::uint64_t start = pos_;
    context_ = "in the header of entry #" + std::to_string(i + 1) + " of " + std::to_string(count) + ", at offset " +
               std::to_string(start);
    record_ = true;
    record_crc_ = 0;
    archive_entry e;
    const std::string which = "entry #" + std::to_string(i + 1);
    const std::uint32_t name_len = length_field("the name of " + which, max_name_bytes);
    e.name = read_string(name_len, "the name of " + which);
    context_ = "in the header of entry #" + std::to_string(i + 1) + " of " + std::to_string(count) + " (named " +
               quote(e.name) + "), at offset " + std::to_string(start);
    e.type = static_cast<element_code>(read_u8());
    const std::uint8_t rank = read_u8();
    if (rank > max_rank)
      structural(which + " has rank " + std::to_string(rank) + ", more than the " + std::to_string(max_rank) +
                 " allowed");
    e.shape.resize(rank);
    for (auto& d : e.shape) d = static_cast<std::int64_t>(read_u64());
    const std::uint64_t bytes = read_u64();
    check_crc(record_crc_, context_);

    // From here the entry's fields are as the writer wrote them.
    context_ = "in entry " + quote(e.name);
    if (e.name.empty()) malformed(which + " has an empty name");
    if (!names_.insert(e.name).second) malformed("two entries are named " + quote(e.name));
    if (element_size(e.type) == 0 && e.type != element_code::binary)
      malformed("entry " + quote(e.name) + " has " + to_string(e.type));
    const std::int64_t n = checked_elements(e.shape);
    if (n < 0) malformed("entry " + quote(e.name) + " has invalid extents " + shape_string(e.shape));
    const std::uint64_t need = entry_data_bytes(e.type, n, e.shape.empty() ? 1 : e.shape.back());
    if (need == std::numeric_limits<std::uint64_t>::max() || bytes != need)
      malformed("entry " + quote(e.name) + " is " + to_string(e.type) + " " + shape_string(e.shape) + " but holds " +
                std::to_string(bytes) + " bytes");
    if (bytes > end_of_entries() - pos_)
      structural("the data of entry " + quote(e.name) + " (" + std::to_string(bytes) +
                 " bytes) runs past the end of the archive");
    if (bytes > file_size_ - pos_) truncated();

    // The data, read straight into place a chunk at a time and checksummed while in cache.
    const std::uint64_t data_start = pos_;
    e.data.resize(static_cast<std::size_t>(bytes));
    record_ = true;
    record_crc_ = 0;
    for (std::size_t done = 0; done < e.data.size();) {
      const std::size_t n_chunk = std::min(io_chunk, e.data.size() - done);
      take(e.data.data() + done, n_chunk, end_of_entries());
      done += n_chunk;
    }
    check_crc(record_crc_, "in the data of entry " + quote(e.name) + ", bytes " + std::to_string(data_start) + "-" +
                               std::to_string(data_start + bytes - (bytes ? 1 : 0)));
    return e;
  }

  static std::string more_bytes(std::uint64_t n) { return std::to_string(n) + (n == 1 ? " more byte" : " more bytes"); }
  static std::string hex_bytes(const std::byte* p, std::size_t n) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      const auto u = std::to_integer<unsigned>(p[i]);
      ((s += (i ? " " : "")) += hex[u >> 4]) += hex[u & 15];
    }
    return s;
  }

  Source& src_;
  std::string where_;
  std::string where_source_;
  std::uint64_t file_size_ = 0, total_ = 0, pos_ = 0;
  std::uint32_t file_crc_ = 0, record_crc_ = 0;
  bool record_ = false;  // also fold the bytes read into record_crc_
  std::unordered_set<std::string> names_;
  std::string context_;
};

template <class Source>
archive read_archive_from(Source& src, std::string where, std::string source_name, const read_expectation* expect) {
  archive_reader<Source> r(src, std::move(where));
  r.set_source_name(std::move(source_name));
  return r.read(expect);
}

}  // namespace detail

// Reads and checks a whole archive: the magic, the format version, every checksum and length.
STRATA_FUNC archive read_archive(const std::filesystem::path& path) {
  const std::string where = detail::quote_path(path);
  detail::file_source src(path, where);
  return detail::read_archive_from(src, where, path.string(), nullptr);
}

// As above, and the archive must be of `expected_kind` and saved from the architecture with
// `expected_signature`; that is checked right after the header, before any tensor is read.
STRATA_FUNC archive read_archive(const std::filesystem::path& path, std::string_view expected_kind,
                                 std::string_view expected_signature) {
  const std::string where = detail::quote_path(path);
  detail::file_source src(path, where);
  const detail::read_expectation expect{expected_kind, expected_signature};
  return detail::read_archive_from(src, where, path.string(), &expect);
}

// The in-memory counterparts of read_archive; `name` stands for the file in messages.
STRATA_FUNC archive decode_archive(std::span<const std::byte> bytes, std::string_view name) {
  detail::memory_source src(bytes);
  return detail::read_archive_from(src, detail::quote(name), std::string(name), nullptr);
}
STRATA_FUNC archive decode_archive(std::span<const std::byte> bytes, std::string_view expected_kind,
                                   std::string_view expected_signature, std::string_view name) {
  detail::memory_source src(bytes);
  const detail::read_expectation expect{expected_kind, expected_signature};
  return detail::read_archive_from(src, detail::quote(name), std::string(name), &expect);
}

}  // namespace strata::io
