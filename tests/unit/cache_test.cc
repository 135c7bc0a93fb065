// Unit tests of cache/: block keys, the memory and LMDB block stores, the
// read-through cache over a fake origin, the file origin and the routing
// origin.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_store.h"
#include "io/origin.h"
#include "cache/read_through.h"
#include "tests/unit/fake_origin.h"
#include "tests/unit/peer_process.h"
#include "tests/unit/temp_dir.h"
#include "tests/unit/tiny_http.h"

namespace zm {
namespace {

using ::testing::HasSubstr;
using testing::FakeOrigin;
using testing::OriginRequest;
using testing::RandomBytes;
using testing::TempDir;


Block MakeBlock(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Number of block records in the LMDB store at `dir`, read with LMDB
// directly. REQUIRES: no store is open on `dir` in this process.
size_t LmdbEntries(const std::string& dir) {
  MDB_env* env = nullptr;
  EXPECT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 4);
  int rc = mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0600);
  EXPECT_EQ(rc, 0) << mdb_strerror(rc);
  MDB_stat st{};
  MDB_txn* txn = nullptr;
  MDB_dbi dbi;
  if (rc == 0 && mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0) {
    if (mdb_dbi_open(txn, "blocks", 0, &dbi) == 0) {
      EXPECT_EQ(mdb_stat(txn, dbi, &st), 0);
    }
    mdb_txn_abort(txn);
  }
  mdb_env_close(env);
  return st.ms_entries;
}

std::unique_ptr<BlockStore> OpenLmdb(const std::string& dir, uint64_t capacity = 64_MiB,
                                     uint64_t max_pending = 256_MiB) {
  LmdbOptions opt;
  opt.capacity_bytes = capacity;
  opt.max_pending_bytes = max_pending;
  auto r = OpenLmdbBlockStore(dir, opt);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return nullptr;
  return std::move(r).value();
}

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

// ---- LMDB block store ------------------------------------------------------------

TEST(LmdbBlockStore, PersistsAcrossReopen) {
  TempDir dir;
  std::vector<std::pair<BlockKey, std::string>> blocks;
  for (size_t n : {size_t{0}, size_t{1}, size_t{100}, size_t{4096}, size_t{5000}, size_t{1_MiB}}) {
    blocks.emplace_back(MakeBlockKey("http://h/x", ByteRange{n, n}), RandomBytes(n, uint32_t(n)));
  }
  {
    auto store = OpenLmdb(dir.path() + "/cache");  // created if missing
    ASSERT_NE(store, nullptr);
    for (auto& [k, v] : blocks) store->Put(k, MakeBlock(v));
    store->Flush();
    for (auto& [k, v] : blocks) {
      Block b = store->Get(k);
      ASSERT_NE(b, nullptr) << v.size();
      EXPECT_TRUE(*b == v) << v.size();
    }
  }
  {
    auto store = OpenLmdb(dir.path() + "/cache");
    ASSERT_NE(store, nullptr);
    for (auto& [k, v] : blocks) {
      Block b = store->Get(k);
      ASSERT_NE(b, nullptr) << "after reopen, size " << v.size();
      EXPECT_TRUE(*b == v) << v.size();
    }
    EXPECT_EQ(store->Get(MakeBlockKey("http://h/x", ByteRange{7, 7})), nullptr);
  }
  EXPECT_EQ(LmdbEntries(dir.path() + "/cache"), blocks.size());
}

TEST(LmdbBlockStore, OverwriteKeepsLatest) {
  TempDir dir;
  auto store = OpenLmdb(dir.path());
  BlockKey k = MakeBlockKey("u", ByteRange{0, 10});
  store->Put(k, MakeBlock("first"));
  store->Put(k, MakeBlock("second"));
  store->Flush();
  ASSERT_NE(store->Get(k), nullptr);
  EXPECT_EQ(*store->Get(k), "second");
}

TEST(LmdbBlockStore, DestructorWritesPendingPuts) {
  TempDir dir;
  BlockKey k = MakeBlockKey("u", ByteRange{0, 5});
  {
    auto store = OpenLmdb(dir.path());
    store->Put(k, MakeBlock("hello"));
    // No Flush: closing the store drains the queue.
  }
  auto store = OpenLmdb(dir.path());
  Block b = store->Get(k);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(*b, "hello");
}

// Flips one byte of the stored payload in data.mdb: Get must report a miss
// (never the wrong bytes), and the record is deleted.
TEST(LmdbBlockStore, CorruptedRecordIsAMissAndIsDeleted) {
  TempDir dir;
  const std::string payload = RandomBytes(3000, 99);
  const std::string other = RandomBytes(3000, 100);
  BlockKey bad_key = MakeBlockKey("http://h/x", ByteRange{0, 3000});
  BlockKey good_key = MakeBlockKey("http://h/x", ByteRange{3000, 3000});
  {
    auto store = OpenLmdb(dir.path());
    store->Put(bad_key, MakeBlock(payload));
    store->Put(good_key, MakeBlock(other));
    store->Flush();
  }
  ASSERT_EQ(LmdbEntries(dir.path()), 2u);
  const std::string file = dir.path() + "/data.mdb";
  {
    std::string bytes = ReadFile(file);
    size_t at = bytes.find(payload);
    ASSERT_NE(at, std::string::npos) << "payload not found in data.mdb";
    // LMDB copies pages on write, so a stale copy of the payload may sit in
    // a free page: flip the byte in every copy, the live one among them.
    int fd = ::open(file.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    for (; at != std::string::npos; at = bytes.find(payload, at + 1)) {
      char c = static_cast<char>(bytes[at + 1234] ^ 0x01);
      ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(at + 1234)), 1);
    }
    ::close(fd);
  }
  {
    auto store = OpenLmdb(dir.path());
    EXPECT_EQ(store->Get(bad_key), nullptr) << "a corrupt block must be a miss";
    Block good = store->Get(good_key);
    ASSERT_NE(good, nullptr);
    EXPECT_TRUE(*good == other);
    store->Flush();  // the deletion of the corrupt record is queued
    EXPECT_EQ(store->Get(bad_key), nullptr);
  }
  EXPECT_EQ(LmdbEntries(dir.path()), 1u) << "the corrupt record is gone";
  // The slot is usable again.
  auto store = OpenLmdb(dir.path());
  store->Put(bad_key, MakeBlock(payload));
  store->Flush();
  ASSERT_NE(store->Get(bad_key), nullptr);
  EXPECT_TRUE(*store->Get(bad_key) == payload);
}

