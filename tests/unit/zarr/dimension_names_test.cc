// Unit tests of zarr/dimension_names.h: dimension names with group paths
// and names made NetCDF names.
#include <gtest/gtest.h>

#include "zarr/dimension_names.h"

namespace zm {
namespace {

TEST(DimensionNames, PathDropsLeadingSlash) {
  EXPECT_EQ(DimensionPath("/grp1/time"), "grp1/time");
  EXPECT_EQ(DimensionPath("grp1/time"), "grp1/time");
  EXPECT_EQ(DimensionPath("time"), "time");
  EXPECT_EQ(DimensionPath("/time"), "time");
}

TEST(DimensionNames, NetcdfNameKeepsValidNames) {
  for (const char* n : {"time", "lat_bnds", "a b", "x.y", "Δt"}) {
    EXPECT_TRUE(IsNetcdfName(n)) << n;
    EXPECT_EQ(NetcdfName(n), n);
  }
}

TEST(DimensionNames, NetcdfNameMakesInvalidNamesValid) {
  EXPECT_EQ(NetcdfName("a/b"), "a_b");
  EXPECT_EQ(NetcdfName("/a/b"), "a_b");
  EXPECT_EQ(NetcdfName(" x "), "_x_");
  EXPECT_EQ(NetcdfName(std::string("t\tab\x7f", 5)), "t_ab_");
  EXPECT_EQ(NetcdfName(""), "_");
  EXPECT_EQ(NetcdfName("/"), "_");
  for (const char* n : {"a/b", " x", "", "/", "\n"}) EXPECT_TRUE(IsNetcdfName(NetcdfName(n))) << n;
}

TEST(DimensionNames, GroupPathsResolveToTheGroupOrAnAncestor) {
  // kerchunk's spelling of a group's own dimension, with and without '/'.
  EXPECT_EQ(GroupDimensionName("grp1/time", "grp1"), "time");
  EXPECT_EQ(GroupDimensionName("/grp1/time", "grp1"), "time");
  // An ancestor's dimension, visible in a nested group by NetCDF's scoping.
  EXPECT_EQ(GroupDimensionName("g/x", "g/h"), "x");
  EXPECT_EQ(GroupDimensionName("/x", "g/h"), "x");
  EXPECT_EQ(GroupDimensionName("g/h/y", "g/h"), "y");
  EXPECT_EQ(GroupDimensionName("time", ""), "time");
  EXPECT_EQ(GroupDimensionName("/time", ""), "time");
}

TEST(DimensionNames, OtherPathsAreMadeValidNotResolved) {
  EXPECT_EQ(GroupDimensionName("other/x", "g"), "other_x");
  EXPECT_EQ(GroupDimensionName("g/h/y", "g"), "g_h_y");  // a child's, not visible in g
  EXPECT_EQ(GroupDimensionName("gg/x", "g"), "gg_x");    // not a path prefix
  EXPECT_EQ(GroupDimensionName("g/x", ""), "g_x");
  EXPECT_EQ(GroupDimensionName("g/", "g"), "g_");
}

}  // namespace
}  // namespace zm
