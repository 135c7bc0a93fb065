// Unit tests of fs/: the FUSE-independent Filesystem over a parsed reference
// set and a read-through cache on the fake origin; errno mapping; the
// command line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_store.h"
#include "cache/read_through.h"
#include "fs/filesystem.h"
#include "fuse/errno.h"
#include "app/options.h"
#include "refs/reference_loader.h"
#include "tests/unit/fake_origin.h"

namespace zm {
namespace {

using ::testing::HasSubstr;
using testing::FakeOrigin;
using testing::RandomBytes;

const char* kJson = R"({
  "version": 1,
  "templates": {"u": "http://h/data.nc"},
  "refs": {
    ".zgroup": "{\"zarr_format\": 2}",
    "tas/.zarray": "{\"chunks\": [1, 2], \"dtype\": \"<f4\"}",
    "tas/0.0": ["{{u}}", 0, 5000],
    "tas/0.1": ["{{u}}", 5000, 3000],
    "tas/1.0": ["http://h/other.nc", 100, 200],
    "pr/.zattrs": "{}",
    "pr/sub/x": "base64:AAECAw==",
    "empty": "",
    "zz/deep/er/file": ["http://h/data.nc", 10, 1],
    "tas/zero": ["http://h/data.nc", 10, 0]
  }})";

// The same reference set written in another order.
const char* kJsonReordered = R"({
  "refs": {
    "tas/zero": ["http://h/data.nc", 10, 0],
    "zz/deep/er/file": ["http://h/data.nc", 10, 1],
    "empty": "",
    "pr/sub/x": "base64:AAECAw==",
    "pr/.zattrs": "{}",
    "tas/1.0": ["http://h/other.nc", 100, 200],
    "tas/0.1": ["{{u}}", 5000, 3000],
    "tas/0.0": ["{{u}}", 0, 5000],
    "tas/.zarray": "{\"chunks\": [1, 2], \"dtype\": \"<f4\"}",
    ".zgroup": "{\"zarr_format\": 2}"
  },
  "templates": {"u": "http://h/data.nc"},
  "version": 1})";

