// Unit tests of codecs/codec.h: round trips against data compressed here with the
// libraries themselves and vectors encoded by numcodecs, corrupt input, the
// output guard, unknown ids.
#include <blosc.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <atomic>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "codecs/codec.h"
#include "tests/unit/codecs/codec_util.h"
#include "tests/unit/compress_util.h"
#include "tests/unit/test_data.h"

namespace zm {
namespace {

using ::testing::HasSubstr;
using testing::Gzip;
using testing::Zlib;
using testing::Zstd;
using testing::ZstdStreamed;
using testing::Make;
using testing::Inputs;
using testing::ExpectRoundTrip;
using testing::ExpectCorrupt;
using testing::ExpectTooLarge;

std::string Blosc(std::string_view in, int typesize, int shuffle, const char* compressor,
                  int clevel = 5) {
  std::string out(in.size() + BLOSC_MAX_OVERHEAD, '\0');
  int n = blosc_compress_ctx(clevel, shuffle, typesize, in.size(), in.data(), out.data(),
                             out.size(), compressor, 0, 1);
  EXPECT_GT(n, 0) << compressor;
  out.resize(n > 0 ? size_t(n) : 0);
  return out;
}

// ---- lookup ---------------------------------------------------------------------

TEST(MakeCodec, KnownIds) {
  for (const char* id : {"zlib", "gzip", "zstd", "blosc"}) {
    auto c = Make(id);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->id(), id);
  }
}

TEST(MakeCodec, UnknownIdIsUnsupportedAndNamed) {
  for (const char* id : {"lzma", "snappy", "", "ZLIB", "zlib ", "numcodecs.zlib"}) {
    auto r = MakeCodec(id);
    ASSERT_FALSE(r.ok()) << "'" << id << "'";
    EXPECT_EQ(r.status().code(), Code::kUnsupported);
    EXPECT_THAT(r.status().message(), HasSubstr("'" + std::string(id) + "'"));
  }
}

// ---- zlib / gzip ------------------------------------------------------------------

TEST(Zlib, RoundTrip) {
  auto c = Make("zlib");
  int i = 0;
  for (const auto& in : Inputs()) {
    for (int level : {1, 9}) ExpectRoundTrip(*c, Zlib(in, level), in, "input " + std::to_string(i));
    ++i;
  }
}

TEST(Gzip, RoundTrip) {
  auto c = Make("gzip");
  int i = 0;
  for (const auto& in : Inputs()) {
    for (int level : {1, 9}) ExpectRoundTrip(*c, Gzip(in, level), in, "input " + std::to_string(i));
    ++i;
  }
}

TEST(Gzip, RejectsZlibFramingAndViceVersa) {
  std::string data = Inputs()[2];
  ExpectCorrupt(*Make("gzip"), Zlib(data), 1 << 30, "zlib data given to gzip");
  ExpectCorrupt(*Make("zlib"), Gzip(data), 1 << 30, "gzip data given to zlib");
}

TEST(Zlib, CorruptInputFails) {
  auto c = Make("zlib");
  std::string data = Inputs()[3];
  std::string z = Zlib(data);
  ExpectCorrupt(*c, "", 1 << 30, "empty");
  ExpectCorrupt(*c, "not zlib at all", 1 << 30, "garbage");
  for (size_t cut : {size_t{1}, size_t{2}, z.size() / 2, z.size() - 1})
    ExpectCorrupt(*c, std::string_view(z).substr(0, cut), 1 << 30, "cut at " + std::to_string(cut));
  std::string bad = z;
  bad[bad.size() - 2] ^= 0x10;  // the Adler-32 trailer
  ExpectCorrupt(*c, bad, 1 << 30, "bad checksum");
}

TEST(Gzip, CorruptInputFails) {
  auto c = Make("gzip");
  std::string data = Inputs()[3];
  std::string z = Gzip(data);
  for (size_t cut : {size_t{1}, size_t{10}, z.size() / 2, z.size() - 1})
    ExpectCorrupt(*c, std::string_view(z).substr(0, cut), 1 << 30, "cut at " + std::to_string(cut));
  std::string bad = z;
  bad[bad.size() - 6] ^= 0x10;  // the CRC-32 trailer
  ExpectCorrupt(*c, bad, 1 << 30, "bad crc");
}

TEST(Zlib, MaxOutputGuard) {
  auto c = Make("zlib");
  std::string data(1 << 20, 'a');
  std::string z = Zlib(data, 9);
  EXPECT_TRUE(c->Decode(z, data.size()).ok()) << "exactly the limit is fine";
  ExpectTooLarge(*c, z, data.size() - 1, "one byte over");
  ExpectTooLarge(*c, z, 1000, "far over");
  ExpectTooLarge(*c, z, 0, "zero");
  // A bomb stops early, without inflating everything first.
  std::string bomb = Zlib(std::string(64 << 20, '\0'), 9);
  auto r = c->Decode(bomb, 1 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("larger than"));
}

TEST(Gzip, MaxOutputGuard) {
  auto c = Make("gzip");
  std::string data(1 << 20, 'b');
  std::string z = Gzip(data, 9);
  EXPECT_TRUE(c->Decode(z, data.size()).ok());
  ExpectTooLarge(*c, z, data.size() - 1, "one byte over");
}

// ---- zstd ---------------------------------------------------------------------------

TEST(Zstd, RoundTrip) {
  auto c = Make("zstd");
  int i = 0;
  for (const auto& in : Inputs()) {
    for (int level : {1, 19}) ExpectRoundTrip(*c, Zstd(in, level), in, "input " + std::to_string(i));
    ++i;
  }
}

// numcodecs' streaming zstd and other writers leave the content size out.
TEST(Zstd, RoundTripUnknownContentSize) {
  auto c = Make("zstd");
  int i = 0;
  for (const auto& in : Inputs()) {
    for (bool checksum : {true, false}) {
      for (size_t split : {size_t{0}, size_t{1000}, in.size() / 3}) {
        std::string z = ZstdStreamed(in, split, checksum);
        ASSERT_EQ(ZSTD_getFrameContentSize(z.data(), z.size()), ZSTD_CONTENTSIZE_UNKNOWN);
        ExpectRoundTrip(*c, z, in,
                        "input " + std::to_string(i) + " split " + std::to_string(split) +
                            (checksum ? " with checksum" : " without checksum"));
      }
    }
    ++i;
  }
}

TEST(Zstd, CorruptInputFails) {
  auto c = Make("zstd");
  std::string data = Inputs()[3];
  std::string z = Zstd(data);
  ExpectCorrupt(*c, "", 1 << 30, "empty");
  ExpectCorrupt(*c, "definitely not zstd", 1 << 30, "garbage");
  for (size_t cut : {size_t{4}, size_t{6}, z.size() / 2, z.size() - 1})
    ExpectCorrupt(*c, std::string_view(z).substr(0, cut), 1 << 30, "cut at " + std::to_string(cut));
  std::string streamed = ZstdStreamed(data, 1000, true);
  for (size_t cut : {size_t{6}, streamed.size() / 2, streamed.size() - 1})
    ExpectCorrupt(*c, std::string_view(streamed).substr(0, cut), 1 << 30,
                  "streamed, cut at " + std::to_string(cut));
  std::string bad = streamed;
  bad[bad.size() - 2] ^= 0x44;  // the XXH64 checksum
  ExpectCorrupt(*c, bad, 1 << 30, "bad checksum");
}

TEST(Zstd, MaxOutputGuard) {
  auto c = Make("zstd");
  std::string data(1 << 20, 'z');
  std::string z = Zstd(data);
  EXPECT_TRUE(c->Decode(z, data.size()).ok());
  ExpectTooLarge(*c, z, data.size() - 1, "known size, one byte over");
  std::string s = ZstdStreamed(data, 1000, false);
  ExpectTooLarge(*c, s, 100'000, "unknown size, over");
  // A bomb whose header claims a huge size is refused before allocating.
  std::string bomb = Zstd(std::string(64 << 20, '\0'), 19);
  auto r = c->Decode(bomb, 1 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("larger than"));
}

// A frame's content size is a claim. 17 bytes claiming 32 GiB under a
// limit that allows it must fail as corrupt, quickly, without allocating
// the claimed size first.
TEST(Zstd, ContentSizeClaimIsNotAllocated) {
  auto c = Make("zstd");
  for (uint64_t claim : {uint64_t{32} << 30, uint64_t{100} << 20, uint64_t{300} << 10}) {
    SCOPED_TRACE(claim);
    std::string frame("\x28\xB5\x2F\xFD\xE0", 5);  // single segment, 8-byte size
    for (int i = 0; i < 8; ++i) frame += static_cast<char>(claim >> (8 * i));
    frame += std::string("\x03\x00\x10", 3);  // the last block: 128 KiB ...
    frame += 'a';                              // ... of 'a'
    auto t0 = std::chrono::steady_clock::now();
    auto r = c->Decode(frame, uint64_t{64} << 30);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  }
  // The same frame telling the truth decodes.
  std::string frame("\x28\xB5\x2F\xFD\xE0", 5);
  for (int i = 0; i < 8; ++i) frame += static_cast<char>((uint64_t{128} << 10) >> (8 * i));
  frame += std::string("\x03\x00\x10", 3);
  frame += 'a';
  auto r = c->Decode(frame, 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, std::string(128 << 10, 'a'));
}

// ---- blosc ----------------------------------------------------------------------------

TEST(Blosc, RoundTrip) {
  auto c = Make("blosc");
  int i = 0;
  for (const auto& in : Inputs()) {
    for (const char* comp : {"blosclz", "lz4", "zstd", "zlib"}) {
      for (int shuffle : {BLOSC_NOSHUFFLE, BLOSC_SHUFFLE, BLOSC_BITSHUFFLE}) {
        for (int typesize : {1, 4, 8}) {
          std::string what = "input " + std::to_string(i) + " " + comp + " shuffle " +
                             std::to_string(shuffle) + " typesize " + std::to_string(typesize);
          std::string enc = Blosc(in, typesize, shuffle, comp);
          ASSERT_FALSE(enc.empty()) << what;
          ExpectRoundTrip(*c, enc, in, what);
        }
      }
    }
    ++i;
  }
}

TEST(Blosc, CorruptInputFails) {
  auto c = Make("blosc");
  std::string data = Inputs()[3];
  std::string enc = Blosc(data, 4, BLOSC_SHUFFLE, "lz4");
  ExpectCorrupt(*c, "", 1 << 30, "empty");
  ExpectCorrupt(*c, "short", 1 << 30, "shorter than a header");
  ExpectCorrupt(*c, std::string_view(enc).substr(0, enc.size() - 1), 1 << 30, "truncated");
  ExpectCorrupt(*c, std::string_view(enc).substr(0, 16), 1 << 30, "header only");
  ExpectCorrupt(*c, enc + "x", 1 << 30, "trailing byte");
  // A header claiming more output than the compressed stream holds.
  std::string bad = enc;
  uint32_t nbytes;
  std::memcpy(&nbytes, bad.data() + 4, 4);
  nbytes += 1000;
  std::memcpy(bad.data() + 4, &nbytes, 4);
  ExpectCorrupt(*c, bad, 1 << 30, "nbytes inflated");
  // Garbage in the compressed payload (the lz4 streams after the header
  // and the block offsets).
  bad = enc;
  for (size_t i = 64; i < bad.size(); i += 7) bad[i] = static_cast<char>(bad[i] ^ 0xA5);
  auto r = c->Decode(bad, 1 << 30);
  if (r.ok()) { EXPECT_EQ(r->size(), data.size()) << "never a wrong-sized result"; }
}

TEST(Blosc, MaxOutputGuard) {
  auto c = Make("blosc");
  std::string data(1 << 20, 'q');
  std::string enc = Blosc(data, 1, BLOSC_NOSHUFFLE, "blosclz");
  EXPECT_TRUE(c->Decode(enc, data.size()).ok());
  ExpectTooLarge(*c, enc, data.size() - 1, "one byte over");
}

// Codecs are immutable and may be used from several threads.
TEST(Codecs, ConcurrentDecode) {
  auto z = Make("zstd");
  auto b = Make("blosc");
  std::string data = Inputs()[3];
  std::string ez = Zstd(data), eb = Blosc(data, 4, BLOSC_SHUFFLE, "lz4");
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto r1 = z->Decode(ez, data.size());
        auto r2 = b->Decode(eb, data.size());
        if (!r1.ok() || *r1 != data || !r2.ok() || *r2 != data) ++bad;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// ---- vectors encoded by numcodecs (tests/unit/make_codec_vectors.py) -----------------

// Every codecs/<id>__<what>.bin decodes with codec <id> to its .expect; the
// limit holds to the byte; a flipped or missing last byte never passes.
TEST(NumcodecsVectors, EveryCodecDecodes) {
  std::set<std::string> ids;
  const std::string dir = testing::DataDir("codecs");
  for (const std::string& name : testing::DataCases(dir, ".bin")) {
    SCOPED_TRACE(name);
    std::string id = name.substr(0, name.find("__"));
    ids.insert(id);
    std::string in, want;
    ASSERT_TRUE(testing::ReadDataFile(dir + "/" + name + ".bin", &in));
    ASSERT_TRUE(testing::ReadDataFile(dir + "/" + name + ".expect", &want));
    auto c = Make(id);
    ASSERT_NE(c, nullptr);
    ExpectRoundTrip(*c, in, want, name);
    if (!want.empty()) {
      auto over = c->Decode(in, want.size() - 1);
      EXPECT_FALSE(over.ok());
    }
    auto cut = c->Decode(std::string_view(in).substr(0, in.size() - 1), want.size());
    if (cut.ok()) { EXPECT_NE(*cut, want) << "a truncated input decoded to the same bytes"; }
  }
  EXPECT_EQ(ids, (std::set<std::string>{"adler32", "blosc", "bz2", "crc32", "crc32c", "fletcher32", "gzip",
                                         "lz4", "zlib", "zstd"}));
}

TEST(NumcodecsVectors, BloscEveryCompressorAndShuffle) {
  const std::string dir = testing::DataDir("codecs");
  int n = 0;
  for (const char* comp : {"blosclz", "lz4", "lz4hc", "zlib", "zstd", "snappy"}) {
    for (const char* sh : {"noshuffle", "shuffle", "bitshuffle"}) {
      std::string name = std::string("blosc__") + comp + "_" + sh, in, want;
      if (!testing::ReadDataFile(dir + "/" + name + ".bin", &in)) {
        EXPECT_STREQ(comp, "snappy") << name << " missing";
        continue;
      }
      ASSERT_TRUE(testing::ReadDataFile(dir + "/" + name + ".expect", &want));
      // Only decodable if this c-blosc has the compressor.
      char* lib = nullptr;
      char* ver = nullptr;
      if (blosc_get_complib_info(comp, &lib, &ver) < 0) {
        auto r = Make("blosc")->Decode(in, want.size());
        EXPECT_FALSE(r.ok()) << name;
        continue;
      }
      free(lib);
      free(ver);
      ExpectRoundTrip(*Make("blosc"), in, want, name);
      ++n;
    }
  }
  EXPECT_GE(n, 15);
}

TEST(Lz4, HeaderClaimIsCheckedBeforeAllocating) {
  std::string in;
  ASSERT_TRUE(testing::ReadDataFile(testing::DataDir("codecs") + "/lz4__floats.bin", &in));
  std::string lie = in;
  lie[3] = 0x40;  // claims 1 GiB
  ExpectCorrupt(*Make("lz4"), lie, uint64_t{4} << 30, "1 GiB claim");
  ExpectTooLarge(*Make("lz4"), lie, 1 << 20, "over the limit");
  ExpectCorrupt(*Make("lz4"), in.substr(0, 3), 1 << 20, "short header");
}

TEST(Bz2, CorruptAndTruncated) {
  std::string in;
  ASSERT_TRUE(testing::ReadDataFile(testing::DataDir("codecs") + "/bz2__text.bin", &in));
  ExpectCorrupt(*Make("bz2"), in.substr(0, in.size() / 2), 1 << 20, "truncated");
  ExpectCorrupt(*Make("bz2"), "BZh9garbage", 1 << 20, "garbage");
  ExpectCorrupt(*Make("bz2"), "", 1 << 20, "empty");
  ExpectTooLarge(*Make("bz2"), in, 100, "limit");
  // Two streams back to back decode as one.
  std::string want;
  ASSERT_TRUE(testing::ReadDataFile(testing::DataDir("codecs") + "/bz2__text.expect", &want));
  ExpectRoundTrip(*Make("bz2"), in + in, want + want, "two streams");
}

TEST(Codecs, DecodeIntoExactSizeOnly) {
  std::string data = Inputs()[3];
  struct Case {
    const char* id;
    std::string enc;
  } cases[] = {{"zlib", testing::Zlib(data)}, {"gzip", testing::Gzip(data)}, {"zstd", testing::Zstd(data)},
               {"zstd", testing::ZstdStreamed(data, 1000)}, {"blosc", Blosc(data, 4, BLOSC_SHUFFLE, "lz4")}};
  for (const auto& c : cases) {
    auto codec = Make(c.id);
    std::string out(data.size(), '\0');
    ASSERT_TRUE(codec->DecodeInto(c.enc, out.data(), out.size()).ok()) << c.id;
    EXPECT_TRUE(out == data) << c.id;
    for (size_t size : {data.size() - 1, data.size() + 1}) {
      std::string o(size, '\0');
      Status st = codec->DecodeInto(c.enc, o.data(), o.size());
      EXPECT_EQ(st.code(), Code::kCorruption) << c.id << " size " << size;
      EXPECT_THAT(st.message(), HasSubstr(c.id));
    }
    Status cut = codec->DecodeInto(std::string_view(c.enc).substr(0, c.enc.size() / 2), out.data(), out.size());
    EXPECT_EQ(cut.code(), Code::kCorruption) << c.id;
  }
}

}  // namespace
}  // namespace zm
