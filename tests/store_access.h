#pragma once
// Tests look inside a study with SQL; the library itself speaks to it only through Store.
#include "store/store.h"

namespace eco::store {

struct StoreTestAccess {
  static Database& db(Store& s) { return s.db_; }
};

// The study's database connection, for assertions written as SQL.
inline Database& test_db(Store& s) {
  return StoreTestAccess::db(s);
}

}  // namespace eco::store
