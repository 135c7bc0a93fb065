#include "refs/parquet_refs.h"

#include <gtest/gtest.h>

#include <map>

#include "parquet/writer.h"
#include "tests/unit/refs/parsed_refs.h"
#include "tests/unit/temp_dir.h"

namespace zm {
namespace {

using testing::Dump;
using testing::MustParse;

// A reference set touching every row kind: ranges, whole objects, inline
// chunks, missing chunks; a nested array with "/" separators; a 0-d array.
const char kRefs[] = R"({"version": 1, "refs": {
  ".zgroup": "{\"zarr_format\": 2}",
  ".zattrs": "not json at all",
  "t/.zarray": "{\"chunks\": [2, 2], \"compressor\": null, \"dtype\": \"<i2\", \"fill_value\": 0, \"filters\": null, \"order\": \"C\", \"shape\": [5, 4], \"zarr_format\": 2}",
  "t/.zattrs": "{\"_ARRAY_DIMENSIONS\": [\"y\", \"x\"]}",
  "t/0.0": ["s3://bucket/a.nc", 100, 8],
  "t/0.1": ["s3://bucket/a.nc", 108, 8],
  "t/1.0": ["s3://bucket/b.nc"],
  "t/2.1": "base64:AAECAwQFBgc=",
  "g/v/.zarray": "{\"chunks\": [1, 1], \"compressor\": null, \"dimension_separator\": \"/\", \"dtype\": \"|u1\", \"fill_value\": null, \"filters\": null, \"order\": \"C\", \"shape\": [2, 3], \"zarr_format\": 2}",
  "g/v/1/2": ["s3://bucket/c.nc", 1, 1],
  "g/v/0/0": "x",
  "s/.zarray": "{\"chunks\": [], \"compressor\": null, \"dtype\": \"<f8\", \"fill_value\": null, \"filters\": null, \"order\": \"C\", \"shape\": [], \"zarr_format\": 2}",
  "s/0": ["s3://bucket/d.nc", 0, 8]
}})";

using Files = std::map<std::string, std::string>;

Files Write(const ReferenceIndex& idx, uint64_t record_size, bool compress = true) {
  Files files;
  ParquetRefsWriteOptions o;
  o.record_size = record_size;
  o.compress = compress;
  Status st = WriteParquetReferences(idx, o, [&](const std::string& rel, const std::string& bytes) {
    files[rel] = bytes;
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.message();
  return files;
}

Result<ReferenceIndex> Load(const Files& files) {
  return LoadParquetReferences(
      [&](const std::string& rel) -> Result<std::string> {
        auto it = files.find(rel);
        if (it == files.end()) return NotFound("no such file");
        return it->second;
      },
      "dir", "/base/");
}

TEST(ParquetRefsTest, RoundTripsEveryKindOfKey) {
  ReferenceIndex json = MustParse(kRefs);
  for (uint64_t record_size : {1, 3, 100000}) {
    for (bool compress : {false, true}) {
      Files files = Write(json, record_size, compress);
      ASSERT_TRUE(files.count(".zmetadata"));
      EXPECT_TRUE(files.count("t/refs.0.parq"));
      EXPECT_TRUE(files.count("s/refs.0.parq"));
      EXPECT_TRUE(files.count("g/v/refs.0.parq"));
      if (record_size == 1) {
        EXPECT_TRUE(files.count("t/refs.5.parq"));  // 3 x 2 chunks
        EXPECT_FALSE(files.count("t/refs.6.parq"));
      }
      auto back = Load(files);
      ASSERT_TRUE(back.ok()) << back.status().message();
      EXPECT_EQ(Dump(*back), Dump(json)) << record_size;
    }
  }
}

TEST(ParquetRefsTest, MetadataObjectsServeTheirTextAndStringsTheirContent) {
  Files files = {{".zmetadata", R"({"record_size": 10, "metadata": {".zgroup": {"zarr_format": 2},
      ".zattrs": "plain text", "a/.zarray": {"chunks": [1], "compressor": null, "dtype": "<i1",
      "fill_value": 0, "filters": null, "order": "C", "shape": [0], "zarr_format": 2}}})"}};
  auto idx = Load(files);
  ASSERT_TRUE(idx.ok()) << idx.status().message();
  auto d = Dump(*idx);
  EXPECT_EQ(d[".zgroup"], "inline:{\"zarr_format\": 2}");
  EXPECT_EQ(d[".zattrs"], "inline:plain text");
  EXPECT_EQ(d.size(), 3u);  // a shape of 0: no chunks, no record files read
}

TEST(ParquetRefsTest, NonFiniteNumbersAsPythonWritesThem) {
  // kerchunk's .zmetadata is json.dump of the parsed attributes: NaN and
  // Infinity appear bare. They are served as written, strings untouched.
  const std::string attrs = R"({"_FillValue": NaN, "max": Infinity, "min": -Infinity, "s": "NaN \" Infinity"})";
  Files files = {{".zmetadata", R"({"metadata": {".zattrs": )" + attrs + R"(}, "record_size": 2})"}};
  auto idx = Load(files);
  ASSERT_TRUE(idx.ok()) << idx.status().message();
  EXPECT_EQ(Dump(*idx)[".zattrs"], "inline:" + attrs);
  // And written back as JSON, not as a string.
  Files out = Write(*idx, 2);
  EXPECT_NE(out[".zmetadata"].find("\".zattrs\": " + attrs), std::string::npos) << out[".zmetadata"];
}

