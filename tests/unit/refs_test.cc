// Unit tests of refs/: the template evaluator, kerchunk v0/v1 parsing, URL
// resolution, the implied directory tree, the error messages, base64,
// decompression of reference files and loading them from disk.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/base64.h"
#include "refs/reference_index.h"
#include "refs/reference_loader.h"
#include "refs/template.h"
#include "zarr/metadata.h"
#include "tests/unit/test_data.h"
#include "tests/unit/compress_util.h"
#include "tests/unit/fake_origin.h"
#include "tests/unit/temp_dir.h"

namespace zm {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::Gzip;
using testing::RandomBytes;
using testing::TempDir;
using testing::Zstd;
using testing::ZstdStreamed;

// ---- helpers ----------------------------------------------------------------

// "inline:<bytes>", "<url>@<offset>+<length>" or "<url>@whole".
std::string Describe(const ReferenceIndex& idx, ReferenceIndex::FileId f) {
  auto t = idx.target(f);
  if (t.is_inline()) return "inline:" + std::string(idx.inline_data(f));
  if (t.size == ReferenceIndex::kUnknownSize) return idx.url(t.url_id) + "@whole";
  return idx.url(t.url_id) + "@" + std::to_string(t.offset) + "+" + std::to_string(t.size);
}

// Every key of the index with its description.
std::map<std::string, std::string> Dump(const ReferenceIndex& idx) {
  std::map<std::string, std::string> out;
  for (ReferenceIndex::FileId f = 0; f < idx.file_count(); ++f) out[idx.FileKey(f)] = Describe(idx, f);
  return out;
}

ReferenceIndex MustParse(std::string_view json, std::string_view base = "",
                         const ReferenceLoadOptions& options = {}) {
  auto r = ParseReferences(json, base, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString() << "\nJSON: " << json;
  if (!r.ok()) return ReferenceIndex();
  return std::move(r).value();
}

std::string Lookup(const ReferenceIndex& idx, std::string_view key) {
  auto f = idx.FindKey(key);
  if (!f) return "<missing>";
  return Describe(idx, *f);
}

// Parses `json`, expects kInvalidArgument whose message contains every one
// of `parts`; returns the message.
std::string ExpectParseError(std::string_view json, std::vector<std::string> parts,
                             const ReferenceLoadOptions& options = {}) {
  auto r = ParseReferences(json, "", options);
  EXPECT_FALSE(r.ok()) << "parsed: " << json;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  for (const auto& p : parts)
    EXPECT_THAT(r.status().message(), HasSubstr(p)) << "JSON: " << json;
  // One line.
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << r.status().message();
  return r.status().message();
}

std::string EncodeBase64(std::string_view in, bool pad) {
  static const char* kAlpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlpha[(v >> s) & 63];
  }
  size_t rest = in.size() - i;
  if (rest == 1) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kAlpha[(v >> 18) & 63];
    out += kAlpha[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlpha[(v >> 18) & 63];
    out += kAlpha[(v >> 12) & 63];
    out += kAlpha[(v >> 6) & 63];
    if (pad) out += "=";
  }
  return out;
}


// ---- template evaluator ------------------------------------------------------

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

// ---- version 0 ---------------------------------------------------------------

TEST(ParseV0, InlineText) {
  auto idx = MustParse(R"({".zgroup": "{\"zarr_format\": 2}", "a/b": "hello", "e": ""})");
  EXPECT_EQ(Lookup(idx, ".zgroup"), "inline:{\"zarr_format\": 2}");
  EXPECT_EQ(Lookup(idx, "a/b"), "inline:hello");
  EXPECT_EQ(Lookup(idx, "e"), "inline:");
  EXPECT_EQ(idx.file_count(), 3u);
}

TEST(ParseV0, UnicodeAndEscapes) {
  auto idx = MustParse(R"({"t": "caf\u00e9 \"q\" \\ \n", "k\/x": "1"})");
  EXPECT_EQ(Lookup(idx, "t"), "inline:caf\xC3\xA9 \"q\" \\ \n");
  EXPECT_EQ(Lookup(idx, "k/x"), "inline:1");
}

TEST(ParseV0, Base64) {
  std::string bin("\x00\x01\xFF\xFEzz\x80", 7);
  std::string json = R"({"bin": "base64:)" + EncodeBase64(bin, true) + R"(", "empty": "base64:"})";
  auto idx = MustParse(json);
  EXPECT_EQ(Lookup(idx, "bin"), "inline:" + bin);
  EXPECT_EQ(Lookup(idx, "empty"), "inline:");
}

TEST(ParseV0, ObjectValuesKeptAsRawJson) {
  auto idx = MustParse(
      R"({".zattrs": {"a": 1, "b": [1, 2.5, "x"], "c": {"d": null}},  "z": {}})");
  EXPECT_EQ(Lookup(idx, ".zattrs"), R"(inline:{"a": 1, "b": [1, 2.5, "x"], "c": {"d": null}})");
  EXPECT_EQ(Lookup(idx, "z"), "inline:{}");
}

TEST(ParseV0, WholeAndRangeReferences) {
  auto idx = MustParse(
      R"({"w": ["http://h/x.nc"], "r": ["http://h/x.nc", 100, 20], "z": ["http://h/y.nc", 0, 0]})");
  EXPECT_EQ(Lookup(idx, "w"), "http://h/x.nc@whole");
  EXPECT_EQ(Lookup(idx, "r"), "http://h/x.nc@100+20");
  EXPECT_EQ(Lookup(idx, "z"), "http://h/y.nc@0+0");
  EXPECT_EQ(idx.url_count(), 2u) << "URLs are interned";
  auto unsized = idx.UnsizedFiles();
  ASSERT_EQ(unsized.size(), 1u);
  EXPECT_EQ(idx.FileKey(unsized[0]), "w");
  idx.SetSize(unsized[0], 1234);
  EXPECT_EQ(idx.target(unsized[0]).size, 1234u);
  EXPECT_TRUE(idx.UnsizedFiles().empty());
}

TEST(ParseV0, LargestValidRange) {
  // offset + length may reach 2^50 (1 PiB), no further.
  auto idx = MustParse(R"({"r": ["u", 1125899906842600, 24], "s": ["u", 0, 1125899906842624]})");
  EXPECT_EQ(Lookup(idx, "r"), "u@1125899906842600+24");
  EXPECT_EQ(Lookup(idx, "s"), "u@0+1125899906842624");
}

TEST(ParseV0, LaterDuplicateKeyWins) {
  auto idx = MustParse(R"({"a": "first", "b": "x", "a": ["u", 1, 2], "a": "third"})");
  EXPECT_EQ(Lookup(idx, "a"), "inline:third");
  EXPECT_EQ(idx.file_count(), 2u);
  idx = MustParse(R"({"a/b": "first", "a/b": ["u", 1, 2]})");
  EXPECT_EQ(Lookup(idx, "a/b"), "u@1+2");
  EXPECT_EQ(idx.file_count(), 1u);
}

TEST(ParseV0, EmptyObject) {
  auto idx = MustParse("{}");
  EXPECT_EQ(idx.file_count(), 0u);
  EXPECT_EQ(idx.dir_count(), 1u) << "just the root";
  EXPECT_FALSE(idx.FindKey("a").has_value());
}

// ---- version 1 ---------------------------------------------------------------

TEST(ParseV1, RefsWithTemplates) {
  auto idx = MustParse(R"({
    "version": 1,
    "templates": {"u": "http://h/data", "f": "file.nc"},
    "refs": {
      ".zgroup": "{}",
      "a/0": ["{{u}}/{{f}}", 10, 5],
      "a/1": ["{{ u }}/x.nc"],
      "a/2": ["http://plain/y.nc", 0, 1]
    }})");
  EXPECT_EQ(Lookup(idx, ".zgroup"), "inline:{}");
  EXPECT_EQ(Lookup(idx, "a/0"), "http://h/data/file.nc@10+5");
  EXPECT_EQ(Lookup(idx, "a/1"), "http://h/data/x.nc@whole");
  EXPECT_EQ(Lookup(idx, "a/2"), "http://plain/y.nc@0+1");
}

TEST(ParseV1, RefsBeforeTemplates) {
  auto idx = MustParse(R"({
    "refs": {"a/0": ["{{u}}/x.nc", 1, 2], "b": ["{{u}}/y.nc"]},
    "templates": {"u": "http://h"},
    "version": 1})");
  EXPECT_EQ(Lookup(idx, "a/0"), "http://h/x.nc@1+2");
  EXPECT_EQ(Lookup(idx, "b"), "http://h/y.nc@whole");
}

TEST(ParseV1, GenBeforeRefsAndTemplates) {
  auto idx = MustParse(R"({
    "gen": [{"key": "g/{{i}}", "url": "{{u}}/g.nc", "offset": "{{i * 10}}", "length": "10",
             "dimensions": {"i": {"stop": 2}}}],
    "refs": {"r": ["{{u}}/r.nc", 0, 1]},
    "templates": {"u": "http://h"},
    "version": 1})");
  EXPECT_EQ(Lookup(idx, "g/0"), "http://h/g.nc@0+10");
  EXPECT_EQ(Lookup(idx, "g/1"), "http://h/g.nc@10+10");
  EXPECT_EQ(Lookup(idx, "r"), "http://h/r.nc@0+1");
}

TEST(ParseV1, ObjectValuesInRefs) {
  auto idx = MustParse(R"({"version": 1, "refs": {".zattrs": {"x": [1, 2]}}})");
  EXPECT_EQ(Lookup(idx, ".zattrs"), R"(inline:{"x": [1, 2]})");
}

