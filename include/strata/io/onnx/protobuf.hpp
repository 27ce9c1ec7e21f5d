// strata/io/onnx/protobuf.hpp — the protobuf wire format, read: just enough to parse ONNX files
// without libprotobuf (no generated code, no link dependency, no ABI). A reader walks one message's
// fields in file order; every length, varint and fixed-width value is checked against the end of
// the enclosing message before it is used or allocated for, and every failure is an onnx_error
// naming the file, the message, the field number and the byte offset.
//
// Wire format (https://protobuf.dev/programming-guides/encoding/): a message is a sequence of
// fields, each a varint tag (field number << 3 | wire type) and a value: 0 varint (LEB128, at most
// 10 bytes), 1 fixed64 (8 bytes, little-endian), 2 length-delimited (varint byte count, then the
// bytes: strings, bytes, sub-messages, packed repeated scalars), 5 fixed32 (4 bytes). Wire types
// 3/4 (deprecated groups; ONNX has none) are rejected. Unknown fields are skipped, as protobuf
// does. A repeated scalar field may come packed (one length-delimited run) or unpacked (one field
// per element) whatever the .proto declares, and a parser must accept both.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strata/core/error.hpp"

namespace strata::onnx {

// Anything wrong with an ONNX file or with what a caller asked of it. Messages from the reader
// read "<file>: <Message> field <n> at byte <offset>: <what> [<path of enclosing messages>]".
class onnx_error : public strata::error {
 public:
  using error::error;
};

namespace protobuf {

enum class wire_type : std::uint8_t {
  varint = 0,
  fixed64 = 1,
  length_delimited = 2,
  start_group = 3,  // deprecated, rejected
  end_group = 4,    // deprecated, rejected
  fixed32 = 5,
};

inline const char* wire_type_name(wire_type t) noexcept {
  switch (t) {
    case wire_type::varint: return "varint (0)";
    case wire_type::fixed64: return "fixed64 (1)";
    case wire_type::length_delimited: return "length-delimited (2)";
    case wire_type::start_group: return "start-group (3)";
    case wire_type::end_group: return "end-group (4)";
    case wire_type::fixed32: return "fixed32 (5)";
  }
  return "invalid";
}

// Reads the fields of one message, in file order:
//
//   protobuf::reader r(bytes, "model.onnx", "ModelProto");
//   while (r.next()) {
//     switch (r.field()) {
//       case 1: ir_version = r.int64(); break;
//       case 7: parse_graph(r.message("GraphProto"), graph); break;
//       default: break;  // unknown field: next() skips its value
//     }
//   }
//
// A value accessor checks the field's wire type and the bounds, and consumes the value; next()
// skips a value nobody read. message() returns a reader over a sub-message, which refers to its
// parent for error messages: it must not outlive it. Offsets are from the start of the buffer
// (the file), whatever the nesting. The buffer must outlive the reader and every span it returns.
class reader {
 public:
  reader(std::span<const std::uint8_t> buffer, std::string_view source, const char* message_name)
      : data_(buffer.data()), end_(static_cast<std::int64_t>(buffer.size())), begin_(0), pos_(0), source_(source),
        message_(message_name) {}

  // Advances to the next field: false at the end of the message. Skips the value of the current
  // field if it was not read.
  bool next() {
    if (pending_) skip();
    field_ = 0;
    if (pos_ >= end_) return false;
    field_offset_ = pos_;
    const std::uint64_t tag = raw_varint("a field tag");
    const std::uint64_t number = tag >> 3;
    type_ = static_cast<wire_type>(tag & 7);
    if (number == 0 || number > max_field_number)
      fail_at(field_offset_, "invalid field number " + std::to_string(number) + " in tag " + std::to_string(tag));
    field_ = static_cast<std::uint32_t>(number);
    if (type_ == wire_type::start_group || type_ == wire_type::end_group)
      fail(std::string("wire type ") + wire_type_name(type_) + " (a deprecated protobuf group) is not supported");
    if (static_cast<std::uint8_t>(type_) > 5) fail("invalid wire type " + std::to_string(tag & 7));
    pending_ = true;
    return true;
  }

  // The current field.
  std::uint32_t field() const noexcept { return field_; }
  wire_type type() const noexcept { return type_; }
  std::int64_t field_offset() const noexcept { return field_offset_; }
  // Where this message's bytes start and end (offsets into the buffer).
  std::int64_t message_begin() const noexcept { return begin_; }
  std::int64_t message_end() const noexcept { return end_; }
  const char* message_name() const noexcept { return message_; }
  std::string_view source() const noexcept { return source_; }

