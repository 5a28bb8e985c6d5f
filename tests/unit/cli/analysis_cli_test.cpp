// `compare`, `import` and `analyze` end to end on crafted study databases.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "store/store.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Outcome {
  int status = -1;
  std::string output;  // stdout and stderr
};

Outcome run(const std::string& args) {
  const std::string cmd = std::string(ECO_BINARY) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  Outcome o;
  if (!p) return o;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.output.append(buf, n);
  const int st = ::pclose(p);
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

// One configuration: a format at a batch size with its measured decode energies per token.
struct Crafted {
  std::string format;
  int batch = 1;
  std::vector<double> decode_j_per_token;
};

class AnalysisCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/eco_analysis_cli_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A study as `bench` leaves it: one session on `gpu`, finished configurations with runs.
  std::string study(const std::string& name, const std::vector<Crafted>& configs,
                    const std::string& gpu = "NVIDIA H200") {
    const std::string path = (dir_ / name).string();
    auto st = eco::store::Store::open(path);
    eco::store::Session s;
    s.started_at = eco::store::utc_now();
    s.command = "crafted by the test";
    s.gpu_name = gpu;
    s.eco_version = "test";
    s.eco_git_commit = "test";
    const int64_t session = st.add_session(s);
    eco::store::ModelRecord m;
    m.source = "synthetic:tiny";
    m.config_json = "{}";
    m.weights_sha256_json = R"({"model.safetensors":"ab12"})";
    m.parameter_count = 1000000;
    const int64_t model = st.upsert_model(m);
    for (const auto& c : configs) {
      const int64_t format = st.upsert_format({c.format, "{}"});
      const int64_t id = st.create_config({model, format, c.batch, 16, 32, "cuda:0"}, "{}");
      st.start_config(id, session, "test engine", "{}", "");
      int index = 0;
      for (double e : c.decode_j_per_token) {
        eco::store::RunRecord r;
        r.config_id = id;
        r.index = index++;
        r.batch = c.batch;
        r.generated_tokens = 32 * c.batch;
        r.decode_tokens = 31 * c.batch;
        r.seconds = 1.0;
        r.decode_j_per_token = e;
        r.j_per_token = e;
        r.gross_energy_j = e * double(r.generated_tokens);
        st.insert_run(r);
      }
      st.finish_config(id, "done", "passed", "{}", 1, {});
    }
    return path;
  }

  static std::vector<double> noisy(double mean, double cv, int n, uint64_t seed) {
    std::mt19937_64 rng{seed};
    std::normal_distribution<double> d(0.0, cv);
    std::vector<double> out;
    for (int i = 0; i < n; ++i) out.push_back(mean * (1 + d(rng)));
    return out;
  }

  Outcome compare(const std::string& a, const std::string& b, const std::string& extra = "") {
    return run("compare --baseline " + a + " --candidate " + b + " " + extra);
  }

  fs::path dir_;
};

TEST_F(AnalysisCli, CompareNoChangeExitsZero) {
  const auto a = study("a.db", {{"fp16", 1, noisy(1.0, 0.01, 10, 1)}});
  const auto b = study("b.db", {{"fp16", 1, noisy(1.0, 0.01, 10, 1)}});  // identical runs
  const Outcome o = compare(a, b);
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("no significant change"), std::string::npos) << o.output;
}

TEST_F(AnalysisCli, CompareSignificantRegressionBeyondMarginExitsOne) {
  const auto a = study("a.db", {{"fp16", 1, noisy(1.0, 0.01, 10, 1)}});
  const auto b = study("b.db", {{"fp16", 1, noisy(1.10, 0.01, 10, 2)}});  // +10 %
  const Outcome o = compare(a, b, "--max-regression 2%");
  EXPECT_EQ(o.status, 1) << o.output;
  EXPECT_NE(o.output.find("REGRESSION"), std::string::npos) << o.output;
  // The JSON form carries the same verdict.
  const Outcome j = compare(a, b, "-o json");
  EXPECT_EQ(j.status, 1);
  const json doc = json::parse(j.output);
  EXPECT_TRUE(doc["regression"].get<bool>());
  EXPECT_NEAR(doc["changes"][0]["delta_pct"].get<double>(), 10.0, 2.0);
}

TEST_F(AnalysisCli, CompareInsignificantChangeExitsZero) {
  // +5 % in the means but 20 % noise with 3 runs each: not significant at 0.05.
  const auto a = study("a.db", {{"fp16", 1, {1.0, 1.2, 0.8}}});
  const auto b = study("b.db", {{"fp16", 1, {1.05, 1.25, 0.85}}});
  const Outcome o = compare(a, b, "--max-regression 2%");
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("no significant change"), std::string::npos);
}

