// DataType parsing and printing (declared in codecs/pipeline.h).
#include <charconv>

#include "codecs/pipeline.h"

namespace zm {
namespace {

// Strings, unicode and raw bytes may be long (netCDF char arrays are
// "|S100"); 64 KiB per element is far beyond what real data uses and keeps
// chunk sizes sane.
constexpr uint32_t kMaxStringElement = 64 << 10;

bool ValidNumeric(char kind, uint32_t size) {
  switch (kind) {
    case 'b': return size == 1;
    case 'i':
    case 'u': return size == 1 || size == 2 || size == 4 || size == 8;
    case 'f': return size == 2 || size == 4 || size == 8;
    case 'c': return size == 8 || size == 16;
    case 'M':
    case 'm': return size == 8;
  }
  return false;
}

bool ValidUnit(std::string_view u) {
  for (std::string_view ok : {"Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"})
    if (u == ok) return true;
  // numpy also allows a multiple: "10s", "100ns".
  size_t i = 0;
  while (i < u.size() && u[i] >= '0' && u[i] <= '9') ++i;
  return i > 0 && i < u.size() && u[i] != '0' && ValidUnit(u.substr(i)) && u[0] != '0';
}

}  // namespace

std::string DataType::ToString() const {
  std::string s;
  const bool no_order = size == 1 || kind == 'S' || kind == 'V' || kind == 'b';
  s += no_order ? '|' : (big_endian ? '>' : '<');
  s += kind;
  s += std::to_string(kind == 'U' ? size / 4 : size);
  if ((kind == 'M' || kind == 'm') && !unit.empty()) s += "[" + unit + "]";
  return s;
}

Result<DataType> ParseDataType(std::string_view text) {
  auto bad = [&](std::string why) {
    return InvalidArgument("unsupported dtype '" + std::string(text) + "'" + (why.empty() ? "" : ": " + why));
  };
  std::string_view t = text;
  DataType d;
  if (!t.empty() && (t[0] == '<' || t[0] == '>' || t[0] == '|' || t[0] == '=')) {
    d.big_endian = t[0] == '>';
    t.remove_prefix(1);
  }
  if (t.empty()) return bad("");
  d.kind = t[0];
  t.remove_prefix(1);
  if (d.kind == 'O') return bad("object arrays have no fixed element size");
  if (std::string_view("biufcMmSUV").find(d.kind) == std::string_view::npos) return bad("");
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc() || p == t.data()) return bad("no element size");
  t.remove_prefix(size_t(p - t.data()));
  if (d.kind == 'M' || d.kind == 'm') {
    if (!t.empty()) {
      if (t.front() != '[' || t.back() != ']') return bad("bad time unit");
      d.unit = std::string(t.substr(1, t.size() - 2));
      if (!ValidUnit(d.unit)) return bad("bad time unit");
      t = {};
    }
  }
  if (!t.empty()) return bad("");
  if (d.kind == 'S' || d.kind == 'V' || d.kind == 'U') {
    uint64_t bytes = d.kind == 'U' ? n * 4 : n;
    if (n == 0 || bytes > kMaxStringElement) return bad("element size must be 1 to 65536 bytes");
    d.size = uint32_t(bytes);
    if (d.kind != 'U') d.big_endian = false;
  } else {
    if (!ValidNumeric(d.kind, uint32_t(std::min<uint64_t>(n, 1000)))) return bad("");
    d.size = uint32_t(n);
  }
  if (d.size == 1) d.big_endian = false;
  return d;
}

Result<DataType> ParseDataTypeV3(std::string_view name) {
  struct Entry {
    std::string_view name;
    char kind;
    uint32_t size;
  };
  static constexpr Entry kTypes[] = {
      {"bool", 'b', 1},      {"int8", 'i', 1},      {"int16", 'i', 2},     {"int32", 'i', 4},
      {"int64", 'i', 8},     {"uint8", 'u', 1},     {"uint16", 'u', 2},    {"uint32", 'u', 4},
      {"uint64", 'u', 8},    {"float16", 'f', 2},   {"float32", 'f', 4},   {"float64", 'f', 8},
      {"complex64", 'c', 8}, {"complex128", 'c', 16},
  };
  for (const auto& e : kTypes)
    if (e.name == name) return DataType{e.kind, e.size, false, {}};
  // Raw bits: "r8", "r16", ... (a multiple of 8).
  if (name.size() > 1 && name[0] == 'r') {
    uint64_t bits = 0;
    auto [p, ec] = std::from_chars(name.data() + 1, name.data() + name.size(), bits);
    if (ec == std::errc() && p == name.data() + name.size() && bits > 0 && bits % 8 == 0 &&
        bits / 8 <= kMaxStringElement)
      return DataType{'V', uint32_t(bits / 8), false, {}};
  }
  return InvalidArgument("unsupported data_type '" + std::string(name) + "'");
}

}  // namespace zm
