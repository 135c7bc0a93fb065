// Unit tests of zarr/chunk_grid.h: shapes, counts, indices and edge chunks.
#include <gtest/gtest.h>

#include <vector>

#include "zarr/chunk_grid.h"

namespace zm {
namespace {

using Index = std::vector<uint64_t>;

// ---- chunk grid ------------------------------------------------------------------

TEST(ChunkGrid, ShapeCountAndBothIndices) {
  auto g = ChunkGrid::Make({10, 7, 4}, {3, 7, 2});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->rank(), 3u);
  EXPECT_EQ(g->grid_shape(), (Index{4, 1, 2}));
  EXPECT_EQ(g->chunk_count(), 8u);
  // C order: the last dimension varies fastest.
  EXPECT_EQ(g->LinearIndex({0, 0, 1}), 1u);
  EXPECT_EQ(g->LinearIndex({1, 0, 0}), 2u);
  EXPECT_EQ(g->LinearIndex({3, 0, 1}), 7u);
  for (uint64_t l = 0; l < g->chunk_count(); ++l) EXPECT_EQ(g->LinearIndex(g->GridIndex(l)), l);
  // Outside the grid, or the wrong rank.
  EXPECT_FALSE(g->LinearIndex({4, 0, 0}));
  EXPECT_FALSE(g->LinearIndex({0, 1, 0}));
  EXPECT_FALSE(g->LinearIndex({0, 0}));
  EXPECT_FALSE(g->LinearIndex({0, 0, 0, 0}));
}

TEST(ChunkGrid, EdgeChunksAreCutByTheShape) {
  auto g = ChunkGrid::Make({10, 7}, {3, 7});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->ChunkExtent({0, 0}), (Index{3, 7}));
  EXPECT_EQ(g->ChunkExtent({2, 0}), (Index{3, 7}));
  EXPECT_EQ(g->ChunkExtent({3, 0}), (Index{1, 7}));
  // Near the top of uint64: no wrap.
  auto huge = ChunkGrid::Make({18446744073709551615u}, {10});
  ASSERT_TRUE(huge.ok());
  EXPECT_EQ(huge->grid_shape(), (Index{1844674407370955162u}));
  EXPECT_EQ(huge->ChunkExtent({1844674407370955161u}), (Index{5}));
}

TEST(ChunkGrid, ZeroDimensionalAndEmptyArrays) {
  auto scalar = ChunkGrid::Make({}, {});
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->chunk_count(), 1u);
  EXPECT_EQ(scalar->GridIndex(0), Index{});
  EXPECT_EQ(scalar->LinearIndex({}), 0u);
  EXPECT_EQ(scalar->ChunkExtent({}), Index{});
  auto empty = ChunkGrid::Make({3, 0}, {2, 2});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->grid_shape(), (Index{2, 0}));
  EXPECT_EQ(empty->chunk_count(), 0u);
  EXPECT_FALSE(empty->LinearIndex({0, 0}));
}

TEST(ChunkGrid, RefusesGridsItCannotNumber) {
  EXPECT_FALSE(ChunkGrid::Make({4, 4}, {2}).ok());
  EXPECT_FALSE(ChunkGrid::Make({4, 4}, {2, 0}).ok());
  auto over = ChunkGrid::Make({1ull << 40, 1ull << 40}, {1, 1});
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("2^64"), std::string::npos) << over.status().message();
  // GridShape alone never divides by zero.
  EXPECT_EQ(GridShape({7, 4}, {0, 2}), (Index{0, 2}));
}

}  // namespace
}  // namespace zm