TEST(ParseV1, NoRefsAtAll) {
  auto idx = MustParse(R"({"version": 1})");
  EXPECT_EQ(idx.file_count(), 0u);
  idx = MustParse(R"({"version": 1, "refs": {}})");
  EXPECT_EQ(idx.file_count(), 0u);
}

TEST(ParseV1, GenRangeDefaultsStartZero) {
  auto idx = MustParse(R"({"version": 1, "gen": [
      {"key": "k/{{i}}", "url": "http://h/f.nc", "offset": "{{i * 8000 + 10}}",
       "length": "8000", "dimensions": {"i": {"stop": 3}}}]})");
  EXPECT_EQ(idx.file_count(), 3u);
  EXPECT_EQ(Lookup(idx, "k/0"), "http://h/f.nc@10+8000");
  EXPECT_EQ(Lookup(idx, "k/1"), "http://h/f.nc@8010+8000");
  EXPECT_EQ(Lookup(idx, "k/2"), "http://h/f.nc@16010+8000");
  EXPECT_EQ(Lookup(idx, "k/3"), "<missing>");
}

TEST(ParseV1, GenRangeStartStopStep) {
  auto idx = MustParse(R"({"version": 1, "gen": [
      {"key": "a{{i}}", "url": "u", "offset": "{{i}}", "length": "1",
       "dimensions": {"i": {"start": 1, "stop": 10, "step": 3}}},
      {"key": "b{{i}}", "url": "u", "offset": "{{i}}", "length": "1",
       "dimensions": {"i": {"step": -2, "start": 5, "stop": 0}}},
      {"key": "c{{i}}", "url": "u", "offset": "{{i}}", "length": "1",
       "dimensions": {"i": {"start": 4, "stop": 4}}}]})");
  std::set<std::string> keys;
  for (ReferenceIndex::FileId f = 0; f < idx.file_count(); ++f) keys.insert(idx.FileKey(f));
  EXPECT_EQ(keys, (std::set<std::string>{"a1", "a4", "a7", "b5", "b3", "b1"}));
  EXPECT_EQ(Lookup(idx, "a7"), "u@7+1");
}

TEST(ParseV1, GenListsOfIntsAndStrings) {
  auto idx = MustParse(R"({"version": 1, "gen": [
      {"key": "{{v}}/{{n}}", "url": "http://h/{{v}}_{{n}}.nc", "offset": 100, "length": 7,
       "dimensions": {"v": ["tas", "pr"], "n": [3, -1, 20]}}]})");
  EXPECT_EQ(idx.file_count(), 6u);
  EXPECT_EQ(Lookup(idx, "tas/3"), "http://h/tas_3.nc@100+7");
  EXPECT_EQ(Lookup(idx, "tas/-1"), "http://h/tas_-1.nc@100+7");
  EXPECT_EQ(Lookup(idx, "pr/20"), "http://h/pr_20.nc@100+7");
}

// URLs are interned in generation order, so url ids show the order in which
// the Cartesian product was walked: last dimension fastest.
TEST(ParseV1, GenCartesianProductLastDimensionFastest) {
  auto idx = MustParse(R"({"version": 1, "gen": [
      {"key": "{{a}}.{{b}}.{{c}}", "url": "u_{{a}}_{{b}}_{{c}}",
       "dimensions": {"a": {"stop": 2}, "b": ["x", "y", "z"], "c": [7, 8]}}]})");
  ASSERT_EQ(idx.file_count(), 12u);
  ASSERT_EQ(idx.url_count(), 12u);
  std::vector<std::string> urls;
  for (uint32_t i = 0; i < idx.url_count(); ++i) urls.push_back(idx.url(i));
  std::vector<std::string> want;
  for (int a = 0; a < 2; ++a)
    for (const char* b : {"x", "y", "z"})
      for (int c : {7, 8}) want.push_back("u_" + std::to_string(a) + "_" + b + "_" + std::to_string(c));
  EXPECT_EQ(urls, want);
  EXPECT_EQ(Lookup(idx, "1.z.8"), "u_1_z_8@whole");
}

TEST(ParseV1, GenWholeObjectWithoutOffsetLength) {
  auto idx = MustParse(R"({"version": 1, "templates": {"u": "http://h"}, "gen": [
      {"key": "w/{{i}}", "url": "{{u}}/f{{i}}.nc", "dimensions": {"i": [1, 2]}}]})");
  EXPECT_EQ(Lookup(idx, "w/1"), "http://h/f1.nc@whole");
  EXPECT_EQ(Lookup(idx, "w/2"), "http://h/f2.nc@whole");
  EXPECT_EQ(idx.UnsizedFiles().size(), 2u);
}

TEST(ParseV1, GenArithmeticInOffsetAndLength) {
  auto idx = MustParse(R"({"version": 1, "gen": [
      {"key": "d/{{i}}.{{j}}", "url": "http://h/f.nc",
       "offset": "{{ (i * 2 + j) * 1000 + 40 }}", "length": "{{1000 - j * 10}}",
       "dimensions": {"i": {"stop": 2}, "j": {"stop": 2}}}]})");
  EXPECT_EQ(Lookup(idx, "d/0.0"), "http://h/f.nc@40+1000");
  EXPECT_EQ(Lookup(idx, "d/0.1"), "http://h/f.nc@1040+990");
  EXPECT_EQ(Lookup(idx, "d/1.0"), "http://h/f.nc@2040+1000");
  EXPECT_EQ(Lookup(idx, "d/1.1"), "http://h/f.nc@3040+990");
}

TEST(ParseV1, GenOverridesRefs) {
  auto idx = MustParse(R"({"version": 1,
      "refs": {"a/0": "inline", "a/5": "kept"},
      "gen": [{"key": "a/{{i}}", "url": "http://h/g.nc", "offset": "{{i}}", "length": "1",
               "dimensions": {"i": {"stop": 2}}}]})");
  EXPECT_EQ(Lookup(idx, "a/0"), "http://h/g.nc@0+1");
  EXPECT_EQ(Lookup(idx, "a/1"), "http://h/g.nc@1+1");
  EXPECT_EQ(Lookup(idx, "a/5"), "inline:kept");
  // ... even when "gen" comes first in the document.
  idx = MustParse(R"({"gen": [{"key": "a/{{i}}", "url": "http://h/g.nc", "offset": "{{i}}",
      "length": "1", "dimensions": {"i": {"stop": 1}}}],
      "refs": {"a/0": "inline"}, "version": 1})");
  EXPECT_EQ(Lookup(idx, "a/0"), "http://h/g.nc@0+1");
}

TEST(ParseV1, LaterDuplicateKeyWins) {
  auto idx = MustParse(R"({"version": 1, "refs": {"k": ["u", 0, 1], "k": "second"}})");
  EXPECT_EQ(Lookup(idx, "k"), "inline:second");
  // Two gen entries writing the same key: the later one wins.
  idx = MustParse(R"({"version": 1, "gen": [
      {"key": "k{{i}}", "url": "first", "dimensions": {"i": [0]}},
      {"key": "k{{i}}", "url": "second", "dimensions": {"i": [0]}}]})");
  EXPECT_EQ(Lookup(idx, "k0"), "second@whole");
}

TEST(ParseV1, GenEmptyDimensionGeneratesNothing) {
  auto idx = MustParse(R"({"version": 1, "refs": {"x": "1"}, "gen": [
      {"key": "k{{i}}", "url": "u", "dimensions": {"i": []}}]})");
  EXPECT_EQ(idx.file_count(), 1u);
}

TEST(ParseV1, GenErrors) {
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u"}]})",
                   {"gen entry 0", "dimensions"});
  ExpectParseError(R"({"version": 1, "gen": [{"url": "u", "dimensions": {"i": [1]}}]})",
                   {"gen entry 0", "'key'"});
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u", "offset": "1",
                       "dimensions": {"i": [1]}}]})",
                   {"gen entry 0", "'offset' and 'length'"});
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u",
                       "dimensions": {"i": {"start": 1}}}]})",
                   {"gen entry 0", "'i'", "stop"});
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u",
                       "dimensions": {"i": {"stop": 3, "step": 0}}}]})",
                   {"'i'", "step 0"});
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{j}}", "url": "u",
                       "dimensions": {"i": [1]}}]})",
                   {"gen entry 0", "'j'"});
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u", "offset": "{{i - 5}}",
                       "length": "1", "dimensions": {"i": [1]}}]})",
                   {"key 'k1'", "offset", "-4"});
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u", "offset": "0",
                       "length": "{{i // 0}}", "dimensions": {"i": [1]}}]})",
                   {"key 'k1'", "division by zero"});
  ExpectParseError(R"({"version": 1, "gen": [{"key": "../{{i}}", "url": "u",
                       "dimensions": {"i": [1]}}]})",
                   {"key '../1'", ".."});
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "",
                       "dimensions": {"i": [1]}}]})",
                   {"key 'k1'", "url is empty"});
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u",
                       "dimensions": {"i": [1.5]}}]})",
                   {"'i'", "integers or strings"});
  ExpectParseError(R"({"version": 1, "gen": {}})", {"'gen' must be an array"});
  ExpectParseError(R"({"version": 1, "gen": [3]})", {"gen entry 0"});
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u", "offset": "1",
                       "length": "9223372036854775807", "dimensions": {"i": [1]}}]})",
                   {"key 'k1'", "beyond 1 PiB"});
}

