// The demo network trained data-parallel over MPI processes: every rank runs this program, trains
// its rows of every global batch, and the ranks sum their gradients after each backward pass, so
// R ranks train the network one process would train on the same batches. Rank 0 prints the
// progress and writes the model file.
//
//   OMP_NUM_THREADS=1 mpirun -np 2 build/examples/fashion_mnist_mpi --epochs 2
//   mpirun -np 32 --hostfile hosts --map-by ppr:8:node -x OMP_NUM_THREADS=4 fashion_mnist_mpi
//
// Usage: fashion_mnist_mpi [--data DIR] [--epochs N] [--batch N] [--lr X] [--out FILE] [--quick]
#include <strata/mpi.hpp>
#include <strata/data/idx.hpp>
#include <strata/parallel/checkpoint.hpp>
#include <strata/parallel/fit.hpp>
#include <strata/train/schedule.hpp>
#include <strata/train/sgd.hpp>
#include <strata/zoo/fashion_net.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

using namespace strata;

int main(int argc, char** argv) {
  std::filesystem::path data_dir = data::default_fashion_mnist_dir, out = "fashion_mnist_mpi.strata";
  int epochs = 2;
  std::int64_t batch = 128, limit = 0;
  double lr = 0.05;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--data") data_dir = value();
    else if (a == "--epochs") epochs = std::atoi(value().c_str());
    else if (a == "--batch") batch = std::atoll(value().c_str());
    else if (a == "--lr") lr = std::atof(value().c_str());
    else if (a == "--out") out = value();
    else if (a == "--quick") quick = true, epochs = 1, limit = 4096;  // what the test suite runs
    else {
      std::fprintf(stderr, "usage: %s [--data DIR] [--epochs N] [--batch N] [--lr X] [--out FILE] [--quick]\n", argv[0]);
      return 2;
    }
  }
  // Every rank reads the data set (a missing one is every rank's skip, before MPI starts work).
  data::labelled_images train_set, test_set;
  try {
    train_set = data::load_fashion_mnist(data_dir, data::split::train);
    test_set = data::load_fashion_mnist(data_dir, data::split::test);
  } catch (const data::data_error& e) {
    std::cerr << "cannot read Fashion-MNIST: " << e.what() << " (scripts/setup installs it, or pass --data DIR)\n";
    return quick ? 77 : 1;  // 77: the test suite reports a skip
  }
  if (limit > 0) train_set = train_set.first(limit), test_set = test_set.first(limit / 4);
  return parallel::mpi_main(argc, argv, [&](parallel::communicator& comm) {
    if (comm.rank() == 0)
      std::cout << "data-parallel training on " << comm.size() << " MPI ranks, " << num_threads() << " compute threads each, global batch "
                << batch << "\n";
    Model<zoo::FashionNet<>> model(42);  // rank 0's weights reach every rank
    train::SGD<float> sgd({.momentum = 0.9, .weight_decay = 5e-4});
    train::fit_options options;
    options.epochs = epochs;
    options.batch_size = batch;
    options.show_progress = !quick;
    const auto history = parallel::fit(comm, model, train_set, sgd, train::constant(lr), options, {}, &test_set);
    parallel::save_checkpoint(comm, model, out);
    if (comm.rank() == 0) {
      for (const auto& r : history)
        std::printf("epoch %d: train loss %.4f, accuracy %.2f %%; test accuracy %.2f %%; %.0f images/s\n", r.epoch, r.train_loss,
                    100 * r.train_accuracy, 100 * r.test_accuracy, r.images_per_second);
      std::cout << "model written to " << out.string() << " by rank 0\n";
    }
    // Every rank reads it back (rank 0 reads, the others receive) and scores the same.
    Model<zoo::FashionNet<>> reloaded(7);
    parallel::load_checkpoint(comm, reloaded, out);
    const train::evaluation e = parallel::evaluate(comm, reloaded, test_set);
    if (comm.rank() == 0) std::printf("reloaded on every rank: test accuracy %.2f %%\n", 100 * e.accuracy);
    if (e.accuracy != history.back().test_accuracy) throw error("the reloaded model scores differently from the trained one");
  });
}
