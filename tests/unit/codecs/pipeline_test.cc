// Unit tests of the decode pipeline (codecs/pipeline.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
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

// Stages write into buffers left by earlier decodes (of other sizes and
// contents, from other threads): every decode must still give exactly its
// own bytes, and a failed one must not leave its bytes for the next.
TEST(Pipeline, ReusedBuffersNeverLeakEarlierBytes) {
  auto chunk = [](size_t n, float base) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = base + float(i % 97);
    return std::string(reinterpret_cast<const char*>(v.data()), n * 4);
  };
  auto shuffle = [](const std::string& raw) {
    const size_t n = raw.size() / 4;
    std::string out(raw.size(), '\0');
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < 4; ++j) out[j * n + i] = raw[i * 4 + j];
    return out;
  };
  CodecConfig sh = Id("shuffle");
  sh.numbers["elementsize"] = 4;
  auto big = MakeDecoder(Spec("<f4", {64, 1024}, {sh, Id("zlib")}));
  auto small = MakeDecoder(Spec("<f4", {10, 100}, {sh, Id("zlib")}));
  auto transposed = MakeDecoder(Spec("<f4", {100, 10}, {Id("zlib")}, 'F'));
  const std::string a = chunk(64 * 1024, 1.0f), b = chunk(64 * 1024, 5000.0f), c = chunk(1000, -7.0f);
  for (int round = 0; round < 3; ++round) {
    EXPECT_TRUE(*big->Decode(testing::Zlib(shuffle(a))) == a);
    EXPECT_TRUE(*small->Decode(testing::Zlib(shuffle(c))) == c);
    EXPECT_TRUE(*big->Decode(testing::Zlib(shuffle(b))) == b);
    // A stream that decodes short fails, whatever the buffer held before.
    EXPECT_FALSE(big->Decode(testing::Zlib(shuffle(a).substr(0, a.size() - 4096))).ok());
    std::string c_order(c.size(), '\0');  // c read as a 100x10 array stored in F order
    for (size_t i = 0; i < 100; ++i)
      for (size_t j = 0; j < 10; ++j) c_order.replace((i * 10 + j) * 4, 4, c, (j * 100 + i) * 4, 4);
    auto t = transposed->Decode(testing::Zlib(c));
    ASSERT_TRUE(t.ok());
    EXPECT_TRUE(*t == c_order);
  }
  // A small chunk decoded after big ones holds no more memory than its own.
  auto tiny = MakeDecoder(Spec("<f4", {10}, {Id("zlib")}));
  const std::string ten = chunk(10, 3.0f);
  for (int round = 0; round < 3; ++round) {
    EXPECT_TRUE(*big->Decode(testing::Zlib(shuffle(a))) == a);
    auto t = tiny->Decode(testing::Zlib(ten));
    ASSERT_TRUE(t.ok());
    EXPECT_TRUE(*t == ten);
    EXPECT_LE(t->capacity(), 2 * ten.size() + 4096);
  }
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const std::string& want = (i + t) % 2 ? a : b;
        auto r = big->Decode(testing::Zlib(shuffle(want)));
        if (!r.ok() || *r != want) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
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
