// Unit tests of views/view_tree.h: the view filesystem over inline reference sets.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "cache/block_store.h"
#include "codecs/checksum.h"
#include "cache/read_through.h"
#include "refs/reference_loader.h"
#include "views/npy.h"
#include "views/view_tree.h"
#include "tests/unit/fake_origin.h"
#include "tests/unit/views/data_type.h"

namespace zm {
namespace {

using ::testing::HasSubstr;
using testing::Dt;

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
    o.arrays.root_name = "store";
    o.arrays.decode_threads = 0;
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
  o.arrays.root_name = "store";
  o.arrays.decode_threads = 0;
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

// Dimension names with group paths, as kerchunk writes them for NetCDF-4
// groups: the group's own and its ancestors' resolve to the plain name;
// others are made NetCDF names; no variable is left out.
TEST(ViewFsGroups, DimensionNamesWithGroupPaths) {
  std::string refs = "{";
  auto add = [&](const std::string& k, const std::string& v) {
    if (refs.size() > 1) refs += ",";
    refs += JsonStr(k) + ":" + v;
  };
  auto array = [&](const std::string& path, const std::string& shape, const std::string& dims) {
    add(path + "/.zarray", JsonStr(R"({"zarr_format": 2, "shape": )" + shape + R"(, "chunks": )" + shape +
                                   R"(, "dtype": "<i2", "order": "C", "fill_value": 0, "compressor": null, "filters": null})"));
    add(path + "/.zattrs", JsonStr(R"({"_ARRAY_DIMENSIONS": )" + dims + R"(, "bad/name": 1})"));
  };
  add(".zgroup", JsonStr(R"({"zarr_format": 2})"));
  array("t", "[2]", R"(["/t"])");
  array("g/x", "[2, 3]", R"(["g/r", "/g/c"])");
  array("g/h/w", "[3, 4, 2]", R"(["/g/c", "other/q", "/t"])");
  refs += "}";
  auto r = ParseReferences(refs, "");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ReferenceIndex index = std::move(r).value();
  testing::FakeOrigin origin;
  auto memory = NewMemoryBlockStore(16_MiB);
  ReadThroughCache cache(&origin, memory.get(), nullptr, ReadThroughOptions{});
  ViewOptions o;
  o.kind = ViewKind::kNetcdf;
  o.arrays.root_name = "store";
  o.arrays.decode_threads = 0;
  auto v = ViewFilesystem::Build(&index, &cache, o);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE((*v)->omitted().empty()) << (*v)->omitted()[0];
  auto header = [&](uint64_t parent, const std::string& name) {
    auto f = (*v)->Lookup(parent, name);
    EXPECT_TRUE(f.ok()) << name;
    if (!f.ok()) return std::string();
    auto bytes = (*v)->Read(f->ino, 0, f->size);
    EXPECT_TRUE(bytes.ok());
    return bytes.ok() ? *bytes : std::string();
  };
  // A name in a NetCDF header: its length (big-endian 32 bits), then its bytes.
  auto nc_name = [](const std::string& n) {
    return std::string("\0\0\0", 3) + static_cast<char>(n.size()) + n;
  };
  std::string root = header(Tree::kRootIno, "store.nc");
  EXPECT_THAT(root, HasSubstr(nc_name("t")));
  std::string g = header(Tree::kRootIno, "g.nc");
  EXPECT_THAT(g, HasSubstr(nc_name("r")));
  EXPECT_THAT(g, HasSubstr(nc_name("c")));
  EXPECT_THAT(g, HasSubstr(nc_name("bad_name")));  // an attribute name made valid
  EXPECT_THAT(g, ::testing::Not(HasSubstr("g/")));
  auto gdir = (*v)->Lookup(Tree::kRootIno, "g");
  ASSERT_TRUE(gdir.ok());
  std::string h = header(gdir->ino, "h.nc");
  EXPECT_THAT(h, HasSubstr(nc_name("c")));
  EXPECT_THAT(h, HasSubstr(nc_name("other_q")));
  EXPECT_THAT(h, HasSubstr(nc_name("t")));
  EXPECT_THAT(h, HasSubstr(nc_name("w")));
}

// Zarr v3 sharding: arrays of 5x7 int16 in shards of 4x4 holding inner
// chunks of 2x2, the index at the end (with crc32c) or at the start; inner
// chunk (0, 1) not stored (its index entry empty), shard (1, 1) missing,
// edge shards with their inner chunks outside the shape not stored.
class ViewFsShardingTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kE = ~uint64_t{0};
  static std::string U64(uint64_t v) {
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
    return out;
  }
  static int16_t Value(int r, int c) { return int16_t(r * 7 + c); }
  static bool Stored(int ir, int ic) {
    return !(ir == 0 && ic == 1) && !(ir >= 2 && ic >= 2) && ir * 2 < 5 && ic * 2 < 7;
  }
  // The shard at (si, sj): inner chunks in C order, then or after the index.
  static std::string Shard(int si, int sj, bool at_end, bool crc) {
    std::string data, index;
    const uint64_t index_bytes = 4 * 16 + (crc ? 4 : 0);
    // Stored in reverse order: offsets need not follow the index order.
    std::vector<std::string> pieces(4);
    for (int k = 3; k >= 0; --k) {
      const int ir = si * 2 + k / 2, ic = sj * 2 + k % 2;
      if (!Stored(ir, ic)) continue;
      std::vector<int16_t> v;
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
          const int r = ir * 2 + i, c = ic * 2 + j;
          v.push_back(r < 5 && c < 7 ? Value(r, c) : int16_t(0));
        }
      pieces[k] = std::string(reinterpret_cast<const char*>(v.data()), 8);
    }
    std::vector<std::pair<uint64_t, uint64_t>> entries(4, {kE, kE});
    for (int k = 3; k >= 0; --k) {
      if (pieces[k].empty()) continue;
      entries[k] = {(at_end ? 0 : index_bytes) + data.size(), pieces[k].size()};
      data += pieces[k];
    }
    for (auto [o, n] : entries) index += U64(o) + U64(n);
    if (crc) {
      const uint32_t sum = Crc32c(index);
      for (int i = 0; i < 4; ++i) index += static_cast<char>((sum >> (8 * i)) & 0xFF);
    }
    return at_end ? data + index : index + data;
  }
  static std::string ArrayJson(bool at_end, bool crc) {
    std::string index_codecs = crc ? R"(["bytes", {"name": "crc32c"}])" : R"([{"name": "bytes", "configuration": {"endian": "little"}}])";
    return R"({"zarr_format": 3, "node_type": "array", "shape": [5, 7], "data_type": "int16",
      "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 4]}},
      "chunk_key_encoding": {"name": "default"}, "fill_value": -9, "dimension_names": ["y", "x"],
      "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 2],
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "index_codecs": )" + index_codecs + R"(, "index_location": ")" + (at_end ? "end" : "start") + R"("}}]})";
  }
  static std::string OneLine(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    return s;
  }
  // The array's expected values, C order.
  static std::vector<int16_t> Expected() {
    std::vector<int16_t> v;
    for (int r = 0; r < 5; ++r)
      for (int c = 0; c < 7; ++c) v.push_back(Stored(r / 2, c / 2) ? Value(r, c) : int16_t(-9));
    return v;
  }

  void SetUp() override {
    std::string refs = "{";
    auto add = [&](const std::string& k, const std::string& v) {
      if (refs.size() > 1) refs += ",";
      refs += JsonStr(k) + ":" + v;
    };
    add("zarr.json", JsonStr(R"({"zarr_format": 3, "node_type": "group", "attributes": {}})"));
    for (const auto& [name, at_end, crc] : {std::tuple{"g/e", true, true}, std::tuple{"g/s", false, false}}) {
      add(std::string(name) + "/zarr.json", JsonStr(OneLine(ArrayJson(at_end, crc))));
      for (int si = 0; si < 2; ++si)
        for (int sj = 0; sj < 2; ++sj) {
          if (si == 1 && sj == 1) continue;
          const std::string key = std::string(name) + "/c/" + std::to_string(si) + "/" + std::to_string(sj);
          const std::string url = "http://h/" + key;
          const std::string shard = Shard(si, sj, at_end, crc);
          origin_.Set(url, "pad" + shard);
          add(key, "[\"" + url + "\", 3, " + std::to_string(shard.size()) + "]");
        }
    }
    refs += "}";
    auto r = ParseReferences(refs, "");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    index_ = std::move(r).value();
  }

  std::unique_ptr<ViewFilesystem> Build(ViewKind kind) {
    memory_ = NewMemoryBlockStore(16_MiB);
    cache_ = std::make_unique<ReadThroughCache>(&origin_, memory_.get(), nullptr, ReadThroughOptions{});
    ViewOptions o;
    o.kind = kind;
    o.arrays.root_name = "store";
    o.arrays.decode_threads = 0;
    auto v = ViewFilesystem::Build(&index_, cache_.get(), o);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? std::move(v).value() : nullptr;
  }

  Result<Attr> File(const ViewFilesystem& fs, const std::string& dir, const std::string& name) {
    auto d = fs.Lookup(Tree::kRootIno, dir);
    if (!d.ok()) return d.status();
    return fs.Lookup(d->ino, name);
  }

  testing::FakeOrigin origin_;
  ReferenceIndex index_;
  std::unique_ptr<BlockStore> memory_;
  std::unique_ptr<ReadThroughCache> cache_;
};

