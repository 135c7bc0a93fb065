#include "refs/json_members.h"

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace zm {
namespace {

Status Invalid(size_t at, std::string_view what) {
  return InvalidArgument("invalid JSON at byte " + std::to_string(at) + ": " + std::string(what));
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Offset just past the string whose opening quote is at `pos`. A quote
// preceded by an odd run of backslashes is escaped; memchr finds the
// candidates, so long strings cost little.
Result<size_t> SkipString(std::string_view text, size_t pos) {
  size_t at = pos + 1;
  while (true) {
    const void* q = at < text.size() ? std::memchr(text.data() + at, '"', text.size() - at) : nullptr;
    if (!q) return Invalid(pos, "unterminated string");
    size_t quote = static_cast<const char*>(q) - text.data();
    size_t backslashes = 0;
    while (quote - backslashes > pos + 1 && text[quote - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return quote + 1;
    at = quote + 1;
  }
}

// Offset just past the array or object opening at `pos`: brackets must
// match; strings inside are skipped whole (their brackets do not count).
Result<size_t> SkipContainer(std::string_view text, size_t pos, const JsonProgress& progress) {
  constexpr size_t kProgressBytes = size_t{64} << 20;
  size_t next_progress = pos + kProgressBytes;
  // The kinds of byte that matter here, looked up rather than compared.
  static const auto kInteresting = [] {
    std::array<bool, 256> t{};
    for (unsigned char c : std::string_view("\"[]{}")) t[c] = true;
    return t;
  }();
  std::vector<char> closers;
  size_t at = pos;
  while (at < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[at]);
    if (!kInteresting[c]) {
      ++at;
      continue;
    }
    if (c == '"') {
      ZM_ASSIGN_OR_RETURN(at, SkipString(text, at));
      if (at >= next_progress && progress) {
        progress(at);
        next_progress = at + kProgressBytes;
      }
      continue;
    }
    if (c == '{' || c == '[') {
      closers.push_back(c == '{' ? '}' : ']');
    } else {
      if (closers.empty() || closers.back() != static_cast<char>(c))
        return Invalid(at, std::string("unexpected '") + static_cast<char>(c) + "'");
      closers.pop_back();
      if (closers.empty()) return at + 1;
    }
    ++at;
  }
  return Invalid(pos, "unterminated " + std::string(text[pos] == '{' ? "object" : "array"));
}

}  // namespace

size_t SkipJsonSpace(std::string_view text, size_t pos) {
  while (pos < text.size() && IsSpace(text[pos])) ++pos;
  return pos;
}

Result<size_t> SkipJsonValue(std::string_view text, size_t pos, const JsonProgress& progress) {
  pos = SkipJsonSpace(text, pos);
  if (pos >= text.size()) return Invalid(pos, "unexpected end of text");
  const char c = text[pos];
  if (c == '"') return SkipString(text, pos);
  if (c == '{' || c == '[') return SkipContainer(text, pos, progress);
  // A number, true, false or null: up to the next separator (its parser
  // checks the spelling).
  size_t end = pos;
  while (end < text.size() && !IsSpace(text[end]) && text[end] != ',' && text[end] != '}' &&
         text[end] != ']' && text[end] != ':')
    ++end;
  if (end == pos) return Invalid(pos, std::string("unexpected '") + c + "'");
  return end;
}

Status JsonObjectScanner::Fail(size_t at, std::string_view what) const {
  return Invalid(at, what);
}

Result<std::optional<JsonMember>> JsonObjectScanner::Next() {
  switch (state_) {
    case State::kDone:
      return std::optional<JsonMember>();
    case State::kStart:
      pos_ = SkipJsonSpace(text_, pos_);
      if (pos_ >= text_.size() || text_[pos_] != '{') return Fail(pos_, "expected an object");
      pos_ = SkipJsonSpace(text_, pos_ + 1);
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        state_ = State::kDone;
        return std::optional<JsonMember>();
      }
      break;
    case State::kAfterMember:
      pos_ = SkipJsonSpace(text_, pos_);
      if (pos_ >= text_.size()) return Fail(pos_, "unexpected end of text in an object");
      if (text_[pos_] == '}') {
        ++pos_;
        state_ = State::kDone;
        return std::optional<JsonMember>();
      }
      if (text_[pos_] != ',') return Fail(pos_, "expected ',' or '}' after a member");
      ++pos_;
      break;
  }
  JsonMember m;
  pos_ = SkipJsonSpace(text_, pos_);
  if (pos_ >= text_.size() || text_[pos_] != '"') return Fail(pos_, "expected a string key");
  m.key.begin = pos_;
  ZM_ASSIGN_OR_RETURN(m.key.end, SkipString(text_, pos_));
  m.raw_key = text_.substr(m.key.begin + 1, m.key.size() - 2);
  pos_ = SkipJsonSpace(text_, m.key.end);
  if (pos_ >= text_.size() || text_[pos_] != ':') return Fail(pos_, "expected ':' after a key");
  m.value.begin = SkipJsonSpace(text_, pos_ + 1);
  ZM_ASSIGN_OR_RETURN(m.value.end, SkipJsonValue(text_, m.value.begin, progress_));
  pos_ = m.value.end;
  state_ = State::kAfterMember;
  return std::optional<JsonMember>(m);
}

}  // namespace zm