// Corrupting the record's header (its copy of the key, its length) is
// detected too.
TEST(LmdbBlockStore, CorruptedHeaderIsAMiss) {
  TempDir dir;
  const std::string payload = RandomBytes(2500, 7);
  BlockKey key = MakeBlockKey("http://h/y", ByteRange{0, 2500});
  {
    auto store = OpenLmdb(dir.path());
    store->Put(key, MakeBlock(payload));
    store->Flush();
  }
  const std::string file = dir.path() + "/data.mdb";
  std::string bytes = ReadFile(file);
  size_t at = bytes.find(payload);
  ASSERT_NE(at, std::string::npos);
  // The header (48 bytes) precedes the payload; flip a byte of key_hi.
  ASSERT_GE(at, 48u);
  int fd = ::open(file.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  char c = static_cast<char>(bytes[at - 48 + 8] ^ 0x80);
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(at - 48 + 8)), 1);
  ::close(fd);
  auto store = OpenLmdb(dir.path());
  EXPECT_EQ(store->Get(key), nullptr);
}

TEST(LmdbBlockStore, OpenFailsOnGarbageFileAndNamesTheDirectory) {
  TempDir dir;
  {
    std::ofstream f(dir.path() + "/data.mdb", std::ios::binary);
    f << std::string(65536, 'g');
  }
  LmdbOptions opt;
  opt.capacity_bytes = 16_MiB;
  auto r = OpenLmdbBlockStore(dir.path(), opt);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr(dir.path()));

  // A path below a regular file cannot be created.
  std::ofstream(dir.path() + "/file") << "x";
  r = OpenLmdbBlockStore(dir.path() + "/file/sub", opt);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr(dir.path() + "/file/sub"));
}

