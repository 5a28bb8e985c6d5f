#include "store/sqlite.h"

#include <cmath>
#include <utility>

#include "common/error.h"

namespace eco::store {

namespace {

// "file:" URI of a path with immutable=1 (RFC 3986 escapes for the characters SQLite's URI
// parser treats specially).
std::string immutable_uri(const std::string& path) {
  std::string uri = "file:";
  for (const char c : path) {
    if (c == '%' || c == '?' || c == '#')
      uri += fmt::format("%{:02X}", unsigned(static_cast<unsigned char>(c)));
    else
      uri += c;
  }
  return uri + "?immutable=1";
}

}  // namespace

Database::Database(const std::string& path, Mode mode) : path_(path) {
  int flags = SQLITE_OPEN_FULLMUTEX;
  std::string target = path;
  switch (mode) {
    case Mode::ReadOnly:
      flags |= SQLITE_OPEN_READONLY;
      break;
    case Mode::ReadOnlyImmutable:
      flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
      target = immutable_uri(path);
      break;
    case Mode::ReadWrite:
      flags |= SQLITE_OPEN_READWRITE;
      break;
    case Mode::Create:
      flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
      break;
  }
  const int rc = sqlite3_open_v2(target.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    fail("cannot open database '{}': {} (check the path exists and is writable)", path, msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 5000);
}

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    if (db_) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

void Database::raise(std::string_view what) const {
  fail("database '{}': {}: {}", path_, what, db_ ? sqlite3_errmsg(db_) : "not open");
}

void Database::exec(std::string_view sql) {
  char* err = nullptr;
  const std::string s(sql);
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    fail("database '{}': {} (while running: {})", path_, msg, s.substr(0, 120));
  }
}

Statement Database::prepare(std::string_view sql) {
  return Statement(*this, sql);
}

int64_t Database::last_insert_id() const {
  return sqlite3_last_insert_rowid(db_);
}
int Database::changes() const {
  return sqlite3_changes(db_);
}

int64_t Database::query_int(std::string_view sql) {
  Statement st(*this, sql);
  if (!st.step()) fail("database '{}': no result from: {}", path_, sql);
  return st.get_int(0);
}

Statement::Statement(Database& db, std::string_view sql) : db_(&db), sql_(sql) {
  if (sqlite3_prepare_v2(db.db_, sql_.data(), int(sql_.size()), &stmt_, nullptr) != SQLITE_OK)
    db.raise(fmt::format("cannot prepare '{}'", sql_.substr(0, 120)));
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), sql_(std::move(other.sql_)) {}

void Statement::check_bind(int rc, int i) {
  if (rc != SQLITE_OK) db_->raise(fmt::format("cannot bind parameter {} of '{}'", i, sql_));
}

Statement& Statement::bind(int i, int64_t v) {
  check_bind(sqlite3_bind_int64(stmt_, i, v), i);
  return *this;
}

Statement& Statement::bind(int i, double v) {
  if (std::isnan(v)) return bind_null(i);
  check_bind(sqlite3_bind_double(stmt_, i, v), i);
  return *this;
}

Statement& Statement::bind(int i, std::string_view v) {
  check_bind(sqlite3_bind_text(stmt_, i, v.data(), int(v.size()), SQLITE_TRANSIENT), i);
  return *this;
}

Statement& Statement::bind_null(int i) {
  check_bind(sqlite3_bind_null(stmt_, i), i);
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->raise(fmt::format("failed to run '{}'", sql_.substr(0, 120)));
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int Statement::column_count() const {
  return sqlite3_column_count(stmt_);
}
std::string Statement::column_name(int i) const {
  return sqlite3_column_name(stmt_, i);
}
bool Statement::is_null(int i) const {
  return sqlite3_column_type(stmt_, i) == SQLITE_NULL;
}
int Statement::column_type(int i) const {
  return sqlite3_column_type(stmt_, i);
}
int64_t Statement::get_int(int i) const {
  return sqlite3_column_int64(stmt_, i);
}

double Statement::get_double(int i) const {
  if (is_null(i)) return std::nan("");
  return sqlite3_column_double(stmt_, i);
}

std::string Statement::get_text(int i) const {
  const auto* p = sqlite3_column_text(stmt_, i);
  if (!p) return {};
  return std::string(reinterpret_cast<const char*>(p), size_t(sqlite3_column_bytes(stmt_, i)));
}

Transaction::Transaction(Database& db) : db_(db) {
  db_.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace eco::store
