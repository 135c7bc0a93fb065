// Base64 as kerchunk and Zarr write it (inline data, fill values).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace zm {

// Decodes standard base64 (padding optional, no other characters);
// kInvalidArgument naming the position of a bad character.
Result<std::string> DecodeBase64(std::string_view text);

// Encodes `bytes` as standard base64, padded.
std::string EncodeBase64(std::string_view bytes);

}  // namespace zm
