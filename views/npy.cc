#include "views/npy.h"

namespace zm {

std::string NpyDescr(const DataType& dtype) {
  // numpy writes '|' where byte order means nothing: one-byte elements and
  // byte strings / void; unicode (U) keeps its order (4-byte code points).
  char order = dtype.big_endian ? '>' : '<';
  if (dtype.kind == 'S' || dtype.kind == 'V' || (dtype.size == 1 && dtype.kind != 'U')) order = '|';
  uint32_t size = dtype.kind == 'U' ? dtype.size / 4 : dtype.size;  // U counts characters
  std::string d;
  d += order;
  d += dtype.kind;
  d += std::to_string(size);
  if ((dtype.kind == 'M' || dtype.kind == 'm') && !dtype.unit.empty()) d += "[" + dtype.unit + "]";
  return d;
}

std::string NpyHeader(const DataType& dtype, const std::vector<uint64_t>& shape) {
  std::string dict = "{'descr': '" + NpyDescr(dtype) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    if (i + 1 < shape.size() || shape.size() == 1) dict += ",";  // (5,) is a tuple, (5) is not
    if (i + 1 < shape.size()) dict += " ";
  }
  dict += "), }";
  // Version 1.0: magic(6) + version(2) + uint16 length; 2.0: uint32 length.
  size_t prefix = 10;
  int major = 1;
  auto padded = [&](size_t pre) {
    size_t total = pre + dict.size() + 1;  // + the final newline
    return (total + 63) / 64 * 64;
  };
  size_t total = padded(prefix);
  if (total - prefix > 0xFFFF) {
    prefix = 12;
    major = 2;
    total = padded(prefix);
  }
  const size_t header_len = total - prefix;
  std::string h;
  h.reserve(total);
  h += "\x93NUMPY";
  h += static_cast<char>(major);
  h += '\0';
  for (size_t i = 0; i < prefix - 8; ++i) h += static_cast<char>((header_len >> (8 * i)) & 0xFF);
  h += dict;
  h.append(total - h.size() - 1, ' ');
  h += '\n';
  return h;
}

}  // namespace zm