struct Entry {
  std::string name;
  Attr attr;
  uint64_t next;
};

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = RandomBytes(10'000, 1);
    other_ = RandomBytes(1'000, 2);
    origin_.Set("http://h/data.nc", data_);
    origin_.Set("http://h/other.nc", other_);
    auto r = ParseReferences(kJson, "");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    index_ = std::move(r).value();
    memory_ = NewMemoryBlockStore(16_MiB);
    ReadThroughOptions o;
    o.block_size = 4_KiB;
    o.whole_fetch_limit = 4_KiB;
    o.failure_memory_ms = 50;
    cache_ = std::make_unique<ReadThroughCache>(&origin_, memory_.get(), nullptr, o);
    fs_ = std::make_unique<Filesystem>(&index_, cache_.get(), 1700000000);
  }

  // Expected content of every file, by key.
  std::map<std::string, std::string> Contents() const {
    return {{".zgroup", "{\"zarr_format\": 2}"},
            {"tas/.zarray", "{\"chunks\": [1, 2], \"dtype\": \"<f4\"}"},
            {"tas/0.0", data_.substr(0, 5000)},
            {"tas/0.1", data_.substr(5000, 3000)},
            {"tas/1.0", other_.substr(100, 200)},
            {"pr/.zattrs", "{}"},
            {"pr/sub/x", std::string("\x00\x01\x02\x03", 4)},
            {"empty", ""},
            {"zz/deep/er/file", data_.substr(10, 1)},
            {"tas/zero", ""}};
  }

  // Walks a path from the root with Lookup.
  Result<Attr> Resolve(const Filesystem& fs, std::string_view path) const {
    Attr a;
    a.ino = Filesystem::kRootIno;
    a.is_dir = true;
    while (!path.empty()) {
      size_t slash = path.find('/');
      auto r = fs.Lookup(a.ino, path.substr(0, slash));
      if (!r.ok()) return r;
      a = *r;
      if (slash == std::string_view::npos) break;
      path.remove_prefix(slash + 1);
    }
    return a;
  }

  uint64_t Ino(std::string_view path) const {
    auto r = Resolve(*fs_, path);
    EXPECT_TRUE(r.ok()) << path << ": " << r.status().ToString();
    return r.ok() ? r->ino : 0;
  }

  std::vector<Entry> List(uint64_t ino, uint64_t offset = 0) const {
    std::vector<Entry> out;
    Status st = fs_->ReadDir(ino, offset, [&](std::string_view name, const Attr& a, uint64_t next) {
      out.push_back(Entry{std::string(name), a, next});
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  static std::vector<std::string> Names(const std::vector<Entry>& es) {
    std::vector<std::string> out;
    for (const auto& e : es) out.push_back(e.name);
    return out;
  }

  std::string MustRead(uint64_t ino, uint64_t off, uint64_t size) const {
    auto r = fs_->Read(ino, off, size);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : "<error>";
  }

  std::string data_, other_;
  FakeOrigin origin_;
  ReferenceIndex index_;
  std::unique_ptr<BlockStore> memory_;
  std::unique_ptr<ReadThroughCache> cache_;
  std::unique_ptr<Filesystem> fs_;
};

// ---- inodes and attributes -----------------------------------------------------------

TEST_F(FsTest, InodeNumbering) {
  // Root 1; directories in path order: pr, pr/sub, tas, zz, zz/deep, zz/deep/er;
  // then files by directory, by name.
  EXPECT_EQ(Ino(""), 1u);
  EXPECT_EQ(Ino("pr"), 2u);
  EXPECT_EQ(Ino("pr/sub"), 3u);
  EXPECT_EQ(Ino("tas"), 4u);
  EXPECT_EQ(Ino("zz"), 5u);
  EXPECT_EQ(Ino("zz/deep"), 6u);
  EXPECT_EQ(Ino("zz/deep/er"), 7u);
  EXPECT_EQ(Ino(".zgroup"), 8u);
  EXPECT_EQ(Ino("empty"), 9u);
  EXPECT_EQ(Ino("pr/.zattrs"), 10u);
  EXPECT_EQ(Ino("pr/sub/x"), 11u);
  EXPECT_EQ(Ino("tas/.zarray"), 12u);
  EXPECT_EQ(Ino("tas/0.0"), 13u);
  EXPECT_EQ(Ino("tas/0.1"), 14u);
  EXPECT_EQ(Ino("tas/1.0"), 15u);
  EXPECT_EQ(Ino("tas/zero"), 16u);
  EXPECT_EQ(Ino("zz/deep/er/file"), 17u);
  EXPECT_FALSE(fs_->GetAttr(18).ok());
  EXPECT_FALSE(fs_->GetAttr(0).ok());
}

TEST_F(FsTest, InodesStableAcrossBuilds) {
  for (const char* json : {kJson, kJsonReordered}) {
    auto r = ParseReferences(json, "");
    ASSERT_TRUE(r.ok());
    ReferenceIndex idx = std::move(r).value();
    Filesystem other(&idx, cache_.get());
    for (const auto& [key, content] : Contents()) {
      auto a = Resolve(other, key), b = Resolve(*fs_, key);
      ASSERT_TRUE(a.ok() && b.ok()) << key;
      EXPECT_EQ(a->ino, b->ino) << key;
      EXPECT_EQ(other.KeyOf(a->ino), key);
    }
  }
}

TEST_F(FsTest, AttributesAndExactSizes) {
  for (const auto& [key, content] : Contents()) {
    uint64_t ino = Ino(key);
    auto a = fs_->GetAttr(ino);
    ASSERT_TRUE(a.ok()) << key;
    EXPECT_EQ(a->ino, ino);
    EXPECT_FALSE(a->is_dir) << key;
    EXPECT_EQ(a->size, content.size()) << key;
    EXPECT_EQ(a->nlink, 1u);
    auto l = Resolve(*fs_, key);
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->size, content.size()) << "Lookup and GetAttr agree: " << key;
  }
  struct D {
    const char* path;
    uint32_t subdirs;
  };
  for (D d : {D{"", 3}, D{"pr", 1}, D{"pr/sub", 0}, D{"tas", 0}, D{"zz", 1}, D{"zz/deep/er", 0}}) {
    auto a = fs_->GetAttr(Ino(d.path));
    ASSERT_TRUE(a.ok()) << d.path;
    EXPECT_TRUE(a->is_dir) << d.path;
    EXPECT_EQ(a->nlink, 2 + d.subdirs) << d.path;
  }
  EXPECT_EQ(fs_->mtime(), 1700000000);
}

TEST_F(FsTest, LookupDotAndDotDot) {
  auto a = fs_->Lookup(Ino("tas"), ".");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->ino, Ino("tas"));
  a = fs_->Lookup(Ino("zz/deep/er"), "..");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->ino, Ino("zz/deep"));
  a = fs_->Lookup(Filesystem::kRootIno, "..");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->ino, Filesystem::kRootIno);
}

TEST_F(FsTest, LookupErrors) {
  auto r = fs_->Lookup(Filesystem::kRootIno, "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(ErrnoFor(FuseOp::kLookup, r.status()), ENOENT);
  for (const char* name : {"ta", "tas/0.0", "tas/", "", "TAS", "zgroup"}) {
    r = fs_->Lookup(Filesystem::kRootIno, name);
    ASSERT_FALSE(r.ok()) << "'" << name << "'";
    EXPECT_EQ(ErrnoFor(FuseOp::kLookup, r.status()), ENOENT) << name;
  }
  r = fs_->Lookup(Ino("tas/0.0"), "x");  // a file as parent
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrnoFor(FuseOp::kLookup, r.status()), ENOTDIR);
}

TEST_F(FsTest, UnknownInodes) {
  for (uint64_t ino : {uint64_t{0}, uint64_t{18}, uint64_t{1000}, ~uint64_t{0}}) {
    auto a = fs_->GetAttr(ino);
    ASSERT_FALSE(a.ok()) << ino;
    EXPECT_EQ(a.status().code(), Code::kNotFound);
    auto r = fs_->Read(ino, 0, 10);
    ASSERT_FALSE(r.ok()) << ino;
    EXPECT_NE(ErrnoFor(FuseOp::kRead, r.status()), 0);
    Status st = fs_->ReadDir(ino, 0, [](std::string_view, const Attr&, uint64_t) { return true; });
    EXPECT_FALSE(st.ok());
    EXPECT_EQ(fs_->Open(ino).code(), Code::kNotFound);
  }
}

TEST_F(FsTest, OpenAndKeyOf) {
  EXPECT_TRUE(fs_->Open(Ino("tas/0.0")).ok());
  EXPECT_TRUE(fs_->Open(Ino("empty")).ok());
  Status st = fs_->Open(Ino("tas"));
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(ErrnoFor(FuseOp::kRead, st), EISDIR);
  EXPECT_EQ(fs_->KeyOf(Ino("zz/deep/er/file")), "zz/deep/er/file");
  EXPECT_EQ(fs_->KeyOf(Ino("zz/deep")), "zz/deep");
  EXPECT_EQ(fs_->KeyOf(Filesystem::kRootIno), "");
}

