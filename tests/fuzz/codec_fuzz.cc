// One codec (ZM_FUZZ_CODEC: "zlib", "gzip", "zstd" or "blosc") on arbitrary
// bytes with a bounded output, then a round trip: the input compressed by
// the library's own encoder must decode to itself, and the output limit
// must hold to the byte.
#include <blosc.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <memory>
#include <string>

#include "base/units.h"
#include "codecs/codec.h"
#include "tests/fuzz/fuzz_util.h"

using zm::fuzz::Check;
using zm::fuzz::Deflate;

namespace {

constexpr std::string_view kCodec = ZM_FUZZ_CODEC;

std::string Compress(std::string_view in) {
  if (kCodec == "zlib") return Deflate(in, 15);
  if (kCodec == "gzip") return Deflate(in, 15 + 16);
  std::string out;
  if (kCodec == "zstd") {
    static ZSTD_CCtx* cctx = ZSTD_createCCtx();  // reused: creating one costs more than compressing
    out.resize(ZSTD_compressBound(in.size()));
    size_t n = ZSTD_compressCCtx(cctx, out.data(), out.size(), in.data(), in.size(), 3);
    Check(!ZSTD_isError(n));
    out.resize(n);
  } else {
    // Vary the type size and shuffle with the input, as arrays would.
    int typesize = in.empty() ? 1 : 1 << (static_cast<uint8_t>(in[0]) % 4);
    int shuffle = in.empty() ? 0 : static_cast<uint8_t>(in[0]) / 4 % 3;
    out.resize(in.size() + BLOSC_MAX_OVERHEAD);
    int n = blosc_compress_ctx(5, shuffle, typesize, in.size(), in.data(), out.data(), out.size(),
                               "lz4", 0, 1);
    Check(n > 0);
    out.resize(static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zm;
  static const std::unique_ptr<Codec> codec = std::move(MakeCodec(kCodec)).value();
  constexpr uint64_t kLimit = 1_MiB;
  std::string_view in = fuzz::AsText(data, size);

  auto r = codec->Decode(in, kLimit);
  if (r.ok()) {
    Check(r->size() <= kLimit);
  } else {
    Code c = r.status().code();
    Check(c == Code::kCorruption || c == Code::kOutOfRange);
  }

  std::string packed = Compress(in);
  auto back = codec->Decode(packed, size);
  Check(back.ok() && *back == in);
  if (size > 0) {
    auto over = codec->Decode(packed, size - 1);
    Check(!over.ok() && over.status().code() == Code::kOutOfRange);
  }
  return 0;
}
