// strata/parallel/scaling_model.hpp — an α–β model of one synchronous training step on p workers,
// from per-layer compute times measured on one worker: ring collectives, the bucketed gradient
// all-reduce overlapping the backward pass, the hybrid's gathers and scatters on the critical path.
// It gives the time per step, the communication left exposed, and the weak-scaling efficiency.
//
// Weak scaling: every worker keeps the per-worker batch b its layer times were measured at, so p
// workers train on p·b samples per step. t_compute is one worker's forward and backward on b
// samples, alone and without communication; it is the same on every worker in both schemes (in the
// hybrid a worker runs each Dense for all p·b rows but 1/p of the outputs: the same multiply-adds,
// exactly when p divides the outputs). efficiency = t_compute / t_step, so samples per second grow
// by p·efficiency over one worker. The optimizer's update is left out of both.
//
// Collective costs (Thakur, Rabenseifner & Gropp, "Optimization of collective communication
// operations in MPICH", IJHPCA 2005: ring algorithms), N bytes in all, p ranks:
//   all_reduce                     2(p−1)·α + 2(p−1)/p · N·β
//   all_gather / reduce_scatter     (p−1)·α +  (p−1)/p · N·β
// One link per worker, one collective on it at a time, in the order the step issues them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/parallel/communication.hpp"

