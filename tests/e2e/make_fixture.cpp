// Writes the dashboard's fixture study: make_fixture OUT.db [--configs N] [--runs N]
// [--model NAME] [--tables yes] [--empty] (N configurations of one model, named NAME, instead of
// the dashboard fixture, with its quality scores and published figures when --tables yes;
// --empty: a study with no configurations).
#include <cstdio>
#include <string>

#include "common/error.h"
#include "fixture_db.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(
        stderr,
        "usage: make_fixture OUT.db [--configs N] [--runs N] [--model NAME] [--tables yes]\n");
    return 64;
  }
  eco::fixture::Spec spec;
  for (int i = 2; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--empty") {
      try {
        std::filesystem::remove(argv[1]);
        eco::store::Store::open(argv[1]);
      } catch (const eco::Error& e) {
        std::fprintf(stderr, "make_fixture: %s\n", e.what());
        return 1;
      }
      std::printf("%s: empty study\n", argv[1]);
      return 0;
    }
    if (i + 1 >= argc) break;
    if (flag == "--configs") {
      spec.configs_per_model = std::stoi(argv[i + 1]);
      spec.xss_model = spec.failed_config = spec.extra_tables = false;
      spec.timeline_samples = 10;
    } else if (flag == "--tables") {
      spec.extra_tables = std::string(argv[i + 1]) == "yes";
    } else if (flag == "--model") {
      spec.model = argv[i + 1];
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
