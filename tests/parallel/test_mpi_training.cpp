// Data parallelism over MPI processes: R ranks give the weights one process gives on the same
// global batches (fp64 within 1e-12, fp32 within 1e-5), the same bits as R replicas on threads
// (the same rank-order sums, one compute thread each), synchronised batch norm across processes,
// and checkpoints written by rank 0 and loaded by every rank. Run under mpiexec (2 and 4 ranks,
// and on two hosts joined by TCP).
#include "strata/mpi.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

#include "strata/augment/flip.hpp"
#include "strata/core/parallel.hpp"
#include "strata/data/data_error.hpp"
#include "strata/data/loader.hpp"
#include "strata/parallel/checkpoint.hpp"
#include "strata/parallel/fit.hpp"
#include "strata/parallel/hybrid.hpp"
#include "strata/train/adam.hpp"
#include "support/autotune_guard.hpp"
#include "parallel/training_data.hpp"

using namespace strata;
using namespace strata::testing::parallel_data;

namespace {

template <class Net, class T>
std::vector<double> train_ranks(parallel::communicator& comm, const data_set& data, std::int64_t batch,
                                parallel::data_parallel_options dp = {}, int epochs = 1) {
  Model<Net, T> m(3 + static_cast<std::uint64_t>(comm.rank()));  // rank 0's weights reach the others
  train::SGD<T> sgd(momentum_and_decay());
  parallel::fit(comm, m, data, sgd, decaying_rate, quiet(batch, epochs), dp);
  return parameters_of(m);
}

// Every rank's vector equals rank 0's, bit for bit.
bool same_on_every_rank(parallel::communicator& comm, std::vector<double> v) {
  std::vector<double> root = v;
  comm.broadcast(std::as_writable_bytes(std::span<double>(root)), 0);
  double differs = root == v ? 0 : 1;
  comm.all_reduce_sum(std::span<double>(&differs, 1));
  return differs == 0;
}

// data_set's rows as image records a data::loader reads (1×8×8 floats, taken as they are); the
// records listed in `bad` fail to read.
struct square_images {
  struct record {
    strata::image<float> image;
    std::int32_t label = 0;
  };
  const data_set* rows = nullptr;
  std::set<std::int64_t> bad;
  std::int64_t size() const { return rows->labels.size(); }
  record get(std::int64_t i) const {
    if (bad.count(i)) throw data::data_error("squares.bin", "unreadable record", i);
    record r{strata::image<float>(8, 8, 1), rows->labels(i)};
    for (std::int64_t p = 0; p < 64; ++p) r.image(p / 8, p % 8, 0) = rows->images(i, p);
    return r;
  }
};

// Weights after `epochs` epochs from a loader with `o` and random flips: on every rank of `comm`
// (each loader sharded to its rank), or in one process with train::fit when comm is null.
template <class T>
std::vector<double> train_from_loader(parallel::communicator* comm, const square_images& records, data::loader_options o, int epochs,
                                      parallel::data_parallel_options dp = {}) {
  Model<Small, T> m(3 + static_cast<std::uint64_t>(comm ? comm->rank() : 0));
  train::SGD<T> sgd(momentum_and_decay());
  if (comm) o.shard = {comm->rank(), comm->size()};
  data::loader l(records, augment::horizontal_flip{}, o);
  if (comm)
    parallel::fit(*comm, m, l, sgd, decaying_rate, quiet(o.batch_size, epochs), dp);
  else
    train::fit(m, l, sgd, decaying_rate, quiet(o.batch_size, epochs));
  return parameters_of(m);
}

}  // namespace

TEST_CASE("R ranks train to one process's weights on the same global batches", "[invariant]") {
  const testing::autotune_guard rule_of_thumb(false);
  set_num_threads(1);  // one compute thread per rank, as each replica on threads gets below
  parallel::mpi_communicator comm;
  const data_set data = squares(53, 4, 11);  // batches of 8 and a last one of 5
  const auto fp64 = train_ranks<Small, double>(comm, data, 8);
  CHECK(relative_difference(train_one<Small, double>(data, 8), fp64) < 1e-12);
  CHECK(same_on_every_rank(comm, fp64));
  const auto fp32 = train_ranks<Small, float>(comm, data, 8);
  CHECK(relative_difference(train_one<Small, float>(data, 8), fp32) < 1e-5);

  // The threads' transport sums in the same order: R replicas on threads, the same bits.
  Model<Small, double> threads(3);
  train::SGD<double> sgd(momentum_and_decay());
  parallel::fit_threads(comm.size(), threads, data, sgd, decaying_rate, quiet(8));
  CHECK(parameters_of(threads) == fp64);

  // Short last batches with fewer rows than ranks, over two epochs.
  const data_set few = squares(11, 4, 5);
  CHECK(relative_difference(train_one<Small, double>(few, 8, 2), train_ranks<Small, double>(comm, few, 8, {}, 2)) < 1e-12);
  set_num_threads(0);
}

