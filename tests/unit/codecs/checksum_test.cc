// Unit tests of codecs/checksum.h: known values, and corruption found by the
// checksum codecs.
#include <gtest/gtest.h>

#include <string>

#include "codecs/checksum.h"
#include "tests/unit/codecs/codec_util.h"
#include "tests/unit/test_data.h"

namespace zm {
namespace {

using testing::Make;
using testing::Inputs;
using testing::ExpectCorrupt;

TEST(Checksums, KnownValues) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  // Continuing a checksum over pieces gives the checksum of the whole.
  std::string s = Inputs()[2];
  EXPECT_EQ(Crc32c(s.substr(100), Crc32c(s.substr(0, 100))), Crc32c(s));
  // A known value of the HDF5 Fletcher-32 ("abcde": words 0x6162, 0x6364, 0x6500).
  uint32_t s1 = (0x6162 + 0x6364 + 0x6500) % 0xFFFF;
  uint32_t s2 = (0x6162 + (0x6162 + 0x6364) + s1) % 0xFFFF;
  EXPECT_EQ(Fletcher32("abcde"), (s2 << 16) | s1);
}

TEST(Checksums, CorruptionIsNamed) {
  for (const char* id : {"crc32c", "fletcher32", "crc32", "adler32"}) {
    std::string in, want;
    ASSERT_TRUE(testing::ReadDataFile(testing::DataDir("codecs") + "/" + id + "__text.bin", &in));
    std::string bad = in;
    bad[bad.size() / 2] ^= 0x04;
    ExpectCorrupt(*Make(id), bad, 1 << 20, std::string(id) + " flipped bit");
    ExpectCorrupt(*Make(id), "abc", 1 << 20, std::string(id) + " too short");
  }
}

}  // namespace
}  // namespace zm
