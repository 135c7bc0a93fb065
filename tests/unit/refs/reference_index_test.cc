// Unit tests of refs/reference_index.h: the directory tree implied by the keys,
// key validation, and an index of many keys.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "refs/reference_index.h"
#include "tests/unit/refs/parsed_refs.h"

namespace zm {
namespace {

using testing::MustParse;
using testing::Lookup;
using testing::ExpectParseError;

// ---- directory tree --------------------------------------------------------------

TEST(DirectoryTree, ImpliedByKeys) {
  auto idx = MustParse(R"({
      "z": "1", ".zgroup": "2", "b/c/0": "3", "b/c/.zarray": "4", "b/.zgroup": "5",
      "a/1.0": "6", "a/0.0": "7", "a/.zarray": "8", "b/a/x": "9", "a.b/x": "10",
      "a-b/y": "11", "a0": "12", "b/c/d/e/f": "13"})");
  ASSERT_EQ(idx.file_count(), 13u);
  // Dirs: root, a, a-b, a.b, b, b/a, b/c, b/c/d, b/c/d/e.
  EXPECT_EQ(idx.dir_count(), 9u);
  auto names = [&](std::span<const ReferenceIndex::DirId> ds) {
    std::vector<std::string> out;
    for (auto d : ds) out.emplace_back(idx.dir_name(d));
    return out;
  };
  auto files = [&](ReferenceIndex::DirId d) {
    std::vector<std::string> out;
    for (uint64_t i = 0; i < idx.file_count(d); ++i)
      out.emplace_back(idx.file_name(idx.first_file(d) + i));
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(idx.dir_name(ReferenceIndex::kRootDir), "");
  EXPECT_EQ(idx.DirPath(ReferenceIndex::kRootDir), "");
  EXPECT_EQ(names(idx.subdirs(ReferenceIndex::kRootDir)), (V{"a", "a-b", "a.b", "b"}));
  EXPECT_EQ(files(ReferenceIndex::kRootDir), (V{".zgroup", "a0", "z"}));

  auto a = idx.FindDir(ReferenceIndex::kRootDir, "a");
  auto b = idx.FindDir(ReferenceIndex::kRootDir, "b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(files(*a), (V{".zarray", "0.0", "1.0"}));
  EXPECT_TRUE(idx.subdirs(*a).empty());
  EXPECT_EQ(names(idx.subdirs(*b)), (V{"a", "c"}));
  EXPECT_EQ(files(*b), (V{".zgroup"}));
  auto bc = idx.FindDir(*b, "c");
  ASSERT_TRUE(bc);
  EXPECT_EQ(idx.DirPath(*bc), "b/c");
  EXPECT_EQ(idx.dir_parent(*bc), *b);
  EXPECT_EQ(files(*bc), (V{".zarray", "0"}));
  EXPECT_EQ(names(idx.subdirs(*bc)), (V{"d"}));
  auto bcd = idx.FindDir(*bc, "d");
  ASSERT_TRUE(bcd);
  EXPECT_EQ(files(*bcd), V{});
  auto bcde = idx.FindDir(*bcd, "e");
  ASSERT_TRUE(bcde);
  EXPECT_EQ(idx.DirPath(*bcde), "b/c/d/e");
  EXPECT_EQ(files(*bcde), (V{"f"}));

  EXPECT_FALSE(idx.FindDir(ReferenceIndex::kRootDir, "z").has_value()) << "a file, not a dir";
  EXPECT_FALSE(idx.FindFile(ReferenceIndex::kRootDir, "a").has_value()) << "a dir, not a file";
  EXPECT_FALSE(idx.FindDir(ReferenceIndex::kRootDir, "c").has_value());
  EXPECT_FALSE(idx.FindKey("b/c").has_value());
  EXPECT_FALSE(idx.FindKey("b/c/").has_value());
  EXPECT_FALSE(idx.FindKey("").has_value());
  EXPECT_FALSE(idx.FindKey("nope/x").has_value());
  EXPECT_EQ(Lookup(idx, "b/c/d/e/f"), "inline:13");
  EXPECT_EQ(Lookup(idx, "a.b/x"), "inline:10");

  // Every file: its key finds it, its dir holds it, its id is in its dir's run.
  for (ReferenceIndex::FileId f = 0; f < idx.file_count(); ++f) {
    std::string key = idx.FileKey(f);
    auto found = idx.FindKey(key);
    ASSERT_TRUE(found.has_value()) << key;
    EXPECT_EQ(*found, f) << key;
    auto d = idx.file_dir(f);
    EXPECT_GE(f, idx.first_file(d)) << key;
    EXPECT_LT(f, idx.first_file(d) + idx.file_count(d)) << key;
    std::string dir_path = idx.DirPath(d);
    EXPECT_EQ(key, dir_path.empty() ? std::string(idx.file_name(f))
                                    : dir_path + "/" + std::string(idx.file_name(f)));
    EXPECT_EQ(idx.FindFile(d, idx.file_name(f)), std::optional<ReferenceIndex::FileId>(f));
  }
  // Every dir: its parent lists it, FindDir finds it.
  for (ReferenceIndex::DirId d = 1; d < idx.dir_count(); ++d) {
    auto p = idx.dir_parent(d);
    EXPECT_EQ(idx.FindDir(p, idx.dir_name(d)), std::optional<ReferenceIndex::DirId>(d));
  }
}

TEST(DirectoryTree, IdsAreDeterministic) {
  const char* j1 = R"({"b/x": "1", "a/y": "2", "c": "3", "a/b/z": "4"})";
  const char* j2 = R"({"a/b/z": "4", "c": "3", "a/y": "2", "b/x": "1"})";  // same set, reordered
  auto i1 = MustParse(j1), i2 = MustParse(j2), i3 = MustParse(j1);
  ASSERT_EQ(i1.file_count(), i2.file_count());
  for (ReferenceIndex::FileId f = 0; f < i1.file_count(); ++f) {
    EXPECT_EQ(i1.FileKey(f), i2.FileKey(f));
    EXPECT_EQ(i1.FileKey(f), i3.FileKey(f));
  }
  for (ReferenceIndex::DirId d = 0; d < i1.dir_count(); ++d) EXPECT_EQ(i1.DirPath(d), i2.DirPath(d));
}

TEST(DirectoryTree, KeyThatIsBothFileAndDirectory) {
  std::string m = ExpectParseError(R"({"a": "x", "a/b": "y"})", {"'a'", "both a file and a directory"});
  m = ExpectParseError(R"({"x/a/b/c": "y", "x/a/b": "x"})", {"'x/a/b'", "both a file and a directory"});
}

TEST(ValidateKey, Direct) {
  EXPECT_TRUE(ReferenceIndexBuilder::ValidateKey("a").ok());
  EXPECT_TRUE(ReferenceIndexBuilder::ValidateKey("a/b/.zarray").ok());
  EXPECT_TRUE(ReferenceIndexBuilder::ValidateKey("...").ok());
  EXPECT_TRUE(ReferenceIndexBuilder::ValidateKey("a/..b/c.").ok());
  EXPECT_TRUE(ReferenceIndexBuilder::ValidateKey(std::string(255, 'x')).ok());
  EXPECT_FALSE(ReferenceIndexBuilder::ValidateKey("").ok());
  EXPECT_FALSE(ReferenceIndexBuilder::ValidateKey("/a").ok());
  EXPECT_FALSE(ReferenceIndexBuilder::ValidateKey("a/").ok());
  EXPECT_FALSE(ReferenceIndexBuilder::ValidateKey("a/..").ok());
  EXPECT_FALSE(ReferenceIndexBuilder::ValidateKey("./a").ok());
  EXPECT_FALSE(ReferenceIndexBuilder::ValidateKey(std::string("a\0b", 3)).ok());
}

// ---- scale --------------------------------------------------------------------------

TEST(ReferenceIndexScale, TwoHundredThousandKeys) {
  constexpr int kDirs = 20, kPerDir = 10'000;
  ReferenceIndexBuilder b;
  uint32_t u0 = b.InternUrl("http://h/a.nc"), u1 = b.InternUrl("http://h/b.nc");
  size_t name_bytes = 0;
  std::set<std::string> dir_names;
  for (int d = 0; d < kDirs; ++d) {
    std::string dir = "var" + std::to_string(d);
    dir_names.insert(dir);
    // Insert in a scrambled order: the builder must sort.
    for (int k = 0; k < kPerDir; ++k) {
      int i = (k * 7919) % kPerDir;
      std::string base = std::to_string(i / 100) + "." + std::to_string(i % 100);
      name_bytes += base.size();
      b.AddRange(dir + "/" + base, i % 2 ? u1 : u0, uint64_t(i) * 4096, 4096);
    }
    b.AddInline(dir + "/.zarray", "{\"chunks\": [1]}");
    name_bytes += 7;
  }
  for (const auto& d : dir_names) name_bytes += d.size();
  const size_t keys = b.entry_count();
  ASSERT_EQ(keys, size_t{kDirs} * (kPerDir + 1));
  auto t0 = std::chrono::steady_clock::now();
  auto r = std::move(b).Finish();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ReferenceIndex& idx = *r;
  EXPECT_EQ(idx.file_count(), keys);
  EXPECT_EQ(idx.dir_count(), size_t{kDirs} + 1);
  for (int d = 0; d < kDirs; d += 3) {
    for (int i : {0, 1, 99, 100, 4242, 9999}) {
      std::string key = "var" + std::to_string(d) + "/" + std::to_string(i / 100) + "." +
                        std::to_string(i % 100);
      auto f = idx.FindKey(key);
      ASSERT_TRUE(f.has_value()) << key;
      EXPECT_EQ(idx.FileKey(*f), key);
      auto t = idx.target(*f);
      EXPECT_EQ(t.offset, uint64_t(i) * 4096) << key;
      EXPECT_EQ(t.size, 4096u);
      EXPECT_EQ(idx.url(t.url_id), i % 2 ? "http://h/b.nc" : "http://h/a.nc");
    }
    auto z = idx.FindKey("var" + std::to_string(d) + "/.zarray");
    ASSERT_TRUE(z.has_value());
    EXPECT_EQ(idx.inline_data(*z), "{\"chunks\": [1]}");
  }
  EXPECT_FALSE(idx.FindKey("var0/100.0").has_value());
  EXPECT_FALSE(idx.FindKey("var20/0.0").has_value());
  const size_t mem = idx.MemoryUsage();
  const double per_key = double(mem) / double(keys);
  std::printf("[ scale    ] %zu keys: index %zu bytes (%.1f bytes/key, names %zu bytes), "
              "built in %lld ms\n",
              keys, mem, per_key, name_bytes, static_cast<long long>(ms));
  EXPECT_LT(mem, 64 * keys + name_bytes);
}

}  // namespace
}  // namespace zm
