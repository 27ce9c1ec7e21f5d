# MPI transport and multi-process training (strata/mpi.hpp): included from tests/CMakeLists.txt.
#
# strata_add_mpi_test(<name> <source> [RANKS <n>...] [ARGS <arg>...] [LIBRARIES <lib>...]
#                     [TIMEOUT <seconds>] [OWN_MAIN])
#   Builds <name> from <source> with Catch2's MPI runner (parallel/mpi_catch_main.cpp: the session
#   runs on every rank, ranks other than 0 print only when they fail; OWN_MAIN: the source has its
#   own main) and adds one CTest per rank count, <name>.np<n> (default 2 and 4), run by mpiexec
#   with a timeout, so a hang fails in minutes. Without MPI each is a test that reports a skip.
# strata_add_two_hosts_test(<name> <target> [ARGS <arg>...])
#   Runs <target> as MPI ranks on two "hosts", network namespaces joined by a veth pair, Open MPI
#   over TCP (parallel/two_hosts.sh); skipped where namespaces cannot be made.

set(strata_mpi_missing "SKIPPED: MPI was not found when the build was configured (scripts/setup installs openmpi-bin and libopenmpi-dev)")

if(MPI_CXX_FOUND)
  # Open MPI runs as root only when told (the environment below: harmless for other users and for
  # MPICH) and more ranks than cores only with --oversubscribe, which MPICH's mpiexec does not know.
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE strata_mpiexec_version ERROR_QUIET)
  set(strata_mpiexec_flags ${MPIEXEC_PREFLAGS})
  if(strata_mpiexec_version MATCHES "Open MPI|OpenRTE")
    list(APPEND strata_mpiexec_flags --oversubscribe)
  endif()
  set(strata_mpi_environment OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
  add_library(strata_mpi_catch_main OBJECT ${CMAKE_CURRENT_LIST_DIR}/mpi_catch_main.cpp)
  target_link_libraries(strata_mpi_catch_main PUBLIC Catch2::Catch2 strata::mpi)
endif()

# The mpiexec command line that runs <target> on <ranks> ranks, into <out>.
function(strata_mpiexec_command out ranks target)
  set(${out} ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${ranks} ${strata_mpiexec_flags} $<TARGET_FILE:${target}>
      ${MPIEXEC_POSTFLAGS} ${ARGN} PARENT_SCOPE)
endfunction()

function(strata_add_mpi_skip name)
  add_test(NAME ${name} COMMAND sh -c "echo '${strata_mpi_missing}'; exit 77")
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 LABELS mpi)
endfunction()

function(strata_add_mpi_test name source)
  cmake_parse_arguments(ARG "OWN_MAIN" "TIMEOUT" "RANKS;ARGS;LIBRARIES" ${ARGN})
  if(NOT ARG_RANKS)
    set(ARG_RANKS 2 4)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  if(NOT MPI_CXX_FOUND)
    foreach(ranks IN LISTS ARG_RANKS)
      strata_add_mpi_skip(${name}.np${ranks})
    endforeach()
    return()
  endif()
  add_executable(${name} ${source})
  if(NOT ARG_OWN_MAIN)
    target_sources(${name} PRIVATE $<TARGET_OBJECTS:strata_mpi_catch_main>)
  endif()
  target_link_libraries(${name} PRIVATE strata::mpi Catch2::Catch2 ${ARG_LIBRARIES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_compile_options(${name} PRIVATE -Wall -Wextra)
  foreach(ranks IN LISTS ARG_RANKS)
    strata_mpiexec_command(command ${ranks} ${name} ${ARG_ARGS})
    add_test(NAME ${name}.np${ranks} COMMAND ${command})
    # PROCESSORS: ctest -j does not run other tests beside it on a small machine.
    set_tests_properties(${name}.np${ranks} PROPERTIES TIMEOUT ${ARG_TIMEOUT} PROCESSORS ${ranks} LABELS mpi
                         ENVIRONMENT "${strata_mpi_environment}")
  endforeach()
endfunction()

function(strata_add_two_hosts_test name target)
  cmake_parse_arguments(ARG "" "" "ARGS" ${ARGN})
  if(NOT MPI_CXX_FOUND)
    strata_add_mpi_skip(${name})
    return()
  endif()
  add_test(NAME ${name} COMMAND bash ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/two_hosts.sh $<TARGET_FILE:${target}> ${ARG_ARGS})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 RUN_SERIAL ON TIMEOUT 300 LABELS mpi
                       ENVIRONMENT "STRATA_MPIEXEC=${MPIEXEC_EXECUTABLE}")
endfunction()

# The collectives against serial sums, on 1 (mpiexec -np 1), 2 and 4 ranks.
strata_add_mpi_test(parallel.mpi_communicator ${CMAKE_CURRENT_LIST_DIR}/test_mpi_communicator.cpp RANKS 1 2 4)
# An exception on rank 1 ends every rank with its message: mpiexec exits non-zero, no hang.
if(MPI_CXX_FOUND)
  add_executable(parallel.mpi_rank_error ${CMAKE_CURRENT_LIST_DIR}/mpi_rank_error.cpp)
  target_link_libraries(parallel.mpi_rank_error PRIVATE strata::mpi)
  target_compile_options(parallel.mpi_rank_error PRIVATE -Wall -Wextra)
  foreach(ranks IN ITEMS 2 4)
    strata_mpiexec_command(command ${ranks} parallel.mpi_rank_error)
    add_test(NAME parallel.mpi_rank_error.np${ranks}
             COMMAND ${CMAKE_COMMAND} "-DPATTERN=strata: rank 1: deliberate failure"
                     -P ${CMAKE_CURRENT_LIST_DIR}/expect_failure.cmake -- ${command})
    set_tests_properties(parallel.mpi_rank_error.np${ranks} PROPERTIES TIMEOUT 60 PROCESSORS ${ranks} LABELS mpi
                         ENVIRONMENT "${strata_mpi_environment}")
  endforeach()
  # The MPI headers are left out of headers.self_contained (it has no MPI include path): each is
  # compiled on its own, twice, into the collectives test instead.
  foreach(header IN ITEMS strata/mpi.hpp strata/parallel/mpi_communicator.hpp)
    string(MAKE_C_IDENTIFIER ${header} stem)
    file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/mpi_headers/${stem}.cpp
         CONTENT "#include <${header}>\n#include <${header}>\n")
    target_sources(parallel.mpi_communicator PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/mpi_headers/${stem}.cpp)
  endforeach()
else()
  strata_add_mpi_skip(parallel.mpi_rank_error)
endif()
# Two hosts: the collectives over TCP between two network namespaces.
strata_add_two_hosts_test(parallel.mpi_two_hosts parallel.mpi_communicator)
# Training over MPI: R ranks = one process (fp64 1e-12, fp32 1e-5) = R threads (bit for bit),
# synchronised batch norm, checkpoints; on 2 and 4 ranks and on two hosts.
strata_add_mpi_test(parallel.mpi_training ${CMAKE_CURRENT_LIST_DIR}/test_mpi_training.cpp TIMEOUT 300)
strata_add_two_hosts_test(parallel.mpi_training_two_hosts parallel.mpi_training)
