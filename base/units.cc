#include "base/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>

namespace zm {

Result<uint64_t> ParseSize(std::string_view text) {
  std::string_view s = text;
  auto bad = [&] {
    return InvalidArgument("invalid size '" + std::string(text) +
                           "' (expected a number with an optional unit K, M, G or T)");
  };
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return bad();
  std::string number(s.substr(0, i));
  std::string_view unit = s.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  int shift = 0;
  size_t u = 0;
  if (u < unit.size()) {
    switch (std::toupper(static_cast<unsigned char>(unit[u]))) {
      case 'K': shift = 10; ++u; break;
      case 'M': shift = 20; ++u; break;
      case 'G': shift = 30; ++u; break;
      case 'T': shift = 40; ++u; break;
      default: break;
    }
  }
  if (shift && u < unit.size() && (unit[u] == 'i' || unit[u] == 'I')) ++u;
  if (u < unit.size() && (unit[u] == 'B' || unit[u] == 'b')) ++u;
  if (u != unit.size()) return bad();
  if (number.find('.') == std::string::npos) {
    // Whole numbers exactly, without a detour through double.
    uint64_t v = 0;
    for (char c : number)
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, c - '0', &v)) return bad();
    if (shift && v > (~uint64_t{0} >> shift)) return bad();
    return v << shift;
  }
  char* end = nullptr;
  double v = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(v) || v < 0) return bad();
  double bytes = std::ldexp(v, shift);
  if (bytes >= 18446744073709551615.0) return bad();
  return static_cast<uint64_t>(bytes);
}

std::string FormatSize(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else if (v == static_cast<double>(static_cast<uint64_t>(v)))
    std::snprintf(buf, sizeof buf, "%.0f %s", v, kUnits[u]);
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

}  // namespace zm
