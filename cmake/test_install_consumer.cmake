# Installs strata from STRATA_BINARY_DIR into a scratch prefix, then configures, builds and
# runs tests/install_consumer (the README's example) against it with find_package(strata).
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "failed: ${command}\n${out}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install "${STRATA_BINARY_DIR}" --prefix "${prefix}")
run(${CMAKE_COMMAND} -S "${STRATA_SOURCE_DIR}/tests/install_consumer" -B "${WORK_DIR}/build"
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=Release
    -DSTRATA_EXAMPLE=${STRATA_SOURCE_DIR}/examples/readme_example.cpp)
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/readme_example")
message(STATUS "the installed package built and ran the README's example:\n${last_output}")

# The README must show the very program this test compiled.
file(READ "${STRATA_SOURCE_DIR}/examples/readme_example.cpp" example)
file(READ "${STRATA_SOURCE_DIR}/README.md" readme)
string(FIND "${readme}" "${example}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md does not contain examples/readme_example.cpp verbatim; update the README")
endif()
