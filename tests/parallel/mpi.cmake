# MPI transport and multi-process training (strata/mpi.hpp): included from tests/CMakeLists.txt.
