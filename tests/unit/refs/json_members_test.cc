// JsonObjectScanner and SkipJsonValue: members found exactly, malformed
// structure refused with the byte it was found at.
#include "refs/json_members.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace zm {
namespace {

using ::testing::HasSubstr;

struct Found {
  std::string key, value;
};

Result<std::vector<Found>> Members(std::string_view text) {
  JsonObjectScanner scan(text, 0);
  std::vector<Found> out;
  while (true) {
    ZM_ASSIGN_OR_RETURN(std::optional<JsonMember> m, scan.Next());
    if (!m) return out;
    EXPECT_EQ(text.substr(m->key.begin, m->key.size()), "\"" + std::string(m->raw_key) + "\"");
    out.push_back({std::string(m->raw_key), std::string(text.substr(m->value.begin, m->value.size()))});
  }
}

TEST(JsonObjectScanner, FindsEveryMemberAndItsValue) {
  auto m = Members(R"( { "a" : 1 , "b":"x}y" ,"c": [1, {"d": "]"}], "e": {"f": [true, null]},
                        "g": -1.5e3, "h": "q\"}", "i\\": false } )");
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->size(), 7u);
  EXPECT_EQ((*m)[0].key, "a");
  EXPECT_EQ((*m)[0].value, "1");
  EXPECT_EQ((*m)[1].value, "\"x}y\"");
  EXPECT_EQ((*m)[2].value, R"([1, {"d": "]"}])");
  EXPECT_EQ((*m)[3].value, R"({"f": [true, null]})");
  EXPECT_EQ((*m)[4].value, "-1.5e3");
  EXPECT_EQ((*m)[5].value, R"("q\"}")");
  EXPECT_EQ((*m)[6].key, R"(i\\)") << "a key ending in an escaped backslash";
  EXPECT_EQ((*m)[6].value, "false");
}

TEST(JsonObjectScanner, EmptyObjectHasNoMembers) {
  auto m = Members(" {  } ");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->empty());
}

TEST(JsonObjectScanner, EndIsJustPastTheClosingBrace) {
  std::string text = R"({"a": [1, 2]}  tail)";
  JsonObjectScanner scan(text, 0);
  while (true) {
    auto m = scan.Next();
    ASSERT_TRUE(m.ok());
    if (!*m) break;
  }
  EXPECT_EQ(scan.end(), text.find('}') + 1);
}

TEST(JsonObjectScanner, MalformedStructureIsRefusedAtItsByte) {
  struct Case {
    const char* text;
    const char* what;
  };
  for (const Case& c : {Case{"[1]", "at byte 0: expected an object"},
                        Case{R"({"a": 1,})", "at byte 8: expected a string key"},
                        Case{R"({"a" 1})", "at byte 5: expected ':'"},
                        Case{R"({"a": 1 "b": 2})", "at byte 8: expected ',' or '}'"},
                        Case{R"({"a": [1, 2})", "at byte 11: unexpected '}'"},
                        Case{R"({"a": [1, 2)", "at byte 6: unterminated array"},
                        Case{R"({"a": "xyz)", "at byte 6: unterminated string"},
                        Case{R"({"a": 1)", "unexpected end of text"},
                        Case{R"({"a": })", "at byte 6: unexpected '}'"},
                        Case{"{", "expected a string key"}}) {
    SCOPED_TRACE(c.text);
    auto m = Members(c.text);
    ASSERT_FALSE(m.ok());
    EXPECT_THAT(m.status().message(), HasSubstr("invalid JSON"));
    EXPECT_THAT(m.status().message(), HasSubstr(c.what));
  }
}

TEST(SkipJsonValue, SkipsOneValueOfEachKind) {
  const std::string text = R"(  "s\\" [1, "]"] {"a": {}} 12 true)";
  size_t pos = 0;
  std::vector<std::string> values;
  for (int i = 0; i < 5; ++i) {
    size_t begin = SkipJsonSpace(text, pos);
    auto end = SkipJsonValue(text, pos);
    ASSERT_TRUE(end.ok()) << end.status().message();
    values.push_back(text.substr(begin, *end - begin));
    pos = *end;
  }
  EXPECT_EQ(values, (std::vector<std::string>{R"("s\\")", R"([1, "]"])", R"({"a": {}})", "12", "true"}));
  EXPECT_FALSE(SkipJsonValue(text, pos).ok()) << "nothing left";
}

TEST(SkipJsonValue, ReportsProgressThroughALongValue) {
  // 100 MiB of strings in one array: progress is told at least once, in
  // order, never past the value.
  std::string text = "[";
  const std::string item = "\"" + std::string(1 << 20, 'x') + "\",";
  for (int i = 0; i < 100; ++i) text += item;
  text += "1]";
  std::vector<size_t> told;
  auto end = SkipJsonValue(text, 0, [&](size_t offset) { told.push_back(offset); });
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, text.size());
  ASSERT_FALSE(told.empty());
  for (size_t i = 0; i < told.size(); ++i) {
    EXPECT_LE(told[i], text.size());
    if (i) {
      EXPECT_GT(told[i], told[i - 1]);
    }
  }
}

}  // namespace
}  // namespace zm
