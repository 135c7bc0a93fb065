// Unit tests of views/decoded_zarr_view.h: the zarr-decoded view over a
// small store whose chunks are on a fake origin.
#include "views/decoded_zarr_view.h"

#include <gtest/gtest.h>

#include <sys/statvfs.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "base/json.h"
#include "cache/block_store.h"
#include "cache/read_through.h"
#include "fs/filesystem.h"
#include "refs/reference_loader.h"
#include "tests/unit/compress_util.h"
#include "tests/unit/fake_origin.h"
#include "zarr/metadata.h"

namespace zm {
namespace {

// Elements of `t` (int32, little-endian) as bytes.
std::string I4(const std::vector<int32_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// numcodecs' shuffle of 4-byte elements: byte k of every element together.
std::string Shuffle4(const std::string& in) {
  std::string out(in.size(), '\0');
  const size_t n = in.size() / 4;
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < 4; ++k) out[k * n + i] = in[i * 4 + k];
  return out;
}

// A zarr-decoded view over a reference set whose stored bytes are on a fake
// origin, and the ways the tests walk it.
class DecodedViewFixture : public ::testing::Test {
 protected:
  void BuildView(const std::string& refs) {
    auto r = ParseReferences(refs, "");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    index_ = std::move(r).value();
    memory_ = NewMemoryBlockStore(16_MiB);
    cache_ = std::make_unique<ReadThroughCache>(&origin_, memory_.get(), nullptr, ReadThroughOptions{});
    DecodedArraysOptions o;
    o.decode_threads = 0;
    auto v = DecodedZarrView::Build(&index_, cache_.get(), o);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    view_ = std::move(v).value();
  }

  static Result<Attr> Resolve(const Tree& t, const std::string& path) {
    Attr a;
    a.ino = Tree::kRootIno;
    a.is_dir = true;
    for (size_t start = 0; start < path.size();) {
      const size_t slash = path.find('/', start);
      ZM_ASSIGN_OR_RETURN(a, t.Lookup(a.ino, path.substr(start, slash == std::string::npos ? slash : slash - start)));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return a;
  }

  Result<std::string> ReadAll(const std::string& path) {
    ZM_ASSIGN_OR_RETURN(Attr a, Resolve(*view_, path));
    return view_->Read(a.ino, 0, a.size + 10);
  }

  testing::FakeOrigin origin_;
  ReferenceIndex index_;
  std::unique_ptr<BlockStore> memory_;
  std::unique_ptr<ReadThroughCache> cache_;
  std::unique_ptr<DecodedZarrView> view_;
};

// The store: group "g" holding
//  - "a": <i4, 5 x 4, chunks 2 x 4, shuffle then zlib, order F, chunk 1.0
//    without a reference (fill 7), chunk 2.0 corrupt;
//  - "n": <i4, 4, chunks 2, "/" separator, zlib (keys "g/n/0", "g/n/1");
//  - "odd": a codec the mount does not know;
// and a root ".zmetadata" consolidating them. Chunk bytes live on the origin.
class DecodedZarrViewTest : public DecodedViewFixture {
 protected:
  // a's chunk (ci, 0) in C order: element (r, c) = 10 r + c, 0 outside.
  static std::vector<int32_t> AChunk(int ci) {
    std::vector<int32_t> v;
    for (int i = 0; i < 2; ++i)
      for (int c = 0; c < 4; ++c) v.push_back(ci * 2 + i < 5 ? (ci * 2 + i) * 10 + c : 0);
    return v;
  }
  // The same chunk as stored: F order, shuffled, zlib'd.
  static std::string AStored(int ci) {
    std::vector<int32_t> c = AChunk(ci), f;
    for (int col = 0; col < 4; ++col)
      for (int row = 0; row < 2; ++row) f.push_back(c[row * 4 + col]);
    return testing::Zlib(Shuffle4(I4(f)));
  }

