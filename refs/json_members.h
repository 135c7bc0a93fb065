// JsonObjectScanner: the members of one JSON object, found without parsing
// their values, so that a text too large to parse at once (a reference set
// of ten million keys) can be handed to a parser a slice at a time.
//
// The scanner checks only what finding the members needs: the braces and
// brackets balance and match, strings end, members are `"key": value`
// separated by single commas. The values themselves are not checked (their
// parser does that); the offsets it reports are exact for any valid JSON.
// Errors are one line: "invalid JSON at byte N: ...".
//
// Thread-safety: none (one scanner per thread); the text must outlive it.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>

#include "base/status.h"

namespace zm {

// Offsets into the scanned text: [begin, end).
struct JsonSpan {
  size_t begin = 0, end = 0;
  size_t size() const { return end - begin; }
};

struct JsonMember {
  JsonSpan key;    // the key's string, quotes included
  JsonSpan value;  // the value's text, no surrounding whitespace
  // The key's text between the quotes, escapes left as written.
  std::string_view raw_key;
};

// Told, now and then while a long value is skipped, the offset the scan has
// passed: text before it will not be looked at again by this scan (a
// mapped file's pages can be let go).
using JsonProgress = std::function<void(size_t offset)>;

class JsonObjectScanner {
 public:
  // Scans the object whose '{' is the first non-whitespace byte at or after
  // `pos` of `text`.
  JsonObjectScanner(std::string_view text, size_t pos, JsonProgress progress = {})
      : text_(text), pos_(pos), progress_(std::move(progress)) {}

  // The next member, or nullopt once the closing '}' is reached (end() is
  // then the offset just past it).
  Result<std::optional<JsonMember>> Next();
  size_t end() const { return pos_; }

 private:
  Status Fail(size_t at, std::string_view what) const;

  std::string_view text_;
  size_t pos_;
  JsonProgress progress_;
  enum class State { kStart, kAfterMember, kDone } state_ = State::kStart;
};

// Offset just past the JSON value that starts at the first non-whitespace
// byte at or after `pos`; its structure is checked as the scanner's is.
Result<size_t> SkipJsonValue(std::string_view text, size_t pos, const JsonProgress& progress = {});

// Offset of the first byte at or after `pos` that is not JSON whitespace.
size_t SkipJsonSpace(std::string_view text, size_t pos);

}  // namespace zm
