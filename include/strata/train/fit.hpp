// strata/train/fit.hpp — training and evaluation loops: fit() runs epochs of shuffled
// mini-batches (forward, loss, backward, optimizer step at the schedule's learning rate) with
// progress reporting; evaluate() gives loss and accuracy. The loss is a parameter (softmax
// cross-entropy by default). A data set here is anything with `images` ([N, …] float) and
// `labels` ([N] int32) tensors. fit says how convolution algorithms were chosen (conv_tuning):
// only a rule of thumb or a recorded plan gives bit-identical reruns. fp16 models train with
// dynamic loss scaling (train/loss_scaling.hpp; fit_options::loss_scale).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <numeric>
#include <sstream>
#include <type_traits>
#include <string>
#include <vector>

#include "strata/core/parallel.hpp"
#include "strata/core/cast.hpp"
#include "strata/core/random.hpp"
#include "strata/data/loader.hpp"
#include "strata/kernels/conv_choices.hpp"
#include "strata/layers/loss.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/train/batch_feed.hpp"
#include "strata/train/checkpoint.hpp"
#include "strata/train/divergence.hpp"
#include "strata/train/loss_scaling.hpp"
#include "strata/train/progress.hpp"
#include "strata/train/optimizer.hpp"
#include "strata/train/schedule.hpp"
#include "strata/train/training_log.hpp"

namespace strata::train {

// An optimizer for this model (the name Optimizer is the template parameter below).
template <class O, class M>
concept OptimizerFor = train::Optimizer<O, M>;

struct fit_options {
  int epochs = 1;
  std::int64_t batch_size = 64;
  bool shuffle = true;
  std::uint64_t shuffle_seed = 0;   // the same seed, the same order of batches
  progress_options progress = {};
  bool show_progress = true;
  loss_scale_options loss_scale = {};  // dynamic loss scaling, for fp16 models (train/loss_scaling.hpp)
  // Where a person watches the run (train/training_log.hpp: TensorBoard event files, a CSV file):
  // every log_every-th step's loss, accuracy, learning rate, images/s and loss scale, and after
  // each epoch the test set's loss and accuracy and every parameter's weight and gradient
  // histograms. Null: nothing is logged.
  training_log* log = nullptr;
  std::int64_t log_every = 1;
  // A step whose loss or gradients hold Inf or NaN: stop naming the first layer that produced
  // one, or skip the step (train/divergence.hpp).
  divergence_options divergence = {};
  // Checkpoints (train/checkpoint.hpp): every checkpoint_every optimizer steps (0: never) the
  // whole training state goes to checkpoint_file, atomically. resume_from continues the run such a
  // file holds where it stopped, to the bits of the uninterrupted run when convolution algorithms
  // are chosen deterministically (conv_tuning); `epochs` still counts the whole run's epochs.
  std::filesystem::path checkpoint_file = {};
  std::int64_t checkpoint_every = 0;
  std::filesystem::path resume_from = {};
};

struct epoch_report {
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;  // when a test set is given
  double seconds = 0, images_per_second = 0;
  conv_tuning tuning = conv_tuning::timed;  // how convolution algorithms were chosen
  double loss_scale = 1;                    // S at the end of the epoch (1: the precision does not scale)
  std::int64_t skipped_steps = 0;  // optimizer steps skipped this epoch: fp16 gradients overflowed, or
                                   // non-finite with divergence_action::skip_step
};

struct evaluation {
  double loss = 0, accuracy = 0;
  std::int64_t samples = 0;
};

namespace detail {

template <class Data>
std::int64_t sample_count(const Data& d) {
  const std::int64_t n = d.images.extent(0);
  if (d.labels.extent(0) != n)
    throw shape_error("data set: " + std::to_string(n) + " images but " + std::to_string(d.labels.extent(0)) + " labels");
  return n;
}

// Copies samples order[first, first + n) into a contiguous batch.
template <class T, class Data>
void gather(const Data& d, const std::vector<std::int64_t>& order, std::int64_t first, std::int64_t n,
            Tensor<T, 2>& x, Tensor<std::int32_t, 1>& y) {
  if constexpr (has_dynamic_scale<T>) {  // gathered as they are, then stored under one exponent for the batch
    Tensor<std::remove_cvref_t<decltype(*d.images.data())>, 2> values;
    gather(d, order, first, n, values, y);
    if (x.shape() != values.shape()) x = Tensor<T, 2>::uninitialized(values.shape());
    x = cast<T>(values);
    return;
  }
  const std::int64_t per = d.images.size() / std::max<std::int64_t>(1, d.images.extent(0));
  if (x.extent(0) != n || x.extent(1) != per) x = Tensor<T, 2>::uninitialized(Shape{n, per});
  if (y.extent(0) != n) y = Tensor<std::int32_t, 1>::uninitialized(Shape<1>{n});
  using S = std::remove_cvref_t<decltype(*d.images.data())>;
  const S* src = d.images.data();
  parallel_ranges(
      n,
      [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) {
          const S* from = src + order[static_cast<std::size_t>(first + i)] * per;
          T* to = x.data() + i * per;
          if constexpr (std::is_same_v<S, T>) std::memcpy(to, from, static_cast<std::size_t>(per) * sizeof(T));
          else if constexpr (!has_dynamic_scale<T>) for (std::int64_t k = 0; k < per; ++k) to[k] = static_cast<T>(from[k]);
        }
      },
      1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, per)));
  for (std::int64_t i = 0; i < n; ++i) y(i) = d.labels(order[static_cast<std::size_t>(first + i)]);
}

