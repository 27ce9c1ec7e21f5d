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

#include "strata/config.hpp"
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
STRATA_FUNC bool stream_is_terminal(const std::ostream* out) noexcept;

// TERM=dumb (Emacs shells, some CI runners) promises no cursor control: such a terminal gets
// plain lines when the mode is automatic, and trailing spaces instead of ESC[K when forced to
// redraw. NO_COLOR needs nothing: this output never has colour.
STRATA_FUNC bool dumb_terminal() noexcept;

namespace detail {

STRATA_FUNC std::string progress_fixed(double v, int decimals);

// 1032 -> "1,032": rates in the thousands are read at a glance with separators. Written by hand
// because std::locale grouping depends on the user's environment.
STRATA_FUNC std::string progress_grouped(std::int64_t n);

// Losses span from 1e-6 to 1e3: fixed point for the usual range, scientific below it, so a
// small loss does not read as 0.0000.
STRATA_FUNC std::string progress_loss(double loss);

STRATA_FUNC std::string progress_rate(double per_second);

// m:ss below an hour, h:mm:ss above, as progress bars usually show time.
STRATA_FUNC std::string progress_duration(double seconds);

STRATA_FUNC double progress_steady_seconds();

}  // namespace detail

// Progress of one pass over the data (an epoch of fit, or evaluate). Call step() after every
// batch and finish() at the end; the destructor finishes a pass left early (an exception, a
// break), so the summary line is never lost. Not thread-safe: one loop reports.
class progress {
 public:
  // total_steps: batches expected; 0 when unknown (an open-ended loader), which shows no bar,
  // percentage or ETA.
  progress(std::string title, std::int64_t total_steps, progress_options options = {});

  // The summary is printed once: a moved-from progress has nothing left to report.
  progress(progress&& other) : s_(std::move(other.s_)) { other.s_.finished = true; }
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;
  progress& operator=(progress&&) = delete;

  ~progress();

  // One batch: how many images, its mean loss, and how many were classified correctly.
  void step(std::int64_t batch_images, double batch_loss, std::int64_t batch_correct);

  // A batch without an accuracy (regression, a loss-only evaluation): no "acc" is shown unless
  // other batches report one.
  void step(std::int64_t batch_images, double batch_loss);

  // Prints the summary line (terminal: over the bar, then a newline). Later calls do nothing.
  void finish();

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

  void record(std::int64_t batch_images, double batch_loss);

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

  void report();

  // "\r", the line, then clear what a longer previous line left: ESC[K, or spaces where the
  // terminal is dumb.
  void redraw(const std::string& line);

  std::string bar() const;

  std::string metrics(double elapsed) const;

  std::string counts() const;

  // terminal: "epoch 2/5 [=========>          ] 470/938  loss 0.3412  acc 87.6%  1,032 img/s  0:27 < 0:29"
  // lines:    "epoch 2/5  470/938 (50%)  loss 0.3412  acc 87.6%  1,032 img/s  0:27 < 0:29"
  std::string progress_line(double elapsed, bool with_bar) const;

  // "epoch 2/5 done  938/938  loss 0.3012  acc 89.1%  1,050 img/s  0:54"
  std::string summary_line(double elapsed) const;
};

}  // namespace strata::train

// Header-only mode: the definitions follow. Precompiled mode (config.hpp): strata_precompiled
// compiles them once (src/train.cpp).
#if !defined(STRATA_PRECOMPILED)
#include "strata/train/progress_impl.hpp"
#endif
