// Unit tests of fs/prefetcher: which chunks a walk prefetches (Zarr v2 and
// v3 keys), how the window grows and restarts, coalescing of neighbouring
// chunks into one request, sequential reads of large files, and the
// disabled switch.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "cache/block_store.h"
#include "cache/read_through.h"
#include "fs/filesystem.h"
#include "fs/prefetcher.h"
#include "refs/reference_loader.h"
#include "tests/unit/fake_origin.h"

namespace zm {
namespace {

using testing::FakeOrigin;

constexpr uint64_t kChunk = 1000;

// An array "a" of 4 x 8 chunks ("t.x" keys), every chunk kChunk bytes laid
// out in key order in one object, plus a nested-key array "n" ("t/x") and a
// large whole file "big".
std::string MakeJson(uint64_t gap) {
  std::string j = R"({"a/.zarray": "{\"shape\": [4, 8], \"chunks\": [1, 1], \"dtype\": \"<f4\"}",
                      "n/.zarray": "{\"shape\": [4, 8], \"chunks\": [1, 1], \"dtype\": \"<f4\", \"dimension_separator\": \"/\"}",
                      "big": ["mem://big", 0, 20000000])";
  for (int t = 0; t < 4; ++t)
    for (int x = 0; x < 8; ++x) {
      uint64_t off = (t * 8 + x) * (kChunk + gap);
      j += ",\n\"a/" + std::to_string(t) + "." + std::to_string(x) + "\": [\"mem://obj\", " +
           std::to_string(off) + ", " + std::to_string(kChunk) + "]";
      j += ",\n\"n/" + std::to_string(t) + "/" + std::to_string(x) + "\": [\"mem://nested\", " +
           std::to_string(off) + ", " + std::to_string(kChunk) + "]";
    }
  return j + "}";
}

class PrefetchTest : public ::testing::Test {
 protected:
  void Build(uint64_t gap, bool enabled = true) {
    origin_.Set("mem://obj", std::string(40 * (kChunk + gap), 'o'));
    origin_.Set("mem://nested", std::string(40 * (kChunk + gap), 'n'));
    origin_.Set("mem://big", std::string(20000000, 'b'));
    auto idx = ParseReferences(MakeJson(gap), "");
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    index_ = std::move(idx).value();
    memory_ = NewMemoryBlockStore(256_MiB);
    ReadThroughOptions ro;
    ro.coalesce_gap = 64_KiB;
    cache_ = std::make_unique<ReadThroughCache>(&origin_, memory_.get(), nullptr, ro);
    PrefetchOptions po;
    po.enabled = enabled;
    po.max_chunks = 8;
    prefetcher_ = std::make_unique<Prefetcher>(&index_, cache_.get(), po);
    fs_ = std::make_unique<Filesystem>(&index_, cache_.get());
    fs_->set_prefetcher(prefetcher_.get());
  }

  // Reads a whole chunk file like a reader would, then lets prefetches land.
  void ReadKey(const std::string& key) {
    auto f = index_.FindKey(key);
    ASSERT_TRUE(f) << key;
    uint64_t ino = Filesystem::kRootIno + index_.dir_count() + *f;
    auto r = fs_->Read(ino, 0, kChunk);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), kChunk);
    cache_->WaitForPrefetches();
  }

  // Object offsets requested so far (each request's first byte).
  std::set<uint64_t> Offsets(const std::string& url) const {
    std::set<uint64_t> out;
    for (const auto& r : origin_.requests())
      if (r.url == url) out.insert(r.range.offset);
    return out;
  }
  // Whether some request of `url` covered object byte `off`.
  bool Covered(const std::string& url, uint64_t off) const {
    for (const auto& r : origin_.requests())
      if (r.url == url && r.range.offset <= off && off < r.range.end()) return true;
    return false;
  }
  uint64_t BytesFetched(const std::string& url) const {
    uint64_t n = 0;
    for (const auto& r : origin_.requests())
      if (r.url == url) n += r.range.length;
    return n;
  }

  FakeOrigin origin_;
  ReferenceIndex index_;
  std::unique_ptr<BlockStore> memory_;
  std::unique_ptr<ReadThroughCache> cache_;
  std::unique_ptr<Prefetcher> prefetcher_;
  std::unique_ptr<Filesystem> fs_;
};

