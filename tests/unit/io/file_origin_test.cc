// Unit tests of io/file_origin.cc: the file origin and the routing origin.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "io/origin.h"
#include "tests/unit/fake_origin.h"
#include "tests/unit/temp_dir.h"

namespace zm {
namespace {

using ::testing::HasSubstr;
using testing::FakeOrigin;
using testing::RandomBytes;
using testing::TempDir;

// The default ReadPieces (here FileOrigin's) splits Read and keeps its checks.
TEST(FileOrigin, ReadPiecesSplitsRead) {
  TempDir dir;
  std::string data = RandomBytes(10'000, 12);
  std::string path = dir.Write("f.bin", data);
  auto origin = NewFileOrigin({"/"});
  auto got = origin->ReadPieces(path, ByteRange{10, 9000}, {4000, 0, 5000});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_TRUE((*got)[0] == data.substr(10, 4000));
  EXPECT_TRUE((*got)[1].empty());
  EXPECT_TRUE((*got)[2] == data.substr(4010, 5000));
  EXPECT_EQ(origin->ReadPieces(path, ByteRange{9000, 2000}, {2000}).status().code(),
            Code::kOutOfRange);
}

TEST(FileOrigin, ReadsRanges) {
  TempDir dir;
  std::string data = RandomBytes(10'000, 11);
  std::string path = dir.Write("f.bin", data);
  auto origin = NewFileOrigin({"/"});
  for (ByteRange r : {ByteRange{0, 10'000}, ByteRange{100, 50}, ByteRange{9990, 10},
                      ByteRange{0, 1}, ByteRange{5000, 0}, ByteRange{10'000, 0}}) {
    auto got = origin->Read(path, r);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == data.substr(r.offset, r.length)) << r.offset << "+" << r.length;
  }
  auto got = origin->Read("file://" + path, ByteRange{7, 3});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data.substr(7, 3));

  auto size = origin->Size(path);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 10'000u);
  size = origin->Size("file://" + path);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 10'000u);
}

TEST(FileOrigin, ShortFileIsOutOfRange) {
  TempDir dir;
  std::string path = dir.path() + "/f.bin";
  std::ofstream(path, std::ios::binary) << std::string(100, 'x');
  auto origin = NewFileOrigin({"/"});
  for (ByteRange r : {ByteRange{90, 11}, ByteRange{100, 1}, ByteRange{5000, 10}, ByteRange{0, 101}}) {
    auto got = origin->Read(path, r);
    ASSERT_FALSE(got.ok()) << r.offset << "+" << r.length;
    EXPECT_EQ(got.status().code(), Code::kOutOfRange);
    EXPECT_THAT(got.status().message(), HasSubstr(path));
  }
}

TEST(FileOrigin, MissingIsNotFound) {
  TempDir dir;
  auto origin = NewFileOrigin({"/"});
  std::string path = dir.path() + "/nope.nc";
  auto got = origin->Read(path, ByteRange{0, 1});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kNotFound);
  EXPECT_THAT(got.status().message(), HasSubstr(path));
  auto size = origin->Size(path);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), Code::kNotFound);
  got = origin->Read(dir.path() + "/nope/deeper.nc", ByteRange{0, 1});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kNotFound);
}

TEST(FileOrigin, DirectoryIsNotAnObject) {
  TempDir dir;
  auto origin = NewFileOrigin({"/"});
  auto size = origin->Size(dir.path());
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), Code::kIoError);
  auto got = origin->Read(dir.path(), ByteRange{0, 1});
  EXPECT_FALSE(got.ok());
}

TEST(FileOrigin, UnreadableIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads everything";
  TempDir dir;
  std::string path = dir.path() + "/secret";
  std::ofstream(path) << "x";
  chmod(path.c_str(), 0);
  auto got = NewFileOrigin({"/"})->Read(path, ByteRange{0, 1});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kPermissionDenied);
}

