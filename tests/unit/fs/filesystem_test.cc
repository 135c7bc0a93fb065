// Unit tests of fs/filesystem.h: the FUSE-independent Filesystem over a parsed
// reference set and a read-through cache on the fake origin, and the errno
// each of its errors maps to.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/statvfs.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_store.h"
#include "cache/read_through.h"
#include "fs/filesystem.h"
#include "fuse/errno.h"
#include "refs/reference_index.h"
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

// A Zarr store's chunk keys are whole objects of unknown size: nothing is
// asked at construction; the first Lookup sizes a file with one request and
// remembers it; a missing object is ENOENT (remembered), another failure EIO
// for that file only; readdir lists unsized files by name only.
class LazySizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = RandomBytes(9'000, 3);
    origin_.Set("http://h/s/a/0", data_);
    origin_.FailAlways("http://h/s/a/2", IoError("http://h/s/a/2: HTTP 500"));
    ReferenceIndexBuilder b;
    b.AddInline("a/.zarray", "{}");
    b.AddWhole("a/0", b.InternUrl("http://h/s/a/0"));
    b.AddWhole("a/1", b.InternUrl("http://h/s/a/1"));  // not stored
    b.AddWhole("a/2", b.InternUrl("http://h/s/a/2"));  // fails
    auto idx = std::move(b).Finish();
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    index_ = std::move(idx).value();
    memory_ = NewMemoryBlockStore(16_MiB);
    ReadThroughOptions o;
    o.block_size = 4_KiB;
    o.validate = true;
    cache_ = std::make_unique<ReadThroughCache>(&origin_, memory_.get(), nullptr, o);
    fs_ = std::make_unique<Filesystem>(&index_, cache_.get(), 1700000000);
  }
  uint64_t DirIno() const {
    auto a = fs_->Lookup(Filesystem::kRootIno, "a");
    EXPECT_TRUE(a.ok());
    return a.ok() ? a->ino : 0;
  }
  std::map<std::string, Attr> List(uint64_t dir) const {
    std::map<std::string, Attr> out;
    EXPECT_TRUE(fs_->ReadDir(dir, 2, [&](std::string_view n, const Attr& a, uint64_t) {
      out[std::string(n)] = a;
      return true;
    }).ok());
    return out;
  }

  FakeOrigin origin_;
  std::string data_;
  ReferenceIndex index_;
  std::unique_ptr<BlockStore> memory_;
  std::unique_ptr<ReadThroughCache> cache_;
  std::unique_ptr<Filesystem> fs_;
};

TEST_F(LazySizeTest, NothingAskedUntilAFileIsLookedUp) {
  const uint64_t dir = DirIno();
  auto listed = List(dir);
  ASSERT_EQ(listed.size(), 4u);
  EXPECT_TRUE(listed[".zarray"].size_known);
  for (const char* n : {"0", "1", "2"}) EXPECT_FALSE(listed[n].size_known) << n;
  struct statvfs st;
  fs_->StatFs(&st);
  EXPECT_EQ(origin_.size_calls(), 0u);
  EXPECT_EQ(origin_.request_count(), 0u);
}

TEST_F(LazySizeTest, LookupSizesOnceAndReadsTheObject) {
  const uint64_t dir = DirIno();
  auto a = fs_->Lookup(dir, "0");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->size, data_.size());
  EXPECT_TRUE(a->size_known);
  EXPECT_EQ(origin_.size_calls(), 1u);
  auto again = fs_->GetAttr(a->ino);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size, data_.size());
  EXPECT_TRUE(List(dir)["0"].size_known);
  EXPECT_EQ(List(dir)["0"].size, data_.size());
  auto bytes = fs_->Read(a->ino, 0, 1 << 20);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, data_);
  EXPECT_EQ(origin_.size_calls(), 1u);
}

TEST_F(LazySizeTest, ConcurrentFirstLookupsShareOneRequest) {
  const uint64_t dir = DirIno();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto a = fs_->Lookup(dir, "0");
      if (a.ok() && a->size == data_.size()) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(origin_.size_calls(), 1u);
}

TEST_F(LazySizeTest, MissingObjectIsNoSuchFileAndRemembered) {
  const uint64_t dir = DirIno();
  auto r = fs_->Lookup(dir, "1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrnoFor(FuseOp::kLookup, r.status()), ENOENT);
  EXPECT_THAT(r.status().message(), HasSubstr("a/1"));
  const size_t calls = origin_.size_calls();
  EXPECT_FALSE(fs_->Lookup(dir, "1").ok());
  EXPECT_EQ(origin_.size_calls(), calls);
  EXPECT_FALSE(List(dir)["1"].size_known);
}

TEST_F(LazySizeTest, FailingObjectIsEioForThatFileOnly) {
  const uint64_t dir = DirIno();
  auto r = fs_->Lookup(dir, "2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ErrnoFor(FuseOp::kLookup, r.status()), EIO);
  EXPECT_THAT(r.status().message(), HasSubstr("a/2"));
  const uint64_t ino = List(dir)["2"].ino;
  auto g = fs_->GetAttr(ino);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(ErrnoFor(FuseOp::kGetAttr, g.status()), EIO);
  EXPECT_TRUE(fs_->Lookup(dir, "0").ok());
  auto z = fs_->Lookup(dir, ".zarray");
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->size, 2u);
  // Not remembered: the next lookup asks again (the failure may pass).
  origin_.ClearFailures();
  origin_.Set("http://h/s/a/2", "xyz");
  auto later = fs_->Lookup(dir, "2");
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  EXPECT_EQ(later->size, 3u);
}

}  // namespace
}  // namespace zm
