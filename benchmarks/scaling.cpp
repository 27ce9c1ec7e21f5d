// benchmarks/scaling — How does data-parallel training scale, here and beyond?
//  1. On this machine: the demo network (Fashion-MNIST, global batch 64) trained by 2 MPI ranks
//     × 1 compute thread against 1 process × 2 compute threads, alternating round by round
//     (mpi2_vs_threads2 = images/s of the ranks ÷ images/s of the threads), the same ranks with
//     the optimizer sharded over them (mpi2_sharded_vs_threads2), the same ranks with the hybrid
//     (convolutions data-parallel, Dense layers model-parallel: mpi2_hybrid_vs_threads2), and 2
//     replicas on threads × 1 compute thread as a fifth column.
//  2. How much of the gradient sums the backward pass hides: each rank's wait after backward
//     with buckets started during backward, against the whole sum without overlap
//     (allreduce_hidden = 1 − exposed ÷ whole).
//  3. A projection to 8, 64 and 256 workers for ResNet-50 and AlexNet, pure data parallelism
//     against the hybrid, from each top-level layer's forward and backward time measured here
//     and an α–β model of the interconnect (parallel/scaling_model.hpp), with the bytes per step
//     of parallel/communication.hpp.
//
// Usage: scaling [--data DIR] [--steps N] [--rounds N] [--bucket-mib N] [--skip-projection]
//        (scaling --mpi-worker … is what the benchmark runs under mpiexec itself)
#include <strata/data/idx.hpp>
#include <strata/layers/softmax_cross_entropy.hpp>
#include <strata/net/model.hpp>
#include <strata/net/network_edit.hpp>
#include <strata/parallel/communication.hpp>
#include <strata/parallel/fit.hpp>
#include <strata/parallel/hybrid.hpp>
#include <strata/parallel/scaling_model.hpp>
#include <strata/train/fit.hpp>
#include <strata/train/sgd.hpp>
#include <strata/zoo/alexnet.hpp>
#include <strata/zoo/fashion_net.hpp>
#include <strata/zoo/resnet.hpp>
#if defined(STRATA_BENCH_HAVE_MPI)
#include <strata/mpi.hpp>
#endif

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace strata;