  void SetUp() override {
    std::string blob;
    std::string refs = "{";
    auto add = [&](const std::string& k, const std::string& v) {
      if (refs.size() > 1) refs += ",";
      refs += JsonQuote(k) + ":" + v;
    };
    auto add_stored = [&](const std::string& k, const std::string& bytes) {
      add(k, "[\"http://h/blob\", " + std::to_string(blob.size()) + ", " + std::to_string(bytes.size()) + "]");
      blob += bytes;
    };
    const std::string a_zarray = R"({"zarr_format": 2, "shape": [5, 4], "chunks": [2, 4], "dtype": "<i4", "order": "F", "fill_value": 7, "compressor": {"id": "zlib", "level": 1}, "filters": [{"id": "shuffle", "elementsize": 4}]})";
    const std::string n_zarray = R"({"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<i4", "order": "C", "fill_value": 0, "compressor": {"id": "zlib", "level": 1}, "filters": null, "dimension_separator": "/"})";
    const std::string odd_zarray = R"({"zarr_format": 2, "shape": [2], "chunks": [2], "dtype": "<i4", "order": "C", "fill_value": 0, "compressor": {"id": "nosuchcodec"}, "filters": null})";
    add(".zgroup", JsonQuote(R"({"zarr_format": 2})"));
    add(".zmetadata", JsonQuote(R"({"metadata": {".zgroup": {"zarr_format": 2}, "g/.zgroup": {"zarr_format": 2}, "g/a/.zarray": )" +
                              a_zarray + R"(, "g/n/.zarray": )" + n_zarray + R"(, "g/odd/.zarray": )" + odd_zarray +
                              R"(}, "zarr_consolidated_format": 1})"));
    add("g/.zgroup", JsonQuote(R"({"zarr_format": 2})"));
    add("g/a/.zarray", JsonQuote(a_zarray));
    add("g/a/.zattrs", JsonQuote(R"({"_ARRAY_DIMENSIONS": ["y", "x"]})"));
    add_stored("g/a/0.0", AStored(0));
    add_stored("g/a/2.0", "this is not zlib data");
    add("g/n/.zarray", JsonQuote(n_zarray));
    add_stored("g/n/0", testing::Zlib(I4({1, 2})));
    add_stored("g/n/1", testing::Zlib(I4({3, 4})));
    add("g/odd/.zarray", JsonQuote(odd_zarray));
    add_stored("g/odd/0", "opaque");
    refs += "}";
    origin_.Set("http://h/blob", blob);
    ASSERT_NO_FATAL_FAILURE(BuildView(refs));
  }
};

TEST_F(DecodedZarrViewTest, ChunksReadDecodedInCOrder) {
  auto a = Resolve(*view_, "g/a/0.0");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->size, 2u * 4u * 4u);  // the chunk's bytes, known without a fetch
  EXPECT_EQ(ReadAll("g/a/0.0").value(), I4(AChunk(0)));
  // A read in the middle of a chunk.
  EXPECT_EQ(view_->Read(a->ino, 4, 8).value(), I4(AChunk(0)).substr(4, 8));
  // Nested keys ("/" separator).
  EXPECT_EQ(ReadAll("g/n/1").value(), I4({3, 4}));
  EXPECT_EQ(Resolve(*view_, "g/n/0")->size, 8u);
}

TEST_F(DecodedZarrViewTest, MetadataSaysTheChunksAreDecoded) {
  auto zarray = ReadAll("g/a/.zarray");
  ASSERT_TRUE(zarray.ok());
  EXPECT_EQ(Resolve(*view_, "g/a/.zarray")->size, zarray->size());
  auto meta = ParseZarrArray(*zarray);
  ASSERT_TRUE(meta.ok()) << *zarray;
  EXPECT_TRUE(meta->chunk.codecs.empty());
  EXPECT_EQ(meta->chunk.order, 'C');
  EXPECT_EQ(meta->shape, (std::vector<uint64_t>{5, 4}));
  // Consolidated: a and n rewritten, odd kept as it is stored.
  auto consolidated = ReadAll(".zmetadata");
  ASSERT_TRUE(consolidated.ok());
  EXPECT_EQ(consolidated->find("\"zlib\""), std::string::npos) << *consolidated;
  EXPECT_NE(consolidated->find("nosuchcodec"), std::string::npos) << *consolidated;
  // Attributes as stored.
  EXPECT_EQ(ReadAll("g/a/.zattrs").value(), R"({"_ARRAY_DIMENSIONS": ["y", "x"]})");
}

TEST_F(DecodedZarrViewTest, UndecodableArraysReadAsStored) {
  EXPECT_EQ(ReadAll("g/odd/0").value(), "opaque");
  EXPECT_NE(ReadAll("g/odd/.zarray")->find("nosuchcodec"), std::string::npos);
  ASSERT_EQ(view_->shown_as_stored().size(), 1u);
  EXPECT_NE(view_->shown_as_stored()[0].find("array 'g/odd' shown as stored"), std::string::npos)
      << view_->shown_as_stored()[0];
}

TEST_F(DecodedZarrViewTest, MissingChunksStayMissingAndBadOnesFail) {
  EXPECT_EQ(Resolve(*view_, "g/a/1.0").status().code(), Code::kNotFound);
  auto bad = ReadAll("g/a/2.0");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("g/a/2.0"), std::string::npos) << bad.status().message();
}

TEST_F(DecodedZarrViewTest, SameTreeAsTheZarrView) {
  Filesystem stored(&index_, cache_.get());
  for (const std::string path : {"g", "g/a", "g/a/0.0", "g/n/1", ".zmetadata", "g/odd/0"}) {
    auto x = Resolve(*view_, path), y = Resolve(stored, path);
    ASSERT_TRUE(x.ok() && y.ok()) << path;
    EXPECT_EQ(x->ino, y->ino) << path;
  }
  // Listings show the decoded sizes.
  std::vector<std::pair<std::string, uint64_t>> listed;
  auto dir = Resolve(*view_, "g/a");
  ASSERT_TRUE(view_->ReadDir(dir->ino, 2, [&](std::string_view n, const Attr& a, uint64_t) {
                      listed.emplace_back(std::string(n), a.size);
                      return true;
                    }).ok());
  ASSERT_FALSE(listed.empty());
  for (const auto& [name, size] : listed)
    if (name == "0.0" || name == "2.0") {
      EXPECT_EQ(size, 32u) << name;
    }
}


// A Zarr v3 store with two sharded int16 arrays of 5 x 7, shards of 4 x 4
// holding inner chunks of 2 x 2 (raw, index at the end, no checksum):
// "e" under the default encoding ("c/1/0"), "f" under its "." form
// ("c.1.0"). Shard (1, 1) has no key; inner chunk (0, 1) is left out of
// its shard's index.
class ShardedDecodedZarrViewTest : public DecodedViewFixture {
 protected:
  static int16_t Value(int r, int c) { return int16_t(r * 7 + c + 1); }
  static bool InIndex(int ir, int ic) { return !(ir == 0 && ic == 1); }
  // Inner chunk (ir, ic) decoded: C order, 0 past the array's edge.
  static std::string Inner(int ir, int ic) {
    std::string out;
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        const int r = ir * 2 + i, c = ic * 2 + j;
        const int16_t v = r < 5 && c < 7 ? Value(r, c) : 0;
        out.append(reinterpret_cast<const char*>(&v), 2);
      }
    return out;
  }
  static std::string Shard(int si, int sj) {
    auto u64 = [](uint64_t v) {
      std::string b(8, '\0');
      for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
      return b;
    };
    std::string data, index;
    for (int k = 0; k < 4; ++k) {
      const int ir = si * 2 + k / 2, ic = sj * 2 + k % 2;
      if (!InIndex(ir, ic)) {
        index += u64(~uint64_t{0}) + u64(~uint64_t{0});
        continue;
      }
      index += u64(data.size()) + u64(8);
      data += Inner(ir, ic);
    }
    return data + index;
  }
  static std::string ArrayJson(const char* separator) {
    return std::string(R"({"zarr_format": 3, "node_type": "array", "shape": [5, 7], "data_type": "int16",)") +
           R"( "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 4]}},)" +
           R"( "chunk_key_encoding": {"name": "default", "configuration": {"separator": ")" + separator + R"("}},)" +
           R"( "fill_value": -9, "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 2],)" +
           R"( "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],)" +
           R"( "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]}}]})";
  }

  void SetUp() override {
    std::string refs = "{" + JsonQuote("zarr.json") + ":" +
                       JsonQuote(R"({"zarr_format": 3, "node_type": "group", "attributes": {}})");
    for (const auto& [name, sep] : {std::pair{"e", "/"}, std::pair{"f", "."}}) {
      refs += "," + JsonQuote(std::string(name) + "/zarr.json") + ":" + JsonQuote(ArrayJson(sep));
      for (int si = 0; si < 2; ++si)
        for (int sj = 0; sj < 2; ++sj) {
          if (si == 1 && sj == 1) continue;
          const std::string key = std::string(name) + "/c" + sep + std::to_string(si) + sep + std::to_string(sj);
          origin_.Set("http://h/" + key, Shard(si, sj));
          refs += "," + JsonQuote(key) + ":[\"http://h/" + key + "\"]";
        }
    }
    refs += "}";
    ASSERT_NO_FATAL_FAILURE(BuildView(refs));
  }

  std::vector<std::string> List(const std::string& path) {
    std::vector<std::string> names;
    auto dir = Resolve(*view_, path);
    EXPECT_TRUE(dir.ok()) << path;
    if (!dir.ok()) return names;
    EXPECT_TRUE(view_->ReadDir(dir->ino, 0, [&](std::string_view n, const Attr& a, uint64_t) {
                      names.emplace_back(n);
                      if (n != "." && n != "..") {
                        auto again = view_->GetAttr(a.ino);
                        EXPECT_TRUE(again.ok() && again->ino == a.ino && again->is_dir == a.is_dir) << n;
                      }
                      return true;
                    }).ok());
    return names;
  }
};

