// Unit tests of refs/lazy_parquet.h and the lazy runs of refs/reference_index.h.
#include "refs/lazy_parquet.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "parquet/writer.h"
#include "tests/unit/refs/parsed_refs.h"

namespace zm {
namespace {

using testing::Dump;
using testing::MustParse;

// Every kind of row; "t" has a grid of 3 x 2 chunks, "g/v" "/" separators.
const char kRefs[] = R"({"version": 1, "refs": {
  ".zgroup": "{\"zarr_format\": 2}",
  "t/.zarray": "{\"chunks\": [2, 2], \"compressor\": null, \"dtype\": \"<i2\", \"fill_value\": 0, \"filters\": null, \"order\": \"C\", \"shape\": [5, 4], \"zarr_format\": 2}",
  "t/.zattrs": "{\"_ARRAY_DIMENSIONS\": [\"y\", \"x\"]}",
  "t/0.0": ["s3://bucket/a.nc", 100, 8],
  "t/0.1": ["s3://bucket/a.nc", 108, 8],
  "t/1.0": ["s3://bucket/b.nc"],
  "t/2.1": "base64:AAECAwQFBgc=",
  "g/v/.zarray": "{\"chunks\": [1, 1], \"compressor\": null, \"dimension_separator\": \"/\", \"dtype\": \"|u1\", \"fill_value\": null, \"filters\": null, \"order\": \"C\", \"shape\": [2, 3], \"zarr_format\": 2}",
  "g/v/1/2": ["s3://bucket/c.nc", 1, 1],
  "s/.zarray": "{\"chunks\": [], \"compressor\": null, \"dtype\": \"<f8\", \"fill_value\": null, \"filters\": null, \"order\": \"C\", \"shape\": [], \"zarr_format\": 2}",
  "s/0": ["s3://bucket/d.nc", 0, 8]
}})";

using Files = std::map<std::string, std::string>;

