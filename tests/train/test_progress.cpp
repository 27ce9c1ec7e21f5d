// Progress reporting with a fake clock: plain lines for logs (how many, never '\r', the summary
// once), batch-size-weighted averages, images/s and ETA from the clock, and the terminal bar's
// in-place, time-throttled redraw.
#include <catch2/catch.hpp>

#include <stdlib.h>  // setenv, unsetenv
#if !defined(_WIN32)
#include <pty.h>  // openpty (in glibc since 2.34; -lutil before)
#include <unistd.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "strata/train/progress.hpp"
#include "support/guards.hpp"
#include "support/skip.hpp"

using namespace strata::train;
using Catch::Contains;

namespace {

// A clock the test moves by hand.
struct fake_clock {
  double now = 1000.0;  // any origin: progress measures from its own start
  std::function<double()> fn() {
    return [this] { return now; };
  }
};

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::int64_t count_of(const std::string& s, const std::string& what) {
  std::int64_t n = 0;
  for (auto pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + what.size())) ++n;
  return n;
}

progress_options lines_into(std::ostringstream& os, fake_clock& clock) {
  progress_options o;
  o.out = &os;
  o.display = display_mode::lines;
  o.line_interval_seconds = 1e9;
  o.clock = clock.fn();
  return o;
}

}  // namespace

TEST_CASE("lines mode writes one line per tenth of the steps, then the summary once, never '\\r'", "[progress]") {
  std::ostringstream os;
  fake_clock clock;
  {
    progress p("epoch 1/3", 100, lines_into(os, clock));
    for (int i = 0; i < 100; ++i) {
      clock.now += 0.5;
      p.step(32, 1.0, 16);
    }
    p.finish();
    p.finish();  // idempotent
  }              // and the destructor adds nothing
  const std::string text = os.str();
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find('\x1b') == std::string::npos);
  const auto lines = split_lines(text);
  REQUIRE(lines.size() == 10);  // 10%, 20%, …, 90%, then the summary instead of a 100% line
  CHECK(lines[0] == "epoch 1/3  10/100 (10%)  loss 1.0000  acc 50.0%  64.0 img/s  0:05 < 0:45");
  CHECK(lines[8] == "epoch 1/3  90/100 (90%)  loss 1.0000  acc 50.0%  64.0 img/s  0:45 < 0:05");
  CHECK(lines[9] == "epoch 1/3 done  100/100  loss 1.0000  acc 50.0%  64.0 img/s  0:50");
  CHECK(count_of(text, "done") == 1);
  CHECK(text.back() == '\n');
}

TEST_CASE("lines mode with an uneven total still gives one line per tenth", "[progress]") {
  std::ostringstream os;
  fake_clock clock;
  progress p("train", 938, lines_into(os, clock));
  for (int i = 0; i < 938; ++i) p.step(64, 0.5, 60);
  p.finish();
  const auto lines = split_lines(os.str());
  REQUIRE(lines.size() == 10);
  CHECK_THAT(lines[0], Contains("94/938 (10%)"));
  CHECK_THAT(lines[4], Contains("469/938 (50%)"));
}

TEST_CASE("lines mode also writes a line after line_interval_seconds of silence", "[progress]") {
  std::ostringstream os;
  fake_clock clock;
  auto o = lines_into(os, clock);
  o.line_interval_seconds = 5;
  o.lines_per_epoch = 0;
  progress p("eval", 0, o);  // unknown total: time is the only trigger
  for (int i = 0; i < 23; ++i) {
    clock.now += 1;
    p.step(10, 2.0);
  }
  p.finish();
  const auto lines = split_lines(os.str());
  REQUIRE(lines.size() == 5);  // at 5, 10, 15, 20 s, then the summary
  CHECK(lines[0] == "eval  5 steps  loss 2.0000  10.0 img/s  0:05");
  CHECK(lines[3] == "eval  20 steps  loss 2.0000  10.0 img/s  0:20");
  CHECK(lines[4] == "eval done  23 steps  loss 2.0000  10.0 img/s  0:23");
  CHECK(os.str().find("acc") == std::string::npos);  // no batch reported an accuracy
}