namespace {

using Demo = zoo::FashionNet<>;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

struct data_set {
  Tensor<float, 2> images;
  Tensor<std::int32_t, 1> labels;
};

// The first n training images of Fashion-MNIST.
data_set first_images(const std::filesystem::path& dir, std::int64_t n) {
  const auto all = data::load_fashion_mnist(dir, data::split::train);
  n = std::min(n, all.images.extent(0));
  const std::int64_t per = all.images.size() / all.images.extent(0);  // [N, C, H, W] on disk: rows of C·H·W
  data_set d{Tensor<float, 2>(n, per), Tensor<std::int32_t, 1>(n)};
  std::copy(all.images.data(), all.images.data() + d.images.size(), d.images.data());
  std::copy(all.labels.data(), all.labels.data() + n, d.labels.data());
  return d;
}

train::fit_options options_for(std::int64_t batch) {
  train::fit_options o;
  o.batch_size = batch;
  o.show_progress = false;
  o.shuffle_seed = 1;
  return o;
}

constexpr double learning_rate = 0.02;
double constant_rate(std::int64_t) { return learning_rate; }

// One process, `threads` compute threads: images per second over the steps after the first.
double train_threads(const data_set& d, std::int64_t batch, int threads) {
  set_num_threads(threads);
  Model<Demo> m(1);
  train::SGD<float> sgd({.momentum = 0.9});
  const auto t0 = clock_type::now();
  train::fit(m, d, sgd, constant_rate, options_for(batch));
  const double s = seconds_since(t0);
  set_num_threads(0);
  return double(d.images.extent(0)) / s;
}

// `replicas` replicas on threads, one compute thread each.
double train_replicas(const data_set& d, std::int64_t batch, int replicas, std::int64_t bucket_bytes) {
  Model<Demo> m(1);
  train::SGD<float> sgd({.momentum = 0.9});
  const auto t0 = clock_type::now();
  set_num_threads(replicas);  // one thread each
  parallel::fit_threads(replicas, m, d, sgd, constant_rate, options_for(batch), {.bucket_bytes = bucket_bytes});
  const double s = seconds_since(t0);
  set_num_threads(0);
  return double(d.images.extent(0)) / s;
}

#if defined(STRATA_BENCH_HAVE_MPI)
// Under mpiexec: every rank trains its rows with one compute thread; rank 0 prints the rate and
// the seconds each step waited for its gradient sums, with and without overlap.
enum class strategy { data_parallel, sharded, hybrid };

int mpi_worker(int argc, char** argv, const std::filesystem::path& dir, std::int64_t samples, std::int64_t batch,
               std::int64_t bucket_bytes, strategy how) {
  return parallel::mpi_main(argc, argv, [&](parallel::communicator& comm) {
    set_num_threads(1);
    const data_set d = first_images(dir, samples);
    Model<Demo> m(1);
    train::SGD<float> sgd({.momentum = 0.9});
    // Warm-up, untimed: convolution algorithms are timed once per shape and process, which the
    // in-process runs of the other columns have behind them after their first round.
    const data_set warm = first_images(dir, std::min<std::int64_t>(samples, 8 * batch));
    const bool shard = how == strategy::sharded;
    const parallel::data_parallel_options dp{.bucket_bytes = bucket_bytes, .shard_optimizer = shard};
    const auto train = [&](const data_set& on) {
      if (how == strategy::hybrid)
        parallel::fit_hybrid(comm, m, on, sgd, constant_rate, options_for(batch), bucket_bytes);
      else
        parallel::fit(comm, m, on, sgd, constant_rate, options_for(batch), dp);
    };
    train(warm);
    comm.barrier();
    const auto t0 = clock_type::now();
    train(d);
    comm.barrier();
    const double seconds = seconds_since(t0);
    // The gradient sums' wait after backward, per step, with and without overlap (each on the
    // same batches; the first steps of each are left out as warm-up).
    const auto waits = [&](bool overlap) {
      parallel::replica<Model<Demo>> rep(m, comm, {.bucket_bytes = bucket_bytes, .overlap = overlap});
      std::vector<double> w;
      for (std::int64_t first = 0; first + batch <= d.images.extent(0) && first < 40 * batch; first += batch) {
        const parallel::row_range mine = parallel::rows_of(batch, comm.rank(), comm.size());
        const batch_view<const float> x(d.images.data() + (first + mine.first) * d.images.extent(1), Shape{mine.count, d.images.extent(1)});
        const TensorView<const std::int32_t, 1> y(d.labels.data() + first + mine.first, Shape<1>{mine.count});
        rep.compute_gradients(x, y, batch);
        if (first >= 4 * batch) w.push_back(rep.last_wait_seconds());
      }
      return median(w);
    };
    const bool plain = how == strategy::data_parallel;
    const double whole = plain ? waits(false) : 0, exposed = plain ? waits(true) : 0;
    if (comm.rank() == 0)
      std::printf("mpi_worker images_per_second=%.2f exposed_ms=%.4f whole_ms=%.4f buckets=%zu\n", double(samples) / seconds,
                  exposed * 1e3, whole * 1e3,
                  parallel::replica<Model<Demo>>(m, comm, {.bucket_bytes = bucket_bytes}).buckets().size());
  });
}

struct mpi_run {
  double images_per_second = 0, exposed_ms = 0, whole_ms = 0;
  bool ok = false;
};

// Runs this program under mpiexec with `ranks` ranks and reads rank 0's line.
mpi_run run_mpi(const char* self, int ranks, const std::filesystem::path& dir, std::int64_t samples, std::int64_t batch,
                std::int64_t bucket_bytes, strategy how) {
  const char* mpiexec = std::getenv("STRATA_MPIEXEC") ? std::getenv("STRATA_MPIEXEC") : "mpiexec";
  std::ostringstream cmd;
  cmd << "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " << mpiexec << " -n " << ranks << " --bind-to none " << self
      << " --mpi-worker --data '" << dir.string() << "' --samples " << samples << " --batch " << batch << " --bucket-bytes "
      << bucket_bytes << (how == strategy::sharded ? " --shard" : how == strategy::hybrid ? " --hybrid" : "") << " 2>&1";
  mpi_run r;
  FILE* pipe = popen(cmd.str().c_str(), "r");
  if (!pipe) return r;
  char line[512];
  while (std::fgets(line, sizeof line, pipe)) {
    unsigned long buckets = 0;
    if (std::sscanf(line, "mpi_worker images_per_second=%lf exposed_ms=%lf whole_ms=%lf buckets=%lu", &r.images_per_second,
                    &r.exposed_ms, &r.whole_ms, &buckets) == 4)
      r.ok = true;
    else
      std::fputs(line, stderr);
  }
  if (pclose(pipe) != 0) r.ok = false;
  return r;
}
#endif

// One top-level layer of Net alone, as a network of its own.
template <class Net, std::size_t I>
using layer_alone_t =
    Sequential<typename strata::detail::input_of<type_at_t<I, typename Net::traits::inputs>>::type, type_at_t<I, typename Net::body::layers>>;

// Forward and backward (with the input gradient, which every layer but the first computes in
// training) of top-level layer I at `batch` samples: medians over `repeats` after one warm-up.
template <class Net, std::size_t I>
parallel::layer_time time_layer(std::int64_t batch, int repeats) {
  using L = layer_alone_t<Net, I>;
  Model<L> m(1);
  Tensor<float, 2> x(batch, L::input_shape::elements), dy(batch, L::output_shape::elements), dx(batch, L::input_shape::elements);
  fill_normal(x, 0, 1, 3);
  fill_normal(dy, 0, 1e-3, 4);
  std::vector<double> f, b;
  for (int r = 0; r <= repeats; ++r) {
    auto t0 = clock_type::now();
    m.forward(x, true);
    const double tf = seconds_since(t0);
    t0 = clock_type::now();
    if constexpr (I == 0) m.backward(dy);
    else m.backward(dy, dx);
    const double tb = seconds_since(t0);
    if (r > 0) f.push_back(tf), b.push_back(tb);
  }
  return {median(f), median(b)};
}

template <class Net>
std::vector<parallel::layer_time> time_layers(std::int64_t batch, int repeats) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::vector<parallel::layer_time>{time_layer<Net, I>(batch, repeats)...};
  }(std::make_index_sequence<Net::layer_count>{});
}

