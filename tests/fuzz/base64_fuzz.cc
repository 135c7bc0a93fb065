// DecodeBase64 on arbitrary text, and a round trip of arbitrary bytes.
#include <cstdint>
#include <string>

#include "base/base64.h"
#include "tests/fuzz/fuzz_util.h"

using zm::fuzz::Check;

namespace {
std::string Encode(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    if (i + 2 < in.size()) v |= uint8_t(in[i + 2]);
    size_t chars = std::min<size_t>(in.size() - i, 3) + 1;
    for (size_t c = 0; c < 4; ++c) out += c < chars ? kAlphabet[(v >> (18 - 6 * c)) & 63] : '=';
  }
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = zm::fuzz::AsText(data, size);
  auto r = zm::DecodeBase64(text);
  if (r.ok()) Check(r->size() <= size * 3 / 4);
  std::string enc = Encode(text);
  auto back = zm::DecodeBase64(enc);
  Check(back.ok() && *back == text);
  // Unpadded, as some writers emit it.
  back = zm::DecodeBase64(enc.substr(0, enc.find('=')));
  Check(back.ok() && *back == text);
  return 0;
}