  // --- the current field's value; each checks the wire type --------------------------------------
  std::uint64_t varint() {
    expect(wire_type::varint);
    pending_ = false;
    return raw_varint("a varint value");
  }
  // int64, uint64 and enum fields (a negative int64 is a 10-byte varint: two's complement).
  std::int64_t int64() { return static_cast<std::int64_t>(varint()); }
  // int32 fields: encoded sign-extended to 64 bits, so a negative one is a 10-byte varint too.
  std::int32_t int32() {
    const std::int64_t v = int64();
    if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max())
      fail("value " + std::to_string(v) + " does not fit the field's int32");
    return static_cast<std::int32_t>(v);
  }
  float float32() {
    expect(wire_type::fixed32);
    pending_ = false;
    return std::bit_cast<float>(fixed<std::uint32_t>());
  }
  double float64() {
    expect(wire_type::fixed64);
    pending_ = false;
    return std::bit_cast<double>(fixed<std::uint64_t>());
  }
  // The bytes of a length-delimited field (a view into the buffer).
  std::span<const std::uint8_t> bytes() {
    expect(wire_type::length_delimited);
    pending_ = false;
    const std::int64_t n = length();
    const std::span<const std::uint8_t> s(data_ + pos_, static_cast<std::size_t>(n));
    pos_ += n;
    return s;
  }
  std::string string() {
    const auto s = bytes();
    return std::string(reinterpret_cast<const char*>(s.data()), s.size());
  }
  // A reader over the sub-message in the current (length-delimited) field.
  reader message(const char* message_name) {
    const std::int64_t at = pos_;
    const auto s = bytes();
    const std::int64_t first = at + (static_cast<std::int64_t>(s.data() - (data_ + at)));
    return reader(*this, first, first + static_cast<std::int64_t>(s.size()), message_name);
  }

  // --- repeated scalars, packed or not: append the current field's element(s) to out ------------
  void append_varints(std::vector<std::int64_t>& out) {
    if (type_ != wire_type::length_delimited) {
      out.push_back(int64());
      return;
    }
    packed_run run(*this);
    while (pos_ < end_) out.push_back(static_cast<std::int64_t>(raw_varint("a packed varint")));
  }
  // int32 elements (each range-checked), widened to int64.
  void append_int32s(std::vector<std::int64_t>& out) {
    if (type_ != wire_type::length_delimited) {
      out.push_back(int32());
      return;
    }
    packed_run run(*this);
    while (pos_ < end_) {
      const std::int64_t at = pos_;
      const auto v = static_cast<std::int64_t>(raw_varint("a packed varint"));
      if (v < std::numeric_limits<std::int32_t>::min() || v > std::numeric_limits<std::int32_t>::max())
        fail_at(at, "packed value " + std::to_string(v) + " does not fit the field's int32");
      out.push_back(v);
    }
  }
  void append_floats(std::vector<float>& out) { append_fixed<float, std::uint32_t>(out, wire_type::fixed32); }
  void append_doubles(std::vector<double>& out) { append_fixed<double, std::uint64_t>(out, wire_type::fixed64); }

  // Skips the current field's value.
  void skip() {
    pending_ = false;
    switch (type_) {
      case wire_type::varint: raw_varint("a varint value"); break;
      case wire_type::fixed64: need(8, "a fixed64 value"); pos_ += 8; break;
      case wire_type::fixed32: need(4, "a fixed32 value"); pos_ += 4; break;
      case wire_type::length_delimited: pos_ += length(); break;
      default: fail("cannot skip a field of wire type " + std::string(wire_type_name(type_)));
    }
  }

  // --- errors -----------------------------------------------------------------------------------
  // About the current field (or the tag being read).
  [[noreturn]] void fail(std::string_view what) const { fail_at(field_ ? field_offset_ : pos_, what); }
  [[noreturn]] void fail_at(std::int64_t offset, std::string_view what) const {
    std::string m(source_);
    m += ": ";
    m += message_;
    if (field_) m += " field " + std::to_string(field_);
    m += " at byte " + std::to_string(offset) + ": ";
    m += what;
    m += path();
    throw onnx_error(m);
  }
  // About the message as a whole (its first byte): "<file>: TensorProto 'w' at byte 12: <what>".
  [[noreturn]] void fail_message(std::string_view label, std::string_view what) const {
    std::string m(source_);
    m += ": ";
    m += message_;
    if (!label.empty()) {
      m += " '";
      m += label;
      m += "'";
    }
    m += " at byte " + std::to_string(begin_) + ": ";
    m += what;
    m += path();
    throw onnx_error(m);
  }

  // Largest field number protobuf allows (2^29 - 1).
  static constexpr std::uint64_t max_field_number = (std::uint64_t{1} << 29) - 1;

 private:
  reader(const reader& parent, std::int64_t first, std::int64_t last, const char* message_name)
      : data_(parent.data_), end_(last), begin_(first), pos_(first), source_(parent.source_), message_(message_name),
        parent_(&parent) {}

