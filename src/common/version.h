#pragma once
// The version and the commit this binary was built from, for provenance. They live in one
// translation unit (version.cpp, which includes the header written at every build), so a new
// commit recompiles that file alone.
namespace eco {

const char* version();     // "0.1.0"
const char* git_commit();  // 12 hex digits, "-dirty" with uncommitted changes, or "unknown"

}  // namespace eco