TEST_F(PrefetchTest, SequentialWalkPrefetchesAheadAndServesFromCache) {
  Build(/*gap=*/100);
  ReadKey("a/0.0");
  ReadKey("a/0.1");  // step 1 seen once: no speculation yet
  EXPECT_EQ(origin_.request_count(), 2u);
  ReadKey("a/0.2");  // step 1 again: prefetch the next 8 chunks
  EXPECT_EQ(origin_.request_count(), 4u) << "three demand reads and one coalesced prefetch";
  EXPECT_GE(cache_->stats().prefetch_bytes.load(), 8 * kChunk);
  // The prefetched chunks are served without new demand requests; the walk
  // keeps prefetching ahead.
  uint64_t misses_before = cache_->stats().misses.load();
  ReadKey("a/0.3");
  ReadKey("a/0.4");
  EXPECT_EQ(cache_->stats().misses.load(), misses_before) << "0.3 and 0.4 were prefetched";
  // Walking the whole array: every chunk fetched exactly once.
  for (int t = 0; t < 4; ++t)
    for (int x = 0; x < 8; ++x) ReadKey("a/" + std::to_string(t) + "." + std::to_string(x));
  // Coalescing also fetches the 100-byte gaps between neighbours.
  EXPECT_LE(BytesFetched("mem://obj"), 32 * (kChunk + 100)) << "no chunk fetched twice";
  EXPECT_LT(origin_.request_count(), 16u) << "neighbouring chunks were coalesced";
}

TEST_F(PrefetchTest, PixelDrillFollowsTheStride) {
  Build(/*gap=*/0);
  ReadKey("a/0.3");
  ReadKey("a/1.3");  // step of one row (8 chunks)
  EXPECT_FALSE(Covered("mem://obj", (2 * 8 + 3) * kChunk)) << "no speculation on one step";
  ReadKey("a/2.3");  // the step holds
  EXPECT_TRUE(Covered("mem://obj", (3 * 8 + 3) * kChunk)) << "3.3 prefetched";
  // Requests start only at chunks of the drill's column (the gaps between
  // them are small enough here to be coalesced).
  for (uint64_t off : Offsets("mem://obj")) EXPECT_EQ((off / kChunk) % 8, 3u) << off;
}

// A drill through two variables of one group (same grid): the second is
// fetched ahead from its first read, its walk taken from the first's; a
// sibling read elsewhere prefetches nothing.
TEST_F(PrefetchTest, DrillOfASecondVariableFollowsTheFirst) {
  Build(/*gap=*/0);
  ReadKey("a/0.3");
  ReadKey("a/1.3");
  ReadKey("a/2.3");
  ReadKey("n/0/6");  // another column: no continuation
  EXPECT_FALSE(Covered("mem://nested", (1 * 8 + 6) * kChunk));
  ReadKey("n/0/3");
  EXPECT_TRUE(Covered("mem://nested", (1 * 8 + 3) * kChunk)) << "n/1/3 fetched after n's first read of the line";
  EXPECT_TRUE(Covered("mem://nested", (3 * 8 + 3) * kChunk));
  for (uint64_t off : Offsets("mem://nested")) EXPECT_TRUE(off / kChunk % 8 == 3 || off / kChunk == 6) << off;
}

TEST_F(PrefetchTest, DistantChunksAreNotCoalesced) {
  Build(/*gap=*/200 * 1024);  // gaps above the 64 KiB threshold
  ReadKey("a/0.0");
  ReadKey("a/0.1");
  cache_->WaitForPrefetches();
  for (const auto& r : origin_.requests()) EXPECT_EQ(r.range.length, kChunk);
}

TEST_F(PrefetchTest, ChangingStepRestartsTheWindow) {
  Build(0);
  ReadKey("a/0.0");
  ReadKey("a/0.1");
  ReadKey("a/0.2");
  ReadKey("a/3.7");  // a jump: the new step (29) points outside the grid
  EXPECT_FALSE(Covered("mem://obj", (2 * 8 + 7) * kChunk));
  ReadKey("a/2.7");  // step -8: walking backwards up the column
  EXPECT_FALSE(Covered("mem://obj", (1 * 8 + 7) * kChunk)) << "a new step waits to repeat";
  ReadKey("a/1.7");  // -8 again
  EXPECT_TRUE(Covered("mem://obj", (0 * 8 + 7) * kChunk)) << "followed the new step";
}

TEST_F(PrefetchTest, NestedKeysUseTheArrayGrid) {
  Build(0);
  ReadKey("n/0/5");
  ReadKey("n/1/5");
  ReadKey("n/2/5");
  EXPECT_TRUE(Covered("mem://nested", (3 * 8 + 5) * kChunk));
}

// The zarr.json of a Zarr v3 array of 4 x 8 one-element chunks, its chunk
// keys in the default encoding with `separator`.
std::string V3ArrayJson(const char* separator) {
  return std::string(R"({"zarr_format": 3, "node_type": "array", "shape": [4, 8], )") +
         R"("data_type": "float32", )" +
         R"("chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1, 1]}}, )" +
         R"("chunk_key_encoding": {"name": "default", "configuration": {"separator": ")" +
         separator + R"("}}, "fill_value": 0, "codecs": [{"name": "bytes"}]})";
}

