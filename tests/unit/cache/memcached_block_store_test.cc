#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <atomic>

#include "base/units.h"
#include "cache/block_tiers.h"
#include "cache/shared_block_store.h"
#include "cache/shared_envelope.h"
#include "tests/unit/cache/block_stores.h"
#include "tests/unit/cache/memcached_server.h"
#include "tests/unit/temp_dir.h"

namespace zm {
namespace {

using testing::MakeBlock;
using testing::MemcachedServer;
using Clock = std::chrono::steady_clock;

const std::string kSecret = "a shared secret of 32 bytes.....";

std::string Bytes(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed) % 251);
  return s;
}

std::string NameOf(const BlockKey& key, uint32_t part) {
  char name[64];
  std::snprintf(name, sizeof name, "zm1:%016llx%016llx.%u", static_cast<unsigned long long>(key.hi),
                static_cast<unsigned long long>(key.lo), part);
  return name;
}

// Nodes get a generous timeout: on a busy test machine a healthy node may
// take more than the default 50 ms, and a node taken for dead would change
// what the tests count. (Nodes that are down refuse connections at once.)
std::unique_ptr<SharedBlockStore> Open(const std::vector<std::string>& nodes, std::string key = kSecret,
                                       const std::string& query = "?timeout_ms=1000") {
  std::string url = "memcached://";
  for (size_t i = 0; i < nodes.size(); ++i) url += (i ? "," : "") + nodes[i];
  auto o = ParseSharedCacheUrl(url + query, "--shared-cache");
  EXPECT_TRUE(o.ok()) << o.status().ToString();
  if (!o.ok()) return nullptr;
  o->mac_key = std::move(key);
  auto s = OpenMemcachedBlockStore(*o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

TEST(MemcachedBlockStore, AnotherHostReadsWhatOnePut) {
  MemcachedServer server;
  auto a = Open({server.address()});
  auto b = Open({server.address()});
  ASSERT_TRUE(a && b);
  // Small, exactly one item, and larger than an item (split).
  const std::vector<size_t> sizes = {1, 4000, 1_MiB, 3_MiB + 17};
  for (size_t i = 0; i < sizes.size(); ++i) a->Put(MakeBlockKey("u", {i, sizes[i]}), MakeBlock(Bytes(sizes[i], i)));
  a->Flush();
  EXPECT_EQ(a->stats().puts, sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    Block got = b->Get(MakeBlockKey("u", {i, sizes[i]}));
    ASSERT_TRUE(got) << sizes[i];
    EXPECT_EQ(*got, Bytes(sizes[i], i));
  }
  EXPECT_EQ(b->Get(MakeBlockKey("u", {99, 1})), nullptr);
  auto s = b->stats();
  EXPECT_EQ(s.hits, sizes.size());
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.rejected, 0u);
  EXPECT_EQ(s.errors, 0u);
  ASSERT_EQ(s.nodes.size(), 1u);
  EXPECT_TRUE(s.nodes[0].up);
  // The 3 MiB block was cut into parts, each within an item.
  const BlockKey big = MakeBlockKey("u", {3, sizes[3]});
  EXPECT_FALSE(server.Get(NameOf(big, 3)).empty());
  EXPECT_LE(server.Get(NameOf(big, 0)).size(), 1_MiB);
}

TEST(MemcachedBlockStore, GarbageForgedAndForeignValuesAreMissesAndCounted) {
  MemcachedServer server;
  auto store = Open({server.address()});
  ASSERT_TRUE(store);
  const BlockKey key = MakeBlockKey("v", {0, 5000});
  const std::string data = Bytes(5000, 3);
  store->Put(key, MakeBlock(data));
  store->Flush();
  const std::string good = server.Get(NameOf(key, 0));
  ASSERT_EQ(good.size(), 5000 + kEnvelopeHeaderBytes);

  uint64_t rejected = 0;
  auto expect_refused = [&](const std::string& value, const char* what) {
    ASSERT_TRUE(server.Set(NameOf(key, 0), value)) << what;
    EXPECT_EQ(store->Get(key), nullptr) << what;
    EXPECT_EQ(store->stats().rejected, ++rejected) << what;
  };
  expect_refused(std::string(good.size(), 'g'), "garbage of the same size");
  expect_refused(good.substr(0, good.size() - 10), "truncated");
  std::string flipped = good;
  flipped[200] ^= 0x40;
  expect_refused(flipped, "one data bit changed");
  // Well formed, right key and checksum, sealed without our key.
  auto keyless = Open({server.address()}, "another key of 16+ bytes");
  keyless->Put(key, MakeBlock(std::string(5000, 'E')));
  keyless->Flush();
  EXPECT_EQ(store->Get(key), nullptr);
  EXPECT_EQ(store->stats().rejected, ++rejected);
  // Another block's (good) value copied under this key.
  const BlockKey other = MakeBlockKey("v", {1, 5000});
  store->Put(other, MakeBlock(data));
  store->Flush();
  expect_refused(server.Get(NameOf(other, 0)), "another block's value");
  // The fill path stores the origin's bytes again: good from then on.
  store->Put(key, MakeBlock(data));
  store->Flush();
  Block got = store->Get(key);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, data);
}