TEST_F(AnalysisCli, CompareSignificantRegressionUnderTheMarginExitsZero) {
  const auto a = study("a.db", {{"fp16", 1, noisy(1.0, 0.001, 10, 1)}});
  const auto b = study("b.db", {{"fp16", 1, noisy(1.01, 0.001, 10, 2)}});  // +1 %, significant
  const Outcome o = compare(a, b, "--max-regression 2%");
  EXPECT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("significant, within the margin"), std::string::npos) << o.output;
  // With a 0.5 % margin the same change fails.
  EXPECT_EQ(compare(a, b, "--max-regression 0.5%").status, 1);
}

TEST_F(AnalysisCli, CompareMismatchedConfigurationsExitsTwo) {
  const auto a = study("a.db", {{"fp16", 1, noisy(1.0, 0.01, 10, 1)}});
  const auto b = study("b.db", {{"nf4", 1, noisy(1.0, 0.01, 10, 1)}});
  const Outcome o = compare(a, b);
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("no configuration"), std::string::npos) << o.output;
  // Same configuration on another GPU does not match either.
  const auto c = study("c.db", {{"fp16", 1, noisy(1.0, 0.01, 10, 1)}}, "NVIDIA A100");
  EXPECT_EQ(compare(a, c).status, 2);
}

TEST_F(AnalysisCli, CompareCorruptOrMissingFileExitsTwo) {
  const auto a = study("a.db", {{"fp16", 1, noisy(1.0, 0.01, 10, 1)}});
  const fs::path bad = dir_ / "corrupt.db";
  std::ofstream(bad) << "this is not a database";
  Outcome o = compare(a, bad.string());
  EXPECT_EQ(o.status, 2) << o.output;
  EXPECT_NE(o.output.find("--candidate"), std::string::npos) << o.output;
  EXPECT_EQ(compare((dir_ / "absent.db").string(), a).status, 2);
  EXPECT_EQ(compare(a, a, "--alpha 2").status, 2);
  EXPECT_EQ(compare(a, a, "--max-regression lots").status, 2);
  EXPECT_EQ(compare(a, a, "--metric joules_per_vibe").status, 2);
  EXPECT_EQ(run("compare --candidate " + a).status, 2);  // no baseline
}

TEST_F(AnalysisCli, AnalyzeMeasuredStudyComparesAndFitsTheBatchLaw) {
  const auto a = study("a.db", {{"fp16", 1, noisy(4.0, 0.01, 6, 1)},
                                {"fp16", 4, noisy(4.0 * std::pow(4, -0.8), 0.01, 6, 2)},
                                {"fp16", 16, noisy(4.0 * std::pow(16, -0.8), 0.01, 6, 3)},
                                {"nf4", 1, noisy(5.0, 0.01, 6, 4)}});
  const Outcome o = run("analyze --db " + a + " -o json --metric decode_j_per_token");
  ASSERT_EQ(o.status, 0) << o.output;
  const json doc = json::parse(o.output);
  ASSERT_EQ(doc["sources"].size(), 1u);
  const json& src = doc["sources"][0];
  EXPECT_EQ(src["source"], "measured");
  ASSERT_EQ(src["comparisons"].size(), 1u);  // nf4 vs fp16 at batch 1
  EXPECT_NEAR(src["comparisons"][0]["delta_pct"].get<double>(), 25.0, 3.0);
  EXPECT_LT(src["comparisons"][0]["p"].get<double>(), 1e-6);
  bool fitted = false;
  for (const auto& l : src["batch_laws"])
    if (l["metric"] == "j_per_token") {
      fitted = true;
      EXPECT_NEAR(l["alpha"].get<double>(), 0.8, 0.05);
    }
  EXPECT_TRUE(fitted);
  EXPECT_TRUE(src["pareto"].empty());  // no quality scores yet
  {
    // Quality scores as `ecocompute quality` stores them: nf4 loses more than fp16 (0).
    auto st = eco::store::Store::open(a);
    for (const auto& v : st.config_views()) {
      if (v.batch != 1) continue;
      eco::store::QualityRecord q;
      q.model_id = v.model_id;
      q.format_id = q.base_format_id = v.format_id;
      q.device = "cuda";
      q.text_source = "test";
      q.tokens_sha256 = "00";
      q.created_at = eco::store::utc_now();
      q.kld = v.format_name == "fp16" ? 0.0 : 0.02;
      st.insert_quality(q);
    }
  }
  const json with_q = json::parse(run("analyze --db " + a + " -o json --bootstrap").output);
  const json& s2 = with_q["sources"][0];
  ASSERT_EQ(s2["pareto"].size(), 1u);
  // fp16 costs less energy and loses nothing: it alone is on the front.
  ASSERT_EQ(s2["pareto"][0]["front"].size(), 1u);
  EXPECT_NE(s2["pareto"][0]["front"][0].get<std::string>().find("fp16"), std::string::npos);
  EXPECT_TRUE(s2["configurations"][0]["metrics"]["decode_j_per_token"].contains("bootstrap_ci95"));
  const Outcome md = run("analyze --db " + a + " --grid FR --gpu-hour-usd 3");
  EXPECT_EQ(md.status, 0) << md.output;
  EXPECT_NE(md.output.find("56 gCO2e/kWh"), std::string::npos);
  EXPECT_NE(md.output.find("$ GPU time per 1M tokens"), std::string::npos);
  EXPECT_EQ(run("analyze --db " + a + " --baseline bf16").status, 1);  // not in the study
  EXPECT_EQ(run("analyze --db " + a + " --grid Atlantis").status, 1);
}