TEST_CASE("loss and accuracy are averaged over images, not batches", "[progress]") {
  std::ostringstream os;
  fake_clock clock;
  progress p("e", 3, lines_into(os, clock));
  p.step(100, 1.0, 90);
  p.step(100, 2.0, 80);
  p.step(10, 10.0, 0);  // a short last batch weighs a tenth of a full one
  CHECK(p.images() == 210);
  CHECK(p.steps() == 3);
  CHECK(p.mean_loss() == Approx((100 * 1.0 + 100 * 2.0 + 10 * 10.0) / 210.0));
  CHECK(p.accuracy() == Approx(170.0 / 210.0));
  p.finish();
  CHECK_THAT(os.str(), Contains("loss 1.9048") && Contains("acc 81.0%"));
}

TEST_CASE("images/s and ETA come from the clock", "[progress]") {
  std::ostringstream os;
  fake_clock clock;
  progress p("e", 50, lines_into(os, clock));
  CHECK(std::isnan(p.mean_loss()));
  CHECK(std::isnan(p.eta_seconds()));
  CHECK(p.images_per_second() == 0.0);
  for (int i = 0; i < 20; ++i) p.step(256, 0.1, 200);
  clock.now += 4.0;  // 20 steps, 5120 images in 4 s
  CHECK(p.seconds() == 4.0);
  CHECK(p.images_per_second() == Approx(1280.0));
  CHECK(p.eta_seconds() == Approx(4.0 * 30 / 20));  // 30 steps left at 5 steps/s
  clock.now += 1.0;
  p.step(256, 0.1, 200);
  CHECK(p.images_per_second() == Approx(21 * 256 / 5.0));
  p.finish();
  clock.now += 100;  // finish freezes the elapsed time
  CHECK(p.seconds() == 5.0);
  CHECK_THAT(os.str(), Contains("1,075 img/s  0:05\n"));
}

TEST_CASE("terminal mode redraws one line in place, at most once per redraw interval", "[progress]") {
  std::ostringstream os;
  fake_clock clock;
  progress_options o;
  o.out = &os;
  o.display = display_mode::terminal;
  o.bar_width = 20;
  o.redraw_interval_seconds = 0.125;  // binary fractions, so the fake times add up exactly
  o.clock = clock.fn();
  progress p("epoch 2/5", 938, o);
  CHECK(p.is_terminal());
  for (int i = 0; i < 470; ++i) {
    clock.now += 0.03125;  // 32 steps/s: four steps per redraw interval
    p.step(64, 0.3412, 56);
  }
  const std::string during = os.str();
  CHECK(during.find('\n') == std::string::npos);
  CHECK(count_of(during, "\r") == 118);  // steps 1, 5, 9, …, 469: one frame per 4 steps, not 470
  const auto last = during.substr(during.rfind('\r') + 1);
  CHECK(last.rfind("epoch 2/5 [=========>          ] 469/938  loss 0.3412  acc 87.5%  2,048 img/s  0:15 < 0:15", 0) == 0);

  p.finish();
  const std::string text = os.str();
  CHECK(text.back() == '\n');
  CHECK(count_of(text, "\n") == 1);
  const auto summary = text.substr(text.rfind('\r') + 1);
  CHECK_THAT(summary, Contains("epoch 2/5 done  470/938  loss 0.3412  acc 87.5%  2,048 img/s  0:15"));
}

TEST_CASE("terminal mode draws the first step at once and a full bar at the end", "[progress]") {
  std::ostringstream os;
  fake_clock clock;
  progress_options o;
  o.out = &os;
  o.display = display_mode::terminal;
  o.bar_width = 10;
  o.clock = clock.fn();
  progress p("", 4, o);
  p.step(1, 1.0, 1);
  CHECK(os.str().rfind("\r[=>        ] 1/4", 0) == 0);  // 1/4 of 10 = 2 cells: "=" then the head
  for (int i = 0; i < 3; ++i) {
    clock.now += 1;
    p.step(1, 1.0, 1);
  }
  CHECK_THAT(os.str(), Contains("[==========] 4/4"));
  CHECK_THAT(os.str(), Contains("0:03 < 0:00"));
}

TEST_CASE("the destructor prints the summary of a pass left early", "[progress]") {
  std::ostringstream os;
  fake_clock clock;
  {
    progress p("epoch 1/1", 10, lines_into(os, clock));
    p.step(8, 0.5, 8);
  }
  CHECK(split_lines(os.str()).size() == 2);  // 1/10 crossed the first tenth, then the summary
  CHECK_THAT(os.str(), Contains("epoch 1/1 done  1/10"));
}

TEST_CASE("streams other than the standard ones are never terminals", "[progress]") {
  std::ostringstream os;
  progress_options o;
  o.out = &os;
  progress p("x", 1, o);
  CHECK_FALSE(p.is_terminal());
  CHECK_FALSE(stream_is_terminal(&os));
}