TEST(ParquetRefsTest, AMissingRecordFileIsMissingChunks) {
  Files files = Write(MustParse(kRefs), 2);
  files.erase("t/refs.0.parq");
  auto idx = Load(files);
  ASSERT_TRUE(idx.ok()) << idx.status().message();
  EXPECT_FALSE(idx->FindKey("t/0.0"));
  EXPECT_TRUE(idx->FindKey("t/1.0"));
}

TEST(ParquetRefsTest, RelativePathsResolveAgainstTheDirectory) {
  ReferenceIndex json = MustParse(R"({"a/.zarray": "{\"chunks\": [1], \"compressor\": null, \"dtype\": \"<i1\", \"fill_value\": 0, \"filters\": null, \"order\": \"C\", \"shape\": [1], \"zarr_format\": 2}",
    "a/0": ["data/x.bin", 3, 4]})");
  auto idx = Load(Write(json, 10));
  ASSERT_TRUE(idx.ok());
  EXPECT_EQ(Dump(*idx)["a/0"], "/base/data/x.bin@3+4");
}

TEST(ParquetRefsTest, BadInputsAreOneLineNamingTheFile) {
  Files good = Write(MustParse(kRefs), 100);
  auto expect = [](Files files, const std::string& part) {
    auto r = Load(files);
    ASSERT_FALSE(r.ok()) << part;
    EXPECT_NE(r.status().message().find(part), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  };
  Files f = good;
  f.erase(".zmetadata");
  expect(f, "dir/.zmetadata: no such file");
  f = good;
  f[".zmetadata"] = R"({"metadata": {}})";
  expect(f, "dir/.zmetadata: no 'record_size'");
  f[".zmetadata"] = R"({"metadata": {}, "record_size": 0})";
  expect(f, "'record_size' must be a positive integer");
  f[".zmetadata"] = R"({"metadata": {"../x": 1}, "record_size": 3})";
  expect(f, "dir/.zmetadata");
  f[".zmetadata"] = "[1,2";
  expect(f, "dir/.zmetadata: ");
  f = good;
  f["t/refs.0.parq"] = "garbage";
  expect(f, "dir/t/refs.0.parq: not a Parquet file");
  // Too few rows: a record holding 2 rows where the grid needs 6.
  parquet::BinaryColumn path;
  for (int i = 0; i < 2; ++i) {
    path.bytes += "u";
    path.ends.push_back(path.bytes.size());
    path.valid.push_back(1);
  }
  f = good;
  f["t/refs.0.parq"] = parquet::WriteParquetFile(
      {{{"path", parquet::PhysicalType::kByteArray, parquet::Repetition::kOptional, true}, &path, nullptr, true}})
      .value();
  expect(f, "dir/t/refs.0.parq: 2 rows, the chunks 0..5 need 6");
}

TEST(ParquetRefsTest, HugeGridsAreRefusedBeforeAnyWork) {
  Files files = {{".zmetadata", R"({"record_size": 1, "metadata": {"a/.zarray": {"chunks": [1, 1],
      "compressor": null, "dtype": "<i1", "fill_value": 0, "filters": null, "order": "C",
      "shape": [4000000000, 4000000000], "zarr_format": 2}}})"}};
  auto r = Load(files);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("dir: a/.zarray: the arrays have more than 100000000 chunks"),
            std::string::npos)
      << r.status().message();
}

TEST(ParquetRefsTest, WriterRefusesHugeGrids) {
  ReferenceIndex json = MustParse(R"({"a/.zarray": "{\"chunks\": [1, 1], \"compressor\": null, \"dtype\": \"<i1\", \"fill_value\": 0, \"filters\": null, \"order\": \"C\", \"shape\": [4000000000, 4000000000], \"zarr_format\": 2}"})");
  Status st = WriteParquetReferences(json, {}, [](const std::string&, const std::string&) { return Status::Ok(); });
  EXPECT_NE(st.message().find("key 'a/.zarray': the arrays have more than 1000000000 chunks"), std::string::npos)
      << st.message();
}

TEST(ParquetRefsTest, WriterRefusesKeysTheLayoutCannotHold) {
  ReferenceIndex json = MustParse(R"({"a/.zarray": "{\"chunks\": [1], \"compressor\": null, \"dtype\": \"<i1\", \"fill_value\": 0, \"filters\": null, \"order\": \"C\", \"shape\": [1], \"zarr_format\": 2}",
    "a/0": "x", "a/7": "beyond the grid", "readme.txt": "hi"})");
  int written = 0;
  Status st = WriteParquetReferences(json, {}, [&](const std::string&, const std::string&) {
    ++written;
    return Status::Ok();
  });
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("' is neither metadata nor a chunk of an array"), std::string::npos) << st.message();
  EXPECT_EQ(written, 0);
}

TEST(ParquetRefsTest, LoadsALocalDirectory) {
  testing::TempDir dir;
  Files files = Write(MustParse(kRefs), 4);
  for (const auto& [rel, bytes] : files) {
    std::string path = dir.path() + "/" + rel;
    std::string parent = path.substr(0, path.rfind('/'));
    std::string cmd = "mkdir -p '" + parent + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  EXPECT_TRUE(IsParquetReferenceDir(dir.path()));
  EXPECT_FALSE(IsParquetReferenceDir(dir.path() + "/t"));
  auto idx = LoadParquetReferenceDir(dir.path() + "/");
  ASSERT_TRUE(idx.ok()) << idx.status().message();
  EXPECT_EQ(Dump(*idx), Dump(MustParse(kRefs)));
}

}  // namespace
}  // namespace zm
