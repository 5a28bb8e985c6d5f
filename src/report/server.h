#pragma once
// `ecocompute serve`: the dashboard page and its JSON API over HTTP, reading the study databases
// read-only and re-reading them when their files change (a sweep still writing shows up as it
// goes). Loopback by default. HTTP by Boost.Beast (header-only, Debian's Boost) rather than
// cpp-httplib: Debian's cpp-httplib is a shared library linked to OpenSSL, which the portable
// static-runtime build cannot carry to GPU hosts.
//   GET /                 the dashboard page (it fetches the rest)
//   GET /api/status       {"generation": N, "databases": [...]}; N grows when a database changed
//   GET /api/study        the dashboard document (report/study.h) without timelines
//   GET /api/timeline?run=DB:ID   one run's power timeline
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace eco::report {

struct ServeOptions {
  std::vector<std::filesystem::path> databases;
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
};

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// What identifies a database file's contents cheaply: a write changes the size or modification
// time of the file or of its write-ahead log; a replaced file changes its inode.
struct FileState {
  std::string path;
  bool exists = false;
  int64_t mtime_ns = 0;
  int64_t size = 0;
  uint64_t inode = 0;
  bool operator==(const FileState&) const = default;
};

class DashboardServer {
 public:
  // Reads every database once, so a bad --db is reported before anything listens.
  explicit DashboardServer(ServeOptions options);
  ~DashboardServer();
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  // Answers one GET request; what the HTTP layer calls, and what unit tests call directly.
  Reply handle(const std::string& path, const std::map<std::string, std::string>& query);

  // Whether a request's Host header names this server. On loopback only the loopback names are
  // accepted, so a web page elsewhere cannot read the studies through DNS rebinding; a server
  // bound to another address (the user chose to expose it) accepts any.
  bool host_allowed(std::string_view host_header) const;

  // Binds the socket and returns the port (the chosen one when options.port is 0).
  int bind();
  // Serves until stop() is called from another thread or the process ends.
  void run();
  void stop();

 private:
  std::vector<FileState> file_states() const;
  void refresh_locked();  // re-reads the databases if their files changed

  ServeOptions options_;
  std::mutex mutex_;
  std::vector<FileState> states_;
  std::string study_json_;
  std::string error_;
  long generation_ = 0;
  struct Http;
  std::unique_ptr<Http> http_;
};

}  // namespace eco::report
