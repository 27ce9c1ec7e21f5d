// Hybrid data/model parallelism ("one weird trick") on threads: convolutions data-parallel, Dense
// layers split by outputs. R ranks give one model's weights on the same global batches (fp64
// within 1e-12, fp32 within 1e-5), and each rank sends exactly the bytes that
// parallel::communication<Net> predicts for a step.
#include <cstdint>
#include <vector>

#include "strata/layers/leaky_relu.hpp"
#include "strata/parallel/hybrid.hpp"
#include "strata/parallel/thread_group.hpp"
#include "support/autotune_guard.hpp"
#include "support/testing.hpp"
#include "parallel/training_data.hpp"

using namespace strata;
using namespace strata::testing::parallel_data;

namespace {

// Two Dense layers after the features, a LeakyReLU between (a head of three stages).
using Deep = Sequential<Input<1, 8, 8>, Conv<4, Kernel<3>, Pad<1>>, ReLU, MaxPool<2>, Flatten, Dense<16>, LeakyReLU<>, Dense<7>, ReLU,
                        Dense<4>>;

template <class Net, class T>
std::vector<double> train_hybrid(int ranks, const data_set& data, std::int64_t batch, int epochs = 1) {
  Model<Net, T> model(3);
  std::vector<std::vector<double>> trained(static_cast<std::size_t>(ranks));
  parallel::run_threads(ranks, [&](parallel::communicator& c) {
    Model<Net, T> other(100 + static_cast<std::uint64_t>(c.rank()));  // rank 0's weights reach every rank
    Model<Net, T>& mine = c.rank() == 0 ? model : other;
    train::SGD<T> sgd(momentum_and_decay());
    parallel::fit_hybrid(c, mine, data, sgd, decaying_rate, quiet(batch, epochs));
    trained[static_cast<std::size_t>(c.rank())] = parameters_of(mine);  // asserted after the threads join (Catch2 is not thread-safe)
  });
  for (const auto& t : trained) REQUIRE(t == trained[0]);  // every rank holds the trained network
  return parameters_of(model);
}

}  // namespace

TEST_CASE("the hybrid trains to one model's weights on the same global batches", "[invariant]") {
  const testing::autotune_guard rule_of_thumb(false);
  const data_set data = squares(53, 4, 11);  // batches of 8 and a last one of 5
  for (int ranks : {1, 2, 3, 4}) {
    INFO(ranks << " ranks");
    CHECK(relative_difference(train_one<Small, double>(data, 8), train_hybrid<Small, double>(ranks, data, 8)) < 1e-12);
    CHECK(relative_difference(train_one<Deep, double>(data, 8), train_hybrid<Deep, double>(ranks, data, 8)) < 1e-12);
  }
  CHECK(relative_difference(train_one<Deep, float>(data, 8), train_hybrid<Deep, float>(3, data, 8)) < 1e-5);
  // Fewer rows than ranks in the last batch (11 = 8 + 3 over 4 ranks), two epochs.
  const data_set few = squares(11, 4, 5);
  CHECK(relative_difference(train_one<Deep, double>(few, 8, 2), train_hybrid<Deep, double>(4, few, 8, 2)) < 1e-12);
}

TEST_CASE("each rank sends what parallel::communication predicts", "[bytes]") {
  const data_set data = squares(24, 4, 2);
  for (int ranks : {2, 3, 4}) {
    for (std::int64_t bucket : {std::int64_t{64}, parallel::default_bucket_bytes}) {
      const std::int64_t B = 11;  // uneven rows and slices
      const auto predicted = parallel::communication<Deep, float>(ranks, B, bucket);
      std::vector<std::int64_t> hybrid_sent(static_cast<std::size_t>(ranks)), data_sent(static_cast<std::size_t>(ranks));
      parallel::run_threads(ranks, [&](parallel::communicator& c) {
        Model<Deep, float> full(1);
        parallel::hybrid<Deep, float> h(full, c, bucket);
        const parallel::row_range mine = parallel::rows_of(B, c.rank(), ranks);
        Tensor<float, 2> x(Shape{mine.count, 64});
        for (std::int64_t i = 0; i < x.size(); ++i) x.data()[i] = data.images.data()[(mine.first * 64 + i) % data.images.size()];
        Tensor<std::int32_t, 1> labels(Shape<1>{B});
        for (std::int64_t i = 0; i < B; ++i) labels(i) = data.labels(i);
        const std::int64_t before = c.bytes_sent();
        h.compute_gradients(x, labels);
        hybrid_sent[static_cast<std::size_t>(c.rank())] = c.bytes_sent() - before;

        // Pure data parallelism: the gradients' buckets, and 16 bytes of loss and accuracy.
        Model<Deep, float> replica_model(1);
        parallel::replica<Model<Deep, float>> rep(replica_model, c, {.bucket_bytes = bucket});
        Tensor<std::int32_t, 1> my_labels(Shape<1>{mine.count});
        for (std::int64_t i = 0; i < mine.count; ++i) my_labels(i) = labels(mine.first + i);
        const std::int64_t start = c.bytes_sent();
        rep.compute_gradients(x, my_labels, B);
        data_sent[static_cast<std::size_t>(c.rank())] = c.bytes_sent() - start - parallel::all_reduce_sent(2, ranks, c.rank(), 8);
      });
      for (int r = 0; r < ranks; ++r) {
        INFO(ranks << " ranks, rank " << r << ", buckets of " << bucket << " bytes");
        CHECK(hybrid_sent[static_cast<std::size_t>(r)] == predicted.hybrid.sent(r));
        CHECK(data_sent[static_cast<std::size_t>(r)] == predicted.data_parallel.sent(r));
      }
    }
  }
}
