// strata/kernels/conv_choices.hpp — what algo::automatic decided and how it decides, on every
// device: the record of choices (conv_choices()), the tuning mode (timed, rule of thumb, or a
// recorded plan, for bit-identical reruns), and saving and loading such a plan.
#pragma once

#include <cstdint>
#include <fstream>
#include <atomic>
#include <map>
#include <mutex>
#include <sstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/kernels/conv_algorithm.hpp"

namespace strata::algo {

// One decision automatic made, as conv_choices() reports it.
struct conv_choice {
  std::string layer;      // the layer's description
  conv_geometry geometry;
  std::int64_t batch = 0;
  conv_pass pass = conv_pass::forward;
  std::string precision;  // precision_traits<T>::name
  std::string algorithm;  // what runs from now on
  bool timed = true;      // false: chosen by the rule of thumb or read from a plan
  std::vector<std::pair<std::string, double>> milliseconds;  // each candidate's best time
};

// How automatic decides. `timed` is the fastest but may differ from run to run (timings are
// noisy); `rule_of_thumb` and `plan` take no timings, so two runs give bit-identical results.
enum class conv_tuning {
  timed,          // time every candidate once per key (like cuDNN's find)
  rule_of_thumb,  // 1×1 → gemm_1x1, 3×3 → Winograd, ≥ 5×5 → FFT, else im2col
  plan            // the decisions of a recorded conv plan (load_conv_plan); unknown keys by rule of thumb
};
inline const char* name_of(conv_tuning t) {
  return t == conv_tuning::timed ? "timed" : t == conv_tuning::rule_of_thumb ? "rule of thumb" : "recorded plan";
}

namespace detail {
struct choice_registry {
  std::mutex mutex;
  std::map<std::string, std::size_t> index;     // key → position in choices
  std::vector<conv_choice> choices;
  std::map<std::string, std::string> planned;   // key → algorithm name, from a loaded plan
  conv_tuning tuning = conv_tuning::timed;
  std::atomic<bool> transforms{true};  // automatic may choose Winograd and FFT (read without the lock)
};
inline choice_registry& registry() {
  static choice_registry r;
  return r;
}

// What a decision depends on: pass, geometry, batch, precision, threads, training.
inline std::string key_of(conv_pass p, const conv_geometry& g, std::int64_t n, const char* precision, std::int64_t threads,
                          bool training) {
  std::string k = std::to_string(int(p));
  for (std::int64_t v : {g.C, g.H, g.W, g.K, g.R, g.S, g.stride_y, g.stride_x, g.pad_y, g.pad_x, n})
    k += "," + std::to_string(v);
  return k + "," + precision + "," + std::to_string(threads) + (training ? ",t" : ",i");
}

}  // namespace detail

// Every choice automatic has made in this process, in the order they were made.
inline std::vector<conv_choice> conv_choices() {
  auto& r = detail::registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.choices;
}

inline void set_conv_tuning(conv_tuning t) {
  auto& r = detail::registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.tuning = t;
}
inline conv_tuning get_conv_tuning() {
  auto& r = detail::registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.tuning;
}
// false: choose by the rule of thumb, without timing (reproducible, and free); true: time.
inline void set_conv_autotune(bool on) { set_conv_tuning(on ? conv_tuning::timed : conv_tuning::rule_of_thumb); }

// Whether automatic may choose the transform algorithms, Winograd and FFT (true by default).
// Their outputs differ from a plain sum of products by more rounding — in float32 a few 1e-7 of
// the output per layer, compounding with depth — so false keeps every convolution at im2col,
// 1×1 GEMM or direct accuracy: for comparing outputs with another library's, or for half
// precision. Decisions are recorded per setting.
inline void set_conv_transforms(bool allowed) {
  auto& r = detail::registry();
  r.transforms.store(allowed, std::memory_order_relaxed);
}
inline bool get_conv_transforms() {
  auto& r = detail::registry();
  return r.transforms.load(std::memory_order_relaxed);
}

// Every decision made so far as a plan's text: "strata-conv-plan 1", then one line per key (key,
// then algorithm). save_conv_plan writes it to a file; a training checkpoint keeps it.
inline std::string conv_plan_text() {
  auto& r = detail::registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::string out = "strata-conv-plan 1\n";
  for (const auto& [key, i] : r.index) out += key + ' ' + r.choices[i].algorithm + '\n';
  for (const auto& [key, name] : r.planned)
    if (!r.index.count(key)) out += key + ' ' + name + '\n';
  return out;
}

// Makes the decisions of a plan's text (conv_plan_text) and switches to conv_tuning::plan;
// `source` names where the text came from in errors. A malformed plan throws, naming the line;
// the current plan and mode are then unchanged.
inline void use_conv_plan_text(const std::string& text, const std::string& source) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != "strata-conv-plan 1")
    throw error("load_conv_plan: " + source + " is not a strata conv plan (its first line must be 'strata-conv-plan 1')");
  std::map<std::string, std::string> planned;
  for (int number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const auto space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size())
      throw error("load_conv_plan: " + source + " line " + std::to_string(number) + ": expected '<key> <algorithm>'");
    planned[line.substr(0, space)] = line.substr(space + 1);
  }
  auto& r = detail::registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.planned = std::move(planned);
  r.tuning = conv_tuning::plan;
}

// Writes every decision made so far, so a later run can make the same decisions without timing
// (load_conv_plan).
inline void save_conv_plan(const std::string& path) {
  const std::string text = conv_plan_text();
  std::ofstream out(path);
  if (!out) throw error("save_conv_plan: cannot write " + path);
  out << text;
  if (!out.flush()) throw error("save_conv_plan: writing " + path + " failed");
}

// Reads a plan written by save_conv_plan and switches to conv_tuning::plan. A malformed file
// throws, naming the file and line; the current plan and mode are then unchanged.
inline void load_conv_plan(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw error("load_conv_plan: cannot read " + path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  use_conv_plan_text(text, path);
}

}  // namespace strata::algo

namespace strata {
using algo::conv_choices;
using algo::conv_tuning;
using algo::get_conv_tuning;
using algo::load_conv_plan;
using algo::save_conv_plan;
using algo::set_conv_autotune;
using algo::set_conv_tuning;
using algo::set_conv_transforms;
using algo::get_conv_transforms;
}  // namespace strata
