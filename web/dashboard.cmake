# The dashboard front end (web/src), built by web/build.mjs (esbuild) into one HTML page that
# eco_report embeds as generated C++. The build needs Node.js and the npm packages (setup.sh runs
# `npm ci`); the binary never needs them. Without them the page is empty and `ecocompute report`
# says how to get it. The step runs at every build and rebuilds only when web/ or the lockfile
# changed, so `npm ci` after configuring is picked up by the next build.
find_program(ECO_NODE node)
set(ECO_DASHBOARD_CPP ${CMAKE_BINARY_DIR}/generated/report/dashboard_asset.cpp)
set(ECO_DASHBOARD_HTML ${CMAKE_BINARY_DIR}/web/dashboard.html)
add_custom_target(eco_dashboard ALL
  COMMAND ${CMAKE_COMMAND} -DNODE=${ECO_NODE} -DSOURCE_DIR=${CMAKE_SOURCE_DIR}
          -DHTML=${ECO_DASHBOARD_HTML} -DCPP=${ECO_DASHBOARD_CPP}
          -P ${CMAKE_SOURCE_DIR}/web/build_step.cmake
  BYPRODUCTS ${ECO_DASHBOARD_CPP}
  COMMENT "Dashboard front end (web/)"
  VERBATIM)
target_sources(eco_report PRIVATE ${ECO_DASHBOARD_CPP})
add_dependencies(eco_report eco_dashboard)
