// The communication arithmetic (parallel/communication.hpp) by hand on a tiny network, against
// the zoo's parameter counts for AlexNet, and the α–β scaling model (parallel/scaling_model.hpp)
// on cases worked out on paper. Every expectation is exact: the byte counts are integers, and the
// times use α, β and layer times that binary floating point holds exactly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/relu.hpp"
#include "strata/parallel/communication.hpp"
#include "strata/parallel/scaling_model.hpp"
#include "strata/zoo/alexnet.hpp"
#include "strata/zoo/resnet.hpp"

using namespace strata;
using namespace strata::parallel;

namespace {

// Layers: 0 conv 1×1 2 → 2 (6 parameters, output 8 values), 1 flatten, 2 dense 8 → 3 (27),
// 3 ReLU, 4 dense 3 → 2 (8). 41 parameters, feature width 8.
using Tiny = Sequential<Input<2, 2, 2>, Conv<2, Kernel<1>>, Flatten, Dense<3>, ReLU, Dense<2>>;
static_assert(Tiny::parameters == 41);

std::vector<std::int64_t> sent_per_rank(const traffic& t) {
  std::vector<std::int64_t> out;
  for (std::int64_t r = 0; r < t.workers(); ++r) out.push_back(t.sent(r));
  return out;
}

using V = std::vector<std::int64_t>;

}  // namespace

TEST_CASE("the collectives' bytes follow the transport's convention", "[collectives]") {
  // all_reduce of 10 values on 3 ranks: chunks 3, 3, 4.
  CHECK(all_reduce_sent(10, 3, 0, 4) == (7 + 2 * 3) * 4);
  CHECK(all_reduce_sent(10, 3, 1, 4) == (7 + 2 * 3) * 4);
  CHECK(all_reduce_sent(10, 3, 2, 4) == (6 + 2 * 4) * 4);
  CHECK(all_reduce_sent(10, 1, 0, 4) == 0);
  const V counts{1, 2, 3};
  CHECK(all_gather_sent(counts, 0, 8) == 2 * 1 * 8);
  CHECK(all_gather_sent(counts, 2, 8) == 2 * 3 * 8);
  CHECK(reduce_scatter_sent(counts, 0, 8) == 5 * 8);
  CHECK(reduce_scatter_sent(counts, 2, 8) == 3 * 8);
  CHECK(shares(3, 2) == V{1, 2});
  CHECK(shares(2, 3) == V{0, 1, 1});
  CHECK(shares(7, 4) == V{1, 2, 2, 2});
}

TEST_CASE("gradient buckets hold whole layers from the last down, closed at bucket_bytes / s values", "[buckets]") {
  CHECK(gradient_buckets<Tiny>(4) == V{8, 27, 6});      // one value is full: one bucket per layer with parameters
  CHECK(gradient_buckets<Tiny>(100) == V{35, 6});       // 8 < 25, then 8 + 27 ≥ 25; the conv alone at the end
  CHECK(gradient_buckets<Tiny>(141) == V{35, 6});       // 141 / 4 = 35 values (integer division, as the trainer)
  CHECK(gradient_buckets<Tiny>(144) == V{41});          // 36 values: 35 is not full, the conv joins
  CHECK(gradient_buckets<Tiny>() == V{41});             // 25 MiB
  CHECK(gradient_buckets<Tiny, double>(280) == V{35, 6});  // 8 bytes a value: 35 values
  const auto plan = gradient_bucket_plan(layout_of<Tiny>(), 100);
  REQUIRE(plan.size() == 2);
  CHECK(plan[0].highest_layer == 4);
  CHECK(plan[0].lowest_layer == 2);
  CHECK(plan[1].highest_layer == 0);
  CHECK(plan[1].lowest_layer == 0);
  CHECK_THROWS_WITH(gradient_buckets<Tiny>(0), Catch::Contains("bucket_bytes must be positive"));
}

TEST_CASE("ResNet-50's buckets cover every parameter and close as soon as they are full", "[buckets]") {
  using Net = zoo::ResNet50<>;
  const network_layout net = layout_of<Net>();
  const std::int64_t limit = default_bucket_bytes / 4;
  const auto plan = gradient_bucket_plan(net);
  REQUIRE(plan.size() > 1);
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    sum += plan[i].values;
    CHECK(plan[i].lowest_layer <= plan[i].highest_layer);
    if (i > 0) CHECK(plan[i].highest_layer < plan[i - 1].lowest_layer);
    if (i + 1 < plan.size()) {
      CHECK(plan[i].values >= limit);
      CHECK(plan[i].values - net.layers[plan[i].lowest_layer].parameters < limit);  // not full before its last layer
    }
  }
  CHECK(sum == Net::parameters);
}

