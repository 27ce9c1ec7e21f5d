// strata/train/checkpoint.hpp — training checkpoints: the model's weights and state and what
// training needs to continue exactly (the optimizer's state: momentum, Adam's moments and step
// count, master copies and rounding stream; dynamic loss scaling's state; the model's random
// stream; where training stands; the convolution algorithms chosen so far, so a resumed run
// chooses the same) in one archive, kind "strata-checkpoint", written atomically (a crash
// mid-save leaves the previous checkpoint whole).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"
#include "strata/io/archive.hpp"
#include "strata/io/model_file.hpp"
#include "strata/kernels/conv_choices.hpp"

namespace strata::train {

// Where training stands when a checkpoint is taken: the next step to run.
struct training_position {
  int epoch = 1;             // the epoch of the next step, from 1
  std::int64_t batch = 0;    // that step's batch within its epoch, from 0
  std::int64_t step = 0;     // optimizer steps so far, skipped ones included: the schedule's next t
  bool operator==(const training_position&) const = default;
};

// Optimizers name themselves in a checkpoint, so that one optimizer's state is never read into
// another's.
template <class O>
inline constexpr std::string_view checkpoint_kind_of = O::checkpoint_kind;

namespace detail {

inline constexpr std::string_view checkpoint_archive_kind = "strata-checkpoint";

// An engine's state as five u64: seed, stream, position, the spare normal's bits, has_spare.
inline Tensor<std::uint64_t, 1> engine_entry(const random_engine& e) {
  const auto s = e.state();
  Tensor<std::uint64_t, 1> t(Shape<1>{5});
  t(0) = s.seed, t(1) = s.stream, t(2) = s.position, t(3) = std::bit_cast<std::uint32_t>(s.spare), t(4) = s.has_spare;
  return t;
}

// f(name, value) for each piece of state, as the optimizers and the loss scaler call it: writes
// entries named prefix + name.
class checkpoint_writer {
 public:
  checkpoint_writer(io::archive& a, std::string prefix) : a_(a), prefix_(std::move(prefix)) {}
  template <class M, class D>
  void operator()(std::string_view name, std::vector<Tensor<M, 1, D>>& list) {
    Tensor<std::int64_t, 1> count(Shape<1>{1});
    count(0) = std::int64_t(list.size());
    a_.entries.push_back(io::make_entry(key(name) + ".count", count));
    for (std::size_t i = 0; i < list.size(); ++i) {
      a_.entries.push_back(io::make_entry(key(name) + "." + std::to_string(i), strata::detail::on_host(list[i])));
      if constexpr (has_dynamic_scale<M>) {  // dynamic fixed point: each tensor's exponent beside its mantissas
        Tensor<std::int32_t, 1> f(Shape<1>{1});
        f(0) = list[i].size() > 0 ? scale_of(list[i].data()).fraction_bits : 0;
        a_.entries.push_back(io::make_entry(strata::detail::exponent_entry(key(name) + "." + std::to_string(i)), f));
      }
    }
  }
  void operator()(std::string_view name, random_engine& e) { a_.entries.push_back(io::make_entry(key(name), engine_entry(e))); }
  void operator()(std::string_view name, std::int64_t& v) { scalar(name, v); }
  void operator()(std::string_view name, double& v) { scalar(name, v); }
  void operator()(std::string_view name, std::string& text) {
    Tensor<std::uint8_t, 1> t(Shape<1>{std::int64_t(text.size())});
    std::copy(text.begin(), text.end(), t.data());
    a_.entries.push_back(io::make_entry(key(name), t));
  }

 private:
  template <class V>
  void scalar(std::string_view name, V v) {
    Tensor<V, 1> t(Shape<1>{1});
    t(0) = v;
    a_.entries.push_back(io::make_entry(key(name), t));
  }
  std::string key(std::string_view name) const { return prefix_ + std::string(name); }
  io::archive& a_;
  std::string prefix_;
};

// The reader's twin: with `apply` false it only checks that every entry is there with its type
// and size (so a bad file changes nothing), with `apply` true it reads them in.
class checkpoint_reader {
 public:
  checkpoint_reader(const io::archive& a, std::string prefix, bool apply) : a_(a), prefix_(std::move(prefix)), apply_(apply) {}
  template <class M, class D>
  void operator()(std::string_view name, std::vector<Tensor<M, 1, D>>& list) {
    Tensor<std::int64_t, 1> count(Shape<1>{1});
    read(key(name) + ".count", count, 1);
    const std::int64_t n = count(0);
    if (n < 0 || n > 1'000'000) throw error("checkpoint: '" + key(name) + ".count' is " + std::to_string(n));
    std::vector<Tensor<M, 1, D>> loaded;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::string entry = key(name) + "." + std::to_string(i);
      const auto& e = a_.at(entry);
      if (e.type != io::element_code_of<M>() || e.shape.size() != 1)
        throw error("checkpoint: '" + entry + "' is not a vector of the optimizer's master precision");
      Tensor<M, 1, D> t(Shape<1>{e.shape[0]});
      if (apply_) strata::detail::read_tensor(a_, entry, t.view());
      if constexpr (has_dynamic_scale<M>) {
        Tensor<std::int32_t, 1> f(Shape<1>{1});
        read(strata::detail::exponent_entry(entry), f, 1);
        if (apply_ && t.size() > 0) {
          dynamic_scale& scale = scale_of(t.data());
          scale.fraction_bits = scale.planned = f(0);
          scale.written = true;
        }
      }
      loaded.push_back(std::move(t));
    }
    if (apply_) list = std::move(loaded);
  }
  void operator()(std::string_view name, random_engine& e) {
    Tensor<std::uint64_t, 1> t(Shape<1>{5});
    read(key(name), t, 5);
    if (apply_)
      e = random_engine(random_engine::state_type{t(0), t(1), t(2), std::bit_cast<float>(std::uint32_t(t(3))), t(4) != 0});
  }
  void operator()(std::string_view name, std::int64_t& v) { scalar(name, v); }
  void operator()(std::string_view name, double& v) { scalar(name, v); }
  void operator()(std::string_view name, std::string& text) {
    const auto& e = a_.at(key(name));
    if (e.type != io::element_code::u8 || e.shape.size() != 1) throw error("checkpoint: '" + key(name) + "' is not text");
    Tensor<std::uint8_t, 1> t(Shape<1>{e.shape[0]});
    a_.read(key(name), t.view());
    if (apply_) text.assign(t.data(), t.data() + t.size());
  }

