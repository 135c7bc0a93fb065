// Blocks and LMDB block stores for the cache tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "base/units.h"
#include "cache/block_store.h"

namespace zm::testing {

inline Block MakeBlock(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

inline std::unique_ptr<BlockStore> OpenLmdb(const std::string& dir, uint64_t capacity = 64_MiB,
                                            uint64_t max_pending = 256_MiB) {
  LmdbOptions opt;
  opt.capacity_bytes = capacity;
  opt.max_pending_bytes = max_pending;
  auto r = OpenLmdbBlockStore(dir, opt);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return nullptr;
  return std::move(r).value();
}

inline std::unique_ptr<PersistentBlockStore> OpenStore(const std::string& dir, uint64_t capacity) {
  LmdbOptions opt;
  opt.capacity_bytes = capacity;
  auto r = OpenLmdbBlockStore(dir, opt);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

}  // namespace zm::testing
