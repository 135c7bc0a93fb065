#include "refs/template.h"

#include <cctype>
#include <limits>

namespace zm {
namespace {

// Keys, URLs and numbers are short; a longer rendering is a bomb (a few
// bytes of "{{u}}" each expanding a long template), refused.
constexpr size_t kMaxRenderedBytes = 64 << 10;

// Errors quote the template, but not all of a hostile one.
std::string Excerpt(std::string_view text) {
  constexpr size_t kMaxQuoted = 80;
  if (text.size() <= kMaxQuoted) return std::string(text);
  return std::string(text.substr(0, kMaxQuoted)) + "...";
}

// Recursive-descent evaluator:
//   expr   := term (('+' | '-') term)*
//   term   := unary (('*' | '//' | '/' | '%') unary)*
//   unary  := '-' unary | '+' unary | primary
//   primary:= integer | string | name | '(' expr ')'
class Evaluator {
 public:
  Evaluator(std::string_view text, const TemplateVars& vars) : s_(text), vars_(vars) {}

  Result<TemplateValue> Run() {
    auto v = Expr();
    if (!v.ok()) return v;
    Skip();
    if (pos_ != s_.size()) return Error("unexpected '" + std::string(s_.substr(pos_, 1)) + "'");
    return v;
  }

 private:
  Status Error(const std::string& what) {
    return InvalidArgument("template expression '" + Excerpt(s_) + "': " + what);
  }
  void Skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool Eat(std::string_view tok) {
    Skip();
    if (s_.substr(pos_, tok.size()) == tok) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }

  Result<TemplateValue> Expr() {
    auto lhs = Term();
    if (!lhs.ok()) return lhs;
    TemplateValue acc = std::move(lhs).value();
    while (true) {
      char op;
      if (Eat("+"))
        op = '+';
      else if (Eat("-"))
        op = '-';
      else
        return acc;
      auto rhs = Term();
      if (!rhs.ok()) return rhs;
      auto r = Apply(op, acc, *rhs);
      if (!r.ok()) return r;
      acc = std::move(r).value();
    }
  }

  Result<TemplateValue> Term() {
    auto lhs = Unary();
    if (!lhs.ok()) return lhs;
    TemplateValue acc = std::move(lhs).value();
    while (true) {
      char op;
      if (Eat("*"))
        op = '*';
      else if (Eat("//"))
        op = 'f';
      else if (Eat("/"))
        op = '/';
      else if (Eat("%"))
        op = '%';
      else
        return acc;
      auto rhs = Unary();
      if (!rhs.ok()) return rhs;
      auto r = Apply(op, acc, *rhs);
      if (!r.ok()) return r;
      acc = std::move(r).value();
    }
  }

  Result<TemplateValue> Unary() {
    // Each nested '(' or unary sign is one level of recursion; a hostile
    // template must not be able to overflow the stack.
    if (++depth_ > kMaxDepth) return Error("nested too deeply");
    auto v = SignedPrimary();
    --depth_;
    return v;
  }

  Result<TemplateValue> SignedPrimary() {
    if (Eat("-")) {
      auto v = Unary();
      if (!v.ok()) return v;
      return Apply('-', TemplateValue(int64_t{0}), *v);
    }
    if (Eat("+")) return Unary();
    return Primary();
  }

  Result<TemplateValue> Primary() {
    Skip();
    if (pos_ >= s_.size()) return Error("unexpected end");
    char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      auto v = Expr();
      if (!v.ok()) return v;
      if (!Eat(")")) return Error("missing ')'");
      return v;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      int64_t v = 0;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        int d = s_[pos_++] - '0';
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, d, &v))
          return Error("integer too large");
      }
      return TemplateValue(v);
    }
    if (c == '"' || c == '\'') {
      size_t end = s_.find(c, pos_ + 1);
      if (end == std::string_view::npos) return Error("unterminated string");
      std::string v(s_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      return TemplateValue(std::move(v));
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = pos_;
      while (pos_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_'))
        ++pos_;
      std::string_view name = s_.substr(start, pos_ - start);
      auto it = vars_.find(name);
      if (it == vars_.end()) return Error("unknown template name '" + std::string(name) + "'");
      return it->second;
    }
    return Error("unexpected '" + std::string(1, c) + "'");
  }

  Result<TemplateValue> Apply(char op, const TemplateValue& a, const TemplateValue& b) {
    if (op == '+' && std::holds_alternative<std::string>(a) &&
        std::holds_alternative<std::string>(b)) {
      const auto &x = std::get<std::string>(a), &y = std::get<std::string>(b);
      if (x.size() + y.size() > kMaxRenderedBytes) return Error("string longer than 64 KiB");
      return TemplateValue(x + y);
    }
    if (!std::holds_alternative<int64_t>(a) || !std::holds_alternative<int64_t>(b))
      return Error(std::string("operator '") + (op == 'f' ? "//" : std::string(1, op)) +
                   "' needs integers");
    int64_t x = std::get<int64_t>(a), y = std::get<int64_t>(b), r = 0;
    bool overflow = false;
    switch (op) {
      case '+': overflow = __builtin_add_overflow(x, y, &r); break;
      case '-': overflow = __builtin_sub_overflow(x, y, &r); break;
      case '*': overflow = __builtin_mul_overflow(x, y, &r); break;
      case '/':
      case 'f':
      case '%': {
        if (y == 0) return Error("division by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) return Error("integer overflow");
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors
          q -= 1;
          m += y;
        }
        if (op == '/' && m != 0) return Error("'/' does not divide exactly; use '//'");
        r = op == '%' ? m : q;
        break;
      }
    }
    if (overflow) return Error("integer overflow");
    return TemplateValue(r);
  }

  static constexpr int kMaxDepth = 100;

  std::string_view s_;
  size_t pos_ = 0;
  int depth_ = 0;
  const TemplateVars& vars_;
};

}  // namespace

Result<TemplateValue> EvalTemplateExpression(std::string_view expr, const TemplateVars& vars) {
  return Evaluator(expr, vars).Run();
}

Result<std::string> RenderTemplate(std::string_view text, const TemplateVars& vars) {
  auto too_long = [&] {
    return InvalidArgument("template '" + Excerpt(text) + "' renders to more than 64 KiB");
  };
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos)
      return InvalidArgument("unterminated '{{' in template '" + Excerpt(text) + "'");
    out.append(text.substr(pos, open - pos));
    auto v = EvalTemplateExpression(text.substr(open + 2, close - open - 2), vars);
    if (!v.ok()) return v.status();
    if (std::holds_alternative<int64_t>(*v))
      out += std::to_string(std::get<int64_t>(*v));
    else
      out += std::get<std::string>(*v);
    pos = close + 2;
    // Each "{{u}}" may expand a long template: bound the product as it grows.
    if (out.size() > kMaxRenderedBytes) return too_long();
  }
  out.append(text.substr(pos));
  if (out.size() > kMaxRenderedBytes) return too_long();
  return out;
}

}  // namespace zm
