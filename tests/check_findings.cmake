# ctest: docs/FINDINGS.md's tables are exactly what `ecocompute study findings` makes of the
# study database committed beside it (docs/data/eco-2026.db), so no figure there is typed.
# Skipped (the output says "findings: skipped") while docs/data/ holds no study database: the
# database comes from the GPU run of studies/eco-2026.toml. The generator itself is tested on
# the smoke study (tests/integration/study_cli_test.cpp).
# -DSOURCE_DIR=<repository root> -DEXE=<ecocompute binary>
set(db "${SOURCE_DIR}/docs/data/eco-2026.db")
if(NOT EXISTS "${db}")
  message(STATUS "findings: skipped: docs/data/eco-2026.db does not exist yet (the database of "
                 "the GPU run of studies/eco-2026.toml goes there)")
  return()
endif()
if(NOT EXISTS "${SOURCE_DIR}/docs/FINDINGS.md")
  message(FATAL_ERROR "docs/data/eco-2026.db exists but docs/FINDINGS.md does not")
endif()
execute_process(COMMAND "${EXE}" study findings --db "${db}" RESULT_VARIABLE rc
                OUTPUT_VARIABLE generated ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ecocompute study findings --db ${db} failed (${rc}): ${err}")
endif()

# The table lines (those starting with '|') of a Markdown text, in order.
function(table_lines text out)
  string(REPLACE ";" "\\;" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  set(rows "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^\\|")
      list(APPEND rows "${line}")
    endif()
  endforeach()
  set(${out} "${rows}" PARENT_SCOPE)
endfunction()

file(READ "${SOURCE_DIR}/docs/FINDINGS.md" doc)
table_lines("${generated}" want)
table_lines("${doc}" have)
list(LENGTH want n_want)
list(LENGTH have n_have)
if(n_want EQUAL 0)
  message(FATAL_ERROR "study findings printed no table for ${db}")
endif()
math(EXPR last "${n_want} - 1")
foreach(i RANGE ${last})
  list(GET want ${i} w)
  if(i GREATER_EQUAL n_have)
    message(FATAL_ERROR "docs/FINDINGS.md lacks table line ${i} of the generated tables:\n${w}\n"
                        "Regenerate: ecocompute study findings --db docs/data/eco-2026.db")
  endif()
  list(GET have ${i} h)
  if(NOT h STREQUAL w)
    message(FATAL_ERROR "docs/FINDINGS.md table line ${i} differs from the generated one:\n"
                        "  docs:      ${h}\n  generated: ${w}\n"
                        "Regenerate: ecocompute study findings --db docs/data/eco-2026.db")
  endif()
endforeach()
if(n_have GREATER n_want)
  message(FATAL_ERROR "docs/FINDINGS.md has ${n_have} table lines, the generator ${n_want}")
endif()
message(STATUS "findings: ${n_want} table lines of docs/FINDINGS.md match the database")
