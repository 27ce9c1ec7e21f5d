// strata/train/training_log.hpp — what a training loop leaves behind to be looked at: TensorBoard
// curves (train/event_file.hpp) and a CSV file with one row per logged step, plus histograms of
// every parameter's weights and gradients. Independent of fit: it takes plain numbers (and,
// optionally, a model to walk with visit_parameters).
#pragma once

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/cast.hpp"
#include "strata/core/error.hpp"
#include "strata/core/tensor.hpp"
#include "strata/train/event_file.hpp"

namespace strata::train {

struct training_log_options {
  std::filesystem::path tensorboard_dir = {};  // empty: no event file; else the run's directory, created if missing
  std::filesystem::path csv_file = {};  // empty: no CSV; else created with its directory, an existing one replaced
  int histogram_buckets = default_histogram_buckets;
  event_file_options events = {};
};

// One logged step. An unset metric was not measured: its CSV cell stays empty and its curve gets
// no point. A measured NaN (a diverged loss) is written as nan, so it shows.
struct step_metrics {
  std::int64_t step = 0;   // optimizer steps so far: the x axis of every curve
  std::int64_t epoch = 0;  // as the loop counts them (fit counts from 1)
  std::optional<double> loss = {};
  std::optional<double> accuracy = {};  // fraction in [0, 1], as progress::accuracy()
  std::optional<double> learning_rate = {};
  std::optional<double> images_per_second = {};
  std::optional<double> loss_scale = {};  // mixed precision's dynamic loss scale; unset without one
};

// One parameter tensor as a loop holds it on the host: "3.weight", its values and its gradient.
template <class T>
  requires std::same_as<T, float> || std::same_as<T, double>
struct parameter_values {
  std::string_view name = {};
  std::span<const T> weights = {};
  std::span<const T> gradients = {};  // empty: not logged (a frozen parameter has none worth showing)
};

namespace detail {

// Shortest text that reads back as the same double (std::to_chars), so the CSV loses nothing.
inline void append_csv_number(std::string& row, const std::optional<double>& v) {
  if (!v) return;
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, *v);
  row.append(buf, r.ptr);
}

// The histogram of a parameter view on any device and of any precision: float and double host
// memory is read in place; anything else (half, fixed point, a CUDA tensor) is converted to double
// and copied to the host first, as the model file does.
template <class V>
histogram_summary histogram_of_view(const V& v, int buckets) {
  using E = std::remove_const_t<typename V::element_type>;
  using D = typename V::device_type;
  if constexpr (std::is_same_v<D, cpu> && (std::is_same_v<E, float> || std::is_same_v<E, double>)) {
    return histogram_of(std::span<const E>(v.data(), static_cast<std::size_t>(v.size())), buckets);
  } else {
    Tensor<double, 1, D> converted = cast<double>(v);
    if constexpr (std::is_same_v<D, cpu>) {
      return histogram_of(std::span<const double>(converted.data(), static_cast<std::size_t>(converted.size())), buckets);
    } else {
      auto host = Tensor<double, 1, cpu>::uninitialized(converted.shape());
      copy(converted, host);
      return histogram_of(std::span<const double>(host.data(), static_cast<std::size_t>(host.size())), buckets);
    }
  }
}

}  // namespace detail

// Call log_step once per logged step (every step, every n steps or once an epoch: the loop
// decides), log_parameters or log_parameter_histograms now and then (histograms are large).
// Every call's output reaches the OS before it returns. Not thread-safe: one loop logs.
class training_log {
 public:
  // The CSV's columns, in order; the header row names them so.
  static constexpr std::string_view csv_header = "step,epoch,loss,accuracy,learning_rate,images_per_second,loss_scale";

  // Neither path set: a log that records nothing (a default for options that may turn it on).
  explicit training_log(training_log_options options = {}) : buckets_(options.histogram_buckets) {
    if (buckets_ < 1) throw error("training_log: histogram_buckets must be at least 1, got " + std::to_string(buckets_));
    if (!options.tensorboard_dir.empty()) events_.emplace(options.tensorboard_dir, std::move(options.events));
    if (!options.csv_file.empty()) open_csv(options.csv_file);
  }

