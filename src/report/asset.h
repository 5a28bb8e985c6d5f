#pragma once
// The dashboard page built from web/ at build time (web/build.mjs): one HTML document with its
// script and styles inlined and the marker <!--ECO_DATA--> where the data goes. Empty when the
// build had no front end (its npm packages were not installed).
#include <string_view>

namespace eco::report {

std::string_view dashboard_page();

}  // namespace eco::report