TEST(ParseV1, GenKeyLimit) {
  ReferenceLoadOptions opt;
  opt.max_generated_keys = 10;
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}.{{j}}", "url": "u",
                       "dimensions": {"i": {"stop": 4}, "j": {"stop": 3}}}]})",
                   {"gen entry 0", "more than 10"}, opt);
  ExpectParseError(R"({"version": 1, "gen": [
                       {"key": "a{{i}}", "url": "u", "dimensions": {"i": {"stop": 6}}},
                       {"key": "b{{i}}", "url": "u", "dimensions": {"i": {"stop": 6}}}]})",
                   {"gen entry 1", "more than 10"}, opt);
  auto ok = ParseReferences(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u",
                                "dimensions": {"i": {"stop": 10}}}]})", "", opt);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  // A huge range is refused without materialising it.
  auto t0 = std::chrono::steady_clock::now();
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u",
                       "dimensions": {"i": {"stop": 9000000000000000000}}}]})",
                   {"gen entry 0"}, opt);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  // So is one under the default limit (10^9 keys): ranges are not
  // materialised before the limit is checked.
  t0 = std::chrono::steady_clock::now();
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}.{{j}}", "url": "u",
                       "dimensions": {"i": {"stop": 999999999}, "j": {"stop": 2}}}]})",
                   {"gen entry 0", "more than 100000000 keys"});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

// Ranges at the ends of int64: counted and stepped without overflowing.
TEST(ParseV1, GenRangeAtInt64Limits) {
  auto idx = MustParse(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u",
      "dimensions": {"i": {"start": 9223372036854775806, "stop": 9223372036854775807,
                           "step": 10}}}]})");
  EXPECT_EQ(Dump(idx), (std::map<std::string, std::string>{{"k9223372036854775806", "u@whole"}}));
  idx = MustParse(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u",
      "dimensions": {"i": {"start": -9223372036854775808, "stop": 9223372036854775807,
                           "step": 4611686018427387904}}}]})");
  EXPECT_EQ(Dump(idx), (std::map<std::string, std::string>{{"k-9223372036854775808", "u@whole"},
                                                           {"k-4611686018427387904", "u@whole"},
                                                           {"k0", "u@whole"},
                                                           {"k4611686018427387904", "u@whole"}}));
  idx = MustParse(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u",
      "dimensions": {"i": {"start": 9223372036854775807, "stop": -9223372036854775808,
                           "step": -9223372036854775808}}}]})");
  EXPECT_EQ(Dump(idx), (std::map<std::string, std::string>{{"k9223372036854775807", "u@whole"},
                                                           {"k-1", "u@whole"}}));
  idx = MustParse(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u",
      "dimensions": {"i": {"start": 5, "stop": -1, "step": -2}}}]})");
  EXPECT_EQ(Dump(idx), (std::map<std::string, std::string>{
                           {"k5", "u@whole"}, {"k3", "u@whole"}, {"k1", "u@whole"}}));
  // Empty ranges: stop before start, or on the wrong side for the step.
  for (const char* dim : {R"({"start": 3, "stop": 3})", R"({"start": 3, "stop": 1})",
                          R"({"start": 1, "stop": 3, "step": -1})"}) {
    SCOPED_TRACE(dim);
    idx = MustParse(std::string(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u",
        "dimensions": {"i": )") + dim + "}}]}");
    EXPECT_EQ(idx.file_count(), 0u);
  }
}

// ---- URL resolution -----------------------------------------------------------

TEST(ResolveUrl, Cases) {
  EXPECT_EQ(ResolveUrl("/base/dir/", "data/x.nc"), "/base/dir/data/x.nc");
  EXPECT_EQ(ResolveUrl("/base/dir/", "./x.nc"), "/base/dir/x.nc");
  EXPECT_EQ(ResolveUrl("/base/dir/", "././x.nc"), "/base/dir/x.nc");
  EXPECT_EQ(ResolveUrl("/base/dir/", "/abs/x.nc"), "/abs/x.nc");
  EXPECT_EQ(ResolveUrl("/base/dir/", "http://h/x"), "http://h/x");
  EXPECT_EQ(ResolveUrl("/base/dir/", "s3://b/k"), "s3://b/k");
  EXPECT_EQ(ResolveUrl("/base/dir/", "file:///abs/x.nc"), "file:///abs/x.nc");
  EXPECT_EQ(ResolveUrl("/base/dir", "x.nc"), "/base/dir/x.nc");
  EXPECT_EQ(ResolveUrl("http://h/refs/", "data/x.nc"), "http://h/refs/data/x.nc");
  EXPECT_EQ(ResolveUrl("", "data/x.nc"), "data/x.nc");
  EXPECT_EQ(ResolveUrl("", "./x.nc"), "./x.nc");
}

TEST(ParseReferences, ResolvesRelativeUrlsAgainstBase) {
  auto idx = MustParse(R"({"a": ["data/x.nc", 0, 1], "b": ["./x.nc", 0, 1],
                           "c": ["/abs/x.nc", 0, 1], "d": ["http://h/x", 0, 1], "e": ["y.nc"]})",
                       "/base/dir/");
  EXPECT_EQ(Lookup(idx, "a"), "/base/dir/data/x.nc@0+1");
  EXPECT_EQ(Lookup(idx, "b"), "/base/dir/x.nc@0+1");
  EXPECT_EQ(Lookup(idx, "c"), "/abs/x.nc@0+1");
  EXPECT_EQ(Lookup(idx, "d"), "http://h/x@0+1");
  EXPECT_EQ(Lookup(idx, "e"), "/base/dir/y.nc@whole");
}

TEST(ParseReferences, ResolvesTemplatedAndGeneratedUrls) {
  auto idx = MustParse(R"({"version": 1, "templates": {"f": "sst_01.nc"},
      "refs": {"a": ["{{f}}", 0, 1]},
      "gen": [{"key": "g{{i}}", "url": "./g{{i}}.nc", "dimensions": {"i": [0]}}]})",
                       "/data/");
  EXPECT_EQ(Lookup(idx, "a"), "/data/sst_01.nc@0+1");
  EXPECT_EQ(Lookup(idx, "g0"), "/data/g0.nc@whole");
}

// ---- directory tree --------------------------------------------------------------