TEST_F(ViewFsShardingTest, NpyViewReadsInnerChunks) {
  auto fs = Build(ViewKind::kNpy);
  ASSERT_TRUE(fs);
  EXPECT_TRUE(fs->omitted().empty());
  const std::vector<int16_t> want = Expected();
  const std::string want_bytes(reinterpret_cast<const char*>(want.data()), want.size() * 2);
  for (const char* name : {"e.npy", "s.npy"}) {
    auto f = File(*fs, "g", name);
    ASSERT_TRUE(f.ok()) << name;
    auto bytes = fs->Read(f->ino, 0, f->size);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    ASSERT_EQ(bytes->size(), f->size);
    EXPECT_EQ(bytes->substr(f->size - want_bytes.size()), want_bytes) << name;
  }
}

TEST_F(ViewFsShardingTest, NetcdfViewReadsInnerChunks) {
  auto fs = Build(ViewKind::kNetcdf);
  ASSERT_TRUE(fs);
  auto f = fs->Lookup(Tree::kRootIno, "g.nc");
  ASSERT_TRUE(f.ok());
  auto bytes = fs->Read(f->ino, 0, f->size);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  std::string be;
  for (int16_t v : Expected()) {
    be += static_cast<char>((v >> 8) & 0xFF);
    be += static_cast<char>(v & 0xFF);
  }
  // e then s, each 70 bytes padded to 72.
  EXPECT_EQ(bytes->substr(f->size - 144, 70), be);
  EXPECT_EQ(bytes->substr(f->size - 72, 70), be);
}