 private:
  template <class V>
  void scalar(std::string_view name, V& v) {
    Tensor<V, 1> t(Shape<1>{1});
    read(key(name), t, 1);
    if (apply_) v = t(0);
  }
  template <class V>
  void read(const std::string& entry, Tensor<V, 1>& into, std::int64_t size) const {
    strata::detail::check_model_entry(a_, entry, size, io::element_code_of<V>());
    a_.read(entry, into.view());
  }
  std::string key(std::string_view name) const { return prefix_ + std::string(name); }
  const io::archive& a_;
  std::string prefix_;
  bool apply_;
};

// A loss scaler, or nothing to save.
struct no_loss_scaler {
  template <class F>
  void visit_checkpoint(F&&) {}
};

}  // namespace detail

// Writes everything training needs to continue exactly from `at` to `file`, atomically: the model
// (as a model file holds it), its random stream, the optimizer's state and, when given, dynamic
// loss scaling's.
template <class Model, class Optimizer, class Scaler = detail::no_loss_scaler>
void save_training_checkpoint(const std::filesystem::path& file, Model& model, Optimizer& optimizer, const training_position& at,
                              Scaler&& scaler = {}) {
  io::archive a;
  a.kind = std::string(detail::checkpoint_archive_kind);
  a.signature = Model::signature() + " | optimizer " + std::string(checkpoint_kind_of<std::remove_cvref_t<Optimizer>>);
  a.version = 1;
  strata::detail::append_model(a, model);
  detail::checkpoint_writer position(a, "training.");
  std::int64_t epoch = at.epoch, batch = at.batch, step = at.step;
  position("epoch", epoch);
  position("batch", batch);
  position("step", step);
  position("model_rng", model.rng());
  std::string conv_plan = algo::conv_plan_text();
  position("conv_plan", conv_plan);
  optimizer.visit_checkpoint(detail::checkpoint_writer(a, "optimizer."));
  scaler.visit_checkpoint(detail::checkpoint_writer(a, "loss_scale."));
  io::write_archive(file, a);
}

// Reads what save_training_checkpoint wrote into a model, optimizer (and loss scaler) of the same
// kinds, and returns where training stands. A file of another architecture, precision or
// optimizer, a truncated or corrupted file, or a missing or mistyped entry throws naming it, and
// leaves everything as it was.
template <class Model, class Optimizer, class Scaler = detail::no_loss_scaler>
training_position load_training_checkpoint(const std::filesystem::path& file, Model& model, Optimizer& optimizer,
                                           Scaler&& scaler = {}) {
  const io::archive a =
      io::read_archive(file, detail::checkpoint_archive_kind,
                       Model::signature() + " | optimizer " + std::string(checkpoint_kind_of<std::remove_cvref_t<Optimizer>>));
  std::int64_t epoch = 0, batch = 0, step = 0;
  random_engine model_rng = model.rng();
  std::string conv_plan;
  strata::detail::check_model(a, model);
  for (const bool apply : {false, true}) {  // check every entry first, then read
    detail::checkpoint_reader position(a, "training.", apply);
    position("epoch", epoch);
    position("batch", batch);
    position("step", step);
    position("model_rng", model_rng);
    position("conv_plan", conv_plan);
    optimizer.visit_checkpoint(detail::checkpoint_reader(a, "optimizer.", apply));
    scaler.visit_checkpoint(detail::checkpoint_reader(a, "loss_scale.", apply));
  }
  strata::detail::read_model(a, model);
  model.rng() = model_rng;
  // The run's convolution choices, where it made any: the resumed run makes the same ones (even
  // where the run timed them), so its sums are the same.
  if (conv_plan.find('\n') + 1 < conv_plan.size()) algo::use_conv_plan_text(conv_plan, file.string() + " (its convolution plan)");
  return {int(epoch), batch, step};
}

}  // namespace strata::train
