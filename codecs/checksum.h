// Checksums of the Zarr checksum codecs.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace zm {

// CRC-32C (Castagnoli, reflected, as in iSCSI and the Zarr v3 "crc32c"
// codec) of `data`; Crc32c("123456789") == 0xE3069283. Uses SSE4.2 when the
// CPU has it. `crc` continues an earlier call (0 to start).
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

// Fletcher-32 as HDF5 and numcodecs' "fletcher32" compute it: 16-bit words
// read big-endian (first byte high), an odd last byte padded with a zero, both
// sums started at 0; returns (sum2 << 16) | sum1. Stored after the data, little-endian.
uint32_t Fletcher32(std::string_view data);

}  // namespace zm
