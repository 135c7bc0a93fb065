// Unit tests of the views (fs/views.h) and their parts: the .npy and NetCDF
// header writers (against bytes written by numpy and ncgen), the mapping of
// byte ranges to chunk runs (against a brute-force model, with a fake
// decoder), the decoded-chunk cache, and the view filesystem over inline
// reference sets.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "views/array_region.h"
#include "views/chunk_cache.h"
#include "views/netcdf.h"
#include "views/npy.h"
#include "views/view_tree.h"
#include "refs/reference_loader.h"
#include "tests/unit/fake_origin.h"

namespace zm {
namespace {

using ::testing::HasSubstr;

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

DataType Dt(char kind, uint32_t size, bool big = false, std::string unit = "") {
  DataType t;
  t.kind = kind;
  t.size = size;
  t.big_endian = big;
  t.unit = unit;
  return t;
}

// What numpy.save writes before the data (numpy 1.24).
std::string NumpyHeader(const std::string& dict) {
  std::string h = std::string("\x93NUMPY\x01\x00", 8) + "v" + std::string(1, '\0') + dict;
  h.append(127 - h.size(), ' ');
  return h + "\n";
}

TEST(NpyHeader, SameBytesAsNumpy) {
  EXPECT_EQ(NpyHeader(Dt('f', 4), {12, 46, 91}),
            NumpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (12, 46, 91), }"));
  EXPECT_EQ(NpyHeader(Dt('i', 2, true), {5}),
            NumpyHeader("{'descr': '>i2', 'fortran_order': False, 'shape': (5,), }"));
  EXPECT_EQ(NpyHeader(Dt('u', 1), {}),
            NumpyHeader("{'descr': '|u1', 'fortran_order': False, 'shape': (), }"));
  EXPECT_EQ(NpyHeader(Dt('S', 8), {4}),
            NumpyHeader("{'descr': '|S8', 'fortran_order': False, 'shape': (4,), }"));
  EXPECT_EQ(NpyHeader(Dt('M', 8, false, "ns"), {2, 3}),
            NumpyHeader("{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (2, 3), }"));
  EXPECT_EQ(NpyHeader(Dt('b', 1), {3}),
            NumpyHeader("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }"));
}

TEST(NpyHeader, DataIs64ByteAlignedAndLongHeadersUseVersion2) {
  for (size_t nd : {1, 7, 20, 33}) {
    std::vector<uint64_t> shape(nd, 123456789);
    std::string h = NpyHeader(Dt('f', 8, true), shape);
    EXPECT_EQ(h.size() % 64, 0u);
    EXPECT_EQ(h.back(), '\n');
    EXPECT_EQ(h[6], 1);
    uint16_t len = static_cast<uint8_t>(h[8]) | static_cast<uint8_t>(h[9]) << 8;
    EXPECT_EQ(len + 10u, h.size());
  }
  std::vector<uint64_t> huge(30000, 7);
  std::string h = NpyHeader(Dt('f', 4), huge);
  EXPECT_EQ(h[6], 2);
  EXPECT_EQ(h.size() % 64, 0u);
  uint32_t len = 0;
  for (int i = 0; i < 4; ++i) len |= uint32_t{static_cast<uint8_t>(h[8 + i])} << (8 * i);
  EXPECT_EQ(len + 12u, h.size());
}

// The file ncgen writes for:
//   dimensions: x = 3 ; y = 2 ;
//   variables: short v(x, y) ; v:units = "m" ; v:scale = 1.5 ; int s ;
//   :title = "ab" ; :n = 7, 8 ;
//   data: v = 1, 2, 3, 4, 5, 6 ; s = 9 ;
// with -k "64-bit offset" (CDF-2) and -k cdf5.
const char* kNcgenCdf2 =
    "43444602000000000000000a000000020000000178000000000000030000000179000000000000020000000c00000002"
    "000000057469746c65000000000000020000000261620000000000016e00000000000004000000020000000700000008"
    "0000000b0000000200000001760000000000000200000000000000010000000c0000000200000005756e697473000000"
    "00000002000000016d000000000000057363616c6500000000000006000000013ff8000000000000000000030000000c"
    "00000000000000ec0000000173000000000000000000000000000000000000040000000400000000000000f800010002"
    "000300040005000600000009";
const char* kNcgenCdf5 =
    "4344460500000000000000000000000a0000000000000002000000000000000178000000000000000000000300000000"
    "000000017900000000000000000000020000000c000000000000000200000000000000057469746c6500000000000002"
    "00000000000000026162000000000000000000016e00000000000004000000000000000200000007000000080000000b"
    "00000000000000020000000000000001760000000000000000000002000000000000000000000000000000010000000c"
    "00000000000000020000000000000005756e6974730000000000000200000000000000016d0000000000000000000005"
    "7363616c650000000000000600000000000000013ff800000000000000000003000000000000000c0000000000000154"
    "000000000000000173000000000000000000000000000000000000000000000000000004000000000000000400000000"
    "0000016000010002000300040005000600000009";

std::string RemoveSpaces(const char* s) {
  std::string out;
  for (; *s; ++s)
    if (*s != ' ') out += *s;
  return out;
}

struct SmallFile {
  std::vector<NcDimension> dims{{"x", 3}, {"y", 2}};
  std::vector<NcAttribute> gattrs{NcTextAttribute("title", "ab"), NcIntAttribute("n", {7, 8})};
  std::vector<NcVariable> vars{
      {"v", {0, 1}, NcType::kShort, {NcTextAttribute("units", "m"), NcDoubleAttribute("scale", {1.5})}},
      {"s", {}, NcType::kInt, {}}};
  std::string data = Unhex("000100020003000400050006") + Unhex("00000009");
};

std::string WholeFile(const NcLayout& l, const std::string& data12, const std::string& data4) {
  std::string f = l.header;
  f.resize(l.file_size, '\0');
  std::memcpy(f.data() + l.begin[0], data12.data(), 12);
  std::memcpy(f.data() + l.begin[1], data4.data(), 4);
  return f;
}

TEST(NetcdfHeader, SameBytesAsNcgen) {
  SmallFile s;
  auto l2 = LayoutNetcdf(s.dims, s.gattrs, s.vars);
  ASSERT_TRUE(l2.ok()) << l2.status().ToString();
  EXPECT_EQ(l2->version, 2);
  EXPECT_EQ(l2->nbytes, (std::vector<uint64_t>{12, 4}));
  EXPECT_EQ(WholeFile(*l2, s.data.substr(0, 12), s.data.substr(12)), Unhex(RemoveSpaces(kNcgenCdf2)));
  auto l5 = LayoutNetcdf(s.dims, s.gattrs, s.vars, 5);
  ASSERT_TRUE(l5.ok());
  EXPECT_EQ(l5->version, 5);
  EXPECT_EQ(WholeFile(*l5, s.data.substr(0, 12), s.data.substr(12)), Unhex(RemoveSpaces(kNcgenCdf5)));
}

TEST(NetcdfHeader, ChoosesCdf5OnlyWhenNeeded) {
  SmallFile s;
  s.vars[1].type = NcType::kUShort;  // an unsigned type
  EXPECT_EQ(LayoutNetcdf(s.dims, s.gattrs, s.vars)->version, 5);
  s = SmallFile();
  s.gattrs.push_back(NcIntAttribute("big", {int64_t{1} << 40}));  // a 64-bit attribute
  EXPECT_EQ(s.gattrs.back().type, NcType::kInt64);
  EXPECT_EQ(LayoutNetcdf(s.dims, s.gattrs, s.vars)->version, 5);
  s = SmallFile();
  s.dims = {{"x", 1u << 20}, {"y", 1u << 10}};  // 2 GiB of shorts: fits CDF-2
  auto l = LayoutNetcdf(s.dims, s.gattrs, s.vars);
  EXPECT_EQ(l->version, 2);
  EXPECT_EQ(l->nbytes[0], uint64_t{2} << 30);
  s.dims = {{"x", 1u << 21}, {"y", 1u << 10}};  // 4 GiB: needs CDF-5
  l = LayoutNetcdf(s.dims, s.gattrs, s.vars);
  EXPECT_EQ(l->version, 5);
  EXPECT_EQ(l->begin[1], l->begin[0] + (uint64_t{4} << 30));
  EXPECT_EQ(l->file_size, l->begin[1] + 4);
}

TEST(NetcdfHeader, PadsOddSizesAndRejectsBadInput) {
  std::vector<NcDimension> dims{{"x", 3}};
  std::vector<NcVariable> vars{{"a", {0}, NcType::kByte, {}}, {"b", {0}, NcType::kChar, {}}};
  auto l = LayoutNetcdf(dims, {}, vars);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->begin[1] - l->begin[0], 4u);  // 3 bytes padded to 4
  EXPECT_EQ(l->file_size, l->begin[1] + 4);
  EXPECT_EQ(l->header.size() % 4, 0u);
  EXPECT_FALSE(LayoutNetcdf({{"x", 0}}, {}, {}).ok());
  EXPECT_FALSE(LayoutNetcdf({{"x", 1}, {"x", 2}}, {}, {}).ok());
  EXPECT_FALSE(LayoutNetcdf(dims, {}, {{"a", {1}, NcType::kByte, {}}}).ok());
  EXPECT_FALSE(LayoutNetcdf(dims, {}, {{"a", {0}, NcType::kByte, {}}, {"a", {0}, NcType::kByte, {}}}).ok());
  EXPECT_FALSE(LayoutNetcdf(dims, {NcTextAttribute("t", "1"), NcTextAttribute("t", "2")}, {}).ok());
}

TEST(NetcdfHeader, FillValueElementIsBigEndian) {
  std::string le = Unhex("0000c07f");  // NaN as <f4
  auto a = NcElementAttribute("_FillValue", NcType::kFloat, le, false);
  EXPECT_EQ(a.values, Unhex("7fc00000"));
  EXPECT_EQ(a.count(), 1u);
  EXPECT_EQ(NcElementAttribute("_FillValue", NcType::kShort, Unhex("fffe"), true).values, Unhex("fffe"));
}

// ---------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// The view filesystem over a small store: group "g" with x (3x5 <i2, chunks
// 2x2, uncompressed, chunk 1.1 missing: fill -1) and y (>f8, 5, one chunk
// on the fake origin), root array z (<u2 with dims), an array with an
// unknown codec, and a complex array.

std::string I2(const std::vector<int16_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 2);
}

