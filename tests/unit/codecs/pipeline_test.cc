// Unit tests of the decode pipeline (codecs/pipeline.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "codecs/pipeline.h"
#include "tests/unit/compress_util.h"

namespace zm {
namespace {

using ::testing::HasSubstr;

ChunkSpec Spec(const char* dtype, std::vector<uint64_t> shape, std::vector<CodecConfig> codecs,
               char order = 'C') {
  ChunkSpec s;
  s.dtype = ParseDataType(dtype).value();
  s.chunk_shape = std::move(shape);
  s.codecs = std::move(codecs);
  s.order = order;
  return s;
}

CodecConfig Id(std::string id) {
  CodecConfig c;
  c.id = std::move(id);
  return c;
}

std::unique_ptr<ChunkDecoder> MakeDecoder(ChunkSpec spec) {
  auto d = ChunkDecoder::Make(std::move(spec));
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? std::move(d).value() : nullptr;
}

TEST(Pipeline, NoCodecIsIdentityOfExactSize) {
  auto d = MakeDecoder(Spec("<i2", {2, 3}, {}));
  std::string raw(12, 'x');
  EXPECT_EQ(*d->Decode(raw), raw);
  auto r = d->Decode(raw + "y");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
}

TEST(Pipeline, ZlibAfterShuffle) {
  std::vector<float> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 280.0f + 0.5f * float(i % 37);
  std::string raw(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  std::string shuffled(raw.size(), '\0');
  for (size_t i = 0; i < v.size(); ++i)
    for (size_t j = 0; j < 4; ++j) shuffled[j * v.size() + i] = raw[i * 4 + j];
  CodecConfig sh = Id("shuffle");
  sh.numbers["elementsize"] = 4;
  auto d = MakeDecoder(Spec("<f4", {10, 100}, {sh, Id("zlib")}));
  auto r = d->Decode(testing::Zlib(shuffled));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(*r == raw);
  // The same bytes without the shuffle decode to something else: the filter ran.
  auto plain = MakeDecoder(Spec("<f4", {10, 100}, {Id("zlib")}));
  EXPECT_FALSE(*plain->Decode(testing::Zlib(shuffled)) == raw);
  // A chunk of the wrong decoded size is corrupt, naming the codec.
  auto bad = d->Decode(testing::Zlib(shuffled.substr(4)));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kCorruption);
  EXPECT_THAT(bad.status().message(), HasSubstr("zlib"));
}

TEST(Pipeline, OrderFBecomesC) {
  // A 2x3 array stored in F order: columns first.
  std::string f = {0, 3, 1, 4, 2, 5};
  auto d = MakeDecoder(Spec("|u1", {2, 3}, {}, 'F'));
  EXPECT_EQ(*d->Decode(f), std::string({0, 1, 2, 3, 4, 5}));
}

TEST(Pipeline, UnknownCodecIsUnsupportedAndNamed) {
  auto r = ChunkDecoder::Make(Spec("<f4", {4}, {Id("zfpy")}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_THAT(r.status().message(), HasSubstr("zfpy"));
}

TEST(Pipeline, FillChunk) {
  ChunkSpec s = Spec("<i2", {3}, {});
  EXPECT_EQ(MakeDecoder(s)->FillChunk(), std::string(6, '\0'));
  s.fill_element = std::string("\x01\x02", 2);
  EXPECT_EQ(MakeDecoder(s)->FillChunk(), std::string("\x01\x02\x01\x02\x01\x02", 6));
}

}  // namespace
}  // namespace zm