// ---- readdir -----------------------------------------------------------------------

TEST_F(FsTest, ReadDirOrder) {
  auto root = List(Filesystem::kRootIno);
  EXPECT_EQ(Names(root), (std::vector<std::string>{".", "..", "pr", "tas", "zz", ".zgroup", "empty"}));
  EXPECT_EQ(root[0].attr.ino, 1u);
  EXPECT_EQ(root[1].attr.ino, 1u);
  EXPECT_TRUE(root[2].attr.is_dir);
  EXPECT_FALSE(root[5].attr.is_dir);
  EXPECT_EQ(root[5].attr.size, 18u);

  auto tas = List(Ino("tas"));
  EXPECT_EQ(Names(tas), (std::vector<std::string>{".", "..", ".zarray", "0.0", "0.1", "1.0", "zero"}));
  EXPECT_EQ(tas[0].attr.ino, Ino("tas"));
  EXPECT_EQ(tas[1].attr.ino, 1u);
  EXPECT_EQ(tas[3].attr.ino, Ino("tas/0.0"));
  EXPECT_EQ(tas[3].attr.size, 5000u);
  EXPECT_EQ(tas[4].attr.size, 3000u);

  EXPECT_EQ(Names(List(Ino("pr"))), (std::vector<std::string>{".", "..", "sub", ".zattrs"}));
  EXPECT_EQ(Names(List(Ino("zz/deep"))), (std::vector<std::string>{".", "..", "er"}));
  auto er = List(Ino("zz/deep/er"));
  EXPECT_EQ(Names(er), (std::vector<std::string>{".", "..", "file"}));
  EXPECT_EQ(er[1].attr.ino, Ino("zz/deep"));

  // Every entry's attributes agree with Lookup of its name.
  for (const char* dir : {"", "pr", "tas", "zz/deep/er"}) {
    for (const auto& e : List(Ino(dir))) {
      auto l = fs_->Lookup(Ino(dir), e.name);
      ASSERT_TRUE(l.ok()) << dir << "/" << e.name;
      EXPECT_EQ(l->ino, e.attr.ino) << dir << "/" << e.name;
      EXPECT_EQ(l->size, e.attr.size);
      EXPECT_EQ(l->is_dir, e.attr.is_dir);
    }
  }
}

TEST_F(FsTest, ReadDirResumesFromEveryOffset) {
  for (const char* dir : {"", "pr", "pr/sub", "tas", "zz", "zz/deep/er"}) {
    uint64_t ino = Ino(dir);
    auto full = List(ino);
    for (size_t i = 0; i < full.size(); ++i) EXPECT_EQ(full[i].next, i + 1) << dir;
    for (uint64_t off = 0; off <= full.size() + 2; ++off) {
      auto part = List(ino, off);
      std::vector<std::string> want;
      for (size_t i = off; i < full.size(); ++i) want.push_back(full[i].name);
      EXPECT_EQ(Names(part), want) << dir << " from " << off;
      for (size_t i = 0; i < part.size(); ++i) {
        EXPECT_EQ(part[i].attr.ino, full[off + i].attr.ino);
        EXPECT_EQ(part[i].next, off + i + 1);
      }
    }
  }
}

// The FUSE layer stops when its buffer is full (emit returns false) and the
// kernel asks again from the last offset it accepted.
TEST_F(FsTest, ReadDirInSmallBuffers) {
  auto full = Names(List(Filesystem::kRootIno));
  for (size_t room = 1; room <= 3; ++room) {
    std::vector<std::string> got;
    uint64_t offset = 0;
    for (int calls = 0; calls < 20; ++calls) {
      size_t accepted = 0;
      uint64_t last_next = offset;
      Status st = fs_->ReadDir(Filesystem::kRootIno, offset,
                               [&](std::string_view name, const Attr&, uint64_t next) {
                                 if (accepted == room) return false;  // did not fit
                                 got.emplace_back(name);
                                 ++accepted;
                                 last_next = next;
                                 return true;
                               });
      ASSERT_TRUE(st.ok());
      if (accepted == 0) break;
      offset = last_next;
    }
    EXPECT_EQ(got, full) << "room " << room;
  }
}

TEST_F(FsTest, ReadDirOnFile) {
  Status st = fs_->ReadDir(Ino("tas/0.0"), 0, [](std::string_view, const Attr&, uint64_t) { return true; });
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(ErrnoFor(FuseOp::kLookup, st), ENOTDIR);
}

// ---- read --------------------------------------------------------------------------

TEST_F(FsTest, ReadEveryFileAtEveryOffset) {
  for (const auto& [key, content] : Contents()) {
    uint64_t ino = Ino(key);
    const uint64_t n = content.size();
    const uint64_t step = n > 1000 ? 37 : 1;
    for (uint64_t off = 0; off <= n + 1; off += step) {
      for (uint64_t size : {uint64_t{1}, uint64_t{7}, uint64_t{4096}, uint64_t{131072}}) {
        std::string want = off < n ? content.substr(off, size) : "";
        ASSERT_EQ(MustRead(ino, off, size), want) << key << " off=" << off << " size=" << size;
      }
    }
    EXPECT_EQ(MustRead(ino, 0, n + 100), content) << key;
  }
}

