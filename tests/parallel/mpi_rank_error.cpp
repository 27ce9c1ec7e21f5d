// An exception on one rank must end every rank with its message, never leave the others waiting:
// rank 1 throws while rank 0 waits for a started sum and any other rank waits in a barrier. The
// CTest (tests/parallel/mpi.cmake) wants mpiexec to exit non-zero, within its timeout, with
// "strata: rank 1: deliberate failure" on stderr.
#include "strata/mpi.hpp"

#include <chrono>
#include <cstdio>
#include <span>
#include <stdexcept>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  return strata::parallel::mpi_main(argc, argv, [](strata::parallel::mpi_communicator& comm) {
    std::vector<double> gradient(1000, 1.0);
    comm.all_reduce_sum(std::span<double>(gradient));  // everyone is up and talking first
    if (comm.rank() == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the others are waiting by now
      throw std::runtime_error("deliberate failure (tests/parallel/mpi_rank_error.cpp)");
    }
    if (comm.rank() == 0) {
      comm.start_all_reduce_sum(std::span<double>(gradient));
      comm.wait_all();
    } else {
      comm.barrier();
    }
    std::fprintf(stderr, "rank %d: past the collective that rank 1 never joined\n", comm.rank());
  });
}