TEST(MemcachedBlockStore, LargerItemsHoldA1MiBBlockInOneValue) {
  MemcachedServer server({"-I", "2m"});
  auto store = Open({server.address()}, kSecret, "?timeout_ms=1000&item_size=2M");
  ASSERT_TRUE(store);
  const BlockKey key = MakeBlockKey("i", {0, 1_MiB});
  store->Put(key, MakeBlock(Bytes(1_MiB, 4)));
  store->Flush();
  EXPECT_EQ(server.Get(NameOf(key, 0)).size(), 1_MiB + kEnvelopeHeaderBytes);
  EXPECT_TRUE(server.Get(NameOf(key, 1)).empty());
  Block got = store->Get(key);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, Bytes(1_MiB, 4));
}

TEST(MemcachedBlockStore, SplitBlockIsAllOrNothing) {
  MemcachedServer server;
  auto store = Open({server.address()});
  ASSERT_TRUE(store);
  const BlockKey key = MakeBlockKey("w", {0, 2_MiB + 5});
  const std::string data = Bytes(2_MiB + 5, 9);
  store->Put(key, MakeBlock(data));
  store->Flush();
  ASSERT_TRUE(store->Get(key));
  // A later part forged: refused.
  const std::string part1 = server.Get(NameOf(key, 1));
  ASSERT_FALSE(part1.empty());
  ASSERT_TRUE(server.Set(NameOf(key, 1), std::string(part1.size(), 'z')));
  EXPECT_EQ(store->Get(key), nullptr);
  EXPECT_EQ(store->stats().rejected, 1u);
  // A later part gone (evicted apart from its siblings): a miss.
  ASSERT_TRUE(server.Delete(NameOf(key, 1)));
  EXPECT_EQ(store->Get(key), nullptr);
  EXPECT_EQ(store->stats().misses, 1u);
}

// `cache stats --shared-cache`: each node's own counters; a node down is
// reported down with why, and the others still answer.
TEST(SharedNodeReports, LiveNodesCountWhatTheyHoldDeadOnesSayWhy) {
  MemcachedServer live;
  const std::string dead = "127.0.0.1:" + std::to_string(testing::FreePort());
  auto store = Open({live.address()});
  ASSERT_TRUE(store);
  for (int i = 0; i < 20; ++i) store->Put(MakeBlockKey("r", {uint64_t(i), 100}), MakeBlock(Bytes(100, i)));
  store->Flush();
  auto o = ParseSharedCacheUrl("memcached://" + live.address() + "," + dead, "--shared-cache");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  auto reports = ReportSharedNodes(*o);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].name, live.address());
  EXPECT_TRUE(reports[0].up) << reports[0].error;
  EXPECT_EQ(reports[0].items, 20u);
  EXPECT_GT(reports[0].bytes, 20u * 100);
  EXPECT_GT(reports[0].limit_bytes, reports[0].bytes);
  EXPECT_EQ(reports[1].name, dead);
  EXPECT_FALSE(reports[1].up);
  EXPECT_THAT(reports[1].error, ::testing::HasSubstr("Connection refused"));
  EXPECT_THAT(reports[1].error, ::testing::Not(::testing::HasSubstr("0x"))) << "no pointers, no source lines";
}

