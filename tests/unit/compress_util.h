// Compressors for tests: data made here with zlib and zstd, so decoders can
// be checked against the libraries' own encoders.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <string>
#include <string_view>

namespace zm::testing {

// Raw deflate with zlib's window_bits convention: 15 zlib, 31 gzip.
inline std::string Deflate(std::string_view in, int window_bits, int level = 6) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

inline std::string Zlib(std::string_view in, int level = 6) {
  uLongf n = compressBound(in.size());
  std::string out(n, '\0');
  EXPECT_EQ(compress2(reinterpret_cast<Bytef*>(out.data()), &n,
                      reinterpret_cast<const Bytef*>(in.data()), in.size(), level),
            Z_OK);
  out.resize(n);
  return out;
}

inline std::string Gzip(std::string_view in, int level = 6) { return Deflate(in, 15 + 16, level); }

inline std::string Zstd(std::string_view in, int level = 3) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level);
  EXPECT_FALSE(ZSTD_isError(n)) << ZSTD_getErrorName(n);
  out.resize(n);
  return out;
}

// A zstd frame as a streaming compressor writes it (python-zstandard and
// many tools): no content size in the header, blocks of uneven sizes from a
// flush after `split` bytes, with or without a checksum.
inline std::string ZstdStreamed(std::string_view in, size_t split, bool checksum = false) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum ? 1 : 0);
  ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
  std::string out(ZSTD_compressBound(in.size()) + 1024, '\0');
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  split = std::min(split, in.size());
  ZSTD_inBuffer ib1{in.data(), split, 0};
  size_t r;
  do {
    r = ZSTD_compressStream2(c, &ob, &ib1, ZSTD_e_flush);
  } while (!ZSTD_isError(r) && r != 0);
  ZSTD_inBuffer ib2{in.data() + split, in.size() - split, 0};
  do {
    r = ZSTD_compressStream2(c, &ob, &ib2, ZSTD_e_end);
  } while (!ZSTD_isError(r) && r != 0);
  EXPECT_FALSE(ZSTD_isError(r));
  ZSTD_freeCCtx(c);
  out.resize(ob.pos);
  return out;
}

}  // namespace zm::testing
