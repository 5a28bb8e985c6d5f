#pragma once
// Reading the small files a user points us at (config.json, tokenizer.json, index files) so that
// nothing but a regular file of bounded size is ever read: a FIFO would block open() forever,
// /dev/zero would be read until memory runs out, a directory reads as an empty stream.
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace eco {

// What is at `path` (following symlinks), in words for an error message: "a regular file",
// "a directory", "a FIFO (named pipe)", "a character device", ...; "missing" when absent.
std::string file_kind(const std::filesystem::path& path);

// True when `path` (following symlinks) is a regular file.
bool is_regular(const std::filesystem::path& path);

// Opens `path` read-only without blocking (O_NONBLOCK, so a FIFO cannot hang the open) and
// returns the descriptor, after checking it is a regular file. Throws eco::Error naming the
// path, `what` (e.g. "config.json") and what was found instead.
int open_regular_file(const std::filesystem::path& path, std::string_view what);

// The whole content of a regular file of at most `max_bytes`; eco::Error otherwise (with the
// size limit stated). The size is checked before reading, and again while reading (a file that
// grows after the check is still bounded).
std::string read_regular_file(const std::filesystem::path& path, size_t max_bytes,
                              std::string_view what);

}  // namespace eco