TEST(DirectoryTree, ImpliedByKeys) {
  auto idx = MustParse(R"({
      "z": "1", ".zgroup": "2", "b/c/0": "3", "b/c/.zarray": "4", "b/.zgroup": "5",
      "a/1.0": "6", "a/0.0": "7", "a/.zarray": "8", "b/a/x": "9", "a.b/x": "10",
      "a-b/y": "11", "a0": "12", "b/c/d/e/f": "13"})");
  ASSERT_EQ(idx.file_count(), 13u);
  // Dirs: root, a, a-b, a.b, b, b/a, b/c, b/c/d, b/c/d/e.
  EXPECT_EQ(idx.dir_count(), 9u);
  auto names = [&](std::span<const ReferenceIndex::DirId> ds) {
    std::vector<std::string> out;
    for (auto d : ds) out.emplace_back(idx.dir_name(d));
    return out;
  };
  auto files = [&](ReferenceIndex::DirId d) {
    std::vector<std::string> out;
    for (uint64_t i = 0; i < idx.file_count(d); ++i)
      out.emplace_back(idx.file_name(idx.first_file(d) + i));
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(idx.dir_name(ReferenceIndex::kRootDir), "");
  EXPECT_EQ(idx.DirPath(ReferenceIndex::kRootDir), "");
  EXPECT_EQ(names(idx.subdirs(ReferenceIndex::kRootDir)), (V{"a", "a-b", "a.b", "b"}));
  EXPECT_EQ(files(ReferenceIndex::kRootDir), (V{".zgroup", "a0", "z"}));

  auto a = idx.FindDir(ReferenceIndex::kRootDir, "a");
  auto b = idx.FindDir(ReferenceIndex::kRootDir, "b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(files(*a), (V{".zarray", "0.0", "1.0"}));
  EXPECT_TRUE(idx.subdirs(*a).empty());
  EXPECT_EQ(names(idx.subdirs(*b)), (V{"a", "c"}));
  EXPECT_EQ(files(*b), (V{".zgroup"}));
  auto bc = idx.FindDir(*b, "c");
  ASSERT_TRUE(bc);
  EXPECT_EQ(idx.DirPath(*bc), "b/c");
  EXPECT_EQ(idx.dir_parent(*bc), *b);
  EXPECT_EQ(files(*bc), (V{".zarray", "0"}));
  EXPECT_EQ(names(idx.subdirs(*bc)), (V{"d"}));
  auto bcd = idx.FindDir(*bc, "d");
  ASSERT_TRUE(bcd);
  EXPECT_EQ(files(*bcd), V{});
  auto bcde = idx.FindDir(*bcd, "e");
  ASSERT_TRUE(bcde);
  EXPECT_EQ(idx.DirPath(*bcde), "b/c/d/e");
  EXPECT_EQ(files(*bcde), (V{"f"}));

  EXPECT_FALSE(idx.FindDir(ReferenceIndex::kRootDir, "z").has_value()) << "a file, not a dir";
  EXPECT_FALSE(idx.FindFile(ReferenceIndex::kRootDir, "a").has_value()) << "a dir, not a file";
  EXPECT_FALSE(idx.FindDir(ReferenceIndex::kRootDir, "c").has_value());
  EXPECT_FALSE(idx.FindKey("b/c").has_value());
  EXPECT_FALSE(idx.FindKey("b/c/").has_value());
  EXPECT_FALSE(idx.FindKey("").has_value());
  EXPECT_FALSE(idx.FindKey("nope/x").has_value());
  EXPECT_EQ(Lookup(idx, "b/c/d/e/f"), "inline:13");
  EXPECT_EQ(Lookup(idx, "a.b/x"), "inline:10");

  // Every file: its key finds it, its dir holds it, its id is in its dir's run.
  for (ReferenceIndex::FileId f = 0; f < idx.file_count(); ++f) {
    std::string key = idx.FileKey(f);
    auto found = idx.FindKey(key);
    ASSERT_TRUE(found.has_value()) << key;
    EXPECT_EQ(*found, f) << key;
    auto d = idx.file_dir(f);
    EXPECT_GE(f, idx.first_file(d)) << key;
    EXPECT_LT(f, idx.first_file(d) + idx.file_count(d)) << key;
    std::string dir_path = idx.DirPath(d);
    EXPECT_EQ(key, dir_path.empty() ? std::string(idx.file_name(f))
                                    : dir_path + "/" + std::string(idx.file_name(f)));
    EXPECT_EQ(idx.FindFile(d, idx.file_name(f)), std::optional<ReferenceIndex::FileId>(f));
  }
  // Every dir: its parent lists it, FindDir finds it.
  for (ReferenceIndex::DirId d = 1; d < idx.dir_count(); ++d) {
    auto p = idx.dir_parent(d);
    EXPECT_EQ(idx.FindDir(p, idx.dir_name(d)), std::optional<ReferenceIndex::DirId>(d));
  }
}

TEST(DirectoryTree, IdsAreDeterministic) {
  const char* j1 = R"({"b/x": "1", "a/y": "2", "c": "3", "a/b/z": "4"})";
  const char* j2 = R"({"a/b/z": "4", "c": "3", "a/y": "2", "b/x": "1"})";  // same set, reordered
  auto i1 = MustParse(j1), i2 = MustParse(j2), i3 = MustParse(j1);
  ASSERT_EQ(i1.file_count(), i2.file_count());
  for (ReferenceIndex::FileId f = 0; f < i1.file_count(); ++f) {
    EXPECT_EQ(i1.FileKey(f), i2.FileKey(f));
    EXPECT_EQ(i1.FileKey(f), i3.FileKey(f));
  }
  for (ReferenceIndex::DirId d = 0; d < i1.dir_count(); ++d) EXPECT_EQ(i1.DirPath(d), i2.DirPath(d));
}

TEST(DirectoryTree, KeyThatIsBothFileAndDirectory) {
  std::string m = ExpectParseError(R"({"a": "x", "a/b": "y"})", {"'a'", "both a file and a directory"});
  m = ExpectParseError(R"({"x/a/b/c": "y", "x/a/b": "x"})", {"'x/a/b'", "both a file and a directory"});
}

// ---- errors ----------------------------------------------------------------------

TEST(ParseErrors, MalformedJson) {
  for (const char* j : {"", "   ", "{", "{\"a\": }", "{\"a\": \"x\",}", "not json", "{'a': 'x'}",
                        "{\"a\": \"x\"", "{\"a\": [\"u\", 0, 10]", "{\"a\" \"x\"}",
                        "{\"a\": \"unterminated}"}) {
    SCOPED_TRACE(j);
    ExpectParseError(j, {"JSON"});
  }
}

TEST(ParseErrors, TrailingJunkAfterTheObject) {
  ExpectParseError(R"({"a": "x"} {"b": "y"})", {"JSON"});
  ExpectParseError(R"({"a": "x"}garbage)", {"JSON"});
  ExpectParseError(R"({"a": "x"} 1)", {"JSON"});
  ExpectParseError(R"({"a": "x"}})", {"JSON"});
  ExpectParseError(R"({"version": 1, "refs": {"a": "x"}} {"refs": {}})", {"JSON"});
}

TEST(ParseErrors, NotAnObject) {
  for (const char* j : {"[]", "[1, 2]", "42", "\"str\"", "null", "true"}) {
    SCOPED_TRACE(j);
    ExpectParseError(j, {"not a JSON object"});
  }
}

TEST(ParseErrors, UnsupportedVersion) {
  ExpectParseError(R"({"version": 2, "refs": {}})", {"version"});
  ExpectParseError(R"({"version": "1", "refs": {}})", {"version"});
  ExpectParseError(R"({"version": 1.5, "refs": {}})", {"version"});
}

TEST(ParseErrors, BadOffsetsAndLengths) {
  ExpectParseError(R"({"k/0": ["u", -1, 10]})", {"key 'k/0'", "offset must be a non-negative integer"});
  ExpectParseError(R"({"k/0": ["u", 1.5, 10]})", {"key 'k/0'", "offset must be a non-negative integer"});
  ExpectParseError(R"({"k/0": ["u", "abc", 10]})", {"key 'k/0'", "offset must be a non-negative integer"});
  ExpectParseError(R"({"k/0": ["u", "10", 10]})", {"key 'k/0'", "offset"});
  ExpectParseError(R"({"k/0": ["u", null, 10]})", {"key 'k/0'", "offset"});
  ExpectParseError(R"({"k/0": ["u", 0, -5]})", {"key 'k/0'", "length must be a non-negative integer"});
  ExpectParseError(R"({"k/0": ["u", 0, 2.0]})", {"key 'k/0'", "length"});
  ExpectParseError(R"({"k/0": ["u", 0, 1e3]})", {"key 'k/0'", "length"});
  ExpectParseError(R"({"k/0": ["u", 18446744073709551615, 1]})", {"key 'k/0'", "offset", "too large"});
  ExpectParseError(R"({"k/0": ["u", 0, 18446744073709551615]})", {"key 'k/0'", "length", "too large"});
  ExpectParseError(R"({"k/0": ["u", 9223372036854775808, 1]})", {"key 'k/0'", "offset"});
  ExpectParseError(R"({"k/0": ["u", 4611686018427387904, 4611686018427387904]})",
                   {"key 'k/0'", "beyond 1 PiB"});
  ExpectParseError(R"({"k/0": ["u", 9223372036854775807, 1]})", {"key 'k/0'", "beyond 1 PiB"});
  ExpectParseError(R"({"k/0": ["u", 1, 9223372036854775807]})", {"key 'k/0'", "beyond 1 PiB"});
}

// No object is anywhere near 1 PiB: a range beyond it is a corrupt or
// hostile reference, refused before anything is sized by it.
TEST(ParseErrors, AbsurdRanges) {
  EXPECT_EQ(ExpectParseError(R"({"k/0": ["u", 0, 1125899906842625]})", {}),
            "key 'k/0': length 1125899906842625 is beyond 1 PiB");
  EXPECT_EQ(ExpectParseError(R"({"k/0": ["u", 1125899906842624, 1]})", {}),
            "key 'k/0': offset + length (1125899906842624 + 1) is beyond 1 PiB");
  ExpectParseError(R"({"k/0": ["u", 1125899906842625, 0]})", {"key 'k/0'", "beyond 1 PiB"});
  ExpectParseError(R"({"k/0": ["u", 600000000000000, 600000000000000]})",
                   {"key 'k/0'", "offset + length", "beyond 1 PiB"});
  ExpectParseError(R"({"version": 1, "refs": {"a/b": ["u", 0, 2251799813685248]}})",
                   {"key 'a/b'", "length", "beyond 1 PiB"});
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{i}}", "url": "u",
                       "offset": "{{i * 562949953421312}}", "length": "1",
                       "dimensions": {"i": [1, 2]}}]})",
                   {"gen entry 0", "key 'k2'", "beyond 1 PiB"});
}

TEST(ParseErrors, BadReferenceShapes) {
  ExpectParseError(R"({"k": []})", {"key 'k'", "[url] or [url, offset, length]"});
  ExpectParseError(R"({"k": ["u", 1]})", {"key 'k'", "[url] or [url, offset, length]"});
  ExpectParseError(R"({"k": ["u", 1, 2, 3]})", {"key 'k'", "[url] or [url, offset, length]"});
  ExpectParseError(R"({"k": [1, 2, 3]})", {"key 'k'", "url must be a string"});
  ExpectParseError(R"({"k": [""]})", {"key 'k'", "url is empty"});
  ExpectParseError(R"({"k": 42})", {"key 'k'", "value must be"});
  ExpectParseError(R"({"k": true})", {"key 'k'", "value must be"});
  ExpectParseError(R"({"k": null})", {"key 'k'", "value must be"});
}

TEST(ParseErrors, InvalidBase64) {
  ExpectParseError(R"({"k": "base64:QUJD@"})", {"key 'k'", "base64"});
  ExpectParseError(R"({"k": "base64:QUJD QUJD"})", {"key 'k'", "base64"});
  ExpectParseError(R"({"k": "base64:QQ="})", {"key 'k'", "base64"});  // bad padding
  ExpectParseError(R"({"k": "base64:Q"})", {"key 'k'", "base64"});     // bad length
  ExpectParseError(R"({"k": "base64:QUJDRA==="})", {"key 'k'", "base64"});
  ExpectParseError(R"({"k": "base64:="})", {"key 'k'", "base64"});
  ExpectParseError(R"({"k": "base64:QU-_"})", {"key 'k'", "base64"});  // url-safe alphabet
}

