#pragma once
// Tests look inside a study with SQL; the library itself speaks to it only through Store.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "store/store.h"

namespace eco::store {

struct StoreTestAccess {
  static Database& db(Store& s) { return s.db_; }
};

// The study's database connection, for assertions written as SQL.
inline Database& test_db(Store& s) {
  return StoreTestAccess::db(s);
}

// The first protocol event of `step`: its outcome and parsed details; nullopt when none.
struct TestEvent {
  std::string outcome;
  nlohmann::json details;
};
inline std::optional<TestEvent> first_event(Store& s, const std::string& step) {
  auto q = test_db(s).prepare(
      "SELECT outcome, details_json FROM protocol_events WHERE step = ? ORDER BY id LIMIT 1");
  q.bind(1, step);
  if (!q.step()) return std::nullopt;
  return TestEvent{q.get_text(0), nlohmann::json::parse(q.get_text(1))};
}

}  // namespace eco::store