// Reference sets name local files; only those under the roots may be read,
// whatever the path says and wherever links lead.
TEST(FileOrigin, ReadsOnlyUnderItsRoots) {
  TempDir dir;
  ASSERT_EQ(mkdir((dir.path() + "/refs").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir.path() + "/refs-other").c_str(), 0755), 0);
  std::string inside = dir.Write("refs/in.bin", "inside");
  std::string outside = dir.Write("secret.bin", "secret");
  std::string sibling = dir.Write("refs-other/x.bin", "prefix");
  ASSERT_EQ(symlink(outside.c_str(), (dir.path() + "/refs/link.bin").c_str()), 0);
  ASSERT_EQ(symlink(inside.c_str(), (dir.path() + "/inward.bin").c_str()), 0);
  auto origin = NewFileOrigin({dir.path() + "/refs"});

  for (std::string ok : {inside, "file://" + inside, dir.path() + "/refs/../refs/in.bin",
                         dir.path() + "/inward.bin"}) {
    auto got = origin->Read(ok, ByteRange{0, 6});
    ASSERT_TRUE(got.ok()) << ok << ": " << got.status().ToString();
    EXPECT_EQ(*got, "inside");
    EXPECT_EQ(CheckLocalAccess(ok, {dir.path() + "/refs"}).code(), Code::kOk) << ok;
  }
  for (std::string bad : {outside, "file://" + outside, dir.path() + "/refs/../secret.bin",
                          dir.path() + "/refs/link.bin", sibling, std::string("/etc/passwd")}) {
    auto got = origin->Read(bad, ByteRange{0, 1});
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_EQ(got.status().code(), Code::kPermissionDenied) << bad;
    EXPECT_THAT(got.status().message(), HasSubstr("outside the directories"));
    EXPECT_EQ(origin->Stat(bad).status().code(), Code::kPermissionDenied) << bad;
    EXPECT_EQ(origin->Size(bad).status().code(), Code::kPermissionDenied) << bad;
    EXPECT_EQ(CheckLocalAccess(bad, {dir.path() + "/refs"}).code(), Code::kPermissionDenied)
        << bad;
  }
  // Missing files pass the mount-time check; reading them says not found.
  EXPECT_TRUE(CheckLocalAccess(dir.path() + "/refs/none.bin", {dir.path() + "/refs"}).ok());
  EXPECT_EQ(origin->Read(dir.path() + "/refs/none.bin", ByteRange{0, 1}).status().code(),
            Code::kNotFound);
  // No roots: nothing local is readable.
  EXPECT_EQ(NewFileOrigin({})->Read(inside, ByteRange{0, 1}).status().code(),
            Code::kPermissionDenied);
}

// A FIFO would block a reader until a writer comes: refused at once.
TEST(FileOrigin, FifoIsRefusedWithoutBlocking) {
  TempDir dir;
  std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  auto origin = NewFileOrigin({dir.path()});
  auto got = origin->Read(fifo, ByteRange{0, 1});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kIoError);
  EXPECT_THAT(got.status().message(), HasSubstr("not a regular file"));
  EXPECT_FALSE(origin->Size(fifo).ok());
}

// ---- RoutingOrigin --------------------------------------------------------------

TEST(RoutingOrigin, DispatchesOnScheme) {
  auto http = std::make_unique<FakeOrigin>();
  auto file = std::make_unique<FakeOrigin>();
  FakeOrigin* h = http.get();
  FakeOrigin* f = file.get();
  for (const char* u : {"http://h/x", "https://h/x", "s3://b/x", "gs://b/x"}) h->Set(u, "H");
  for (const char* u : {"/data/x.nc", "file:///data/x.nc", "relative/x.nc"}) f->Set(u, "F");
  auto origin = NewRoutingOrigin(std::move(http), std::move(file));

  for (const char* u : {"http://h/x", "https://h/x", "s3://b/x", "gs://b/x"}) {
    auto r = origin->Read(u, ByteRange{0, 1});
    ASSERT_TRUE(r.ok()) << u << ": " << r.status().ToString();
    EXPECT_EQ(*r, "H") << u;
  }
  for (const char* u : {"/data/x.nc", "file:///data/x.nc", "relative/x.nc"}) {
    auto r = origin->Read(u, ByteRange{0, 1});
    ASSERT_TRUE(r.ok()) << u << ": " << r.status().ToString();
    EXPECT_EQ(*r, "F") << u;
  }
  EXPECT_EQ(h->request_count(), 4u);
  EXPECT_EQ(f->request_count(), 3u);
  auto size = origin->Size("https://h/x");
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 1u);
  EXPECT_EQ(h->size_calls(), 1u);
  EXPECT_EQ(f->size_calls(), 0u);
}

TEST(RoutingOrigin, UnsupportedSchemes) {
  auto http = std::make_unique<FakeOrigin>();
  auto file = std::make_unique<FakeOrigin>();
  FakeOrigin* h = http.get();
  FakeOrigin* f = file.get();
  auto origin = NewRoutingOrigin(std::move(http), std::move(file));
  for (std::string u : {"ftp://h/x", "az://container/key.nc", "hdfs://h/x"}) {
    auto r = origin->Read(u, ByteRange{0, 1});
    ASSERT_FALSE(r.ok()) << u;
    EXPECT_EQ(r.status().code(), Code::kUnsupported) << u;
    std::string scheme = u.substr(0, u.find("://") + 3);
    EXPECT_THAT(r.status().message(), HasSubstr("'" + scheme + "'"));
    auto s = origin->Size(u);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), Code::kUnsupported);
  }
  EXPECT_EQ(h->request_count() + f->request_count(), 0u);
  EXPECT_EQ(h->size_calls() + f->size_calls(), 0u);
}

TEST(RoutingOrigin, MissingBackendIsUnsupported) {
  auto origin = NewRoutingOrigin(nullptr, std::make_unique<FakeOrigin>());
  auto r = origin->Read("https://h/x", ByteRange{0, 1});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
}

}  // namespace
}  // namespace zm