TEST(ParseErrors, UnknownTemplateName) {
  ExpectParseError(R"({"version": 1, "templates": {"u": "http://h"},
                       "refs": {"a/0": ["{{v}}/x.nc", 0, 1]}})",
                   {"key 'a/0'", "'v'"});
  // Templates only exist in version 1: in v0 "{{u}}" has no definition.
  ExpectParseError(R"({"a": ["{{u}}/x.nc", 0, 1]})", {"key 'a'", "'u'"});
  ExpectParseError(R"({"version": 1, "templates": {"u": 3}, "refs": {}})", {"template 'u'"});
}

TEST(ParseErrors, BadKeys) {
  struct Case {
    const char* key;
    const char* problem;
  };
  for (Case c : {Case{"/etc/x", "absolute"}, Case{"/", "absolute"}, Case{"a/../b", "'..'"},
                 Case{"..", "'..'"}, Case{"../x", "'..'"}, Case{"a/./b", "'.'"}, Case{".", "'.'"},
                 Case{"a//b", "empty"}, Case{"a/", "empty"}, Case{"", "empty key"}}) {
    SCOPED_TRACE(c.key);
    std::string json = std::string(R"({"ok": "1", ")") + c.key + R"(": "x"})";
    std::string m = ExpectParseError(json, {std::string("key '") + c.key + "'", c.problem});
    // The same for version 1.
    json = std::string(R"({"version": 1, "refs": {")") + c.key + R"(": ["u", 0, 1]}})";
    ExpectParseError(json, {std::string("key '") + c.key + "'", c.problem});
  }
  ExpectParseError(R"({"a\u0000b": "x"})", {"NUL"});
  ExpectParseError("{\"" + std::string(256, 'n') + "\": \"x\"}", {"255"});
  ExpectParseError("{\"" + std::string(4097, 'n') + "\": \"x\"}", {"4096"});
}

// Errors stay one line whatever the key or template holds, and quote at
// most the start of a huge key.
TEST(ParseErrors, OneLineWhateverTheInput) {
  EXPECT_EQ(ExpectParseError(R"({"a\nb\u0001": ["u", -1, 1]})", {}),
            "key 'a\\nb\\x01': offset must be a non-negative integer");
  ExpectParseError(R"({"version": 1, "gen": [{"key": "k{{ i\n+ x }}", "url": "u",
                       "dimensions": {"i": [1]}}]})",
                   {"gen entry 0", "'x'"});
  std::string m = ExpectParseError("{\"" + std::string(100'000, 'n') + "\": \"x\"}", {"4096"});
  EXPECT_LT(m.size(), 400u);
}

TEST(ValidateKey, Direct) {
  EXPECT_TRUE(ReferenceIndexBuilder::ValidateKey("a").ok());
  EXPECT_TRUE(ReferenceIndexBuilder::ValidateKey("a/b/.zarray").ok());
  EXPECT_TRUE(ReferenceIndexBuilder::ValidateKey("...").ok());
  EXPECT_TRUE(ReferenceIndexBuilder::ValidateKey("a/..b/c.").ok());
  EXPECT_TRUE(ReferenceIndexBuilder::ValidateKey(std::string(255, 'x')).ok());
  EXPECT_FALSE(ReferenceIndexBuilder::ValidateKey("").ok());
  EXPECT_FALSE(ReferenceIndexBuilder::ValidateKey("/a").ok());
  EXPECT_FALSE(ReferenceIndexBuilder::ValidateKey("a/").ok());
  EXPECT_FALSE(ReferenceIndexBuilder::ValidateKey("a/..").ok());
  EXPECT_FALSE(ReferenceIndexBuilder::ValidateKey("./a").ok());
  EXPECT_FALSE(ReferenceIndexBuilder::ValidateKey(std::string("a\0b", 3)).ok());
}

// ---- .zarray -------------------------------------------------------------------

TEST(ZarrArray, ParsesShapeChunksAndSeparator) {
  auto m = ParseZarrArray(R"({"shape": [365, 90, 180], "chunks": [1, 90, 100],
                              "dimension_separator": "/", "dtype": "<f4", "zarr_format": 2})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->shape, (std::vector<uint64_t>{365, 90, 180}));
  EXPECT_EQ(m->key_encoding, ChunkKeyEncoding::V2('/'));
  EXPECT_EQ(m->GridShape(), (std::vector<uint64_t>{365, 1, 2}));
  EXPECT_FALSE(ParseZarrArray(R"({"shape": [1, 2], "chunks": [1]})").ok());
  EXPECT_FALSE(ParseZarrArray(R"({"shape": [-1], "chunks": [1]})").ok());
  EXPECT_FALSE(ParseZarrArray(R"({"shape": [1], "chunks": [1], "dimension_separator": "-"})").ok());
  EXPECT_FALSE(ParseZarrArray("[").ok());
}

TEST(ZarrArray, GridOfHugeShapesDoesNotWrap) {
  auto m = ParseZarrArray(R"({"shape": [18446744073709551615, 18446744073709551615, 7],
                              "chunks": [2, 1, 3], "dtype": "|u1"})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->GridShape(), (std::vector<uint64_t>{9223372036854775808u, 18446744073709551615u, 3}));
  // A zero chunk length is refused by the parser; the grid of one built by
  // hand is empty along that axis rather than a division by zero.
  EXPECT_FALSE(ParseZarrArray(R"({"shape": [7], "chunks": [0], "dtype": "|u1"})").ok());
  ZarrArrayMeta hand;
  hand.shape = {7, 4};
  hand.chunks = {0, 2};
  EXPECT_EQ(hand.GridShape(), (std::vector<uint64_t>{0, 2}));
}

// ---- base64 ------------------------------------------------------------------------

TEST(Base64, RoundTripsLengths0To10) {
  for (size_t n = 0; n <= 10; ++n) {
    for (uint32_t seed = 1; seed <= 5; ++seed) {
      std::string bytes = RandomBytes(n, seed * 100 + n);
      for (bool pad : {true, false}) {
        std::string enc = EncodeBase64(bytes, pad);
        auto dec = DecodeBase64(enc);
        ASSERT_TRUE(dec.ok()) << "n=" << n << " pad=" << pad << " '" << enc
                              << "': " << dec.status().ToString();
        EXPECT_EQ(*dec, bytes) << "n=" << n << " pad=" << pad << " '" << enc << "'";
      }
    }
  }
}

TEST(Base64, KnownVectors) {
  auto d = [](std::string_view s) {
    auto r = DecodeBase64(s);
    EXPECT_TRUE(r.ok()) << s << ": " << r.status().ToString();
    return r.ok() ? *r : std::string("<error>");
  };
  EXPECT_EQ(d(""), "");
  EXPECT_EQ(d("Zg=="), "f");
  EXPECT_EQ(d("Zm8="), "fo");
  EXPECT_EQ(d("Zm9v"), "foo");
  EXPECT_EQ(d("Zm9vYg"), "foob");
  EXPECT_EQ(d("Zm9vYmE"), "fooba");
  EXPECT_EQ(d("Zm9vYmFy"), "foobar");
  EXPECT_EQ(d("+/+/"), "\xFB\xFF\xBF");
}

TEST(Base64, Rejects) {
  for (const char* s : {"Z", "Zm9vY", "Zg=", "Zg===", "=", "==", "Zm9v=", "Zm 9v", "Zm9v\n",
                        "Zm-v", "Zm_v", "Z=g=", "Zm9v!"}) {
    auto r = DecodeBase64(s);
    EXPECT_FALSE(r.ok()) << "'" << s << "' decoded";
    if (!r.ok()) { EXPECT_EQ(r.status().code(), Code::kInvalidArgument); }
  }
}

// ---- decompression --------------------------------------------------------------

std::string SampleJson(size_t approx_bytes) {
  std::string j = "{";
  for (size_t i = 0; j.size() < approx_bytes; ++i) {
    if (i) j += ",";
    j += "\"v/" + std::to_string(i) + "\": [\"http://h/f" + std::to_string(i % 7) + ".nc\", " +
         std::to_string(i * 1000) + ", 1000]";
  }
  return j + "}";
}

TEST(Decompress, PassThroughUncompressed) {
  for (std::string s : {std::string(), std::string("{}"), std::string("\x1F"), std::string("\x28\xB5\x2F"),
                        SampleJson(5000)}) {
    auto r = DecompressIfNeeded(s, 1_MiB);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, s);
  }
}

TEST(Decompress, Gzip) {
  std::string json = SampleJson(300'000);
  for (int level : {1, 6, 9}) {
    auto r = DecompressIfNeeded(Gzip(json, level), 64_MiB);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, json);
  }
  auto empty = DecompressIfNeeded(Gzip(""), 1_MiB);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(*empty, "");
}

TEST(Decompress, GzipLargerThanOneBuffer) {
  std::string data = RandomBytes(3_MiB + 123, 7);  // incompressible, > the 1 MiB inflate buffer
  auto r = DecompressIfNeeded(Gzip(data, 1), 64_MiB);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(*r == data);
}

TEST(Decompress, GzipConcatenatedMembers) {
  auto r = DecompressIfNeeded(Gzip("{\"a\": ") + Gzip("\"x\"}"), 1_MiB);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "{\"a\": \"x\"}");
}

TEST(Decompress, GzipFromGzopen) {
  TempDir dir;
  std::string path = dir.path() + "/x.gz";
  std::string json = SampleJson(100'000);
  gzFile g = gzopen(path.c_str(), "wb9");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(gzwrite(g, json.data(), static_cast<unsigned>(json.size())), static_cast<int>(json.size()));
  gzclose(g);
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto r = DecompressIfNeeded(bytes, 64_MiB);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, json);
}

