// Every bytes-to-bytes codec of codecs/codec.h, the first input byte picking
// which: arbitrary bytes decode within the limit or fail as corrupt / too
// big; then the rest of the input, encoded by the codec's own library (or
// checksummed here), must decode to itself with the limit holding to the
// byte.
#include <blosc.h>
#include <bzlib.h>
#include <lz4.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "base/units.h"
#include "codecs/checksum.h"
#include "codecs/codec.h"
#include "tests/fuzz/fuzz_util.h"

using zm::fuzz::Check;
using zm::fuzz::Deflate;

namespace {

constexpr const char* kIds[] = {"zlib", "gzip", "bz2", "zstd", "lz4", "blosc", "crc32c", "fletcher32", "crc32", "adler32"};
constexpr size_t kNumIds = sizeof(kIds) / sizeof(kIds[0]);

std::string Le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = char(v >> (8 * i));
  return s;
}

std::string Encode(std::string_view id, std::string_view in) {
  const auto* b = reinterpret_cast<const Bytef*>(in.data());
  if (id == "zlib") return Deflate(in, 15, 1);
  if (id == "gzip") return Deflate(in, 31, 1);
  if (id == "crc32c") return std::string(in) + Le32(zm::Crc32c(in));
  if (id == "fletcher32") return std::string(in) + Le32(zm::Fletcher32(in));
  if (id == "crc32") return Le32(uint32_t(crc32_z(0, b, in.size()))) + std::string(in);
  if (id == "adler32") return Le32(uint32_t(adler32_z(1, b, in.size()))) + std::string(in);
  std::string out;
  if (id == "zstd") {
    out.resize(ZSTD_compressBound(in.size()));
    size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 1);
    Check(!ZSTD_isError(n));
    out.resize(n);
  } else if (id == "bz2") {
    unsigned n = unsigned(in.size() + in.size() / 100 + 700);
    out.resize(n);
    Check(BZ2_bzBuffToBuffCompress(out.data(), &n, const_cast<char*>(in.data()), unsigned(in.size()), 1, 0, 0) ==
          BZ_OK);
    out.resize(n);
  } else if (id == "lz4") {
    out = Le32(uint32_t(in.size()));
    out.resize(4 + size_t(LZ4_compressBound(int(in.size()))));
    int n = LZ4_compress_default(in.data(), out.data() + 4, int(in.size()), int(out.size() - 4));
    Check(n > 0 || in.empty());
    out.resize(4 + size_t(n));
  } else {  // blosc: shuffle and type size from the data, as arrays vary
    int typesize = in.empty() ? 1 : 1 << (static_cast<uint8_t>(in[0]) % 4);
    int shuffle = in.empty() ? 0 : static_cast<uint8_t>(in[0]) / 4 % 3;
    out.resize(in.size() + BLOSC_MAX_OVERHEAD);
    int n = blosc_compress_ctx(5, shuffle, typesize, in.size(), in.data(), out.data(), out.size(), "zstd", 0, 1);
    Check(n > 0);
    out.resize(size_t(n));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zm;
  if (size == 0) return 0;
  static std::unique_ptr<Codec> codecs[kNumIds];
  const size_t which = data[0] % kNumIds;
  if (!codecs[which]) codecs[which] = std::move(MakeCodec(kIds[which])).value();
  const Codec& codec = *codecs[which];
  std::string_view in = fuzz::AsText(data + 1, size - 1);
  constexpr uint64_t kLimit = 1_MiB;

  auto r = codec.Decode(in, kLimit);
  if (r.ok()) {
    Check(r->size() <= kLimit);
  } else {
    Code c = r.status().code();
    Check(c == Code::kCorruption || c == Code::kOutOfRange);
    Check(r.status().message().find(codec.id()) != std::string::npos);
  }

  std::string packed = Encode(kIds[which], in);
  auto back = codec.Decode(packed, in.size());
  Check(back.ok() && *back == in);
  if (!in.empty()) {
    auto over = codec.Decode(packed, in.size() - 1);
    Check(!over.ok() && over.status().code() == Code::kOutOfRange);
  }
  return 0;
}
