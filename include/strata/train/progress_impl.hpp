// strata/train/progress_impl.hpp — the definitions of train/progress.hpp's functions. progress.hpp
// includes this file in header-only mode; in precompiled mode (config.hpp) strata_precompiled
// compiles it once (src/train.cpp) and users only see declarations.
#pragma once

#include "strata/train/progress.hpp"

namespace strata::train {

STRATA_FUNC bool stream_is_terminal(const std::ostream* out) noexcept {
#if defined(_WIN32)
  if (out == &std::cout) return _isatty(_fileno(stdout)) != 0;
  if (out == &std::cerr || out == &std::clog) return _isatty(_fileno(stderr)) != 0;
#else
  if (out == &std::cout) return ::isatty(::fileno(stdout)) != 0;
  if (out == &std::cerr || out == &std::clog) return ::isatty(::fileno(stderr)) != 0;
#endif
  return false;
}

STRATA_FUNC bool dumb_terminal() noexcept {
  const char* term = std::getenv("TERM");
  return term != nullptr && std::string_view(term) == "dumb";
}

namespace detail {

STRATA_FUNC std::string progress_fixed(double v, int decimals) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  return r.ec == std::errc{} ? std::string(buf, r.ptr) : std::string("?");
}

STRATA_FUNC std::string progress_grouped(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

STRATA_FUNC std::string progress_loss(double loss) {
  if (std::isnan(loss)) return "nan";
  if (std::isinf(loss)) return loss > 0 ? "inf" : "-inf";
  if (loss == 0 || std::fabs(loss) >= 1e-3) return progress_fixed(loss, 4);
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, loss, std::chars_format::scientific, 2);
  return std::string(buf, r.ptr);
}

STRATA_FUNC std::string progress_rate(double per_second) {
  if (!std::isfinite(per_second) || per_second <= 0) return "-";
  if (per_second >= 100) return progress_grouped(std::llround(per_second));
  return progress_fixed(per_second, per_second >= 10 ? 1 : 2);
}

STRATA_FUNC std::string progress_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e12) return "-:--";
  const std::int64_t s = std::llround(seconds);
  const std::int64_t h = s / 3600, m = s / 60 % 60, sec = s % 60;
  auto two = [](std::int64_t v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  return h > 0 ? std::to_string(h) + ":" + two(m) + ":" + two(sec) : std::to_string(m) + ":" + two(sec);
}

STRATA_FUNC double progress_steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace detail

STRATA_FUNC progress::progress(std::string title, std::int64_t total_steps, progress_options options) {
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

STRATA_FUNC progress::~progress() {
  try {
    finish();
  } catch (...) {  // a destructor must not throw; losing the summary line is the lesser harm
  }
}

STRATA_FUNC void progress::step(std::int64_t batch_images, double batch_loss, std::int64_t batch_correct) {
  if (batch_correct < 0 || batch_correct > batch_images)
    throw error("progress: batch_correct " + std::to_string(batch_correct) + " is outside [0, batch_images = " +
                std::to_string(batch_images) + "]");
  record(batch_images, batch_loss);
  s_.correct += batch_correct;
  s_.images_with_accuracy += batch_images;
  s_.has_accuracy = true;
  report();
}

STRATA_FUNC void progress::step(std::int64_t batch_images, double batch_loss) {
  record(batch_images, batch_loss);
  report();
}

STRATA_FUNC void progress::finish() {
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

STRATA_FUNC void progress::record(std::int64_t batch_images, double batch_loss) {
  if (s_.finished) throw error("progress: step() after finish() for \"" + s_.title + "\"");
  if (batch_images < 0) throw error("progress: batch_images must be non-negative, got " + std::to_string(batch_images));
  ++s_.steps;
  s_.images += batch_images;
  s_.loss_sum += batch_loss * static_cast<double>(batch_images);
}

STRATA_FUNC void progress::report() {
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

STRATA_FUNC void progress::redraw(const std::string& line) {
  std::ostream& out = *s_.options.out;
  out << '\r' << line;
  if (s_.clear_with_escape) {
    out << "\x1b[K";
  } else if (line.size() < s_.drawn_width) {
    out << std::string(s_.drawn_width - line.size(), ' ');
  }
  s_.drawn_width = std::max(s_.drawn_width, line.size());
}

STRATA_FUNC std::string progress::bar() const {
  const int width = s_.options.bar_width;
  const std::int64_t done = std::min(s_.steps, s_.total);
  const auto filled = static_cast<int>(done * width / s_.total);
  std::string b(static_cast<std::size_t>(width), ' ');
  for (int i = 0; i < filled; ++i) b[static_cast<std::size_t>(i)] = '=';
  if (filled < width && filled > 0) b[static_cast<std::size_t>(filled - 1)] = '>';
  return "[" + b + "]";
}

STRATA_FUNC std::string progress::metrics(double elapsed) const {
  std::string m = "loss " + (s_.images > 0 ? detail::progress_loss(mean_loss()) : std::string("-"));
  if (s_.has_accuracy && s_.images_with_accuracy > 0) m += "  acc " + detail::progress_fixed(100.0 * accuracy(), 1) + "%";
  m += "  " + detail::progress_rate(rate(elapsed)) + " img/s";
  return m;
}

STRATA_FUNC std::string progress::counts() const {
  if (s_.total <= 0) return std::to_string(s_.steps) + " steps";
  return std::to_string(s_.steps) + "/" + std::to_string(s_.total);
}

STRATA_FUNC std::string progress::progress_line(double elapsed, bool with_bar) const {
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

STRATA_FUNC std::string progress::summary_line(double elapsed) const {
  return s_.title + (s_.title.empty() ? "done  " : " done  ") + counts() + "  " + metrics(elapsed) + "  " +
         detail::progress_duration(elapsed);
}

}  // namespace strata::train