TEST_F(FsTest, ReadPastEofIsEmptyWithoutOriginTraffic) {
  origin_.ClearRequests();
  EXPECT_EQ(MustRead(Ino("tas/0.0"), 5000, 10), "");
  EXPECT_EQ(MustRead(Ino("tas/0.0"), 9'999'999, 10), "");
  EXPECT_EQ(MustRead(Ino("tas/0.0"), ~uint64_t{0}, ~uint64_t{0}), "");
  EXPECT_EQ(MustRead(Ino("tas/zero"), 0, 10), "");
  EXPECT_EQ(MustRead(Ino("empty"), 0, 10), "");
  EXPECT_EQ(MustRead(Ino("tas/0.0"), 0, 0), "");
  EXPECT_EQ(origin_.request_count(), 0u);
}

TEST_F(FsTest, ReadOnlyTouchesTheReferencedRange) {
  origin_.ClearRequests();
  EXPECT_EQ(MustRead(Ino("tas/0.1"), 2990, 100), data_.substr(7990, 10));
  for (const auto& r : origin_.requests()) {
    EXPECT_EQ(r.url, "http://h/data.nc");
    EXPECT_GE(r.range.offset, 5000u);
    EXPECT_LE(r.range.end(), 8000u);
  }
  EXPECT_FALSE(origin_.requests().empty());
  size_t n = origin_.request_count();
  EXPECT_EQ(MustRead(Ino("tas/0.1"), 2990, 100), data_.substr(7990, 10));
  EXPECT_EQ(origin_.request_count(), n) << "cached";
}

TEST_F(FsTest, ReadOnDirectory) {
  auto r = fs_->Read(Ino("tas"), 0, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ErrnoFor(FuseOp::kRead, r.status()), EISDIR);
  r = fs_->Read(Filesystem::kRootIno, 0, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrnoFor(FuseOp::kRead, r.status()), EISDIR);
}

TEST_F(FsTest, OriginErrorsMapToErrno) {
  struct Case {
    Status st;
    int errno_value;
  };
  for (const Case& c : {Case{NotFound("HTTP 404"), EIO},
                        Case{Status(Code::kPermissionDenied, "HTTP 403"), EACCES},
                        Case{Unavailable("HTTP 503"), EIO}, Case{IoError("retries exhausted"), EIO},
                        Case{Corruption("bad Content-Range"), EIO},
                        Case{Status(Code::kOutOfRange, "short object"), EIO},
                        Case{Status(Code::kUnsupported, "s3://"), EIO}}) {
    SetUp();  // fresh cache: nothing held
    origin_.FailAlways("http://h/other.nc", c.st);
    auto r = fs_->Read(Ino("tas/1.0"), 0, 10);
    ASSERT_FALSE(r.ok()) << c.st.message();
    EXPECT_EQ(r.status().code(), c.st.code());
    EXPECT_EQ(ErrnoFor(FuseOp::kRead, r.status()), c.errno_value) << c.st.message();
    EXPECT_THAT(r.status().message(), HasSubstr("key 'tas/1.0'"));
    EXPECT_THAT(r.status().message(), HasSubstr(c.st.message()));
  }
}

TEST_F(FsTest, ErrnoMappingTables) {
  EXPECT_EQ(ErrnoFor(FuseOp::kLookup, NotFound("x")), ENOENT);
  EXPECT_EQ(ErrnoFor(FuseOp::kLookup, InvalidArgument("x")), ENOTDIR);
  EXPECT_EQ(ErrnoFor(FuseOp::kLookup, IoError("x")), EIO);
  EXPECT_EQ(ErrnoFor(FuseOp::kRead, Status(Code::kPermissionDenied, "x")), EACCES);
  EXPECT_EQ(ErrnoFor(FuseOp::kRead, InvalidArgument("x")), EISDIR);
  EXPECT_EQ(ErrnoFor(FuseOp::kRead, NotFound("x")), EIO);
  EXPECT_EQ(ErrnoFor(FuseOp::kRead, Unavailable("x")), EIO);
  EXPECT_EQ(ErrnoFor(FuseOp::kRead, Corruption("x")), EIO);
}

TEST_F(FsTest, OneFailingFileDoesNotAffectAnother) {
  origin_.FailAlways("http://h/other.nc", NotFound("HTTP 404"));
  EXPECT_FALSE(fs_->Read(Ino("tas/1.0"), 0, 10).ok());
  EXPECT_EQ(MustRead(Ino("tas/0.0"), 0, 5000), data_.substr(0, 5000));
  EXPECT_EQ(MustRead(Ino("tas/.zarray"), 0, 100), Contents()["tas/.zarray"]);
  EXPECT_FALSE(fs_->Read(Ino("tas/1.0"), 0, 10).ok());
  EXPECT_EQ(MustRead(Ino("zz/deep/er/file"), 0, 10), data_.substr(10, 1));
  // ... and the failed one recovers once the origin does (and the failure
  // is forgotten).
  origin_.ClearFailures();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(MustRead(Ino("tas/1.0"), 0, 200), other_.substr(100, 200));
}