// The progress bar of one epoch (silent unless options.show_progress; `sink` swallows it).
inline progress epoch_progress(const fit_options& options, int epoch, std::int64_t steps, std::ostringstream& sink) {
  progress_options po = options.progress;
  if (!options.show_progress) po.out = &sink;
  return progress("epoch " + std::to_string(epoch) + "/" + std::to_string(options.epochs), steps, po);
}

// A loader's float images as the model's element type: the batch itself for float models, else
// converted into `scratch` (sized to the batch, which may be shorter than the last).
template <class T>
const Tensor<T, 2>& batch_images(const Tensor<float, 2>& images, Tensor<T, 2>& scratch) {
  if constexpr (std::is_same_v<T, float>) {
    return images;
  } else {
    if (scratch.shape() != images.shape()) scratch = Tensor<T, 2>::uninitialized(images.shape());
    scratch = cast<T>(images);
    return scratch;
  }
}

// Says once, before training, how convolution algorithms will be chosen (and so whether a rerun
// gives bit-identical weights).
inline void announce_conv_tuning(const fit_options& options) {
  if (!options.show_progress || !options.progress.out) return;
  const conv_tuning t = algo::get_conv_tuning();
  *options.progress.out << "convolution algorithms: " << algo::name_of(t)
                        << (t == conv_tuning::timed ? " (fastest; reruns may differ in the last bits)" : " (deterministic)")
                        << "\n";
}

// fit's side of divergence_options: whether a step's loss (and, unless loss scaling checks them
// itself, its gradients) are finite; the steps skipped, in all and in a row.
class divergence_guard {
 public:
  explicit divergence_guard(const divergence_options& o) : o_(o) {
    if (o.max_skipped_in_a_row < 1)
      throw error("fit: divergence.max_skipped_in_a_row must be at least 1, got " + std::to_string(o.max_skipped_in_a_row));
  }
  template <class Model>
  bool finite(Model& model, double loss, bool scaler_checks_gradients) const {
    return std::isfinite(loss) && (scaler_checks_gradients || !o_.check_gradients || gradients_finite(model));
  }
  bool stops() const noexcept { return o_.action == divergence_action::stop; }
  // Counts a step; true when too many in a row were skipped.
  bool count(bool taken) {
    in_a_row_ = taken ? 0 : in_a_row_ + 1;
    skipped_ += taken ? 0 : 1;
    return in_a_row_ >= o_.max_skipped_in_a_row;
  }
  std::int64_t skipped() const noexcept { return skipped_; }
  std::int64_t in_a_row() const noexcept { return in_a_row_; }

 private:
  divergence_options o_;
  std::int64_t skipped_ = 0, in_a_row_ = 0;
};

