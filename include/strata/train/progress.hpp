// strata/train/progress.hpp — progress reporting for fit and evaluate: one bar line redrawn in
// place on a terminal, plain periodic lines in files, pipes and CI logs, and a summary line per
// epoch, with batch-size-weighted running loss and accuracy, images/s and an ETA.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

#include "strata/core/error.hpp"

namespace strata::train {

// How progress is shown. automatic picks terminal when the stream is std::cout, std::cerr or
// std::clog and that file descriptor is a terminal whose TERM is not "dumb"; lines otherwise.
// terminal and lines force the choice (a log viewer that understands '\r', a test, a terminal
// whose output should go to a log unchanged).
enum class display_mode { automatic, terminal, lines };

struct progress_options {
  using mode = display_mode;
  std::ostream* out = &std::cerr;  // stderr by default, so piping a program's results stays clean
  display_mode display = display_mode::automatic;
  double redraw_interval_seconds = 0.1;  // terminal: redrawing every step would cost more than small steps
  double line_interval_seconds = 10;     // lines: also a line after this long without one; 0 turns this off
  int lines_per_epoch = 10;              // lines: a line each time another 1/lines_per_epoch of the steps is done; 0 turns this off
  int bar_width = 24;                    // terminal: characters inside [ ]; 0 shows no bar
  std::function<double()> clock = {};    // seconds from any fixed origin, never decreasing; empty: std::chrono::steady_clock
};

// Whether `out` writes to a terminal. Only the standard streams have a file descriptor to ask;
// any other stream (a file, a string) is not a terminal.
inline bool stream_is_terminal(const std::ostream* out) noexcept {
#if defined(_WIN32)
  if (out == &std::cout) return _isatty(_fileno(stdout)) != 0;
  if (out == &std::cerr || out == &std::clog) return _isatty(_fileno(stderr)) != 0;
#else
  if (out == &std::cout) return ::isatty(::fileno(stdout)) != 0;
  if (out == &std::cerr || out == &std::clog) return ::isatty(::fileno(stderr)) != 0;
#endif
  return false;
}

// TERM=dumb (Emacs shells, some CI runners) promises no cursor control: such a terminal gets
// plain lines when the mode is automatic, and trailing spaces instead of ESC[K when forced to
// redraw. NO_COLOR needs nothing: this output never has colour.
inline bool dumb_terminal() noexcept {
  const char* term = std::getenv("TERM");
  return term != nullptr && std::string_view(term) == "dumb";
}

namespace detail {

inline std::string progress_fixed(double v, int decimals) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  return r.ec == std::errc{} ? std::string(buf, r.ptr) : std::string("?");
}

// 1032 -> "1,032": rates in the thousands are read at a glance with separators. Written by hand
// because std::locale grouping depends on the user's environment.
inline std::string progress_grouped(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

// Losses span from 1e-6 to 1e3: fixed point for the usual range, scientific below it, so a
// small loss does not read as 0.0000.
inline std::string progress_loss(double loss) {
  if (std::isnan(loss)) return "nan";
  if (std::isinf(loss)) return loss > 0 ? "inf" : "-inf";
  if (loss == 0 || std::fabs(loss) >= 1e-3) return progress_fixed(loss, 4);
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, loss, std::chars_format::scientific, 2);
  return std::string(buf, r.ptr);
}

inline std::string progress_rate(double per_second) {
  if (!std::isfinite(per_second) || per_second <= 0) return "-";
  if (per_second >= 100) return progress_grouped(std::llround(per_second));
  return progress_fixed(per_second, per_second >= 10 ? 1 : 2);
}

// m:ss below an hour, h:mm:ss above, as progress bars usually show time.
inline std::string progress_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e12) return "-:--";
  const std::int64_t s = std::llround(seconds);
  const std::int64_t h = s / 3600, m = s / 60 % 60, sec = s % 60;
  auto two = [](std::int64_t v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  return h > 0 ? std::to_string(h) + ":" + two(m) + ":" + two(sec) : std::to_string(m) + ":" + two(sec);
}

inline double progress_steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace detail

