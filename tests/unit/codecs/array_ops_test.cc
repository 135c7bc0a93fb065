// Unit tests of codecs/array_ops.h: unshuffling and permuting axes.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "codecs/array_ops.h"

namespace zm {
namespace {

TEST(ArrayOps, UnshuffleMatchesDefinition) {
  std::mt19937 rng(7);
  for (size_t es : {1, 2, 3, 4, 5, 8, 16, 17}) {
    for (size_t n : {size_t{0}, size_t{1}, es * 15, es * 16, es * 16 + 1, es * 100 + 3, es * 1000}) {
      std::string shuffled(n, '\0');
      for (auto& c : shuffled) c = char(rng());
      std::string want(n, '\0'), got(n, '\0');
      size_t count = n / es;
      for (size_t i = 0; i < count; ++i)
        for (size_t j = 0; j < es; ++j) want[i * es + j] = shuffled[j * count + i];
      for (size_t k = count * es; k < n; ++k) want[k] = shuffled[k];
      Unshuffle(shuffled.data(), got.data(), n, es);
      EXPECT_EQ(got, want) << "es " << es << " n " << n;
    }
  }
}

TEST(ArrayOps, PermuteAxes) {
  // in: shape [2, 3, 4], out axis perm[i] = in axis i.
  std::vector<uint64_t> in_shape{2, 3, 4};
  std::vector<size_t> perm{1, 2, 0};  // out shape [4, 2, 3]
  std::vector<uint16_t> in(24), out(24);
  for (size_t i = 0; i < 24; ++i) in[i] = uint16_t(i);
  PermuteAxes(reinterpret_cast<const char*>(in.data()), reinterpret_cast<char*>(out.data()), in_shape, perm, 2);
  for (size_t a = 0; a < 2; ++a)
    for (size_t b = 0; b < 3; ++b)
      for (size_t c = 0; c < 4; ++c) {
        // in[a][b][c] lands at out[c][a][b].
        EXPECT_EQ(out[c * 6 + a * 3 + b], in[a * 12 + b * 4 + c]);
      }
}

}  // namespace
}  // namespace zm