// fit's side of checkpoints: the resume position (the run's start when not resuming), and a
// save after every checkpoint_every-th step.
class checkpointer {
 public:
  explicit checkpointer(const fit_options& o) : o_(o) {
    if (o.checkpoint_every < 0) throw error("fit: checkpoint_every must be non-negative, got " + std::to_string(o.checkpoint_every));
    if (o.checkpoint_every > 0 && o.checkpoint_file.empty())
      throw error("fit: checkpoint_every is " + std::to_string(o.checkpoint_every) + " but checkpoint_file is empty");
  }
  template <class Model, class Optimizer, class Scaler>
  training_position start(Model& model, Optimizer& optimizer, Scaler& scaler, std::int64_t steps_per_epoch) const {
    if (o_.resume_from.empty()) return {};
    const training_position at = load_training_checkpoint(o_.resume_from, model, optimizer, scaler);
    if (at.epoch < 1 || at.batch < 0 || at.batch >= std::max<std::int64_t>(1, steps_per_epoch))
      throw error("fit: " + o_.resume_from.string() + " stands at batch " + std::to_string(at.batch) + " of epoch " +
                  std::to_string(at.epoch) + ", but an epoch here has " + std::to_string(steps_per_epoch) +
                  " batches (resume with the data set and batch size of the checkpointed run)");
    return at;
  }
  // After global step `step` (from 0), batch `batch` of `epoch`, of an epoch of `batches` batches.
  template <class Model, class Optimizer, class Scaler>
  void after_step(Model& model, Optimizer& optimizer, Scaler& scaler, int epoch, std::int64_t batch, std::int64_t batches,
                  std::int64_t step) const {
    if (o_.checkpoint_every == 0 || (step + 1) % o_.checkpoint_every != 0) return;
    const bool epoch_done = batch + 1 >= batches;
    save_training_checkpoint(o_.checkpoint_file, model, optimizer,
                             {epoch_done ? epoch + 1 : epoch, epoch_done ? 0 : batch + 1, step + 1}, scaler);
  }

 private:
  const fit_options& o_;
};

// Where a training position is, for messages: epoch e, its batch b, global step s (from 0).
struct step_position {
  int epoch = 0;
  std::int64_t batch = 0, step = 0;
};

// "<who>: training diverged at epoch e, batch b (step s)<place>: <where><how>", as an error.
inline divergence_error diverged_at(const std::string& who, step_position at, const std::string& place, const std::string& where,
                                    const std::string& how) {
  return divergence_error(who + ": training diverged at epoch " + std::to_string(at.epoch) + ", batch " + std::to_string(at.batch + 1) +
                              " (step " + std::to_string(at.step) + ")" + place + ": " + where + how,
                          at.epoch, at.step);
}

// One optimizer step on a batch: forward, loss, backward, step at rate lr. Under loss scaling
// (fp16) the loss gradient is stored times S, and a step whose gradients overflowed is skipped.
// A non-finite loss or gradient stops fit with the first layer that produced one, or skips the
// step (divergence_options). On a device other than the CPU the batch, the loss and its gradient
// stay there. (On the CPU x and labels are the host batch as gathered; a loss may take the labels
// as the tensor itself.)
template <class Model, class Optimizer, class T, class L, class D, class Labels>
loss_result train_on_batch(Model& model, Optimizer& optimizer, double lr, std::type_identity_t<batch_view<const T, D>> x,
                           const Labels& labels, Tensor<T, 2, D>& gradient, progress& bar, const L& loss, loss_scaler<T, D>& scaler,
                           divergence_guard& guard, step_position at) {
  const auto out = model.forward(x, true);
  if (gradient.extent(0) != out.extent(0) || gradient.extent(1) != out.extent(1))
    gradient = Tensor<T, 2, D>::uninitialized(out.shape());
  const loss_result r = scaler.loss_gradient(out, labels, gradient.view(), loss);
  model.backward(gradient);
  const bool finite = guard.finite(model, r.loss, scaler.active());
  const auto diverged = [&](const std::string& how) {
    const std::string where = diagnose_nonfinite<Model, T, D>(model, x, out, r.loss, gradient.view());
    return diverged_at("fit", at, "",
                       where.empty() ? std::string("a non-finite value that a second backward pass did not reproduce") : where,
                       how);
  };
  if (!finite && guard.stops())
    throw diverged(". The weights are those before this step; fit_options::divergence.action = skip_step skips such steps");
  const bool taken = finite && scaler.step(optimizer, model, lr);
  if (guard.count(taken))
    throw diverged(", and " + std::to_string(guard.in_a_row()) + " steps in a row were skipped (" +
                   (finite ? "gradients overflowed at loss scale " + std::to_string(scaler.scale()) : std::string("non-finite")) +
                   "; divergence.max_skipped_in_a_row)");
  if (finite)
    bar.step(x.extent(0), r.loss, r.correct);
  else
    bar.step(0, 0.0, 0);  // a skipped non-finite step: counted, but no images in the epoch's means
  return r;
}

