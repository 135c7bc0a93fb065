// Unit tests of cache/read_through.h: the read-through cache over a fake origin,
// with and without memory and disk tiers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_store.h"
#include "cache/read_through.h"
#include "tests/unit/cache/block_stores.h"
#include "tests/unit/fake_origin.h"
#include "tests/unit/temp_dir.h"

namespace zm {
namespace {

using ::testing::HasSubstr;
using testing::FakeOrigin;
using testing::OriginRequest;
using testing::RandomBytes;
using testing::TempDir;
using testing::MakeBlock;
using testing::OpenLmdb;
using testing::OpenStore;

const std::string kUrl = "http://h/obj.nc";

struct Fixture {
  explicit Fixture(uint64_t object_size = 1_MiB, uint32_t seed = 42)
      : object(RandomBytes(object_size, seed)) {
    origin.Set(kUrl, object);
  }
  std::string Expected(ByteRange region, uint64_t pos, uint64_t len) const {
    if (pos >= region.length) return "";
    len = std::min(len, region.length - pos);
    return object.substr(region.offset + pos, len);
  }
  std::string object;
  FakeOrigin origin;
};

ReadThroughOptions Opts(uint64_t block, uint64_t whole) {
  ReadThroughOptions o;
  o.block_size = block;
  o.whole_fetch_limit = whole;
  return o;
}

// For tests of what a read right after a failure does.
ReadThroughOptions NoFailureMemory(ReadThroughOptions o) {
  o.failure_memory_ms = 0;
  return o;
}

std::string MustRead(ReadThroughCache& c, ByteRange region, uint64_t pos, uint64_t len) {
  auto r = c.Read(kUrl, region, pos, len);
  EXPECT_TRUE(r.ok()) << r.status().ToString() << " pos=" << pos << " len=" << len;
  return r.ok() ? *r : "<error>";
}

TEST(ReadThrough, ExhaustiveSmallNoTiers) {
  Fixture fx(4096);
  ReadThroughCache cache(&fx.origin, nullptr, nullptr, Opts(7, 0));
  for (uint64_t L = 0; L <= 40; ++L) {
    ByteRange region{3, L};
    for (uint64_t pos = 0; pos <= L + 2; ++pos)
      for (uint64_t len = 0; len <= L + 2; ++len)
        ASSERT_EQ(MustRead(cache, region, pos, len), fx.Expected(region, pos, len))
            << "L=" << L << " pos=" << pos << " len=" << len;
  }
}

TEST(ReadThrough, ExhaustiveSmallWithMemoryTier) {
  Fixture fx(4096);
  for (uint64_t whole : {uint64_t{0}, uint64_t{20}, uint64_t{1000}}) {
    for (uint64_t L = 0; L <= 40; ++L) {
      auto mem = NewMemoryBlockStore(1_MiB);
      ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(7, whole));
      ByteRange region{11, L};
      // Read in a scrambled order so every pattern of held/missing blocks occurs.
      std::vector<std::pair<uint64_t, uint64_t>> combos;
      for (uint64_t pos = 0; pos <= L + 2; ++pos)
        for (uint64_t len = 0; len <= L + 2; ++len) combos.emplace_back(pos, len);
      std::shuffle(combos.begin(), combos.end(), std::mt19937(uint32_t(L)));
      for (auto [pos, len] : combos)
        ASSERT_EQ(MustRead(cache, region, pos, len), fx.Expected(region, pos, len))
            << "whole=" << whole << " L=" << L << " pos=" << pos << " len=" << len;
      // Everything is cached now: each block was fetched at most once.
      uint64_t blocks = (L + 6) / 7;
      EXPECT_LE(cache.stats().origin_bytes.load(), L) << "L=" << L;
      EXPECT_LE(cache.stats().origin_requests.load(), blocks) << "L=" << L;
    }
  }
}

TEST(ReadThrough, CrossBlockReads4KiB) {
  Fixture fx(1_MiB);
  auto mem = NewMemoryBlockStore(64_MiB);
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(4_KiB, 0));
  ByteRange region{12345, 300'000};
  std::mt19937 rng(3);
  for (int i = 0; i < 3000; ++i) {
    uint64_t pos = rng() % (region.length + 100);
    uint64_t len = rng() % 3 == 0 ? rng() % 50'000 : rng() % 9000;
    ASSERT_EQ(MustRead(cache, region, pos, len), fx.Expected(region, pos, len))
        << "pos=" << pos << " len=" << len;
  }
  // Reads straddling every block boundary of the first 20 blocks.
  for (uint64_t b = 1; b < 20; ++b)
    for (uint64_t back : {1, 2, 100})
      for (uint64_t len : {1, 2, 200, 4096, 4097, 8193})
        ASSERT_EQ(MustRead(cache, region, b * 4096 - back, len),
                  fx.Expected(region, b * 4096 - back, len));
  EXPECT_LE(cache.stats().origin_bytes.load(), region.length) << "no block fetched twice";
}

TEST(ReadThrough, ClipsAtRegionEnd) {
  Fixture fx(100'000);
  ReadThroughCache cache(&fx.origin, nullptr, nullptr, Opts(4_KiB, 0));
  ByteRange region{1000, 5000};
  EXPECT_EQ(MustRead(cache, region, 4990, 100), fx.object.substr(5990, 10));
  EXPECT_EQ(MustRead(cache, region, 0, UINT64_MAX), fx.object.substr(1000, 5000));
  EXPECT_EQ(MustRead(cache, region, 4999, UINT64_MAX), fx.object.substr(5999, 1));
  fx.origin.ClearRequests();
  EXPECT_EQ(MustRead(cache, region, 5000, 10), "");
  EXPECT_EQ(MustRead(cache, region, 6000, 10), "");
  EXPECT_EQ(MustRead(cache, region, UINT64_MAX, UINT64_MAX), "");
  EXPECT_EQ(MustRead(cache, region, 10, 0), "");
  EXPECT_EQ(MustRead(cache, ByteRange{1000, 0}, 0, 10), "");
  EXPECT_EQ(fx.origin.request_count(), 0u) << "empty reads do not touch the origin";
  // Never reads outside the region.
  for (const auto& r : fx.origin.requests()) {
    EXPECT_GE(r.range.offset, region.offset);
    EXPECT_LE(r.range.end(), region.end());
  }
}

TEST(ReadThrough, NeverFetchesOutsideTheRegion) {
  Fixture fx(200'000);
  auto mem = NewMemoryBlockStore(16_MiB);
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(4_KiB, 16_KiB));
  std::vector<ByteRange> regions = {{0, 10}, {10, 5000}, {5010, 4096}, {9106, 70'000}, {79'106, 1}};
  std::mt19937 rng(8);
  for (int i = 0; i < 500; ++i) {
    const ByteRange& region = regions[rng() % regions.size()];
    uint64_t pos = rng() % (region.length + 1), len = rng() % 10'000;
    ASSERT_EQ(MustRead(cache, region, pos, len), fx.Expected(region, pos, len));
  }
  for (const auto& r : fx.origin.requests()) {
    bool inside = false;
    for (const auto& region : regions)
      inside |= r.range.offset >= region.offset && r.range.end() <= region.end();
    EXPECT_TRUE(inside) << r;
  }
}

TEST(ReadThrough, SmallRegionFetchedWholeOnFirstRead) {
  Fixture fx(100'000);
  auto mem = NewMemoryBlockStore(16_MiB);
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(4_KiB, 64_KiB));
  ByteRange region{100, 10'000};  // three blocks, under the whole-fetch limit
  EXPECT_EQ(MustRead(cache, region, 5000, 10), fx.Expected(region, 5000, 10));
  EXPECT_EQ(fx.origin.requests(), (std::vector<OriginRequest>{{kUrl, {100, 10'000}}}));
  for (uint64_t pos = 0; pos <= 10'000; pos += 97)
    for (uint64_t len : {1, 100, 4096, 20'000})
      ASSERT_EQ(MustRead(cache, region, pos, len), fx.Expected(region, pos, len));
  EXPECT_EQ(fx.origin.request_count(), 1u);
  EXPECT_EQ(cache.stats().origin_requests.load(), 1u);
  EXPECT_EQ(cache.stats().origin_bytes.load(), 10'000u);
  EXPECT_GE(cache.stats().misses.load(), 1u);
  EXPECT_LE(cache.stats().misses.load(), 3u);
  EXPECT_GT(cache.stats().memory_hits.load(), 100u);
}

TEST(ReadThrough, RegionExactlyAtWholeFetchLimit) {
  Fixture fx(100'000);
  auto mem = NewMemoryBlockStore(16_MiB);
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(4_KiB, 16_KiB));
  EXPECT_EQ(MustRead(cache, ByteRange{0, 16_KiB}, 0, 1), fx.object.substr(0, 1));
  EXPECT_EQ(fx.origin.requests(), (std::vector<OriginRequest>{{kUrl, {0, 16_KiB}}}));
  fx.origin.ClearRequests();
  EXPECT_EQ(MustRead(cache, ByteRange{20'000, 16_KiB + 1}, 0, 1), fx.object.substr(20'000, 1));
  EXPECT_EQ(fx.origin.requests(), (std::vector<OriginRequest>{{kUrl, {20'000, 4096}}}));
}

TEST(ReadThrough, LargeRegionFetchesOnlyMissingBlocksCoalesced) {
  Fixture fx(1_MiB);
  auto mem = NewMemoryBlockStore(64_MiB);
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(4096, 8_KiB));
  const uint64_t B = 4096, off = 1000;
  ByteRange region{off, 100 * B + 100};  // 101 blocks, the last one 100 bytes

  EXPECT_EQ(MustRead(cache, region, 3 * B + 10, 20), fx.Expected(region, 3 * B + 10, 20));
  EXPECT_EQ(fx.origin.requests(), (std::vector<OriginRequest>{{kUrl, {off + 3 * B, B}}}));
  fx.origin.ClearRequests();

  // Blocks 1..6; 3 is held: two requests, for 1-2 and 4-6.
  EXPECT_EQ(MustRead(cache, region, 1 * B, 6 * B), fx.Expected(region, B, 6 * B));
  EXPECT_EQ(fx.origin.requests(), (std::vector<OriginRequest>{{kUrl, {off + 1 * B, 2 * B}},
                                                              {kUrl, {off + 4 * B, 3 * B}}}));
  fx.origin.ClearRequests();

  // Blocks 0..7: only 0 and 7 are missing.
  EXPECT_EQ(MustRead(cache, region, 5, 8 * B - 10), fx.Expected(region, 5, 8 * B - 10));
  EXPECT_EQ(fx.origin.requests(),
            (std::vector<OriginRequest>{{kUrl, {off, B}}, {kUrl, {off + 7 * B, B}}}));
  fx.origin.ClearRequests();

  // The short last block.
  EXPECT_EQ(MustRead(cache, region, region.length - 50, 1000), fx.Expected(region, region.length - 50, 1000));
  EXPECT_EQ(fx.origin.requests(), (std::vector<OriginRequest>{{kUrl, {off + 100 * B, 100}}}));
  fx.origin.ClearRequests();

  // A long read over blocks 5..20: 5-7 held, 8..20 in one request.
  EXPECT_EQ(MustRead(cache, region, 5 * B, 16 * B), fx.Expected(region, 5 * B, 16 * B));
  EXPECT_EQ(fx.origin.requests(), (std::vector<OriginRequest>{{kUrl, {off + 8 * B, 13 * B}}}));
  fx.origin.ClearRequests();

  // Everything read so far is served from memory.
  EXPECT_EQ(MustRead(cache, region, 0, 21 * B), fx.Expected(region, 0, 21 * B));
  EXPECT_EQ(MustRead(cache, region, 100 * B, 100), fx.Expected(region, 100 * B, 100));
  EXPECT_EQ(fx.origin.request_count(), 0u);
}

TEST(ReadThrough, SecondReadServedFromMemory) {
  Fixture fx(1_MiB);
  auto mem = NewMemoryBlockStore(64_MiB);
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(64_KiB, 0));
  ByteRange region{0, 1_MiB};
  std::string first = MustRead(cache, region, 100'000, 300'000);
  size_t requests = fx.origin.request_count();
  uint64_t hits = cache.stats().memory_hits.load();
  std::string second = MustRead(cache, region, 100'000, 300'000);
  EXPECT_TRUE(first == second);
  EXPECT_TRUE(second == fx.Expected(region, 100'000, 300'000));
  EXPECT_EQ(fx.origin.request_count(), requests);
  EXPECT_EQ(cache.stats().memory_hits.load() - hits, 6u) << "blocks 1..6 of 64 KiB";
}

// A region dropped from memory is read again from the disk tier (which
// keeps it), or from the origin without one; other regions stay in memory.
TEST(ReadThrough, DropFromMemoryLeavesOtherRegionsAndTheDiskTier) {
  TempDir dir;
  Fixture fx(1_MiB);
  auto mem = NewMemoryBlockStore(64_MiB);
  auto disk = OpenLmdb(dir.path());
  ReadThroughCache cache(&fx.origin, mem.get(), disk.get(), Opts(64_KiB, 0));
  ByteRange a{0, 200'000}, b{300'000, 100'000};
  MustRead(cache, a, 0, a.length);
  MustRead(cache, b, 0, b.length);
  disk->Flush();
  const size_t requests = fx.origin.request_count();
  const uint64_t disk_hits = cache.stats().disk_hits.load();
  cache.DropFromMemory(kUrl, a);
  EXPECT_TRUE(MustRead(cache, a, 0, a.length) == fx.Expected(a, 0, a.length));
  EXPECT_EQ(cache.stats().disk_hits.load() - disk_hits, 4u) << "a's 4 blocks, from disk";
  const uint64_t memory_hits = cache.stats().memory_hits.load();
  EXPECT_TRUE(MustRead(cache, b, 0, b.length) == fx.Expected(b, 0, b.length));
  EXPECT_EQ(cache.stats().memory_hits.load() - memory_hits, 2u) << "b's 2 blocks, still in memory";
  EXPECT_EQ(fx.origin.request_count(), requests);

  ReadThroughCache memory_only(&fx.origin, mem.get(), nullptr, Opts(64_KiB, 0));
  MustRead(memory_only, a, 0, a.length);
  const size_t before = fx.origin.request_count();
  memory_only.DropFromMemory(kUrl, a);
  EXPECT_TRUE(MustRead(memory_only, a, 0, a.length) == fx.Expected(a, 0, a.length));
  EXPECT_GT(fx.origin.request_count(), before) << "dropped: fetched again";
}

// ObjectForReading learns the size with the first block, in one request,
// and keeps the block where a read of the whole object finds it, under the
// object's version; an object whose size is known is not asked again. An
// origin answering with the wrong number of bytes is an error, and nothing
// of it is kept.
TEST(ReadThrough, ObjectForReadingKeepsTheFirstBlock) {
  Fixture fx(300'000);
  fx.origin.SetVersion(kUrl, "v1");
  auto mem = NewMemoryBlockStore(64_MiB);
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(128_KiB, 0));
  auto info = cache.ObjectForReading(kUrl);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, fx.object.size());
  EXPECT_EQ(info->version, "v1");
  EXPECT_EQ(fx.origin.head_calls(), 1u);
  EXPECT_EQ(fx.origin.size_calls(), 0u) << "no Stat besides";
  ByteRange whole{0, info->size};
  EXPECT_TRUE(MustRead(cache, whole, 0, 128_KiB) == fx.Expected(whole, 0, 128_KiB));
  EXPECT_EQ(fx.origin.request_count(), 1u) << "block 0 came with the size";
  EXPECT_EQ(cache.stats().object_checks.load(), 1u);
  EXPECT_EQ(cache.stats().origin_bytes.load(), 128_KiB);
  EXPECT_TRUE(MustRead(cache, whole, 0, whole.length) == fx.object);
  EXPECT_EQ(fx.origin.request_count(), 2u) << "the other blocks, in one request";
  ASSERT_TRUE(cache.ObjectForReading(kUrl).ok());
  ASSERT_TRUE(cache.Size(kUrl).ok());
  EXPECT_EQ(fx.origin.head_calls(), 1u);
  EXPECT_EQ(fx.origin.request_count(), 2u);

  const std::string small_url = "http://h/small.nc", bad_url = "http://h/bad.nc";
  fx.origin.Set(small_url, "tiny");
  ASSERT_EQ(cache.ObjectForReading(small_url)->size, 4u);
  EXPECT_EQ(*cache.Read(small_url, ByteRange{0, 4}, 0, 4), "tiny");
  fx.origin.Set(bad_url, std::string(1000, 'x'));
  fx.origin.ReturnWrongLength(bad_url, -1);
  auto bad = cache.ObjectForReading(bad_url);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kCorruption) << bad.status().ToString();
  fx.origin.ClearFailures();
  EXPECT_EQ(*cache.Read(bad_url, ByteRange{0, 1000}, 0, 1000), std::string(1000, 'x'));
  auto missing = cache.ObjectForReading("http://h/missing.nc");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

// A prefetch of an object of unknown size that wants its start sends one
// request: the first block comes with the size.
TEST(ReadThrough, UnsizedPrefetchFetchesTheSizeWithTheFirstBlock) {
  Fixture fx(100'000);
  auto mem = NewMemoryBlockStore(64_MiB);
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(1_MiB, 8_MiB));
  cache.Prefetch({PrefetchTarget{kUrl, ByteRange{0, kUnknownObjectLength}}});
  cache.WaitForPrefetches();
  EXPECT_EQ(fx.origin.request_count(), 1u);
  EXPECT_EQ(fx.origin.size_calls(), 0u);
  auto size = cache.Size(kUrl);
  ASSERT_TRUE(size.ok());
  EXPECT_TRUE(MustRead(cache, ByteRange{0, *size}, 0, *size) == fx.object);
  EXPECT_EQ(fx.origin.request_count(), 1u);
}

TEST(ReadThrough, DiskTierServesAfterRestart) {
  TempDir dir;
  Fixture fx(1_MiB);
  ByteRange region{4096, 900'000};
  std::string want = fx.Expected(region, 0, region.length);
  {
    auto disk = OpenLmdb(dir.path());
    ReadThroughCache cache(&fx.origin, nullptr, disk.get(), Opts(64_KiB, 0));
    EXPECT_TRUE(MustRead(cache, region, 0, region.length) == want);
    disk->Flush();
  }
  size_t before = fx.origin.request_count();
  EXPECT_GT(before, 0u);
  {
    auto disk = OpenLmdb(dir.path());
    auto mem = NewMemoryBlockStore(64_MiB);
    ReadThroughCache cache(&fx.origin, mem.get(), disk.get(), Opts(64_KiB, 0));
    EXPECT_TRUE(MustRead(cache, region, 0, region.length) == want);
    EXPECT_EQ(fx.origin.request_count(), before) << "served from disk, not the origin";
    const uint64_t nblocks = (region.length + 64_KiB - 1) / 64_KiB;
    EXPECT_EQ(cache.stats().disk_hits.load(), nblocks);
    EXPECT_EQ(cache.stats().misses.load(), 0u);
    // Disk hits were promoted to memory.
    EXPECT_TRUE(MustRead(cache, region, 0, region.length) == want);
    EXPECT_EQ(cache.stats().memory_hits.load(), nblocks);
    EXPECT_EQ(cache.stats().disk_hits.load(), nblocks);
  }
  {
    // A different block size means different blocks: nothing is reused
    // wrongly, the origin is asked again.
    auto disk = OpenLmdb(dir.path());
    ReadThroughCache cache(&fx.origin, nullptr, disk.get(), Opts(16_KiB, 0));
    EXPECT_TRUE(MustRead(cache, region, 1000, 50'000) == fx.Expected(region, 1000, 50'000));
    EXPECT_GT(fx.origin.request_count(), before);
  }
}

TEST(ReadThrough, OriginErrorGivesNoPartialData) {
  Fixture fx(1_MiB);
  auto mem = NewMemoryBlockStore(64_MiB);
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, NoFailureMemory(Opts(4_KiB, 0)));
  ByteRange region{0, 100'000};
  MustRead(cache, region, 0, 4096);  // block 0 cached
  fx.origin.FailAlways(kUrl, Unavailable("connection reset"));
  auto r = cache.Read(kUrl, region, 0, 3 * 4096);
  ASSERT_FALSE(r.ok()) << "returned " << r->size() << " bytes";
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("connection reset"));
  EXPECT_EQ(cache.stats().origin_errors.load(), 1u);

  fx.origin.FailAlways(kUrl, NotFound("HTTP 404"));
  r = cache.Read(kUrl, region, 50'000, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  fx.origin.FailAlways(kUrl, Status(Code::kPermissionDenied, "HTTP 403"));
  r = cache.Read(kUrl, region, 50'000, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  fx.origin.FailAlways(kUrl, Corruption("bad Content-Range"));
  r = cache.Read(kUrl, region, 50'000, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_EQ(cache.stats().origin_errors.load(), 4u);

  // The cached block is still served; after recovery everything works.
  EXPECT_EQ(MustRead(cache, region, 0, 4096), fx.Expected(region, 0, 4096));
  fx.origin.ClearFailures();
  EXPECT_EQ(MustRead(cache, region, 0, 3 * 4096), fx.Expected(region, 0, 3 * 4096));
}

TEST(ReadThrough, TransientFailuresThenSuccess) {
  Fixture fx(100'000);
  ReadThroughCache cache(&fx.origin, nullptr, nullptr, NoFailureMemory(Opts(4_KiB, 0)));
  ByteRange region{0, 100'000};
  fx.origin.FailTimes(kUrl, 2, Unavailable("503"));
  for (int i = 0; i < 2; ++i) {
    auto r = cache.Read(kUrl, region, 10, 10);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().retriable());
  }
  EXPECT_EQ(MustRead(cache, region, 10, 10), fx.Expected(region, 10, 10));
  EXPECT_EQ(cache.stats().origin_errors.load(), 2u);
  EXPECT_EQ(fx.origin.request_count(), 3u) << "the cache layer itself does not retry";
}

TEST(ReadThrough, WrongLengthFromOriginIsCorruptionAndNotCached) {
  for (int64_t delta : {-1, 1, -4096}) {
    Fixture fx(100'000);
    auto mem = NewMemoryBlockStore(16_MiB);
    ReadThroughCache cache(&fx.origin, mem.get(), nullptr, NoFailureMemory(Opts(4_KiB, 64_KiB)));
    ByteRange region{500, 20'000};
    fx.origin.ReturnWrongLength(kUrl, delta);
    auto r = cache.Read(kUrl, region, 0, 100);
    ASSERT_FALSE(r.ok()) << "delta " << delta;
    EXPECT_EQ(r.status().code(), Code::kCorruption);
    EXPECT_THAT(r.status().message(), HasSubstr(kUrl));
    fx.origin.ClearFailures();
    fx.origin.ClearRequests();
    EXPECT_EQ(MustRead(cache, region, 0, 20'000), fx.Expected(region, 0, 20'000));
    EXPECT_EQ(fx.origin.request_count(), 1u) << "nothing of the bad answer was cached";
  }
}

// Blocks outside the span asked for (fetched only because the region is
// small) are a bonus: their failure does not fail the read.
TEST(ReadThrough, FailedBonusFetchIsNotAnError) {
  Fixture fx(100'000);
  auto mem = NewMemoryBlockStore(16_MiB);
  const uint64_t B = 4096;
  ByteRange region{1000, 3 * B};
  // Block 1 is already cached; block 0's fetch fails.
  mem->Put(MakeBlockKey(kUrl, ByteRange{1000 + B, B}), MakeBlock(fx.object.substr(1000 + B, B)));
  fx.origin.FailIf([](const OriginRequest& r) { return r.range.offset == 1000; },
                   Unavailable("flaky"));
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(B, 64_KiB));
  EXPECT_EQ(MustRead(cache, region, B + 10, 2 * B), fx.Expected(region, B + 10, 2 * B));
  EXPECT_EQ(fx.origin.requests(), (std::vector<OriginRequest>{{kUrl, {1000, B}},
                                                              {kUrl, {1000 + 2 * B, B}}}));
  EXPECT_EQ(cache.stats().origin_errors.load(), 1u);
}

TEST(ReadThrough, ConcurrentReaders) {
  Fixture fx(2_MiB);
  auto mem = NewMemoryBlockStore(4_MiB);  // smaller than the data: evictions happen
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(16_KiB, 64_KiB));
  std::vector<ByteRange> regions = {{0, 40'000}, {40'000, 1'500'000}, {1'540'000, 500'000}};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t + 10);
      for (int i = 0; i < 400; ++i) {
        const ByteRange& region = regions[rng() % regions.size()];
        uint64_t pos = rng() % region.length, len = rng() % 70'000;
        auto r = cache.Read(kUrl, region, pos, len);
        if (!r.ok() || *r != fx.Expected(region, pos, len)) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// Polls `pred` until it holds or `timeout` passes.
template <typename Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(ReadThrough, SingleFlightForConcurrentReadersOfABlock) {
  Fixture fx(100'000);
  auto mem = NewMemoryBlockStore(16_MiB);
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(4_KiB, 0));
  ByteRange region{0, 100'000};
  fx.origin.HoldIf([](const OriginRequest&) { return true; });
  std::string a, b;
  std::thread ta([&] { a = MustRead(cache, region, 100, 10); });
  ASSERT_TRUE(WaitUntil([&] { return fx.origin.held_count() == 1; }));
  std::thread tb([&] { b = MustRead(cache, region, 200, 10); });  // the same block
  bool waited = WaitUntil([&] { return cache.stats().inflight_waits.load() == 1; });
  fx.origin.ReleaseHeld();
  ta.join();
  tb.join();
  EXPECT_TRUE(waited) << "the second reader did not wait for the first one's request";
  EXPECT_EQ(a, fx.Expected(region, 100, 10));
  EXPECT_EQ(b, fx.Expected(region, 200, 10));
  EXPECT_EQ(fx.origin.request_count(), 1u);
}

// A shared tier that counts the keys it is asked for (a memory store
// underneath).
class CountingSharedStore : public BlockStore {
 public:
  Block Get(const BlockKey& key) override {
    asked_ += 1;
    return inner_->Get(key);
  }
  std::vector<Block> GetMany(const std::vector<BlockKey>& keys) override {
    asked_ += keys.size();
    return inner_->GetMany(keys);
  }
  void Put(const BlockKey& key, Block data) override { inner_->Put(key, std::move(data)); }
  size_t asked() const { return asked_.load(); }
  void ResetAsked() { asked_ = 0; }

 private:
  std::unique_ptr<BlockStore> inner_ = NewMemoryBlockStore(16_MiB);
  std::atomic<size_t> asked_{0};
};

// The shared tier is part of the single flight: of two concurrent readers
// of a missing block only the one that claimed it asks the shared tier and
// then the origin; the other waits for that.
TEST(ReadThrough, SharedTierIsAskedOnceByConcurrentReadersOfABlock) {
  Fixture fx(100'000);
  auto mem = NewMemoryBlockStore(16_MiB);
  CountingSharedStore shared;
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(4_KiB, 0), &shared);
  ByteRange region{0, 100'000};
  // The object's record is looked up once, by the first read of it.
  MustRead(cache, region, 50'000, 10);
  shared.ResetAsked();
  fx.origin.ClearRequests();
  fx.origin.HoldIf([](const OriginRequest&) { return true; });
  std::string a, b;
  std::thread ta([&] { a = MustRead(cache, region, 100, 10); });
  ASSERT_TRUE(WaitUntil([&] { return fx.origin.held_count() == 1; }));
  std::thread tb([&] { b = MustRead(cache, region, 200, 10); });  // the same block
  bool waited = WaitUntil([&] { return cache.stats().inflight_waits.load() == 1; });
  fx.origin.ReleaseHeld();
  ta.join();
  tb.join();
  EXPECT_TRUE(waited);
  EXPECT_EQ(a, fx.Expected(region, 100, 10));
  EXPECT_EQ(b, fx.Expected(region, 200, 10));
  EXPECT_EQ(fx.origin.request_count(), 1u);
  EXPECT_EQ(shared.asked(), 1u) << "the waiting reader asked the shared tier too";
}

// A small region is fetched whole on its first miss; the blocks of it that
// the shared tier holds come from there, and only the rest from the origin.
TEST(ReadThrough, WholeRegionFetchTakesWhatTheSharedTierHolds) {
  Fixture fx(100'000);
  ByteRange region{0, 40_KiB};  // 10 blocks of 4 KiB
  CountingSharedStore shared;
  {
    // Another host read blocks 4 to 9.
    auto mem = NewMemoryBlockStore(16_MiB);
    ReadThroughCache other(&fx.origin, mem.get(), nullptr, Opts(4_KiB, 0), &shared);
    MustRead(other, region, 16_KiB, 24_KiB);
  }
  fx.origin.ClearRequests();
  auto mem = NewMemoryBlockStore(16_MiB);
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, Opts(4_KiB, 1_MiB), &shared);
  EXPECT_EQ(MustRead(cache, region, 0, 10), fx.Expected(region, 0, 10));
  ASSERT_EQ(fx.origin.request_count(), 1u);
  EXPECT_EQ(fx.origin.requests()[0].range.offset, 0u);
  EXPECT_EQ(fx.origin.requests()[0].range.length, 16_KiB) << "blocks 4 to 9 were in the shared tier";
  EXPECT_EQ(cache.stats().shared_hits.load(), 6u);
  fx.origin.ClearRequests();
  EXPECT_EQ(MustRead(cache, region, 0, 40_KiB), fx.Expected(region, 0, 40_KiB));
  EXPECT_EQ(fx.origin.request_count(), 0u) << "the whole region is local now";
}

// When the request a reader waited for fails, the reader tries once itself.
// A reader that joined a fetch shares its failure (it had its retries and
// its deadline) instead of starting another; for a little while after, a
// read of the failed block fails at once; then it is fetched again.
TEST(ReadThrough, WaiterSharesTheFailureWhichIsRememberedBriefly) {
  Fixture fx(100'000);
  auto mem = NewMemoryBlockStore(16_MiB);
  ReadThroughOptions o = Opts(4_KiB, 0);
  o.failure_memory_ms = 300;
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, o);
  ByteRange region{0, 100'000};
  fx.origin.HoldIf([](const OriginRequest&) { return true; });
  fx.origin.FailTimes(kUrl, 1, Unavailable("reset"));
  Result<std::string> ra = std::string(), rb = std::string();
  std::thread ta([&] { ra = cache.Read(kUrl, region, 100, 10); });
  ASSERT_TRUE(WaitUntil([&] { return fx.origin.held_count() == 1; }));
  std::thread tb([&] { rb = cache.Read(kUrl, region, 200, 10); });
  bool waited = WaitUntil([&] { return cache.stats().inflight_waits.load() == 1; });
  fx.origin.ReleaseHeld();
  ta.join();
  tb.join();
  ASSERT_TRUE(waited);
  EXPECT_FALSE(ra.ok());
  ASSERT_FALSE(rb.ok());
  EXPECT_THAT(rb.status().message(), HasSubstr("reset"));
  EXPECT_EQ(fx.origin.request_count(), 1u) << "one fetch for both readers";
  fx.origin.HoldIf(nullptr);
  auto rc = cache.Read(kUrl, region, 100, 10);
  ASSERT_FALSE(rc.ok()) << "remembered";
  EXPECT_EQ(fx.origin.request_count(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_EQ(MustRead(cache, region, 100, 10), fx.Expected(region, 100, 10));
  EXPECT_EQ(fx.origin.request_count(), 2u);
}

TEST(ReadThrough, SizeIsCachedInTheTiers) {
  TempDir dir;
  Fixture fx(12'345);
  fx.origin.Set("http://h/small", "1234567");
  {
    auto disk = OpenLmdb(dir.path());
    auto mem = NewMemoryBlockStore(1_MiB);
    ReadThroughCache cache(&fx.origin, mem.get(), disk.get(), Opts(4_KiB, 0));
    auto s = cache.Size(kUrl);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(*s, 12'345u);
    EXPECT_EQ(fx.origin.size_calls(), 1u);
    s = cache.Size(kUrl);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(*s, 12'345u);
    EXPECT_EQ(fx.origin.size_calls(), 1u) << "the second Size is served from the cache";
    s = cache.Size("http://h/small");
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(*s, 7u);
    // Errors are not cached.
    for (int i = 0; i < 2; ++i) {
      auto m = cache.Size("http://h/missing");
      ASSERT_FALSE(m.ok());
      EXPECT_EQ(m.status().code(), Code::kNotFound);
    }
    EXPECT_EQ(fx.origin.size_calls(), 4u);
    // Sizes do not disturb block reads of the same object.
    EXPECT_EQ(MustRead(cache, ByteRange{0, 12'345}, 0, 12'345), fx.object);
    disk->Flush();
  }
  size_t calls = fx.origin.size_calls();
  auto disk = OpenLmdb(dir.path());
  ReadThroughCache cache(&fx.origin, nullptr, disk.get(), Opts(4_KiB, 0));
  auto s = cache.Size(kUrl);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, 12'345u);
  EXPECT_EQ(fx.origin.size_calls(), calls) << "after a restart, from the disk tier";
}

TEST(ReadThrough, PrefetchCoalescesNeighbours) {
  Fixture fx(1_MiB);
  auto mem = NewMemoryBlockStore(64_MiB);
  ReadThroughOptions o = Opts(64_KiB, 0);
  o.coalesce_gap = 1000;
  o.prefetch_threads = 2;
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, o);
  std::vector<ByteRange> regions = {{0, 10'000}, {10'500, 10'000}, {21'000, 5'000}, {500'000, 1000}};
  std::vector<PrefetchTarget> targets;
  for (const auto& r : regions) targets.push_back(PrefetchTarget{kUrl, r});
  cache.Prefetch(targets);
  cache.WaitForPrefetches();
  auto reqs = fx.origin.requests();
  std::sort(reqs.begin(), reqs.end(),
            [](const OriginRequest& a, const OriginRequest& b) { return a.range.offset < b.range.offset; });
  EXPECT_EQ(reqs, (std::vector<OriginRequest>{{kUrl, {0, 26'000}}, {kUrl, {500'000, 1000}}}));
  EXPECT_EQ(cache.stats().prefetch_requests.load(), 2u);
  fx.origin.ClearRequests();
  for (const auto& r : regions) EXPECT_EQ(MustRead(cache, r, 0, r.length), fx.Expected(r, 0, r.length));
  EXPECT_EQ(fx.origin.request_count(), 0u) << "prefetched blocks are served from memory";
  // Prefetching what is cached sends nothing.
  cache.Prefetch(targets);
  cache.WaitForPrefetches();
  EXPECT_EQ(fx.origin.request_count(), 0u);
}

TEST(ReadThrough, PrefetchBudgetDropsInsteadOfWaiting) {
  Fixture fx(1_MiB);
  auto mem = NewMemoryBlockStore(64_MiB);
  ReadThroughOptions o = Opts(64_KiB, 0);
  o.coalesce_gap = 0;
  o.prefetch_budget = 15'000;
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, o);
  std::vector<PrefetchTarget> targets;
  for (uint64_t i = 0; i < 5; ++i) targets.push_back(PrefetchTarget{kUrl, {i * 100'000, 10'000}});
  cache.Prefetch(targets);
  cache.WaitForPrefetches();
  EXPECT_GE(cache.stats().prefetch_dropped.load(), 3u);
  EXPECT_LE(cache.stats().prefetch_bytes.load(), 15'000u);
  // Dropped targets are simply read on demand.
  for (const auto& t : targets)
    EXPECT_EQ(MustRead(cache, t.region, 0, 10'000), fx.Expected(t.region, 0, 10'000));
}

// The header: prefetches run on their own threads "so demand reads never
// queue behind it". A demand read for a block whose prefetch is queued
// (not sent: the only prefetch thread is stuck on a slow request) must not
// wait for that queue.
TEST(ReadThrough, DemandReadDoesNotWaitForAQueuedPrefetch) {
  Fixture fx(1_MiB);
  auto mem = NewMemoryBlockStore(64_MiB);
  ReadThroughOptions o = Opts(64_KiB, 0);
  o.coalesce_gap = 0;
  o.prefetch_threads = 1;
  ReadThroughCache cache(&fx.origin, mem.get(), nullptr, o);
  fx.origin.HoldIf([](const OriginRequest& r) { return r.range.offset == 0; });  // a slow server
  cache.Prefetch({PrefetchTarget{kUrl, {0, 1000}}, PrefetchTarget{kUrl, {100'000, 1000}},
                  PrefetchTarget{kUrl, {200'000, 1000}}});
  ASSERT_TRUE(WaitUntil([&] { return fx.origin.held_count() == 1; }));
  std::atomic<bool> done{false};
  std::string got;
  ByteRange region{200'000, 1000};
  std::thread reader([&] {
    got = MustRead(cache, region, 0, 1000);
    done = true;
  });
  bool finished = WaitUntil([&] { return done.load(); }, std::chrono::seconds(2));
  fx.origin.ReleaseHeld();
  reader.join();
  cache.WaitForPrefetches();
  EXPECT_TRUE(finished) << "the demand read waited behind a queued prefetch";
  EXPECT_EQ(got, fx.Expected(region, 0, 1000));
}

// Destroying the cache while a prefetch request is under way waits for it
// (its task calls back into the cache) and drops the prefetches still
// queued; under ThreadSanitizer, this is the race check of that shutdown.
TEST(ReadThrough, DestructionWaitsForTheRunningPrefetch) {
  Fixture fx(1_MiB);
  auto mem = NewMemoryBlockStore(64_MiB);
  ReadThroughOptions o = Opts(64_KiB, 0);
  o.coalesce_gap = 0;
  o.prefetch_threads = 1;
  auto cache = std::make_unique<ReadThroughCache>(&fx.origin, mem.get(), nullptr, o);
  fx.origin.HoldIf([](const OriginRequest& r) { return r.range.offset == 0; });
  cache->Prefetch({PrefetchTarget{kUrl, {0, 1000}}, PrefetchTarget{kUrl, {100'000, 1000}},
                   PrefetchTarget{kUrl, {200'000, 1000}}});
  ASSERT_TRUE(WaitUntil([&] { return fx.origin.held_count() == 1; }));
  std::atomic<bool> destroyed{false};
  std::thread destroyer([&] {
    cache.reset();
    destroyed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(destroyed.load()) << "destroyed while its prefetch request was under way";
  fx.origin.ReleaseHeld();
  destroyer.join();
  EXPECT_LE(fx.origin.request_count(), 3u);
}

// Validating, a cache serves an object's blocks only while the origin
// reports the version they were cached under; a changed object is fetched
// anew. Each ReadThroughCache is one mount: it asks once per object.
// An object behind a disk tier, read by a validating cache per "mount".
struct VersionedFixture {
  explicit VersionedFixture(uint64_t size, std::string version) : fx(size) {
    disk = OpenStore(dir.path(), 64_MiB);
    o = Opts(64_KiB, 1_MiB);
    o.validate = true;
    fx.origin.SetVersion(kUrl, std::move(version));
  }
  Fixture fx;
  TempDir dir;
  std::unique_ptr<PersistentBlockStore> disk;
  ReadThroughOptions o;
};

TEST(ReadThrough, ChangedObjectIsNotServedFromTheCache) {
  VersionedFixture v(200'000, "etag \"a\"");
  auto& [fx, dir, disk, o] = v;
  ByteRange region{1000, 150'000};
  {
    ReadThroughCache first(&fx.origin, nullptr, disk.get(), o);
    EXPECT_EQ(MustRead(first, region, 0, 150'000), fx.Expected(region, 0, 150'000));
    EXPECT_EQ(MustRead(first, region, 7, 100), fx.Expected(region, 7, 100));
  }
  EXPECT_EQ(fx.origin.size_calls(), 1u) << "one question per object per mount";
  disk->Flush();
  fx.origin.ClearRequests();
  {  // Same version: everything from the disk tier.
    ReadThroughCache second(&fx.origin, nullptr, disk.get(), o);
    EXPECT_EQ(MustRead(second, region, 0, 150'000), fx.Expected(region, 0, 150'000));
    EXPECT_EQ(fx.origin.request_count(), 0u);
  }
  // The object changes.
  std::string changed = RandomBytes(200'000, 77);
  fx.origin.Set(kUrl, changed);
  fx.origin.SetVersion(kUrl, "etag \"b\"");
  {
    ReadThroughCache third(&fx.origin, nullptr, disk.get(), o);
    auto got = third.Read(kUrl, region, 0, 150'000);
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(*got == changed.substr(1000, 150'000)) << "old blocks must not be served";
    EXPECT_GT(fx.origin.request_count(), 0u);
    auto size = third.Size(kUrl);
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size, 200'000u);
  }
  disk->Flush();
  fx.origin.ClearRequests();
  {  // Not validating (offline): the version last seen, all from the cache.
    ReadThroughOptions off = o;
    off.validate = false;
    fx.origin.FailAlways(kUrl, IoError("offline"));
    ReadThroughCache offline(&fx.origin, nullptr, disk.get(), off);
    auto got = offline.Read(kUrl, region, 0, 150'000);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == changed.substr(1000, 150'000));
    EXPECT_EQ(fx.origin.request_count(), 0u);
  }
}

// An origin that cannot be asked does not make the cache useless; one that
// says the object is gone is believed.
TEST(ReadThrough, UnreachableOriginServesTheCachedVersion) {
  VersionedFixture v(100'000, "etag 1");
  auto& [fx, dir, disk, o] = v;
  ByteRange region{0, 100'000};
  {
    ReadThroughCache c(&fx.origin, nullptr, disk.get(), o);
    MustRead(c, region, 0, 100'000);
  }
  disk->Flush();
  fx.origin.FailAlways(kUrl, Unavailable("connection refused"));
  {
    ReadThroughCache c(&fx.origin, nullptr, disk.get(), o);
    EXPECT_EQ(MustRead(c, region, 0, 100'000), fx.Expected(region, 0, 100'000));
  }
  fx.origin.FailAlways(kUrl, NotFound("HTTP 404"));
  {
    ReadThroughCache c(&fx.origin, nullptr, disk.get(), o);
    auto r = c.Read(kUrl, region, 0, 10);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kNotFound);
  }
}

}  // namespace
}  // namespace zm
