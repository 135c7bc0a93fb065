#include "base/status.h"

#include <algorithm>

namespace zm {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kPermissionDenied: return "permission denied";
    case Code::kUnavailable: return "unavailable";
    case Code::kIoError: return "I/O error";
    case Code::kCorruption: return "corruption";
    case Code::kOutOfRange: return "out of range";
    case Code::kReadOnly: return "read-only";
    case Code::kUnsupported: return "unsupported";
  }
  return "unknown";
}

std::string EscapeControl(std::string text) {
  auto is_control = [](unsigned char c) { return c < 0x20 || c == 0x7f; };
  // Nearly every message is clean: pay for a copy only when one is not.
  if (std::none_of(text.begin(), text.end(), is_control)) return text;
  std::string out;
  out.reserve(text.size() + 8);
  for (unsigned char c : text) {
    if (!is_control(c)) {
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Status::Status(Code code, std::string message) : code_(code), message_(EscapeControl(std::move(message))) {}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return message_;
}

Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
Status IoError(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }

}  // namespace zm
