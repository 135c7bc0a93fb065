#include "app/scan_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/unit/fake_origin.h"
#include "tests/unit/temp_dir.h"

namespace zm {
namespace {

// A NetCDF-3 classic file holding one variable v(x) of two ints, 7 and 9.
std::string TinyNetcdf3() {
  auto u32 = [](uint32_t v) {
    return std::string{char(v >> 24), char((v >> 16) & 0xFF), char((v >> 8) & 0xFF), char(v & 0xFF)};
  };
  auto name = [&](const std::string& n) { return u32(uint32_t(n.size())) + n + std::string((4 - n.size() % 4) % 4, '\0'); };
  auto header = [&](uint32_t begin) {
    return std::string("CDF\x01", 4) + u32(0) + u32(0x0A) + u32(1) + name("x") + u32(2) + u32(0) + u32(0) +
           u32(0x0B) + u32(1) + name("v") + u32(1) + u32(0) + u32(0) + u32(0) + u32(4) + u32(8) + u32(begin);
  };
  std::string h = header(0);
  return header(uint32_t(h.size())) + u32(7) + u32(9);
}

TEST(ScanSource, RecognisesNetcdf3AndHdf5ByTheirFirstBytes) {
  const std::string sig("\x89HDF\r\n\x1a\n", 8);
  EXPECT_TRUE(LooksLikeScannable(TinyNetcdf3()));
  EXPECT_TRUE(LooksLikeScannable(std::string("CDF\x05", 4)));
  EXPECT_TRUE(LooksLikeScannable(sig + std::string(100, '\0')));
  for (size_t userblock : {512, 1024, 2048})
    EXPECT_TRUE(LooksLikeScannable(std::string(userblock, 'u') + sig)) << userblock;
  EXPECT_FALSE(LooksLikeScannable(std::string(300, 'u') + sig));  // not a user block's size
  EXPECT_FALSE(LooksLikeScannable("{\"version\": 1, \"refs\": {}}"));
  EXPECT_FALSE(LooksLikeScannable(std::string("CDF\x03", 4)));
  EXPECT_FALSE(LooksLikeScannable(sig.substr(0, 7)));
  EXPECT_FALSE(LooksLikeScannable(""));
  EXPECT_TRUE(IsScanName("a/b.nc"));
  EXPECT_TRUE(IsScanName("x.hdf5"));
  EXPECT_FALSE(IsScanName(".nc"));
  EXPECT_FALSE(IsScanName("refs.json"));
}

TEST(ScanSource, RecordIsUsedOnlyForTheSameUrlVersionSizeAndThreshold) {
  const ScanRecordKey key{"http://h/a.nc", "\"etag-1\"", 1234, 500};
  const std::string refs = R"({"version": 1, "refs": {".zgroup": "{\"zarr_format\": 2}"}})";
  const std::string record = EncodeScanRecord(key, refs);
  ASSERT_EQ(DecodeScanRecord(record, key), std::optional<std::string_view>(refs));
  for (ScanRecordKey other : {ScanRecordKey{"http://h/b.nc", key.version, key.size, 500},
                              ScanRecordKey{key.url, "\"etag-2\"", key.size, 500},
                              ScanRecordKey{key.url, key.version, 1235, 500},
                              ScanRecordKey{key.url, key.version, key.size, 0}})
    EXPECT_FALSE(DecodeScanRecord(record, other)) << other.url << " " << other.version;
  // Damaged: any byte changed, or cut anywhere.
  for (size_t i = 0; i < record.size(); ++i) {
    std::string bad = record;
    bad[i] ^= 0x20;
    EXPECT_FALSE(DecodeScanRecord(bad, key)) << i;
  }
  for (size_t n = 0; n < record.size(); ++n) EXPECT_FALSE(DecodeScanRecord(record.substr(0, n), key)) << n;
  EXPECT_FALSE(DecodeScanRecord(record + " ", key));
  // Records of different URLs are different files under scans/.
  EXPECT_NE(ScanRecordPath("/c", "http://h/a.nc"), ScanRecordPath("/c", "http://h/b.nc"));
  EXPECT_TRUE(ScanRecordPath("/c", "http://h/a.nc").starts_with("/c/scans/"));
}

class SourceScannerTest : public ::testing::Test {
 protected:
  static constexpr char kUrl[] = "http://h/data/a.nc";

  SourceScannerTest() {
    origin_.Set(kUrl, TinyNetcdf3());
    origin_.SetVersion(kUrl, "v1");
  }

  // A mount's load: a new cache (which remembers versions per instance).
  Result<ReferenceIndex> Load(size_t* scanned, size_t* reused, bool with_records = true) {
    ReadThroughOptions ro;
    ro.validate = true;
    ro.prefetch_threads = 0;
    ReadThroughCache cache(&origin_, nullptr, nullptr, ro);
    SourceScanOptions so;
    if (with_records) so.cache_dir = dir_.path();
    SourceScanner scanner(&cache, so);
    auto index = scanner.Load(kUrl);
    *scanned = scanner.scanned();
    *reused = scanner.reused();
    return index;
  }

  std::string RecordPath() const { return ScanRecordPath(dir_.path(), kUrl); }

  testing::FakeOrigin origin_;
  testing::TempDir dir_;
};

