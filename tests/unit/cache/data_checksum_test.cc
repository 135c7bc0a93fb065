// Unit tests of cache/data_checksum.h: the dispatched XXH3 gives the values
// of the portable XXH3 (compiled into this test), in one piece or many.
#include "cache/data_checksum.h"

#include <gtest/gtest.h>

#define XXH_INLINE_ALL  // the portable code, not the library's dispatch
#include <xxhash.h>

#include <algorithm>
#include <string>

#include "base/units.h"

#include "tests/unit/fake_origin.h"

namespace zm {
namespace {

TEST(DataChecksum, IsXxh3OfEverySizeWholeOrInPieces) {
  const std::string data = testing::RandomBytes(3_MiB + 17, 5);
  for (size_t n : {size_t{0}, size_t{1}, size_t{16}, size_t{240}, size_t{241}, size_t{4095}, size_t{65536},
                   size_t{1_MiB}, data.size()}) {
    const std::string_view part(data.data(), n);
    const uint64_t want = XXH3_64bits(part.data(), part.size());
    EXPECT_EQ(DataChecksum(part), want) << n << " bytes";
    DataChecksummer pieces;
    for (size_t at = 0; at < n; at += 128_KiB + 3) pieces.Update(part.data() + at, std::min(n - at, 128_KiB + 3));
    EXPECT_EQ(pieces.Digest(), want) << n << " bytes in pieces";
  }
  EXPECT_NE(DataChecksum("a"), DataChecksum("b"));
}

}  // namespace
}  // namespace zm
