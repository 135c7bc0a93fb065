// Unit tests of the memory block store (cache/memory_block_store.cc) and of block
// keys.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_store.h"
#include "tests/unit/cache/block_stores.h"

namespace zm {
namespace {

using testing::MakeBlock;

// ---- MakeBlockKey ------------------------------------------------------------

TEST(BlockKey, DependsOnUrlOffsetAndLength) {
  BlockKey k = MakeBlockKey("http://h/a.nc", ByteRange{4096, 1024});
  EXPECT_EQ(k, MakeBlockKey("http://h/a.nc", ByteRange{4096, 1024}));
  EXPECT_NE(k, MakeBlockKey("http://h/b.nc", ByteRange{4096, 1024}));
  EXPECT_NE(k, MakeBlockKey("http://h/a.nc", ByteRange{4097, 1024}));
  EXPECT_NE(k, MakeBlockKey("http://h/a.nc", ByteRange{4096, 1025}));
  EXPECT_NE(MakeBlockKey("u", ByteRange{1, 2}), MakeBlockKey("u", ByteRange{2, 1}));
  EXPECT_NE(MakeBlockKey("", ByteRange{0, 0}), MakeBlockKey("x", ByteRange{0, 0}));
  // Both halves carry information.
  std::set<uint64_t> his, los;
  for (uint64_t i = 0; i < 1000; ++i) {
    BlockKey b = MakeBlockKey("u", ByteRange{i * 4096, 4096});
    his.insert(b.hi);
    los.insert(b.lo);
  }
  EXPECT_EQ(his.size(), 1000u);
  EXPECT_EQ(los.size(), 1000u);
}

// ---- memory block store -------------------------------------------------------

// Keys that land in the same shard, whatever the shard function of a
// sharded store (all bits equal except high ones of `lo` and hi... we vary
// only bits that a modulo by a small power of two cannot see).
BlockKey SameShardKey(uint64_t i) { return BlockKey{(i + 1) << 32, (i + 1) << 32}; }

TEST(MemoryBlockStore, PutGet) {
  auto store = NewMemoryBlockStore(1_MiB);
  BlockKey a = MakeBlockKey("u", {0, 3}), b = MakeBlockKey("u", {3, 3});
  EXPECT_EQ(store->Get(a), nullptr);
  store->Put(a, MakeBlock("abc"));
  store->Put(b, MakeBlock("def"));
  ASSERT_NE(store->Get(a), nullptr);
  EXPECT_EQ(*store->Get(a), "abc");
  ASSERT_NE(store->Get(b), nullptr);
  EXPECT_EQ(*store->Get(b), "def");
  EXPECT_EQ(store->Get(MakeBlockKey("u", {0, 4})), nullptr);
}

TEST(MemoryBlockStore, LruEvictionOrder) {
  // 300 bytes: room for three 100-byte blocks.
  auto store = NewMemoryBlockStore(300);
  BlockKey A = SameShardKey(0), B = SameShardKey(1), C = SameShardKey(2), D = SameShardKey(3),
           E = SameShardKey(4);
  store->Put(A, MakeBlock(std::string(100, 'A')));
  store->Put(B, MakeBlock(std::string(100, 'B')));
  store->Put(C, MakeBlock(std::string(100, 'C')));
  ASSERT_NE(store->Get(A), nullptr);  // A is now the most recent
  store->Put(D, MakeBlock(std::string(100, 'D')));
  EXPECT_EQ(store->Get(B), nullptr) << "B was least recently used";
  EXPECT_NE(store->Get(C), nullptr);
  EXPECT_NE(store->Get(A), nullptr);
  EXPECT_NE(store->Get(D), nullptr);
  // Recency now: D, A, C (most recent first).
  store->Put(E, MakeBlock(std::string(100, 'E')));
  EXPECT_EQ(store->Get(C), nullptr) << "C was least recently used";
  EXPECT_EQ(*store->Get(A), std::string(100, 'A'));
  EXPECT_EQ(*store->Get(D), std::string(100, 'D'));
  EXPECT_EQ(*store->Get(E), std::string(100, 'E'));
}

TEST(MemoryBlockStore, EvictsTheLeastRecentOfAllShards) {
  // Room for four 100-byte blocks. The oldest, O, is alone in its shard;
  // the new blocks share another. The block to go is O, not the oldest of
  // the new block's shard (a prefetched block about to be read).
  auto store = NewMemoryBlockStore(400);
  const BlockKey O{1, 1};
  store->Put(O, MakeBlock(std::string(100, 'O')));
  for (uint64_t i = 0; i < 4; ++i) store->Put(SameShardKey(i), MakeBlock(std::string(100, 'a' + i)));
  EXPECT_EQ(store->Get(O), nullptr);
  for (uint64_t i = 0; i < 4; ++i) EXPECT_NE(store->Get(SameShardKey(i)), nullptr) << i;
  // A use makes a block recent, whatever its shard: reading O's kind of
  // block again keeps it over the same-shard blocks read less recently.
  store->Put(O, MakeBlock(std::string(100, 'O')));  // evicts SameShardKey(0)
  EXPECT_EQ(store->Get(SameShardKey(0)), nullptr);
  ASSERT_NE(store->Get(O), nullptr);
  for (uint64_t i = 4; i < 6; ++i) store->Put(SameShardKey(i), MakeBlock(std::string(100, 'a' + i)));
  EXPECT_NE(store->Get(O), nullptr);  // used after 1, 2 and 3: they went first
  EXPECT_EQ(store->Get(SameShardKey(1)), nullptr);
  EXPECT_EQ(store->Get(SameShardKey(2)), nullptr);
}

TEST(MemoryBlockStore, RePutReplacesAndRecharges) {
  auto store = NewMemoryBlockStore(300);
  BlockKey A = SameShardKey(0), B = SameShardKey(1), C = SameShardKey(2);
  store->Put(A, MakeBlock(std::string(100, 'a')));
  store->Put(A, MakeBlock(std::string(100, 'x')));  // same size: charged once
  store->Put(B, MakeBlock(std::string(100, 'b')));
  store->Put(C, MakeBlock(std::string(100, 'c')));
  ASSERT_NE(store->Get(A), nullptr) << "a re-put must not be charged twice";
  EXPECT_EQ(*store->Get(A), std::string(100, 'x'));
  EXPECT_NE(store->Get(B), nullptr);
  EXPECT_NE(store->Get(C), nullptr);

  // Growing A to 200 bytes: 400 > 300, so the LRU (B) goes.
  store->Put(A, MakeBlock(std::string(200, 'y')));
  EXPECT_EQ(store->Get(B), nullptr);
  EXPECT_EQ(*store->Get(A), std::string(200, 'y'));
  EXPECT_NE(store->Get(C), nullptr);
  // Shrinking A frees room: 50 + 100 + 100 fits.
  store->Put(A, MakeBlock(std::string(50, 'z')));
  store->Put(B, MakeBlock(std::string(100, 'b')));
  EXPECT_NE(store->Get(A), nullptr);
  EXPECT_NE(store->Get(B), nullptr);
  EXPECT_NE(store->Get(C), nullptr);
}

TEST(MemoryBlockStore, DropForgetsTheBlockAndItsCharge) {
  auto store = NewMemoryBlockStore(200);
  BlockKey A = SameShardKey(0), B = SameShardKey(1), C = SameShardKey(2);
  store->Put(A, MakeBlock(std::string(100, 'a')));
  store->Put(B, MakeBlock(std::string(100, 'b')));
  Block held = store->Get(A);
  store->Drop(A);
  store->Drop(C);  // not held: nothing happens
  EXPECT_EQ(store->Get(A), nullptr);
  EXPECT_EQ(*held, std::string(100, 'a')) << "a reader keeps what it holds";
  // A's 100 bytes are no longer charged: C fits beside B.
  store->Put(C, MakeBlock(std::string(100, 'c')));
  EXPECT_NE(store->Get(B), nullptr);
  EXPECT_NE(store->Get(C), nullptr);
}

TEST(MemoryBlockStore, ZeroCapacityStoresNothing) {
  auto store = NewMemoryBlockStore(0);
  store->Put(SameShardKey(0), MakeBlock("x"));
  EXPECT_EQ(store->Get(SameShardKey(0)), nullptr);
}

TEST(MemoryBlockStore, NeverExceedsCapacity) {
  // Many blocks of random size: what is held never exceeds the capacity.
  const uint64_t cap = 1_MiB;
  auto store = NewMemoryBlockStore(cap);
  std::mt19937 rng(5);
  std::vector<std::pair<BlockKey, size_t>> all;
  for (int i = 0; i < 2000; ++i) {
    size_t n = rng() % 8192;
    BlockKey k = MakeBlockKey("u", ByteRange{uint64_t(i), n});
    store->Put(k, MakeBlock(std::string(n, char('a' + i % 26))));
    all.emplace_back(k, n);
  }
  uint64_t held = 0;
  for (auto& [k, n] : all) {
    if (Block b = store->Get(k)) {
      EXPECT_EQ(b->size(), n);
      held += b->size();
    }
  }
  EXPECT_LE(held, cap);
  EXPECT_GT(held, cap / 2) << "a full cache holds a good share of its capacity";
}

// A 4 MiB cache must be able to hold one 1 MiB block (--memory-cache 4M
// with the default --block-size 1M).
TEST(MemoryBlockStore, HoldsABlockSmallerThanCapacity) {
  auto store = NewMemoryBlockStore(4_MiB);
  BlockKey k = MakeBlockKey("http://h/x.nc", ByteRange{0, 1_MiB});
  store->Put(k, MakeBlock(std::string(1_MiB, 'x')));
  Block b = store->Get(k);
  ASSERT_NE(b, nullptr) << "a 1 MiB block was not kept by a 4 MiB memory cache";
  EXPECT_EQ(b->size(), 1_MiB);
}

// A cache filled to half its capacity has no reason to evict anything.
TEST(MemoryBlockStore, HalfFullCacheEvictsNothing) {
  auto store = NewMemoryBlockStore(64_MiB);
  std::vector<BlockKey> keys;
  for (uint64_t i = 0; i < 32; ++i) {
    keys.push_back(MakeBlockKey("http://h/x.nc", ByteRange{i * 1_MiB, 1_MiB}));
    store->Put(keys.back(), MakeBlock(std::string(1_MiB, char('a' + i % 26))));
  }
  int missing = 0;
  for (const auto& k : keys) missing += store->Get(k) == nullptr;
  EXPECT_EQ(missing, 0) << missing << " of 32 one-MiB blocks evicted from a 64 MiB cache";
}

TEST(MemoryBlockStore, ConcurrentUse) {
  auto store = NewMemoryBlockStore(256_KiB);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 20000; ++i) {
        uint64_t id = rng() % 500;
        BlockKey k = MakeBlockKey("u", ByteRange{id, 1});
        if (rng() % 2) {
          store->Put(k, MakeBlock(std::string(100 + id % 50, char(id % 251))));
        } else if (Block b = store->Get(k)) {
          if (b->size() != 100 + id % 50 || (*b)[0] != char(id % 251)) ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace zm