TEST_F(AnalysisCli, ImportedPublishedResultsReproduceConsistentRatiosAndFlagTheRest) {
  const std::string db = (dir_ / "pub.db").string();
  const std::string data = std::string(ECO_SOURCE_DIR) + "/data/";
  const Outcome imp = run("import --csv " + data + "seed_published_results.csv --claims " + data +
                          "seed_published_claims.csv --db " + db);
  ASSERT_EQ(imp.status, 0) << imp.output;
  EXPECT_NE(imp.output.find("Imported 38 published configurations"), std::string::npos);
  // A second import of the same file would count every row twice: refused, nothing written.
  EXPECT_EQ(run("import --csv " + data + "seed_published_results.csv --db " + db).status, 1);

  const Outcome o = run("analyze --db " + db + " -o json");
  ASSERT_EQ(o.status, 0) << o.output;
  const json doc = json::parse(o.output);
  ASSERT_EQ(doc["sources"].size(), 1u);  // published only, its own source
  const json& src = doc["sources"][0];
  EXPECT_NE(src["source"].get<std::string>().find("published: "), std::string::npos);
  // The study's consistent ratios: default INT8 vs FP16 on the RTX 4090D, +32.7 % (Yi-1.5-6B).
  bool yi = false;
  for (const auto& c : src["comparisons"])
    if (c["config"].get<std::string>().rfind("Yi-1.5-6B / int8(t=6)", 0) == 0) {
      yi = true;
      EXPECT_NEAR(c["delta_pct"].get<double>(), 100 * (6258.0 / 4716.0 - 1), 1e-9);
      EXPECT_LT(c["p"].get<double>(), 1e-6);
      // Slower at lower power: time ratio x power ratio multiplies back to the energy ratio.
      const json& g = c["split_gross"];
      EXPECT_NEAR(g["time_ratio"].get<double>() * g["power_ratio"].get<double>(),
                  g["energy_ratio"].get<double>(), 1e-12);
    }
  EXPECT_TRUE(yi);
  // NF4 on the RTX 5090 turns from costing to saving between 3 B and 7 B.
  bool nf4 = false;
  for (const auto& x : src["crossovers"])
    if (x["format"] == "nf4" &&
        x["series"].get<std::string>().find("RTX 5090") != std::string::npos) {
      nf4 = true;
      EXPECT_TRUE(x["found"].get<bool>());
      EXPECT_GT(x["params_b"].get<double>(), 3.0);
      EXPECT_LT(x["params_b"].get<double>(), 7.0);
      EXPECT_LT(x["ci95"][0].get<double>(), x["params_b"].get<double>());
    }
  EXPECT_TRUE(nf4);
  // The claims: the "-36 %" of pure over default INT8 is flagged, the batch figure confirmed.
  for (const auto& c : src["checks"]["claims"]) {
    if (c["id"] == "pure-vs-default-energy-mean") {
      EXPECT_FALSE(c["consistent"].get<bool>());
      EXPECT_NE(c["message"].get<std::string>().find("-27.0 %"), std::string::npos);
      EXPECT_NE(c["message"].get<std::string>().find("-29.6 %"), std::string::npos);
    }
    if (c["id"] == "batch-1-to-64-energy") {
      EXPECT_TRUE(c["consistent"].get<bool>());
    }
  }
  EXPECT_FALSE(src["checks"]["findings"].empty());
}

}  // namespace
