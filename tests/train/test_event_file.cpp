// The TensorBoard event file, read back by a reader written here from the format's description:
// every record's length and both masked CRC-32Cs (recomputed with a bitwise CRC of the test's
// own), the protobuf fields by number and wire type, the file's name and first event, histogram
// statistics and buckets; a failed write leaves whole records only; errors name the path. Then
// the CSV log, byte for byte, and histograms of a model's parameters. tests/train/read_events.py
// reads the same kind of files with TensorBoard's own reader (train.event_file.tensorboard).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#if defined(__unix__)
#include <signal.h>
#include <sys/resource.h>
#endif

#include "strata/layers/dense.hpp"
#include "strata/net/model.hpp"
#include "strata/train/event_file.hpp"
#include "strata/train/training_log.hpp"
#include "support/files.hpp"

using namespace strata;
using namespace strata::train;
using strata::testing::temp_dir;
using Catch::Contains;

namespace {

// ---- an independent reader -----------------------------------------------------------------

// CRC-32C one bit at a time (reflected polynomial 0x82F63B78): slow and obviously right.
std::uint32_t bitwise_crc32c(std::string_view s) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (const char ch : s) {
    crc ^= static_cast<unsigned char>(ch);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::uint32_t masked(std::uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

std::uint64_t little_endian(std::string_view s) {
  std::uint64_t v = 0;
  for (std::size_t i = s.size(); i-- > 0;) v = v << 8 | static_cast<unsigned char>(s[i]);
  return v;
}

std::string read_file(const std::filesystem::path& p) {
  const auto b = strata::testing::read_raw(p);
  return std::string(b.begin(), b.end());
}

// The records of an event file; REQUIREs that each is framed correctly and the file ends after one.
std::vector<std::string> read_records(const std::filesystem::path& p) {
  const std::string file = read_file(p);
  std::vector<std::string> records;
  std::size_t at = 0;
  while (at < file.size()) {
    REQUIRE(file.size() - at >= 12);
    const std::string_view header(file.data() + at, 8);
    const std::uint64_t length = little_endian(header);
    REQUIRE(little_endian(std::string_view(file.data() + at + 8, 4)) == masked(bitwise_crc32c(header)));
    REQUIRE(file.size() - at - 12 >= length + 4);
    const std::string_view data(file.data() + at + 12, length);
    REQUIRE(little_endian(std::string_view(file.data() + at + 12 + length, 4)) == masked(bitwise_crc32c(data)));
    records.emplace_back(data);
    at += 12 + length + 4;
  }
  REQUIRE(at == file.size());
  return records;
}

// A protobuf field as it is on the wire.
struct field {
  int wire_type = -1;
  std::uint64_t number = 0;  // varint, or fixed32/fixed64 bits
  std::string bytes;         // length-delimited
};
using message = std::multimap<std::uint32_t, field>;

std::uint64_t read_varint(std::string_view s, std::size_t& at) {
  std::uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    REQUIRE(at < s.size());
    REQUIRE(shift < 64);
    const auto b = static_cast<unsigned char>(s[at++]);
    v |= std::uint64_t{b & 0x7Fu} << shift;
    if (!(b & 0x80)) return v;
  }
}

message parse(std::string_view s) {
  message m;
  std::size_t at = 0;
  while (at < s.size()) {
    const std::uint64_t key = read_varint(s, at);
    field f;
    f.wire_type = static_cast<int>(key & 7);
    switch (f.wire_type) {
      case 0: f.number = read_varint(s, at); break;
      case 1: REQUIRE(s.size() - at >= 8); f.number = little_endian(s.substr(at, 8)); at += 8; break;
      case 5: REQUIRE(s.size() - at >= 4); f.number = little_endian(s.substr(at, 4)); at += 4; break;
      case 2: {
        const std::uint64_t n = read_varint(s, at);
        REQUIRE(s.size() - at >= n);
        f.bytes = std::string(s.substr(at, n));
        at += n;
        break;
      }
      default: FAIL("wire type " << f.wire_type);
    }
    m.emplace(static_cast<std::uint32_t>(key >> 3), f);
  }
  return m;
}

const field& only(const message& m, std::uint32_t number, int wire_type) {
  REQUIRE(m.count(number) == 1);
  const field& f = m.find(number)->second;
  REQUIRE(f.wire_type == wire_type);
  return f;
}
double as_double(const field& f) { return strata::bit_cast<double>(f.number); }
float as_float(const field& f) { return strata::bit_cast<float>(static_cast<std::uint32_t>(f.number)); }
std::vector<double> packed_doubles(const field& f) {
  REQUIRE(f.bytes.size() % 8 == 0);
  std::vector<double> v;
  for (std::size_t i = 0; i < f.bytes.size(); i += 8) v.push_back(strata::bit_cast<double>(little_endian(std::string_view(f.bytes).substr(i, 8))));
  return v;
}

// Event fields: wall_time 1 (double), step 2 (int64), file_version 3, summary 5; Summary.value 1;
// Value: tag 1, simple_value 2 (float), histo 5; HistogramProto: min..sum_squares 1..5 (double),
// bucket_limit 6, bucket 7 (packed double).
struct decoded_value {
  std::string tag;
  bool is_scalar = false;
  float scalar = 0;
  message histo;
};
struct decoded_event {
  double wall_time = 0;
  std::int64_t step = 0;
  std::vector<decoded_value> values;
};

decoded_event decode_summary_event(const std::string& record) {
  const message e = parse(record);
  decoded_event d;
  d.wall_time = as_double(only(e, 1, 1));
  d.step = static_cast<std::int64_t>(only(e, 2, 0).number);
  REQUIRE(e.count(3) == 0);
  const message summary = parse(only(e, 5, 2).bytes);
  for (auto [it, end] = summary.equal_range(1); it != end; ++it) {
    REQUIRE(it->second.wire_type == 2);
    const message v = parse(it->second.bytes);
    decoded_value dv;
    dv.tag = only(v, 1, 2).bytes;
    if (v.count(2)) {
      dv.is_scalar = true;
      dv.scalar = as_float(only(v, 2, 5));
      REQUIRE(v.count(5) == 0);
    } else {
      dv.histo = parse(only(v, 5, 2).bytes);
    }
    d.values.push_back(dv);
  }
  REQUIRE(summary.size() == d.values.size());
  return d;
}

std::filesystem::path only_file_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  return files[0];
}

std::string hex(const std::string& s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string h;
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (!h.empty()) h += ' ';
    h += digits[u >> 4];
    h += digits[u & 15];
  }
  return h;
}