// A burst of Puts larger than the whole map, queued while the LMDB write
// lock is held elsewhere (another process sharing the cache, or a slow
// disk): no crash, the file stays within the map, and the most recent blocks
// end up retrievable. A child process holds the write transaction so the
// burst is deterministic.
TEST(LmdbBlockStore, BurstLargerThanTheMapKeepsRecentBlocks) {
  TempDir dir;
  constexpr uint64_t kBlock = 64_KiB, kCount = 1024;  // 64 MiB into a 16 MiB map
  auto store = OpenLmdb(dir.path(), 16_MiB);
  ASSERT_NE(store, nullptr);
  int to_child[2], to_parent[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(to_parent), 0);
  // The peer inherits only its own ends, so a dying parent ends its read.
  fcntl(to_child[1], F_SETFD, FD_CLOEXEC);
  fcntl(to_parent[0], F_SETFD, FD_CLOEXEC);
  pid_t pid = testing::SpawnPeer(
      "LmdbPeer.DISABLED_HoldWriteLock",
      {"ZM_PEER_DIR=" + dir.path(), "ZM_PEER_IN=" + std::to_string(to_child[0]),
       "ZM_PEER_OUT=" + std::to_string(to_parent[1])});
  ASSERT_GT(pid, 0);
  char c = 0;
  ASSERT_EQ(read(to_parent[0], &c, 1), 1);
  ASSERT_EQ(c, 'L') << "the peer could not take the write lock";

  std::string data = RandomBytes(kBlock, 1);
  for (uint64_t i = 0; i < kCount; ++i) {
    data[0] = static_cast<char>(i);
    data[1] = static_cast<char>(i >> 8);
    store->Put(MakeBlockKey("u", ByteRange{i * kBlock, kBlock}), MakeBlock(data));
  }
  c = 'G';
  ASSERT_EQ(write(to_child[1], &c, 1), 1);
  EXPECT_EQ(testing::WaitPeer(pid), 0);
  for (int fd : {to_child[0], to_child[1], to_parent[0], to_parent[1]}) close(fd);
  store->Flush();

  int found = 0, wrong = 0;
  constexpr uint64_t kRecent = 32;  // the last 2 MiB
  for (uint64_t i = kCount - kRecent; i < kCount; ++i) {
    Block b = store->Get(MakeBlockKey("u", ByteRange{i * kBlock, kBlock}));
    if (!b) continue;
    ++found;
    if (b->size() != kBlock || uint8_t((*b)[0]) != uint8_t(i) || uint8_t((*b)[1]) != uint8_t(i >> 8))
      ++wrong;
  }
  store.reset();
  struct stat sb;
  ASSERT_EQ(stat((dir.path() + "/data.mdb").c_str(), &sb), 0);
  EXPECT_LE(static_cast<uint64_t>(sb.st_size), 16_MiB);
  EXPECT_EQ(wrong, 0);
  size_t entries = LmdbEntries(dir.path());
  std::printf("[ lmdb     ] burst: %d of the last %d blocks retrievable; %zu records, file %lld bytes\n",
              found, int(kRecent), entries, static_cast<long long>(sb.st_size));
  EXPECT_GE(found, int(kRecent) / 2) << "the most recent blocks should survive a burst";
  EXPECT_GT(entries, 50u) << "a 16 MiB map holds well over 50 blocks of 64 KiB";
}

// Once the map is full, each Put that finds no room makes the store evict
// and try again. Every block written after that, one at a time with a Flush
// in between (nobody else using the store), must be retrievable right after
// its Flush: a cache may forget old blocks, not the one just written.
TEST(LmdbBlockStore, FullMapStillStoresEachNewBlock) {
  TempDir dir;
  constexpr uint64_t kBlock = 64_KiB;
  auto store = OpenLmdb(dir.path(), 16_MiB);
  ASSERT_NE(store, nullptr);
  std::string data = RandomBytes(kBlock, 2);
  uint64_t i = 0;
  auto put = [&] {
    data[0] = static_cast<char>(i);
    data[1] = static_cast<char>(i >> 8);
    store->Put(MakeBlockKey("u", ByteRange{i * kBlock, kBlock}), MakeBlock(data));
    return MakeBlockKey("u", ByteRange{i++ * kBlock, kBlock});
  };
  // Fill well past the map size (32 MiB into 16 MiB), a Flush every 1 MiB.
  for (int n = 0; n < 512; ++n) {
    put();
    if (n % 16 == 15) store->Flush();
  }
  store->Flush();
  int lost = 0, wrong = 0;
  constexpr int kProbe = 200;
  for (int n = 0; n < kProbe; ++n) {
    uint64_t id = i;
    BlockKey k = put();
    store->Flush();
    Block b = store->Get(k);
    if (!b)
      ++lost;
    else if (b->size() != kBlock || uint8_t((*b)[0]) != uint8_t(id) || uint8_t((*b)[1]) != uint8_t(id >> 8))
      ++wrong;
  }
  store.reset();
  struct stat sb;
  ASSERT_EQ(stat((dir.path() + "/data.mdb").c_str(), &sb), 0);
  EXPECT_LE(static_cast<uint64_t>(sb.st_size), 16_MiB);
  size_t entries = LmdbEntries(dir.path());
  std::printf("[ lmdb     ] full map: %d of %d fresh blocks lost right after their Flush; %zu records\n",
              lost, kProbe, entries);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(lost, 0);
  EXPECT_GT(entries, 50u) << "a 16 MiB map holds well over 50 blocks of 64 KiB";
}

