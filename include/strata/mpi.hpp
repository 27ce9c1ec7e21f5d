// strata/mpi.hpp — data-parallel training over MPI processes: mpi_communicator, mpi_environment
// (MPI_Init_thread/MPI_Finalize as an object) and mpi_main, which ends every rank with the message
// of any rank's exception. Not part of strata/strata.hpp: a program without it needs no MPI.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <utility>

#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/thread_plan.hpp"
#include "strata/parallel/communicator.hpp"
#include "strata/parallel/mpi_communicator.hpp"

namespace strata::parallel {

// MPI for the lifetime of the object. It asks for MPI_THREAD_SERIALIZED: strata's OpenMP compute
// threads never call MPI, but the training loop need not run on the thread that initialised MPI
// (FUNNELED would demand that); calls are never concurrent, and neither OpenMPI 4.1 nor MPICH 4.0
// takes locks below MPI_THREAD_MULTIPLE, so it costs nothing over FUNNELED. Where MPI is already
// initialised the object neither initialises nor finalises it.
class mpi_environment {
 public:
  mpi_environment() : mpi_environment(nullptr, nullptr) {}
  mpi_environment(int& argc, char**& argv) : mpi_environment(&argc, &argv) {}
  mpi_environment(const mpi_environment&) = delete;
  mpi_environment& operator=(const mpi_environment&) = delete;

  ~mpi_environment() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owner_ && !finalized) MPI_Finalize();
  }

  int rank() const {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
  }
  int size() const {
    int s = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
  }
  // What MPI provided: MPI_THREAD_SERIALIZED or more.
  int thread_level() const noexcept { return provided_; }

 private:
  mpi_environment(int* argc, char*** argv) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised) {
      MPI_Query_thread(&provided_);
    } else {
      detail::mpi_check(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided_), "MPI_Init_thread");
      owner_ = true;
    }
    if (provided_ < MPI_THREAD_SERIALIZED) {
      // Every rank gets the same level from the same library, so every rank ends here.
      if (owner_) MPI_Finalize();
      throw error("mpi_environment: MPI provides thread level " + std::to_string(provided_) +
                  ", strata needs MPI_THREAD_SERIALIZED (" + std::to_string(MPI_THREAD_SERIALIZED) + ")");
    }
    // R ranks on one node share its cores (core/thread_plan.hpp): unless OMP_NUM_THREADS or
    // set_num_threads chose, each rank computes on cores / R threads, so ranks never oversubscribe.
    if (!std::getenv("OMP_NUM_THREADS") && strata::detail::thread_setting().load() == 0) set_num_threads(plan_threads_here(0).compute_threads);
  }

  bool owner_ = false;
  int provided_ = MPI_THREAD_SINGLE;
};

// Runs body(communicator&) on every rank with MPI set up around it and returns 0 (for main to
// return). An exception on any rank prints "strata: rank k: message" and ends every rank through
// MPI_Abort — mpirun then exits non-zero — instead of leaving the others waiting in a collective.
template <class F>
int mpi_main(int argc, char** argv, F&& body) {
  mpi_environment environment(argc, argv);
  try {
    mpi_communicator comm;
    try {
      std::forward<F>(body)(comm);
    } catch (const std::exception& e) {
      comm.abort(e.what());  // before comm is destroyed: nothing waits on the other ranks first
    } catch (...) {
      comm.abort("an exception that is not a std::exception");
    }
  } catch (const std::exception& e) {  // the communicator itself could not be made
    std::fprintf(stderr, "strata: rank %d: %s\n", environment.rank(), e.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return 0;
}

}  // namespace strata::parallel
