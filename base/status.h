// Errors as values. A Status is OK or carries a Code and a one-line message
// meant for a person ("http://h/f.nc: HTTP 404"). The message is one line
// whatever text it quotes: the constructor escapes control characters
// (a newline becomes the two characters \n), so a dtype or key taken from
// user input cannot split an error line. Result<T> is a T or a
// non-OK Status. Both are cheap to move; neither throws.
//
// Retriable vs terminal is explicit: only kUnavailable is worth retrying.
// A layer that gives up after retries returns kIoError, so no outer layer
// retries again.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace zm {

enum class Code {
  kOk = 0,
  kInvalidArgument,   // bad input: a malformed reference set, a bad option
  kNotFound,          // no such key / object
  kPermissionDenied,  // the origin refused us
  kUnavailable,       // transient: connection reset, 503, timeout; retriable
  kIoError,           // terminal I/O failure (retries exhausted, short body)
  kCorruption,        // bytes failed a check (checksum, Content-Range)
  kOutOfRange,        // a read past the end of an object
  kReadOnly,          // a write to the read-only tree
  kUnsupported,
};

class Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message);

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool retriable() const { return code_ == Code::kUnavailable; }

  // Returns a copy whose message is "context: message".
  Status WithContext(const std::string& context) const;
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

Status InvalidArgument(std::string msg);
Status NotFound(std::string msg);
Status IoError(std::string msg);
Status Unavailable(std::string msg);
Status Corruption(std::string msg);

const char* CodeName(Code code);

// `text` with every control character (below 0x20, and 0x7f) written as an
// escape: \n, \r, \t, or \xNN. Printable text, UTF-8 included, is unchanged.
std::string EscapeControl(std::string text);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace zm

namespace zm::internal {
inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) { return r.status(); }
}  // namespace zm::internal

#define ZM_CONCAT_INNER_(a, b) a##b
#define ZM_CONCAT_(a, b) ZM_CONCAT_INNER_(a, b)

// Evaluates `expr` (a Status or a Result); returns its Status if not OK.
#define ZM_RETURN_IF_ERROR(expr)                                        \
  do {                                                                  \
    const auto& zm_st_ = (expr);                                        \
    if (!zm_st_.ok()) return ::zm::internal::StatusOf(zm_st_);          \
  } while (0)

// `lhs = value of expr`, or returns the Status of expr if it failed.
#define ZM_ASSIGN_OR_RETURN(lhs, expr) \
  ZM_ASSIGN_OR_RETURN_IMPL_(ZM_CONCAT_(zm_res_, __LINE__), lhs, expr)
#define ZM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