// The map is written in place, so a full disk must turn into skipped
// writes, not SIGBUS: a 12 MiB file system under a 64 MiB map, filled with
// 32 MiB of blocks. Needs root (mounts a tmpfs).
TEST(LmdbBlockStore, FullDiskSkipsWritesAndKeepsServing) {
  TempDir dir;
  if (::mount("zm_cache_test", dir.path().c_str(), "tmpfs", 0, "size=12m") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs: " << std::strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{dir.path()};
  constexpr uint64_t kBlock = 256_KiB;
  std::vector<BlockKey> keys;
  std::vector<std::string> datas;
  {
    auto store = OpenLmdb(dir.path() + "/c", 64_MiB);
    ASSERT_NE(store, nullptr);
    for (uint64_t i = 0; i < 128; ++i) {
      keys.push_back(MakeBlockKey("u", ByteRange{i * kBlock, kBlock}));
      datas.push_back(RandomBytes(kBlock, static_cast<uint32_t>(i)));
      store->Put(keys.back(), MakeBlock(datas.back()));
      if (i % 8 == 7) store->Flush();
    }
    store->Flush();
    int stored = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      Block b = store->Get(keys[i]);
      if (!b) continue;
      ++stored;
      EXPECT_EQ(*b, datas[i]) << "block " << i;
    }
    std::printf("[ lmdb     ] full disk: %d of %zu blocks stored\n", stored, keys.size());
    EXPECT_GT(stored, 8) << "the blocks that fit are kept";
    EXPECT_LT(stored, 48) << "12 MiB cannot hold more";
  }
  // And the store opens again, serving what it kept.
  auto again = OpenLmdb(dir.path() + "/c", 64_MiB);
  ASSERT_NE(again, nullptr);
  int found = 0;
  for (size_t i = 0; i < keys.size(); ++i)
    if (Block b = again->Get(keys[i])) {
      ++found;
      EXPECT_EQ(*b, datas[i]);
    }
  EXPECT_GT(found, 8);
}

std::unique_ptr<PersistentBlockStore> OpenStore(const std::string& dir, uint64_t capacity) {
  LmdbOptions opt;
  opt.capacity_bytes = capacity;
  auto r = OpenLmdbBlockStore(dir, opt);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

BlockKey NthKey(uint64_t i) { return MakeBlockKey("http://h/lru", ByteRange{i * 65536, 65536}); }

std::string NthData(uint64_t i) {
  std::string d = RandomBytes(64_KiB, 7);
  std::memcpy(d.data(), &i, sizeof i);
  return d;
}

// A workload four times the capacity: the store stays under its bound, and
// the blocks read recently survive while older ones go.
TEST(LmdbBlockStore, EvictsLeastRecentlyUsedAndStaysUnderCapacity) {
  TempDir dir;
  constexpr uint64_t kCapacity = 16_MiB;
  auto store = OpenStore(dir.path(), kCapacity);
  ASSERT_NE(store, nullptr);
  uint64_t peak = 0;
  for (uint64_t i = 0; i < 1024; ++i) {  // 64 MiB
    store->Put(NthKey(i), MakeBlock(NthData(i)));
    if (i % 16 == 15) {
      store->Flush();
      // Blocks 0..7 are read all the time: they must never be evicted.
      for (uint64_t j = 0; j < 8; ++j) {
        Block b = store->Get(NthKey(j));
        ASSERT_NE(b, nullptr) << "hot block " << j << " was evicted at " << i;
        EXPECT_TRUE(*b == NthData(j));
      }
      auto u = store->GetUsage(false);
      ASSERT_TRUE(u.ok());
      peak = std::max(peak, u->used_bytes);
    }
  }
  store->Flush();
  auto u = store->GetUsage(true);
  ASSERT_TRUE(u.ok());
  std::printf("[ lmdb     ] lru: peak %llu bytes of blocks under a %llu-byte cap, %llu blocks now\n",
              (unsigned long long)peak, (unsigned long long)kCapacity, (unsigned long long)u->blocks);
  EXPECT_LE(peak, kCapacity * 9 / 10 + 64_KiB * 17);
  EXPECT_GT(u->used_bytes, kCapacity / 2);
  EXPECT_GT(u->newest_use, 0);
  // Of the cold blocks, the latest ones are kept and the earliest gone.
  EXPECT_EQ(store->Get(NthKey(100)), nullptr);
  EXPECT_NE(store->Get(NthKey(1023)), nullptr);
  store.reset();
  struct stat sb;
  ASSERT_EQ(stat((dir.path() + "/data.mdb").c_str(), &sb), 0);
  EXPECT_LE(static_cast<uint64_t>(sb.st_size), kCapacity);
  // The file system's own extent blocks count in st_blocks: a little slack.
  EXPECT_LE(uint64_t(sb.st_blocks) * 512, kCapacity + kCapacity / 100) << "disk space within the cap";
}

// verify reads every record: flipped bytes are found, and only those
// records are deleted; clear and prune do what they say.
TEST(LmdbBlockStore, VerifyClearAndPrune) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path(), 64_MiB);
    for (uint64_t i = 0; i < 40; ++i) store->Put(NthKey(i), MakeBlock(NthData(i)));
  }
  // Flip one byte inside blocks 3, 4 and 5 on disk.
  const std::string file = dir.path() + "/data.mdb";
  std::string bytes = ReadFile(file);
  int fd = ::open(file.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  for (uint64_t i : {3, 4, 5}) {
    std::string d = NthData(i);
    size_t at = bytes.find(d.substr(0, 4096));
    ASSERT_NE(at, std::string::npos);
    char c = static_cast<char>(bytes[at + 5000] ^ 0x40);
    ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(at + 5000)), 1);
  }
  ::close(fd);
  auto store = OpenStore(dir.path(), 64_MiB);
  uint64_t calls = 0;
  auto report = store->Verify([&](uint64_t, uint64_t total) {
    ++calls;
    EXPECT_EQ(total, 40u);
  });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->checked, 40u);
  EXPECT_EQ(report->bad, 3u);
  EXPECT_GT(calls, 0u);
  for (uint64_t i = 0; i < 40; ++i) {
    Block b = store->Get(NthKey(i));
    if (i >= 3 && i <= 5) {
      EXPECT_EQ(b, nullptr) << i;
    } else {
      ASSERT_NE(b, nullptr) << i;
      EXPECT_TRUE(*b == NthData(i));
    }
  }
  auto again = store->Verify();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->bad, 0u);
  EXPECT_EQ(again->checked, 37u);

  auto before = store->GetUsage(false);
  ASSERT_TRUE(before.ok());
  auto freed = store->Prune(before->used_bytes / 2, 0);
  ASSERT_TRUE(freed.ok());
  auto after = store->GetUsage(false);
  ASSERT_TRUE(after.ok());
  EXPECT_LE(after->used_bytes, before->used_bytes / 2);
  EXPECT_EQ(after->used_bytes + *freed, before->used_bytes);
  EXPECT_LT(after->blocks, 37u);

  ASSERT_TRUE(store->Clear().ok());
  auto empty = store->GetUsage(true);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->blocks, 0u);
  EXPECT_EQ(empty->used_bytes, 0u);
  EXPECT_EQ(store->Get(NthKey(0)), nullptr);
}