TEST(MemcachedBlockStore, DeadNodeCostsAShortTimeoutThenIsSkipped) {
  MemcachedServer live;
  // A port nothing listens on: connections are refused at once. (A node
  // that does not answer at all is bounded by timeout_ms the same way:
  // test_shared_cache::test_silent_node_costs_a_short_timeout.)
  const std::string dead = "127.0.0.1:" + std::to_string(testing::FreePort());
  auto store = Open({live.address(), dead}, kSecret, "?timeout_ms=1000&retry_s=60");
  ASSERT_TRUE(store);
  auto slowest = Clock::duration::zero();
  for (int i = 0; i < 200; ++i) {
    auto t0 = Clock::now();
    EXPECT_EQ(store->Get(MakeBlockKey("x", {uint64_t(i), 10})), nullptr);
    slowest = std::max(slowest, Clock::now() - t0);
  }
  EXPECT_LT(slowest, std::chrono::milliseconds(500));
  auto s = store->stats();
  EXPECT_GE(s.errors, 1u);
  ASSERT_EQ(s.nodes.size(), 2u);
  EXPECT_TRUE(s.nodes[0].up);
  EXPECT_FALSE(s.nodes[1].up) << s.nodes[1].name;
  // Its share is a miss (not moved to the live node, which keeps its own
  // share): blocks of the live node's share are stored and found.
  for (int i = 0; i < 50; ++i) store->Put(MakeBlockKey("y", {uint64_t(i), 10}), MakeBlock(Bytes(10, i)));
  store->Flush();
  // The dead node's share is dropped and counted: every Put is accounted for.
  auto w = store->stats();
  EXPECT_GT(w.queue_drops, 0u);
  EXPECT_EQ(w.puts + w.queue_drops, 50u);
  int found = 0;
  for (int i = 0; i < 50; ++i) {
    auto t0 = Clock::now();
    found += store->Get(MakeBlockKey("y", {uint64_t(i), 10})) != nullptr;
    EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(100));
  }
  EXPECT_GT(found, 5);
  EXPECT_LT(found, 45);
  EXPECT_EQ(store->stats().errors, s.errors) << "a skipped node is not asked again";
}

// A TCP server on a loopback port that is not memcached: it accepts and
// then either answers every request with junk or never answers at all.
class FakeNode {
 public:
  explicit FakeNode(bool answer_junk) : junk_(answer_junk) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 64);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeNode() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    for (int c : clients_) ::close(c);
    ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void Serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      clients_.push_back(c);
      if (junk_) {  // a reply to no request, promising bytes that never come
        static const char kJunk[] = "VALUE zm1:nonsense 0 99999999\r\n\x01\x02garbage\r\n";
        ::send(c, kJunk, sizeof kJunk - 1, MSG_NOSIGNAL);
      }
    }
  }
  const bool junk_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> clients_;  // kept open: a silent node holds its connections
  std::thread thread_;
};

TEST(MemcachedBlockStore, SilentOrJunkNodeCostsOneTimeoutThenIsSkipped) {
  for (bool junk : {false, true}) {
    MemcachedServer live;
    FakeNode bad(junk);
    auto store = Open({live.address(), bad.address()}, kSecret, "?timeout_ms=100&retry_s=60");
    ASSERT_TRUE(store);
    auto total = Clock::duration::zero(), slowest = Clock::duration::zero();
    for (int i = 0; i < 100; ++i) {
      auto t0 = Clock::now();
      EXPECT_EQ(store->Get(MakeBlockKey("z", {uint64_t(i), 10})), nullptr);
      total += Clock::now() - t0;
      slowest = std::max(slowest, Clock::now() - t0);
    }
    // One timeout of 100 ms (libmemcached's default would be 1 s), then skipped.
    EXPECT_LT(slowest, std::chrono::milliseconds(800)) << (junk ? "junk" : "silent");
    EXPECT_LT(total, std::chrono::milliseconds(1500)) << (junk ? "junk" : "silent");
    auto s = store->stats();
    EXPECT_FALSE(s.nodes[1].up) << (junk ? "junk" : "silent");
    EXPECT_TRUE(s.nodes[0].up);
    EXPECT_EQ(s.hits, 0u);
  }
}

TEST(MemcachedBlockStore, NodeIsTriedAgainAfterRetrySeconds) {
  MemcachedServer server;
  auto store = Open({server.address()}, kSecret, "?timeout_ms=1000&retry_s=1");
  ASSERT_TRUE(store);
  const BlockKey key = MakeBlockKey("r", {0, 10});
  server.Stop();
  EXPECT_EQ(store->Get(key), nullptr);
  EXPECT_FALSE(store->stats().nodes[0].up);
  server.Start();  // back, empty, on the same port
  store->Put(key, MakeBlock("0123456789"));
  store->Flush();
  EXPECT_EQ(store->Get(key), nullptr) << "still skipped within retry_s";
  // Our window is 1 s; a connection's own back-off (whole seconds) may add
  // up to 2 s more.
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  EXPECT_TRUE(store->stats().nodes[0].up);
  store->Put(key, MakeBlock("0123456789"));
  store->Flush();
  Block got = store->Get(key);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "0123456789");
}

