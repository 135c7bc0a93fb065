#include "parquet/delta.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

namespace zm::parquet {
namespace {

std::string Lengths(const std::vector<std::string>& values) {
  std::vector<int64_t> n;
  for (const auto& v : values) n.push_back(static_cast<int64_t>(v.size()));
  std::string out = EncodeDeltaBinaryPacked(n);
  for (const auto& v : values) out += v;
  return out;
}

TEST(DeltaTest, BinaryPackedRoundTrips) {
  std::mt19937_64 rng(7);
  for (size_t count : {0, 1, 2, 33, 128, 129, 1000}) {
    std::vector<int64_t> v;
    for (size_t i = 0; i < count; ++i)
      v.push_back(i % 97 == 5 ? std::numeric_limits<int64_t>::min()
                              : (i % 89 == 3 ? std::numeric_limits<int64_t>::max()
                                             : static_cast<int64_t>(rng() % 100000) - 50000));
    std::string enc = EncodeDeltaBinaryPacked(v) + "tail";
    std::vector<int64_t> out;
    size_t consumed = 0;
    ASSERT_TRUE(DecodeDeltaBinaryPacked(enc, count, &out, &consumed).ok()) << count;
    EXPECT_EQ(out, v) << count;
    EXPECT_EQ(enc.substr(consumed), "tail") << count;
  }
}

TEST(DeltaTest, ByteArrays) {
  std::vector<std::string> values = {"s3://b/f1.nc", "", "s3://b/f2.nc", "x"};
  std::vector<std::string_view> out;  // views into `encoded`
  const std::string encoded = Lengths(values);
  ASSERT_TRUE(DecodeDeltaLengthByteArray(encoded, values.size(), &out).ok());
  EXPECT_EQ(std::vector<std::string>(out.begin(), out.end()), values);
  // DELTA_BYTE_ARRAY: prefixes shared with the previous value, then suffixes.
  std::string data = EncodeDeltaBinaryPacked({0, 8, 6}) + Lengths({"s3://b/f1.nc", "2.nc", "9"});
  std::string storage;
  ASSERT_TRUE(DecodeDeltaByteArray(data, 3, &storage, &out).ok());
  EXPECT_EQ(std::vector<std::string>(out.begin(), out.end()),
            (std::vector<std::string>{"s3://b/f1.nc", "s3://b/f2.nc", "s3://b9"}));
}

TEST(DeltaTest, MalformedInputsAreRefused) {
  std::vector<int64_t> out;
  size_t consumed = 0;
  std::string enc = EncodeDeltaBinaryPacked({1, 2, 300, 4});
  EXPECT_NE(DecodeDeltaBinaryPacked(enc, 5, &out, &consumed).message().find("holds 4 values, the page 5"),
            std::string::npos);
  for (size_t cut = 0; cut < enc.size(); ++cut)
    EXPECT_FALSE(DecodeDeltaBinaryPacked(enc.substr(0, cut), 4, &out, &consumed).ok()) << cut;
  std::string geometry = {char(100), char(4), char(1), char(0)};  // 100 values a block
  EXPECT_NE(DecodeDeltaBinaryPacked(geometry, 1, &out, &consumed).message().find("block geometry"),
            std::string::npos);
  // A bit width beyond 64: header (5 bytes), min delta (1), widths (4).
  std::string wide = EncodeDeltaBinaryPacked({0, 1});
  wide[6] = char(65);
  EXPECT_NE(DecodeDeltaBinaryPacked(wide, 2, &out, &consumed).message().find("bit width 65"), std::string::npos);
  std::vector<std::string_view> views;
  std::string storage;
  // A prefix longer than the previous value.
  std::string data = EncodeDeltaBinaryPacked({0, 5}) + Lengths({"ab", "c"});
  EXPECT_NE(DecodeDeltaByteArray(data, 2, &storage, &views).message().find("longer than the previous"),
            std::string::npos);
  // A length past the end.
  std::string lying = EncodeDeltaBinaryPacked({50}) + "short";
  EXPECT_NE(DecodeDeltaLengthByteArray(lying, 1, &views).message().find("past the end"), std::string::npos);
}

}  // namespace
}  // namespace zm::parquet