event_file_options fixed_clock(double seconds) {
  return {.wall_clock = [seconds] { return seconds; }};
}

}  // namespace

TEST_CASE("the test's own CRC-32C gives the known answer, and strata's masked CRC agrees with it", "[event_file]") {
  CHECK(bitwise_crc32c("123456789") == 0xE3069283u);
  CHECK(masked(0) == 0xa282ead8u);
  for (const std::string& s : std::vector<std::string>{"", "a", "123456789", "brain.Event:2", std::string(1000, '\xA5')})
    CHECK(train::detail::masked_crc32c(s) == masked(bitwise_crc32c(s)));
}

TEST_CASE("the protobuf encoder writes protobuf's wire format", "[event_file]") {
  using train::detail::protobuf_encoder;
  auto varint = [](std::uint64_t v) {
    protobuf_encoder e;
    e.varint(v);
    return hex(e.bytes());
  };
  CHECK(varint(0) == "00");
  CHECK(varint(127) == "7f");
  CHECK(varint(128) == "80 01");
  CHECK(varint(300) == "ac 02");
  CHECK(varint(~std::uint64_t{0}) == "ff ff ff ff ff ff ff ff ff 01");

  protobuf_encoder e;
  e.int64_field(2, -1);  // two's complement as a varint: ten bytes
  CHECK(hex(e.bytes()) == "10 ff ff ff ff ff ff ff ff ff 01");
  e = {};
  e.double_field(1, 1.0);
  CHECK(hex(e.bytes()) == "09 00 00 00 00 00 00 f0 3f");
  e = {};
  e.float_field(2, 1.0f);
  CHECK(hex(e.bytes()) == "15 00 00 80 3f");
  e = {};
  e.bytes_field(1, "ab");
  CHECK(hex(e.bytes()) == "0a 02 61 62");
  e = {};
  const double two[] = {1.0, -2.0};
  e.packed_doubles_field(6, two);
  CHECK(hex(e.bytes()) == "32 10 00 00 00 00 00 00 f0 3f 00 00 00 00 00 00 00 c0");
  e = {};
  e.packed_doubles_field(7, {});
  CHECK(e.bytes().empty());
}

