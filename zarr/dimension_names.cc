#include "zarr/dimension_names.h"

namespace zm {

namespace {

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7F; }

// Whether `prefix` is `group` or one of its ancestors ("" is the root's).
bool IsGroupOrAncestor(std::string_view prefix, std::string_view group) {
  if (prefix.empty()) return true;
  if (group.size() < prefix.size() || group.substr(0, prefix.size()) != prefix) return false;
  return group.size() == prefix.size() || group[prefix.size()] == '/';
}

}  // namespace

std::string DimensionPath(std::string_view name) {
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  return std::string(name);
}

bool IsNetcdfName(std::string_view name) {
  if (name.empty() || name.find('/') != std::string_view::npos) return false;
  for (unsigned char c : name)
    if (IsControl(c)) return false;
  return name.front() != ' ' && name.back() != ' ';
}

std::string NetcdfName(std::string_view name) {
  if (IsNetcdfName(name)) return std::string(name);
  std::string out = DimensionPath(name);
  for (char& c : out)
    if (c == '/' || IsControl(static_cast<unsigned char>(c))) c = '_';
  if (out.empty()) return "_";
  if (out.front() == ' ') out.front() = '_';
  if (out.back() == ' ') out.back() = '_';
  return out;
}

std::string GroupDimensionName(std::string_view name, std::string_view group) {
  const std::string path = DimensionPath(name);
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash + 1 < path.size() &&
      IsGroupOrAncestor(std::string_view(path).substr(0, slash), group))
    return NetcdfName(std::string_view(path).substr(slash + 1));
  return NetcdfName(path);
}

}  // namespace zm