// fit's side of a training_log: a row every log_every steps (the images/s over the steps since
// the last row), and the epoch's test results and parameter histograms.
class fit_logger {
 public:
  explicit fit_logger(const fit_options& options) : log_(options.log), every_(options.log_every) {
    if (options.log_every < 1) throw error("fit: log_every must be at least 1, got " + std::to_string(options.log_every));
  }
  // After optimizer step `step` (counted from 0) of `epoch` on `rows` images.
  template <class T, class D>
  void after_step(std::int64_t step, int epoch, std::int64_t rows, const loss_result& r, double lr, const loss_scaler<T, D>& scaler) {
    if (!log_) return;
    rows_ += rows;
    if ((step + 1) % every_ != 0) return;
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - since_).count();
    step_metrics m;
    m.step = step + 1;
    m.epoch = epoch;
    m.loss = r.loss;
    m.accuracy = rows ? double(r.correct) / double(rows) : 0.0;
    m.learning_rate = lr;
    if (seconds > 0) m.images_per_second = double(rows_) / seconds;
    if (scaler.active()) m.loss_scale = scaler.scale();
    log_->log_step(m);
    since_ = now, rows_ = 0;
  }
  // The clock of the first row's images/s starts here (and again after each epoch's evaluation).
  void start() { since_ = std::chrono::steady_clock::now(), rows_ = 0; }
  template <class Model>
  void after_epoch(Model& model, const epoch_report& report, std::int64_t steps, bool tested) {
    if (!log_) return;
    if (tested) {
      log_->log_scalar("test/loss", report.test_loss, steps);
      log_->log_scalar("test/accuracy", report.test_accuracy, steps);
    }
    log_->log_parameters(model, steps);
    log_->flush();
    start();  // the evaluation's time is not training's
  }

 private:
  training_log* log_;
  std::int64_t every_;
  std::int64_t rows_ = 0;
  std::chrono::steady_clock::time_point since_ = std::chrono::steady_clock::now();
};

}  // namespace detail

// Loss and accuracy of `model` on a data set, in batches, without training behaviour.
template <class Model, class Data, Loss L = SoftmaxCrossEntropy>
evaluation evaluate(Model& model, const Data& data, std::int64_t batch_size = 256, const L& = {}) {
  using T = typename Model::element_type;
  const std::int64_t n = detail::sample_count(data);
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  Tensor<T, 2> x;
  Tensor<std::int32_t, 1> y;
  batch_feed<T, typename Model::device_type> feed;
  double loss = 0;
  std::int64_t correct = 0;
  for (std::int64_t first = 0; first < n; first += batch_size) {
    const std::int64_t b = std::min(batch_size, n - first);
    detail::gather(data, order, first, b, x, y);
    loss_result r;
    if constexpr (std::is_same_v<typename Model::device_type, cpu>) {
      r = L::template evaluate<T>(model.forward(x, false), y);
    } else {
      const auto staged = feed.stage(x, y);
      r = L::template evaluate<T>(model.forward(staged.images, false), staged.labels);
    }
    loss += r.loss * double(b);
    correct += r.correct;
  }
  return {n ? loss / double(n) : 0.0, n ? double(correct) / double(n) : 0.0, n};
}