TEST_CASE("sharded loaders: R ranks, each loading and augmenting its rows, train to one process's weights", "[invariant][loader]") {
  const testing::autotune_guard rule_of_thumb(false);
  set_num_threads(1);
  parallel::mpi_communicator comm;
  const data_set data = squares(53, 4, 11);  // batches of 8 and a last one of 5 (ranks without rows at 4+ ranks... of 5: none)
  square_images records{&data, {}};
  const data::loader_options o{.batch_size = 8, .seed = 6, .workers = 1};
  const auto fp64 = train_from_loader<double>(&comm, records, o, 2);
  CHECK(relative_difference(train_from_loader<double>(nullptr, records, o, 2), fp64) < 1e-12);
  CHECK(same_on_every_rank(comm, fp64));
  CHECK(relative_difference(train_from_loader<float>(nullptr, records, o, 1), train_from_loader<float>(&comm, records, o, 1)) < 1e-5);
  CHECK(train_from_loader<double>(&comm, records, o, 2, {.shard_optimizer = true}) == fp64);

  // Bad records skipped: the ranks sum their kept rows each step to scale the gradients. A short
  // last batch (3 rows) leaves a rank without rows at 4 ranks.
  records.bad = {2, 9, 10, 30};
  const data::loader_options lenient{.batch_size = 10, .seed = 8, .workers = 0, .on_bad_record = data::bad_records::skip};
  const auto skipped = train_from_loader<double>(&comm, records, lenient, 2);
  CHECK(relative_difference(train_from_loader<double>(nullptr, records, lenient, 2), skipped) < 1e-12);
  CHECK(same_on_every_rank(comm, skipped));
  records.bad.clear();

  // Loaders that do not make up one global batch are refused on every rank, before any step.
  Model<Small, double> m(3);
  train::SGD<double> sgd(momentum_and_decay());
  if (comm.size() > 1) {
    data::loader unsharded(records, data::no_augmentation{}, o);
    CHECK_THROWS_WITH(parallel::fit(comm, m, unsharded, sgd, decaying_rate, quiet(8)),
                      Catch::Contains("the loader is shard 0 of 1 but this is rank " + std::to_string(comm.rank())));
    data::loader other_seed(records, data::no_augmentation{},
                            {.batch_size = 8, .seed = comm.rank() == 1 ? 7u : 6u, .workers = 1, .shard = {comm.rank(), comm.size()}});
    CHECK_THROWS_WITH(parallel::fit(comm, m, other_seed, sgd, decaying_rate, quiet(8)),
                      Catch::Contains("the ranks' loaders differ in seed"));
  }
  set_num_threads(0);
}

TEST_CASE("a sharded optimizer (ZeRO stage 1): the same bits as every rank stepping the whole model", "[invariant][shard]") {
  const testing::autotune_guard rule_of_thumb(false);
  parallel::mpi_communicator comm;
  const int R = comm.size();
  const data_set data = squares(53, 4, 11);
  for (const std::int64_t bucket_bytes : {std::int64_t{25} << 20, std::int64_t{200}}) {  // one bucket; many, cut inside layers' chunks
    INFO("bucket_bytes " << bucket_bytes << ", R = " << R);
    const auto whole = train_ranks<Small, double>(comm, data, 8, {.bucket_bytes = bucket_bytes}, 2);
    const auto sharded = train_ranks<Small, double>(comm, data, 8, {.bucket_bytes = bucket_bytes, .shard_optimizer = true}, 2);
    CHECK(sharded == whole);
    CHECK(same_on_every_rank(comm, sharded));

    // Adam in fp32 with a frozen first layer (in no rank's shard), and SGD's momentum, which each
    // rank keeps for its chunks only: over the ranks, one copy of every trained parameter's.
    const auto adam = [&](bool shard) {
      Model<Small, float> m(5);
      m.freeze(layer_range{0, 1});
      train::Adam<float> opt({.weight_decay = 1e-3});
      parallel::fit(comm, m, data, opt, decaying_rate, quiet(8), {.bucket_bytes = bucket_bytes, .shard_optimizer = shard});
      return parameters_of(m);
    };
    CHECK(adam(true) == adam(false));
    Model<Small, float> m(5);
    train::SGD<float> sgd(momentum_and_decay());
    parallel::fit(comm, m, data, sgd, decaying_rate, quiet(8), {.bucket_bytes = bucket_bytes, .shard_optimizer = true});
    double momentum = 0;
    for (const auto& v : sgd.state()) momentum += double(v.size());
    CHECK(momentum <= double(Model<Small, float>::parameter_count / R + 32));  // this rank's share, give or take a cut
    comm.all_reduce_sum(std::span<double>(&momentum, 1));
    CHECK(momentum == double(Model<Small, float>::parameter_count));
  }
  // A transport that packs its sums cannot shard: said before anything runs.
  Model<Small, double> m(3);
  train::SGD<double> sgd(momentum_and_decay());
  CHECK_THROWS_WITH(parallel::fit_threads(2, m, data, sgd, decaying_rate, quiet(8), {.shard_optimizer = true}),
                    Catch::Contains("shard_optimizer is for fit(comm"));
  parallel::mpi_communicator fast(MPI_COMM_WORLD, parallel::mpi_sum_order::mpi);
  if (R > 1)
    CHECK_THROWS_WITH(parallel::fit(fast, m, data, sgd, decaying_rate, quiet(8), {.shard_optimizer = true}),
                      Catch::Contains("sums gradients where they lie"));
}

