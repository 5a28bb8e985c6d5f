#include "common/version.h"

#include "ecocompute/version.h"

namespace eco {

const char* version() {
  return ECO_VERSION;
}

const char* git_commit() {
  return ECO_GIT_COMMIT;
}

}  // namespace eco