namespace detail {
// Closes an epoch: its report (with the test set's evaluation when given), kept and announced.
// Under loss scaling the progress output says S and the steps skipped, after the epoch's summary;
// without it, steps skipped as non-finite are said when there were some.
template <class Model, class Data, class L, class T, class D>
void finish_epoch(Model& model, progress& bar, int epoch, const Data* test, std::vector<epoch_report>& history,
                  const std::function<void(const epoch_report&)>& on_epoch, const L& loss, const fit_options& options,
                  const loss_scaler<T, D>& scaler, std::int64_t skipped, fit_logger& logger, std::int64_t steps) {
  bar.finish();
  epoch_report report{epoch, bar.mean_loss(), bar.accuracy(), 0, 0, bar.seconds(), bar.images_per_second(), algo::get_conv_tuning()};
  report.loss_scale = scaler.scale();
  report.skipped_steps = skipped;
  const std::string skipped_steps = std::to_string(skipped) + (skipped == 1 ? " step" : " steps") + " skipped";
  if (scaler.active() && options.show_progress && options.progress.out)
    *options.progress.out << "  " << precision_traits<T>::name << " loss scale "
                          << (report.loss_scale < 1e15 ? progress_grouped(std::int64_t(report.loss_scale))
                                                       : std::to_string(report.loss_scale))
                          << ", " << skipped_steps << " (gradients overflowed)\n";
  else if (skipped > 0 && options.show_progress && options.progress.out)
    *options.progress.out << "  " << skipped_steps << " (non-finite loss or gradients; fit_options::divergence)\n";
  if (test) {
    const evaluation e = evaluate(model, *test, 256, loss);
    report.test_loss = e.loss;
    report.test_accuracy = e.accuracy;
  }
  logger.after_epoch(model, report, steps, test != nullptr);
  history.push_back(report);
  if (on_epoch) on_epoch(report);
}
}  // namespace detail

// Trains `model` for options.epochs epochs with `loss`; after each epoch evaluates on `test`
// when given and calls on_epoch. The learning rate for optimizer step t is schedule(t).
template <class Model, class Optimizer, Schedule S, class Data, Loss L = SoftmaxCrossEntropy>
  requires OptimizerFor<Optimizer, Model>
std::vector<epoch_report> fit(Model& model, const Data& train, Optimizer& optimizer, const S& schedule,
                              const fit_options& options, const Data* test = nullptr,
                              const std::function<void(const epoch_report&)>& on_epoch = {}, const L& loss = {}) {
  using T = typename Model::element_type;
  if (options.batch_size <= 0) throw error("fit: batch size must be positive, got " + std::to_string(options.batch_size));
  if (options.epochs < 0) throw error("fit: epochs must be non-negative, got " + std::to_string(options.epochs));
  const std::int64_t n = detail::sample_count(train);
  const std::int64_t steps_per_epoch = (n + options.batch_size - 1) / options.batch_size;
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  random_engine shuffler(options.shuffle_seed, 0x5u);
  Tensor<T, 2> x;
  Tensor<T, 2, typename Model::device_type> gradient;
  Tensor<std::int32_t, 1> y;
  batch_feed<T, typename Model::device_type> feed;
  std::vector<epoch_report> history;
  loss_scaler<T, typename Model::device_type> scaler(options.loss_scale, options.shuffle_seed);
  const detail::checkpointer checkpoints(options);
  const training_position resume = checkpoints.start(model, optimizer, scaler, steps_per_epoch);
  std::int64_t step = resume.step;
  detail::fit_logger logger(options);
  detail::divergence_guard guard(options.divergence);
  detail::announce_conv_tuning(options);
  logger.start();
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    if (options.shuffle)  // every epoch's shuffle, also those a resumed run replays to reach its order
      for (std::int64_t i = n - 1; i > 0; --i)  // Fisher–Yates
        std::swap(order[static_cast<std::size_t>(i)], order[shuffler.below(static_cast<std::uint32_t>(i + 1))]);
    if (epoch < resume.epoch) continue;  // finished before the checkpoint
    const std::int64_t first_batch = epoch == resume.epoch ? resume.batch : 0;
    const std::int64_t skipped_before = guard.skipped(), first_step = step - first_batch;
    std::ostringstream sink;
    progress bar = detail::epoch_progress(options, epoch, steps_per_epoch - first_batch, sink);
    for (std::int64_t first = first_batch * options.batch_size; first < n; first += options.batch_size, ++step) {
      const std::int64_t rows = std::min(options.batch_size, n - first);
      detail::gather(train, order, first, rows, x, y);
      const double lr = schedule(step);  // asked once per step (a schedule may count its calls)
      loss_result r;
      const detail::step_position at{epoch, step - first_step, step};
      if constexpr (std::is_same_v<typename Model::device_type, cpu>) {
        r = detail::train_on_batch<Model, Optimizer, T>(model, optimizer, lr, x, y, gradient, bar, loss, scaler, guard, at);
      } else {
        const auto staged = feed.stage(x, y);
        r = detail::train_on_batch<Model, Optimizer, T>(model, optimizer, lr, staged.images, staged.labels, gradient,
                                                        bar, loss, scaler, guard, at);
      }
      logger.after_step(step, epoch, rows, r, lr, scaler);
      checkpoints.after_step(model, optimizer, scaler, epoch, step - first_step, steps_per_epoch, step);
    }
    detail::finish_epoch(model, bar, epoch, test, history, on_epoch, loss, options, scaler, guard.skipped() - skipped_before,
                         logger, step);
  }
  return history;
}

