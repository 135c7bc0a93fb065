// Bytes-to-bytes codecs of Zarr chunks, looked up by numcodecs id or Zarr v3
// name: compressors ("zlib", "gzip", "bz2", "zstd", "lz4", "blosc") and
// checksums ("crc32c", "fletcher32", "crc32", "adler32": checked, then
// removed). Decoding only: the mount is read-only. Filters that need the
// array's data type (shuffle, delta, ...) live in the decode pipeline
// (codecs/pipeline.h).
//
// Thread-safety: Codec objects are immutable; Decode may be called from any
// thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/units.h"

namespace zm {

class Codec {
 public:
  virtual ~Codec() = default;
  virtual std::string_view id() const = 0;
  // Decodes `in`. Fails (never returns partial data): kCorruption for
  // corrupt or truncated input, kOutOfRange if the output would exceed
  // `max_output` bytes.
  virtual Result<std::string> Decode(std::string_view in, uint64_t max_output) const = 0;

  // Decodes `in`, which must decode to exactly `size` bytes, straight into
  // out[0, size): no allocation beyond the library's own state. kCorruption
  // (naming the codec) for corrupt input or any other decoded size; `out`
  // is then garbage. The default decodes with Decode and copies.
  virtual Status DecodeInto(std::string_view in, char* out, size_t size) const;
};

// The codec for an id above, or kUnsupported naming the id.
Result<std::unique_ptr<Codec>> MakeCodec(std::string_view id);

}  // namespace zm
