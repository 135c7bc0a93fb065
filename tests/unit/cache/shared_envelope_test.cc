#include "cache/shared_envelope.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace zm {
namespace {

const BlockKey kKey{0x1122334455667788ull, 0x99aabbccddeeff00ull};
const std::string kSecret = "0123456789abcdef-secret";

std::string Bytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) % 251);
  return s;
}

// Opens and joins every value of one block; the first fault, or the block.
EnvelopeFault OpenAll(const EnvelopeSealer& sealer, const BlockKey& key,
                      const std::vector<std::string>& values, std::string* block) {
  std::vector<EnvelopePart> parts(values.size());
  for (size_t i = 0; i < values.size(); ++i)
    if (auto f = sealer.Open(key, static_cast<uint32_t>(i), values[i], &parts[i]); f != EnvelopeFault::kNone)
      return f;
  return JoinParts(parts, block);
}

TEST(SharedEnvelope, RoundTripsOneAndManyParts) {
  EnvelopeSealer sealer(kSecret);
  for (size_t n : {size_t{0}, size_t{1}, size_t{1000}, size_t{4096}, size_t{10'001}}) {
    const std::string data = Bytes(n);
    auto values = sealer.Seal(kKey, data, 4096);
    EXPECT_EQ(values.size(), std::max<size_t>(1, (n + 4095) / 4096)) << n;
    for (const auto& v : values) EXPECT_LE(v.size(), 4096 + kEnvelopeHeaderBytes);
    std::string back;
    ASSERT_EQ(OpenAll(sealer, kKey, values, &back), EnvelopeFault::kNone) << n;
    EXPECT_EQ(back, data);
  }
}

TEST(SharedEnvelope, RefusesWhatItDidNotSeal) {
  EnvelopeSealer sealer(kSecret);
  const std::string data = Bytes(3000);
  const std::string good = sealer.Seal(kKey, data, 1 << 20)[0];
  EnvelopePart part;
  // Garbage, truncated, empty.
  EXPECT_EQ(sealer.Open(kKey, 0, "", &part), EnvelopeFault::kMalformed);
  EXPECT_EQ(sealer.Open(kKey, 0, std::string(good.size(), 'x'), &part), EnvelopeFault::kMalformed);
  EXPECT_EQ(sealer.Open(kKey, 0, good.substr(0, 50), &part), EnvelopeFault::kMalformed);
  EXPECT_EQ(sealer.Open(kKey, 0, good.substr(0, good.size() - 1), &part), EnvelopeFault::kWrongLength);
  EXPECT_EQ(sealer.Open(kKey, 0, good + "x", &part), EnvelopeFault::kWrongLength);
  // Another block's value under this key, or another part's.
  EXPECT_EQ(sealer.Open(BlockKey{kKey.hi, kKey.lo + 1}, 0, good, &part), EnvelopeFault::kWrongKey);
  EXPECT_EQ(sealer.Open(kKey, 1, good, &part), EnvelopeFault::kWrongKey);
  // One flipped bit: of the data, a field, the nonce, the tag, the HMAC.
  for (size_t at : {good.size() - 1, size_t{kEnvelopeHeaderBytes}, size_t{30}, size_t{70}, size_t{84},
                    size_t{100}}) {
    std::string bad = good;
    bad[at] ^= 1;
    EXPECT_NE(sealer.Open(kKey, 0, bad, &part), EnvelopeFault::kNone) << at;
  }
  // Sealed under another key; sealed without a key.
  EXPECT_EQ(sealer.Open(kKey, 0, EnvelopeSealer("another key, 16+ bytes").Seal(kKey, data, 1 << 20)[0], &part),
            EnvelopeFault::kMac);
  EXPECT_EQ(sealer.Open(kKey, 0, EnvelopeSealer("").Seal(kKey, data, 1 << 20)[0], &part),
            EnvelopeFault::kUnsigned);
  EXPECT_EQ(sealer.Open(kKey, 0, good, &part), EnvelopeFault::kNone);
}

TEST(SharedEnvelope, ForgedWellFormedValueWithRightChecksumIsRefused) {
  // A writer without the key can build a value that names the block and
  // whose checksum matches; only the MAC stops it.
  EnvelopeSealer keyless("");
  EnvelopeSealer sealer(kSecret);
  std::string forged = keyless.Seal(kKey, std::string(3000, 'E'), 1 << 20)[0];
  forged[4] = 1;  // claims to carry a MAC; the MAC field stays zero
  EnvelopePart part;
  EXPECT_EQ(sealer.Open(kKey, 0, forged, &part), EnvelopeFault::kMac);
  // The unauthenticated tier believes the checksum (that is its opt-out).
  EXPECT_EQ(keyless.Open(kKey, 0, keyless.Seal(kKey, "abc", 100)[0], &part), EnvelopeFault::kNone);
}

TEST(SharedEnvelope, DataIsAuthenticatedNotOnlyItsHeader) {
  // Two sealings of blocks of one length under one key: each header's HMAC
  // verifies, so only the data's own tag can tell the other's bytes apart.
  EnvelopeSealer sealer(kSecret);
  const std::string a = sealer.Seal(kKey, std::string(5000, 'a'), 1 << 20)[0];
  const std::string b = sealer.Seal(kKey, std::string(5000, 'b'), 1 << 20)[0];
  const std::string spliced = a.substr(0, kEnvelopeHeaderBytes) + b.substr(kEnvelopeHeaderBytes);
  EnvelopePart part;
  EXPECT_EQ(sealer.Open(kKey, 0, spliced, &part), EnvelopeFault::kMac);
  // Every sealing draws a fresh nonce, and the data's tag (header bytes
  // 76..91) depends on it: the same bytes sealed twice get other tags.
  const std::string once = sealer.Seal(kKey, "same", 100)[0], again = sealer.Seal(kKey, "same", 100)[0];
  EXPECT_NE(once.substr(64, 12), again.substr(64, 12));
  EXPECT_NE(once.substr(76, 16), again.substr(76, 16));
  // A value of the older layout is not an envelope of this one.
  std::string older = a;
  older[3] = '1';
  EXPECT_EQ(sealer.Open(kKey, 0, older, &part), EnvelopeFault::kMalformed);
}

TEST(SharedEnvelope, PartsMustTileTheBlock) {
  EnvelopeSealer sealer(kSecret);
  const std::string data = Bytes(10'000);
  auto values = sealer.Seal(kKey, data, 4096);
  ASSERT_EQ(values.size(), 3u);
  std::vector<EnvelopePart> parts(3);
  for (uint32_t i = 0; i < 3; ++i) ASSERT_EQ(sealer.Open(kKey, i, values[i], &parts[i]), EnvelopeFault::kNone);
  std::string block;
  EXPECT_EQ(JoinParts({parts[0], parts[1]}, &block), EnvelopeFault::kWrongLength);
  EXPECT_EQ(JoinParts({parts[0], parts[1], parts[1]}, &block), EnvelopeFault::kWrongLength);
  // A part of another sealing of the same key with other sizes.
  auto other = sealer.Seal(kKey, Bytes(9000), 4096);
  EnvelopePart foreign;
  ASSERT_EQ(sealer.Open(kKey, 2, other[2], &foreign), EnvelopeFault::kNone);
  EXPECT_EQ(JoinParts({parts[0], parts[1], foreign}, &block), EnvelopeFault::kWrongLength);
  EXPECT_EQ(JoinParts({parts[2], parts[0], parts[1]}, &block), EnvelopeFault::kNone);
  EXPECT_EQ(block, data);
}

}  // namespace
}  // namespace zm
