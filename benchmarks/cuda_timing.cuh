// benchmarks/cuda_timing.cuh — how the GPU benchmarks time: CUDA events on strata's current stream
// around each call, warm-up first, candidates interleaved round by round (a slow spell of the
// machine hits all of them), median of the rounds.
#pragma once

#include <strata/cuda.hpp>

#include <algorithm>
#include <functional>
#include <vector>

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median milliseconds per call of each candidate: `warmup` untimed calls each, then `reps`
// rounds in which every candidate runs `inner` times between two events on the current stream.
inline std::vector<double> time_interleaved(const std::vector<std::function<void()>>& candidates, int warmup, int reps,
                                            int inner = 1) {
  const cudaStream_t s = strata::current_stream();
  for (const auto& f : candidates)
    for (int i = 0; i < warmup; ++i) f();
  strata::synchronize();
  strata::event start, stop;
  std::vector<std::vector<double>> ms(candidates.size());
  for (int r = 0; r < reps; ++r)
    for (std::size_t c = 0; c < candidates.size(); ++c) {
      start.record(s);
      for (int i = 0; i < inner; ++i) candidates[c]();
      stop.record(s);
      stop.synchronize();
      ms[c].push_back(static_cast<double>(stop.elapsed_ms_since(start)) / inner);
    }
  std::vector<double> out;
  for (auto& v : ms) out.push_back(median(v));
  return out;
}
