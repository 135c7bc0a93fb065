// Unit tests of views/netcdf.h: the NetCDF header, against bytes ncgen writes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "views/netcdf.h"

namespace zm {
namespace {

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

// The file ncgen writes for:
//   dimensions: x = 3 ; y = 2 ;
//   variables: short v(x, y) ; v:units = "m" ; v:scale = 1.5 ; int s ;
//   :title = "ab" ; :n = 7, 8 ;
//   data: v = 1, 2, 3, 4, 5, 6 ; s = 9 ;
// with -k "64-bit offset" (CDF-2) and -k cdf5.
const char* kNcgenCdf2 =
    "43444602000000000000000a000000020000000178000000000000030000000179000000000000020000000c00000002"
    "000000057469746c65000000000000020000000261620000000000016e00000000000004000000020000000700000008"
    "0000000b0000000200000001760000000000000200000000000000010000000c0000000200000005756e697473000000"
    "00000002000000016d000000000000057363616c6500000000000006000000013ff8000000000000000000030000000c"
    "00000000000000ec0000000173000000000000000000000000000000000000040000000400000000000000f800010002"
    "000300040005000600000009";
const char* kNcgenCdf5 =
    "4344460500000000000000000000000a0000000000000002000000000000000178000000000000000000000300000000"
    "000000017900000000000000000000020000000c000000000000000200000000000000057469746c6500000000000002"
    "00000000000000026162000000000000000000016e00000000000004000000000000000200000007000000080000000b"
    "00000000000000020000000000000001760000000000000000000002000000000000000000000000000000010000000c"
    "00000000000000020000000000000005756e6974730000000000000200000000000000016d0000000000000000000005"
    "7363616c650000000000000600000000000000013ff800000000000000000003000000000000000c0000000000000154"
    "000000000000000173000000000000000000000000000000000000000000000000000004000000000000000400000000"
    "0000016000010002000300040005000600000009";

std::string RemoveSpaces(const char* s) {
  std::string out;
  for (; *s; ++s)
    if (*s != ' ') out += *s;
  return out;
}

struct SmallFile {
  std::vector<NcDimension> dims{{"x", 3}, {"y", 2}};
  std::vector<NcAttribute> gattrs{NcTextAttribute("title", "ab"), NcIntAttribute("n", {7, 8})};
  std::vector<NcVariable> vars{
      {"v", {0, 1}, NcType::kShort, {NcTextAttribute("units", "m"), NcDoubleAttribute("scale", {1.5})}},
      {"s", {}, NcType::kInt, {}}};
  std::string data = Unhex("000100020003000400050006") + Unhex("00000009");
};

std::string WholeFile(const NcLayout& l, const std::string& data12, const std::string& data4) {
  std::string f = l.header;
  f.resize(l.file_size, '\0');
  std::memcpy(f.data() + l.begin[0], data12.data(), 12);
  std::memcpy(f.data() + l.begin[1], data4.data(), 4);
  return f;
}

TEST(NetcdfHeader, SameBytesAsNcgen) {
  SmallFile s;
  auto l2 = LayoutNetcdf(s.dims, s.gattrs, s.vars);
  ASSERT_TRUE(l2.ok()) << l2.status().ToString();
  EXPECT_EQ(l2->version, 2);
  EXPECT_EQ(l2->nbytes, (std::vector<uint64_t>{12, 4}));
  EXPECT_EQ(WholeFile(*l2, s.data.substr(0, 12), s.data.substr(12)), Unhex(RemoveSpaces(kNcgenCdf2)));
  auto l5 = LayoutNetcdf(s.dims, s.gattrs, s.vars, 5);
  ASSERT_TRUE(l5.ok());
  EXPECT_EQ(l5->version, 5);
  EXPECT_EQ(WholeFile(*l5, s.data.substr(0, 12), s.data.substr(12)), Unhex(RemoveSpaces(kNcgenCdf5)));
}

TEST(NetcdfHeader, ChoosesCdf5OnlyWhenNeeded) {
  SmallFile s;
  s.vars[1].type = NcType::kUShort;  // an unsigned type
  EXPECT_EQ(LayoutNetcdf(s.dims, s.gattrs, s.vars)->version, 5);
  s = SmallFile();
  s.gattrs.push_back(NcIntAttribute("big", {int64_t{1} << 40}));  // a 64-bit attribute
  EXPECT_EQ(s.gattrs.back().type, NcType::kInt64);
  EXPECT_EQ(LayoutNetcdf(s.dims, s.gattrs, s.vars)->version, 5);
  s = SmallFile();
  s.dims = {{"x", 1u << 20}, {"y", 1u << 10}};  // 2 GiB of shorts: fits CDF-2
  auto l = LayoutNetcdf(s.dims, s.gattrs, s.vars);
  EXPECT_EQ(l->version, 2);
  EXPECT_EQ(l->nbytes[0], uint64_t{2} << 30);
  s.dims = {{"x", 1u << 21}, {"y", 1u << 10}};  // 4 GiB: needs CDF-5
  l = LayoutNetcdf(s.dims, s.gattrs, s.vars);
  EXPECT_EQ(l->version, 5);
  EXPECT_EQ(l->begin[1], l->begin[0] + (uint64_t{4} << 30));
  EXPECT_EQ(l->file_size, l->begin[1] + 4);
}

TEST(NetcdfHeader, PadsOddSizesAndRejectsBadInput) {
  std::vector<NcDimension> dims{{"x", 3}};
  std::vector<NcVariable> vars{{"a", {0}, NcType::kByte, {}}, {"b", {0}, NcType::kChar, {}}};
  auto l = LayoutNetcdf(dims, {}, vars);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->begin[1] - l->begin[0], 4u);  // 3 bytes padded to 4
  EXPECT_EQ(l->file_size, l->begin[1] + 4);
  EXPECT_EQ(l->header.size() % 4, 0u);
  EXPECT_FALSE(LayoutNetcdf({{"x", 0}}, {}, {}).ok());
  EXPECT_FALSE(LayoutNetcdf({{"x", 1}, {"x", 2}}, {}, {}).ok());
  EXPECT_FALSE(LayoutNetcdf(dims, {}, {{"a", {1}, NcType::kByte, {}}}).ok());
  EXPECT_FALSE(LayoutNetcdf(dims, {}, {{"a", {0}, NcType::kByte, {}}, {"a", {0}, NcType::kByte, {}}}).ok());
  EXPECT_FALSE(LayoutNetcdf(dims, {NcTextAttribute("t", "1"), NcTextAttribute("t", "2")}, {}).ok());
}

TEST(NetcdfHeader, FillValueElementIsBigEndian) {
  std::string le = Unhex("0000c07f");  // NaN as <f4
  auto a = NcElementAttribute("_FillValue", NcType::kFloat, le, false);
  EXPECT_EQ(a.values, Unhex("7fc00000"));
  EXPECT_EQ(a.count(), 1u);
  EXPECT_EQ(NcElementAttribute("_FillValue", NcType::kShort, Unhex("fffe"), true).values, Unhex("fffe"));
}

}  // namespace
}  // namespace zm