TEST(MemcachedBlockStore, PartsOfABlockShareOneNodeAndBlocksSpreadOverNodes) {
  MemcachedServer n1, n2, n3;
  const MemcachedServer* servers[] = {&n1, &n2, &n3};
  auto store = Open({n1.address(), n2.address(), n3.address()});
  ASSERT_TRUE(store);
  int holders_of_blocks[3] = {0, 0, 0};
  for (int b = 0; b < 30; ++b) {
    const BlockKey key = MakeBlockKey("s", {uint64_t(b), 3_MiB});
    store->Put(key, MakeBlock(Bytes(3_MiB, b)));
    store->Flush();
    int holders = 0;
    for (int n = 0; n < 3; ++n) {
      int parts = 0;
      for (uint32_t p = 0; p < 4; ++p) parts += !servers[n]->Get(NameOf(key, p)).empty();
      EXPECT_TRUE(parts == 0 || parts == 4) << "block " << b << " node " << n << ": " << parts << " parts";
      if (parts) ++holders, ++holders_of_blocks[n];
    }
    EXPECT_EQ(holders, 1) << "block " << b;
  }
  for (int n = 0; n < 3; ++n) EXPECT_GT(holders_of_blocks[n], 0) << "node " << n << " holds nothing";
}

TEST(MemcachedBlockStore, ConcurrentReadersAndWritersSeeWholeBlocks) {
  MemcachedServer n1, n2;
  auto store = Open({n1.address(), n2.address()}, kSecret, "?timeout_ms=1000");
  ASSERT_TRUE(store);
  std::atomic<int> wrong{0}, found{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const int b = (i * 7 + t) % 16;  // threads share blocks
        const size_t size = 200_KiB + b * 100_KiB;  // some split in two
        const BlockKey key = MakeBlockKey("c", {uint64_t(b), size});
        if (Block got = store->Get(key)) {
          ++found;
          if (*got != Bytes(size, b)) ++wrong;
        } else {
          store->Put(key, MakeBlock(Bytes(size, b)));
        }
      }
    });
  for (auto& t : threads) t.join();
  store->Flush();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(found.load(), 0);
  EXPECT_EQ(store->stats().errors, 0u);
}

TEST(MemcachedBlockStore, FullQueueDropsAndCounts) {
  MemcachedServer server;
  auto store = Open({server.address()}, kSecret, "?timeout_ms=1000&queue=64K&put_wait_ms=0");
  ASSERT_TRUE(store);
  for (int i = 0; i < 100; ++i) store->Put(MakeBlockKey("q", {uint64_t(i), 32_KiB}), MakeBlock(Bytes(32_KiB, i)));
  store->Flush();
  auto s = store->stats();
  EXPECT_GT(s.queue_drops, 0u);
  EXPECT_EQ(s.puts + s.queue_drops, 100u);
}

// Puts far faster than the writers store (a queue of two blocks): each
// waits for room, so none is dropped and every block is stored.
TEST(MemcachedBlockStore, FullQueueWaitsForTheWritersInsteadOfDropping) {
  MemcachedServer server;
  auto store = Open({server.address()}, kSecret, "?timeout_ms=1000&queue=64K&put_wait_ms=5000");
  ASSERT_TRUE(store);
  constexpr int kBlocks = 100;
  for (int i = 0; i < kBlocks; ++i) store->Put(MakeBlockKey("w", {uint64_t(i), 32_KiB}), MakeBlock(Bytes(32_KiB, i)));
  store->Flush();
  auto s = store->stats();
  EXPECT_EQ(s.queue_drops, 0u);
  EXPECT_EQ(s.puts, uint64_t{kBlocks});
  for (int i = 0; i < kBlocks; ++i) {
    Block got = store->Get(MakeBlockKey("w", {uint64_t(i), 32_KiB}));
    ASSERT_TRUE(got) << i;
    EXPECT_EQ(*got, Bytes(32_KiB, i));
  }
}

