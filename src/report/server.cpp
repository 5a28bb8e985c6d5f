#include "report/server.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <set>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "report/html.h"
#include "report/study.h"

namespace eco::report {

namespace fs = std::filesystem;
using nlohmann::json;

struct DashboardServer::Http {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor{io};
  // Open connections, so stop() can end them and the destructor can wait for their threads.
  std::mutex mutex;
  std::condition_variable idle;
  std::set<int> sockets;
  std::atomic<bool> stopping{false};
};

namespace {

Reply json_reply(int status, const json& body) {
  return {status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

Reply error_reply(int status, const std::string& message) {
  return json_reply(status, json{{"error", message}});
}

FileState stat_file(const std::string& path) {
  FileState s;
  s.path = path;
  struct stat st {};
  // An empty write-ahead log is no change: reading a study in WAL mode creates one.
  if (::stat(path.c_str(), &st) != 0 || (st.st_size == 0 && path.ends_with("-wal"))) return s;
  s.exists = true;
  s.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.size = int64_t(st.st_size);
  s.inode = uint64_t(st.st_ino);
  return s;
}

// "DB:ID" -> (DB, ID); false for anything else.
bool parse_run_key(const std::string& key, size_t& db, int64_t& id) {
  const auto colon = key.find(':');
  if (colon == std::string::npos) return false;
  const char* end = key.data() + key.size();
  auto a = std::from_chars(key.data(), key.data() + colon, db);
  auto b = std::from_chars(key.data() + colon + 1, end, id);
  return a.ec == std::errc() && a.ptr == key.data() + colon && b.ec == std::errc() && b.ptr == end;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 &&
               hex_digit(s[i + 2]) >= 0) {
      out += char(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// "/api/timeline?run=0%3A5" -> path "/api/timeline", {"run": "0:5"}.
void split_target(std::string_view target, std::string& path,
                  std::map<std::string, std::string>& query) {
  const auto q = target.find('?');
  path = percent_decode(target.substr(0, q));
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    query[percent_decode(pair.substr(0, eq))] =
        eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
}

}  // namespace

// Reads requests on one connection (HTTP/1.1 keep-alive) until the client closes it or sends
// something that is not a valid request. Beast parses and writes the HTTP.
static void serve_connection(DashboardServer& server, boost::asio::ip::tcp::socket& socket) {
  namespace http = boost::beast::http;
  // A client that stops sending does not hold its thread for long.
  const timeval timeout{30, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  boost::beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(16 * 1024);
    boost::system::error_code ec;
    http::read(socket, buffer, parser, ec);
    if (ec) return;
    const auto& req = parser.get();
    Reply reply;
    const auto host = req[http::field::host];
    if (!server.host_allowed(std::string_view(host.data(), host.size()))) {
      reply = error_reply(
          403, "unexpected Host header: open the dashboard at the address serve printed");
    } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
      reply = error_reply(405, "the dashboard is read-only: only GET");
    } else {
      std::string path;
      std::map<std::string, std::string> query;
      split_target(std::string_view(req.target().data(), req.target().size()), path, query);
      reply = server.handle(path, query);
    }
    http::response<http::string_body> res{http::status(reply.status), req.version()};
    res.set(http::field::content_type, reply.content_type);
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    res.keep_alive(req.keep_alive());
    if (req.method() != http::verb::head) res.body() = std::move(reply.body);
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !res.keep_alive()) return;
  }
}

DashboardServer::DashboardServer(ServeOptions options) : options_(std::move(options)) {
  if (options_.databases.empty()) fail("serve: give at least one --db");
  if (options_.port < 0 || options_.port > 65535)
    fail("--port {}: give a port between 1 and 65535 (0 picks a free one)", options_.port);
  std::lock_guard lock(mutex_);
  refresh_locked();
  if (!error_.empty()) fail("{}", error_);
  render_page(json{{"live", true}});  // fails now, not at the first request, without a front end
}

DashboardServer::~DashboardServer() {
  if (!http_) return;
  stop();
  std::unique_lock lock(http_->mutex);
  http_->idle.wait(lock, [&] { return http_->sockets.empty(); });
}

std::vector<FileState> DashboardServer::file_states() const {
  std::vector<FileState> out;
  for (const auto& db : options_.databases) {
    out.push_back(stat_file(db.string()));
    out.push_back(stat_file(db.string() + "-wal"));
  }
  return out;
}

void DashboardServer::refresh_locked() {
  auto now = file_states();
  if (generation_ > 0 && now == states_) return;
  states_ = std::move(now);
  ++generation_;
  try {
    StudyOptions o;
    o.include_timelines = false;
    study_json_ =
        build_study(options_.databases, o).dump(-1, ' ', false, json::error_handler_t::replace);
    error_.clear();
  } catch (const Error& e) {
    study_json_.clear();
    error_ = e.what();
  }
}

Reply DashboardServer::handle(const std::string& path,
                              const std::map<std::string, std::string>& query) {
  if (path == "/" || path == "/index.html")
    return {200, "text/html; charset=utf-8", render_page(json{{"live", true}})};
  if (path == "/api/status" || path == "/api/study") {
    std::lock_guard lock(mutex_);
    refresh_locked();
    if (path == "/api/study") {
      if (!error_.empty()) return error_reply(500, error_);
      return {200, "application/json", study_json_};
    }
    json dbs = json::array();
    for (const auto& d : options_.databases) dbs.push_back(d.string());
    json s{{"generation", generation_}, {"databases", dbs}};
    if (!error_.empty()) s["error"] = error_;
    return json_reply(200, s);
  }
  if (path == "/api/timeline") {
    const auto it = query.find("run");
    size_t db = 0;
    int64_t id = 0;
    if (it == query.end() || !parse_run_key(it->second, db, id))
      return error_reply(400, "give run=DB:ID, e.g. /api/timeline?run=0:12");
    if (db >= options_.databases.size())
      return error_reply(
          404, fmt::format("no database {} (there are {})", db, options_.databases.size()));
    try {
      return json_reply(200, run_timeline(options_.databases[db], id));
    } catch (const Error& e) {
      return error_reply(404, e.what());
    }
  }
  return error_reply(404, fmt::format("no such page: {}", path));
}

bool DashboardServer::host_allowed(std::string_view host_header) const {
  const bool loopback =
      options_.host == "127.0.0.1" || options_.host == "localhost" || options_.host == "::1";
  if (!loopback) return true;
  // The host without its port: "127.0.0.1:8080" -> "127.0.0.1", "[::1]:8080" -> "[::1]".
  std::string_view name = host_header;
  if (name.starts_with('[')) {
    name = name.substr(0, name.find(']') == std::string_view::npos ? 0 : name.find(']') + 1);
  } else if (const auto colon = name.find(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  return name == "127.0.0.1" || name == "localhost" || name == "[::1]";
}

int DashboardServer::bind() {
  namespace asio = boost::asio;
  http_ = std::make_unique<Http>();
  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(http_->io);
  const auto found = resolver.resolve(options_.host, std::to_string(options_.port), ec);
  if (ec || found.empty())
    fail("--host {}: not an address of this machine ({}); give e.g. 127.0.0.1", options_.host,
         ec ? ec.message() : "no address");
  const auto endpoint = found.begin()->endpoint();
  auto& acceptor = http_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    fail("serve: cannot listen on {}:{} ({}); choose another --port or --host", options_.host,
         options_.port, ec.message());
  return acceptor.local_endpoint().port();
}

void DashboardServer::run() {
  if (!http_) fail("internal: serve: run() before bind()");
  for (;;) {
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket socket(http_->io);
    http_->acceptor.accept(socket, ec);
    if (http_->stopping) {
      http_->acceptor.close(ec);
      return;
    }
    if (ec) continue;  // a client that went away before being accepted
    // One thread per connection: a dashboard has a handful of clients, and each request is
    // answered from memory or one short read-only query.
    auto& h = *http_;
    {
      std::lock_guard lock(h.mutex);
      h.sockets.insert(socket.native_handle());
    }
    std::thread([this, &h, s = std::move(socket)]() mutable {
      serve_connection(*this, s);
      std::lock_guard lock(h.mutex);
      h.sockets.erase(s.native_handle());
      s.close();
      h.idle.notify_all();
    }).detach();
  }
}

void DashboardServer::stop() {
  if (!http_) return;
  // shutdown() wakes a thread blocked in accept(); run() then closes the socket itself.
  http_->stopping = true;
  ::shutdown(http_->acceptor.native_handle(), SHUT_RDWR);
  std::lock_guard lock(http_->mutex);
  for (int fd : http_->sockets) ::shutdown(fd, SHUT_RDWR);
}

}  // namespace eco::report
