// Unit tests of refs/template.h: the template expression evaluator and renderer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "refs/template.h"
#include "tests/unit/refs/parsed_refs.h"

namespace zm {
namespace {

using ::testing::HasSubstr;
using testing::ExpectParseError;

int64_t EvalInt(std::string_view expr, const TemplateVars& vars = {}) {
  auto r = EvalTemplateExpression(expr, vars);
  EXPECT_TRUE(r.ok()) << expr << ": " << r.status().ToString();
  if (!r.ok()) return -999999;
  EXPECT_TRUE(std::holds_alternative<int64_t>(*r)) << expr;
  return std::holds_alternative<int64_t>(*r) ? std::get<int64_t>(*r) : -999999;
}

std::string EvalError(std::string_view expr, const TemplateVars& vars = {}) {
  auto r = EvalTemplateExpression(expr, vars);
  EXPECT_FALSE(r.ok()) << expr << " evaluated";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(std::string(expr))) << "names the expression";
  return r.status().message();
}

TEST(Template, Literals) {
  EXPECT_EQ(EvalInt("0"), 0);
  EXPECT_EQ(EvalInt("42"), 42);
  EXPECT_EQ(EvalInt("9223372036854775807"), INT64_MAX);
  auto s = EvalTemplateExpression("'abc'", {});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(std::get<std::string>(*s), "abc");
  s = EvalTemplateExpression("\"a b\"", {});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(std::get<std::string>(*s), "a b");
}

TEST(Template, FloorDivisionLikePython) {
  EXPECT_EQ(EvalInt("7 // 2"), 3);
  EXPECT_EQ(EvalInt("-7 // 2"), -4);
  EXPECT_EQ(EvalInt("7 // -2"), -4);
  EXPECT_EQ(EvalInt("-7 // -2"), 3);
  EXPECT_EQ(EvalInt("6 // 3"), 2);
  EXPECT_EQ(EvalInt("-6 // 3"), -2);
  EXPECT_EQ(EvalInt("0 // 5"), 0);
  EXPECT_EQ(EvalInt("1 // 5"), 0);
  EXPECT_EQ(EvalInt("-1 // 5"), -1);
}

TEST(Template, ModuloLikePython) {
  EXPECT_EQ(EvalInt("7 % 3"), 1);
  EXPECT_EQ(EvalInt("-7 % 3"), 2);
  EXPECT_EQ(EvalInt("7 % -3"), -2);
  EXPECT_EQ(EvalInt("-7 % -3"), -1);
  EXPECT_EQ(EvalInt("6 % 3"), 0);
  EXPECT_EQ(EvalInt("-6 % 3"), 0);
  EXPECT_EQ(EvalInt("-1 % 10"), 9);
  // Identity a == (a // b) * b + a % b over a grid.
  for (int a = -20; a <= 20; ++a)
    for (int b = -7; b <= 7; ++b) {
      if (b == 0) continue;
      TemplateVars v{{"a", int64_t{a}}, {"b", int64_t{b}}};
      int64_t q = EvalInt("a // b", v), m = EvalInt("a % b", v);
      EXPECT_EQ(q * b + m, a) << a << " " << b;
      if (m != 0) { EXPECT_EQ(m < 0, b < 0) << a << " % " << b << " takes the divisor's sign"; }
      EXPECT_EQ(EvalInt("(a // b) * b + a % b", v), a);
    }
}

TEST(Template, ExactDivision) {
  EXPECT_EQ(EvalInt("8 / 2"), 4);
  EXPECT_EQ(EvalInt("-8 / 2"), -4);
  EXPECT_EQ(EvalInt("8 / -2"), -4);
  EXPECT_THAT(EvalError("7 / 2"), HasSubstr("'/' does not divide exactly"));
  EXPECT_THAT(EvalError("-7 / 2"), HasSubstr("'/'"));
}

TEST(Template, Precedence) {
  EXPECT_EQ(EvalInt("2 + 3 * 4"), 14);
  EXPECT_EQ(EvalInt("2 * 3 + 4"), 10);
  EXPECT_EQ(EvalInt("10 - 2 - 3"), 5);        // left-associative
  EXPECT_EQ(EvalInt("100 // 10 // 3"), 3);    // (100 // 10) // 3
  EXPECT_EQ(EvalInt("2 * 7 % 4"), 2);         // (2 * 7) % 4
  EXPECT_EQ(EvalInt("7 % 4 * 2"), 6);         // (7 % 4) * 2
  EXPECT_EQ(EvalInt("1 + 10 // 3"), 4);
  EXPECT_EQ(EvalInt("-2 * 3"), -6);
  EXPECT_EQ(EvalInt("- 3 + 5"), 2);
  EXPECT_EQ(EvalInt("5 - -3"), 8);
  EXPECT_EQ(EvalInt("--3"), 3);
  EXPECT_EQ(EvalInt("+3"), 3);
  EXPECT_EQ(EvalInt("-3 // 2"), -2);  // unary minus binds tighter than //
  EXPECT_EQ(EvalInt("-(3 // 2)"), -1);
}

TEST(Template, Parentheses) {
  EXPECT_EQ(EvalInt("(2 + 3) * 4"), 20);
  EXPECT_EQ(EvalInt("((1))"), 1);
  EXPECT_EQ(EvalInt("2 * (3 + (4 - 1)) // 4"), 3);
  EXPECT_EQ(EvalInt("10 - (2 - 3)"), 11);
  EXPECT_THAT(EvalError("(1 + 2"), HasSubstr("missing ')'"));
  EXPECT_THAT(EvalError("1 + 2)"), HasSubstr("unexpected ')'"));
  EvalError("()");
}

TEST(Template, Variables) {
  TemplateVars v{{"i", int64_t{3}}, {"j", int64_t{-2}}, {"u", std::string("http://h")},
                 {"f_1", std::string("x")}};
  EXPECT_EQ(EvalInt("i * 8000 + 10", v), 24010);
  EXPECT_EQ(EvalInt("(i + 90) * 1000", v), 93000);
  EXPECT_EQ(EvalInt("i*j", v), -6);
  EXPECT_EQ(EvalInt("j // i", v), -1);
  auto s = EvalTemplateExpression("u + '/' + f_1", v);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(std::get<std::string>(*s), "http://h/x");
}

TEST(Template, StringConcatenation) {
  auto s = EvalTemplateExpression("'a' + \"b\" + 'c'", {});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(std::get<std::string>(*s), "abc");
  EXPECT_THAT(EvalError("'a' + 1"), HasSubstr("needs integers"));
  EXPECT_THAT(EvalError("1 + 'a'"), HasSubstr("needs integers"));
  EvalError("'a' - 'b'");
  EvalError("'a' * 2");
  EXPECT_THAT(EvalError("'abc"), HasSubstr("unterminated string"));
}

TEST(Template, UnknownNames) {
  std::string m = EvalError("i + 1", {});
  EXPECT_THAT(m, HasSubstr("unknown template name 'i'"));
  m = EvalError("x_y", {{"x", int64_t{1}}});
  EXPECT_THAT(m, HasSubstr("'x_y'"));
}

TEST(Template, DivisionByZero) {
  EXPECT_THAT(EvalError("1 // 0"), HasSubstr("division by zero"));
  EXPECT_THAT(EvalError("1 % 0"), HasSubstr("division by zero"));
  EXPECT_THAT(EvalError("1 / 0"), HasSubstr("division by zero"));
  EXPECT_THAT(EvalError("0 // (2 - 2)"), HasSubstr("division by zero"));
}

TEST(Template, Overflow) {
  EXPECT_THAT(EvalError("9223372036854775808"), HasSubstr("too large"));
  EXPECT_THAT(EvalError("9223372036854775807 + 1"), HasSubstr("overflow"));
  EXPECT_THAT(EvalError("-9223372036854775807 - 2"), HasSubstr("overflow"));
  EXPECT_THAT(EvalError("4611686018427387904 * 2"), HasSubstr("overflow"));
  EXPECT_THAT(EvalError("(-9223372036854775807 - 1) // -1"), HasSubstr("overflow"));
  EXPECT_EQ(EvalInt("-9223372036854775807 - 1"), INT64_MIN);
  EXPECT_EQ(EvalInt("4611686018427387903 * 2 + 1"), INT64_MAX);
}

TEST(Template, Syntax) {
  EXPECT_THAT(EvalError(""), HasSubstr("unexpected end"));
  EXPECT_THAT(EvalError("1 +"), HasSubstr("unexpected end"));
  EXPECT_THAT(EvalError("1 2"), HasSubstr("unexpected '2'"));
  EvalError("1 ** 2");
  EvalError("1 $ 2");
  EvalError("a.b");
}

// A few bytes of "{{u}}" each expanding a long template could ask for
// gigabytes: renderings beyond 64 KiB are refused as they grow.
TEST(Template, RenderingIsBounded) {
  TemplateVars v{{"u", std::string(1024, 'u')}};
  std::string sixty, thousands;
  for (int i = 0; i < 60; ++i) sixty += "{{u}}";
  for (int i = 0; i < 200'000; ++i) thousands += "{{u}}";
  auto ok = RenderTemplate(sixty, v);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->size(), 60u * 1024);
  auto t0 = std::chrono::steady_clock::now();
  auto r = RenderTemplate(thousands, v);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("renders to more than 64 KiB"));
  EXPECT_LT(r.status().message().size(), 200u);
  std::string sum = "u";
  for (int i = 0; i < 100; ++i) sum += " + u";
  auto e = EvalTemplateExpression(sum, v);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr("string longer than 64 KiB"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  // Through a reference set: the error names the key.
  std::string json = R"({"version": 1, "templates": {"u": ")" + std::string(4096, 'x') +
                     R"("}, "refs": {"a/0": [")" + thousands.substr(0, 5 * 100) + R"(", 0, 1]}})";
  ExpectParseError(json, {"key 'a/0'", "64 KiB"});
}