// A writer stuck on a node that never answers costs a Put one wait, not one
// wait per Put: the rest are dropped at once until a writer finishes.
TEST(MemcachedBlockStore, StalledWritersCostOneWaitThenDrop) {
  FakeNode silent(/*answer_junk=*/false);
  auto store = Open({silent.address()}, kSecret, "?timeout_ms=200&queue=64K&put_wait_ms=300");
  ASSERT_TRUE(store);
  auto t0 = Clock::now();
  for (int i = 0; i < 100; ++i) store->Put(MakeBlockKey("s", {uint64_t(i), 32_KiB}), MakeBlock(Bytes(32_KiB, i)));
  // Four writers take a block each, the queue two more; one wait of 300 ms
  // for the seventh, then drops.
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(1500));
  EXPECT_GT(store->stats().queue_drops, 50u);
}

// A batch over three nodes: every block found is the right one in the
// right place, absent, forged and split blocks included; a dead node's
// share is a miss.
TEST(MemcachedBlockStore, GetManyAnswersABatchInOrder) {
  MemcachedServer n1, n2, n3;
  const std::string dead = "127.0.0.1:" + std::to_string(testing::FreePort());
  auto store = Open({n1.address(), n2.address(), n3.address(), dead}, kSecret, "?timeout_ms=1000&retry_s=60");
  ASSERT_TRUE(store);
  constexpr int kBlocks = 90;
  auto size_of = [](int i) -> size_t { return i % 30 == 7 ? 3_MiB + 5 : 1000 + 37 * i; };
  std::vector<BlockKey> keys;
  for (int i = 0; i < kBlocks; ++i) {
    keys.push_back(MakeBlockKey("m", {uint64_t(i), size_of(i)}));
    if (i % 9 != 4) store->Put(keys.back(), MakeBlock(Bytes(size_of(i), i)));  // every 9th absent
  }
  store->Flush();
  // One stored value replaced by garbage on whichever node holds it.
  for (MemcachedServer* n : {&n1, &n2, &n3}) {
    if (n->Get(NameOf(keys[10], 0)).empty()) continue;
    ASSERT_TRUE(n->Set(NameOf(keys[10], 0), std::string(1200, 'g')));
  }
  std::vector<Block> got = store->GetMany(keys);
  ASSERT_EQ(got.size(), keys.size());
  int found = 0;
  for (int i = 0; i < kBlocks; ++i) {
    if (!got[i]) continue;
    ++found;
    EXPECT_NE(i % 9, 4) << i;
    EXPECT_NE(i, 10);
    EXPECT_EQ(*got[i], Bytes(size_of(i), i)) << i;
  }
  // The live nodes hold about three quarters of the 79 good blocks.
  EXPECT_GT(found, 30);
  EXPECT_LT(found, 79);
  auto s = store->stats();
  EXPECT_EQ(s.hits, uint64_t(found));
  EXPECT_LE(s.rejected, 1u);
  // Everything the store answers on its own it answers the same in a batch.
  for (int i = 0; i < kBlocks; ++i) {
    Block one = store->Get(keys[i]);
    EXPECT_EQ(bool(one), bool(got[i])) << i;
  }
}

TEST(MemcachedBlockStore, GetManyAsksTheNodesAtOnceWhateverConnectionsAreFree) {
  // 200 blocks over three nodes: several requests per node, sent a round
  // at a time, one per node, each on a connection of its own; with a pool
  // of one connection every request waits for the one before.
  MemcachedServer n1, n2, n3;
  for (const char* connections : {"64", "1"}) {
    auto store = Open({n1.address(), n2.address(), n3.address()}, kSecret,
                      std::string("?timeout_ms=1000&connections=") + connections);
    ASSERT_TRUE(store);
    std::vector<BlockKey> keys;
    for (int i = 0; i < 200; ++i) {
      keys.push_back(MakeBlockKey(std::string("many") + connections, {uint64_t(i), 100}));
      if (i % 7 != 3) store->Put(keys.back(), MakeBlock(Bytes(100 + i, i)));
    }
    store->Flush();
    std::vector<Block> got = store->GetMany(keys);
    ASSERT_EQ(got.size(), keys.size());
    for (int i = 0; i < 200; ++i) {
      ASSERT_EQ(bool(got[i]), i % 7 != 3) << connections << " " << i;
      if (got[i]) {
        EXPECT_EQ(*got[i], Bytes(100 + i, i)) << connections << " " << i;
      }
    }
    EXPECT_EQ(store->stats().errors, 0u) << connections;
  }
}

