#pragma once
// Report and export files must never be written over a study: `export --db s.db --out s.db`
// once replaced the database with its own CSV and exited 0.
#include <filesystem>
#include <string_view>

namespace eco::store {

// Throws eco::Error naming `option` (e.g. "--out") when `out` is the database `db` itself (same
// file by device and inode, so a symlink or hard link counts), one of its -wal / -shm / -journal
// files, or any existing SQLite file (another study). Nothing is created or changed.
void refuse_output_over_database(const std::filesystem::path& out, const std::filesystem::path& db,
                                 std::string_view option);

// True when `path` is an existing file that starts with the SQLite header.
bool is_sqlite_file(const std::filesystem::path& path);

// True when `path` sits in a directory this process cannot write and no write-ahead log is
// pending beside it: a read-only medium or mount, where nothing can be changing the study, so
// reading it as immutable is exact (SQLite cannot create the -shm file a WAL reader needs there).
bool on_read_only_storage(const std::filesystem::path& path);

}  // namespace eco::store
