#include "parquet/delta.h"

#include <algorithm>

namespace zm::parquet {
namespace {

// Bounds on a header's block geometry: generous for any writer, small
// enough that no header makes us loop or allocate without input to match.
constexpr uint64_t kMaxBlockValues = 1 << 16;

Result<uint64_t> ReadVarint(std::string_view data, size_t* pos) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= data.size()) return InvalidArgument("delta encoding: truncated integer");
    uint8_t b = static_cast<uint8_t>(data[(*pos)++]);
    v |= uint64_t{b & 0x7Fu} << shift;
    if (!(b & 0x80)) return v;
  }
  return InvalidArgument("delta encoding: integer longer than 10 bytes");
}

Result<int64_t> ReadZigZag(std::string_view data, size_t* pos) {
  ZM_ASSIGN_OR_RETURN(uint64_t v, ReadVarint(data, pos));
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

void WriteVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }

// Value `i` of a bit-packed run of `width`-bit values (LSB first).
uint64_t Unpack(const uint8_t* p, uint64_t i, int width) {
  uint64_t bit = i * width, v = 0;
  for (int b = 0; b < width; ++b, ++bit) v |= uint64_t{(p[bit >> 3] >> (bit & 7)) & 1u} << b;
  return v;
}

}  // namespace

Status DecodeDeltaBinaryPacked(std::string_view data, size_t count, std::vector<int64_t>* out, size_t* consumed) {
  out->clear();
  size_t pos = 0;
  ZM_ASSIGN_OR_RETURN(uint64_t block_values, ReadVarint(data, &pos));
  ZM_ASSIGN_OR_RETURN(uint64_t miniblocks, ReadVarint(data, &pos));
  ZM_ASSIGN_OR_RETURN(uint64_t total, ReadVarint(data, &pos));
  ZM_ASSIGN_OR_RETURN(int64_t first, ReadZigZag(data, &pos));
  if (block_values == 0 || block_values % 128 != 0 || block_values > kMaxBlockValues || miniblocks == 0 ||
      block_values % miniblocks != 0 || (block_values / miniblocks) % 8 != 0)
    return InvalidArgument("delta encoding: bad block geometry (" + std::to_string(block_values) + " values in " +
                           std::to_string(miniblocks) + " miniblocks)");
  if (total != count)
    return InvalidArgument("delta encoding: holds " + std::to_string(total) + " values, the page " +
                           std::to_string(count));
  const uint64_t per_miniblock = block_values / miniblocks;
  out->reserve(count);
  if (count > 0) out->push_back(first);
  uint64_t last = static_cast<uint64_t>(first);  // wrapping arithmetic, as writers use
  while (out->size() < count) {
    ZM_ASSIGN_OR_RETURN(int64_t min_delta, ReadZigZag(data, &pos));
    if (miniblocks > data.size() - pos) return InvalidArgument("delta encoding: bit widths past the end");
    const uint8_t* widths = reinterpret_cast<const uint8_t*>(data.data() + pos);
    pos += miniblocks;
    for (uint64_t m = 0; m < miniblocks && out->size() < count; ++m) {
      int width = widths[m];
      if (width > 64) return InvalidArgument("delta encoding: bit width " + std::to_string(width));
      uint64_t bytes = per_miniblock * width / 8;
      if (bytes > data.size() - pos) return InvalidArgument("delta encoding: a miniblock past the end");
      const uint8_t* p = reinterpret_cast<const uint8_t*>(data.data() + pos);
      for (uint64_t i = 0; i < per_miniblock && out->size() < count; ++i) {
        last += static_cast<uint64_t>(min_delta) + Unpack(p, i, width);
        out->push_back(static_cast<int64_t>(last));
      }
      pos += bytes;
    }
  }
  *consumed = pos;
  return Status::Ok();
}