// Two processes on one directory: blocks one writes are hits for the other,
// while both keep writing.
TEST(LmdbBlockStore, SharedByTwoProcesses) {
  TempDir dir;
  auto store = OpenStore(dir.path(), 64_MiB);
  ASSERT_NE(store, nullptr);
  pid_t pid = testing::SpawnPeer("LmdbPeer.DISABLED_ShareBlocks", {"ZM_PEER_DIR=" + dir.path()});
  ASSERT_GT(pid, 0);
  for (uint64_t i = 0; i < 100; ++i) store->Put(NthKey(i), MakeBlock(NthData(i)));
  store->Flush();
  EXPECT_EQ(testing::WaitPeer(pid), 0) << "the peer failed: its output is above";
  for (uint64_t i = 1000; i < 1100; ++i) {
    Block b = store->Get(NthKey(i));
    ASSERT_NE(b, nullptr) << "the other process's block " << i;
    EXPECT_TRUE(*b == NthData(i));
  }
  auto u = store->GetUsage(false);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->blocks, 200u);
}

// The peer of SharedByTwoProcesses: its own store on the same directory
// writes blocks 1000..1099, then waits (5 s at most) to see the parent's
// blocks 0..99, each with the right bytes.
TEST(LmdbPeer, DISABLED_ShareBlocks) {
  auto mine = OpenStore(testing::PeerArg("ZM_PEER_DIR"), 64_MiB);
  ASSERT_NE(mine, nullptr);
  for (uint64_t i = 1000; i < 1100; ++i) mine->Put(NthKey(i), MakeBlock(NthData(i)));
  mine->Flush();
  for (int tries = 0; tries < 500; ++tries) {
    bool all = true;
    for (uint64_t i = 0; i < 100 && all; ++i) {
      Block b = mine->Get(NthKey(i));
      if (!b) all = false;
      else ASSERT_TRUE(*b == NthData(i)) << "wrong bytes for the parent's block " << i;
    }
    if (all) return;
    usleep(10'000);
  }
  FAIL() << "the parent's blocks never appeared";
}

// The peer of BurstLargerThanTheMapKeepsRecentBlocks: takes LMDB's write
// lock, says 'L' (or 'E' if it could not), holds it until told to let go.
TEST(LmdbPeer, DISABLED_HoldWriteLock) {
  const std::string dir = testing::PeerArg("ZM_PEER_DIR");
  const int in = std::stoi(testing::PeerArg("ZM_PEER_IN")), out = std::stoi(testing::PeerArg("ZM_PEER_OUT"));
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  char c = 'L';
  if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 16_MiB) ||
      mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0600) || mdb_txn_begin(env, nullptr, 0, &txn))
    c = 'E';
  ASSERT_EQ(write(out, &c, 1), 1);
  ASSERT_EQ(read(in, &c, 1), 1);
  if (txn) mdb_txn_abort(txn);
  if (env) mdb_env_close(env);
  EXPECT_EQ(c, 'G');
}

