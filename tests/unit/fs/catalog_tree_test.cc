// Unit tests of fs/catalog_tree.h: the lazy CatalogTree's inode scheme, loading
// and release, against in-memory datasets.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fs/catalog_tree.h"
#include "fs/filesystem.h"
#include "refs/catalog.h"
#include "refs/reference_loader.h"
#include "tests/unit/fs/catalog_tree_util.h"

namespace zm {
namespace {

using testing::OneLoadedAtATime;

// ---- CatalogTree -----------------------------------------------------------

struct FakeDataset {
  ReferenceIndex index;
  std::unique_ptr<Filesystem> fs;
};

Catalog ThreeDatasets() {
  Catalog c;
  c.directories = {{"dir"}};
  for (auto p : std::vector<std::vector<std::string>>{{"a"}, {"dir", "b"}, {"dir", "c"}}) {
    CatalogDataset d;
    d.path = p;
    c.datasets.push_back(d);
  }
  return c;
}

struct Loader {
  std::atomic<int> loads{0};
  std::atomic<int> delay_ms{0};
  std::atomic<bool> fail{false};
  DatasetLoader Get() {
    return [this](size_t d) -> Result<LoadedDataset> {
      ++loads;
      if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
      if (fail) return IoError("origin down");
      auto ds = std::make_shared<FakeDataset>();
      auto idx = ParseReferences(R"({".zgroup": "{\"zarr_format\": 2}", "x/.zarray": "{}", "x/0": "base64:AAEC", "id": ")" +
                                     std::to_string(d) + R"("})",
                                 "");
      if (!idx.ok()) return idx.status();
      ds->index = std::move(idx).value();
      ds->fs = std::make_unique<Filesystem>(&ds->index, nullptr);
      LoadedDataset out;
      out.tree = std::shared_ptr<const Tree>(ds, ds->fs.get());
      out.bytes = 100;
      return out;
    };
  }
};

TEST(CatalogTree, LayoutWithoutLoading) {
  Loader l;
  CatalogTree t(ThreeDatasets(), l.Get(), {}, 0);
  std::vector<std::string> names;
  ASSERT_TRUE(t.ReadDir(Tree::kRootIno, 0, [&](std::string_view n, const Attr& a, uint64_t) {
    names.emplace_back(n);
    EXPECT_TRUE(a.is_dir);
    return true;
  }).ok());
  EXPECT_EQ(names, (std::vector<std::string>{".", "..", "a", "dir"}));
  auto a = t.Lookup(Tree::kRootIno, "a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->ino, (uint64_t{1} << CatalogTree::kDatasetShift) + 1);
  auto dir = t.Lookup(Tree::kRootIno, "dir");
  ASSERT_TRUE(dir.ok());
  auto c = t.Lookup(dir->ino, "c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ino, (uint64_t{3} << CatalogTree::kDatasetShift) + 1);
  EXPECT_TRUE(t.GetAttr(c->ino).ok());
  EXPECT_EQ(t.Lookup(c->ino, "..")->ino, dir->ino);
  EXPECT_EQ(l.loads, 0);  // names and stat of dataset directories load nothing
  EXPECT_EQ(t.Lookup(Tree::kRootIno, "zz").status().code(), Code::kNotFound);
  EXPECT_EQ(t.GetAttr(uint64_t{9} << CatalogTree::kDatasetShift).status().code(), Code::kNotFound);
}

TEST(CatalogTree, LoadOnAccessStableInodesAcrossRelease) {
  Loader l;
  CatalogTree t(ThreeDatasets(), l.Get(), OneLoadedAtATime(), 0);
  const uint64_t a_root = (uint64_t{1} << CatalogTree::kDatasetShift) + 1;
  const uint64_t b_root = (uint64_t{2} << CatalogTree::kDatasetShift) + 1;
  auto x = t.Lookup(a_root, "x");
  ASSERT_TRUE(x.ok()) << x.status().message();
  EXPECT_EQ(x->ino >> CatalogTree::kDatasetShift, 1u);
  auto chunk = t.Lookup(x->ino, "0");
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(l.loads, 1);
  EXPECT_TRUE(t.loaded(0));
  ASSERT_TRUE(t.Lookup(b_root, "id").ok());  // loads b, releases a
  EXPECT_EQ(l.loads, 2);
  EXPECT_FALSE(t.loaded(0));
  EXPECT_EQ(t.stats().releases.load(), 1u);
  // The kernel still holds a's inodes: they work after the release.
  auto data = t.ReadSlices(chunk->ino, 0, 100);
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ(data->ToString(), std::string("\x00\x01\x02", 3));
  EXPECT_EQ(l.loads, 3);
  EXPECT_EQ(t.Lookup(x->ino, "0")->ino, chunk->ino);
  EXPECT_EQ(t.GetAttr(chunk->ino)->size, 3u);
  // ".." of a dataset's root is its catalog directory.
  std::vector<std::pair<std::string, uint64_t>> entries;
  ASSERT_TRUE(t.ReadDir(b_root, 0, [&](std::string_view n, const Attr& a, uint64_t) {
    entries.emplace_back(n, a.ino);
    return true;
  }).ok());
  EXPECT_EQ(entries[0], std::make_pair(std::string("."), b_root));
  EXPECT_EQ(entries[1].first, "..");
  EXPECT_EQ(entries[1].second, t.Lookup(Tree::kRootIno, "dir")->ino);
}

TEST(CatalogTree, SlicesKeepAReleasedDatasetAlive) {
  Loader l;
  CatalogTree t(ThreeDatasets(), l.Get(), OneLoadedAtATime(), 0);
  const uint64_t a_root = (uint64_t{1} << CatalogTree::kDatasetShift) + 1;
  auto id = t.Lookup(a_root, "id");
  ASSERT_TRUE(id.ok());
  auto data = t.ReadSlices(id->ino, 0, 10);
  ASSERT_TRUE(data.ok());
  ASSERT_TRUE(t.Lookup((uint64_t{2} << CatalogTree::kDatasetShift) + 1, "id").ok());
  EXPECT_FALSE(t.loaded(0));
  EXPECT_EQ(data->ToString(), "0");  // inline bytes of the released dataset
}

TEST(CatalogTree, ConcurrentFirstAccessLoadsOnce) {
  Loader l;
  l.delay_ms = 100;
  CatalogTree t(ThreeDatasets(), l.Get(), {}, 0);
  const uint64_t a_root = (uint64_t{1} << CatalogTree::kDatasetShift) + 1;
  const uint64_t b_root = (uint64_t{2} << CatalogTree::kDatasetShift) + 1;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] { ok += t.Lookup(a_root, "id").ok(); });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, 8);
  EXPECT_EQ(l.loads, 1);
  EXPECT_GE(t.stats().shared_waits.load(), 1u);
  // A load of one dataset does not block another's.
  l.delay_ms = 300;
  std::thread slow([&] { (void)t.Lookup(b_root, "id"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(t.Lookup(a_root, "id").ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
  slow.join();
}

TEST(CatalogTree, FailedLoadIsIoErrorNamingTheDatasetAndRetried) {
  Loader l;
  l.fail = true;
  CatalogTreeOptions o;
  o.retry_ms = 50;
  CatalogTree t(ThreeDatasets(), l.Get(), o, 0);
  const uint64_t c_root = (uint64_t{3} << CatalogTree::kDatasetShift) + 1;
  auto r = t.Lookup(c_root, "id");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIoError);
  EXPECT_EQ(r.status().message(), "dataset 'dir/c': origin down");
  EXPECT_FALSE(t.Lookup(c_root, "id").ok());
  EXPECT_EQ(l.loads, 1);  // remembered, not retried at once
  EXPECT_TRUE(t.Lookup((uint64_t{1} << CatalogTree::kDatasetShift) + 1, "id").status().code() ==
              Code::kIoError);
  l.fail = false;
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  EXPECT_TRUE(t.Lookup(c_root, "id").ok());
}

TEST(CatalogTree, IdleRelease) {
  Loader l;
  CatalogTreeOptions o;
  o.idle_seconds = 0;
  CatalogTree t(ThreeDatasets(), l.Get(), o, 0);
  ASSERT_TRUE(t.Lookup((uint64_t{1} << CatalogTree::kDatasetShift) + 1, "id").ok());
  EXPECT_EQ(t.stats().loaded_bytes.load(), 100u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  t.ReleaseIdle(std::chrono::milliseconds(10));
  EXPECT_FALSE(t.loaded(0));
  EXPECT_EQ(t.stats().loaded_bytes.load(), 0u);
}

}  // namespace
}  // namespace zm