Status DecodeDeltaLengthByteArray(std::string_view data, size_t count, std::vector<std::string_view>* out) {
  std::vector<int64_t> lengths;
  size_t pos = 0;
  Status st = DecodeDeltaBinaryPacked(data, count, &lengths, &pos);
  if (!st.ok()) return st.WithContext("lengths");
  out->clear();
  out->reserve(count);
  for (int64_t n : lengths) {
    if (n < 0 || static_cast<uint64_t>(n) > data.size() - pos)
      return InvalidArgument("a value of " + std::to_string(n) + " bytes past the end of the page");
    out->push_back(data.substr(pos, n));
    pos += n;
  }
  return Status::Ok();
}

Status DecodeDeltaByteArray(std::string_view data, size_t count, std::string* storage,
                            std::vector<std::string_view>* out) {
  std::vector<int64_t> prefixes;
  size_t pos = 0;
  Status st = DecodeDeltaBinaryPacked(data, count, &prefixes, &pos);
  if (!st.ok()) return st.WithContext("prefix lengths");
  std::vector<std::string_view> suffixes;
  ZM_RETURN_IF_ERROR(DecodeDeltaLengthByteArray(data.substr(pos), count, &suffixes));
  // A prefix repeats bytes of the previous value, so a small page can
  // describe much larger values: bounded here.
  std::vector<std::pair<size_t, size_t>> spans;  // offset, length in storage
  storage->clear();
  size_t prev_off = 0, prev_len = 0;
  for (size_t i = 0; i < count; ++i) {
    int64_t p = prefixes[i];
    if (p < 0 || static_cast<uint64_t>(p) > prev_len)
      return InvalidArgument("prefix length " + std::to_string(p) + " longer than the previous value");
    if (storage->size() + p + suffixes[i].size() > (uint64_t{1} << 30))
      return InvalidArgument("DELTA_BYTE_ARRAY values beyond 1 GiB");
    size_t off = storage->size();
    const std::string prefix = storage->substr(prev_off, static_cast<size_t>(p));
    storage->append(prefix);
    storage->append(suffixes[i]);
    spans.emplace_back(off, storage->size() - off);
    prev_off = off;
    prev_len = storage->size() - off;
  }
  out->clear();
  for (auto [off, len] : spans) out->push_back(std::string_view(*storage).substr(off, len));
  return Status::Ok();
}

std::string EncodeDeltaBinaryPacked(const std::vector<int64_t>& values) {
  constexpr uint64_t kBlock = 128, kMini = 4, kPer = kBlock / kMini;
  std::string out;
  WriteVarint(kBlock, &out);
  WriteVarint(kMini, &out);
  WriteVarint(values.size(), &out);
  WriteVarint(ZigZag(values.empty() ? 0 : values[0]), &out);
  for (size_t start = 1; start < values.size(); start += kBlock) {
    size_t end = std::min(values.size(), start + kBlock);
    std::vector<uint64_t> deltas;
    for (size_t i = start; i < end; ++i)
      deltas.push_back(static_cast<uint64_t>(values[i]) - static_cast<uint64_t>(values[i - 1]));
    int64_t min = static_cast<int64_t>(deltas[0]);
    for (uint64_t d : deltas) min = std::min(min, static_cast<int64_t>(d));
    WriteVarint(ZigZag(min), &out);
    std::vector<uint8_t> widths(kMini, 0);
    for (size_t i = 0; i < deltas.size(); ++i) {
      uint64_t v = deltas[i] - static_cast<uint64_t>(min);
      int w = 0;
      while (w < 64 && (v >> w)) ++w;
      widths[i / kPer] = std::max<uint8_t>(widths[i / kPer], static_cast<uint8_t>(w));
    }
    out.append(reinterpret_cast<const char*>(widths.data()), kMini);
    for (size_t m = 0; m * kPer < deltas.size(); ++m) {
      std::string packed(kPer * widths[m] / 8, '\0');
      for (size_t i = 0; i < kPer && m * kPer + i < deltas.size(); ++i) {
        uint64_t v = deltas[m * kPer + i] - static_cast<uint64_t>(min);
        uint64_t bit = i * widths[m];
        for (int b = 0; b < widths[m]; ++b, ++bit)
          if ((v >> b) & 1) packed[bit >> 3] = static_cast<char>(packed[bit >> 3] | (1 << (bit & 7)));
      }
      out += packed;
    }
  }
  return out;
}

}  // namespace zm::parquet