// Progress of one pass over the data (an epoch of fit, or evaluate). Call step() after every
// batch and finish() at the end; the destructor finishes a pass left early (an exception, a
// break), so the summary line is never lost. Not thread-safe: one loop reports.
class progress {
 public:
  // total_steps: batches expected; 0 when unknown (an open-ended loader), which shows no bar,
  // percentage or ETA.
  progress(std::string title, std::int64_t total_steps, progress_options options = {}) {
    if (total_steps < 0) throw error("progress: total_steps must be non-negative (0: unknown), got " + std::to_string(total_steps));
    if (options.out == nullptr) throw error("progress: options.out is null");
    if (options.bar_width < 0) throw error("progress: bar_width must be non-negative, got " + std::to_string(options.bar_width));
    if (options.lines_per_epoch < 0)
      throw error("progress: lines_per_epoch must be non-negative, got " + std::to_string(options.lines_per_epoch));
    if (!(options.redraw_interval_seconds >= 0) || !(options.line_interval_seconds >= 0))
      throw error("progress: redraw_interval_seconds and line_interval_seconds must be non-negative, got " +
                  detail::progress_fixed(options.redraw_interval_seconds, 3) + " and " +
                  detail::progress_fixed(options.line_interval_seconds, 3));
    s_.title = std::move(title);
    s_.total = total_steps;
    s_.options = std::move(options);
    if (!s_.options.clock) s_.options.clock = detail::progress_steady_seconds;
    const bool dumb = dumb_terminal();
    s_.terminal = s_.options.display == display_mode::terminal ||
                  (s_.options.display == display_mode::automatic && !dumb && stream_is_terminal(s_.options.out));
    s_.clear_with_escape = !dumb;
    s_.start = s_.last_line = s_.options.clock();
  }

  // The summary is printed once: a moved-from progress has nothing left to report.
  progress(progress&& other) : s_(std::move(other.s_)) { other.s_.finished = true; }
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;
  progress& operator=(progress&&) = delete;

  ~progress() {
    try {
      finish();
    } catch (...) {  // a destructor must not throw; losing the summary line is the lesser harm
    }
  }

  // One batch: how many images, its mean loss, and how many were classified correctly.
  void step(std::int64_t batch_images, double batch_loss, std::int64_t batch_correct) {
    if (batch_correct < 0 || batch_correct > batch_images)
      throw error("progress: batch_correct " + std::to_string(batch_correct) + " is outside [0, batch_images = " +
                  std::to_string(batch_images) + "]");
    record(batch_images, batch_loss);
    s_.correct += batch_correct;
    s_.images_with_accuracy += batch_images;
    s_.has_accuracy = true;
    report();
  }

  // A batch without an accuracy (regression, a loss-only evaluation): no "acc" is shown unless
  // other batches report one.
  void step(std::int64_t batch_images, double batch_loss) {
    record(batch_images, batch_loss);
    report();
  }

  // Prints the summary line (terminal: over the bar, then a newline). Later calls do nothing.
  void finish() {
    if (s_.finished) return;
    s_.finished = true;
    s_.end = s_.options.clock();
    const std::string line = summary_line(s_.end - s_.start);
    if (s_.terminal) {
      redraw(line);
      *s_.options.out << '\n';
    } else {
      *s_.options.out << line << '\n';
    }
    s_.options.out->flush();
  }

  std::int64_t steps() const noexcept { return s_.steps; }
  std::int64_t total_steps() const noexcept { return s_.total; }
  std::int64_t images() const noexcept { return s_.images; }
  bool is_terminal() const noexcept { return s_.terminal; }
  bool finished() const noexcept { return s_.finished; }

  // Mean loss per image over the pass so far (each batch weighted by its size, so a short last
  // batch counts for what it holds); NaN before any image.
  double mean_loss() const noexcept {
    return s_.images > 0 ? s_.loss_sum / static_cast<double>(s_.images) : std::numeric_limits<double>::quiet_NaN();
  }
  // Fraction in [0, 1] of the images that reported an accuracy; NaN before any.
  double accuracy() const noexcept {
    return s_.images_with_accuracy > 0 ? static_cast<double>(s_.correct) / static_cast<double>(s_.images_with_accuracy)
                                       : std::numeric_limits<double>::quiet_NaN();
  }
  // Seconds since construction; frozen by finish().
  double seconds() const { return (s_.finished ? s_.end : s_.options.clock()) - s_.start; }
  double images_per_second() const { return rate(seconds()); }
  // Seconds left at the step rate so far; NaN when the total is unknown or nothing is done yet.
  double eta_seconds() const { return eta(seconds()); }

 private:
  struct state {
    std::string title;
    std::int64_t total = 0;
    progress_options options;
    bool terminal = false;
    bool clear_with_escape = true;
    bool finished = false;
    bool drawn = false;
    double start = 0, end = 0, last_draw = 0, last_line = 0;
    std::int64_t steps = 0, images = 0, correct = 0, images_with_accuracy = 0;
    double loss_sum = 0;  // Σ batch mean loss × batch images
    bool has_accuracy = false;
    std::int64_t last_milestone = 0;
    std::size_t drawn_width = 0;
  } s_;

  void record(std::int64_t batch_images, double batch_loss) {
    if (s_.finished) throw error("progress: step() after finish() for \"" + s_.title + "\"");
    if (batch_images < 0) throw error("progress: batch_images must be non-negative, got " + std::to_string(batch_images));
    ++s_.steps;
    s_.images += batch_images;
    s_.loss_sum += batch_loss * static_cast<double>(batch_images);
  }