TEST_F(ViewFsShardingTest, OnePixelFetchesTheIndexAndOneInnerChunk) {
  for (const char* name : {"e.npy", "s.npy"}) {
    auto fs = Build(ViewKind::kNpy);
    ASSERT_TRUE(fs);
    auto f = File(*fs, "g", name);
    ASSERT_TRUE(f.ok());
    const size_t before = origin_.requests().size();
    // Element (3, 5): shard (0, 1), inner chunk (1, 2), position 2 in it.
    const uint64_t data_start = f->size - 70;
    auto px = fs->Read(f->ino, data_start + (3 * 7 + 5) * 2, 2);
    ASSERT_TRUE(px.ok()) << px.status().ToString();
    int16_t v;
    std::memcpy(&v, px->data(), 2);
    EXPECT_EQ(v, Value(3, 5));
    auto reqs = origin_.requests();
    uint64_t fetched = 0;
    for (size_t i = before; i < reqs.size(); ++i) fetched += reqs[i].range.length;
    const bool crc = std::string(name) == "e.npy";
    EXPECT_EQ(fetched, 64 + (crc ? 4 : 0) + 8) << name;
    // A second pixel of the same shard reads only its inner chunk.
    const size_t mid = reqs.size();
    ASSERT_TRUE(fs->Read(f->ino, data_start + (0 * 7 + 6) * 2, 2).ok());
    reqs = origin_.requests();
    ASSERT_EQ(reqs.size(), mid + 1);
    EXPECT_EQ(reqs.back().range.length, 8u);
  }
}

TEST_F(ViewFsShardingTest, BadIndexesFailOnlyTheirShard) {
  // Shard (0, 0) of e: a flipped index bit fails the crc32c; shard (0, 0)
  // of s: an entry pointing past the shard's end.
  std::string e = Shard(0, 0, true, true);
  e[e.size() - 10] ^= 1;
  origin_.Set("http://h/g/e/c/0/0", "pad" + e);
  std::string s = Shard(0, 0, false, false);
  const std::string past = U64(1000);
  s.replace(0, 8, past);
  origin_.Set("http://h/g/s/c/0/0", "pad" + s);
  auto fs = Build(ViewKind::kNpy);
  ASSERT_TRUE(fs);
  for (const auto& [name, why] : {std::pair{"e.npy", "crc32c"}, std::pair{"s.npy", "past the shard"}}) {
    auto f = File(*fs, "g", name);
    ASSERT_TRUE(f.ok());
    const uint64_t data_start = f->size - 70;
    auto bad = fs->Read(f->ino, data_start, 2);
    ASSERT_FALSE(bad.ok()) << name;
    EXPECT_EQ(bad.status().code(), Code::kCorruption);
    EXPECT_THAT(bad.status().message(), HasSubstr(std::string("shard 'g/") + name[0] + "/c/0/0'"));
    EXPECT_THAT(bad.status().message(), HasSubstr(why));
    // Element (0, 5) lies in shard (0, 1), which reads.
    auto good = fs->Read(f->ino, data_start + 10, 2);
    ASSERT_TRUE(good.ok()) << good.status().ToString();
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