TEST_F(ShardedDecodedZarrViewTest, MetadataSaysInnerChunksAreTheChunks) {
  EXPECT_TRUE(view_->shown_as_stored().empty());
  auto doc = ReadAll("e/zarr.json");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  auto meta = ParseZarrV3Array(*doc);
  ASSERT_TRUE(meta.ok()) << *doc;
  EXPECT_FALSE(meta->sharding);
  EXPECT_EQ(meta->chunks, (std::vector<uint64_t>{2, 2}));
  EXPECT_EQ(meta->key_encoding, ChunkKeyEncoding::V3Default('/'));
}

TEST_F(ShardedDecodedZarrViewTest, InnerChunksAreFilesOfTheirOwn) {
  for (const auto& array : {std::pair{"e", "/"}, std::pair{"f", "."}}) {
    // (Plain names: clang 14 cannot capture structured bindings.)
    const std::string name = array.first, sep = array.second;
    SCOPED_TRACE(name);
    auto key = [&](int i, int j) {
      return std::string(name) + "/c" + sep + std::to_string(i) + sep + std::to_string(j);
    };
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) {
        auto got = ReadAll(key(i, j));
        if (i == 2 && j >= 2) {  // in the shard with no key
          EXPECT_EQ(got.status().code(), Code::kNotFound) << key(i, j);
        } else if (!InIndex(i, j)) {  // left out of its shard: the fill value
          ASSERT_TRUE(got.ok()) << key(i, j);
          EXPECT_EQ(*got, std::string("\xf7\xff\xf7\xff\xf7\xff\xf7\xff", 8));
        } else {
          ASSERT_TRUE(got.ok()) << key(i, j) << ": " << got.status().ToString();
          EXPECT_EQ(*got, Inner(i, j)) << key(i, j);
        }
      }
    // Past the inner grid, and names no encoding spells.
    EXPECT_EQ(Resolve(*view_, key(3, 0)).status().code(), Code::kNotFound);
    EXPECT_EQ(Resolve(*view_, std::string(name) + "/c" + sep + "01" + sep + "0").status().code(), Code::kNotFound);
  }
}

