// ChunkWalk: walks through a chunk grid recognised whatever the order of
// the reads, several at once told apart, random reads left alone.
#include "fs/chunk_walk.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

namespace zm {
namespace {

// The chunks a touch hands out, all batches in one list.
std::vector<uint64_t> Touch(ChunkWalk& w, uint64_t linear) {
  std::vector<uint64_t> all;
  for (const auto& batch : w.OnTouch(linear)) all.insert(all.end(), batch.begin(), batch.end());
  return all;
}

// The grid of the readers' benchmark: 512 time steps x 2 x 2 chunks.
const std::vector<uint64_t> kGrid = {512, 2, 2};
uint64_t At(uint64_t t, uint64_t y, uint64_t x) { return (t * 2 + y) * 2 + x; }
uint64_t TimeOf(uint64_t linear) { return linear / 4; }

TEST(ChunkWalk, DrillInOrderFetchesTheLineAhead) {
  ChunkWalk w(kGrid);
  EXPECT_TRUE(Touch(w, At(0, 1, 1)).empty());
  EXPECT_TRUE(Touch(w, At(1, 1, 1)).empty()) << "two touches are no walk yet";
  std::vector<uint64_t> ahead = Touch(w, At(2, 1, 1));
  ASSERT_EQ(ahead.size(), ChunkWalkOptions{}.initial_window);
  for (size_t i = 0; i < ahead.size(); ++i) EXPECT_EQ(ahead[i], At(3 + i, 1, 1)) << "nearest first";
}

// A second variable drilled at the same point after the first: its walk
// is the first's, adopted, and its first read on the line fetches ahead;
// a read elsewhere, or on a line already in use, ignores it.
TEST(ChunkWalk, AdoptedWalkFetchesAheadFromTheFirstRead) {
  ChunkWalk first(kGrid);
  EXPECT_FALSE(first.LatestWalk().has_value());
  for (uint64_t t = 0; t < 3; ++t) Touch(first, At(t, 1, 1));
  ASSERT_TRUE(first.LatestWalk().has_value()) << "three reads along time are a walk";
  const ChunkWalk::Walk walk = *first.LatestWalk();
  EXPECT_EQ(walk.axis, 0u);
  EXPECT_EQ(walk.start, 0u);
  EXPECT_FALSE(walk.down);

  ChunkWalk second(kGrid);
  second.Adopt(walk);
  std::vector<uint64_t> ahead = Touch(second, At(0, 1, 1));
  ASSERT_EQ(ahead.size(), ChunkWalkOptions{}.initial_window) << "the first read continues the walk";
  for (size_t i = 0; i < ahead.size(); ++i) EXPECT_EQ(ahead[i], At(1 + i, 1, 1));

  ChunkWalk far(kGrid);
  far.Adopt(walk);
  EXPECT_TRUE(Touch(far, At(300, 1, 1)).empty()) << "a read far from the walk's start is no continuation";
  EXPECT_TRUE(Touch(far, At(0, 0, 1)).empty()) << "nor one on another line";

  ChunkWalk busy(kGrid);
  Touch(busy, At(100, 1, 1));
  busy.Adopt(walk);  // its line is in use: ignored
  EXPECT_TRUE(Touch(busy, At(0, 1, 1)).empty());
}

// Dask's threads read a drill's chunks in no particular order: the same
// line is recognised, every chunk of it handed out once, none of another.
TEST(ChunkWalk, DrillInAnyOrderCoversTheLineOnce) {
  ChunkWalk w(kGrid);
  std::mt19937 rng(7);
  std::vector<uint64_t> order(512);
  for (uint64_t t = 0; t < 512; ++t) order[t] = t;
  // Shuffled within batches of 8, as a pool of threads takes tasks.
  for (size_t b = 0; b < order.size(); b += 8) std::shuffle(order.begin() + b, order.begin() + b + 8, rng);
  std::multiset<uint64_t> handed_out;
  size_t first_walk = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    for (uint64_t c : Touch(w, At(order[i], 0, 1))) {
      if (handed_out.empty()) first_walk = i + 1;
      handed_out.insert(c);
    }
  }
  EXPECT_LE(first_walk, 4u) << "recognised after a handful of chunks";
  std::set<uint64_t> unique(handed_out.begin(), handed_out.end());
  EXPECT_EQ(unique.size(), handed_out.size()) << "no chunk handed out twice";
  for (uint64_t c : unique) EXPECT_EQ(c % 4, At(0, 0, 1)) << "only the drilled line";
  // Every chunk of the line but those read before the walk was recognised.
  std::vector<uint64_t> missing;
  for (uint64_t t = 0; t < 512; ++t)
    if (!unique.count(At(t, 0, 1))) missing.push_back(t);
  EXPECT_LE(missing.size(), 8u) << "first missing: " << missing.front() << ", last: " << missing.back();
}

// Dask runs a drill's reads on a pool in an order of its own: a random
// permutation of the line, reads overlapping in time. The whole line is
// fetched, each chunk once, nothing of another line.
TEST(ChunkWalk, DrillReadByAPoolInNoOrderFetchesTheWholeLine) {
  ChunkWalk w(kGrid);
  std::mt19937 rng(5);
  std::vector<uint64_t> order(512);
  for (uint64_t t = 0; t < 512; ++t) order[t] = t;
  std::shuffle(order.begin(), order.end(), rng);
  std::multiset<uint64_t> handed_out;
  size_t first = 0;
  for (size_t i = 0; i < order.size(); ++i)
    for (const auto& batch : w.OnRead({At(order[i], 1, 0)}, /*overlapping=*/i > 0))
      for (uint64_t c : batch) {
        if (handed_out.empty()) first = i + 1;
        handed_out.insert(c);
      }
  EXPECT_LE(first, 8u) << "recognised after a handful of reads";
  std::set<uint64_t> unique(handed_out.begin(), handed_out.end());
  EXPECT_EQ(unique.size(), handed_out.size()) << "no chunk handed out twice";
  for (uint64_t c : unique) EXPECT_EQ(c % 4, At(0, 1, 0)) << "only the drilled line";
  EXPECT_GE(unique.size(), 500u);
}

// The same reads by one reader, one at a time, are random reads.
TEST(ChunkWalk, OneReaderJumpingAlongALineIsNoWalk) {
  ChunkWalk w(kGrid);
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint64_t> t(0, 511);
  size_t fetched = 0;
  for (int i = 0; i < 500; ++i) fetched += Touch(w, At(t(rng), 1, 0)).size();
  EXPECT_LE(fetched, 25u) << "random reads must not pay for speculation";
}

TEST(ChunkWalk, FourDrillsAtOnceAreToldApart) {
  ChunkWalk w(kGrid);
  std::set<uint64_t> lines_fetched;
  size_t fetched = 0;
  for (uint64_t t = 0; t < 64; ++t)
    for (uint64_t yx = 0; yx < 4; ++yx)
      for (uint64_t c : Touch(w, At(t, yx / 2, yx % 2))) {
        lines_fetched.insert(c % 4);
        EXPECT_GE(TimeOf(c), t) << "ahead of the walk";
        ++fetched;
      }
  EXPECT_EQ(lines_fetched.size(), 4u);
  EXPECT_GE(fetched, 4u * 60) << "each drill fetched ahead";
}

TEST(ChunkWalk, WholeVariableInCOrderFetchesAheadInCOrder) {
  ChunkWalk w(kGrid);
  std::set<uint64_t> fetched;
  for (uint64_t l = 0; l < 64; ++l) {
    for (uint64_t c : Touch(w, l)) {
      EXPECT_GT(c, l);
      fetched.insert(c);
    }
  }
  for (uint64_t l = 3; l < 64 + 16; ++l) EXPECT_TRUE(fetched.count(l)) << l;
}

TEST(ChunkWalk, WindowGrowsUpToItsBoundAndStaysAhead) {
  ChunkWalkOptions o;
  o.max_window = 64;
  ChunkWalk w({1000}, o);
  uint64_t fetched_to = 0;
  for (uint64_t t = 0; t < 600; ++t) {
    for (uint64_t c : Touch(w, t)) fetched_to = std::max(fetched_to, c);
    if (t >= 2) {
      EXPECT_GT(fetched_to, t) << "ahead of the reader at " << t;
      EXPECT_LE(fetched_to, t + 64) << "never more than the window ahead";
    }
  }
}

// The same drill run again from its start, twice (its chunks gone from the
// caches, say) is a walk of its own, fetched ahead as the first was; a
// reader a little behind the leading edge (a pool's stragglers) is not.
TEST(ChunkWalk, WalkStartedOverIsFetchedAheadAgain) {
  ChunkWalk w(kGrid);
  std::set<uint64_t> first;
  for (uint64_t t = 0; t < 512; ++t)
    for (uint64_t c : Touch(w, At(t, 1, 1))) first.insert(c);
  ASSERT_EQ(first.size(), 509u) << "the first walk fetched the line past its third read";
  for (int pass = 2; pass <= 3; ++pass) {
    std::set<uint64_t> again;
    size_t elsewhere = 0;
    for (uint64_t t = 0; t < 512; ++t)
      for (uint64_t c : Touch(w, At(t, 1, 1))) {
        if (c % 4 != At(0, 1, 1)) {
          ++elsewhere;  // nothing off the drilled column
          continue;
        }
        EXPECT_GT(TimeOf(c), t) << "only ahead of the reader, pass " << pass;
        again.insert(c);
      }
    for (uint64_t t = 3; t < 512; ++t) EXPECT_TRUE(again.count(At(t, 1, 1))) << "pass " << pass << ", " << t;
    EXPECT_EQ(elsewhere, 0u) << "pass " << pass;
  }

  ChunkWalk pool(kGrid);
  size_t fetched = 0;
  for (uint64_t t = 0; t < 100; ++t) fetched += Touch(pool, At(t, 0, 1)).size();
  // Stragglers a few positions back add no walk and no fetch.
  for (uint64_t t : {95, 97, 92}) EXPECT_TRUE(Touch(pool, At(t, 0, 1)).empty()) << t;
  EXPECT_GT(fetched, 100u - 3);
}

TEST(ChunkWalk, BackwardWalkFetchesBelow) {
  ChunkWalk w({100});
  Touch(w, 90);
  Touch(w, 89);
  std::vector<uint64_t> ahead = Touch(w, 88);
  ASSERT_FALSE(ahead.empty());
  EXPECT_EQ(ahead.front(), 87u);
  for (uint64_t c : ahead) EXPECT_LT(c, 88u);
}

TEST(ChunkWalk, RandomReadsFetchAlmostNothing) {
  ChunkWalk w(kGrid);
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint64_t> chunk(0, 512 * 4 - 1);
  size_t fetched = 0;
  constexpr size_t kReads = 1000;
  for (size_t i = 0; i < kReads; ++i) fetched += Touch(w, chunk(rng)).size();
  // A few lines of two chunks (y or x) are hit three times by chance; each
  // costs one speculative chunk at most.
  EXPECT_LE(fetched, kReads / 20) << "random reads must not pay for speculation";
}

TEST(ChunkWalk, StateIsBounded) {
  ChunkWalkOptions o;
  o.max_lines = 8;
  ChunkWalk w({100000, 100}, o);
  std::mt19937 rng(3);
  std::uniform_int_distribution<uint64_t> chunk(0, 100000 * 100 - 1);
  for (int i = 0; i < 100000; ++i) Touch(w, chunk(rng));
  // A drill still works after the table churned.
  Touch(w, 0 * 100 + 5);
  Touch(w, 1 * 100 + 5);
  EXPECT_FALSE(Touch(w, 2 * 100 + 5).empty());
}

TEST(ChunkWalk, OutOfGridTouchIsIgnored) {
  ChunkWalk w(kGrid);
  EXPECT_TRUE(Touch(w, 512 * 4).empty());
  ChunkWalk empty({0, 4});
  EXPECT_TRUE(Touch(empty, 0).empty());
}

}  // namespace
}  // namespace zm