#if !defined(_WIN32)
namespace {
// Points stderr's file descriptor at the slave side of a fresh pseudo-terminal while alive, so
// isatty(fileno(stderr)) is true whatever the test runner's stderr is; restores it after.
struct stderr_on_a_pty {
  int master = -1, slave = -1, saved = -1;
  bool ok = false;
  stderr_on_a_pty() {
    if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) return;
    std::fflush(stderr);
    saved = ::dup(2);
    ok = saved >= 0 && ::dup2(slave, 2) == 2;
  }
  ~stderr_on_a_pty() {
    std::fflush(stderr);
    if (saved >= 0) ::dup2(saved, 2), ::close(saved);
    if (slave >= 0) ::close(slave);
    if (master >= 0) ::close(master);
  }
  stderr_on_a_pty(const stderr_on_a_pty&) = delete;
  stderr_on_a_pty& operator=(const stderr_on_a_pty&) = delete;
};

bool automatic_mode_picks_terminal_for_cerr() {
  std::ostringstream sink;  // std::cerr's descriptor decides; its text goes here, not to the pty
  auto* const cerr_buffer = std::cerr.rdbuf(sink.rdbuf());
  progress_options o;
  o.out = &std::cerr;
  bool terminal = false;
  {
    progress p("x", 1, o);
    terminal = p.is_terminal();
    p.finish();
  }
  std::cerr.rdbuf(cerr_buffer);
  return terminal;
}
}  // namespace

TEST_CASE("automatic display: a terminal gets redraws unless TERM=dumb", "[progress]") {
  // On a real (pseudo-)terminal, so the answer depends on TERM and not on how the test runs.
  stderr_on_a_pty pty;
  if (!pty.ok) {
    strata::testing::skip_test("openpty() failed: cannot give stderr a terminal here");
    return;
  }
  REQUIRE(stream_is_terminal(&std::cerr));
  {
    strata::testing::env_guard term("TERM", "xterm-256color");
    CHECK_FALSE(dumb_terminal());
    CHECK(automatic_mode_picks_terminal_for_cerr());
  }
  {
    strata::testing::env_guard term("TERM", std::nullopt);
    CHECK(automatic_mode_picks_terminal_for_cerr());
  }
  {
    strata::testing::env_guard term("TERM", "dumb");
    CHECK(dumb_terminal());
    CHECK_FALSE(automatic_mode_picks_terminal_for_cerr());
  }
}

TEST_CASE("TERM=dumb gets spaces instead of ESC[K when redraws are forced", "[progress]") {
  strata::testing::env_guard term("TERM", "dumb");
  std::ostringstream os;
  fake_clock clock;
  progress_options o;
  o.out = &os;
  o.display = display_mode::terminal;
  o.clock = clock.fn();
  o.redraw_interval_seconds = 0;
  {
    progress p("epoch 1/1", 2, o);
    p.step(1, 12345.0, 1);  // a long loss now, a short one next: the rest must be blanked
    p.step(1, -12345.0, 1);
  }
  const std::string text = os.str();
  CHECK(text.find('\x1b') == std::string::npos);
  const auto frames = count_of(text, "\r");
  CHECK(frames == 3);
  // Every frame after the first is padded to the widest one drawn before it.
  std::vector<std::size_t> widths;
  for (auto pos = text.find('\r'); pos != std::string::npos;) {
    const auto next = text.find('\r', pos + 1);
    widths.push_back((next == std::string::npos ? text.size() - 1 : next) - pos - 1);
    pos = next;
  }
  CHECK(widths[1] >= widths[0]);
  CHECK(widths[2] >= widths[1]);
}
#endif

TEST_CASE("misuse is reported with what was wrong", "[progress][errors]") {
  std::ostringstream os;
  fake_clock clock;
  CHECK_THROWS_WITH(progress("x", -1, lines_into(os, clock)), Contains("total_steps") && Contains("-1"));
  auto bad = lines_into(os, clock);
  bad.out = nullptr;
  CHECK_THROWS_WITH(progress("x", 1, bad), Contains("out"));
  progress p("x", 10, lines_into(os, clock));
  CHECK_THROWS_WITH(p.step(8, 0.1, 9), Contains("batch_correct 9") && Contains("8"));
  CHECK_THROWS_WITH(p.step(-2, 0.1), Contains("batch_images") && Contains("-2"));
  p.finish();
  CHECK_THROWS_AS(p.step(8, 0.1, 1), strata::error);
}
