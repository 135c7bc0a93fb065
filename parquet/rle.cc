#include "parquet/rle.h"

namespace zm::parquet {
namespace {

Result<uint64_t> ReadVarint(std::string_view data, size_t* pos) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= data.size()) return InvalidArgument("truncated run header");
    uint8_t b = static_cast<uint8_t>(data[(*pos)++]);
    v |= uint64_t{b & 0x7Fu} << shift;
    if (!(b & 0x80)) return v;
  }
  return InvalidArgument("run header longer than 10 bytes");
}

void WriteVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

}  // namespace

int BitWidth(uint32_t max_value) {
  int w = 0;
  while (max_value) {
    ++w;
    max_value >>= 1;
  }
  return w;
}

Status DecodeRleHybrid(std::string_view data, int bit_width, size_t count, std::vector<uint32_t>* out) {
  out->clear();
  if (bit_width < 0 || bit_width > 32) return InvalidArgument("bit width " + std::to_string(bit_width));
  out->reserve(count);
  const size_t value_bytes = (bit_width + 7) / 8;
  size_t pos = 0;
  while (out->size() < count) {
    if (pos >= data.size())
      return InvalidArgument("the runs end after " + std::to_string(out->size()) + " of " + std::to_string(count) +
                             " values");
    ZM_ASSIGN_OR_RETURN(uint64_t header, ReadVarint(data, &pos));
    const size_t wanted = count - out->size();
    if (header & 1) {
      // Bit-packed: (header >> 1) groups of 8 values, least significant bit first.
      uint64_t groups = header >> 1;
      if (bit_width > 0 && groups > data.size() - pos)
        return InvalidArgument("a bit-packed run of " + std::to_string(groups) + " groups past the end");
      uint64_t bytes = groups * static_cast<uint64_t>(bit_width);
      if (bytes > data.size() - pos)
        return InvalidArgument("a bit-packed run of " + std::to_string(bytes) + " bytes past the end");
      const uint8_t* p = reinterpret_cast<const uint8_t*>(data.data() + pos);
      uint64_t n = std::min<uint64_t>(groups * 8, wanted);
      for (uint64_t i = 0; i < n; ++i) {
        uint64_t bit = i * bit_width;
        uint64_t v = 0;
        for (int b = 0; b < bit_width; ++b, ++bit) v |= uint64_t{(p[bit >> 3] >> (bit & 7)) & 1u} << b;
        out->push_back(static_cast<uint32_t>(v));
      }
      pos += bytes;
    } else {
      uint64_t run = header >> 1;
      if (value_bytes > data.size() - pos) return InvalidArgument("an RLE run's value past the end");
      uint32_t v = 0;
      for (size_t b = 0; b < value_bytes; ++b) v |= uint32_t{static_cast<uint8_t>(data[pos + b])} << (8 * b);
      pos += value_bytes;
      if (bit_width < 32 && (v >> bit_width) != 0)
        return InvalidArgument("an RLE run's value " + std::to_string(v) + " exceeds " + std::to_string(bit_width) + " bits");
      if (run == 0) return InvalidArgument("an empty RLE run");
      out->insert(out->end(), std::min<uint64_t>(run, wanted), v);
    }
  }
  return Status::Ok();
}

std::string EncodeRleHybrid(const std::vector<uint32_t>& values, int bit_width) {
  std::string out;
  const size_t value_bytes = (bit_width + 7) / 8;
  size_t i = 0;
  auto rle_run = [&](uint32_t v, size_t n) {
    WriteVarint(uint64_t{n} << 1, &out);
    for (size_t b = 0; b < value_bytes; ++b) out.push_back(static_cast<char>((v >> (8 * b)) & 0xFF));
  };
  while (i < values.size()) {
    size_t j = i;
    while (j < values.size() && values[j] == values[i]) ++j;
    if (j - i >= 8 || j == values.size()) {
      rle_run(values[i], j - i);
      i = j;
      continue;
    }
    // A bit-packed group of 8 (only when 8 values remain; the tail is RLE).
    if (values.size() - i < 8) {
      rle_run(values[i], j - i);
      i = j;
      continue;
    }
    WriteVarint((uint64_t{1} << 1) | 1, &out);
    std::string group(bit_width, '\0');
    for (size_t k = 0; k < 8; ++k) {
      uint64_t bit = k * bit_width;
      for (int b = 0; b < bit_width; ++b, ++bit)
        if ((values[i + k] >> b) & 1) group[bit >> 3] = static_cast<char>(group[bit >> 3] | (1 << (bit & 7)));
    }
    out += group;
    i += 8;
  }
  return out;
}

}  // namespace zm::parquet
