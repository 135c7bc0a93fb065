#include "zarr/chunk_key.h"

#include <charconv>

namespace zm {
namespace {

// One index as Key() writes it: "0", or digits not starting with '0'.
std::optional<uint64_t> ParseIndex(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  // Digits only: no sign, no space.
  if (ec != std::errc() || end != s.data() + s.size() || s[0] < '0' || s[0] > '9')
    return std::nullopt;
  return v;
}

}  // namespace

std::string ChunkKeyEncoding::Key(const std::vector<uint64_t>& index) const {
  // A 0-d array's one chunk: the prefix alone, or "0" when there is none.
  if (index.empty()) return prefix.empty() ? "0" : prefix;
  std::string key = prefix;
  for (size_t i = 0; i < index.size(); ++i) {
    if (i > 0 || !key.empty()) key += separator;
    key += std::to_string(index[i]);
  }
  return key;
}

std::optional<std::vector<uint64_t>> ChunkKeyEncoding::Parse(std::string_view key,
                                                             size_t rank) const {
  if (rank == 0) {
    if (key != (prefix.empty() ? std::string_view("0") : std::string_view(prefix)))
      return std::nullopt;
    return std::vector<uint64_t>{};
  }
  if (!prefix.empty()) {
    if (key.size() <= prefix.size() || !key.starts_with(prefix) || key[prefix.size()] != separator)
      return std::nullopt;
    key.remove_prefix(prefix.size() + 1);
  }
  std::vector<uint64_t> index;
  index.reserve(rank);
  for (size_t d = 0; d < rank; ++d) {
    const size_t end = d + 1 < rank ? key.find(separator) : key.size();
    if (end == std::string_view::npos) return std::nullopt;
    auto v = ParseIndex(key.substr(0, end));
    if (!v) return std::nullopt;
    index.push_back(*v);
    key.remove_prefix(end == key.size() ? end : end + 1);
  }
  return index;
}

}  // namespace zm