// A Zarr v3 store: a root group, array "v" with "c/t/x" chunk keys (chunks
// in "mem://v3") and array "d" with "c.t.x" keys (in "mem://v3dot"). The
// arrays' zarr.json documents are stored out of line, back to back in
// "mem://meta", like any other key.
std::string MakeV3Json() {
  const uint64_t v_size = V3ArrayJson("/").size(), d_size = V3ArrayJson(".").size();
  std::string j = R"({"zarr.json": "{\"zarr_format\": 3, \"node_type\": \"group\"}")";
  j += ",\n\"v/zarr.json\": [\"mem://meta\", 0, " + std::to_string(v_size) + "]";
  j += ",\n\"d/zarr.json\": [\"mem://meta\", " + std::to_string(v_size) + ", " +
       std::to_string(d_size) + "]";
  for (int t = 0; t < 4; ++t)
    for (int x = 0; x < 8; ++x) {
      const std::string ref =
          std::to_string((t * 8 + x) * kChunk) + ", " + std::to_string(kChunk) + "]";
      j += ",\n\"v/c/" + std::to_string(t) + "/" + std::to_string(x) + "\": [\"mem://v3\", " + ref;
      j += ",\n\"d/c." + std::to_string(t) + "." + std::to_string(x) + "\": [\"mem://v3dot\", " + ref;
    }
  return j + "}";
}

class PrefetchV3Test : public PrefetchTest {
 protected:
  void SetUp() override {
    origin_.Set("mem://v3", std::string(32 * kChunk, 'v'));
    origin_.Set("mem://v3dot", std::string(32 * kChunk, 'd'));
    origin_.Set("mem://meta", V3ArrayJson("/") + V3ArrayJson("."));
    auto idx = ParseReferences(MakeV3Json(), "");
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    index_ = std::move(idx).value();
    memory_ = NewMemoryBlockStore(256_MiB);
    cache_ = std::make_unique<ReadThroughCache>(&origin_, memory_.get(), nullptr,
                                                ReadThroughOptions{});
    PrefetchOptions po;
    po.max_chunks = 8;
    prefetcher_ = std::make_unique<Prefetcher>(&index_, cache_.get(), po);
    fs_ = std::make_unique<Filesystem>(&index_, cache_.get());
    fs_->set_prefetcher(prefetcher_.get());
  }
};

TEST_F(PrefetchV3Test, WalkOfDefaultEncodedKeysPrefetchesAhead) {
  ReadKey("v/c/0/0");
  ReadKey("v/c/0/1");
  EXPECT_EQ(cache_->stats().prefetch_requests.load(), 0u) << "one step is no pattern yet";
  ReadKey("v/c/0/2");
  EXPECT_GE(cache_->stats().prefetch_bytes.load(), 5 * kChunk) << "the rest of row 0 at least";
  // The next chunks in C order, across the row's end, came ahead of the reader.
  EXPECT_TRUE(Covered("mem://v3", (0 * 8 + 7) * kChunk));
  EXPECT_TRUE(Covered("mem://v3", (1 * 8 + 2) * kChunk));
  EXPECT_FALSE(Covered("mem://v3", (1 * 8 + 4) * kChunk)) << "a window of 8";
  uint64_t misses_before = cache_->stats().misses.load();
  ReadKey("v/c/0/3");
  ReadKey("v/c/1/0");
  EXPECT_EQ(cache_->stats().misses.load(), misses_before) << "served from what was prefetched";
}

TEST_F(PrefetchV3Test, PixelDrillWithDottedKeysFollowsTheStride) {
  ReadKey("d/c.0.5");
  ReadKey("d/c.1.5");
  EXPECT_FALSE(Covered("mem://v3dot", (2 * 8 + 5) * kChunk));
  ReadKey("d/c.2.5");
  EXPECT_TRUE(Covered("mem://v3dot", (3 * 8 + 5) * kChunk)) << "3.5 prefetched";
}

TEST_F(PrefetchV3Test, MetadataAndGroupReadsAreNoChunks) {
  for (int i = 0; i < 3; ++i) {
    for (const char* key : {"zarr.json", "v/zarr.json", "d/zarr.json"}) {
      auto f = index_.FindKey(key);
      ASSERT_TRUE(f) << key;
      uint64_t ino = Filesystem::kRootIno + index_.dir_count() + *f;
      ASSERT_TRUE(fs_->Read(ino, 0, 4096).ok()) << key;
    }
  }
  cache_->WaitForPrefetches();
  EXPECT_EQ(cache_->stats().prefetch_requests.load(), 0u);
}

