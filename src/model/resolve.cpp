#include "model/resolve.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace eco::model {

namespace {

constexpr std::string_view kPrefix = "synthetic:";

// Holds an exclusive flock on a file for the lifetime of the object.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path) {
    fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("{}: cannot create lock file ({})", path.string(), std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd_);
        fail("{}: cannot lock ({})", path.string(), std::strerror(errno));
      }
    }
  }
  ~FileLock() { ::close(fd_); }  // closing releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace

std::filesystem::path cache_root() {
  if (const char* d = std::getenv("ECO_CACHE_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0')
    return std::filesystem::path(x) / "ecocompute";
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0')
    return std::filesystem::path(h) / ".cache" / "ecocompute";
  fail("no cache directory: set ECO_CACHE_DIR (or XDG_CACHE_HOME or HOME)");
}

bool is_synthetic_spec(std::string_view spec) {
  return spec.starts_with(kPrefix);
}

SynthOptions parse_synthetic_spec(const std::string& spec) {
  if (!is_synthetic_spec(spec))
    fail(
        "--model '{}': a synthetic model is written synthetic:SHAPE[?seed=S&outliers=K:SCALE"
        "&dtype=f16|bf16|f32&weights=scaled|legacy]",
        spec);
  const std::string rest = spec.substr(kPrefix.size());
  const auto q = rest.find('?');
  SynthOptions opts;
  opts.shape = rest.substr(0, q);
  synth_shape(opts.shape);  // throws, listing the known shapes
  if (q == std::string::npos) return opts;
  std::stringstream params(rest.substr(q + 1));
  std::string item;
  while (std::getline(params, item, '&')) {
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "seed") {
      size_t used = 0;
      try {
        if (value.empty() || value[0] == '-') throw std::invalid_argument("seed");
        opts.seed = std::stoull(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != value.size())
        fail("--model '{}': seed must be a non-negative integer, found '{}'", spec, value);
    } else if (key == "outliers") {
      parse_outliers(value, opts);
    } else if (key == "dtype") {
      opts.dtype = parse_synth_dtype(value);
    } else if (key == "weights") {
      opts.weights = parse_synth_weights(value);
    } else {
      fail("--model '{}': unknown parameter '{}' (known: seed, outliers, dtype, weights)", spec,
           key);
    }
  }
  return opts;
}

std::string synthetic_cache_name(const SynthOptions& o) {
  std::string name = fmt::format("{}-s{}", o.shape, o.seed);
  if (o.outlier_dims > 0) name += fmt::format("-o{}x{}", o.outlier_dims, o.outlier_scale);
  if (o.dtype != DType::F16) name += o.dtype == DType::BF16 ? "-bf16" : "-f32";
  if (o.weights == SynthWeights::Legacy) name += "-legacy";
  return name;
}

bool synthetic_model_complete(const std::filesystem::path& dir, const SynthOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir / "model.safetensors", ec) || !fs::exists(dir / "config.json", ec))
    return false;
  std::ifstream in(dir / "synthetic.json");
  if (!in) return false;
  try {
    const auto j = nlohmann::json::parse(in);
    const bool outliers_match =
        j.at("outlier_count").get<int>() == o.outlier_dims &&
        (o.outlier_dims == 0 || j.at("outlier_scale").get<float>() == o.outlier_scale);
    return j.at("shape").get<std::string>() == o.shape && j.at("seed").get<uint64_t>() == o.seed &&
           j.at("dtype").get<std::string>() == dtype_name(o.dtype) && outliers_match &&
           // Written before the weight plans existed: legacy weights.
           j.value("weights", std::string("legacy")) == synth_weights_name(o.weights);
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::filesystem::path resolve_model(const std::string& spec) {
  namespace fs = std::filesystem;
  if (!is_synthetic_spec(spec)) {
    std::error_code ec;
    if (!fs::is_directory(spec, ec))
      fail(
          "--model '{}': no such directory (give a Hugging Face model directory, or "
          "synthetic:SHAPE, e.g. synthetic:tiny)",
          spec);
    return spec;
  }
  const SynthOptions opts = parse_synthetic_spec(spec);
  const fs::path root = cache_root() / "synthetic";
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) fail("{}: cannot create the cache directory ({})", root.string(), ec.message());
  const fs::path dir = root / synthetic_cache_name(opts);
  if (synthetic_model_complete(dir, opts)) return dir;
  const FileLock lock(root / (synthetic_cache_name(opts) + ".lock"));
  // Another process may have written it while this one waited for the lock.
  if (!synthetic_model_complete(dir, opts)) write_synthetic_model(opts, dir);
  return dir;
}

}  // namespace eco::model