TEST_CASE("data parallelism on a tiny network, by hand", "[data_parallel]") {
  // One bucket of 41 values on 4 ranks: chunks 10, 10, 10, 11.
  const traffic one = data_parallel_traffic(V{41}, 4, 4);
  CHECK(sent_per_rank(one) == V{(31 + 30) * 4, (31 + 30) * 4, (31 + 30) * 4, (30 + 33) * 4});
  // Buckets 8, 27, 6: chunks (2,2,2,2), (6,7,7,7), (1,2,1,2).
  const communication_estimate e = communication<Tiny>(4, 8, 4);
  CHECK(e.data_parallel_buckets == V{8, 27, 6});
  CHECK(sent_per_rank(e.data_parallel) == V{(12 + 39 + 8) * 4, (12 + 41 + 10) * 4, (12 + 41 + 8) * 4, (12 + 41 + 10) * 4});
  CHECK(e.data_parallel.total() == 2 * 3 * 41 * 4);  // 2(R−1)·N·s, whatever the buckets
  CHECK(e.data_parallel.per_worker() == 246.0);
  CHECK(e.data_parallel.gather_bytes() == 0);
  CHECK(e.data_parallel.scatter_bytes() == 0);
}

TEST_CASE("the hybrid on a tiny network, by hand", "[hybrid]") {
  SECTION("2 ranks, batch 3: rows 1 and 2, dense 1's outputs 1 and 2, dense 2's 1 and 1") {
    const communication_estimate e = communication<Tiny>(2, 3);
    CHECK(e.feature_parameters == 6);
    CHECK(e.head_parameters == 35);
    CHECK(e.feature_buckets == V{6});
    // Gradients: all_reduce of 6 (chunks 3, 3) = 6 values each.
    CHECK(e.hybrid.gradients == V{24, 24});
    // Forward: features (R−1)·b_r·8, dense 1's slices 3·o_1r, logits 3·o_2r.
    CHECK(e.hybrid.gathers == V{(8 + 3 + 3) * 4, (16 + 6 + 3) * 4});
    // Backward: dense 2's input gradient 9 − 3·o_1r; features (3 − b_r)·8.
    CHECK(e.hybrid.scatters == V{(6 + 16) * 4, (3 + 8) * 4});
    CHECK(sent_per_rank(e.hybrid) == V{168, 168});
    CHECK(e.hybrid.total() == 336);
    CHECK(e.hybrid.per_worker() == 168.0);
  }
  SECTION("3 ranks, batch 4: rows 1, 1, 2; outputs (1, 1, 1) and (0, 1, 1)") {
    const communication_estimate e = communication<Tiny>(3, 4);
    CHECK(e.hybrid.gradients == V{32, 32, 32});
    CHECK(e.hybrid.gathers == V{(16 + 8 + 0) * 4, (16 + 8 + 8) * 4, (32 + 8 + 8) * 4});
    CHECK(e.hybrid.scatters == V{(8 + 24) * 4, (8 + 24) * 4, (8 + 16) * 4});
    CHECK(sent_per_rank(e.hybrid) == V{256, 288, 320});
    // (R−1)·s·[2·P_features + 2·B·F + 2·B·O_1 + B·O_2]
    CHECK(e.hybrid.total() == 2 * 4 * (2 * 6 + 2 * 4 * 8 + 2 * 4 * 3 + 4 * 2));
  }
  SECTION("one worker sends nothing") {
    const communication_estimate e = communication<Tiny>(1, 5);
    CHECK(e.data_parallel.total() == 0);
    CHECK(e.hybrid.total() == 0);
  }
  CHECK_THROWS_WITH(communication<Tiny>(0, 4), Catch::Contains("workers must be at least 1"));
  CHECK_THROWS_WITH(communication<Tiny>(2, 0), Catch::Contains("batch must be at least 1"));
}