TEST_CASE("an event file is named for its time and host and starts with the file version", "[event_file]") {
  temp_dir dir("strata_event_file");
  const auto logs = dir.path / "runs" / "first";  // created with its parents
  event_file_writer w(logs, fixed_clock(1700000000.75));
  const auto name = w.path().filename().string();
  CHECK(w.path().parent_path() == logs);
  CHECK(name == "events.out.tfevents.1700000000." + train::detail::host_name_for_files());

  const auto records = read_records(w.path());
  REQUIRE(records.size() == 1);
  const message first = parse(records[0]);
  CHECK(as_double(only(first, 1, 1)) == 1700000000.75);
  CHECK(only(first, 3, 2).bytes == "brain.Event:2");
  CHECK(first.size() == 2);  // no step, no summary
  CHECK(w.bytes_written() == std::filesystem::file_size(w.path()));

  SECTION("a second writer started in the same second gets a file of its own") {
    event_file_writer second(logs, fixed_clock(1700000000.9));
    CHECK(second.path() != w.path());
    CHECK(second.path().filename().string() == name + ".1");
    CHECK(read_records(w.path()).size() == 1);
  }
}

TEST_CASE("scalars are framed records of Event{wall_time, step, summary{tag, simple_value}}", "[event_file]") {
  temp_dir dir("strata_event_file");
  double now = 1000.5;
  event_file_writer w(dir.path, {.wall_clock = [&] { return now; }});
  now = 1001.25;
  w.scalar("train/loss", 0.1, 0);  // step 0 and value 0 must still be on the wire (below)
  now = 1002.0;
  w.scalar("train/accuracy", 0.0, 7);
  w.scalar("odd step", -3.5, -5);
  w.scalars({{"a", 1.0 / 3.0}, {"b/c", 1e30}}, 1234567890123);
  w.scalars(std::span<const scalar_value>{}, 9);  // nothing to write: no record
  w.flush();

  const auto records = read_records(w.path());
  REQUIRE(records.size() == 5);
  const decoded_event loss = decode_summary_event(records[1]);
  CHECK(loss.wall_time == 1001.25);
  CHECK(loss.step == 0);
  REQUIRE(loss.values.size() == 1);
  CHECK(loss.values[0].tag == "train/loss");
  CHECK(loss.values[0].is_scalar);
  CHECK(loss.values[0].scalar == 0.1f);

  const decoded_event accuracy = decode_summary_event(records[2]);
  CHECK(accuracy.wall_time == 1002.0);
  CHECK(accuracy.step == 7);
  CHECK(accuracy.values[0].scalar == 0.0f);

  CHECK(decode_summary_event(records[3]).step == -5);
  CHECK(decode_summary_event(records[3]).values[0].scalar == -3.5f);

  const decoded_event both = decode_summary_event(records[4]);
  CHECK(both.step == 1234567890123);
  REQUIRE(both.values.size() == 2);
  CHECK(both.values[0].tag == "a");
  CHECK(both.values[0].scalar == static_cast<float>(1.0 / 3.0));
  CHECK(both.values[1].tag == "b/c");
  CHECK(both.values[1].scalar == 1e30f);
}

TEST_CASE("histogram events carry min, max, num, sum, sum of squares and equal-width buckets", "[event_file]") {
  temp_dir dir("strata_event_file");
  event_file_writer w(dir.path, fixed_clock(5));
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> values = {1, -1, 0.5f, -0.5f, 0, 1, std::nanf(""), inf, -inf};
  w.histogram("weights/0.weight", values, 3, 4);

  const auto records = read_records(w.path());
  REQUIRE(records.size() == 2);
  const decoded_event e = decode_summary_event(records[1]);
  CHECK(e.step == 3);
  REQUIRE(e.values.size() == 1);
  CHECK(e.values[0].tag == "weights/0.weight");
  REQUIRE_FALSE(e.values[0].is_scalar);
  const message& h = e.values[0].histo;
  // NaN and ±inf are left out; the six finite values: -1, -0.5, 0, 0.5, 1, 1.
  CHECK(as_double(only(h, 1, 1)) == -1);
  CHECK(as_double(only(h, 2, 1)) == 1);
  CHECK(as_double(only(h, 3, 1)) == 6);
  CHECK(as_double(only(h, 4, 1)) == 1);
  CHECK(as_double(only(h, 5, 1)) == 3.5);
  // Right edges of [-1, -0.5), [-0.5, 0), [0, 0.5), [0.5, 1]; the last bucket holds max.
  CHECK(packed_doubles(only(h, 6, 2)) == std::vector<double>{-0.5, 0, 0.5, 1});
  CHECK(packed_doubles(only(h, 7, 2)) == std::vector<double>{1, 1, 1, 3});
  CHECK(h.size() == 7);
}