// Nesting is bounded: a hostile template cannot overflow the stack.
TEST(Template, DeepNesting) {
  EXPECT_EQ(EvalInt(std::string(50, '(') + "7" + std::string(50, ')')), 7);
  EXPECT_EQ(EvalInt(std::string(50, '-') + "7"), 7);
  for (std::string expr : {std::string(200'000, '(') + "1" + std::string(200'000, ')'),
                           std::string(200'000, '-') + "1", std::string(200'000, '+') + "1",
                           std::string(150, '(') + "1" + std::string(150, ')')}) {
    auto r = EvalTemplateExpression(expr, {});
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), HasSubstr("nested too deeply"));
    EXPECT_LT(r.status().message().size(), 200u) << "a long expression is shortened";
  }
  auto r = RenderTemplate("k{{" + std::string(100'000, '(') + "}}", {});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("nested too deeply"));
}

TEST(Template, WhitespaceInBraces) {
  TemplateVars v{{"i", int64_t{7}}, {"u", std::string("U")}};
  for (const char* t : {"{{i}}", "{{ i }}", "{{  i}}", "{{i  }}", "{{\ti\t}}", "{{ i\n}}"}) {
    auto r = RenderTemplate(t, v);
    ASSERT_TRUE(r.ok()) << t << ": " << r.status().ToString();
    EXPECT_EQ(*r, "7") << t;
  }
  auto r = RenderTemplate("{{ i * 8000 + 10 }}", v);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "56010");
}

TEST(Template, Render) {
  TemplateVars v{{"i", int64_t{3}}, {"j", int64_t{-1}}, {"u", std::string("http://h/d")}};
  auto r = RenderTemplate("{{u}}/f_{{i}}.{{j}}.nc", v);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "http://h/d/f_3.-1.nc");
  r = RenderTemplate("no braces }} here {", v);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "no braces }} here {");
  r = RenderTemplate("", v);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "");
  r = RenderTemplate("{{i}}{{i}}", v);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "33");

  auto bad = RenderTemplate("a{{i", v);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("unterminated"));
  bad = RenderTemplate("x/{{nope}}", v);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("'nope'"));
}

}  // namespace
}  // namespace zm
