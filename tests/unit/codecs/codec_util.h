// Codec helpers shared by the codec and checksum tests: codecs by id, test
// inputs, and what decoding must give or refuse.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "codecs/codec.h"

namespace zm::testing {

inline std::unique_ptr<Codec> Make(std::string_view id) {
  auto r = MakeCodec(id);
  EXPECT_TRUE(r.ok()) << id << ": " << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

// Test inputs: empty, tiny, text, float-like arrays (what chunks hold),
// incompressible bytes, long runs.
inline std::vector<std::string> Inputs() {
  std::vector<std::string> out;
  out.push_back("");
  out.push_back("x");
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "sea surface temperature " + std::to_string(i) + "\n";
  out.push_back(text);
  std::vector<float> floats(100'000);
  for (size_t i = 0; i < floats.size(); ++i) floats[i] = 280.0f + 0.01f * float(i % 977);
  out.emplace_back(reinterpret_cast<const char*>(floats.data()), floats.size() * sizeof(float));
  std::mt19937 rng(1);
  std::string noise(300'001, '\0');
  for (auto& c : noise) c = static_cast<char>(rng());
  out.push_back(noise);
  out.push_back(std::string(3 << 20, '\0'));  // 3 MiB of zeros: many output buffers
  return out;
}

inline void ExpectRoundTrip(const Codec& codec, const std::string& encoded, const std::string& want,
                            const std::string& what) {
  auto r = codec.Decode(encoded, want.size());
  ASSERT_TRUE(r.ok()) << what << ": " << r.status().ToString();
  EXPECT_EQ(r->size(), want.size()) << what;
  EXPECT_TRUE(*r == want) << what;
}

// Decoding must fail: with kOutOfRange when the output would pass
// `max_output`, kCorruption for bad input.
inline void ExpectRefused(const Codec& codec, std::string_view encoded, uint64_t max_output,
                          const std::string& what, Code code) {
  auto r = codec.Decode(encoded, max_output);
  EXPECT_FALSE(r.ok()) << what << ": decoded " << r->size() << " bytes";
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), code) << what << ": " << r.status().ToString();
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr(std::string(codec.id()))) << "names the codec";
  }
}
inline void ExpectCorrupt(const Codec& codec, std::string_view encoded, uint64_t max_output,
                          const std::string& what) {
  ExpectRefused(codec, encoded, max_output, what, Code::kCorruption);
}
inline void ExpectTooLarge(const Codec& codec, std::string_view encoded, uint64_t max_output,
                           const std::string& what) {
  ExpectRefused(codec, encoded, max_output, what, Code::kOutOfRange);
}

}  // namespace zm::testing