std::string B64(const std::string& raw) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < raw.size(); i += 3) {
    uint32_t n = uint8_t(raw[i]) << 16 | uint8_t(raw[i + 1]) << 8 | uint8_t(raw[i + 2]);
    for (int k = 3; k >= 0; --k) out += kAlphabet[(n >> (6 * k)) & 63];
  }
  if (i + 1 == raw.size()) {
    uint32_t n = uint8_t(raw[i]) << 16;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == raw.size()) {
    uint32_t n = uint8_t(raw[i]) << 16 | uint8_t(raw[i + 1]) << 8;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += "=";
  }
  return out;
}

std::string JsonStr(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

class ViewFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // x = 0..14 as int16, 3x5, chunks 2x2: grid 2x3.
    auto chunk = [](int ci, int cj) {
      std::vector<int16_t> v;
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
          int r = ci * 2 + i, c = cj * 2 + j;
          v.push_back(r < 3 && c < 5 ? int16_t(r * 5 + c) : int16_t(77));
        }
      return I2(v);
    };
    std::string y;
    for (int i = 0; i < 5; ++i) {
      double d = 0.5 * i;
      char b[8];
      std::memcpy(b, &d, 8);
      for (int k = 7; k >= 0; --k) y += b[k];  // big-endian
    }
    origin_.Set("http://h/y.bin", "pad" + y);
    std::string refs = "{";
    auto add = [&](const std::string& k, const std::string& v) {
      if (refs.size() > 1) refs += ",";
      refs += JsonStr(k) + ":" + v;
    };
    add(".zattrs", JsonStr(R"({"title": "t", "n": 3, "flag": true})"));
    add("g/.zgroup", JsonStr(R"({"zarr_format": 2})"));
    add("g/.zattrs", JsonStr(R"({"history": "h"})"));
    add("g/x/.zarray", JsonStr(R"({"zarr_format": 2, "shape": [3, 5], "chunks": [2, 2], "dtype": "<i2", "order": "C", "fill_value": -1, "compressor": null, "filters": null})"));
    add("g/x/.zattrs", JsonStr(R"({"_ARRAY_DIMENSIONS": ["r", "c"], "units": "m", "scale": [1.5, 2]})"));
    for (int ci = 0; ci < 2; ++ci)
      for (int cj = 0; cj < 3; ++cj)
        if (!(ci == 1 && cj == 1))
          add("g/x/" + std::to_string(ci) + "." + std::to_string(cj), JsonStr("base64:" + B64(chunk(ci, cj))));
    add("g/y/.zarray", JsonStr(R"({"zarr_format": 2, "shape": [5], "chunks": [5], "dtype": ">f8", "order": "C", "fill_value": "NaN", "compressor": null, "filters": null})"));
    add("g/y/.zattrs", JsonStr(R"({"_ARRAY_DIMENSIONS": ["c"]})"));
    add("g/y/0", "[\"http://h/y.bin\", 3, 40]");
    add("g/bad/.zarray", JsonStr(R"({"zarr_format": 2, "shape": [5], "chunks": [5], "dtype": "<i2", "order": "C", "fill_value": 0, "compressor": {"id": "nosuchcodec"}, "filters": null})"));
    add("g/cplx/.zarray", JsonStr(R"({"zarr_format": 2, "shape": [2], "chunks": [2], "dtype": "<c8", "order": "C", "fill_value": null, "compressor": null, "filters": null})"));
    add("z/.zarray", JsonStr(R"({"zarr_format": 2, "shape": [2], "chunks": [2], "dtype": "<u2", "order": "C", "fill_value": null, "compressor": null, "filters": null})"));
    add("z/.zattrs", JsonStr(R"({"_ARRAY_DIMENSIONS": ["two"]})"));
    add("z/0", JsonStr("base64:" + B64(I2({1, -2}))));
    refs += "}";
    auto r = ParseReferences(refs, "");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    index_ = std::move(r).value();
    memory_ = NewMemoryBlockStore(16_MiB);
    cache_ = std::make_unique<ReadThroughCache>(&origin_, memory_.get(), nullptr, ReadThroughOptions{});
    y_ = y;
  }

  std::unique_ptr<ViewFilesystem> Build(ViewKind kind) {
    ViewOptions o;
    o.kind = kind;
    o.set_name = "store";
    o.decode_threads = 0;
    auto v = ViewFilesystem::Build(&index_, cache_.get(), o);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? std::move(v).value() : nullptr;
  }

  Result<Attr> Resolve(const ViewFilesystem& fs, const std::string& path) {
    Attr a;
    a.ino = Tree::kRootIno;
    size_t start = 0;
    while (start < path.size()) {
      size_t slash = path.find('/', start);
      std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      auto r = fs.Lookup(a.ino, part);
      if (!r.ok()) return r.status();
      a = *r;
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return a;
  }

  std::vector<std::string> List(const ViewFilesystem& fs, uint64_t ino) {
    std::vector<std::string> out;
    EXPECT_TRUE(fs.ReadDir(ino, 2, [&](std::string_view n, const Attr&, uint64_t) {
                    out.emplace_back(n);
                    return true;
                  }).ok());
    return out;
  }

  testing::FakeOrigin origin_;
  ReferenceIndex index_;
  std::unique_ptr<BlockStore> memory_;
  std::unique_ptr<ReadThroughCache> cache_;
  std::string y_;
};

