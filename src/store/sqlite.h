#pragma once
// A small RAII wrapper over the SQLite C API: a connection, prepared statements with typed
// binds and columns, and a transaction guard that rolls back unless committed. Every failure
// throws eco::Error naming the database file and the statement.
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eco::store {

class Statement;

class Database {
 public:
  // ReadOnlyImmutable: for a study on a read-only directory or file system, where SQLite cannot
  // create the WAL index; the file is read as it is, with no locking (nothing can write it).
  enum class Mode { ReadOnly, ReadWrite, Create, ReadOnlyImmutable };
  Database(const std::string& path, Mode mode);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;

  void exec(std::string_view sql);
  Statement prepare(std::string_view sql);
  int64_t last_insert_id() const;
  int changes() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

  // Single-value helpers for PRAGMAs and counts.
  int64_t query_int(std::string_view sql);

 private:
  friend class Statement;
  [[noreturn]] void raise(std::string_view what) const;
  sqlite3* db_ = nullptr;
  std::string path_;
};

class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;

  // Binds are 1-based like SQLite's. std::nullopt binds NULL.
  Statement& bind(int i, int64_t v);
  Statement& bind(int i, int v) { return bind(i, int64_t(v)); }
  Statement& bind(int i, double v);  // NaN binds NULL (a value that was not measured)
  Statement& bind(int i, std::string_view v);
  Statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, bool v) { return bind(i, int64_t(v ? 1 : 0)); }
  Statement& bind_null(int i);
  template <typename T>
  Statement& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind_null(i);
  }

  // Returns true while a row is available; false when done.
  bool step();
  // Runs a statement that returns no rows, then resets it for reuse.
  void run();
  void reset();

  int column_count() const;
  std::string column_name(int i) const;
  bool is_null(int i) const;
  int64_t get_int(int i) const;
  double get_double(int i) const;  // NULL reads as NaN
  std::string get_text(int i) const;
  int column_type(int i) const;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_NULL, ...

 private:
  void check_bind(int rc, int i);
  Database* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace eco::store
