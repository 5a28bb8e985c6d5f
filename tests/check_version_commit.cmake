# `ecocompute version` names the commit checked out, not the one CMake last configured at: a
# binary rebuilt after a commit must say so in every run's provenance. Skipped outside a git
# checkout (a source tarball builds as "unknown").
#   cmake -DSOURCE_DIR=... -DEXE=... -P tests/check_version_commit.cmake
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE head OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT head)
  message(STATUS "version commit: skipped (not a git checkout)")
  return()
endif()
execute_process(COMMAND ${EXE} version OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "`${EXE} version` failed (exit ${rc})")
endif()
if(NOT out MATCHES "\\(commit ([0-9a-f]+|unknown)(-dirty)?\\)")
  message(FATAL_ERROR "`ecocompute version` printed no commit: ${out}")
endif()
if(NOT CMAKE_MATCH_1 STREQUAL head)
  message(FATAL_ERROR "`ecocompute version` names commit ${CMAKE_MATCH_1} but ${head} is checked "
                      "out: the version header was not rewritten at build time (cmake/git_version.cmake)")
endif()
message(STATUS "version commit: ${CMAKE_MATCH_1}${CMAKE_MATCH_2} is the checked-out commit")