TEST_F(ViewFsTest, NpyTreeAndContents) {
  auto fs = Build(ViewKind::kNpy);
  ASSERT_TRUE(fs);
  EXPECT_EQ(List(*fs, Tree::kRootIno), (std::vector<std::string>{"g", "z.npy"}));
  auto g = Resolve(*fs, "g");
  ASSERT_TRUE(g.ok());
  // bad (unknown codec) is left out; the complex array is fine as .npy.
  EXPECT_EQ(List(*fs, g->ino), (std::vector<std::string>{"cplx.npy", "x.npy", "y.npy"}));
  ASSERT_EQ(fs->omitted().size(), 1u);
  EXPECT_THAT(fs->omitted()[0], HasSubstr("nosuchcodec"));
  EXPECT_EQ(origin_.requests().size(), 0u) << "building the tree read chunk data";

  auto x = Resolve(*fs, "g/x.npy");
  ASSERT_TRUE(x.ok());
  std::string header = NpyHeader(Dt('i', 2), {3, 5});
  EXPECT_EQ(x->size, header.size() + 30);
  auto all = fs->Read(x->ino, 0, 1 << 20);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  std::vector<int16_t> want;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 5; ++c) want.push_back(r == 2 && (c == 2 || c == 3) ? -1 : int16_t(r * 5 + c));
  EXPECT_EQ(*all, header + I2(want));
  // Byte by byte at odd offsets too.
  for (uint64_t off = 0; off < x->size; off += 7) {
    auto part = fs->Read(x->ino, off, 5);
    ASSERT_TRUE(part.ok());
    EXPECT_EQ(*part, all->substr(off, 5));
  }
  auto y = Resolve(*fs, "g/y.npy");
  auto ybytes = fs->Read(y->ino, 0, 1 << 20);
  ASSERT_TRUE(ybytes.ok());
  EXPECT_EQ(ybytes->substr(NpyHeader(Dt('f', 8, true), {5}).size()), y_);  // byte order kept
}