TEST_F(PrefetchTest, SequentialReadsOfALargeFileFetchAhead) {
  Build(0);
  auto f = index_.FindKey("big");
  ASSERT_TRUE(f);
  uint64_t ino = Filesystem::kRootIno + index_.dir_count() + *f;
  const uint64_t piece = 128 * 1024;
  for (uint64_t off = 0; off < 4 * piece; off += piece) {
    auto r = fs_->Read(ino, off, piece);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(*r, std::string(piece, 'b'));
  }
  cache_->WaitForPrefetches();
  EXPECT_GE(cache_->stats().prefetch_bytes.load(), 2_MiB);
  // Far ahead of the reader is not fetched: the window is bounded.
  EXPECT_LE(BytesFetched("mem://big"), 3 * piece + 64_MiB + 1_MiB);
}

TEST_F(PrefetchTest, RandomReadsPrefetchNothingExtra) {
  Build(0);
  for (const char* k : {"a/2.5", "a/0.1", "a/3.2", "a/1.7"}) ReadKey(k);
  // Each jump has a different step: nothing is fetched but what is read.
  EXPECT_EQ(BytesFetched("mem://obj"), 4 * kChunk);
  EXPECT_EQ(cache_->stats().prefetch_requests.load(), 0u);
}

TEST_F(PrefetchTest, DisabledPrefetchesNothing) {
  Build(0, /*enabled=*/false);
  for (int x = 0; x < 8; ++x) ReadKey("a/0." + std::to_string(x));
  EXPECT_EQ(cache_->stats().prefetch_requests.load(), 0u);
  EXPECT_EQ(origin_.request_count(), 8u);
}


// A plain store's chunk keys are whole objects of unknown size: a walk
// over them prefetches ahead all the same (planning sizes each object),
// and an object the origin does not have (a missing chunk) is skipped.
TEST(PrefetchUnsized, WalkOverUnsizedObjectsPrefetchesAhead) {
  FakeOrigin origin;
  std::string json = R"({"w/.zarray": "{\"shape\": [16, 1], \"chunks\": [1, 1], \"dtype\": \"<f4\"}")";
  for (int t = 0; t < 16; ++t) {
    const std::string url = "mem://w/" + std::to_string(t);
    json += ",\n\"w/" + std::to_string(t) + ".0\": [\"" + url + "\"]";
    if (t != 6) origin.Set(url, std::string(kChunk + t, static_cast<char>('a' + t)));
  }
  auto idx = ParseReferences(json + "}", "");
  ASSERT_TRUE(idx.ok()) << idx.status().ToString();
  ReferenceIndex index = std::move(idx).value();
  auto memory = NewMemoryBlockStore(64_MiB);
  ReadThroughCache cache(&origin, memory.get(), nullptr, ReadThroughOptions{});
  PrefetchOptions po;
  po.max_chunks = 8;
  Prefetcher prefetcher(&index, &cache, po);
  Filesystem fs(&index, &cache);
  fs.set_prefetcher(&prefetcher);
  auto read = [&](int t) {
    auto f = index.FindKey("w/" + std::to_string(t) + ".0");
    ASSERT_TRUE(f);
    auto r = fs.Read(Filesystem::kRootIno + index.dir_count() + *f, 0, 2 * kChunk);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, std::string(kChunk + t, static_cast<char>('a' + t)));
    cache.WaitForPrefetches();
  };
  for (int t = 0; t < 3; ++t) read(t);
  // The walk is recognised at the third chunk: the next ones were fetched
  // by prefetch, each with its size in one request, the missing one asked
  // for once.
  std::map<std::string, int> fetched;
  for (const auto& r : origin.requests()) ++fetched[r.url];
  for (int t = 3; t < 8; ++t) EXPECT_EQ(fetched["mem://w/" + std::to_string(t)], 1) << t;
  EXPECT_EQ(origin.size_calls(), 3u) << "the sizes of the 3 chunks read, none for the prefetches";
  EXPECT_GT(cache.stats().prefetch_requests.load(), 0u);
  // Reading them now fetches none of them again (the walk goes on
  // prefetching further chunks).
  for (int t = 3; t < 6; ++t) read(t);
  for (int t = 3; t < 6; ++t) {
    size_t n = 0;
    for (const auto& r : origin.requests()) n += r.url == "mem://w/" + std::to_string(t);
    EXPECT_EQ(n, 1u) << "chunk " << t << " fetched once, by prefetch";
  }
}

}  // namespace
}  // namespace zm
