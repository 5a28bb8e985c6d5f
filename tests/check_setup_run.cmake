# ctest: README command 1 (`./setup.sh run`) execs build/<preset>/<path>; that path must be the
# ecocompute binary this build made (a wrong path once broke the command on a fresh clone).
# -DSETUP=setup.sh -DBUILD_DIR=<binary dir> -DEXE=<ecocompute target file>
file(READ "${SETUP}" text)
string(REGEX MATCH "exec \"build/\\$preset/([^\"]+)\" run" found "${text}")
if(NOT found)
  message(FATAL_ERROR "${SETUP}: no line 'exec \"build/$preset/...\" run' found")
endif()
set(path "${BUILD_DIR}/${CMAKE_MATCH_1}")
get_filename_component(path "${path}" REALPATH)
get_filename_component(exe "${EXE}" REALPATH)
if(NOT path STREQUAL exe)
  message(FATAL_ERROR "setup.sh run execs ${path}, but the build made ${exe}")
endif()
get_filename_component(dir_name "${BUILD_DIR}" NAME)
message(STATUS "setup.sh run -> ${path} (preset directory ${dir_name})")