// Opening with a smaller capacity never shrinks the file under others; it
// lowers this process's bound.
TEST(LmdbBlockStore, SmallerCapacityDoesNotShrinkTheFile) {
  TempDir dir;
  {
    auto big = OpenStore(dir.path(), 64_MiB);
    for (uint64_t i = 0; i < 300; ++i) big->Put(NthKey(i), MakeBlock(NthData(i)));
  }
  struct stat sb;
  ASSERT_EQ(stat((dir.path() + "/data.mdb").c_str(), &sb), 0);
  const off_t size = sb.st_size;
  auto small = OpenStore(dir.path(), 16_MiB);
  ASSERT_NE(small, nullptr);
  ASSERT_EQ(stat((dir.path() + "/data.mdb").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_size, size);
  Block b = small->Get(NthKey(299));
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(*b == NthData(299));
  small->Put(NthKey(300), MakeBlock(NthData(300)));
  small->Flush();
  auto u = small->GetUsage(false);
  ASSERT_TRUE(u.ok());
  EXPECT_LE(u->used_bytes, 16_MiB);
  EXPECT_NE(small->Get(NthKey(300)), nullptr);
}

// A store of the first format (blocks in the main database) starts empty.
TEST(LmdbBlockStore, OlderFormatStartsEmpty) {
  TempDir dir;
  {
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_mapsize(env, 16_MiB);
    ASSERT_EQ(mdb_env_open(env, dir.path().c_str(), 0, 0600), 0);
    MDB_txn* txn = nullptr;
    MDB_dbi dbi;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, nullptr, 0, &dbi), 0);
    uint64_t k[2] = {1, 2};
    char v[100] = {};
    MDB_val mk{sizeof k, k}, mv{sizeof v, v};
    ASSERT_EQ(mdb_put(txn, dbi, &mk, &mv, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto store = OpenStore(dir.path(), 16_MiB);
  ASSERT_NE(store, nullptr);
  auto u = store->GetUsage(false);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->blocks, 0u);
  store->Put(NthKey(1), MakeBlock(NthData(1)));
  store->Flush();
  EXPECT_NE(store->Get(NthKey(1)), nullptr);
}

// ---- ReadThroughCache -----------------------------------------------------------

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

// ---- FileOrigin --------------------------------------------------------------------

// ReadPieces puts the bytes of one request straight into pieces of the
// asked lengths, whether the server answers 206 or sends the whole object.
TEST(HttpOrigin, ReadPiecesCutsOneResponse) {
  std::string data = RandomBytes(300'000, 21);
  for (bool ignore_ranges : {false, true}) {
    testing::TinyHttpServer server(data, ignore_ranges);
    auto origin = NewHttpOrigin(HttpOptions{});
    ByteRange range{1000, 250'000};
    std::vector<uint64_t> lengths = {1, 65'535, 0, 100'000, 84'464};
    auto got = origin->ReadPieces(server.url(), range, lengths);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), lengths.size());
    uint64_t at = range.offset;
    for (size_t i = 0; i < lengths.size(); ++i) {
      EXPECT_TRUE((*got)[i] == data.substr(at, lengths[i])) << "piece " << i;
      at += lengths[i];
    }
    EXPECT_EQ(server.requests(), 1);
    auto whole = origin->Read(server.url(), ByteRange{299'990, 10});
    ASSERT_TRUE(whole.ok()) << whole.status().ToString();
    EXPECT_EQ(*whole, data.substr(299'990, 10));
    auto bad = origin->ReadPieces(server.url(), range, {1, 2});
    EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  }
}

// Link-local addresses (cloud metadata) are refused where libcurl would
// open the socket: the message can only come from there, so no connection
// (not even a SYN) was attempted. A routable address still works.
TEST(HttpOrigin, RefusesLinkLocalAddressesBeforeConnecting) {
  HttpOptions o;
  o.connect_timeout_ms = 5000;
  auto origin = NewHttpOrigin(o);
  for (const char* url : {"http://169.254.169.254/latest/meta-data/", "http://169.254.1.2:8080/x",
                          "http://[fd00:ec2::254]/latest", "http://[fe80::1]/x",
                          "http://[::ffff:169.254.169.254]/x"}) {
    auto start = std::chrono::steady_clock::now();
    auto r = origin->Read(url, ByteRange{0, 10});
    auto s = origin->Stat(url);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied) << url << ": " << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr("link-local")) << url;
    EXPECT_EQ(s.status().code(), Code::kPermissionDenied) << url;
    EXPECT_LT(took, 1.0) << url << ": refused at once, not retried";
  }
  testing::TinyHttpServer server(RandomBytes(100, 3));
  EXPECT_TRUE(origin->Read(server.url(), ByteRange{0, 10}).ok());
}

// The default ReadPieces (here FileOrigin's) splits Read and keeps its checks.
TEST(FileOrigin, ReadPiecesSplitsRead) {
  TempDir dir;
  std::string data = RandomBytes(10'000, 12);
  std::string path = dir.Write("f.bin", data);
  auto origin = NewFileOrigin({"/"});
  auto got = origin->ReadPieces(path, ByteRange{10, 9000}, {4000, 0, 5000});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_TRUE((*got)[0] == data.substr(10, 4000));
  EXPECT_TRUE((*got)[1].empty());
  EXPECT_TRUE((*got)[2] == data.substr(4010, 5000));
  EXPECT_EQ(origin->ReadPieces(path, ByteRange{9000, 2000}, {2000}).status().code(),
            Code::kOutOfRange);
}

TEST(FileOrigin, ReadsRanges) {
  TempDir dir;
  std::string data = RandomBytes(10'000, 11);
  std::string path = dir.Write("f.bin", data);
  auto origin = NewFileOrigin({"/"});
  for (ByteRange r : {ByteRange{0, 10'000}, ByteRange{100, 50}, ByteRange{9990, 10},
                      ByteRange{0, 1}, ByteRange{5000, 0}, ByteRange{10'000, 0}}) {
    auto got = origin->Read(path, r);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == data.substr(r.offset, r.length)) << r.offset << "+" << r.length;
  }
  auto got = origin->Read("file://" + path, ByteRange{7, 3});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data.substr(7, 3));

  auto size = origin->Size(path);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 10'000u);
  size = origin->Size("file://" + path);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 10'000u);
}

TEST(FileOrigin, ShortFileIsOutOfRange) {
  TempDir dir;
  std::string path = dir.path() + "/f.bin";
  std::ofstream(path, std::ios::binary) << std::string(100, 'x');
  auto origin = NewFileOrigin({"/"});
  for (ByteRange r : {ByteRange{90, 11}, ByteRange{100, 1}, ByteRange{5000, 10}, ByteRange{0, 101}}) {
    auto got = origin->Read(path, r);
    ASSERT_FALSE(got.ok()) << r.offset << "+" << r.length;
    EXPECT_EQ(got.status().code(), Code::kOutOfRange);
    EXPECT_THAT(got.status().message(), HasSubstr(path));
  }
}

TEST(FileOrigin, MissingIsNotFound) {
  TempDir dir;
  auto origin = NewFileOrigin({"/"});
  std::string path = dir.path() + "/nope.nc";
  auto got = origin->Read(path, ByteRange{0, 1});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kNotFound);
  EXPECT_THAT(got.status().message(), HasSubstr(path));
  auto size = origin->Size(path);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), Code::kNotFound);
  got = origin->Read(dir.path() + "/nope/deeper.nc", ByteRange{0, 1});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kNotFound);
}

TEST(FileOrigin, DirectoryIsNotAnObject) {
  TempDir dir;
  auto origin = NewFileOrigin({"/"});
  auto size = origin->Size(dir.path());
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), Code::kIoError);
  auto got = origin->Read(dir.path(), ByteRange{0, 1});
  EXPECT_FALSE(got.ok());
}

TEST(FileOrigin, UnreadableIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads everything";
  TempDir dir;
  std::string path = dir.path() + "/secret";
  std::ofstream(path) << "x";
  chmod(path.c_str(), 0);
  auto got = NewFileOrigin({"/"})->Read(path, ByteRange{0, 1});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kPermissionDenied);
}

