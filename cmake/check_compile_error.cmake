# Compiles SOURCE, which must fail, and checks that the compiler output contains every line
# that SOURCE lists after "// expect: ". Run by CTest as `cmake -P`.
file(STRINGS "${SOURCE}" expectations REGEX "^// expect: ")
if(NOT expectations)
  message(FATAL_ERROR "${SOURCE} names no '// expect: ' message")
endif()
set(include_flags)
foreach(dir IN LISTS INCLUDES)
  list(APPEND include_flags "-I${dir}")
endforeach()
execute_process(
  COMMAND ${COMPILER} -std=c++20 -fsyntax-only ${include_flags} ${SOURCE}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)
if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
foreach(line IN LISTS expectations)
  string(REPLACE "// expect: " "" expected "${line}")
  string(FIND "${output}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${SOURCE}: the compiler output lacks \"${expected}\":\n${output}")
  endif()
endforeach()
# "// max-lines: N": the whole compiler output must be at most N lines (readable errors).
file(STRINGS "${SOURCE}" max_lines_spec REGEX "^// max-lines: [0-9]+")
if(max_lines_spec)
  string(REGEX REPLACE "^// max-lines: ([0-9]+).*" "\\1" max_lines "${max_lines_spec}")
  string(REGEX MATCHALL "\n" newlines "${output}")
  list(LENGTH newlines line_count)
  if(line_count GREATER max_lines)
    message(FATAL_ERROR "${SOURCE}: the compiler said ${line_count} lines, more than ${max_lines}:\n${output}")
  endif()
  message(STATUS "${SOURCE}: ${line_count} lines of compiler output (limit ${max_lines})")
endif()
string(REGEX MATCHALL "error:" errors "${output}")
list(LENGTH errors error_count)
message(STATUS "${SOURCE}: failed to compile as expected (${error_count} error lines)")