TEST_F(FsTest, ConcurrentReads) {
  auto contents = Contents();
  std::vector<std::pair<uint64_t, std::string>> files;
  for (const auto& [k, v] : contents) files.emplace_back(Ino(k), v);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 2000; ++i) {
        const auto& [ino, content] = files[rng() % files.size()];
        uint64_t off = rng() % (content.size() + 2), size = rng() % 6000;
        auto r = fs_->Read(ino, off, size);
        std::string want = off < content.size() ? content.substr(off, size) : "";
        if (!r.ok() || *r != want) ++bad;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(FsTest, StatFs) {
  struct statvfs st;
  fs_->StatFs(&st);
  uint64_t total = 0;
  for (const auto& [k, v] : Contents()) total += v.size();
  EXPECT_EQ(st.f_files, 17u);
  EXPECT_EQ(st.f_blocks * st.f_frsize, (total + 4095) / 4096 * 4096);
  EXPECT_TRUE(st.f_flag & ST_RDONLY);
  EXPECT_EQ(st.f_namemax, 255u);
}

// ---- command line ---------------------------------------------------------------------

Result<Options> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "zarrmount");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return ParseOptions(static_cast<int>(args.size()), argv.data());
}

Options MustParse(std::vector<std::string> args) {
  auto r = Parse(args);
  std::string joined;
  for (const auto& a : args) joined += a + " ";
  EXPECT_TRUE(r.ok()) << joined << ": " << r.status().ToString();
  return r.ok() ? *r : Options{};
}

std::string ParseError(std::vector<std::string> args) {
  auto r = Parse(args);
  std::string joined;
  for (const auto& a : args) joined += a + " ";
  EXPECT_FALSE(r.ok()) << joined << "was accepted";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << "one line";
  return r.status().message();
}

TEST(ParseOptions, Defaults) {
  Options o = MustParse({"refs.json", "/mnt/x"});
  Options d;
  EXPECT_EQ(o.source, "refs.json");
  EXPECT_EQ(o.mountpoint, "/mnt/x");
  EXPECT_FALSE(o.foreground);
  EXPECT_FALSE(o.debug);
  EXPECT_FALSE(o.check_only);
  EXPECT_FALSE(o.help);
  EXPECT_FALSE(o.version);
  EXPECT_TRUE(o.fuse_options.empty());
  EXPECT_EQ(o.cache_dir, "");
  EXPECT_EQ(o.cache_size, d.cache_size);
  EXPECT_EQ(o.memory_cache, d.memory_cache);
  EXPECT_TRUE(o.disk_cache);
  EXPECT_EQ(o.block_size, 1_MiB);
  EXPECT_EQ(o.threads, d.threads);
  EXPECT_EQ(o.log_file, "");
  EXPECT_EQ(o.connect_timeout_ms, d.connect_timeout_ms);
  EXPECT_EQ(o.request_timeout_ms, d.request_timeout_ms);
  EXPECT_EQ(o.retries, d.retries);
}

TEST(ParseOptions, Flags) {
  EXPECT_TRUE(MustParse({"-f", "s", "m"}).foreground);
  EXPECT_TRUE(MustParse({"--foreground", "s", "m"}).foreground);
  Options o = MustParse({"-d", "s", "m"});
  EXPECT_TRUE(o.debug);
  EXPECT_TRUE(o.foreground) << "-d implies foreground";
  o = MustParse({"--debug", "s", "m"});
  EXPECT_TRUE(o.debug && o.foreground);
  EXPECT_FALSE(MustParse({"--no-disk-cache", "s", "m"}).disk_cache);
  EXPECT_TRUE(MustParse({"-h"}).help);
  EXPECT_TRUE(MustParse({"--help"}).help);
  EXPECT_TRUE(MustParse({"-V"}).version);
  EXPECT_TRUE(MustParse({"--version"}).version);
  // Options may follow the positional arguments.
  o = MustParse({"s", "m", "-f", "--no-disk-cache"});
  EXPECT_TRUE(o.foreground);
  EXPECT_FALSE(o.disk_cache);
  EXPECT_EQ(o.source, "s");
  EXPECT_EQ(o.mountpoint, "m");
}

TEST(ParseOptions, FuseOptions) {
  Options o = MustParse({"-o", "allow_other,max_read=131072", "s", "m"});
  EXPECT_EQ(o.fuse_options, (std::vector<std::string>{"allow_other", "max_read=131072"}));
  o = MustParse({"-oallow_other", "s", "m", "-o", "a,,b,", "-o", "c"});
  EXPECT_EQ(o.fuse_options, (std::vector<std::string>{"allow_other", "a", "b", "c"}));
  EXPECT_THAT(ParseError({"s", "m", "-o"}), HasSubstr("'-o'"));
}