// Reference sets name local files; only those under the roots may be read,
// whatever the path says and wherever links lead.
TEST(FileOrigin, ReadsOnlyUnderItsRoots) {
  TempDir dir;
  ASSERT_EQ(mkdir((dir.path() + "/refs").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir.path() + "/refs-other").c_str(), 0755), 0);
  std::string inside = dir.Write("refs/in.bin", "inside");
  std::string outside = dir.Write("secret.bin", "secret");
  std::string sibling = dir.Write("refs-other/x.bin", "prefix");
  ASSERT_EQ(symlink(outside.c_str(), (dir.path() + "/refs/link.bin").c_str()), 0);
  ASSERT_EQ(symlink(inside.c_str(), (dir.path() + "/inward.bin").c_str()), 0);
  auto origin = NewFileOrigin({dir.path() + "/refs"});

  for (std::string ok : {inside, "file://" + inside, dir.path() + "/refs/../refs/in.bin",
                         dir.path() + "/inward.bin"}) {
    auto got = origin->Read(ok, ByteRange{0, 6});
    ASSERT_TRUE(got.ok()) << ok << ": " << got.status().ToString();
    EXPECT_EQ(*got, "inside");
    EXPECT_EQ(CheckLocalAccess(ok, {dir.path() + "/refs"}).code(), Code::kOk) << ok;
  }
  for (std::string bad : {outside, "file://" + outside, dir.path() + "/refs/../secret.bin",
                          dir.path() + "/refs/link.bin", sibling, std::string("/etc/passwd")}) {
    auto got = origin->Read(bad, ByteRange{0, 1});
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_EQ(got.status().code(), Code::kPermissionDenied) << bad;
    EXPECT_THAT(got.status().message(), HasSubstr("outside the directories"));
    EXPECT_EQ(origin->Stat(bad).status().code(), Code::kPermissionDenied) << bad;
    EXPECT_EQ(origin->Size(bad).status().code(), Code::kPermissionDenied) << bad;
    EXPECT_EQ(CheckLocalAccess(bad, {dir.path() + "/refs"}).code(), Code::kPermissionDenied)
        << bad;
  }
  // Missing files pass the mount-time check; reading them says not found.
  EXPECT_TRUE(CheckLocalAccess(dir.path() + "/refs/none.bin", {dir.path() + "/refs"}).ok());
  EXPECT_EQ(origin->Read(dir.path() + "/refs/none.bin", ByteRange{0, 1}).status().code(),
            Code::kNotFound);
  // No roots: nothing local is readable.
  EXPECT_EQ(NewFileOrigin({})->Read(inside, ByteRange{0, 1}).status().code(),
            Code::kPermissionDenied);
}

