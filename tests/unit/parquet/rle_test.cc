#include "parquet/rle.h"

#include <gtest/gtest.h>

namespace zm::parquet {
namespace {

TEST(RleHybridTest, RoundTripsRunsAndBitPackedGroups) {
  std::vector<uint32_t> values;
  for (int i = 0; i < 20; ++i) values.push_back(5);
  for (uint32_t i = 0; i < 37; ++i) values.push_back(i % 7);
  values.push_back(6);
  for (int width : {3, 4, 9, 32}) {
    std::string enc = EncodeRleHybrid(values, width);
    std::vector<uint32_t> out;
    ASSERT_TRUE(DecodeRleHybrid(enc, width, values.size(), &out).ok()) << width;
    EXPECT_EQ(out, values) << width;
  }
}

TEST(RleHybridTest, DecodesAHandWrittenBitPackedRun) {
  // One group of 8 one-bit values 1,0,1,1,0,0,0,1 (LSB first): 0b10001101.
  std::string data = {char(0x03), char(0x8D)};
  std::vector<uint32_t> out;
  ASSERT_TRUE(DecodeRleHybrid(data, 1, 6, &out).ok());
  EXPECT_EQ(out, (std::vector<uint32_t>{1, 0, 1, 1, 0, 0}));
}

TEST(RleHybridTest, ZeroWidthIsAllZeros) {
  std::string data = {char(60 << 1)};
  std::vector<uint32_t> out;
  ASSERT_TRUE(DecodeRleHybrid(data, 0, 50, &out).ok());
  EXPECT_EQ(out, std::vector<uint32_t>(50, 0));
}

TEST(RleHybridTest, RefusesShortAndBadRuns) {
  std::vector<uint32_t> out;
  EXPECT_NE(DecodeRleHybrid(std::string{char(4 << 1), char(1)}, 1, 5, &out).message().find("4 of 5"),
            std::string::npos);
  EXPECT_FALSE(DecodeRleHybrid(std::string{char(0x05)}, 8, 16, &out).ok());          // packed bytes missing
  EXPECT_FALSE(DecodeRleHybrid(std::string{char(2 << 1), char(7)}, 2, 2, &out).ok());  // 7 > 2 bits
  EXPECT_FALSE(DecodeRleHybrid(std::string{char(0)}, 1, 1, &out).ok());                // empty run
  EXPECT_FALSE(DecodeRleHybrid(std::string(11, char(0xFF)), 1, 1, &out).ok());         // endless varint
  // A huge bit-packed run header is refused, not allocated.
  std::string huge = {char(0xFF), char(0xFF), char(0xFF), char(0xFF), char(0x0F)};
  EXPECT_FALSE(DecodeRleHybrid(huge, 8, 1000, &out).ok());
}

TEST(RleHybridTest, BitWidth) {
  EXPECT_EQ(BitWidth(0), 0);
  EXPECT_EQ(BitWidth(1), 1);
  EXPECT_EQ(BitWidth(255), 8);
  EXPECT_EQ(BitWidth(256), 9);
}

}  // namespace
}  // namespace zm::parquet
