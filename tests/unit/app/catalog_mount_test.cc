// Unit tests of app/catalog_mount.h: the daemon's catalog datasets.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "app/catalog_mount.h"
#include "app/daemon.h"
#include "cache/block_store.h"
#include "cache/read_through.h"
#include "fs/catalog_tree.h"
#include "refs/catalog.h"
#include "tests/unit/fake_origin.h"
#include "tests/unit/fs/catalog_tree_util.h"

namespace zm {
namespace {

using testing::OneLoadedAtATime;

// A daemon stack over `origin` whose cache validates object versions, as a
// mount that is not --offline does.
Stack ValidatingStack(std::unique_ptr<Origin> origin) {
  Stack stack;
  stack.origin = std::move(origin);
  stack.memory = NewMemoryBlockStore(16_MiB);
  ReadThroughOptions ro;
  ro.validate = true;
  stack.cache = std::make_unique<ReadThroughCache>(stack.origin.get(), stack.memory.get(), nullptr, ro);
  return stack;
}

// Loading a catalog dataset starts the same background version checker as a
// plain mount: each of its objects is asked about once, before any read.
TEST(CatalogMount, LoadedDatasetHasItsObjectsChecked) {
  auto fake = std::make_unique<testing::FakeOrigin>();
  testing::FakeOrigin* origin = fake.get();
  const std::vector<std::string> urls = {"http://h/a.bin", "http://h/b.bin", "http://h/c.bin"};
  for (const std::string& url : urls) {
    origin->Set(url, "0123456789");
    origin->SetVersion(url, "v1");
  }
  Stack stack = ValidatingStack(std::move(fake));
  Catalog catalog;
  CatalogDataset ds;
  ds.path = {"ds"};
  ds.references = "/c/cat.yaml";
  ds.inline_references = R"({"version": 1, "refs": {".zgroup": "{\"zarr_format\": 2}", "x/.zarray": "{}",
      "x/0": ["http://h/a.bin", 0, 4], "x/1": ["http://h/b.bin", 2, 4], "x/2": ["http://h/c.bin", 0, 10],
      "x/3": ["http://h/a.bin", 4, 4]}})";
  catalog.datasets.push_back(ds);
  const DaemonConfig config = MakeDaemonConfig(Options{});
  CatalogTree tree(catalog, MakeDatasetLoader(&catalog, &stack, &config, 0), OneLoadedAtATime(), 0);
  const CacheStats& cs = stack.cache->stats();
  EXPECT_EQ(cs.object_checks.load(), 0u);  // nothing is checked before a load

  const uint64_t ds_root = (uint64_t{1} << CatalogTree::kDatasetShift) + 1;
  ASSERT_TRUE(tree.Lookup(ds_root, "x").ok());  // loads the dataset
  ASSERT_TRUE(tree.loaded(0));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (cs.object_checks.load() < urls.size() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(cs.object_checks.load(), urls.size());  // each object once
  EXPECT_EQ(origin->size_calls(), urls.size());
  EXPECT_EQ(origin->request_count(), 0u);  // asked about, not read
}

}  // namespace
}  // namespace zm
