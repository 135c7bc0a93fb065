// Unit tests of fs/filesystem.h over lazy chunk runs: a Parquet reference
// directory (refs/lazy_parquet.h) served through a read-through cache on the
// fake origin.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_store.h"
#include "cache/read_through.h"
#include "fs/filesystem.h"
#include "fuse/errno.h"
#include "refs/lazy_parquet.h"
#include "refs/reference_loader.h"
#include "tests/unit/fake_origin.h"

namespace zm {
namespace {

using testing::FakeOrigin;
using testing::RandomBytes;

// "tas" has a grid of 4 x 3 chunks, 5 of them present.
const char* kJson = R"({"version": 1, "refs": {
    ".zgroup": "{\"zarr_format\": 2}",
    "tas/.zarray": "{\"chunks\": [1, 1], \"compressor\": null, \"dtype\": \"|u1\", \"fill_value\": 0, \"filters\": null, \"order\": \"C\", \"shape\": [4, 3], \"zarr_format\": 2}",
    "tas/.zattrs": "{}",
    "tas/0.0": ["http://h/data.nc", 0, 5000],
    "tas/0.2": ["http://h/data.nc", 5000, 3000],
    "tas/2.1": ["http://h/other.nc"],
    "tas/3.0": "base64:AAECAw==",
    "tas/3.2": ["http://h/other.nc", 100, 200]
  }})";

struct Entry {
  std::string name;
  uint64_t ino;
  uint64_t next;
};

class LazyFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = RandomBytes(10'000, 1);
    other_ = RandomBytes(1'000, 2);
    origin_.Set("http://h/data.nc", data_);
    origin_.Set("http://h/other.nc", other_);
    auto json = ParseReferences(kJson, "");
    ASSERT_TRUE(json.ok()) << json.status().ToString();
    ParquetRefsWriteOptions wo;
    wo.record_size = 4;  // three record files for tas
    ASSERT_TRUE(WriteParquetReferences(*json, wo, [&](const std::string& rel, const std::string& bytes) {
                  files_[rel] = bytes;
                  return Status::Ok();
                }).ok());
    for (const auto& [rel, bytes] : files_) reads_[rel] = 0;
    memory_ = NewMemoryBlockStore(16_MiB);
    ReadThroughOptions o;
    o.block_size = 4_KiB;
    cache_ = std::make_unique<ReadThroughCache>(&origin_, memory_.get(), nullptr, o);
    Mount(256_MiB);
  }

  void Mount(uint64_t refs_memory) {
    fs_.reset();
    ReferenceDirReader read = [this](const std::string& rel) -> Result<std::string> {
      if (auto r = reads_.find(rel); r != reads_.end()) r->second.fetch_add(1);
      auto it = files_.find(rel);
      if (it == files_.end()) return NotFound("no such file");
      return it->second;
    };
    LazyParquetOptions lazy;
    lazy.memory_bytes = refs_memory;
    auto idx = LoadLazyParquetReferences(read, read, "dir", "", {}, lazy);
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    index_ = std::move(idx).value();
    fs_ = std::make_unique<Filesystem>(&index_, cache_.get(), 1700000000);
  }

  uint64_t TasIno() const { return fs_->Lookup(Filesystem::kRootIno, "tas").value().ino; }

  std::vector<Entry> List(uint64_t ino, uint64_t offset = 0, size_t room = ~size_t{0}) const {
    std::vector<Entry> out;
    Status st = fs_->ReadDir(ino, offset, [&](std::string_view name, const Attr& a, uint64_t next) {
      if (out.size() == room) return false;
      out.push_back(Entry{std::string(name), a.ino, next});
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  std::map<std::string, std::string> Chunks() const {
    return {{"0.0", data_.substr(0, 5000)},
            {"0.2", data_.substr(5000, 3000)},
            {"2.1", other_},
            {"3.0", std::string("\x00\x01\x02\x03", 4)},
            {"3.2", other_.substr(100, 200)}};
  }

  std::string data_, other_;
  FakeOrigin origin_;
  std::map<std::string, std::string> files_;
  std::map<std::string, std::atomic<int>> reads_;  // per file; keys made in SetUp
  std::unique_ptr<BlockStore> memory_;
  std::unique_ptr<ReadThroughCache> cache_;
  ReferenceIndex index_;
  std::unique_ptr<Filesystem> fs_;
};

TEST_F(LazyFsTest, ChunksReadAsTheirBytesAndMissingOnesAreNoSuchFile) {
  for (uint64_t memory : {uint64_t{256_MiB}, uint64_t{1}}) {
    Mount(memory);
    const uint64_t tas = TasIno();
    for (const auto& [name, want] : Chunks()) {
      auto a = fs_->Lookup(tas, name);
      ASSERT_TRUE(a.ok()) << name << ": " << a.status().ToString();
      EXPECT_EQ(a->size, want.size()) << name;
      auto again = fs_->GetAttr(a->ino);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(again->size, want.size());
      auto got = fs_->Read(a->ino, 0, 1 << 20);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, want) << name;
      EXPECT_EQ(fs_->KeyOf(a->ino), "tas/" + name);
    }
    for (const char* name : {"0.1", "3.1", "1.0"}) {
      auto a = fs_->Lookup(tas, name);
      ASSERT_FALSE(a.ok()) << name;
      EXPECT_EQ(ErrnoFor(FuseOp::kLookup, a.status()), ENOENT);
    }
    for (const char* name : {"4.0", "00.0", "0.0.0"})
      EXPECT_EQ(ErrnoFor(FuseOp::kLookup, fs_->Lookup(tas, name).status()), ENOENT) << name;
    // The inode of a missing chunk is no such file, too.
    const uint64_t missing_ino = Filesystem::kRootIno + index_.dir_count() + *index_.FindKey("tas/1.1");
    EXPECT_EQ(ErrnoFor(FuseOp::kGetAttr, fs_->GetAttr(missing_ino).status()), ENOENT);
  }
}

TEST_F(LazyFsTest, AStatReadsOnlyItsRecord) {
  EXPECT_EQ(reads_[".zmetadata"].load(), 1);
  auto a = fs_->Lookup(TasIno(), "3.2");  // chunk 11: record 2
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->size, 200u);
  EXPECT_EQ(reads_["tas/refs.2.parq"].load(), 1);
  EXPECT_EQ(reads_["tas/refs.0.parq"].load(), 0);
  EXPECT_EQ(reads_["tas/refs.1.parq"].load(), 0);
}

TEST_F(LazyFsTest, InodesAreStableAcrossMounts) {
  const uint64_t a = fs_->Lookup(TasIno(), "3.2").value().ino;
  Mount(1);
  EXPECT_EQ(fs_->Lookup(TasIno(), "3.2").value().ino, a);
}

TEST_F(LazyFsTest, ListingShowsOnlyExistingChunksAtStablePositions) {
  for (uint64_t memory : {uint64_t{256_MiB}, uint64_t{1}}) {
    Mount(memory);
    const uint64_t tas = TasIno();
    auto full = List(tas);
    std::vector<std::string> names;
    for (const auto& e : full) names.push_back(e.name);
    EXPECT_EQ(names, (std::vector<std::string>{".", "..", ".zarray", ".zattrs", "0.0", "0.2", "2.1", "3.0", "3.2"}));
    for (const auto& e : full)
      if (e.name.find('.') == 1) {
        EXPECT_EQ(e.ino, fs_->Lookup(tas, e.name).value().ino) << e.name;
      }
    // Resuming from any offset handed out gives the rest, the same way.
    for (size_t i = 0; i < full.size(); ++i) {
      const uint64_t off = i == 0 ? 0 : full[i - 1].next;
      auto part = List(tas, off);
      ASSERT_EQ(part.size(), full.size() - i) << off;
      for (size_t j = 0; j < part.size(); ++j) {
        EXPECT_EQ(part[j].name, full[i + j].name);
        EXPECT_EQ(part[j].next, full[i + j].next);
      }
    }
    // One entry at a time, as a full FUSE buffer asks.
    std::vector<std::string> got;
    for (uint64_t off = 0;;) {
      auto one = List(tas, off, 1);
      if (one.empty()) break;
      got.push_back(one[0].name);
      off = one[0].next;
    }
    EXPECT_EQ(got, names);
  }
}

TEST_F(LazyFsTest, AMalformedRecordIsAnIoErrorForItsChunksOnly) {
  files_["tas/refs.1.parq"] = "garbage";  // chunks 4..7: 1.1 1.2 2.0 2.1
  Mount(256_MiB);
  const uint64_t tas = TasIno();
  auto bad = fs_->Lookup(tas, "2.1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(ErrnoFor(FuseOp::kLookup, bad.status()), EIO);
  EXPECT_NE(bad.status().message().find("tas/refs.1.parq"), std::string::npos) << bad.status().message();
  EXPECT_TRUE(fs_->Lookup(tas, "3.2").ok());
  EXPECT_TRUE(fs_->Lookup(tas, "0.0").ok());
  // Listed as the record's first chunk, whose stat tells what is wrong.
  std::vector<std::string> names;
  for (const auto& e : List(tas)) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{".", "..", ".zarray", ".zattrs", "0.0", "0.2", "1.1", "3.0", "3.2"}));
}

TEST_F(LazyFsTest, ConcurrentReadersWithATinyBudget) {
  Mount(1);
  const uint64_t tas = TasIno();
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i)
        for (const auto& [name, want] : Chunks()) {
          if ((i + t) % 2) continue;
          auto a = fs_->Lookup(tas, name);
          auto got = a.ok() ? fs_->Read(a->ino, 0, 1 << 20) : Result<std::string>(a.status());
          if (!got.ok() || *got != want) wrong.fetch_add(1);
        }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace zm
