// Unit tests of refs/reference_loader.h: kerchunk v0/v1 parsing, URL resolution,
// the error messages, decompression of reference files and loading them from
// disk.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "refs/reference_loader.h"
#include "tests/unit/base64_encode.h"
#include "tests/unit/compress_util.h"
#include "tests/unit/fake_origin.h"
#include "tests/unit/refs/parsed_refs.h"
#include "tests/unit/temp_dir.h"

namespace zm {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::RandomBytes;
using testing::TempDir;
using testing::Gzip;
using testing::Zstd;
using testing::ZstdStreamed;
using testing::EncodeBase64;
using testing::Dump;
using testing::MustParse;
using testing::Lookup;
using testing::ExpectParseError;
using testing::Describe;

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


// ---- sets larger than one parse slice -----------------------------------------

// A version 1 set of `keys` chunk keys (about 45 bytes each, so 300,000 span
// several of the parser's 8 MiB slices), its templates after its refs.
std::string BigSet(size_t keys, const std::string& extra_refs = "") {
  std::string refs;
  for (size_t i = 0; i < keys; ++i)
    refs += "\"v/" + std::to_string(i) + ".0\": [\"{{u}}/f" + std::to_string(i % 7) + "\", " +
            std::to_string(i * 10) + ", 10],\n";
  return R"({"version": 1, "refs": {".zgroup": "{}", )" + refs + extra_refs +
         R"("last": "x"}, "templates": {"u": "http://h/d"}})";
}

TEST(ParseLarge, SetSpanningManySlicesParsesWhole) {
  // The same key early and in a later slice: the later wins, as in one parse.
  const std::string text = BigSet(300'000, R"("v/5.0": "replaced", )");
  ASSERT_GT(text.size(), size_t{8} << 20) << "more than one slice";
  auto idx = MustParse(text);
  EXPECT_EQ(idx.file_count(), 300'000u + 2);
  EXPECT_EQ(Lookup(idx, "v/5.0"), "inline:replaced");
  EXPECT_EQ(Lookup(idx, "v/299999.0"), "http://h/d/f" + std::to_string(299999 % 7) + "@2999990+10");
  EXPECT_EQ(Lookup(idx, "last"), "inline:x");
}

TEST(ParseLarge, ErrorInALaterSliceNamesItsByteInTheWholeText) {
  std::string text = BigSet(300'000, R"("bad": "\u12", )");
  auto msg = ExpectParseError(text, {"invalid JSON"});
  // The byte named lies in the bad entry, far past the first slice.
  const size_t bad = text.find("\"bad\"");
  auto at = msg.find("at byte ");
  ASSERT_NE(at, std::string::npos) << msg;
  const size_t byte = std::stoull(msg.substr(at + 8));
  EXPECT_GE(byte, bad);
  EXPECT_LT(byte, bad + 30) << msg;
}

TEST(ParseLarge, MappedFileLoadsTheSameIndexAsText) {
  TempDir dir;
  const std::string text = BigSet(200'000);
  const std::string path = dir.Write("big.json", text);
  ReferenceLoadOptions mapped;
  mapped.map_from_bytes = 1;  // every file is mapped
  auto a = LoadReferenceFile(path, mapped);
  auto b = ParseReferences(text, dir.path() + "/");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(a->file_count(), b->file_count());
  for (ReferenceIndex::FileId f = 0; f < a->file_count(); f += 997) {
    EXPECT_EQ(a->FileKey(f), b->FileKey(f));
    EXPECT_EQ(Describe(*a, f), Describe(*b, f));
  }
  // A mapped file with an error names the file and the byte.
  const std::string bad = dir.Write("bad.json", text.substr(0, text.size() - 3));
  auto c = LoadReferenceFile(bad, mapped);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), StartsWith(bad + ": "));
  EXPECT_THAT(c.status().message(), HasSubstr("invalid JSON"));
}

}  // namespace
}  // namespace zm