TEST_F(ViewFsTest, NetcdfFilesVariablesAndData) {
  auto fs = Build(ViewKind::kNetcdf);
  ASSERT_TRUE(fs);
  // The root group's file is named after the reference set.
  EXPECT_EQ(List(*fs, Tree::kRootIno), (std::vector<std::string>{"g.nc", "store.nc"}));
  // Left out: bad (codec), cplx (no NetCDF type).
  EXPECT_EQ(fs->omitted().size(), 2u);
  auto root = Resolve(*fs, "store.nc");
  ASSERT_TRUE(root.ok());
  auto rbytes = fs->Read(root->ino, 0, root->size);
  ASSERT_TRUE(rbytes.ok());
  EXPECT_EQ(rbytes->substr(0, 4), std::string("CDF\x05", 4));  // u2 needs CDF-5
  EXPECT_EQ(rbytes->substr(root->size - 4), std::string("\x00\x01\xff\xfe", 4));
  auto f = Resolve(*fs, "g.nc");
  ASSERT_TRUE(f.ok());
  auto bytes = fs->Read(f->ino, 0, f->size);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  ASSERT_EQ(bytes->size(), f->size);
  EXPECT_EQ(bytes->substr(0, 4), std::string("CDF\x02", 4));
  // x then y, each after the header; x big-endian with the fill in chunk 1.1.
  std::string xbe;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 5; ++c) {
      int16_t v = r == 2 && (c == 2 || c == 3) ? -1 : int16_t(r * 5 + c);
      xbe += static_cast<char>((v >> 8) & 0xFF);
      xbe += static_cast<char>(v & 0xFF);
    }
  const uint64_t ybegin = f->size - 40, xbegin = ybegin - 32;
  EXPECT_EQ(bytes->substr(xbegin, 30), xbe);
  EXPECT_EQ(bytes->substr(xbegin + 30, 2), std::string(2, '\0'));  // padding
  EXPECT_EQ(bytes->substr(ybegin), y_);
  EXPECT_THAT(*bytes, HasSubstr("history"));
  EXPECT_THAT(*bytes, HasSubstr("units"));
  EXPECT_THAT(*bytes, HasSubstr("_FillValue"));
}