Files Write(const ReferenceIndex& idx, uint64_t record_size) {
  Files files;
  ParquetRefsWriteOptions o;
  o.record_size = record_size;
  Status st = WriteParquetReferences(idx, o, [&](const std::string& rel, const std::string& bytes) {
    files[rel] = bytes;
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.message();
  return files;
}

// Serves `files`, counting the reads of each.
struct Dir {
  Files files;
  mutable std::mutex mu;
  mutable std::map<std::string, int> reads;
  std::chrono::milliseconds delay{0};

  ReferenceDirReader Reader() const {
    return [this](const std::string& rel) -> Result<std::string> {
      {
        std::lock_guard<std::mutex> lock(mu);
        ++reads[rel];
      }
      if (delay.count()) std::this_thread::sleep_for(delay);
      auto it = files.find(rel);
      if (it == files.end()) return NotFound("no such file");
      return it->second;
    };
  }
  int Reads(const std::string& rel) const {
    std::lock_guard<std::mutex> lock(mu);
    return reads.count(rel) ? reads.at(rel) : 0;
  }
};

Result<ReferenceIndex> LoadLazy(const Dir& dir, uint64_t memory_bytes = 256_MiB) {
  LazyParquetOptions lazy;
  lazy.memory_bytes = memory_bytes;
  return LoadLazyParquetReferences(dir.Reader(), dir.Reader(), "dir", "/base/", {}, lazy);
}

const ParquetChunkResolver& Resolver(const ReferenceIndex& idx) {
  return dynamic_cast<const ParquetChunkResolver&>(*idx.resolver());
}

std::string Describe(const ReferenceIndex::ResolvedTarget& t) {
  using Kind = ReferenceIndex::ResolvedTarget::Kind;
  switch (t.kind) {
    case Kind::kMissing: return "missing";
    case Kind::kInline: return "inline:" + std::string(t.inline_bytes);
    case Kind::kWhole: return *t.url + "@whole";
    case Kind::kRange: return *t.url + "@" + std::to_string(t.offset) + "+" + std::to_string(t.size);
  }
  return "";
}

// Every existing key, eager and lazy, described as Dump does.
std::map<std::string, std::string> DumpResolved(const ReferenceIndex& idx) {
  std::map<std::string, std::string> out;
  for (ReferenceIndex::FileId f = 0; f < idx.eager_file_count(); ++f) out[idx.FileKey(f)] = Describe(*idx.Resolve(f));
  for (uint32_t r = 0; r < idx.lazy_run_count(); ++r)
    for (auto flat = idx.NextLazyChunk(r, 0); flat; flat = idx.NextLazyChunk(r, *flat + 1)) {
      auto t = idx.Resolve(idx.lazy_run(r).first + *flat);
      out[idx.FileKey(idx.lazy_run(r).first + *flat)] = t.ok() ? Describe(*t) : "error: " + t.status().message();
    }
  return out;
}

TEST(LazyParquetTest, ServesWhatTheEagerLoaderDoes) {
  ReferenceIndex json = MustParse(kRefs);
  for (uint64_t record_size : {1, 4, 100000}) {
    Dir dir;
    dir.files = Write(json, record_size);
    auto eager = LoadParquetReferences(dir.Reader(), "dir", "/base/");
    ASSERT_TRUE(eager.ok()) << eager.status().message();
    dir.reads.clear();
    auto lazy = LoadLazy(dir);
    ASSERT_TRUE(lazy.ok()) << lazy.status().message();
    // Mounting read .zmetadata and the eagerly loaded "/" array only.
    EXPECT_EQ(dir.Reads("t/refs.0.parq"), 0);
    EXPECT_EQ(dir.Reads(".zmetadata"), 1);
    EXPECT_EQ(lazy->lazy_run_count(), 2u);  // t and s; g/v is eager
    EXPECT_TRUE(lazy->FindKey("g/v/1/2"));
    EXPECT_EQ(DumpResolved(*lazy), Dump(*eager)) << record_size;
  }
}

TEST(LazyParquetTest, NamesAreTheGridsCanonicalKeys) {
  Dir dir;
  dir.files = Write(MustParse(kRefs), 4);
  auto idx = LoadLazy(dir);
  ASSERT_TRUE(idx.ok()) << idx.status().message();
  auto t = idx->FindDir(ReferenceIndex::kRootDir, "t");
  ASSERT_TRUE(t);
  for (const char* bad : {"01.0", "0.0.0", "3.0", "0.2", "0", "0.", ".0", "+1.0", "a.b", "0/0"})
    EXPECT_FALSE(idx->FindFile(*t, bad)) << bad;
  auto f = idx->FindFile(*t, "2.1");
  ASSERT_TRUE(f);
  EXPECT_TRUE(idx->is_lazy(*f));
  EXPECT_EQ(idx->FileKey(*f), "t/2.1");
  EXPECT_EQ(idx->file_dir(*f), *t);
  // In the grid but not in the set: found by name, missing by target.
  auto missing = idx->FindKey("t/2.0");
  ASSERT_TRUE(missing);
  EXPECT_TRUE(idx->Resolve(*missing)->missing());
  // Eager files come first, runs after them in the order of .zmetadata.
  EXPECT_LT(*idx->FindKey("t/.zarray"), idx->eager_file_count());
  EXPECT_EQ(idx->lazy_run(0).first, idx->eager_file_count());
  EXPECT_EQ(idx->file_count(), idx->eager_file_count() + 6 + 1);
  // A 0-d array's only chunk is "0".
  auto s0 = idx->FindKey("s/0");
  ASSERT_TRUE(s0);
  EXPECT_EQ(Describe(*idx->Resolve(*s0)), "s3://bucket/d.nc@0+8");
}

TEST(LazyParquetTest, InlineBytesOutliveTheRecord) {
  Dir dir;
  dir.files = Write(MustParse(kRefs), 1);
  auto idx = LoadLazy(dir, /*memory_bytes=*/1);
  ASSERT_TRUE(idx.ok());
  auto t = idx->Resolve(*idx->FindKey("t/2.1"));
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(t->inline_owner);
  for (const char* k : {"t/0.0", "t/0.1", "t/1.0"}) ASSERT_TRUE(idx->Resolve(*idx->FindKey(k)).ok());
  EXPECT_EQ(t->inline_bytes, std::string("\0\1\2\3\4\5\6\7", 8));
}

TEST(LazyParquetTest, EvictedRecordsAreReadAgain) {
  Dir dir;
  dir.files = Write(MustParse(kRefs), 1);  // a record per chunk
  auto idx = LoadLazy(dir, /*memory_bytes=*/1);
  ASSERT_TRUE(idx.ok());
  const auto& res = Resolver(*idx);
  const auto a = *idx->FindKey("t/0.0"), b = *idx->FindKey("t/0.1");
  ASSERT_TRUE(idx->Resolve(a).ok());
  ASSERT_TRUE(idx->Resolve(a).ok());
  EXPECT_EQ(res.decodes(), 1u);  // kept: the most recent record stays
  ASSERT_TRUE(idx->Resolve(b).ok());
  EXPECT_EQ(res.records_held(), 1u);
  auto again = idx->Resolve(a);  // evicted by b: decoded again
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Describe(*again), "s3://bucket/a.nc@100+8");
  EXPECT_EQ(res.decodes(), 3u);
  EXPECT_EQ(dir.Reads("t/refs.0.parq"), 2);

  // With room for all, nothing is read twice.
  auto roomy = LoadLazy(dir);
  ASSERT_TRUE(roomy.ok());
  for (int i = 0; i < 3; ++i)
    for (const char* k : {"t/0.0", "t/0.1", "t/1.0"}) ASSERT_TRUE(roomy->Resolve(*roomy->FindKey(k)).ok());
  EXPECT_EQ(Resolver(*roomy).decodes(), 3u);
  EXPECT_GT(roomy->MemoryUsage(), 0u);
}

TEST(LazyParquetTest, ConcurrentFirstUsesDecodeOnce) {
  Dir dir;
  dir.files = Write(MustParse(kRefs), 100);
  dir.delay = std::chrono::milliseconds(50);
  auto idx = LoadLazy(dir);
  ASSERT_TRUE(idx.ok());
  const std::vector<std::string> keys = {"t/0.0", "t/0.1", "t/1.0", "t/2.1"};
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i)
    threads.emplace_back([&, i] {
      auto t = idx->Resolve(*idx->FindKey(keys[i % keys.size()]));
      if (t.ok() && !t->missing()) ok.fetch_add(1);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 16);
  EXPECT_EQ(dir.Reads("t/refs.0.parq"), 1);
  EXPECT_EQ(Resolver(*idx).decodes(), 1u);
}

TEST(LazyParquetTest, AMalformedRecordFailsOnlyItsChunks) {
  Dir dir;
  dir.files = Write(MustParse(kRefs), 2);  // t: records 0 (0.0 0.1) 1 (1.0 1.1) 2 (2.0 2.1)
  dir.files["t/refs.1.parq"] = "garbage";
  auto idx = LoadLazy(dir);
  ASSERT_TRUE(idx.ok()) << idx.status().message();
  auto bad = idx->Resolve(*idx->FindKey("t/1.0"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kIoError);
  EXPECT_NE(bad.status().message().find("dir/t/refs.1.parq: not a Parquet file"), std::string::npos)
      << bad.status().message();
  EXPECT_EQ(bad.status().message().find('\n'), std::string::npos);
  EXPECT_TRUE(idx->Resolve(*idx->FindKey("t/0.1")).ok());
  EXPECT_TRUE(idx->Resolve(*idx->FindKey("t/2.1")).ok());
  // Listed as the record's first chunk only, so its lookup tells.
  const uint32_t run = *idx->dir_lazy_run(*idx->FindDir(ReferenceIndex::kRootDir, "t"));
  EXPECT_EQ(idx->NextLazyChunk(run, 2), 2u);
  EXPECT_EQ(idx->NextLazyChunk(run, 3), 5u);
  // The decode error is remembered (logged once), not decoded again.
  EXPECT_FALSE(idx->Resolve(*idx->FindKey("t/1.1")).ok());
  EXPECT_EQ(dir.Reads("t/refs.1.parq"), 1);
}

TEST(LazyParquetTest, ABadRowFailsOnlyItsChunk) {
  Dir dir;
  dir.files = Write(MustParse(kRefs), 100);
  // Record 0 of t rebuilt: row 1 has a negative offset.
  parquet::BinaryColumn path;
  parquet::Int64Column offset, size;
  for (int i = 0; i < 6; ++i) {
    path.bytes += "x.bin";
    path.ends.push_back(path.bytes.size());
    path.valid.push_back(1);
    offset.values.push_back(i == 1 ? -5 : 10 * i);
    offset.valid.push_back(1);
    size.values.push_back(10);
    size.valid.push_back(1);
  }
  using parquet::PhysicalType;
  using parquet::Repetition;
  dir.files["t/refs.0.parq"] =
      parquet::WriteParquetFile(
          {{{"path", PhysicalType::kByteArray, Repetition::kOptional, true}, &path, nullptr, true},
           {{"offset", PhysicalType::kInt64, Repetition::kRequired, false}, nullptr, &offset, false},
           {{"size", PhysicalType::kInt64, Repetition::kRequired, false}, nullptr, &size, false}})
          .value();
  auto idx = LoadLazy(dir);
  ASSERT_TRUE(idx.ok());
  auto bad = idx->Resolve(*idx->FindKey("t/0.1"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("dir/t/refs.0.parq: row 1: negative offset or size"), std::string::npos)
      << bad.status().message();
  EXPECT_EQ(Describe(*idx->Resolve(*idx->FindKey("t/2.0"))), "/base/x.bin@40+10");
}

TEST(LazyParquetTest, AMissingRecordFileIsMissingChunks) {
  Dir dir;
  dir.files = Write(MustParse(kRefs), 2);
  dir.files.erase("t/refs.0.parq");
  auto idx = LoadLazy(dir);
  ASSERT_TRUE(idx.ok());
  EXPECT_TRUE(idx->Resolve(*idx->FindKey("t/0.0"))->missing());
  EXPECT_FALSE(idx->Resolve(*idx->FindKey("t/1.0"))->missing());
  const uint32_t run = *idx->dir_lazy_run(*idx->FindDir(ReferenceIndex::kRootDir, "t"));
  EXPECT_EQ(idx->NextLazyChunk(run, 0), 2u);
}

TEST(LazyParquetTest, AnIoErrorIsNotRemembered) {
  Dir dir;
  dir.files = Write(MustParse(kRefs), 100);
  std::atomic<bool> failing{true};
  ReferenceDirReader flaky = [&](const std::string& rel) -> Result<std::string> {
    if (rel.starts_with("t/") && failing) return IoError("connection reset");
    return dir.Reader()(rel);
  };
  auto idx = LoadLazyParquetReferences(flaky, flaky, "dir", "/base/", {}, {});
  ASSERT_TRUE(idx.ok());
  auto first = idx->Resolve(*idx->FindKey("t/0.0"));
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.status().message().find("dir/t/refs.0.parq: connection reset"), std::string::npos);
  failing = false;
  EXPECT_TRUE(idx->Resolve(*idx->FindKey("t/0.0")).ok());
}

}  // namespace
}  // namespace zm
