// Unit tests of views/chunk_cache.h: the decoded-chunk cache.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "views/chunk_cache.h"

namespace zm {
namespace {

Block Bytes(size_t n, char c) { return std::make_shared<const std::string>(n, c); }

TEST(DecodedChunkCache, ConcurrentReadersShareOneLoad) {
  DecodedChunkCache cache(1 << 20, 0);
  std::atomic<int> loads{0};
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto r = cache.Get(ChunkId{1, 7}, [&]() -> Result<Block> {
        ++loads;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return Bytes(100, 'a');
      });
      if (r.ok() && **r == std::string(100, 'a')) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(loads.load(), 1);
  EXPECT_EQ(ok.load(), 8);
}

TEST(DecodedChunkCache, BoundedByBytesLeastRecentlyUsedFirst) {
  DecodedChunkCache cache(3000, 0);
  int loads = 0;
  auto get = [&](uint64_t c) {
    return cache.Get(ChunkId{0, c}, [&]() -> Result<Block> {
      ++loads;
      return Bytes(1000, 'x');
    });
  };
  for (uint64_t c = 0; c < 3; ++c) ASSERT_TRUE(get(c).ok());
  ASSERT_TRUE(get(0).ok());  // 0 is now the most recent
  ASSERT_TRUE(get(3).ok());  // evicts 1
  EXPECT_EQ(loads, 4);
  EXPECT_LE(cache.bytes(), 3000u);
  ASSERT_TRUE(get(0).ok());
  EXPECT_EQ(loads, 4);
  ASSERT_TRUE(get(1).ok());
  EXPECT_EQ(loads, 5);
  // A chunk larger than the whole cache is served, not kept.
  auto big = cache.Get(ChunkId{0, 99}, [] { return Result<Block>(Bytes(5000, 'y')); });
  ASSERT_TRUE(big.ok());
  EXPECT_EQ((*big)->size(), 5000u);
  EXPECT_FALSE(cache.Has(ChunkId{0, 99}));
}

TEST(DecodedChunkCache, ErrorsAreNotKept) {
  DecodedChunkCache cache(1 << 20, 0);
  int calls = 0;
  auto load = [&]() -> Result<Block> {
    if (++calls == 1) return IoError("flaky");
    return Bytes(10, 'z');
  };
  EXPECT_FALSE(cache.Get(ChunkId{0, 0}, load).ok());
  EXPECT_TRUE(cache.Get(ChunkId{0, 0}, load).ok());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(cache.stats().load_errors.load(), 1u);
}

TEST(DecodedChunkCache, PrefetchLoadsInTheBackground) {
  DecodedChunkCache cache(1 << 20, 2);
  std::atomic<int> loads{0};
  for (uint64_t c = 0; c < 10; ++c)
    cache.Prefetch(ChunkId{2, c}, [&]() -> Result<Block> {
      ++loads;
      return Bytes(10, 'p');
    });
  cache.WaitIdle();
  EXPECT_EQ(loads.load(), 10);
  for (uint64_t c = 0; c < 10; ++c) {
    auto r = cache.Get(ChunkId{2, c}, [&]() -> Result<Block> {
      ++loads;
      return Bytes(10, 'q');
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(**r, std::string(10, 'p'));
  }
  EXPECT_EQ(loads.load(), 10);
  EXPECT_EQ(cache.stats().hits.load(), 10u);
}

}  // namespace
}  // namespace zm