TEST_CASE("synchronised batch norm across processes", "[batch_norm]") {
  const testing::autotune_guard rule_of_thumb(false);
  parallel::mpi_communicator comm;
  const data_set data = squares(48, 4, 9);
  const auto synced = train_ranks<Normed, double>(comm, data, 12, {.sync_batch_norm = true});
  CHECK(relative_difference(train_one<Normed, double>(data, 12), synced) < 1e-12);
}

TEST_CASE("the hybrid across processes: one model's weights, the predicted bytes", "[hybrid]") {
  const testing::autotune_guard rule_of_thumb(false);
  parallel::mpi_communicator comm;
  const data_set data = squares(53, 4, 11);
  Model<Small, double> m(3 + static_cast<std::uint64_t>(comm.rank()));
  train::SGD<double> sgd(momentum_and_decay());
  const std::int64_t before = comm.bytes_sent();
  parallel::fit_hybrid(comm, m, data, sgd, decaying_rate, quiet(8));
  const std::int64_t sent = comm.bytes_sent() - before;
  CHECK(relative_difference(train_one<Small, double>(data, 8), parameters_of(m)) < 1e-12);
  CHECK(same_on_every_rank(comm, parameters_of(m)));
  // The start (rank 0's network to all) and the end (the slices gathered) aside, every step sends
  // what parallel::communication predicts: 6 batches of 8 and one of 5.
  const auto step8 = parallel::communication<Small, double>(comm.size(), 8), step5 = parallel::communication<Small, double>(comm.size(), 5);
  std::int64_t start = 0, end = 0;
  if (comm.rank() == 0) start = (comm.size() - 1) * std::int64_t{sizeof(double)} * Model<Small, double>::parameter_count;
  // The gather of the slices at the end: rank r sends its share of each Dense layer's rows.
  m.visit_parameters([&](const auto& p) {
    const std::size_t layer = std::stoul(p.name.substr(0, p.name.find('.')));
    if (layer < parallel::hybrid<Small, double>::first_dense) return;
    const std::int64_t rows = p.name.ends_with(".bias") ? p.value.size() : (layer == 4 ? 16 : 4);
    const std::int64_t width = p.value.size() / rows;
    end += (comm.size() - 1) * parallel::share(rows, comm.size(), comm.rank()) * width * std::int64_t{sizeof(double)};
  });
  CHECK(sent == start + 6 * step8.hybrid.sent(comm.rank()) + step5.hybrid.sent(comm.rank()) + end);
}

TEST_CASE("checkpoints: rank 0 writes, every rank loads", "[checkpoint]") {
  parallel::mpi_communicator comm;
  // One name for every rank: rank 0's process id.
  std::int64_t id = comm.rank() == 0 ? static_cast<std::int64_t>(::getpid()) : 0;
  comm.broadcast(std::as_writable_bytes(std::span<std::int64_t>(&id, 1)), 0);
  const auto path = std::filesystem::temp_directory_path() / ("strata-mpi-checkpoint-" + std::to_string(id) + ".strata");
  Model<Small, float> trained(21);
  parallel::save_checkpoint(comm, trained, path);
  Model<Small, float> fresh(100 + static_cast<std::uint64_t>(comm.rank()));
  parallel::load_checkpoint(comm, fresh, path);
  CHECK(parameters_of(fresh) == parameters_of(trained));
  comm.barrier();
  if (comm.rank() == 0) std::filesystem::remove(path);
  CHECK_THROWS_WITH(parallel::load_checkpoint(comm, fresh, path / "missing"), Catch::Contains("on rank 0"));
}
