# Writes the version header from src/version.h.in with the commit checked out *now*, so that a
# binary's provenance names the commit it was built from, not the one CMake last configured at.
# Run at every build (a custom target) and once at configure time:
#   cmake -DSOURCE_DIR=... -DIN=... -OUT=... -DPROJECT_VERSION=... -P cmake/git_version.cmake
# A tree with uncommitted changes to tracked files gets "-dirty" after the commit. The header is
# rewritten only when its text changes (configure_file), so an unchanged commit rebuilds nothing.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE ECO_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                RESULT_VARIABLE rev_rc)
if(NOT rev_rc EQUAL 0 OR NOT ECO_GIT_COMMIT)
  set(ECO_GIT_COMMIT "unknown")
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SOURCE_DIR}
                  OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(changes)
    string(APPEND ECO_GIT_COMMIT "-dirty")
  endif()
endif()
configure_file(${IN} ${OUT} @ONLY)
