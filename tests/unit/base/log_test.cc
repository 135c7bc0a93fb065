// Unit tests of base/log.h: what URL and header redaction hides.
#include <gtest/gtest.h>

#include <string>

#include "base/log.h"

namespace zm {
namespace {

// ---- RedactUrl ----------------------------------------------------------------

TEST(RedactUrl, LeavesPlainUrlsAlone) {
  EXPECT_EQ(RedactUrl("http://example.com/data/x.nc"), "http://example.com/data/x.nc");
  EXPECT_EQ(RedactUrl("https://h:8443/a/b"), "https://h:8443/a/b");
  EXPECT_EQ(RedactUrl("/local/path/x.nc"), "/local/path/x.nc");
  EXPECT_EQ(RedactUrl("file:///local/x.nc"), "file:///local/x.nc");
  EXPECT_EQ(RedactUrl(""), "");
}

TEST(RedactUrl, RemovesUserInfo) {
  EXPECT_EQ(RedactUrl("https://user:secret@example.com/x.nc"), "https://example.com/x.nc");
  EXPECT_EQ(RedactUrl("https://user@example.com/x.nc"), "https://example.com/x.nc");
  EXPECT_EQ(RedactUrl("http://u:p@h:8080/x"), "http://h:8080/x");
  EXPECT_EQ(RedactUrl("http://u:p@h"), "http://h");
  EXPECT_EQ(RedactUrl("s3://AKIA:SECRET@bucket/key"), "s3://bucket/key");
}

TEST(RedactUrl, KeepsAtSignsInThePath) {
  EXPECT_EQ(RedactUrl("http://h/users/me@example.org/x.nc"), "http://h/users/me@example.org/x.nc");
}

TEST(RedactUrl, RemovesQueryStrings) {
  EXPECT_EQ(RedactUrl("https://h/x.nc?X-Amz-Signature=abc&X-Amz-Credential=k"), "https://h/x.nc");
  EXPECT_EQ(RedactUrl("https://u:p@h/x.nc?token=abc"), "https://h/x.nc");
  EXPECT_EQ(RedactUrl("https://h/x.nc?"), "https://h/x.nc");
  EXPECT_EQ(RedactUrl("https://h?sig=1"), "https://h");
  // Not URLs: a '?' in a local file name is part of the name.
  EXPECT_EQ(RedactUrl("/data/what?.nc"), "/data/what?.nc");
  EXPECT_EQ(RedactUrl("rel/a?b"), "rel/a?b");
}

// A password containing a raw '@' (common in hand-written URLs, and what
// curl accepts: the userinfo ends at the LAST '@' before the path) must not
// leak its tail.
TEST(RedactUrl, PasswordContainingAtSignDoesNotLeak) {
  std::string r = RedactUrl("https://user:p@ssw0rd@example.com/x.nc");
  EXPECT_EQ(r.find("ssw0rd"), std::string::npos) << r;
  EXPECT_EQ(r, "https://example.com/x.nc");
}

// An '@' inside the query of a URL with no path is not userinfo.
TEST(RedactUrl, AtSignInQueryWithoutPath) {
  EXPECT_EQ(RedactUrl("https://example.com?email=a@b.org"), "https://example.com");
}

TEST(RedactUrl, NeverContainsTheSecret) {
  for (const char* url :
       {"https://alice:hunter2@h/x", "http://alice:hunter2@h:1/x?y=hunter2",
        "https://h/x?sig=hunter2", "https://h/x?a=1&sig=hunter2#frag", "s3://k:hunter2@b/o"}) {
    EXPECT_EQ(RedactUrl(url).find("hunter2"), std::string::npos) << url << " -> " << RedactUrl(url);
  }
}

TEST(RedactHeader, HidesTheValue) {
  EXPECT_EQ(RedactHeader("Authorization: Bearer abc"), "Authorization: ***");
  EXPECT_EQ(RedactHeader("garbage"), "***");
}

}  // namespace
}  // namespace zm