TEST_CASE("what may follow the first Dense", "[hybrid]") {
  using WithNorm = Sequential<Input<2, 2, 2>, Flatten, Dense<4>, BatchNorm, Dense<2>>;
  using DenseFirst = Sequential<Input<8>, Dense<4>, ReLU, Dense<2>>;
  using NoDense = Sequential<Input<2, 2, 2>, Conv<2, Kernel<1>>, Flatten>;
  static_assert(hybrid_splittable<Tiny>);
  static_assert(hybrid_splittable<zoo::AlexNet<>>);  // Dropout between the Dense layers
  static_assert(hybrid_splittable<zoo::TorchvisionAlexNet<>>);
  static_assert(hybrid_splittable<zoo::ResNet50<>>);
  static_assert(!hybrid_splittable<WithNorm>);
  static_assert(!hybrid_splittable<DenseFirst>);
  static_assert(!hybrid_splittable<NoDense>);
  static_assert(std::is_same_v<parallel::detail::hybrid_check<WithNorm>::type, not_dense_or_elementwise_in_the_hybrid_head_at<2, BatchNorm>>);
  CHECK_THROWS_WITH(split_for_hybrid(layout_of<WithNorm>()), Catch::Contains("layer 2"));
  CHECK_THROWS_WITH(split_for_hybrid(layout_of<DenseFirst>()), Catch::Contains("layer 0"));
  CHECK_THROWS_WITH(split_for_hybrid(layout_of<NoDense>()), Catch::Contains("no top-level Dense"));
  // Data parallelism alone still works for them.
  CHECK(data_parallel_traffic(gradient_buckets<WithNorm>(), 2, 4).total() == 2 * WithNorm::parameters * 4);
}

TEST_CASE("AlexNet's parameters: the convolutions hold 4-6 %, the Dense layers the rest", "[alexnet]") {
  // torchvision's (Krizhevsky 2014): conv 23,296 + 307,392 + 663,936 + 884,992 + 590,080.
  const communication_estimate t = communication<zoo::TorchvisionAlexNet<>>(2, 256);
  CHECK(t.feature_parameters == 2'469'696);
  CHECK(t.head_parameters == 58'631'144);  // 9216·4096+4096, 4096·4096+4096, 4096·1000+1000
  CHECK(t.feature_parameters + t.head_parameters == zoo::TorchvisionAlexNet<>::parameters);
  // The 2012 layer sizes in one tower: conv 34,944 + 614,656 + 885,120 + 1,327,488 + 884,992.
  const communication_estimate a = communication<zoo::AlexNet<>>(2, 256);
  CHECK(a.feature_parameters == 3'747'200);
  CHECK(a.head_parameters == 58'631'144);
  CHECK(a.feature_parameters + a.head_parameters == zoo::AlexNet<>::parameters);
}

TEST_CASE("AlexNet at 2, 4 and 8 workers, 128 images each: the hybrid sends less", "[alexnet]") {
  using Net = zoo::TorchvisionAlexNet<>;
  for (const std::int64_t R : {2, 4, 8}) {
    const std::int64_t B = 128 * R;
    const communication_estimate e = communication<Net>(R, B);
    CHECK(e.data_parallel.total() == 2 * (R - 1) * Net::parameters * 4);
    CHECK(e.hybrid.total() == (R - 1) * 4 * (2 * 2'469'696 + 2 * B * 9216 + 2 * B * (4096 + 4096) + B * 1000));
    CHECK(e.hybrid.total() < e.data_parallel.total());
    CHECK(e.hybrid.gradient_bytes() == 2 * (R - 1) * 2'469'696 * 4);
  }
  // With the per-worker batch fixed the hybrid's activations grow with the workers: by 32 workers
  // (B = 4096) it sends more than data parallelism, whose bytes depend on the parameters only.
  const communication_estimate big = communication<Net>(32, 128 * 32);
  CHECK(big.hybrid.total() > big.data_parallel.total());
}