TEST_F(SourceScannerTest, SecondLoadReadsOnlyTheVersion) {
  size_t scanned = 0, reused = 0;
  auto first = Load(&scanned, &reused);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(scanned, 1u);
  EXPECT_GT(origin_.request_count(), 0u);
  EXPECT_TRUE(first->FindKey("v/.zarray").has_value());
  EXPECT_TRUE(std::filesystem::exists(RecordPath()));

  origin_.ClearRequests();
  auto second = Load(&scanned, &reused);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(reused, 1u);
  EXPECT_EQ(scanned, 0u);
  EXPECT_EQ(origin_.request_count(), 0u);  // no Read: only Stat
  EXPECT_EQ(second->file_count(), first->file_count());
}

TEST_F(SourceScannerTest, ChangedVersionOrDamagedRecordIsRescanned) {
  size_t scanned = 0, reused = 0;
  ASSERT_TRUE(Load(&scanned, &reused).ok());
  origin_.SetVersion(kUrl, "v2");
  ASSERT_TRUE(Load(&scanned, &reused).ok());
  EXPECT_EQ(scanned, 1u);
  ASSERT_TRUE(Load(&scanned, &reused).ok());
  EXPECT_EQ(reused, 1u);  // the record was rewritten for v2

  // A record whose references do not parse though its header matches
  // (as if written by a broken writer): rescanned, rewritten.
  const std::string refs = "{\"version\": 1, \"refs\": {";
  std::ofstream(RecordPath(), std::ios::binary | std::ios::trunc)
      << EncodeScanRecord(ScanRecordKey{kUrl, "v2", TinyNetcdf3().size(), 500}, refs);
  auto again = Load(&scanned, &reused);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(scanned, 1u);
  ASSERT_TRUE(Load(&scanned, &reused).ok());
  EXPECT_EQ(reused, 1u);

  std::ofstream(RecordPath(), std::ios::binary | std::ios::trunc) << "garbage";
  ASSERT_TRUE(Load(&scanned, &reused).ok());
  EXPECT_EQ(scanned, 1u);
}

TEST_F(SourceScannerTest, WithoutRecordsOrVersionEveryLoadScans) {
  size_t scanned = 0, reused = 0;
  ASSERT_TRUE(Load(&scanned, &reused, /*with_records=*/false).ok());
  ASSERT_TRUE(Load(&scanned, &reused, /*with_records=*/false).ok());
  EXPECT_EQ(scanned, 1u);
  EXPECT_FALSE(std::filesystem::exists(RecordPath()));
  origin_.SetVersion(kUrl, "");
  ASSERT_TRUE(Load(&scanned, &reused).ok());
  ASSERT_TRUE(Load(&scanned, &reused).ok());
  EXPECT_EQ(scanned, 1u);
  EXPECT_FALSE(std::filesystem::exists(RecordPath()));
}

TEST_F(SourceScannerTest, NotNetcdfIsOneLineNamingTheUrl) {
  origin_.Set(kUrl, std::string(64, 'x'));
  size_t scanned = 0, reused = 0;
  auto r = Load(&scanned, &reused);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(kUrl), std::string::npos) << r.status().ToString();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
}

TEST(ScanSource, CacheCommandsCountVerifyAndClearTheRecords) {
  testing::TempDir dir;
  EXPECT_EQ(GetScanRecordUsage(dir.path()).records, 0u);  // no scans/ yet
  const std::string refs = R"({"version": 1, "refs": {".zgroup": "{\"zarr_format\": 2}"}})";
  const std::string a = EncodeScanRecord({"/data/a.nc", "v1", 10, 500}, refs);
  const std::string b = EncodeScanRecord({"https://h/b.nc", "\"etag\"", 20, 0}, refs + " ");
  EXPECT_TRUE(IsIntactScanRecord(a));
  EXPECT_TRUE(IsIntactScanRecord(b));
  std::string damaged = a;
  damaged[damaged.size() - 3] ^= 0x20;
  EXPECT_FALSE(IsIntactScanRecord(damaged));
  EXPECT_FALSE(IsIntactScanRecord(a.substr(0, a.size() - 1)));
  EXPECT_FALSE(IsIntactScanRecord(a + "x"));
  EXPECT_FALSE(IsIntactScanRecord("zarrmount scan record 1\n"));
  EXPECT_FALSE(IsIntactScanRecord(refs));

  dir.Write("scans/" + ScanRecordPath("", "/data/a.nc").substr(std::string("/scans/").size()), a);
  dir.Write("scans/b.refs", b);
  dir.Write("scans/c.refs", damaged);
  dir.Write("scans/c.refs.tmp.123", "half a record");
  const ScanRecordUsage u = GetScanRecordUsage(dir.path());
  EXPECT_EQ(u.records, 3u);
  EXPECT_EQ(u.bytes, a.size() + b.size() + damaged.size());

  auto check = VerifyScanRecords(dir.path());
  ASSERT_TRUE(check.ok()) << check.status().message();
  EXPECT_EQ(check->checked, 3u);
  EXPECT_EQ(check->bad, 1u);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/scans/c.refs"));
  EXPECT_EQ(GetScanRecordUsage(dir.path()).records, 2u);

  auto cleared = ClearScanRecords(dir.path());
  ASSERT_TRUE(cleared.ok()) << cleared.status().message();
  EXPECT_EQ(*cleared, 2u);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/scans"));
  EXPECT_EQ(GetScanRecordUsage(dir.path()).records, 0u);
}

}  // namespace
}  // namespace zm