TEST(Decompress, GzipBombGuard) {
  std::string zeros(8_MiB, '\0');
  std::string gz = Gzip(zeros, 9);
  EXPECT_LT(gz.size(), 64_KiB);
  auto r = DecompressIfNeeded(gz, 1_MiB);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("refusing"));
  // Exactly the limit is fine.
  auto ok = DecompressIfNeeded(gz, 8_MiB);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->size(), 8_MiB);
}

TEST(Decompress, GzipTruncatedAndCorrupt) {
  std::string json = SampleJson(50'000);
  std::string gz = Gzip(json);
  for (size_t cut : {size_t{2}, size_t{10}, gz.size() / 2, gz.size() - 4, gz.size() - 1}) {
    auto r = DecompressIfNeeded(gz.substr(0, cut), 64_MiB);
    EXPECT_FALSE(r.ok()) << "cut at " << cut << " of " << gz.size();
    if (!r.ok()) { EXPECT_EQ(r.status().code(), Code::kInvalidArgument); }
  }
  std::string bad = gz;
  bad[bad.size() / 2] ^= 0x55;
  EXPECT_FALSE(DecompressIfNeeded(bad, 64_MiB).ok());
  EXPECT_FALSE(DecompressIfNeeded(std::string("\x1F\x8B garbage here"), 64_MiB).ok());
}

TEST(Decompress, Zstd) {
  std::string json = SampleJson(300'000);
  for (int level : {1, 3, 19}) {
    auto r = DecompressIfNeeded(Zstd(json, level), 64_MiB);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, json);
  }
  std::string data = RandomBytes(1_MiB + 17, 3);
  auto r = DecompressIfNeeded(Zstd(data, 1), 64_MiB);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(*r == data);
}

TEST(Decompress, ZstdHighlyCompressible) {
  std::string zeros(8_MiB, '\0');
  auto r = DecompressIfNeeded(Zstd(zeros), 64_MiB);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), zeros.size());
  EXPECT_TRUE(*r == zeros);
}

// A frame from a streaming compressor (no content size, no checksum) whose
// last block is decoded into a partly full output buffer: the decoder has
// consumed all input but still holds output to flush.
TEST(Decompress, ZstdStreamedFrame) {
  std::string data = SampleJson(400'000);
  for (size_t split : {size_t{1000}, size_t{100'000}, size_t{200'000}, data.size() - 10}) {
    std::string z = ZstdStreamed(data, split);
    ASSERT_EQ(ZSTD_getFrameContentSize(z.data(), z.size()), ZSTD_CONTENTSIZE_UNKNOWN);
    auto r = DecompressIfNeeded(z, 64_MiB);
    ASSERT_TRUE(r.ok()) << "split " << split << ": " << r.status().ToString();
    EXPECT_TRUE(*r == data) << "split " << split;
  }
}

TEST(Decompress, ZstdConcatenatedFrames) {
  auto r = DecompressIfNeeded(Zstd("{\"a\": ") + Zstd("\"x\"}"), 1_MiB);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "{\"a\": \"x\"}");
}

TEST(Decompress, ZstdBombGuard) {
  std::string z = Zstd(std::string(8_MiB, 'a'), 19);
  EXPECT_LT(z.size(), 64_KiB);
  auto r = DecompressIfNeeded(z, 1_MiB);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("refusing"));
}

TEST(Decompress, ZstdTruncatedAndCorrupt) {
  std::string json = SampleJson(50'000);
  std::string z = Zstd(json);
  for (size_t cut : {size_t{4}, size_t{8}, z.size() / 2, z.size() - 1}) {
    auto r = DecompressIfNeeded(z.substr(0, cut), 64_MiB);
    EXPECT_FALSE(r.ok()) << "cut at " << cut << " of " << z.size();
    if (!r.ok()) { EXPECT_EQ(r.status().code(), Code::kInvalidArgument); }
  }
  std::string bad = z;
  bad[6] ^= 0x7F;
  bad[bad.size() / 2] ^= 0x7F;
  // zstd frames without a checksum cannot always detect this; it must not
  // crash or run away, and any output stays bounded.
  auto r = DecompressIfNeeded(bad, 64_MiB);
  if (r.ok()) { EXPECT_LE(r->size(), 64_MiB); }
}

// Peak resident memory of this process, for "did not allocate the output".
uint64_t PeakRssBytes() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

// 4 GiB of output from a few MB of input (64 gzip members or zstd frames of
// 64 MiB of zeros each) is refused after about the limit, quickly and
// without allocating the output.
TEST(Decompress, BombsAreRefusedEarly) {
  std::string zeros(64_MiB, '\0');
  std::string gz_member = Gzip(zeros, 9), zstd_frame = ZstdStreamed(zeros, zeros.size());
  zeros = std::string();
  std::string gz_bomb, zstd_bomb;
  for (int i = 0; i < 64; ++i) {
    gz_bomb += gz_member;
    zstd_bomb += zstd_frame;
  }
  for (const std::string* bomb : {&gz_bomb, &zstd_bomb}) {
    EXPECT_LT(bomb->size(), 8_MiB);
    uint64_t rss = PeakRssBytes();
    auto t0 = std::chrono::steady_clock::now();
    auto r = DecompressIfNeeded(*bomb, 1_MiB);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), "decompresses to more than 1 MiB; refusing");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    EXPECT_LT(PeakRssBytes() - rss, 64_MiB);
  }
}

// A zstd frame of 17 bytes whose header claims 32 GiB (or 100 MiB) of
// content, under a limit that allows it: the claim is not trusted with an
// allocation, and the lie is found when the data ends.
TEST(Decompress, ZstdSizeClaimIsNotTrusted) {
  for (uint64_t claim : {32_GiB, 100_MiB}) {
    SCOPED_TRACE(claim);
    std::string frame("\x28\xB5\x2F\xFD", 4);
    frame += '\xE0';  // single segment, 8-byte content size
    for (int i = 0; i < 8; ++i) frame += static_cast<char>(claim >> (8 * i));
    frame += std::string("\x03\x00\x10", 3);  // last block, RLE, 128 KiB ...
    frame += 'a';                              // ... of 'a'
    uint64_t rss = PeakRssBytes();
    auto t0 = std::chrono::steady_clock::now();
    auto r = DecompressIfNeeded(frame, 64_GiB);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("zstd"));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
    EXPECT_LT(PeakRssBytes() - rss, 64_MiB);
  }
}

TEST(LoadReferenceFile, RefusesAFileLargerThanTheLimit) {
  TempDir dir;
  std::string path = dir.Write("big.json", SampleJson(20'000));
  ReferenceLoadOptions opt;
  opt.max_decompressed_bytes = 16_KiB;
  auto r = LoadReferenceFile(path, opt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), path + ": larger than 16 KiB; refusing");
  opt.max_decompressed_bytes = 1_MiB;
  EXPECT_TRUE(LoadReferenceFile(path, opt).ok());
}

// ---- LoadReferenceFile -----------------------------------------------------------

TEST(LoadReferenceFile, PlainFileResolvesAgainstItsDirectory) {
  TempDir dir;
  mkdir((dir.path() + "/sub").c_str(), 0700);
  std::string path = dir.Write("sub/refs.json", R"({"version": 1, "refs": {
      "a/0": ["data/x.nc", 0, 10], "a/1": ["./y.nc", 5, 5], "a/2": ["/abs/z.nc", 0, 1],
      "a/3": ["http://h/w.nc", 0, 1], ".zgroup": "{}"}})");
  auto r = LoadReferenceFile(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Lookup(*r, "a/0"), dir.path() + "/sub/data/x.nc@0+10");
  EXPECT_EQ(Lookup(*r, "a/1"), dir.path() + "/sub/y.nc@5+5");
  EXPECT_EQ(Lookup(*r, "a/2"), "/abs/z.nc@0+1");
  EXPECT_EQ(Lookup(*r, "a/3"), "http://h/w.nc@0+1");
  EXPECT_EQ(Lookup(*r, ".zgroup"), "inline:{}");
}

TEST(LoadReferenceFile, RelativePathResolvesAgainstCwd) {
  TempDir dir;
  dir.Write("refs.json", R"({"a": ["x.nc", 0, 1]})");
  char old[4096];
  ASSERT_NE(getcwd(old, sizeof old), nullptr);
  ASSERT_EQ(chdir(dir.path().c_str()), 0);
  auto r1 = LoadReferenceFile("refs.json");
  auto r2 = LoadReferenceFile("./refs.json");
  ASSERT_EQ(chdir(old), 0);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  char real[4096];
  ASSERT_NE(realpath(dir.path().c_str(), real), nullptr);
  std::string want = std::string(real) + "/x.nc@0+1";
  EXPECT_EQ(Lookup(*r1, "a"), want);
  // "./" inside the base is harmless but the result must still name the file.
  std::string got2 = Lookup(*r2, "a");
  EXPECT_TRUE(got2 == want || got2 == std::string(real) + "/./x.nc@0+1") << got2;
}

TEST(LoadReferenceFile, GzipContentWithMisleadingName) {
  TempDir dir;
  std::string json = R"({"a": ["f.nc", 1, 2], "b": "inline"})";
  std::string path = dir.Write("refs.json", Gzip(json));
  auto r = LoadReferenceFile(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Lookup(*r, "a"), dir.path() + "/f.nc@1+2");
  EXPECT_EQ(Lookup(*r, "b"), "inline:inline");
}

