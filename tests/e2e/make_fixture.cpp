// Writes the dashboard's fixture study: make_fixture OUT.db [--configs N] [--runs N]
// (N configurations of one model instead of the dashboard fixture).
#include <cstdio>
#include <string>

#include "common/error.h"
#include "fixture_db.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: make_fixture OUT.db [--configs N] [--runs N]\n");
    return 64;
  }
  eco::fixture::Spec spec;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--configs") {
      spec.configs_per_model = std::stoi(argv[i + 1]);
      spec.xss_model = spec.failed_config = spec.extra_tables = false;
      spec.timeline_samples = 10;
    } else if (flag == "--runs") {
      spec.measured_runs = std::stoi(argv[i + 1]);
    }
  }
  try {
    const int n = eco::fixture::write_fixture(argv[1], spec);
    std::printf("%s: %d configurations\n", argv[1], n);
  } catch (const eco::Error& e) {
    std::fprintf(stderr, "make_fixture: %s\n", e.what());
    return 1;
  }
  return 0;
}