TEST_CASE("monotonic: more workers send more; the batch moves the hybrid only", "[monotonic]") {
  using Net = zoo::TorchvisionAlexNet<>;
  std::int64_t last_dp = 0, last_dp_worker = 0, last_hybrid = 0;
  for (const std::int64_t R : {1, 2, 3, 4, 8, 16}) {
    const communication_estimate e = communication<Net>(R, 256);
    CHECK(e.data_parallel.total() >= last_dp);
    CHECK(e.data_parallel.per_worker() >= double(last_dp_worker));
    CHECK(e.data_parallel.per_worker() < 2.0 * Net::parameters * 4);  // approaches 2·N·s from below
    CHECK(e.hybrid.total() >= last_hybrid);
    if (R > 1) {
      CHECK(e.data_parallel.total() > last_dp);
      CHECK(e.hybrid.total() > last_hybrid);
    }
    last_dp = e.data_parallel.total();
    last_dp_worker = std::int64_t(e.data_parallel.per_worker());
    last_hybrid = e.hybrid.total();
  }
  const communication_estimate small = communication<Net>(4, 64), large = communication<Net>(4, 512);
  CHECK(small.data_parallel.total() == large.data_parallel.total());
  CHECK(small.hybrid.total() < large.hybrid.total());
}

TEST_CASE("the AlexNet table prints one row per worker count", "[table]") {
  std::ostringstream out;
  print_communication_table<zoo::TorchvisionAlexNet<>>(out, {2, 4, 8}, 128);
  const std::string s = out.str();
  CHECK(s.find("2469696 before the first Dense") != std::string::npos);
  CHECK(std::count(s.begin(), s.end(), '\n') == 5);
  // R = 2, B = 256: data parallelism 61,100,840 values per worker = 233.08 MiB.
  CHECK(s.find("233.08") != std::string::npos);
}

TEST_CASE("prints the AlexNet table (run with [.print])", "[.print]") {
  std::cout << "torchvision AlexNet (Krizhevsky 2014), 128 images per worker:\n";
  print_communication_table<zoo::TorchvisionAlexNet<>>(std::cout, {2, 4, 8, 16, 32}, 128);
  std::cout << "\nthe same, 128 images in all:\n";
  print_communication_table<zoo::TorchvisionAlexNet<>>(std::cout, {2, 4, 8}, 128, batch_scaling::global);
  std::cout << "\nResNet-50, 32 images per worker:\n";
  print_communication_table<zoo::ResNet50<>>(std::cout, {8, 64, 256}, 32);
}

// ---------------------------------------------------------------------------------------------
// The α–β model.

namespace {
constexpr interconnect slow{"test", 0.5, 0.25};  // α = 0.5 s, β = 0.25 s per byte: exact in binary

network_layout layers(std::vector<std::int64_t> parameters) {
  network_layout net;
  for (const std::int64_t p : parameters) net.layers.push_back({"l", p, 1, 1, layer_kind::other});
  return net;
}
}  // namespace

TEST_CASE("ring collectives' α–β times", "[alpha_beta]") {
  CHECK(all_reduce_time(1000, 4, slow) == 6 * 0.5 + 1.5 * 1000 * 0.25);
  CHECK(all_gather_time(1000, 4, slow) == 3 * 0.5 + 0.75 * 1000 * 0.25);
  CHECK(reduce_scatter_time(1000, 4, slow) == all_gather_time(1000, 4, slow));
  CHECK(all_reduce_time(1000, 1, slow) == 0);
  CHECK(all_gather_time(1000, 1, slow) == 0);
}

TEST_CASE("one layer, one bucket: the all-reduce follows backward", "[alpha_beta]") {
  const std::vector<layer_time> t{{1, 2}};
  const step_projection s = project_data_parallel(layers({8}), t, 2, slow);
  // 32 bytes on 2 ranks: 2·0.5 + 1·32·0.25 = 9, after 1 + 2 of compute.
  CHECK(s.compute == 3);
  CHECK(s.communication == 9);
  CHECK(s.step == 12);
  CHECK(s.exposed == 9);
  CHECK(s.efficiency() == 0.25);
  CHECK(project_data_parallel(layers({8}), t, 1, slow).efficiency() == 1.0);
}

TEST_CASE("a bucket overlaps the backward of the layers below it", "[alpha_beta]") {
  // Layer 1 (top) holds the parameters; layer 0's backward (4) runs while its bucket is summed.
  const std::vector<layer_time> t{{1, 4}, {1, 1}};
  SECTION("exposed: the sum (9) outlasts layer 0's backward (4) by 5") {
    const step_projection s = project_data_parallel(layers({0, 8}), t, 2, slow);
    CHECK(s.compute == 7);
    CHECK(s.step == 3 + 9);
    CHECK(s.exposed == 5);
  }
  SECTION("hidden: a faster link (sum 2) finishes before backward does") {
    const interconnect fast{"fast", 0.5, 1.0 / 32};
    const step_projection s = project_data_parallel(layers({0, 8}), t, 2, fast);
    CHECK(s.communication == 2);
    CHECK(s.step == 7);
    CHECK(s.exposed == 0);
    CHECK(s.efficiency() == 1.0);
  }
  SECTION("buckets share the link one at a time") {
    const std::vector<layer_time> u{{1, 0}, {1, 1}};
    const step_projection s = project_data_parallel(layers({8, 8}), u, 2, slow, 4);  // two buckets of 9 each
    CHECK(s.communication == 18);
    CHECK(s.step == 3 + 18);
  }
}

