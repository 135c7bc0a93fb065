// Unit tests of base/base64.h: decoding, against an encoder of the test's own.
#include <gtest/gtest.h>

#include <string>

#include "base/base64.h"
#include "tests/unit/base64_encode.h"
#include "tests/unit/fake_origin.h"

namespace zm {
namespace {

using testing::RandomBytes;
using testing::EncodeBase64;

// ---- base64 ------------------------------------------------------------------------

TEST(Base64, RoundTripsLengths0To10) {
  for (size_t n = 0; n <= 10; ++n) {
    for (uint32_t seed = 1; seed <= 5; ++seed) {
      std::string bytes = RandomBytes(n, seed * 100 + n);
      for (bool pad : {true, false}) {
        std::string enc = EncodeBase64(bytes, pad);
        auto dec = DecodeBase64(enc);
        ASSERT_TRUE(dec.ok()) << "n=" << n << " pad=" << pad << " '" << enc
                              << "': " << dec.status().ToString();
        EXPECT_EQ(*dec, bytes) << "n=" << n << " pad=" << pad << " '" << enc << "'";
      }
    }
  }
}

TEST(Base64, KnownVectors) {
  auto d = [](std::string_view s) {
    auto r = DecodeBase64(s);
    EXPECT_TRUE(r.ok()) << s << ": " << r.status().ToString();
    return r.ok() ? *r : std::string("<error>");
  };
  EXPECT_EQ(d(""), "");
  EXPECT_EQ(d("Zg=="), "f");
  EXPECT_EQ(d("Zm8="), "fo");
  EXPECT_EQ(d("Zm9v"), "foo");
  EXPECT_EQ(d("Zm9vYg"), "foob");
  EXPECT_EQ(d("Zm9vYmE"), "fooba");
  EXPECT_EQ(d("Zm9vYmFy"), "foobar");
  EXPECT_EQ(d("+/+/"), "\xFB\xFF\xBF");
}

TEST(Base64, Rejects) {
  for (const char* s : {"Z", "Zm9vY", "Zg=", "Zg===", "=", "==", "Zm9v=", "Zm 9v", "Zm9v\n",
                        "Zm-v", "Zm_v", "Z=g=", "Zm9v!"}) {
    auto r = DecodeBase64(s);
    EXPECT_FALSE(r.ok()) << "'" << s << "' decoded";
    if (!r.ok()) { EXPECT_EQ(r.status().code(), Code::kInvalidArgument); }
  }
}

}  // namespace
}  // namespace zm

namespace zm {
namespace {

TEST(EncodeBase64, RoundTripsEveryLength) {
  EXPECT_EQ(zm::EncodeBase64(""), "");
  EXPECT_EQ(zm::EncodeBase64("f"), "Zg==");
  EXPECT_EQ(zm::EncodeBase64("fo"), "Zm8=");
  EXPECT_EQ(zm::EncodeBase64("foo"), "Zm9v");
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    bytes += char(i * 37);
    auto back = DecodeBase64(zm::EncodeBase64(bytes));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, bytes);
  }
}

}  // namespace
}  // namespace zm