// Something that yields the batches of an epoch in order: data::loader (background threads,
// augmentation) or anything with the same three members.
template <class L>
concept BatchSource = requires(L& l, data::batch& b, std::int64_t epoch) {
  l.start_epoch(epoch);
  { l.next(b) } -> std::same_as<bool>;
  { l.batches_per_epoch() } -> std::convertible_to<std::int64_t>;
};

// fit() over a batch source: batches come from `train` (epoch e is start_epoch(e), so order
// and augmentation are reproducible by the loader's seed); options.batch_size and shuffle are
// the loader's, not options'.
template <class Model, class Optimizer, Schedule S, BatchSource Loader, class Data = data::labelled_images,
          Loss L = SoftmaxCrossEntropy>
  requires OptimizerFor<Optimizer, Model>
std::vector<epoch_report> fit(Model& model, Loader& train, Optimizer& optimizer, const S& schedule,
                              const fit_options& options, const Data* test = nullptr,
                              const std::function<void(const epoch_report&)>& on_epoch = {}, const L& loss = {}) {
  using T = typename Model::element_type;
  if (options.epochs < 0) throw error("fit: epochs must be non-negative, got " + std::to_string(options.epochs));
  if constexpr (requires { train.options().shard; })
    if (const data::rank_shard s = train.options().shard; s.ranks > 1)
      throw error("fit: the loader is shard " + std::to_string(s.rank) + " of " + std::to_string(s.ranks) +
                  ", which makes only that rank's rows of each batch; train it with parallel::fit(comm, …) on every rank");
  Tensor<T, 2> x;
  Tensor<T, 2, typename Model::device_type> gradient;
  batch_feed<T, typename Model::device_type> feed;
  data::batch b;
  std::vector<epoch_report> history;
  loss_scaler<T, typename Model::device_type> scaler(options.loss_scale, options.shuffle_seed);
  const detail::checkpointer checkpoints(options);
  const std::int64_t batches = train.batches_per_epoch();
  const training_position resume = checkpoints.start(model, optimizer, scaler, batches);
  std::int64_t step = resume.step;
  detail::fit_logger logger(options);
  detail::divergence_guard guard(options.divergence);
  detail::announce_conv_tuning(options);
  logger.start();
  for (int epoch = resume.epoch; epoch <= options.epochs; ++epoch) {  // a loader's epoch e is start_epoch(e): no replay
    const std::int64_t first_batch = epoch == resume.epoch ? resume.batch : 0;
    const std::int64_t skipped_before = guard.skipped();
    std::ostringstream sink;
    progress bar = detail::epoch_progress(options, epoch, batches - first_batch, sink);
    train.start_epoch(epoch);
    std::int64_t batch = 0;
    while (batch < first_batch && train.next(b)) ++batch;  // made again and passed over: the order and draws stay the loader's
    for (; train.next(b); ++batch) {
      if (b.images.extent(0) == 0) continue;  // every record of the batch was skipped
      const Tensor<T, 2>& images = detail::batch_images(b.images, x);
      const double lr = schedule(step);
      loss_result r;
      const detail::step_position at{epoch, batch, step};
      if constexpr (std::is_same_v<typename Model::device_type, cpu>) {
        r = detail::train_on_batch<Model, Optimizer, T>(model, optimizer, lr, images, b.labels, gradient, bar, loss,
                                                        scaler, guard, at);
      } else {
        const auto staged = feed.stage(images, b.labels);
        r = detail::train_on_batch<Model, Optimizer, T>(model, optimizer, lr, staged.images, staged.labels, gradient,
                                                        bar, loss, scaler, guard, at);
      }
      logger.after_step(step, epoch, images.extent(0), r, lr, scaler);
      checkpoints.after_step(model, optimizer, scaler, epoch, batch, batches, step);
      ++step;
    }
    detail::finish_epoch(model, bar, epoch, test, history, on_epoch, loss, options, scaler, guard.skipped() - skipped_before,
                         logger, step);
  }
  return history;
}

}  // namespace strata::train
