#include "refs/scan.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/temp_dir.h"

namespace zm {
namespace {

// Writes NetCDF-3 headers field by field (big-endian, names padded to 4).
class Cdf {
 public:
  explicit Cdf(int version) : version_(version) {
    out_ = std::string("CDF") + char(version);
  }
  Cdf& U32(uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out_ += char((v >> s) & 0xFF);
    return *this;
  }
  Cdf& U64(uint64_t v) {
    for (int s = 56; s >= 0; s -= 8) out_ += char((v >> s) & 0xFF);
    return *this;
  }
  Cdf& Count(uint64_t v) { return version_ == 5 ? U64(v) : U32(uint32_t(v)); }
  Cdf& Offset(uint64_t v) { return version_ == 1 ? U32(uint32_t(v)) : U64(v); }
  Cdf& Name(const std::string& n) {
    Count(n.size());
    out_ += n;
    out_.append((4 - n.size() % 4) % 4, '\0');
    return *this;
  }
  Cdf& Bytes(const std::string& b) {
    out_ += b;
    return *this;
  }
  const std::string& str() const { return out_; }
  size_t size() const { return out_.size(); }

 private:
  int version_;
  std::string out_;
};

// dims x=2, time (record); global title="t"; vars v(x) short (fixed),
// r(time, x) float, n(time) byte; `records` records.
std::string SmallFile(int version, uint32_t records, uint64_t* fixed_begin, uint64_t* rec_begin) {
  auto header = [&](uint64_t vbegin, uint64_t rbegin) {
    Cdf c(version);
    c.Count(records);
    c.U32(0x0A).Count(2).Name("x").Count(2).Name("time").Count(0);
    c.U32(0x0C).Count(1).Name("title").U32(2).Count(1).Bytes(std::string("t\0\0\0", 4));
    c.U32(0x0B).Count(3);
    c.Name("v").Count(1).Count(0).U32(0).Count(0).U32(3).Count(4).Offset(vbegin);
    c.Name("r").Count(2).Count(1).Count(0).U32(0x0C).Count(1).Name("_FillValue").U32(5).Count(1)
        .Bytes(std::string("\x7f\xc0\x00\x00", 4))
        .U32(5).Count(8).Offset(rbegin);
    c.Name("n").Count(1).Count(1).U32(0).Count(0).U32(1).Count(4).Offset(rbegin + 8);
    return c.str();
  };
  std::string h = header(0, 0);
  *fixed_begin = h.size();
  *rec_begin = h.size() + 4;
  h = header(*fixed_begin, *rec_begin);
  std::string data("\x00\x01\x00\x02", 4);  // v = 1, 2
  for (uint32_t r = 0; r < records; ++r) {
    data += std::string("\x3f\x80\x00\x00\x40\x00\x00\x00", 8);  // r = 1.0, 2.0
    data += std::string(1, char(r)) + std::string(3, '\0');      // n = r, padded
  }
  return h + data;
}

TEST(Netcdf3Header, ParsesEveryFormat) {
  for (int version : {1, 2, 5}) {
    uint64_t fb, rb;
    std::string file = SmallFile(version, 3, &fb, &rb);
    auto h = ParseNetcdf3Header(file);
    ASSERT_TRUE(h.ok()) << version << ": " << h.status().ToString();
    EXPECT_EQ(h->version, version);
    EXPECT_EQ(h->record_count, 3u);
    ASSERT_EQ(h->dims.size(), 2u);
    EXPECT_EQ(h->dims[1].second, 0u);
    ASSERT_EQ(h->variables.size(), 3u);
    EXPECT_EQ(h->variables[1].name, "r");
    EXPECT_EQ(h->variables[1].begin, rb);
    EXPECT_EQ(h->variables[1].attributes[0].name, "_FillValue");
  }
}

TEST(Netcdf3Header, RefusesBadHeadersWithOneLine) {
  uint64_t fb, rb;
  std::string good = SmallFile(1, 1, &fb, &rb);
  // Every truncation of the header is refused, never read past.
  for (size_t n = 0; n < fb; ++n) {
    auto h = ParseNetcdf3Header(good.substr(0, n));
    ASSERT_FALSE(h.ok()) << n;
    EXPECT_EQ(h.status().message().find('\n'), std::string::npos);
  }
  // A count far larger than the bytes left.
  std::string huge = Cdf(1).U32(0).U32(0x0A).U32(0x7FFFFFFF).str();
  EXPECT_NE(ParseNetcdf3Header(huge).status().message().find("too many dimensions"), std::string::npos);
  // A variable naming a dimension that does not exist.
  std::string bad_dim = Cdf(1).U32(0).U32(0x0A).U32(1).Name("x").U32(4).U32(0).U32(0).U32(0x0B).U32(1)
                            .Name("v").U32(1).U32(7).U32(0).U32(0).U32(4).U32(16).U32(100).str();
  EXPECT_NE(ParseNetcdf3Header(bad_dim).status().message().find("dimension 7"), std::string::npos);
  EXPECT_FALSE(ParseNetcdf3Header("CDF\x03").ok());
  EXPECT_FALSE(ParseNetcdf3Header("HDF").ok());
}

TEST(ScanFile, Netcdf3RecordsAreOneChunkEach) {
  testing::TempDir dir;
  uint64_t fb, rb;
  std::string path = dir.Write("small.nc", SmallFile(2, 3, &fb, &rb));
  ScanOptions opt;
  opt.inline_threshold_bytes = 0;
  auto r = ScanFile(path, "/data/small.nc", opt);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ReferenceIndex& idx = r->index;
  auto zarray = idx.FindKey("r/.zarray");
  ASSERT_TRUE(zarray);
  std::string meta(idx.inline_data(*zarray));
  EXPECT_NE(meta.find("\"chunks\": [1, 2]"), std::string::npos) << meta;
  EXPECT_NE(meta.find("\"shape\": [3, 2]"), std::string::npos) << meta;
  EXPECT_NE(meta.find("\"dtype\": \">f4\""), std::string::npos) << meta;
  EXPECT_NE(meta.find("\"fill_value\": NaN"), std::string::npos) << meta;
  // Records are 12 bytes apart (r: 8 bytes, n: 1 byte padded to 4).
  for (uint64_t k = 0; k < 3; ++k) {
    auto f = idx.FindKey("r/" + std::to_string(k) + ".0");
    ASSERT_TRUE(f) << k;
    EXPECT_EQ(idx.target(*f).offset, rb + 12 * k);
    EXPECT_EQ(idx.target(*f).size, 8u);
    auto n = idx.FindKey("n/" + std::to_string(k));
    ASSERT_TRUE(n);
    EXPECT_EQ(idx.target(*n).offset, rb + 8 + 12 * k);
    EXPECT_EQ(idx.target(*n).size, 1u);
  }
  EXPECT_FALSE(idx.FindKey("r/3.0"));
  auto v = idx.FindKey("v/0");
  ASSERT_TRUE(v);
  EXPECT_EQ(idx.target(*v).offset, fb);
  EXPECT_EQ(idx.url(idx.target(*v).url_id), "/data/small.nc");
  auto attrs = idx.FindKey("v/.zattrs");
  ASSERT_TRUE(attrs);
  EXPECT_EQ(idx.inline_data(*attrs), "{\"_ARRAY_DIMENSIONS\": [\"x\"]}");
  auto global = idx.FindKey(".zattrs");
  ASSERT_TRUE(global);
  EXPECT_EQ(idx.inline_data(*global), "{\"title\": \"t\"}");
}

TEST(ScanFile, StreamingRecordCountComesFromTheFileSize) {
  testing::TempDir dir;
  uint64_t fb, rb;
  std::string file = SmallFile(1, 3, &fb, &rb);
  file.replace(4, 4, std::string("\xff\xff\xff\xff", 4));  // numrecs: indeterminate
  std::string path = dir.Write("streaming.nc", file);
  auto r = ScanFile(path, path, ScanOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->index.FindKey("r/2.0"));
  EXPECT_FALSE(r->index.FindKey("r/3.0"));
}

TEST(ScanFile, SmallChunksInline) {
  testing::TempDir dir;
  uint64_t fb, rb;
  std::string path = dir.Write("small.nc", SmallFile(1, 2, &fb, &rb));
  auto r = ScanFile(path, path, ScanOptions{});  // default threshold 500 bytes
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto v = r->index.FindKey("v/0");
  ASSERT_TRUE(v);
  ASSERT_TRUE(r->index.target(*v).is_inline());
  EXPECT_EQ(r->index.inline_data(*v), std::string("\x00\x01\x00\x02", 4));
}

TEST(ScanFile, BadFilesFailWithOneLineNamingThem) {
  testing::TempDir dir;
  uint64_t fb, rb;
  std::string whole = SmallFile(1, 3, &fb, &rb);
  std::string cases[] = {
      dir.Write("text.nc", "just some text\n"),
      dir.Write("empty.nc", ""),
      dir.Write("truncated.nc", whole.substr(0, whole.size() - 5)),
      dir.Write("fake.h5", std::string("\x89HDF\r\n\x1a\n", 8) + std::string(1000, 'x')),
  };
  for (const std::string& path : cases) {
    auto r = ScanFile(path, path, ScanOptions{});
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(ScanFile(dir.path() + "/missing.nc", "x", ScanOptions{}).ok());
}

}  // namespace
}  // namespace zm