TEST_F(ViewFsTest, OriginFailureFailsTheRead) {
  auto fs = Build(ViewKind::kNpy);
  ASSERT_TRUE(fs);
  origin_.FailAlways("http://h/y.bin", IoError("HTTP 500"));
  auto y = Resolve(*fs, "g/y.npy");
  auto r = fs->Read(y->ino, 0, 1 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("g/y/0"));
  // The header alone needs no chunk.
  EXPECT_TRUE(fs->Read(y->ino, 0, 64).ok());
}

TEST_F(ViewFsTest, SequentialReadsDecodeEachChunkOnce) {
  auto fs = Build(ViewKind::kNpy);
  auto x = Resolve(*fs, "g/x.npy");
  for (uint64_t off = 0; off < x->size; off += 3) ASSERT_TRUE(fs->Read(x->ino, off, 3).ok());
  EXPECT_EQ(fs->chunk_stats().loads.load(), 6u);
}

// Zarr v3: group attributes from zarr.json, null dimension names, and an
// array whose zarr.json does not parse (left out with a line, not taken for
// a group).
TEST(ViewFsV3, NullDimensionNamesAndUnreadableArrays) {
  std::string refs = "{";
  auto add = [&](const std::string& k, const std::string& v) {
    if (refs.size() > 1) refs += ",";
    refs += JsonStr(k) + ":" + v;
  };
  auto array = [](const std::string& shape, const std::string& dims, const std::string& enc) {
    return JsonStr(R"({"zarr_format": 3, "node_type": "array", "shape": )" + shape +
                   R"(, "data_type": "int16", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": )" +
                   shape + R"(}}, "chunk_key_encoding": {"name": ")" + enc +
                   R"("}, "fill_value": 0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}], "attributes": {"units": "m"}, "dimension_names": )" +
                   dims + "}");
  };
  add("zarr.json", JsonStr(R"({"zarr_format": 3, "node_type": "group", "attributes": {"title": "t"}})"));
  add("g/zarr.json", JsonStr(R"({"zarr_format": 3, "node_type": "group", "attributes": {"history": "h"}})"));
  add("g/a/zarr.json", array("[2, 3]", R"(["r", null])", "default"));
  add("g/a/c/0/0", JsonStr("base64:" + B64(I2({1, 2, 3, 4, 5, 6}))));
  add("g/n/zarr.json", array("[3]", "[null]", "default"));
  add("g/k/zarr.json", array("[3]", R"(["r2"])", "nosuchencoding"));
  refs += "}";
  auto r = ParseReferences(refs, "");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ReferenceIndex index = std::move(r).value();
  testing::FakeOrigin origin;
  auto memory = NewMemoryBlockStore(16_MiB);
  ReadThroughCache cache(&origin, memory.get(), nullptr, ReadThroughOptions{});
  ViewOptions o;
  o.set_name = "store";
  o.decode_threads = 0;
  for (ViewKind kind : {ViewKind::kNpy, ViewKind::kNetcdf}) {
    o.kind = kind;
    auto v = ViewFilesystem::Build(&index, &cache, o);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    ASSERT_EQ((*v)->omitted().size(), 1u);
    EXPECT_THAT((*v)->omitted()[0], HasSubstr("array 'g/k' left out"));
    EXPECT_THAT((*v)->omitted()[0], HasSubstr("nosuchencoding"));
    auto g = (*v)->Lookup(Tree::kRootIno, kind == ViewKind::kNpy ? "g" : "g.nc");
    ASSERT_TRUE(g.ok());
    if (kind == ViewKind::kNpy) {
      std::vector<std::string> names;
      ASSERT_TRUE((*v)->ReadDir(g->ino, 2, [&](std::string_view n, const Attr&, uint64_t) {
                     names.emplace_back(n);
                     return true;
                   }).ok());
      EXPECT_EQ(names, (std::vector<std::string>{"a.npy", "n.npy"}));
      continue;
    }
    auto bytes = (*v)->Read(g->ino, 0, g->size);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    // a(r, a_dim1) and n(n_dim0); the group's attribute from its zarr.json.
    EXPECT_THAT(*bytes, HasSubstr("a_dim1"));
    EXPECT_THAT(*bytes, HasSubstr("n_dim0"));
    EXPECT_THAT(*bytes, HasSubstr("history"));
    // Data in name order: a (12 bytes, big-endian), then n (no chunk: fill
    // 0, padded to 8 bytes).
    EXPECT_EQ(bytes->substr(g->size - 20, 12),
              std::string("\x00\x01\x00\x02\x00\x03\x00\x04\x00\x05\x00\x06", 12));
    EXPECT_EQ(bytes->substr(g->size - 8), std::string(8, '\0'));
  }
}

TEST(ViewNames, SetNameAndKinds) {
  EXPECT_EQ(ReferenceSetName("/a/b/sst_v0_rel.json"), "sst_v0_rel");
  EXPECT_EQ(ReferenceSetName("groups_v1_abs.json.gz"), "groups_v1_abs");
  EXPECT_EQ(ReferenceSetName("/x/sst_v1_gen_http"), "sst_v1_gen_http");
  EXPECT_EQ(ReferenceSetName("/x/.json"), "root");
  EXPECT_TRUE(ParseViewKind("npy").ok());
  EXPECT_FALSE(ParseViewKind("hdf").ok());
}

}  // namespace
}  // namespace zm
