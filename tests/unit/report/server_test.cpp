#include "report/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "e2e/fixture_db.h"
#include "report/asset.h"

namespace eco::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (dashboard_page().empty()) GTEST_SKIP() << "built without the dashboard front end (npm ci)";
    dir_ = fs::temp_directory_path() /
           fmt::format("eco_serve_{}_{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = dir_ / "fixture.db";
    fixture::write_fixture(db_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  json get(DashboardServer& s, const std::string& path, int expect_status,
           const std::map<std::string, std::string>& query = {}) {
    const Reply r = s.handle(path, query);
    EXPECT_EQ(r.status, expect_status) << path << ": " << r.body;
    return json::parse(r.body);
  }
  fs::path dir_, db_;
};

TEST_F(ServerTest, PageAndStudy) {
  DashboardServer s({{db_}, "127.0.0.1", 0});
  const Reply page = s.handle("/", {});
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.body, ::testing::HasSubstr("{\"live\":true}"));
  const json study = get(s, "/api/study", 200);
  EXPECT_EQ(study["configs"].size(), 11u);
  EXPECT_EQ(study["timelines"].size(), 0u);  // served per run instead
  EXPECT_EQ(study["databases"][0]["timelines"], "on-request");
  EXPECT_EQ(get(s, "/api/status", 200)["generation"], 1);
  EXPECT_THAT(get(s, "/nowhere", 404)["error"].get<std::string>(),
              ::testing::HasSubstr("/nowhere"));
}

TEST_F(ServerTest, EmptyStudyServesEmptyTables) {
  const fs::path empty = dir_ / "empty.db";
  { auto st = store::Store::open(empty); }
  DashboardServer s({{empty}, "127.0.0.1", 0});
  const json study = get(s, "/api/study", 200);
  EXPECT_EQ(study["configs"].size(), 0u);
  EXPECT_EQ(study["runs"]["key"].size(), 0u);
  EXPECT_EQ(get(s, "/api/status", 200)["generation"], 1);
  get(s, "/api/timeline", 404, {{"run", "0:1"}});
}

TEST_F(ServerTest, TimelineByRunKey) {
  DashboardServer s({{db_}, "127.0.0.1", 0});
  EXPECT_EQ(get(s, "/api/timeline", 200, {{"run", "0:2"}})["t"].size(), 40u);
  get(s, "/api/timeline", 400, {});
  get(s, "/api/timeline", 400, {{"run", "2"}});
  get(s, "/api/timeline", 400, {{"run", "0:2x"}});
  get(s, "/api/timeline", 404, {{"run", "5:2"}});
  get(s, "/api/timeline", 404, {{"run", "0:99999"}});
}

TEST_F(ServerTest, RereadsTheDatabaseWhenItChanges) {
  DashboardServer s({{db_}, "127.0.0.1", 0});
  EXPECT_EQ(get(s, "/api/status", 200)["generation"], 1);
  EXPECT_EQ(get(s, "/api/status", 200)["generation"], 1);  // unchanged: not re-read
  {
    auto st = store::Store::open(db_);  // a sweep adding a configuration
    const int64_t m = st.upsert_model({"synthetic:small", "small", 1, "{}", "{}", 10});
    const int64_t f = st.upsert_format({"fp16", "{}"});
    st.create_config({m, f, 2, 16, 32, "cuda:0"}, "{}");
  }
  EXPECT_EQ(get(s, "/api/status", 200)["generation"], 2);
  EXPECT_EQ(get(s, "/api/study", 200)["configs"].size(), 12u);
}

TEST_F(ServerTest, ADatabaseThatBreaksWhileServedIsReportedNotServedStale) {
  DashboardServer s({{db_}, "127.0.0.1", 0});
  fs::remove(db_);
  std::ofstream(db_) << "overwritten with something else";
  const json status = get(s, "/api/status", 200);
  EXPECT_TRUE(status.contains("error"));
  EXPECT_THAT(get(s, "/api/study", 500)["error"].get<std::string>(),
              ::testing::HasSubstr(db_.string()));
}

TEST_F(ServerTest, BadStartIsAnErrorBeforeListening) {
  EXPECT_THROW(DashboardServer({{dir_ / "absent.db"}, "127.0.0.1", 0}), Error);
  EXPECT_THROW(DashboardServer({{}, "127.0.0.1", 0}), Error);
  EXPECT_THROW(DashboardServer({{db_}, "127.0.0.1", 70000}), Error);
  DashboardServer s({{db_}, "not-a-host.invalid", 0});
  EXPECT_THROW(s.bind(), Error);
}

TEST_F(ServerTest, OnLoopbackOnlyLoopbackHostNamesAreServed) {
  DashboardServer s({{db_}, "127.0.0.1", 0});
  for (const char* ok : {"127.0.0.1:8080", "127.0.0.1", "localhost:9000", "[::1]:8080", "[::1]"})
    EXPECT_TRUE(s.host_allowed(ok)) << ok;
  for (const char* bad : {"evil.example:8080", "evil.example", "", "127.0.0.1.evil.example:80",
                          "localhost.evil.example"})
    EXPECT_FALSE(s.host_allowed(bad)) << bad;
  DashboardServer exposed({{db_}, "0.0.0.0", 0});
  EXPECT_TRUE(exposed.host_allowed("dashboard.lab.example:8080"));
}

// One request over a real socket: what the browser tests do at length.
TEST_F(ServerTest, AnswersOverHttpAndStops) {
  DashboardServer s({{db_}, "127.0.0.1", 0});
  const int port = s.bind();
  ASSERT_GT(port, 0);
  std::thread t([&] { s.run(); });
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string req =
      "GET /api/timeline?run=0%3A2 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), ssize_t(req.size()));
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) response.append(buf, size_t(n));
  ::close(fd);
  s.stop();
  t.join();
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(response, ::testing::HasSubstr("\"t\":["));
}

}  // namespace
}  // namespace eco::report