  // Limits the reader to the current packed run's bytes for its lifetime.
  struct packed_run {
    reader& r;
    std::int64_t outer_end;
    explicit packed_run(reader& rr) : r(rr), outer_end(rr.end_) {
      const auto s = r.bytes();
      r.pos_ -= static_cast<std::int64_t>(s.size());
      r.end_ = r.pos_ + static_cast<std::int64_t>(s.size());
    }
    ~packed_run() { r.end_ = outer_end; }
    packed_run(const packed_run&) = delete;
    packed_run& operator=(const packed_run&) = delete;
  };

  // " [in ModelProto field 7 > GraphProto field 1]": the enclosing messages, outermost first.
  std::string path() const {
    if (!parent_) return {};
    std::string p;
    for (const reader* r = parent_; r; r = r->parent_)
      p = std::string(r->message_) + " field " + std::to_string(r->field_) + (p.empty() ? "" : " > ") + p;
    return " [in " + p + "]";
  }

  void expect(wire_type t) const {
    if (type_ != t)
      fail(std::string("wire type ") + wire_type_name(type_) + " where the field's type needs " + wire_type_name(t));
  }

  void need(std::int64_t n, const char* what) const {
    if (end_ - pos_ < n)
      fail_at(pos_, std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes but the " + message_ +
                        " ends at byte " + std::to_string(end_) + " (" + std::to_string(end_ - pos_) + " left)");
  }

  std::uint64_t raw_varint(const char* what) {
    const std::int64_t start = pos_;
    std::uint64_t v = 0;
    for (int i = 0;; ++i) {
      if (pos_ >= end_)
        fail_at(start, std::string("truncated varint (") + what + "): the " + message_ + " ends at byte " +
                           std::to_string(end_) + " inside it");
      const std::uint8_t b = data_[pos_++];
      if (i == 9) {
        if (b & 0x80) fail_at(start, std::string("varint (") + what + ") longer than 10 bytes");
        if (b > 1) fail_at(start, std::string("varint (") + what + ") overflows 64 bits");
      }
      v |= std::uint64_t(b & 0x7f) << (7 * i);
      if (!(b & 0x80)) return v;
    }
  }

  // A length prefix, checked against what is left of the message.
  std::int64_t length() {
    const std::int64_t at = pos_;
    const std::uint64_t n = raw_varint("a length");
    if (n > static_cast<std::uint64_t>(end_ - pos_))
      fail_at(at, "length " + std::to_string(n) + " runs past the end of the " + message_ + " (byte " +
                      std::to_string(end_) + ", " + std::to_string(end_ - pos_) + " bytes left)");
    return static_cast<std::int64_t>(n);
  }

  template <class U>
  U fixed() {
    need(sizeof(U), sizeof(U) == 4 ? "a fixed32 value" : "a fixed64 value");
    U v = 0;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&v, data_ + pos_, sizeof(U));
    } else {
      for (std::size_t k = 0; k < sizeof(U); ++k) v |= U(data_[pos_ + static_cast<std::int64_t>(k)]) << (8 * k);
    }
    pos_ += sizeof(U);
    return v;
  }

  template <class T, class U>
  void append_fixed(std::vector<T>& out, wire_type element) {
    if (type_ != wire_type::length_delimited) {
      expect(element);
      pending_ = false;
      out.push_back(std::bit_cast<T>(fixed<U>()));
      return;
    }
    const auto s = bytes();
    if (s.size() % sizeof(T) != 0)
      fail("packed run of " + std::to_string(s.size()) + " bytes is not a whole number of " +
           std::to_string(sizeof(T)) + "-byte elements");
    const std::size_t n = s.size() / sizeof(T), old = out.size();
    out.resize(old + n);
    if constexpr (std::endian::native == std::endian::little) {
      if (n) std::memcpy(out.data() + old, s.data(), s.size());
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        U v = 0;
        for (std::size_t k = 0; k < sizeof(U); ++k) v |= U(s[i * sizeof(U) + k]) << (8 * k);
        out[old + i] = std::bit_cast<T>(v);
      }
    }
  }

  const std::uint8_t* data_;   // the whole buffer
  std::int64_t end_;           // this message's end (offset into the buffer)
  std::int64_t begin_;         // this message's first byte
  std::int64_t pos_;           // the next byte to read
  std::string_view source_;    // the file's name, for messages
  const char* message_;        // this message's type, for messages
  const reader* parent_ = nullptr;
  std::uint32_t field_ = 0;    // the current field's number, 0 before the first and at the end
  wire_type type_ = wire_type::varint;
  std::int64_t field_offset_ = 0;
  bool pending_ = false;       // the current field's value has not been read yet
};

}  // namespace protobuf
}  // namespace strata::onnx
