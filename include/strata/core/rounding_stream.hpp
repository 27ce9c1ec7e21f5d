// strata/core/rounding_stream.hpp — where kernels that round stochastically (fixed-point GEMM and
// convolution) get their random key: one 64-bit key per call, drawn on the calling thread from
// the engine a rounding_scope installed (a Model installs its own for each pass), so a model's
// results depend on its seed and on nothing else — not on thread counts, not on other models.
#pragma once

#include <cstdint>

#include "strata/core/random.hpp"

namespace strata {

namespace detail {
inline random_engine*& current_rounding_engine() noexcept {
  thread_local random_engine* engine = nullptr;
  return engine;
}
// Used where no scope is active (fixed-point arithmetic outside a Model): a fixed stream per
// thread, so a program that calls the same products in the same order gets the same bits.
inline random_engine& default_rounding_engine() noexcept {
  thread_local random_engine engine(0x5eed0003u, 0x524f554eu);
  return engine;
}
}  // namespace detail

// While alive, next_rounding_key() on this thread draws from `engine`. Scopes nest.
class rounding_scope {
 public:
  explicit rounding_scope(random_engine& engine) noexcept : previous_(detail::current_rounding_engine()) {
    detail::current_rounding_engine() = &engine;
  }
  ~rounding_scope() { detail::current_rounding_engine() = previous_; }
  rounding_scope(const rounding_scope&) = delete;
  rounding_scope& operator=(const rounding_scope&) = delete;

 private:
  random_engine* previous_;
};

// While alive, keys drawn on this thread are drawn again after it: work that is repeated only to
// be timed (algo::automatic's trials) leaves the stream where one real call would.
class rounding_replay {
 public:
  rounding_replay() noexcept
      : engine_(detail::current_rounding_engine() ? *detail::current_rounding_engine() : detail::default_rounding_engine()),
        saved_(engine_) {}
  ~rounding_replay() { engine_ = saved_; }
  rounding_replay(const rounding_replay&) = delete;
  rounding_replay& operator=(const rounding_replay&) = delete;

 private:
  random_engine& engine_;
  random_engine saved_;
};

// A fresh key for one kernel call's stochastic rounding (its random bits are then a function of
// this key and of each output element's index only).
inline std::uint64_t next_rounding_key() noexcept {
  random_engine* e = detail::current_rounding_engine();
  random_engine& engine = e ? *e : detail::default_rounding_engine();
  const std::uint64_t hi = engine();
  return hi << 32 | engine();
}

}  // namespace strata
