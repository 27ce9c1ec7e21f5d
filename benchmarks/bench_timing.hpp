// benchmarks/bench_timing.hpp — the small statistics the interleaved-round benchmarks share: a
// monotonic clock in seconds, the (upper) median, the geometric mean, per-round ratios, and the
// nominal clock from /proc/cpuinfo for multiply-adds per cycle.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace strata::bench {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// v[n / 2] of the sorted values (the upper median of an even count); 0 when empty.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

inline double geomean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += std::log(x);
  return v.empty() ? 0.0 : std::exp(s / double(v.size()));
}

// num[i] ÷ den[i], round by round.
inline std::vector<double> ratios(const std::vector<double>& num, const std::vector<double>& den) {
  std::vector<double> r;
  for (std::size_t i = 0; i < num.size() && i < den.size(); ++i) r.push_back(num[i] / den[i]);
  return r;
}

// The clock in Hz, from /proc/cpuinfo's first "cpu MHz" (0 when unknown).
inline double clock_hz() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("cpu MHz", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return std::atof(line.c_str() + colon + 1) * 1e6;
    }
  return 0;
}

}  // namespace strata::bench
