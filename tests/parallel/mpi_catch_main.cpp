// Catch2's runner for tests run under mpiexec: MPI around the session, the session on every rank
// (each checks its own results; the collectives need all of them). Rank 0 reports as usual; the
// other ranks write their report to a file and print it, marked with the rank, only if they failed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <unistd.h>

#include "strata/mpi.hpp"

int main(int argc, char** argv) {
  strata::parallel::mpi_environment mpi(argc, argv);
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  const int rank = mpi.rank();
  // mpirun hands the ranks a terminal for output, so Catch would colour logs and files.
  if (session.configData().useColour == Catch::UseColour::Auto) session.configData().useColour = Catch::UseColour::No;
  std::filesystem::path report;
  if (rank != 0 && session.configData().outputFilename.empty()) {
    report = std::filesystem::temp_directory_path() /
             ("strata-mpi-test-" + std::to_string(::getpid()) + "-rank" + std::to_string(rank) + ".txt");
    session.configData().outputFilename = report.string();
  }
  const int failed = session.run();
  if (!report.empty()) {
    if (failed != 0) {
      std::ifstream in(report);
      std::ostringstream text;
      text << in.rdbuf();
      std::cerr << "---- rank " << rank << " of " << mpi.size() << " failed:\n" << text.str() << std::flush;
    }
    std::error_code ignored;
    std::filesystem::remove(report, ignored);
  }
  return failed != 0 ? 1 : 0;
}