namespace strata::parallel {

// α: seconds per message (one ring step: latency and software overhead); β: seconds per byte.
struct interconnect {
  const char* name = "";
  double alpha = 0;
  double beta = 0;
};

// Defaults. The bandwidths are the links' data rates: 10 Gb/s Ethernet (IEEE 802.3ae) carries
// 1.25 GB/s; 4x EDR InfiniBand signals 25.78125 Gb/s per lane with 64b/66b coding, 100 Gb/s of
// data, 12.5 GB/s. The latencies are orders of magnitude of MPI ping-pong over each (a few
// microseconds with RDMA on InfiniBand, tens over TCP on Ethernet), rounded up to allow for the
// software above the wire; measure a link (e.g. the OSU micro-benchmarks) and pass its own values.
inline constexpr interconnect ethernet_10g{"10 GbE (TCP)", 50e-6, 1.0 / 1.25e9};
inline constexpr interconnect infiniband_edr{"100 Gb/s InfiniBand EDR", 2e-6, 1.0 / 12.5e9};

inline double all_reduce_time(std::int64_t bytes, std::int64_t p, const interconnect& link) {
  if (p <= 1) return 0;
  const double steps = 2.0 * double(p - 1);
  return steps * link.alpha + steps / double(p) * double(bytes) * link.beta;
}
inline double all_gather_time(std::int64_t bytes, std::int64_t p, const interconnect& link) {
  if (p <= 1) return 0;
  const double steps = double(p - 1);
  return steps * link.alpha + steps / double(p) * double(bytes) * link.beta;
}
inline double reduce_scatter_time(std::int64_t bytes, std::int64_t p, const interconnect& link) {
  return all_gather_time(bytes, p, link);
}

// One top-level layer's compute on one worker at its per-worker batch, in seconds.
struct layer_time {
  double forward = 0, backward = 0;
};

struct step_projection {
  std::int64_t workers = 1;
  double compute = 0;        // t_compute: forward + backward of one worker on its batch
  double communication = 0;  // the link's busy time: every collective's α–β time, summed
  double step = 0;           // t_step
  double exposed = 0;        // t_step − t_compute: the communication compute did not hide
  double efficiency() const { return step > 0 ? compute / step : 1.0; }
};

namespace detail {
inline void check_times(const network_layout& net, std::span<const layer_time> times, std::int64_t workers) {
  if (times.size() != net.layers.size())
    throw error("scaling model: " + std::to_string(times.size()) + " layer times for " + std::to_string(net.layers.size()) +
                " top-level layers");
  if (workers < 1) throw error("scaling model: workers must be at least 1, got " + std::to_string(workers));
}

// Backward through layers [0, count) from the top, starting at `start`: a bucket starts once
// backward has passed its lowest layer and the link is free. Returns when the link has sent the
// last bucket (the caller compares it with the end of compute); adds the link's time to `busy`.
inline double bucketed_all_reduce(const network_layout& net, std::span<const layer_time> times, std::size_t count,
                                  double start, std::int64_t p, const interconnect& link, std::int64_t bucket_bytes,
                                  double& busy) {
  std::vector<double> done(count);  // when layer i's backward ends
  double t = start;
  for (std::size_t i = count; i-- > 0;) done[i] = t += times[i].backward;
  double link_free = start;
  for (const gradient_bucket& b : gradient_bucket_plan(net, bucket_bytes, count)) {
    const double c = all_reduce_time(b.values * net.value_bytes, p, link);
    link_free = std::max(link_free, done[b.lowest_layer]) + c;
    busy += c;
  }
  return link_free;
}
}  // namespace detail

// Pure data parallelism: forward, then backward with the gradient buckets summed as they fill.
inline step_projection project_data_parallel(const network_layout& net, std::span<const layer_time> times,
                                             std::int64_t workers, const interconnect& link,
                                             std::int64_t bucket_bytes = default_bucket_bytes) {
  detail::check_times(net, times, workers);
  step_projection s;
  s.workers = workers;
  double forward = 0;
  for (const auto& t : times) {
    forward += t.forward;
    s.compute += t.forward + t.backward;
  }
  const double link_done = detail::bucketed_all_reduce(net, times, times.size(), forward, workers, link, bucket_bytes, s.communication);
  s.step = std::max(s.compute, link_done);
  s.exposed = s.step - s.compute;
  return s;
}

// The hybrid: the head's gathers and scatters sit on the critical path (the next layer needs what
// they bring); the features' buckets overlap the features' backward as above.
inline step_projection project_hybrid(const network_layout& net, std::span<const layer_time> times, std::int64_t workers,
                                      std::int64_t per_worker_batch, const interconnect& link,
                                      std::int64_t bucket_bytes = default_bucket_bytes) {
  detail::check_times(net, times, workers);
  if (per_worker_batch < 1) throw error("scaling model: the per-worker batch must be at least 1");
  const hybrid_split split = split_for_hybrid(net);
  const std::int64_t p = workers, B = per_worker_batch * workers, s = net.value_bytes;
  step_projection r;
  r.workers = workers;
  double head_link = all_gather_time(B * split.feature_width * s, p, link) +       // features to every worker
                     reduce_scatter_time(B * split.feature_width * s, p, link);    // their gradient back by rows
  for (std::size_t k = 0; k < split.dense_outputs.size(); ++k) {
    const std::int64_t bytes = B * split.dense_outputs[k] * s;
    head_link += all_gather_time(bytes, p, link);                                   // the next Dense's input, or the logits
    if (k + 1 < split.dense_outputs.size()) head_link += reduce_scatter_time(bytes, p, link);  // its gradient
  }
  double before_feature_backward = head_link;
  for (std::size_t i = 0; i < times.size(); ++i) {
    r.compute += times[i].forward + times[i].backward;
    before_feature_backward += times[i].forward + (i >= split.first_dense ? times[i].backward : 0.0);
  }
  r.communication = head_link;
  const double link_done = detail::bucketed_all_reduce(net, times, split.first_dense, before_feature_backward, p, link,
                                                       bucket_bytes, r.communication);
  r.step = std::max(r.compute + head_link, link_done);
  r.exposed = r.step - r.compute;
  return r;
}

struct scaling_projection {
  step_projection data_parallel, hybrid;
};

// Both schemes for Net, from its top-level layers' times (one per layer, forward order) measured on
// one worker at `per_worker_batch` samples in precision T.
template <class Net, class T = float>
  requires Network<Net>
scaling_projection project(std::span<const layer_time> times, std::int64_t workers, std::int64_t per_worker_batch,
                           const interconnect& link, std::int64_t bucket_bytes = default_bucket_bytes) {
  static_assert(hybrid_splittable<Net>, "strata::parallel::project: Net does not split for the hybrid (see "
                                        "communication<Net>); use project_data_parallel(layout_of<Net, T>(), …) alone");
  const network_layout net = layout_of<Net, T>();
  return {project_data_parallel(net, times, workers, link, bucket_bytes),
          project_hybrid(net, times, workers, per_worker_batch, link, bucket_bytes)};
}

// One row per worker count: step time, exposed communication and efficiency of both schemes.
inline void print_scaling_table(std::ostream& out, const network_layout& net, std::span<const layer_time> times,
                                std::span<const std::int64_t> workers, std::int64_t per_worker_batch,
                                const interconnect& link, std::int64_t bucket_bytes = default_bucket_bytes) {
  char line[160];
  std::snprintf(line, sizeof line, "%s: alpha %.3g s, beta %.3g s/B; batch %lld per worker; times in ms\n", link.name,
                link.alpha, link.beta, static_cast<long long>(per_worker_batch));
  out << line;
  std::snprintf(line, sizeof line, "%8s %10s | %10s %10s %6s | %10s %10s %6s\n", "workers", "compute", "dp step",
                "dp exposed", "dp eff", "hyb step", "hyb exp.", "hy eff");
  out << line;
  for (const std::int64_t p : workers) {
    const step_projection d = project_data_parallel(net, times, p, link, bucket_bytes);
    const step_projection h = project_hybrid(net, times, p, per_worker_batch, link, bucket_bytes);
    std::snprintf(line, sizeof line, "%8lld %10.3f | %10.3f %10.3f %6.3f | %10.3f %10.3f %6.3f\n", static_cast<long long>(p),
                  d.compute * 1e3, d.step * 1e3, d.exposed * 1e3, d.efficiency(), h.step * 1e3, h.exposed * 1e3,
                  h.efficiency());
    out << line;
  }
}

}  // namespace strata::parallel
