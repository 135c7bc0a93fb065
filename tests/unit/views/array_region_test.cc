// Unit tests of views/array_region.h: the mapping of byte ranges to chunk runs,
// against a brute-force model with a fake decoder.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "views/array_region.h"
#include "tests/unit/views/data_type.h"

namespace zm {
namespace {

using ::testing::HasSubstr;

// Region mapping against a model: element i of the array has the value i
// (in `es` bytes, little-endian); chunks are cut from it with the padding of
// edge chunks set to 0xEE, so bytes taken from padding show.

struct Model {
  std::vector<uint64_t> shape, chunks;
  uint32_t es;
  std::vector<uint64_t> grid;

  uint64_t elements() const {
    uint64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
  std::string Element(uint64_t i) const {
    std::string e(es, '\0');
    for (uint32_t b = 0; b < es && b < 8; ++b) e[b] = static_cast<char>((i >> (8 * b)) & 0xFF);
    return e;
  }
  std::string Image(bool swapped) const {
    std::string out;
    for (uint64_t i = 0; i < elements(); ++i) {
      std::string e = Element(i);
      if (swapped) std::reverse(e.begin(), e.end());
      out += e;
    }
    return out;
  }
  std::vector<uint64_t> GridIndex(uint64_t linear) const {
    std::vector<uint64_t> g(shape.size());
    for (size_t d = shape.size(); d-- > 0;) {
      uint64_t n = (shape[d] + chunks[d] - 1) / chunks[d];
      g[d] = linear % n;
      linear /= n;
    }
    return g;
  }
  uint64_t ChunkOf(uint64_t element) const {
    uint64_t linear = 0;
    std::vector<uint64_t> idx(shape.size());
    for (size_t d = shape.size(); d-- > 0;) {
      idx[d] = element % shape[d];
      element /= shape[d];
    }
    for (size_t d = 0; d < shape.size(); ++d)
      linear = linear * ((shape[d] + chunks[d] - 1) / chunks[d]) + idx[d] / chunks[d];
    return linear;
  }
  std::string Chunk(uint64_t linear) const {
    auto g = GridIndex(linear);
    uint64_t n = 1;
    for (auto c : chunks) n *= c;
    std::string out;
    for (uint64_t w = 0; w < n; ++w) {
      uint64_t rem = w, flat = 0;
      bool inside = true;
      std::vector<uint64_t> within(shape.size());
      for (size_t d = shape.size(); d-- > 0;) {
        within[d] = rem % chunks[d];
        rem /= chunks[d];
      }
      for (size_t d = 0; d < shape.size(); ++d) {
        uint64_t i = g[d] * chunks[d] + within[d];
        inside = inside && i < shape[d];
        flat = flat * shape[d] + i;
      }
      out += inside ? Element(flat) : std::string(es, '\xEE');
    }
    return out;
  }
};

TEST(ArrayRegion, MatchesModelOnRandomShapesAndRanges) {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < 300; ++trial) {
    Model m;
    const size_t nd = 1 + rng() % 4;
    for (size_t d = 0; d < nd; ++d) {
      m.shape.push_back(1 + rng() % 7);
      // Chunks smaller, equal to and larger than the extent.
      m.chunks.push_back(1 + rng() % 8);
    }
    static const uint32_t kSizes[] = {1, 2, 4, 8, 3};
    m.es = kSizes[rng() % 5];
    ArrayRegion region(m.shape, m.chunks, m.es);
    ASSERT_EQ(region.nbytes(), m.elements() * m.es);
    for (bool swap : {false, true}) {
      const std::string image = m.Image(swap);
      for (int r = 0; r < 10; ++r) {
        uint64_t pos = rng() % image.size();
        uint64_t len = 1 + rng() % (image.size() - pos);
        std::string out(len, '?');
        std::set<uint64_t> fetched;
        Status st = CopyRegion(region, pos, len, swap, out.data(), [&](uint64_t c) -> Result<Block> {
          fetched.insert(c);
          return Block(std::make_shared<const std::string>(m.Chunk(c)));
        });
        ASSERT_TRUE(st.ok());
        ASSERT_EQ(out, image.substr(pos, len)) << "trial " << trial << " pos " << pos << " len " << len;
        std::set<uint64_t> touched;  // exactly the chunks holding the range's elements
        for (uint64_t e = pos / m.es; e < (pos + len + m.es - 1) / m.es; ++e) touched.insert(m.ChunkOf(e));
        ASSERT_EQ(fetched, touched);
        auto listed = region.ChunksIn(pos, len, 1000);
        ASSERT_EQ(std::set<uint64_t>(listed.begin(), listed.end()), touched);
      }
    }
  }
}

TEST(ArrayRegion, RowsOfFullWidthChunksAreOneRun) {
  ArrayRegion r({12, 46, 91}, {1, 46, 91}, 4);
  int runs = 0;
  r.ForEachRun(0, r.nbytes(), [&](const ArrayRegion::Run& run) {
    EXPECT_EQ(run.size, 46u * 91 * 4);
    EXPECT_EQ(run.chunk, static_cast<uint64_t>(runs));
    EXPECT_EQ(run.chunk_off, 0u);
    ++runs;
    return true;
  });
  EXPECT_EQ(runs, 12);
  // Chunks narrower than the last dimension: one run per chunk row.
  ArrayRegion narrow({4, 10}, {2, 5}, 8);
  runs = 0;
  narrow.ForEachRun(0, narrow.nbytes(), [&](const ArrayRegion::Run& run) {
    EXPECT_EQ(run.size, 40u);
    ++runs;
    return true;
  });
  EXPECT_EQ(runs, 8);
}

TEST(ArrayRegion, ScalarAndEmptyArrays) {
  ArrayRegion scalar({}, {}, 8);
  EXPECT_EQ(scalar.nbytes(), 8u);
  EXPECT_EQ(scalar.chunk_count(), 1u);
  std::string out(8, '\0');
  ASSERT_TRUE(CopyRegion(scalar, 0, 8, true, out.data(), [](uint64_t c) -> Result<Block> {
                EXPECT_EQ(c, 0u);
                return Block(std::make_shared<const std::string>("\x01\x02\x03\x04\x05\x06\x07\x08"));
              }).ok());
  EXPECT_EQ(out, "\x08\x07\x06\x05\x04\x03\x02\x01");
  ArrayRegion empty({3, 0}, {2, 2}, 4);
  EXPECT_EQ(empty.nbytes(), 0u);
}

TEST(ArrayRegion, ChunkErrorFailsTheCopy) {
  ArrayRegion r({10}, {2}, 4);
  std::string out(40, '\0');
  Status st = CopyRegion(r, 0, 40, false, out.data(), [](uint64_t c) -> Result<Block> {
    if (c == 3) return IoError("chunk 3 is gone");
    return Block(std::make_shared<const std::string>(8, 'x'));
  });
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_THAT(st.message(), HasSubstr("chunk 3"));
}

TEST(SwapCopy, PartialElementsAtBothEnds) {
  const std::string src = "ABCDEFGHIJKL";  // three 4-byte elements
  const std::string swapped = "DCBAHGFELKJI";
  for (uint64_t start = 0; start < 12; ++start)
    for (uint64_t n = 1; start + n <= 12; ++n) {
      std::string out(n, '?');
      SwapCopy(src.data() + start, start % 4, n, 4, out.data());
      EXPECT_EQ(out, swapped.substr(start, n)) << start << "+" << n;
    }
}

}  // namespace
}  // namespace zm