TEST(LoadReferenceFile, ZstdContent) {
  TempDir dir;
  std::string json = SampleJson(200'000);
  std::string path = dir.Write("refs.json.gz", Zstd(json));  // the name lies too
  auto r = LoadReferenceFile(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Lookup(*r, "v/3"), "http://h/f3.nc@3000+1000");
}

TEST(LoadReferenceFile, ErrorsStartWithThePath) {
  TempDir dir;
  std::string missing = dir.path() + "/missing.json";
  auto r = LoadReferenceFile(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_THAT(r.status().message(), StartsWith(missing + ": "));

  r = LoadReferenceFile(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), StartsWith(dir.path() + ": "));

  std::string bad = dir.Write("bad.json", R"({"k/0": ["u", -1, 10]})");
  r = LoadReferenceFile(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.status().message(), StartsWith(bad + ": "));
  EXPECT_THAT(r.status().message(), HasSubstr("key 'k/0'"));

  std::string trunc = dir.Write("trunc.json", Gzip(SampleJson(10'000)).substr(0, 100));
  r = LoadReferenceFile(trunc);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), StartsWith(trunc + ": "));

  std::string bomb = dir.Write("bomb.json", Zstd(std::string(4_MiB, ' ')));
  ReferenceLoadOptions opt;
  opt.max_decompressed_bytes = 1_MiB;
  r = LoadReferenceFile(bomb, opt);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), StartsWith(bomb + ": "));
  EXPECT_THAT(r.status().message(), HasSubstr("refusing"));
}

// ---- scale --------------------------------------------------------------------------

TEST(ReferenceIndexScale, TwoHundredThousandKeys) {
  constexpr int kDirs = 20, kPerDir = 10'000;
  ReferenceIndexBuilder b;
  uint32_t u0 = b.InternUrl("http://h/a.nc"), u1 = b.InternUrl("http://h/b.nc");
  size_t name_bytes = 0;
  std::set<std::string> dir_names;
  for (int d = 0; d < kDirs; ++d) {
    std::string dir = "var" + std::to_string(d);
    dir_names.insert(dir);
    // Insert in a scrambled order: the builder must sort.
    for (int k = 0; k < kPerDir; ++k) {
      int i = (k * 7919) % kPerDir;
      std::string base = std::to_string(i / 100) + "." + std::to_string(i % 100);
      name_bytes += base.size();
      b.AddRange(dir + "/" + base, i % 2 ? u1 : u0, uint64_t(i) * 4096, 4096);
    }
    b.AddInline(dir + "/.zarray", "{\"chunks\": [1]}");
    name_bytes += 7;
  }
  for (const auto& d : dir_names) name_bytes += d.size();
  const size_t keys = b.entry_count();
  ASSERT_EQ(keys, size_t{kDirs} * (kPerDir + 1));
  auto t0 = std::chrono::steady_clock::now();
  auto r = std::move(b).Finish();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ReferenceIndex& idx = *r;
  EXPECT_EQ(idx.file_count(), keys);
  EXPECT_EQ(idx.dir_count(), size_t{kDirs} + 1);
  for (int d = 0; d < kDirs; d += 3) {
    for (int i : {0, 1, 99, 100, 4242, 9999}) {
      std::string key = "var" + std::to_string(d) + "/" + std::to_string(i / 100) + "." +
                        std::to_string(i % 100);
      auto f = idx.FindKey(key);
      ASSERT_TRUE(f.has_value()) << key;
      EXPECT_EQ(idx.FileKey(*f), key);
      auto t = idx.target(*f);
      EXPECT_EQ(t.offset, uint64_t(i) * 4096) << key;
      EXPECT_EQ(t.size, 4096u);
      EXPECT_EQ(idx.url(t.url_id), i % 2 ? "http://h/b.nc" : "http://h/a.nc");
    }
    auto z = idx.FindKey("var" + std::to_string(d) + "/.zarray");
    ASSERT_TRUE(z.has_value());
    EXPECT_EQ(idx.inline_data(*z), "{\"chunks\": [1]}");
  }
  EXPECT_FALSE(idx.FindKey("var0/100.0").has_value());
  EXPECT_FALSE(idx.FindKey("var20/0.0").has_value());
  const size_t mem = idx.MemoryUsage();
  const double per_key = double(mem) / double(keys);
  std::printf("[ scale    ] %zu keys: index %zu bytes (%.1f bytes/key, names %zu bytes), "
              "built in %lld ms\n",
              keys, mem, per_key, name_bytes, static_cast<long long>(ms));
  EXPECT_LT(mem, 64 * keys + name_bytes);
}

}  // namespace
}  // namespace zm

namespace zm {
namespace {

TEST(ZarrArray, KerchunkZarrayFullPipeline) {
  auto m = ParseZarrArray(R"({"chunks": [1, 90, 180], "compressor": {"id": "zlib", "level": 4},
    "dtype": "<f4", "fill_value": "NaN", "filters": [{"elementsize": 4, "id": "shuffle"}],
    "order": "C", "shape": [365, 90, 180], "zarr_format": 2})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->chunk.dtype.ToString(), "<f4");
  ASSERT_EQ(m->chunk.codecs.size(), 2u);
  EXPECT_EQ(m->chunk.codecs[0].id, "shuffle");
  EXPECT_EQ(m->chunk.codecs[0].numbers.at("elementsize"), 4);
  EXPECT_EQ(m->chunk.codecs[1].id, "zlib");
  float f;
  ASSERT_EQ(m->chunk.fill_element.size(), 4u);
  std::memcpy(&f, m->chunk.fill_element.data(), 4);
  EXPECT_TRUE(std::isnan(f));
  EXPECT_EQ(m->ChunkKey({3, 0, 1}), "3.0.1");
  EXPECT_TRUE(ChunkDecoder::Make(m->chunk).ok());
}

}  // namespace
}  // namespace zm

// ---- Zarr arrays written by zarr-python (tests/unit/make_codec_vectors.py) ---------

namespace zm {
namespace {

// Every tests/data/zarr case: its metadata parses; its stored chunk decodes
// to the bytes zarr-python decodes it to (or fails as the .error says); a
// missing chunk is the fill value repeated.
TEST(ZarrVectors, MetadataAndChunkDecode) {
  const std::string dir = testing::DataDir("zarr");
  int cases = 0;
  for (const char* suffix : {".zarray", ".zarr.json"}) {
    for (const std::string& name : testing::DataCases(dir, suffix)) {
      if (std::string(suffix) == ".zarray" && name.find(".zarr") != std::string::npos) continue;
      SCOPED_TRACE(name);
      ++cases;
      std::string meta_json, stored, want, error, fill;
      ASSERT_TRUE(testing::ReadDataFile(dir + "/" + name + suffix, &meta_json));
      ASSERT_TRUE(testing::ReadDataFile(dir + "/" + name + ".bin", &stored));
      ASSERT_TRUE(testing::ReadDataFile(dir + "/" + name + ".expect", &want));
      testing::ReadDataFile(dir + "/" + name + ".error", &error);
      bool v3 = std::string(suffix) == ".zarr.json";
      auto meta = v3 ? ParseZarrV3Array(meta_json) : ParseZarrArray(meta_json);
      ASSERT_TRUE(meta.ok()) << meta.status().ToString();
      auto dec = ChunkDecoder::Make(meta->chunk);
      std::string code = error.substr(0, error.find(' '));
      std::string what = error.empty() ? "" : error.substr(error.find(' ') + 1);
      if (code == "unsupported") {
        ASSERT_FALSE(dec.ok());
        EXPECT_EQ(dec.status().code(), Code::kUnsupported);
        EXPECT_THAT(dec.status().message(), ::testing::HasSubstr(what));
        continue;
      }
      ASSERT_TRUE(dec.ok()) << dec.status().ToString();
      EXPECT_EQ((*dec)->spec().chunk_bytes(), want.size());
      auto r = (*dec)->Decode(stored);
      if (!error.empty()) {
        ASSERT_FALSE(r.ok()) << "decoded " << r->size() << " bytes";
        EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
        EXPECT_THAT(r.status().message(), ::testing::HasSubstr(what));
        continue;
      }
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->size(), want.size());
      EXPECT_TRUE(*r == want) << "decoded bytes differ";
      if (testing::ReadDataFile(dir + "/" + name + ".fill", &fill)) {
        EXPECT_TRUE((*dec)->FillChunk() == fill) << "fill chunk differs";
      }
    }
  }
  EXPECT_GE(cases, 30);
}

TEST(ZarrVectors, V3MetadataFields) {
  std::string json;
  ASSERT_TRUE(testing::ReadDataFile(testing::DataDir("zarr") + "/v3_transpose_zstd.zarr.json", &json));
  auto m = ParseZarrV3Array(json);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->shape, (std::vector<uint64_t>{3, 4, 5}));
  EXPECT_EQ(m->dimension_names, (std::vector<std::string>{"d0", "d1", "d2"}));
  EXPECT_EQ(m->ChunkKey({0, 1, 2}), "c/0/1/2");
  EXPECT_EQ(m->chunk.dtype.ToString(), "<f4");
  EXPECT_EQ(m->chunk.fill_element, std::string("\x00\x00\xc0\x7f", 4));
  auto attrs = ParseZarrAttrs(json);
  ASSERT_TRUE(attrs.ok()) << attrs.status().ToString();
  ASSERT_EQ(attrs->size(), 2u);
  EXPECT_EQ((*attrs)[0].name, "units");
  EXPECT_EQ((*attrs)[0].text, "K");
  EXPECT_EQ((*attrs)[1].kind, ZarrAttribute::Kind::kFloats);
  EXPECT_EQ((*attrs)[1].floats, (std::vector<double>{1, 2.5}));
  ASSERT_TRUE(testing::ReadDataFile(testing::DataDir("zarr") + "/v3_key_v2_u1.zarr.json", &json));
  m = ParseZarrV3Array(json);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->ChunkKey({4}), "4");
  EXPECT_EQ(ZarrArrayMeta{}.ChunkKey({}), "0");
}

}  // namespace
}  // namespace zm