  double rate(double elapsed) const noexcept {
    return elapsed > 0 ? static_cast<double>(s_.images) / elapsed : 0.0;
  }

  // From the step rate rather than the image rate: a short last batch would otherwise skew it,
  // and the total is known in steps.
  double eta(double elapsed) const noexcept {
    if (s_.total <= 0 || s_.steps <= 0) return std::numeric_limits<double>::quiet_NaN();
    if (s_.steps >= s_.total) return 0.0;
    return elapsed * static_cast<double>(s_.total - s_.steps) / static_cast<double>(s_.steps);
  }

  void report() {
    const double now = s_.options.clock();
    const double elapsed = now - s_.start;
    if (s_.terminal) {
      // Throttled by time, not steps: the terminal is slow and the eye reads ~10 frames a second.
      if (s_.drawn && now - s_.last_draw < s_.options.redraw_interval_seconds) return;
      s_.drawn = true;
      s_.last_draw = now;
      redraw(progress_line(elapsed, true));
      s_.options.out->flush();
      return;
    }
    // Lines: every 1/lines_per_epoch of the steps, or after line_interval_seconds of silence
    // (long epochs in CI otherwise look hung). The line for the last step is left to finish(),
    // whose summary says the same and more.
    bool due = false;
    if (s_.total > 0 && s_.options.lines_per_epoch > 0) {
      const std::int64_t milestone = std::min(s_.steps, s_.total) * s_.options.lines_per_epoch / s_.total;
      due = milestone > s_.last_milestone;
      s_.last_milestone = std::max(s_.last_milestone, milestone);
    }
    if (s_.options.line_interval_seconds > 0 && now - s_.last_line >= s_.options.line_interval_seconds) due = true;
    if (!due || s_.steps == s_.total) return;
    s_.last_line = now;
    *s_.options.out << progress_line(elapsed, false) << '\n';
    s_.options.out->flush();
  }

  // "\r", the line, then clear what a longer previous line left: ESC[K, or spaces where the
  // terminal is dumb.
  void redraw(const std::string& line) {
    std::ostream& out = *s_.options.out;
    out << '\r' << line;
    if (s_.clear_with_escape) {
      out << "\x1b[K";
    } else if (line.size() < s_.drawn_width) {
      out << std::string(s_.drawn_width - line.size(), ' ');
    }
    s_.drawn_width = std::max(s_.drawn_width, line.size());
  }

  std::string bar() const {
    const int width = s_.options.bar_width;
    const std::int64_t done = std::min(s_.steps, s_.total);
    const auto filled = static_cast<int>(done * width / s_.total);
    std::string b(static_cast<std::size_t>(width), ' ');
    for (int i = 0; i < filled; ++i) b[static_cast<std::size_t>(i)] = '=';
    if (filled < width && filled > 0) b[static_cast<std::size_t>(filled - 1)] = '>';
    return "[" + b + "]";
  }

  std::string metrics(double elapsed) const {
    std::string m = "loss " + (s_.images > 0 ? detail::progress_loss(mean_loss()) : std::string("-"));
    if (s_.has_accuracy && s_.images_with_accuracy > 0) m += "  acc " + detail::progress_fixed(100.0 * accuracy(), 1) + "%";
    m += "  " + detail::progress_rate(rate(elapsed)) + " img/s";
    return m;
  }

  std::string counts() const {
    if (s_.total <= 0) return std::to_string(s_.steps) + " steps";
    return std::to_string(s_.steps) + "/" + std::to_string(s_.total);
  }

  // terminal: "epoch 2/5 [=========>          ] 470/938  loss 0.3412  acc 87.6%  1,032 img/s  0:27 < 0:29"
  // lines:    "epoch 2/5  470/938 (50%)  loss 0.3412  acc 87.6%  1,032 img/s  0:27 < 0:29"
  std::string progress_line(double elapsed, bool with_bar) const {
    std::string line = s_.title;
    if (with_bar && s_.total > 0 && s_.options.bar_width > 0) {
      line += (line.empty() ? "" : " ") + bar() + " " + counts();
    } else {
      line += (line.empty() ? "" : "  ") + counts();
      if (!with_bar && s_.total > 0) line += " (" + std::to_string(std::min(s_.steps, s_.total) * 100 / s_.total) + "%)";
    }
    line += "  " + metrics(elapsed) + "  " + detail::progress_duration(elapsed);
    if (s_.total > 0) line += " < " + detail::progress_duration(eta(elapsed));
    return line;
  }

  // "epoch 2/5 done  938/938  loss 0.3012  acc 89.1%  1,050 img/s  0:54"
  std::string summary_line(double elapsed) const {
    return s_.title + (s_.title.empty() ? "done  " : " done  ") + counts() + "  " + metrics(elapsed) + "  " +
           detail::progress_duration(elapsed);
  }
};

}  // namespace strata::train
