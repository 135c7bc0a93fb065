// Helpers shared by the fuzz targets.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace zm::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// A broken invariant is a finding: crash so that libFuzzer saves the input.
inline void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// `in` deflated with zlib at `level`: window_bits 15 is a zlib stream, 31
// a gzip member (what the round trips compare our decoders against).
inline std::string Deflate(std::string_view in, int window_bits, int level = 6) {
  z_stream zs{};
  Check(deflateInit2(&zs, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  Check(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace zm::fuzz