TEST_F(ShardedDecodedZarrViewTest, ListingsShowInnerChunksNotShards) {
  using V = std::vector<std::string>;
  EXPECT_EQ(List("e"), (V{".", "..", "zarr.json", "c"}));
  EXPECT_EQ(List("e/c"), (V{".", "..", "0", "1", "2"}));
  EXPECT_EQ(List("e/c/0"), (V{".", "..", "0", "1", "2", "3"}));
  EXPECT_EQ(List("e/c/2"), (V{".", "..", "0", "1"}));
  V f = List("f");
  EXPECT_EQ(f.size(), 3u + 10u) << ::testing::PrintToString(f);
  EXPECT_EQ(std::count(f.begin(), f.end(), "c.1.3"), 1);
  EXPECT_EQ(std::count(f.begin(), f.end(), "c.2.2"), 0);
  // Every node its own inode, none of the stored tree's.
  Filesystem stored(&index_, cache_.get());
  struct statvfs st;
  stored.StatFs(&st);
  const uint64_t stored_inodes = st.f_files;
  std::set<uint64_t> inodes;
  for (const std::string path : {"e/c", "e/c/0", "e/c/0/0", "e/c/2/1", "f/c.0.0", "f/c.2.1"}) {
    auto a = Resolve(*view_, path);
    ASSERT_TRUE(a.ok()) << path;
    EXPECT_TRUE(inodes.insert(a->ino).second) << path;
    EXPECT_GT(a->ino, stored_inodes) << path;
  }
  view_->StatFs(&st);
  EXPECT_GT(st.f_files, stored_inodes);
  // Reading a directory's inode, or listing a file's, says what it is.
  EXPECT_FALSE(view_->Read(Resolve(*view_, "e/c/0")->ino, 0, 8).ok());
  EXPECT_FALSE(view_->ReadDir(Resolve(*view_, "e/c/0/0")->ino, 0, [](std::string_view, const Attr&, uint64_t) { return true; }).ok());
}

}  // namespace
}  // namespace zm