TEST_CASE("histogram_of: default bucket count, equal values, no values, and ranges wider than a double", "[event_file]") {
  std::vector<double> ramp(1000);
  for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<double>(i);
  const histogram_summary r = histogram_of(std::span<const double>(ramp));
  CHECK(r.bucket_counts.size() == static_cast<std::size_t>(default_histogram_buckets));
  double total = 0;
  for (std::size_t i = 0; i < r.bucket_counts.size(); ++i) {
    total += r.bucket_counts[i];
    if (i > 0) CHECK(r.bucket_limits[i] > r.bucket_limits[i - 1]);
  }
  CHECK(total == 1000);
  CHECK(r.count == 1000);
  CHECK(r.bucket_limits.back() == 999);

  // Values on the edges (-1 + i/50 meets -1 + 2j/30 whenever j is a multiple of 3): each is
  // counted in the bucket its written edges give, closed-open, the last closed.
  std::vector<double> grid;
  for (int i = 0; i <= 100; ++i) grid.push_back(-1 + i / 50.0);
  const histogram_summary g = histogram_of(std::span<const double>(grid));
  for (std::size_t b = 0; b < g.bucket_counts.size(); ++b) {
    const double left = b == 0 ? g.min : g.bucket_limits[b - 1], right = g.bucket_limits[b];
    const bool last = b + 1 == g.bucket_counts.size();
    const auto inside = std::count_if(grid.begin(), grid.end(), [&](double v) { return left <= v && (v < right || (last && v == right)); });
    CHECK(g.bucket_counts[b] == static_cast<double>(inside));
  }

  const std::vector<float> zeros(7, 0.0f);
  const histogram_summary z = histogram_of(std::span<const float>(zeros));
  CHECK(z.count == 7);
  CHECK(z.bucket_limits == std::vector<double>{0});
  CHECK(z.bucket_counts == std::vector<double>{7});

  const std::vector<float> none = {std::nanf("")};
  const histogram_summary n = histogram_of(std::span<const float>(none));
  CHECK(n.count == 0);
  CHECK(n.bucket_counts.empty());

  const double big = std::numeric_limits<double>::max();
  const std::vector<double> extremes = {-big, big, big};
  const histogram_summary x = histogram_of(std::span<const double>(extremes), 2);
  CHECK(x.bucket_limits == std::vector<double>{0, big});
  CHECK(x.bucket_counts == std::vector<double>{1, 2});

  CHECK_THROWS_AS(histogram_of(std::span<const float>(zeros), 0), strata::error);
}

TEST_CASE("event file errors name the path", "[event_file]") {
  temp_dir dir("strata_event_file");
  strata::testing::write_raw(dir / "a_file", "x", 1);
  const auto under_a_file = dir / "a_file" / "logs";
  CHECK_THROWS_WITH(event_file_writer(under_a_file), Contains(under_a_file.string()) && Contains("log directory"));

  event_file_writer w(dir / "logs");
  CHECK_THROWS_WITH(w.scalar("", 1, 0), Contains("empty tag") && Contains(w.path().string()));
  CHECK_THROWS_WITH(w.scalar("bad\xff", 1, 0), Contains("not UTF-8") && Contains(w.path().string()));
  CHECK_THROWS_WITH(w.scalar("\xed\xa0\x80", 1, 0), Contains("not UTF-8"));  // a UTF-16 surrogate
  CHECK_NOTHROW(w.scalar("température/°C", 1, 0));
  CHECK(read_records(w.path()).size() == 2);  // the refused tags wrote nothing
}

