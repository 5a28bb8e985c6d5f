# ctest: the docs name only what exists.
#  1. Every path in README.md's layout block (the fenced block under "## Layout") exists.
#  2. Every repository path written in backticks in README.md and docs/*.md (one that starts with
#     a top-level folder of the repository) exists; placeholders such as <name> or * are skipped.
#  3. Every `ecocompute SUBCOMMAND ...` written in backticks in README.md names a subcommand whose
#     --help succeeds, and every --option written with it appears in that help text.
# -DSOURCE_DIR=<repository root> -DEXE=<ecocompute binary>
set(failures "")
macro(problem text)
  string(APPEND failures "  ${text}\n")
endmacro()

file(READ "${SOURCE_DIR}/README.md" readme)

# ---- 1. layout block --------------------------------------------------------------------------
string(FIND "${readme}" "## Layout" at)
if(at EQUAL -1)
  problem("README.md has no '## Layout' section")
else()
  string(SUBSTRING "${readme}" ${at} -1 rest)
  string(REGEX MATCH "```\n([^`]*)```" block "${rest}")
  set(block "${CMAKE_MATCH_1}")
  string(REGEX MATCHALL "[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]*)+|[A-Za-z0-9_-]+\\.(md|json|sh)"
         paths "${block}")
  foreach(p ${paths})
    if(NOT EXISTS "${SOURCE_DIR}/${p}")
      problem("README.md layout names '${p}', which does not exist")
    endif()
  endforeach()
endif()

# ---- 2. paths in backticks --------------------------------------------------------------------
set(tops src include tests tools docs data web bench examples studies)
file(GLOB docs "${SOURCE_DIR}/docs/*.md")
foreach(doc "${SOURCE_DIR}/README.md" ${docs})
  file(READ "${doc}" text)
  get_filename_component(doc_name "${doc}" NAME)
  string(REGEX MATCHALL "`[^`\n]+`" spans "${text}")
  foreach(span ${spans})
    string(REGEX MATCHALL "(^|[ `(=])[a-z]+/[A-Za-z0-9_./-]*" words "${span}")
    foreach(w ${words})
      string(REGEX REPLACE "^[ `(=]" "" w "${w}")
      string(REGEX REPLACE "[.,:;)]+$" "" w "${w}")
      string(REGEX MATCH "^[a-z]+" top "${w}")
      list(FIND tops "${top}" known)
      if(known EQUAL -1 OR w MATCHES "[<*{]")
        continue()
      endif()
      if(NOT EXISTS "${SOURCE_DIR}/${w}")
        problem("${doc_name} names '${w}', which does not exist")
      endif()
    endforeach()
  endforeach()
endforeach()

# ---- 3. subcommands and their options ---------------------------------------------------------
string(REGEX MATCHALL "`ecocompute [a-z][a-z-]*[^`\n]*`" uses "${readme}")
set(helped "")
foreach(use ${uses})
  string(REGEX MATCH "`ecocompute ([a-z][a-z-]*)" _ "${use}")
  set(cmd "${CMAKE_MATCH_1}")
  list(FIND helped "${cmd}" seen)
  if(seen EQUAL -1)
    execute_process(COMMAND "${EXE}" ${cmd} --help RESULT_VARIABLE rc OUTPUT_VARIABLE out_${cmd}
                    ERROR_VARIABLE err)
    list(APPEND helped "${cmd}")
    if(NOT rc EQUAL 0)
      problem("README.md uses 'ecocompute ${cmd}', but 'ecocompute ${cmd} --help' exits ${rc}")
      set(out_${cmd} "")
    endif()
  endif()
  string(REGEX MATCHALL "--[a-z][a-z0-9-]*" options "${use}")
  foreach(o ${options})
    if(o STREQUAL "--help")
      continue()
    endif()
    string(FIND "${out_${cmd}}" "${o}" found)
    if(found EQUAL -1)
      problem("README.md writes 'ecocompute ${cmd} ... ${o}', but ${o} is not in its --help")
    endif()
  endforeach()
endforeach()

if(failures)
  message(FATAL_ERROR "The docs name things that do not exist:\n${failures}")
endif()
list(LENGTH helped n)
message(STATUS "docs checked: layout, paths in backticks, ${n} subcommands")