TEST(MemcachedBlockStore, TiersGetManyTakesLocalHitsAndFillsFromTheShared) {
  MemcachedServer server;
  auto shared = Open({server.address()});
  auto memory = NewMemoryBlockStore(16_MiB);
  std::vector<BlockKey> keys;
  for (int i = 0; i < 4; ++i) keys.push_back(MakeBlockKey("g", {uint64_t(i), 100}));
  memory->Put(keys[0], MakeBlock(Bytes(100, 0)));
  shared->Put(keys[1], MakeBlock(Bytes(100, 1)));
  shared->Put(keys[2], MakeBlock(Bytes(100, 2)));
  shared->Flush();
  BlockTiers tiers{memory.get(), nullptr, shared.get()};
  std::vector<BlockTiers::Hit> hits;
  std::vector<Block> got = tiers.GetMany(keys, &hits);
  ASSERT_EQ(got.size(), 4u);
  ASSERT_EQ(hits.size(), 4u);
  EXPECT_EQ(hits[0], BlockTiers::Hit::kMemory);
  EXPECT_EQ(hits[1], BlockTiers::Hit::kShared);
  EXPECT_EQ(hits[2], BlockTiers::Hit::kShared);
  EXPECT_EQ(hits[3], BlockTiers::Hit::kNone);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*got[i], Bytes(100, i));
  EXPECT_EQ(got[3], nullptr);
  EXPECT_TRUE(memory->Get(keys[1]));  // shared hits kept locally
}

TEST(MemcachedBlockStore, SharedHitFillsTheLocalTiers) {
  MemcachedServer server;
  auto shared = Open({server.address()});
  auto memory = NewMemoryBlockStore(16_MiB);
  const BlockKey key = MakeBlockKey("t", {0, 100});
  shared->Put(key, MakeBlock(Bytes(100, 1)));
  shared->Flush();
  BlockTiers tiers{memory.get(), nullptr, shared.get()};
  BlockTiers::Hit hit;
  ASSERT_TRUE(tiers.Get(key, &hit));
  EXPECT_EQ(hit, BlockTiers::Hit::kShared);
  ASSERT_TRUE(tiers.Get(key, &hit));
  EXPECT_EQ(hit, BlockTiers::Hit::kMemory);
}

TEST(SharedCacheUrl, ParsesNodesAndParameters) {
  auto o = ParseSharedCacheUrl("memcached://a:1,b.example:22,[::1]:33?timeout_ms=20&retry_s=5&item_size=2M&put_wait_ms=0",
                               "--shared-cache");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  ASSERT_EQ(o->nodes.size(), 3u);
  EXPECT_EQ(o->nodes[1].host, "b.example");
  EXPECT_EQ(o->nodes[1].port, 22);
  EXPECT_EQ(o->nodes[2].host, "::1");
  EXPECT_EQ(o->timeout_ms, 20);
  EXPECT_EQ(o->retry_s, 5);
  EXPECT_EQ(o->item_bytes, 2_MiB);
  EXPECT_EQ(o->put_wait_ms, 0);
  for (const char* bad : {"http://a:1", "memcached://", "memcached://a:x", "memcached://a:1,,b:2",
                          "memcached://a:1?timeout_ms=0", "memcached://a:1?nope=1", "memcached://a:1?x"}) {
    auto r = ParseSharedCacheUrl(bad, "--shared-cache");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--shared-cache"), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  }
}

TEST(SharedCacheKey, MustBePrivateAndLongEnough) {
  testing::TempDir dir;
  const std::string path = dir.Write("key", kSecret);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto k = ReadSharedCacheKey(path);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(*k, kSecret);
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  auto r = ReadSharedCacheKey(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("chmod 600"), std::string::npos) << r.status().message();
  const std::string short_key = dir.Write("short", "tiny");
  ASSERT_EQ(::chmod(short_key.c_str(), 0400), 0);
  EXPECT_FALSE(ReadSharedCacheKey(short_key).ok());
  EXPECT_FALSE(ReadSharedCacheKey(dir.path() + "/missing").ok());
  EXPECT_FALSE(ReadSharedCacheKey(dir.path()).ok());
}

}  // namespace
}  // namespace zm