#if defined(__unix__)
TEST_CASE("a write that fails (file too large) leaves whole records only, and writing resumes later", "[event_file]") {
  temp_dir dir("strata_event_file");
  event_file_writer w(dir.path, fixed_clock(1));
  const std::uint64_t start = w.bytes_written();

  // The process's file size limit stands in for a full disk: writes past it fail with EFBIG
  // (SIGXFSZ ignored), after the kernel has written what fits, i.e. part of a record.
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  auto* old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = static_cast<rlim_t>(start + 300);
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string message;
  int written = 0;
  for (; written < 100; ++written) {
    try {
      w.scalar("train/loss", written, written);
    } catch (const strata::error& e) {
      message = e.what();
      break;
    }
  }
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);

  CHECK(written > 0);
  CHECK(written < 100);
  CHECK_THAT(message, Contains(w.path().string()) && Contains("still ends after the last complete record"));
  CHECK(read_records(w.path()).size() == static_cast<std::size_t>(1 + written));
  CHECK(std::filesystem::file_size(w.path()) == w.bytes_written());

  w.scalar("train/loss", 42, 42);
  const auto records = read_records(w.path());
  REQUIRE(records.size() == static_cast<std::size_t>(2 + written));
  CHECK(decode_summary_event(records.back()).step == 42);
}
#endif

TEST_CASE("the CSV log has a header row and one row per logged step; unmeasured metrics are empty cells", "[event_file][training_log]") {
  temp_dir dir("strata_training_log");
  const auto csv = dir / "logs" / "train.csv";
  {
    training_log log({.tensorboard_dir = dir / "tb", .csv_file = csv, .events = fixed_clock(2)});
    log.log_step({.step = 1, .epoch = 1, .loss = 0.5, .accuracy = 0.25, .learning_rate = 0.1, .images_per_second = 1000});
    log.log_step({.step = 2, .epoch = 1, .loss = std::nan(""), .learning_rate = 0.1, .loss_scale = 65536});
    log.log_step({.step = 10, .epoch = 2, .loss = 1.0 / 3.0, .accuracy = 1, .learning_rate = 1e-5, .images_per_second = 1234.5});
    log.log_step({.step = 11, .epoch = 2});
    log.flush();
    CHECK(log.csv_path() == csv);
    REQUIRE(log.events() != nullptr);
    CHECK(log.events()->path().parent_path() == dir / "tb");
  }
  CHECK(read_file(csv) ==
        "step,epoch,loss,accuracy,learning_rate,images_per_second,loss_scale\n"
        "1,1,0.5,0.25,0.1,1000,\n"
        "2,1,nan,,0.1,,65536\n"
        "10,2,0.3333333333333333,1,1e-05,1234.5,\n"
        "11,2,,,,,\n");

  // The same steps as curves: one event per step holding the measured metrics (none: no event).
  const auto records = read_records(only_file_in(dir / "tb"));
  REQUIRE(records.size() == 4);
  const decoded_event first = decode_summary_event(records[1]);
  CHECK(first.step == 1);
  REQUIRE(first.values.size() == 4);
  CHECK(first.values[0].tag == "train/loss");
  CHECK(first.values[0].scalar == 0.5f);
  CHECK(first.values[1].tag == "train/accuracy");
  CHECK(first.values[2].tag == "train/learning_rate");
  CHECK(first.values[3].tag == "train/images_per_second");
  CHECK(first.values[3].scalar == 1000.0f);
  const decoded_event second = decode_summary_event(records[2]);
  REQUIRE(second.values.size() == 3);
  CHECK(std::isnan(second.values[0].scalar));
  CHECK(second.values[2].tag == "train/loss_scale");
  CHECK(second.values[2].scalar == 65536.0f);
  CHECK(decode_summary_event(records[3]).step == 10);
}

TEST_CASE("a training log without files records nothing; a CSV path that is a directory is an error", "[event_file][training_log]") {
  training_log none;
  CHECK(none.events() == nullptr);
  CHECK(none.csv_path().empty());
  none.log_step({.step = 1, .loss = 1});
  none.log_scalar("validation/loss", 1, 1);
  none.flush();

  temp_dir dir("strata_training_log");
  CHECK_THROWS_WITH(training_log({.csv_file = dir.path}), Contains(dir.path.string()));
  CHECK_THROWS_AS(training_log({.histogram_buckets = 0}), strata::error);
}

