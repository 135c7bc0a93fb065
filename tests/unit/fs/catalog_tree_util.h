// Catalog tree options shared by the catalog tree and catalog mount tests.
#pragma once

#include "fs/catalog_tree.h"

namespace zm::testing {

// Loading a second dataset releases the first (no idle release to race).
inline CatalogTreeOptions OneLoadedAtATime() {
  CatalogTreeOptions o;
  o.max_loaded = 1;
  o.idle_seconds = 0;
  return o;
}

}  // namespace zm::testing