template <class Net>
std::pair<double, double> project_network(const char* name, std::int64_t batch, int repeats, std::int64_t bucket_bytes) {
  std::printf("\n%s: top-level layers timed one by one at batch %lld per worker (%d repeats, median)\n", name,
              static_cast<long long>(batch), repeats);
  const auto times = time_layers<Net>(batch, repeats);
  double forward = 0, backward = 0;
  for (const auto& t : times) forward += t.forward, backward += t.backward;
  std::printf("compute per worker: forward %.1f ms, backward %.1f ms\n", forward * 1e3, backward * 1e3);
  const std::vector<std::int64_t> workers{8, 64, 256};
  const auto layout = parallel::layout_of<Net, float>();
  for (const parallel::interconnect& link : {parallel::ethernet_10g, parallel::infiniband_edr}) {
    std::ostringstream out;
    parallel::print_scaling_table(out, layout, times, workers, batch, link, bucket_bytes);
    std::fputs(out.str().c_str(), stdout);
  }
  // The same network on workers 100× faster than this CPU (a GPU's order of magnitude): the
  // communication no longer hides behind the compute.
  std::vector<parallel::layer_time> fast = times;
  for (auto& t : fast) t.forward /= 100, t.backward /= 100;
  std::printf("the same on workers 100x faster than this CPU (layer times / 100):\n");
  for (const parallel::interconnect& link : {parallel::ethernet_10g, parallel::infiniband_edr}) {
    std::ostringstream out;
    parallel::print_scaling_table(out, layout, fast, workers, batch, link, bucket_bytes);
    std::fputs(out.str().c_str(), stdout);
  }
  return {parallel::project<Net>(times, 64, batch, parallel::infiniband_edr, bucket_bytes).data_parallel.efficiency(),
          parallel::project<Net>(fast, 64, batch, parallel::infiniband_edr, bucket_bytes).data_parallel.efficiency()};
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = data::default_fashion_mnist_dir;
  std::int64_t steps = 60, batch = 64, samples = 0, bucket_bytes = std::int64_t{4} << 20;
  int rounds = 5;
  bool projection = true, worker = false, shard = false, hybrid = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--data") dir = next();
    else if (a == "--steps") steps = std::max(5, std::atoi(next().c_str()));
    else if (a == "--rounds") rounds = std::max(1, std::atoi(next().c_str()));
    else if (a == "--bucket-mib") bucket_bytes = std::int64_t(std::max(1, std::atoi(next().c_str()))) << 20;
    else if (a == "--skip-projection") projection = false;
    else if (a == "--mpi-worker") worker = true;
    else if (a == "--shard") shard = true;
    else if (a == "--hybrid") hybrid = true;
    else if (a == "--samples") samples = std::atoll(next().c_str());
    else if (a == "--batch") batch = std::atoll(next().c_str());
    else if (a == "--bucket-bytes") bucket_bytes = std::atoll(next().c_str());
    else {
      std::fprintf(stderr, "usage: %s [--data DIR] [--steps N] [--rounds N] [--bucket-mib N] [--skip-projection]\n", argv[0]);
      return 2;
    }
  }