// A FIFO would block a reader until a writer comes: refused at once.
TEST(FileOrigin, FifoIsRefusedWithoutBlocking) {
  TempDir dir;
  std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  auto origin = NewFileOrigin({dir.path()});
  auto got = origin->Read(fifo, ByteRange{0, 1});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kIoError);
  EXPECT_THAT(got.status().message(), HasSubstr("not a regular file"));
  EXPECT_FALSE(origin->Size(fifo).ok());
}

// ---- RoutingOrigin --------------------------------------------------------------

TEST(RoutingOrigin, DispatchesOnScheme) {
  auto http = std::make_unique<FakeOrigin>();
  auto file = std::make_unique<FakeOrigin>();
  FakeOrigin* h = http.get();
  FakeOrigin* f = file.get();
  for (const char* u : {"http://h/x", "https://h/x", "s3://b/x", "gs://b/x"}) h->Set(u, "H");
  for (const char* u : {"/data/x.nc", "file:///data/x.nc", "relative/x.nc"}) f->Set(u, "F");
  auto origin = NewRoutingOrigin(std::move(http), std::move(file));

  for (const char* u : {"http://h/x", "https://h/x", "s3://b/x", "gs://b/x"}) {
    auto r = origin->Read(u, ByteRange{0, 1});
    ASSERT_TRUE(r.ok()) << u << ": " << r.status().ToString();
    EXPECT_EQ(*r, "H") << u;
  }
  for (const char* u : {"/data/x.nc", "file:///data/x.nc", "relative/x.nc"}) {
    auto r = origin->Read(u, ByteRange{0, 1});
    ASSERT_TRUE(r.ok()) << u << ": " << r.status().ToString();
    EXPECT_EQ(*r, "F") << u;
  }
  EXPECT_EQ(h->request_count(), 4u);
  EXPECT_EQ(f->request_count(), 3u);
  auto size = origin->Size("https://h/x");
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 1u);
  EXPECT_EQ(h->size_calls(), 1u);
  EXPECT_EQ(f->size_calls(), 0u);
}

TEST(RoutingOrigin, UnsupportedSchemes) {
  auto http = std::make_unique<FakeOrigin>();
  auto file = std::make_unique<FakeOrigin>();
  FakeOrigin* h = http.get();
  FakeOrigin* f = file.get();
  auto origin = NewRoutingOrigin(std::move(http), std::move(file));
  for (std::string u : {"ftp://h/x", "az://container/key.nc", "hdfs://h/x"}) {
    auto r = origin->Read(u, ByteRange{0, 1});
    ASSERT_FALSE(r.ok()) << u;
    EXPECT_EQ(r.status().code(), Code::kUnsupported) << u;
    std::string scheme = u.substr(0, u.find("://") + 3);
    EXPECT_THAT(r.status().message(), HasSubstr("'" + scheme + "'"));
    auto s = origin->Size(u);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), Code::kUnsupported);
  }
  EXPECT_EQ(h->request_count() + f->request_count(), 0u);
  EXPECT_EQ(h->size_calls() + f->size_calls(), 0u);
}

TEST(RoutingOrigin, MissingBackendIsUnsupported) {
  auto origin = NewRoutingOrigin(nullptr, std::make_unique<FakeOrigin>());
  auto r = origin->Read("https://h/x", ByteRange{0, 1});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
}

}  // namespace
}  // namespace zm
