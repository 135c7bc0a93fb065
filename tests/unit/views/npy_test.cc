// Unit tests of views/npy.h: the .npy header, against bytes numpy writes.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "views/npy.h"
#include "tests/unit/views/data_type.h"

namespace zm {
namespace {

using testing::Dt;

// What numpy.save writes before the data (numpy 1.24).
std::string NumpyHeader(const std::string& dict) {
  std::string h = std::string("\x93NUMPY\x01\x00", 8) + "v" + std::string(1, '\0') + dict;
  h.append(127 - h.size(), ' ');
  return h + "\n";
}

TEST(NpyHeader, SameBytesAsNumpy) {
  EXPECT_EQ(NpyHeader(Dt('f', 4), {12, 46, 91}),
            NumpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (12, 46, 91), }"));
  EXPECT_EQ(NpyHeader(Dt('i', 2, true), {5}),
            NumpyHeader("{'descr': '>i2', 'fortran_order': False, 'shape': (5,), }"));
  EXPECT_EQ(NpyHeader(Dt('u', 1), {}),
            NumpyHeader("{'descr': '|u1', 'fortran_order': False, 'shape': (), }"));
  EXPECT_EQ(NpyHeader(Dt('S', 8), {4}),
            NumpyHeader("{'descr': '|S8', 'fortran_order': False, 'shape': (4,), }"));
  EXPECT_EQ(NpyHeader(Dt('M', 8, false, "ns"), {2, 3}),
            NumpyHeader("{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (2, 3), }"));
  EXPECT_EQ(NpyHeader(Dt('b', 1), {3}),
            NumpyHeader("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }"));
}

TEST(NpyHeader, DataIs64ByteAlignedAndLongHeadersUseVersion2) {
  for (size_t nd : {1, 7, 20, 33}) {
    std::vector<uint64_t> shape(nd, 123456789);
    std::string h = NpyHeader(Dt('f', 8, true), shape);
    EXPECT_EQ(h.size() % 64, 0u);
    EXPECT_EQ(h.back(), '\n');
    EXPECT_EQ(h[6], 1);
    uint16_t len = static_cast<uint8_t>(h[8]) | static_cast<uint8_t>(h[9]) << 8;
    EXPECT_EQ(len + 10u, h.size());
  }
  std::vector<uint64_t> huge(30000, 7);
  std::string h = NpyHeader(Dt('f', 4), huge);
  EXPECT_EQ(h[6], 2);
  EXPECT_EQ(h.size() % 64, 0u);
  uint32_t len = 0;
  for (int i = 0; i < 4; ++i) len |= uint32_t{static_cast<uint8_t>(h[8 + i])} << (8 * i);
  EXPECT_EQ(len + 12u, h.size());
}

}  // namespace
}  // namespace zm
