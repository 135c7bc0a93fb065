#include "base/status.h"

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