TEST(ParseOptions, ValueOptionsBothForms) {
  Options o = MustParse({"--cache-dir", "/var/c", "--cache-size", "20G", "--memory-cache", "64M",
                         "--block-size", "4M", "--threads", "8", "--connect-timeout", "5",
                         "--request-timeout", "60", "--retries", "0", "--log", "/tmp/z.log", "s",
                         "m"});
  EXPECT_EQ(o.cache_dir, "/var/c");
  EXPECT_EQ(o.cache_size, 20_GiB);
  EXPECT_EQ(o.memory_cache, 64_MiB);
  EXPECT_EQ(o.block_size, 4_MiB);
  EXPECT_EQ(o.threads, 8);
  EXPECT_EQ(o.connect_timeout_ms, 5000);
  EXPECT_EQ(o.request_timeout_ms, 60'000);
  EXPECT_EQ(o.retries, 0);
  EXPECT_EQ(o.log_file, "/tmp/z.log");

  Options e = MustParse({"--cache-dir=/var/c", "--cache-size=20GiB", "--memory-cache=64MB",
                         "--block-size=4096", "--threads=8", "--connect-timeout=5",
                         "--request-timeout=60", "--retries=0", "--log=/tmp/z.log", "s", "m"});
  EXPECT_EQ(e.cache_dir, o.cache_dir);
  EXPECT_EQ(e.cache_size, o.cache_size);
  EXPECT_EQ(e.memory_cache, o.memory_cache);
  EXPECT_EQ(e.block_size, 4096u);
  EXPECT_EQ(e.threads, 8);
  EXPECT_EQ(e.connect_timeout_ms, 5000);
  EXPECT_EQ(e.request_timeout_ms, 60'000);
  EXPECT_EQ(e.retries, 0);
  EXPECT_EQ(e.log_file, o.log_file);
  // A value with '=' in it, in the --opt=value form.
  EXPECT_EQ(MustParse({"--cache-dir=/a=b", "s", "m"}).cache_dir, "/a=b");
  // The last occurrence wins.
  EXPECT_EQ(MustParse({"--threads", "2", "--threads=3", "s", "m"}).threads, 3);
}

TEST(ParseOptions, SizesAndRanges) {
  EXPECT_EQ(MustParse({"--block-size", "4K", "s", "m"}).block_size, 4_KiB);
  EXPECT_EQ(MustParse({"--block-size", "64M", "s", "m"}).block_size, 64_MiB);
  EXPECT_THAT(ParseError({"--block-size", "4095", "s", "m"}), HasSubstr("--block-size"));
  EXPECT_THAT(ParseError({"--block-size", "65M", "s", "m"}), HasSubstr("--block-size"));
  EXPECT_EQ(MustParse({"--cache-size", "1.5G", "s", "m"}).cache_size, 1536_MiB);
  EXPECT_EQ(MustParse({"--memory-cache", "0", "s", "m"}).memory_cache, 0u);
  std::string m = ParseError({"--cache-size", "10X", "s", "m"});
  EXPECT_THAT(m, HasSubstr("--cache-size"));
  EXPECT_THAT(m, HasSubstr("10X"));
  EXPECT_THAT(ParseError({"--memory-cache=-1", "s", "m"}), HasSubstr("--memory-cache"));

  EXPECT_EQ(MustParse({"--threads", "1", "s", "m"}).threads, 1);
  EXPECT_EQ(MustParse({"--threads", "1024", "s", "m"}).threads, 1024);
  for (const char* bad : {"0", "1025", "-1", "abc", "", "8x", "1.5"}) {
    EXPECT_THAT(ParseError({"--threads", bad, "s", "m"}), HasSubstr("--threads")) << bad;
  }
  EXPECT_EQ(MustParse({"--retries", "100", "s", "m"}).retries, 100);
  EXPECT_THAT(ParseError({"--retries", "101", "s", "m"}), HasSubstr("--retries"));
  EXPECT_EQ(MustParse({"--connect-timeout", "86400", "s", "m"}).connect_timeout_ms, 86'400'000);
  EXPECT_THAT(ParseError({"--connect-timeout", "0", "s", "m"}), HasSubstr("--connect-timeout"));
  EXPECT_THAT(ParseError({"--request-timeout", "86401", "s", "m"}), HasSubstr("--request-timeout"));
  EXPECT_THAT(ParseError({"--cache-dir=", "s", "m"}), HasSubstr("--cache-dir"));
}

TEST(ParseOptions, OriginDeadlines) {
  Options d;
  EXPECT_LE(d.request_timeout_ms, d.read_timeout_ms) << "an attempt fits in a fetch";
  Options o = MustParse({"--read-timeout", "7", "--low-speed-limit", "16K", "--low-speed-time=3",
                         "s", "m"});
  EXPECT_EQ(o.read_timeout_ms, 7000);
  EXPECT_EQ(o.low_speed_limit, 16_KiB);
  EXPECT_EQ(o.low_speed_time_s, 3);
  EXPECT_EQ(MustParse({"--low-speed-limit=1", "s", "m"}).low_speed_limit, 1u);
  for (const char* bad : {"0", "86401", "-1", "1.5", ""})
    EXPECT_THAT(ParseError({"--read-timeout", bad, "s", "m"}), HasSubstr("--read-timeout")) << bad;
  EXPECT_THAT(ParseError({"--low-speed-time", "0", "s", "m"}), HasSubstr("--low-speed-time"));
  EXPECT_THAT(ParseError({"--low-speed-limit", "0", "s", "m"}), HasSubstr("--low-speed-limit"));
  EXPECT_THAT(ParseError({"--low-speed-limit", "2G", "s", "m"}), HasSubstr("--low-speed-limit"));
  EXPECT_THAT(ParseError({"--low-speed-limit", "fast", "s", "m"}), HasSubstr("--low-speed-limit"));
  std::string help = HelpText();
  EXPECT_THAT(help, HasSubstr("default: " + std::to_string(d.read_timeout_ms / 1000) + ")"));
  EXPECT_THAT(help, HasSubstr("default: " + FormatSize(d.low_speed_limit) + ")"));
}

TEST(ParseOptions, MissingValue) {
  for (const char* opt : {"--cache-dir", "--cache-size", "--memory-cache", "--block-size",
                          "--threads", "--connect-timeout", "--request-timeout", "--retries",
                          "--read-timeout", "--low-speed-limit", "--low-speed-time", "--log"}) {
    std::string m = ParseError({"s", "m", opt});
    EXPECT_THAT(m, HasSubstr(std::string("'") + opt + "'"));
    EXPECT_THAT(m, HasSubstr("needs a value"));
  }
}

TEST(ParseOptions, UnknownOption) {
  EXPECT_THAT(ParseError({"--bogus", "s", "m"}), HasSubstr("unknown option '--bogus'"));
  EXPECT_THAT(ParseError({"-x", "s", "m"}), HasSubstr("unknown option '-x'"));
  EXPECT_THAT(ParseError({"s", "m", "--cache_size", "1G"}), HasSubstr("'--cache_size'"));
  EXPECT_THAT(ParseError({"--bogus=1", "s", "m"}), HasSubstr("--bogus"));
}

TEST(ParseOptions, Positionals) {
  EXPECT_THAT(ParseError({}), HasSubstr("SOURCE and MOUNTPOINT"));
  EXPECT_THAT(ParseError({"s"}), HasSubstr("SOURCE and MOUNTPOINT"));
  EXPECT_THAT(ParseError({"-f", "s"}), HasSubstr("MOUNTPOINT"));
  ParseError({"a", "b", "c"});
  // "-" alone is a name, not an option.
  Options o = MustParse({"-", "m"});
  EXPECT_EQ(o.source, "-");
}

TEST(ParseOptions, CheckNeedsOnlySource) {
  Options o = MustParse({"--check", "refs.json"});
  EXPECT_TRUE(o.check_only);
  EXPECT_EQ(o.source, "refs.json");
  EXPECT_EQ(o.mountpoint, "");
  o = MustParse({"refs.json", "--check"});
  EXPECT_TRUE(o.check_only);
  EXPECT_EQ(o.source, "refs.json");
  o = MustParse({"--check", "refs.json", "/mnt"});  // a mountpoint is allowed, unused
  EXPECT_EQ(o.mountpoint, "/mnt");
  EXPECT_THAT(ParseError({"--check"}), HasSubstr("SOURCE"));
  ParseError({"--check", "a", "b", "c"});
}

// Options this test knows the parser accepts, with a valid value where one
// is taken. Each must be documented in --help.
struct KnownOption {
  const char* name;
  const char* value;  // nullptr: a flag
};
const KnownOption kKnownOptions[] = {
    {"-h", nullptr},
    {"--help", nullptr},
    {"-V", nullptr},
    {"--version", nullptr},
    {"-f", nullptr},
    {"--foreground", nullptr},
    {"-d", nullptr},
    {"--debug", nullptr},
    {"-o", "allow_other"},
    {"--cache-dir", "/tmp/c"},
    {"--cache-size", "1G"},
    {"--memory-cache", "64M"},
    {"--no-disk-cache", nullptr},
    {"--block-size", "1M"},
    {"--threads", "4"},
    {"--no-prefetch", nullptr},
    {"--prefetch-threads", "4"},
    {"--prefetch-memory", "64M"},
    {"--coalesce-gap", "64K"},
    {"--coalesce-max", "16M"},
    {"--connect-timeout", "5"},
    {"--request-timeout", "30"},
    {"--read-timeout", "20"},
    {"--low-speed-limit", "4K"},
    {"--low-speed-time", "5"},
    {"--retries", "2"},
    {"--log", "/tmp/l"},
    {"--check", nullptr},
    {"--map", "s3://a/=http://b/"},
    {"--s3-endpoint", "http://127.0.0.1:9000"},
    {"--s3-region", "eu-west-1"},
    {"--s3-profile", "team"},
    {"--s3-anonymous", nullptr},
    {"--header", "https://h/ X-Key: v"},
    {"--bearer-token-env", "TOKEN_VAR"},
};

// A valid value for a metavariable of the help text ("SIZE", "N", ...).
std::string SampleValue(const std::string& metavar) {
  if (metavar == "SIZE") return "1M";
  if (metavar == "N") return "4";
  if (metavar == "S") return "5";
  if (metavar.starts_with("OPT")) return "allow_other";
  if (metavar == "OLD") return "s3://a/=http://b/";  // --map OLD=NEW
  if (metavar == "URL") return "http://127.0.0.1:9000";
  if (metavar == "HEADER") return "X-Key: v";
  if (metavar == "VIEW") return "npy";
  if (metavar == "DIM") return "time";
  if (metavar == "A,B") return "lat,lon";
  return "/tmp/zm-sample";  // DIR, FILE, ...
}

// The options documented in the option list of --help, with their
// metavariable ("" for a flag).
std::map<std::string, std::string> DocumentedOptions() {
  std::string help = HelpText();
  size_t start = help.find("Options:");
  EXPECT_NE(start, std::string::npos);
  // Only the option list: the prose above it quotes other programs
  // ("fusermount3 -u").
  help = help.substr(start == std::string::npos ? 0 : start);
  std::map<std::string, std::string> out;
  std::regex re(R"((^|[\s,\[(])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b(?:[ =]([A-Z][A-Z\[\],.]*))?)");
  for (auto it = std::sregex_iterator(help.begin(), help.end(), re); it != std::sregex_iterator(); ++it) {
    std::string name = (*it)[2].str(), metavar = (*it)[3].matched ? (*it)[3].str() : "";
    if (!out.count(name) || out[name].empty()) out[name] = metavar;
  }
  return out;
}

TEST(Options, View) {
  auto r = Parse({"--view", "netcdf", "s", "m"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->view, "netcdf");
  EXPECT_EQ(Parse({"s", "m"})->view, "zarr");
  auto bad = Parse({"--view", "hdf5", "s", "m"});
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("hdf5"));
  EXPECT_EQ(Parse({"--view-cache", "64M", "s", "m"})->view_cache, 64_MiB);
  EXPECT_FALSE(Parse({"--view-cache", "4K", "s", "m"}).ok());
}

TEST(ParseOptions, Aggregation) {
  Options o = MustParse({"--concat", "time", "a.json", "dir", "b*.json", "/mnt/x"});
  EXPECT_EQ(o.concat_dims, (std::vector<std::string>{"time"}));
  EXPECT_EQ(o.sources, (std::vector<std::string>{"a.json", "dir", "b*.json"}));
  EXPECT_EQ(o.source, "a.json");
  EXPECT_EQ(o.mountpoint, "/mnt/x");
  o = MustParse({"--concat", "time", "--concat=member", "--identical-dims", "lat,lon",
                 "--identical-dims=depth", "a", "m"});
  EXPECT_EQ(o.concat_dims, (std::vector<std::string>{"time", "member"}));
  EXPECT_EQ(o.identical_dims, (std::vector<std::string>{"lat", "lon", "depth"}));
  o = MustParse({"--check", "--concat", "time", "a", "b"});
  EXPECT_EQ(o.sources, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(o.mountpoint, "");
  EXPECT_THAT(ParseError({"a", "b", "m"}), HasSubstr("several SOURCEs need --concat DIM"));
  EXPECT_THAT(ParseError({"--check", "a", "b", "c"}), HasSubstr("several SOURCEs need --concat"));
  EXPECT_THAT(ParseError({"--identical-dims", "lat", "a", "m"}), HasSubstr("needs --concat"));
  EXPECT_THAT(ParseError({"--concat", "t", "--concat", "t", "a", "m"}), HasSubstr("given twice"));
  EXPECT_THAT(ParseError({"--concat", "t", "--identical-dims", "a,,b", "a", "m"}),
              HasSubstr("empty name"));
  EXPECT_THAT(ParseError({"--concat", "t", "m"}), HasSubstr("expected SOURCE and MOUNTPOINT"));
}

TEST(HelpText, EveryOptionInTheHelpIsAccepted) {
  auto documented = DocumentedOptions();
  ASSERT_GE(documented.size(), 15u);
  // The help parser itself works.
  EXPECT_EQ(documented["--cache-size"], "SIZE");
  EXPECT_EQ(documented["--threads"], "N");
  EXPECT_EQ(documented["-o"], "OPT[,OPT...]");
  EXPECT_EQ(documented["-f"], "");
  EXPECT_EQ(documented["--check"], "");
  // Options that only make sense with another one.
  const std::map<std::string, std::vector<std::string>> needs = {
      {"--identical-dims", {"--concat", "time"}}};
  for (const auto& [opt, metavar] : documented) {
    std::vector<std::string> pre = needs.count(opt) ? needs.at(opt) : std::vector<std::string>{};
    std::vector<std::string> args = pre;
    args.push_back(opt);
    if (!metavar.empty()) args.push_back(SampleValue(metavar));
    args.push_back("s");
    args.push_back("m");
    auto r = Parse(args);
    EXPECT_TRUE(r.ok()) << "--help documents '" << opt << (metavar.empty() ? "" : " " + metavar)
                        << "' but: " << r.status().ToString();
    if (!metavar.empty() && opt.starts_with("--")) {
      std::vector<std::string> eq = pre;
      for (const char* a : {"=", "s", "m"}) eq.push_back(a);
      eq[pre.size()] = opt + "=" + SampleValue(metavar);
      auto e = Parse(eq);
      EXPECT_TRUE(e.ok()) << opt << "=VALUE: " << e.status().ToString();
      auto m = Parse({"s", "m", opt});
      EXPECT_FALSE(m.ok()) << opt << " without its value was accepted";
    }
  }
}

TEST(HelpText, EveryAcceptedOptionIsInTheHelp) {
  auto documented = DocumentedOptions();
  for (const auto& k : kKnownOptions) {
    EXPECT_TRUE(documented.count(k.name)) << k.name << " is accepted but not in --help";
    if (documented.count(k.name)) {
      EXPECT_EQ(documented[k.name].empty(), k.value == nullptr)
          << k.name << ": --help and the parser disagree on whether it takes a value";
    }
    std::vector<std::string> args = {k.name};
    if (k.value) args.push_back(k.value);
    args.push_back("s");
    args.push_back("m");
    auto r = Parse(args);
    EXPECT_TRUE(r.ok()) << k.name << ": " << r.status().ToString();
  }
}

TEST(HelpText, ShowsTheDefaults) {
  std::string help = HelpText();
  Options d;
  EXPECT_THAT(help, HasSubstr(FormatSize(d.cache_size)));
  EXPECT_THAT(help, HasSubstr(FormatSize(d.memory_cache)));
  EXPECT_THAT(help, HasSubstr(FormatSize(d.block_size)));
  EXPECT_THAT(help, HasSubstr("default: " + std::to_string(d.threads) + ")"));
  EXPECT_THAT(help, HasSubstr("default: " + std::to_string(d.retries) + ")"));
  EXPECT_THAT(help, HasSubstr("Usage: zarrmount"));
}

TEST(DefaultCacheDir, FollowsXdg) {
  const char* old_xdg = getenv("XDG_CACHE_HOME");
  const char* old_home = getenv("HOME");
  std::string saved_xdg = old_xdg ? old_xdg : "", saved_home = old_home ? old_home : "";
  setenv("XDG_CACHE_HOME", "/x/cache", 1);
  EXPECT_EQ(DefaultCacheDir(), "/x/cache/zarrmount");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(DefaultCacheDir(), "/home/u/.cache/zarrmount");
  if (old_xdg) setenv("XDG_CACHE_HOME", saved_xdg.c_str(), 1);
  if (old_home) setenv("HOME", saved_home.c_str(), 1);
  else unsetenv("HOME");
}

}  // namespace
}  // namespace zm
