// Reference sets parsed for the refs tests, and their keys described as
// text: "inline:<bytes>", "<url>@<offset>+<length>" or "<url>@whole".
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "refs/reference_index.h"
#include "refs/reference_loader.h"

namespace zm::testing {

// "inline:<bytes>", "<url>@<offset>+<length>" or "<url>@whole".
inline std::string Describe(const ReferenceIndex& idx, ReferenceIndex::FileId f) {
  auto t = idx.target(f);
  if (t.is_inline()) return "inline:" + std::string(idx.inline_data(f));
  if (t.size == ReferenceIndex::kUnknownSize) return idx.url(t.url_id) + "@whole";
  return idx.url(t.url_id) + "@" + std::to_string(t.offset) + "+" + std::to_string(t.size);
}

// Every key of the index with its description.
inline std::map<std::string, std::string> Dump(const ReferenceIndex& idx) {
  std::map<std::string, std::string> out;
  for (ReferenceIndex::FileId f = 0; f < idx.file_count(); ++f) out[idx.FileKey(f)] = Describe(idx, f);
  return out;
}

inline ReferenceIndex MustParse(std::string_view json, std::string_view base = "",
                                const ReferenceLoadOptions& options = {}) {
  auto r = ParseReferences(json, base, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString() << "\nJSON: " << json;
  if (!r.ok()) return ReferenceIndex();
  return std::move(r).value();
}

inline std::string Lookup(const ReferenceIndex& idx, std::string_view key) {
  auto f = idx.FindKey(key);
  if (!f) return "<missing>";
  return Describe(idx, *f);
}

// Parses `json`, expects kInvalidArgument whose message contains every one
// of `parts`; returns the message.
inline std::string ExpectParseError(std::string_view json, std::vector<std::string> parts,
                                    const ReferenceLoadOptions& options = {}) {
  auto r = ParseReferences(json, "", options);
  EXPECT_FALSE(r.ok()) << "parsed: " << json;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  for (const auto& p : parts)
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr(p)) << "JSON: " << json;
  // One line.
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << r.status().message();
  return r.status().message();
}

}  // namespace zm::testing