#if defined(STRATA_BENCH_HAVE_MPI)
  if (worker)
    return mpi_worker(argc, argv, dir, samples, batch, bucket_bytes,
                      hybrid ? strategy::hybrid : shard ? strategy::sharded : strategy::data_parallel);
#else
  if (worker) {
    std::fprintf(stderr, "scaling: built without MPI\n");
    return 2;
  }
#endif
  samples = steps * batch;
  const data_set d = first_images(dir, samples);
  std::printf("scaling: demo network, global batch %lld, %lld steps per run (%lld images), %d rounds, gradient buckets of %lld MiB\n",
              static_cast<long long>(batch), static_cast<long long>(steps), static_cast<long long>(samples), rounds,
              static_cast<long long>(bucket_bytes >> 20));
  std::printf("\n%-7s %16s %16s %16s %16s %16s %12s %12s\n", "round", "1 proc x 2 thr", "2 ranks x 1 thr", "2 ranks sharded",
              "2 ranks hybrid", "2 replicas x 1", "exposed ms", "whole sum ms");
  std::vector<double> threads2, mpi2, sharded2, hybrid2, replicas2, hidden;
  for (int r = 1; r <= rounds; ++r) {
    threads2.push_back(train_threads(d, batch, 2));
#if defined(STRATA_BENCH_HAVE_MPI)
    const mpi_run m = run_mpi(argv[0], 2, dir, samples, batch, bucket_bytes, strategy::data_parallel);
    if (m.ok) {
      mpi2.push_back(m.images_per_second);
      hidden.push_back(m.whole_ms > 0 ? 1.0 - m.exposed_ms / m.whole_ms : 0.0);
    }
    const mpi_run z = run_mpi(argv[0], 2, dir, samples, batch, bucket_bytes, strategy::sharded);
    if (z.ok) sharded2.push_back(z.images_per_second);
    const mpi_run y = run_mpi(argv[0], 2, dir, samples, batch, bucket_bytes, strategy::hybrid);
    if (y.ok) hybrid2.push_back(y.images_per_second);
#else
    const struct { double images_per_second = 0, exposed_ms = 0, whole_ms = 0; } m, z, y;
#endif
    replicas2.push_back(train_replicas(d, batch, 2, bucket_bytes));
    std::printf("%-7d %16.1f %16.1f %16.1f %16.1f %16.1f %12.3f %12.3f\n", r, threads2.back(), m.images_per_second, z.images_per_second,
                y.images_per_second, replicas2.back(), m.exposed_ms, m.whole_ms);
  }
  const double t2 = median(threads2), m2 = median(mpi2), z2 = median(sharded2), y2 = median(hybrid2), p2 = median(replicas2),
               h = median(hidden);
  std::printf("%-7s %16.1f %16.1f %16.1f %16.1f %16.1f   (images/s; allreduce hidden %.3f)\n", "median", t2, m2, z2, y2, p2, h);
  if (mpi2.empty()) std::printf("(no MPI runs: built without MPI, or mpiexec failed; scripts/setup installs Open MPI)\n");

  std::pair<double, double> eff_resnet{0, 0}, eff_alexnet{0, 0};
  if (projection) {
    std::printf("\nBytes per worker per step (fp32), 128 images per worker (parallel::communication):\n");
    parallel::print_communication_table<zoo::TorchvisionAlexNet<>>(std::cout, {2, 4, 8}, 128);
    std::cout.flush();
    eff_alexnet = project_network<zoo::TorchvisionAlexNet<>>("AlexNet (torchvision's, the weird trick's network)", 32, 3, parallel::default_bucket_bytes);
    eff_resnet = project_network<zoo::ResNet50<>>("ResNet-50", 8, 2, parallel::default_bucket_bytes);
  }
  std::printf("\nRESULT mpi2_vs_threads2=%.3f mpi2_sharded_vs_threads2=%.3f mpi2_hybrid_vs_threads2=%.3f replicas2_vs_threads2=%.3f "
              "allreduce_hidden=%.3f "
              "projected_eff_64_resnet50=%.3f projected_eff_64_alexnet=%.3f projected_eff_64_resnet50_fast100=%.3f "
              "projected_eff_64_alexnet_fast100=%.3f\n",
              t2 > 0 ? m2 / t2 : 0.0, t2 > 0 ? z2 / t2 : 0.0, t2 > 0 ? y2 / t2 : 0.0, t2 > 0 ? p2 / t2 : 0.0, h, eff_resnet.first, eff_alexnet.first, eff_resnet.second,
              eff_alexnet.second);
}