TEST_CASE("the hybrid on the tiny network, by hand", "[alpha_beta]") {
  const network_layout net = layout_of<Tiny>();
  const std::vector<layer_time> t(5, layer_time{1, 1});
  // p = 2, 2 per worker: B = 4. Features 4·8·4 = 128 bytes: gather and scatter 0.5 + 16 each;
  // dense 1's output 48 bytes: gather and scatter 0.5 + 6 each; logits 32 bytes: gather 0.5 + 4.
  const step_projection h = project_hybrid(net, t, 2, 2, slow);
  const double head = 16.5 + 16.5 + 6.5 + 6.5 + 4.5;
  // The conv's bucket (24 bytes: 1 + 6) starts when backward has passed the features: all 5
  // forwards, 3 head backwards and the head's collectives, then 2 feature backwards.
  CHECK(h.compute == 10);
  CHECK(h.communication == head + 7);
  CHECK(h.step == 5 + 3 + head + 2 + 7);
  CHECK(h.exposed == h.step - 10);
  // Data parallelism: one bucket of 41 values (164 bytes: 1 + 41) after all of backward.
  const step_projection d = project_data_parallel(net, t, 2, slow);
  CHECK(d.step == 10 + 42);
  const scaling_projection both = project<Tiny>(t, 2, 2, slow);
  CHECK(both.hybrid.step == h.step);
  CHECK(both.data_parallel.step == d.step);
  CHECK_THROWS_WITH(project_hybrid(net, std::vector<layer_time>(4), 2, 2, slow), Catch::Contains("4 layer times for 5"));
}

TEST_CASE("monotonic: efficiency falls with workers and rises with bandwidth", "[alpha_beta][monotonic]") {
  using Net = zoo::TorchvisionAlexNet<>;
  const network_layout net = layout_of<Net>();
  // Made-up times, growing towards the top (a stand-in for measurements).
  std::vector<layer_time> t;
  for (std::size_t i = 0; i < net.layers.size(); ++i) t.push_back({1e-3 * (i + 1), 2e-3 * (i + 1)});
  double last_dp = 1.0, last_hybrid = 1.0;
  for (const std::int64_t p : {2, 8, 64, 256}) {
    const scaling_projection s = project<Net>(t, p, 128, ethernet_10g);
    CHECK(s.data_parallel.efficiency() < last_dp);
    CHECK(s.hybrid.efficiency() < last_hybrid);
    CHECK(s.data_parallel.step >= s.data_parallel.compute);
    last_dp = s.data_parallel.efficiency();
    last_hybrid = s.hybrid.efficiency();
    const scaling_projection f = project<Net>(t, p, 128, infiniband_edr);
    CHECK(f.data_parallel.efficiency() > s.data_parallel.efficiency());
    CHECK(f.hybrid.efficiency() > s.hybrid.efficiency());
  }
}

TEST_CASE("the scaling table prints one row per worker count, ResNet-50 included", "[alpha_beta][table]") {
  using Net = zoo::ResNet50<>;
  const network_layout net = layout_of<Net>();
  const std::vector<layer_time> t(net.layers.size(), layer_time{1e-3, 2e-3});
  const std::vector<std::int64_t> workers{8, 64, 256};
  std::ostringstream out;
  print_scaling_table(out, net, t, workers, 32, infiniband_edr);
  const std::string s = out.str();
  CHECK(std::count(s.begin(), s.end(), '\n') == 5);
  CHECK(s.find("InfiniBand") != std::string::npos);
  const scaling_projection p = project<Net>(t, 64, 32, infiniband_edr);
  CHECK(p.data_parallel.compute == p.hybrid.compute);
  CHECK(p.data_parallel.efficiency() <= 1.0);
  CHECK(p.hybrid.efficiency() <= 1.0);
}
