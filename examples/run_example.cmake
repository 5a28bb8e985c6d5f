# Runs an example for ctest and checks both its exit status (must be 0) and its output:
#   cmake -DEXE=path [-DARGS=a@@b] [-DEXPECT=re1@@re2] [-DREJECT=re] -P run_example.cmake
# Every EXPECT regex must match stdout; REJECT must not. "@@" separates list items (a ';' would
# be split by add_test).
string(REPLACE "@@" ";" args "${ARGS}")
string(REPLACE "@@" ";" expect "${EXPECT}")
execute_process(COMMAND "${EXE}" ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "${EXE} exited with status '${rc}' (expected 0)")
endif()
foreach(re IN LISTS expect)
  if(NOT out MATCHES "${re}")
    message(FATAL_ERROR "output of ${EXE} does not match '${re}'")
  endif()
endforeach()
if(REJECT AND out MATCHES "${REJECT}")
  message(FATAL_ERROR "output of ${EXE} matches '${REJECT}', which it must not")
endif()