  // One CSV row and the step's curves (train/loss, train/accuracy, train/learning_rate,
  // train/images_per_second, train/loss_scale), the curves in one event.
  void log_step(const step_metrics& m) {
    if (events_) {
      std::vector<scalar_value> values;
      auto add = [&](std::string_view tag, const std::optional<double>& v) {
        if (v) values.push_back({tag, *v});
      };
      add("train/loss", m.loss);
      add("train/accuracy", m.accuracy);
      add("train/learning_rate", m.learning_rate);
      add("train/images_per_second", m.images_per_second);
      add("train/loss_scale", m.loss_scale);
      events_->scalars(values, m.step);
    }
    if (csv_.is_open()) {
      std::string row = std::to_string(m.step) + "," + std::to_string(m.epoch);
      for (const auto* v : {&m.loss, &m.accuracy, &m.learning_rate, &m.images_per_second, &m.loss_scale}) {
        row += ',';
        detail::append_csv_number(row, *v);
      }
      row += '\n';
      csv_.append(row);
    }
  }

  // Any other curve (validation/loss, validation/accuracy at the end of an epoch): event file only,
  // since the CSV's columns are fixed.
  void log_scalar(std::string_view tag, double value, std::int64_t step) {
    if (events_) events_->scalar(tag, value, step);
  }

  // (Overloads rather than a template, so a std::vector converts.)
  void log_histogram(std::string_view tag, std::span<const float> values, std::int64_t step) {
    if (events_) events_->histogram(tag, values, step, buckets_);
  }
  void log_histogram(std::string_view tag, std::span<const double> values, std::int64_t step) {
    if (events_) events_->histogram(tag, values, step, buckets_);
  }

  // weights/<name> and gradients/<name> for each parameter (gradients only where given).
  void log_parameter_histograms(std::span<const parameter_values<float>> parameters, std::int64_t step) {
    parameter_histograms(parameters, step);
  }
  void log_parameter_histograms(std::span<const parameter_values<double>> parameters, std::int64_t step) {
    parameter_histograms(parameters, step);
  }

  // The same for every parameter of a model (anything with visit_parameters, e.g. Model or
  // data_parallel). Call it after the backward pass and before gradients are cleared, or the
  // gradient histograms show zeros. A frozen parameter (learning-rate multiplier 0) gets no
  // gradient histogram: its gradient is not computed.
  template <class Model>
  void log_parameters(Model& model, std::int64_t step) {
    if (!events_) return;
    model.visit_parameters([&](const auto& p) {
      events_->histogram("weights/" + p.name, detail::histogram_of_view(p.value, buckets_), step);
      bool trained = true;
      if constexpr (requires { p.rate; }) trained = p.rate != 0;
      if (trained) events_->histogram("gradients/" + p.name, detail::histogram_of_view(p.gradient, buckets_), step);
    });
  }

  // Puts everything written so far on the disk (fsync), for a machine that may lose power; every
  // record is with the OS already. Once an epoch is plenty.
  void flush() {
    if (events_) events_->flush();
    csv_.sync();
  }

  // The event file written, if any: its path for a message ("tensorboard --logdir <dir>"), or
  // to write other summaries (a histogram with its own bucket count) into the same run.
  event_file_writer* events() noexcept { return events_ ? &*events_ : nullptr; }
  const event_file_writer* events() const noexcept { return events_ ? &*events_ : nullptr; }
  // The CSV file, or an empty path.
  std::filesystem::path csv_path() const { return csv_.is_open() ? csv_.path() : std::filesystem::path{}; }

 private:
  template <class T>
  void parameter_histograms(std::span<const parameter_values<T>> parameters, std::int64_t step) {
    if (!events_) return;
    for (const parameter_values<T>& p : parameters) {
      events_->histogram("weights/" + std::string(p.name), p.weights, step, buckets_);
      if (!p.gradients.empty()) events_->histogram("gradients/" + std::string(p.name), p.gradients, step, buckets_);
    }
  }

  void open_csv(const std::filesystem::path& path) {
    std::error_code ec;
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
    if (ec)
      throw error("training_log: cannot create the directory of " + io::detail::quote_path(path) + ": " + ec.message());
    std::FILE* f = detail::open_for_writing(path, "wb");
    if (!f) throw error("training_log: cannot create " + io::detail::quote_path(path) + ": " + detail::errno_text(errno));
    csv_ = detail::append_only_file(f, path, "training_log");
    csv_.append(std::string(csv_header) + "\n");
  }

  int buckets_;
  std::optional<event_file_writer> events_;
  detail::append_only_file csv_;
};

}  // namespace strata::train
