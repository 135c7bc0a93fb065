// Unit tests of base/units.h: parsing and formatting sizes, the size literals.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "base/status.h"
#include "base/units.h"

namespace zm {
namespace {

// ---- ParseSize -------------------------------------------------------------

uint64_t MustParse(std::string_view s) {
  auto r = ParseSize(s);
  EXPECT_TRUE(r.ok()) << "'" << s << "': " << r.status().ToString();
  return r.ok() ? *r : ~uint64_t{0};
}

void ExpectBadSize(std::string_view s) {
  auto r = ParseSize(s);
  EXPECT_FALSE(r.ok()) << "'" << s << "' parsed as " << (r.ok() ? *r : 0);
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << s;
    // The message quotes the input so a person can find it.
    EXPECT_NE(r.status().message().find("'" + std::string(s) + "'"), std::string::npos)
        << r.status().message();
  }
}

TEST(ParseSize, PlainNumbers) {
  EXPECT_EQ(MustParse("0"), 0u);
  EXPECT_EQ(MustParse("1"), 1u);
  EXPECT_EQ(MustParse("4096"), 4096u);
  EXPECT_EQ(MustParse("000123"), 123u);
  EXPECT_EQ(MustParse("123456789012"), 123456789012u);
}

TEST(ParseSize, Units) {
  EXPECT_EQ(MustParse("512K"), 512u * 1024);
  EXPECT_EQ(MustParse("64M"), 64u << 20);
  EXPECT_EQ(MustParse("20G"), uint64_t{20} << 30);
  EXPECT_EQ(MustParse("1T"), uint64_t{1} << 40);
  EXPECT_EQ(MustParse("3k"), 3u * 1024);
  EXPECT_EQ(MustParse("3m"), 3u << 20);
  EXPECT_EQ(MustParse("3g"), uint64_t{3} << 30);
  EXPECT_EQ(MustParse("3t"), uint64_t{3} << 40);
}

TEST(ParseSize, ByteSuffixes) {
  EXPECT_EQ(MustParse("100MB"), 100u << 20);
  EXPECT_EQ(MustParse("100mb"), 100u << 20);
  EXPECT_EQ(MustParse("100MiB"), 100u << 20);
  EXPECT_EQ(MustParse("100mib"), 100u << 20);
  EXPECT_EQ(MustParse("100MIB"), 100u << 20);
  EXPECT_EQ(MustParse("2KiB"), 2048u);
  EXPECT_EQ(MustParse("2Ki"), 2048u);
  EXPECT_EQ(MustParse("17B"), 17u);
  EXPECT_EQ(MustParse("17b"), 17u);
  EXPECT_EQ(MustParse("5 G"), uint64_t{5} << 30);
  EXPECT_EQ(MustParse("5 GiB"), uint64_t{5} << 30);
}

TEST(ParseSize, Decimals) {
  EXPECT_EQ(MustParse("1.5GiB"), uint64_t{3} << 29);
  EXPECT_EQ(MustParse("1.5G"), uint64_t{3} << 29);
  EXPECT_EQ(MustParse("0.5K"), 512u);
  EXPECT_EQ(MustParse("0.25M"), 256u * 1024);
  EXPECT_EQ(MustParse(".5K"), 512u);
  EXPECT_EQ(MustParse("2.K"), 2048u);
  EXPECT_EQ(MustParse("1.0"), 1u);
}

TEST(ParseSize, RejectsJunk) {
  for (const char* s : {"", " ", "K", "KiB", "abc", "1X", "1KK", "1KBB", "1iB", "10 iB",
                        "1Bi", "1.2.3", "1..2", ".", "1e3", "0x10", "inf", "nan", "1K ",
                        " 1", "1,5K", "1_000", "1 2", "12KiBs", "1P"}) {
    ExpectBadSize(s);
  }
}

TEST(ParseSize, RejectsNegative) {
  ExpectBadSize("-1");
  ExpectBadSize("-0");
  ExpectBadSize("-1K");
  ExpectBadSize("+1");
}

TEST(ParseSize, RejectsOverflow) {
  ExpectBadSize("18446744073709551616");   // 2^64
  ExpectBadSize("99999999999999999999999");
  ExpectBadSize("16777216T");               // 2^64
  ExpectBadSize("17179869184G");            // 2^64
  ExpectBadSize("17179869184GiB");
  ExpectBadSize("1" + std::string(400, '0'));  // beyond double's range
  // Just below the limit is fine and exact.
  EXPECT_EQ(MustParse("16777215T"), (uint64_t{16777215} << 40));
}

// A plain integer is a byte count: it must come back exactly, not rounded
// through a double.
TEST(ParseSize, LargeIntegersAreExact) {
  EXPECT_EQ(MustParse("9007199254740993"), uint64_t{9007199254740993ull});  // 2^53 + 1
  EXPECT_EQ(MustParse("18446744073709549999"), uint64_t{18446744073709549999ull});
}

// ---- FormatSize -------------------------------------------------------------

TEST(FormatSize, Bytes) {
  EXPECT_EQ(FormatSize(0), "0 B");
  EXPECT_EQ(FormatSize(17), "17 B");
  EXPECT_EQ(FormatSize(1023), "1023 B");
}

TEST(FormatSize, FractionalUnits) {
  EXPECT_EQ(FormatSize(1536), "1.5 KiB");
  EXPECT_EQ(FormatSize(uint64_t{3} << 29), "1.5 GiB");  // header example
  EXPECT_EQ(FormatSize((uint64_t{5} << 20) + (uint64_t{1} << 19)), "5.5 MiB");
}

// The header's own examples: "1.5 GiB", "512 KiB", "17 B".
TEST(FormatSize, WholeUnitsAsInHeader) {
  EXPECT_EQ(FormatSize(512 * 1024), "512 KiB");
  EXPECT_EQ(FormatSize(1024), "1 KiB");
  EXPECT_EQ(FormatSize(uint64_t{10} << 30), "10 GiB");
}

TEST(FormatSize, LargeValuesDoNotOverflowTheBuffer) {
  std::string s = FormatSize(std::numeric_limits<uint64_t>::max());
  EXPECT_NE(s.find("PiB"), std::string::npos) << s;
  EXPECT_EQ(FormatSize(uint64_t{1} << 50).substr(0, 1), "1") << FormatSize(uint64_t{1} << 50);
}

TEST(FormatSize, RoundTripsThroughParseSizeForWholeUnits) {
  for (uint64_t v : {uint64_t{1} << 10, uint64_t{3} << 20, uint64_t{7} << 30, uint64_t{2} << 40,
                     uint64_t{3} << 29}) {
    std::string s = FormatSize(v);
    auto r = ParseSize(s);
    ASSERT_TRUE(r.ok()) << s << ": " << r.status().ToString();
    EXPECT_EQ(*r, v) << s;
  }
}

TEST(Units, Literals) {
  EXPECT_EQ(4_KiB, 4096u);
  EXPECT_EQ(1_MiB, 1048576u);
  EXPECT_EQ(10_GiB, uint64_t{10} << 30);
}

}  // namespace
}  // namespace zm
