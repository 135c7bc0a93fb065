// Byte sizes with units: literals for code, parsing and printing for people.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace zm {

constexpr uint64_t operator""_KiB(unsigned long long v) { return v << 10; }
constexpr uint64_t operator""_MiB(unsigned long long v) { return v << 20; }
constexpr uint64_t operator""_GiB(unsigned long long v) { return v << 30; }

// Parses "4096", "512K", "20G", "1.5GiB", "100MB" (binary multiples, case
// insensitive; a trailing "B"/"iB" is accepted). Rejects negatives, overflow
// and trailing junk.
Result<uint64_t> ParseSize(std::string_view text);

// "1.5 GiB", "512 KiB", "17 B".
std::string FormatSize(uint64_t bytes);

}  // namespace zm