TEST_CASE("log_parameters writes weights/<name> and gradients/<name> histograms of every parameter", "[event_file][training_log]") {
  temp_dir dir("strata_training_log");
  Model<Sequential<Input<3>, Dense<4>, Dense<2>>, double> model(7);
  std::vector<std::string> names;
  std::map<std::string, std::pair<double, double>> ranges;  // name -> (min, max) of the values
  model.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.gradient.size(); ++i) p.gradient.data()[i] = 0.25 * static_cast<double>(i) - 1;
    names.push_back(p.name);
    const auto [lo, hi] = std::minmax_element(p.value.data(), p.value.data() + p.value.size());
    ranges[p.name] = {*lo, *hi};
  });
  REQUIRE(names.size() == 4);
  {
    training_log log({.tensorboard_dir = dir.path, .events = fixed_clock(3)});
    log.log_parameters(model, 12);
  }
  const auto records = read_records(only_file_in(dir.path));
  REQUIRE(records.size() == 1 + 2 * names.size());
  for (std::size_t k = 0; k < names.size(); ++k) {
    INFO(names[k]);
    const decoded_event weights = decode_summary_event(records[1 + 2 * k]);
    const decoded_event gradients = decode_summary_event(records[2 + 2 * k]);
    CHECK(weights.step == 12);
    CHECK(weights.values[0].tag == "weights/" + names[k]);
    CHECK(gradients.values[0].tag == "gradients/" + names[k]);
    CHECK(as_double(only(weights.values[0].histo, 1, 1)) == ranges[names[k]].first);
    CHECK(as_double(only(weights.values[0].histo, 2, 1)) == ranges[names[k]].second);
    const double n = as_double(only(gradients.values[0].histo, 3, 1));
    CHECK(as_double(only(weights.values[0].histo, 3, 1)) == n);
    CHECK(as_double(only(gradients.values[0].histo, 1, 1)) == -1);
    CHECK(as_double(only(gradients.values[0].histo, 2, 1)) == 0.25 * (n - 1) - 1);
  }

  SECTION("a frozen layer's parameters get no gradient histogram") {
    model.set_learning_rate("0", 0.0);
    temp_dir frozen_dir("strata_training_log");
    {
      training_log log({.tensorboard_dir = frozen_dir.path});
      log.log_parameters(model, 13);
    }
    std::vector<std::string> tags;
    for (const auto& r : read_records(only_file_in(frozen_dir.path))) {
      if (parse(r).count(5)) tags.push_back(decode_summary_event(r).values[0].tag);
    }
    CHECK(tags == std::vector<std::string>{"weights/" + names[0], "weights/" + names[1], "weights/" + names[2],
                                           "gradients/" + names[2], "weights/" + names[3], "gradients/" + names[3]});
  }
}

TEST_CASE("log_parameters converts other precisions; log_parameter_histograms takes plain spans", "[event_file][training_log]") {
  temp_dir dir("strata_training_log");
  Model<Sequential<Input<3>, Dense<2>>, half> model(5);
  double lowest = std::numeric_limits<double>::infinity();
  model.visit_parameters([&](const auto& p) {
    if (p.name.ends_with("weight"))
      for (std::int64_t i = 0; i < p.value.size(); ++i) lowest = std::min(lowest, static_cast<double>(static_cast<float>(p.value.data()[i])));
  });
  const std::vector<float> w = {1, 2, 3}, g = {-1, 1, 0};
  const std::vector<parameter_values<float>> by_hand = {{.name = "conv.weight", .weights = w, .gradients = g},
                                                        {.name = "conv.bias", .weights = w}};
  {
    training_log log({.tensorboard_dir = dir.path});
    log.log_parameters(model, 1);
    log.log_parameter_histograms(by_hand, 2);
  }
  const auto records = read_records(only_file_in(dir.path));
  REQUIRE(records.size() == 1 + 4 + 3);
  const decoded_event first = decode_summary_event(records[1]);
  REQUIRE(first.values[0].tag.ends_with("weight"));
  CHECK(as_double(only(first.values[0].histo, 1, 1)) == lowest);
  CHECK(decode_summary_event(records[5]).values[0].tag == "weights/conv.weight");
  CHECK(decode_summary_event(records[6]).values[0].tag == "gradients/conv.weight");
  CHECK(decode_summary_event(records[7]).values[0].tag == "weights/conv.bias");
  CHECK(as_double(only(decode_summary_event(records[6]).values[0].histo, 4, 1)) == 0);
}