namespace zm {
namespace {

// A bad document fails with one line that names the field.
TEST(ZarrArray, BadDocumentsNameTheField) {
  const std::string base = R"("shape": [10], "chunks": [5], "dtype": "<f4", "zarr_format": 2)";
  struct Case {
    std::string json, field;
  } cases[] = {
      {R"({"chunks": [5], "dtype": "<f4"})", "'shape'"},
      {R"({"shape": [10], "dtype": "<f4"})", "'chunks'"},
      {R"({"shape": [10], "chunks": [5]})", "'dtype'"},
      {R"({"shape": [10], "chunks": [5], "dtype": "<f4", "zarr_format": 3})", "'zarr_format'"},
      {R"({"shape": [10], "chunks": [5], "dtype": "<q9"})", "'dtype'"},
      {R"({"shape": [10], "chunks": [5], "dtype": "|O"})", "'dtype'"},
      {R"({"shape": [10], "chunks": [5], "dtype": [["a", "<f4"]]})", "'dtype'"},
      {"{" + base + R"(, "order": "X"})", "'order'"},
      {"{" + base + R"(, "fill_value": "hello"})", "'fill_value'"},
      {R"({"shape": [10], "chunks": [5], "dtype": "|u1", "fill_value": 256})", "'fill_value'"},
      {R"({"shape": [10], "chunks": [5], "dtype": "<u4", "fill_value": -1})", "'fill_value'"},
      {R"({"shape": [10], "chunks": [5], "dtype": "|S2", "fill_value": "not base64!"})", "'fill_value'"},
      {"{" + base + R"(, "compressor": {"level": 1}})", "'compressor'"},
      {"{" + base + R"(, "compressor": "zlib"})", "'compressor'"},
      {"{" + base + R"(, "filters": {"id": "shuffle"}})", "'filters'"},
      {"{" + base + R"(, "dimension_separator": "-"})", "'dimension_separator'"},
      {R"({"shape": [10], "chunks": [0], "dtype": "<f4"})", "'chunks'"},
  };
  for (const auto& c : cases) {
    auto r = ParseZarrArray(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.json;
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr(c.field)) << c.json;
    EXPECT_THAT(r.status().message(), ::testing::StartsWith(".zarray: ")) << c.json;
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  }
  auto bad_json = ParseZarrArray("{\"shape\": [1,");
  ASSERT_FALSE(bad_json.ok());
  EXPECT_THAT(bad_json.status().message(), ::testing::HasSubstr("invalid JSON"));
}

TEST(ZarrArray, UnknownCodecStillParses) {
  auto m = ParseZarrArray(R"({"shape": [10], "chunks": [5], "dtype": "<f4",
                              "compressor": {"id": "zfpy", "mode": 3, "tolerance": 0.01},
                              "filters": [{"id": "categorize", "labels": ["a", "b"], "dtype": "<U1"}]})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->GridShape(), (std::vector<uint64_t>{2}));
  auto d = ChunkDecoder::Make(m->chunk);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kUnsupported);
  EXPECT_THAT(d.status().message(), ::testing::HasSubstr("categorize"));
}

TEST(ZarrArray, FillValues) {
  auto fill = [](const std::string& dtype, const std::string& fv) {
    auto m = ParseZarrArray(R"({"shape": [1], "chunks": [1], "dtype": ")" + dtype + R"(", "fill_value": )" + fv + "}");
    EXPECT_TRUE(m.ok()) << dtype << " " << fv << ": " << m.status().ToString();
    return m.ok() ? m->chunk.fill_element : std::string("?");
  };
  EXPECT_EQ(fill("<f4", "null"), "");
  EXPECT_EQ(fill("<f8", "\"-Infinity\""), std::string("\x00\x00\x00\x00\x00\x00\xf0\xff", 8));
  EXPECT_EQ(fill(">f4", "\"Infinity\""), std::string("\x7f\x80\x00\x00", 4));
  EXPECT_EQ(fill(">i2", "-2"), std::string("\xff\xfe", 2));
  EXPECT_EQ(fill("<u8", "18446744073709551615"), std::string(8, '\xff'));
  EXPECT_EQ(fill("<i4", "3.0"), std::string("\x03\x00\x00\x00", 4));
  EXPECT_EQ(fill("<M8[ns]", "\"NaT\""), std::string("\x00\x00\x00\x00\x00\x00\x00\x80", 8));
  EXPECT_EQ(fill("<M8[ns]", "-9223372036854775808"), std::string("\x00\x00\x00\x00\x00\x00\x00\x80", 8));
  EXPECT_EQ(fill("|b1", "true"), "\x01");
  EXPECT_EQ(fill("|S4", "\"YWI=\""), std::string("ab\0\0", 4));
  EXPECT_EQ(fill("|V2", "\"AQI=\""), std::string("\x01\x02", 2));
  EXPECT_EQ(fill("<f2", "1.0"), std::string("\x00\x3c", 2));
  EXPECT_EQ(fill("<c8", "[1.0, \"NaN\"]"), std::string("\x00\x00\x80\x3f\x00\x00\xc0\x7f", 8));
}

TEST(ZarrV3, BadDocumentsNameTheField) {
  const std::string ok = R"({"zarr_format": 3, "node_type": "array", "shape": [4], "data_type": "int16",
    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}},
    "fill_value": 0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]})";
  auto m = ParseZarrV3Array(ok);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->ChunkKey({1}), "c.1");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = ok;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  struct Case {
    std::string json, field;
  } cases[] = {
      {with("\"zarr_format\": 3", "\"zarr_format\": 2"), "'zarr_format'"},
      {with("\"node_type\": \"array\"", "\"node_type\": \"group\""), "'node_type'"},
      {with("\"int16\"", "\"int17\""), "int17"},
      {with("\"regular\"", "\"rectilinear\""), "'chunk_grid'"},
      {with("\"name\": \"default\"", "\"name\": \"other\""), "'chunk_key_encoding'"},
      {with("\"fill_value\": 0", "\"fill_value\": \"x\""), "'fill_value'"},
      {with("\"fill_value\": 0,", ""), "'fill_value'"},
      {with("[{\"name\": \"bytes\"", "{\"x\": [{\"name\": \"bytes\"") + "}", ""},
      {with("\"chunk_shape\": [2]", "\"chunk_shape\": [2, 2]"), "'chunk_shape'"},
  };
  for (const auto& c : cases) {
    auto r = ParseZarrV3Array(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.json;
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr(c.field)) << c.json;
    EXPECT_THAT(r.status().message(), ::testing::StartsWith("zarr.json: ")) << c.json;
  }
}

TEST(ZarrV3Metadata, NodeTypeTellsGroupsFromArrays) {
  auto g = ParseZarrV3NodeType(R"({"zarr_format": 3, "node_type": "group", "attributes": {}})");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(*g, "group");
  // An array whose metadata this build cannot read is still an array.
  const char* bad_array = R"({"zarr_format": 3, "node_type": "array", "shape": [2],
    "data_type": "int16", "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
    "chunk_key_encoding": {"name": "other"}, "fill_value": 0, "codecs": [{"name": "bytes"}]})";
  EXPECT_FALSE(ParseZarrV3Array(bad_array).ok());
  auto a = ParseZarrV3NodeType(bad_array);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "array");
  EXPECT_FALSE(ParseZarrV3NodeType(R"({"zarr_format": 3})").ok());
  EXPECT_FALSE(ParseZarrV3NodeType(R"({"node_type": 3})").ok());
  EXPECT_FALSE(ParseZarrV3NodeType("[1]").ok());
}

TEST(ZarrAttrs, KindsInDocumentOrder) {
  auto a = ParseZarrAttrs(R"({"_ARRAY_DIMENSIONS": ["time", "lat"], "units": "K", "scale_factor": 0.01,
    "valid_range": [0, 1000], "flags": [1, 2.5], "big": 18446744073709551615, "nested": {"a": 1},
    "missing": null, "ok": true, "nan": "NaN", "empty": []})");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  using K = ZarrAttribute::Kind;
  std::vector<std::pair<std::string, K>> got;
  for (const auto& x : *a) got.emplace_back(x.name, x.kind);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, K>>{
                     {"_ARRAY_DIMENSIONS", K::kOther}, {"units", K::kString}, {"scale_factor", K::kFloats},
                     {"valid_range", K::kInts}, {"flags", K::kFloats}, {"big", K::kFloats},
                     {"nested", K::kOther}, {"missing", K::kOther}, {"ok", K::kOther},
                     {"nan", K::kString}, {"empty", K::kOther}}));
  EXPECT_EQ((*a)[0].text, R"(["time","lat"])");
  EXPECT_EQ((*a)[3].ints, (std::vector<int64_t>{0, 1000}));
  EXPECT_EQ((*a)[4].floats, (std::vector<double>{1, 2.5}));
  EXPECT_EQ((*a)[6].text, R"({"a":1})");
  EXPECT_FALSE(ParseZarrAttrs("[1, 2]").ok());
  EXPECT_FALSE(ParseZarrAttrs("{").ok());
}

}  // namespace
}  // namespace zm
