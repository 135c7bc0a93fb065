// Unit tests of io/object_listing.h: listing pages as S3 and Cloud Storage
// (XML API, list-type=2) write them, page after page through the origin,
// truncation, failures naming the page, bounds, and glob expansion.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "io/cloud.h"
#include "io/object_listing.h"
#include "tests/unit/fake_origin.h"
#include "tests/unit/io/listing_page.h"

namespace zm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::FakeOrigin;

std::vector<std::string> Keys(const std::vector<ListedObject>& objects) {
  std::vector<std::string> out;
  for (const auto& o : objects) out.push_back(o.key);
  return out;
}

TEST(ParseListPage, ReadsKeysSizesAndTheNextToken) {
  auto page = ParseListPage(
      "<ListBucketResult><Contents><Key>s/a&amp;b&#x27;c&#233;</Key><ETag>&quot;x&quot;</ETag>"
      "<Size>12</Size></Contents><Contents><Key>s/0.0</Key><Size>0</Size></Contents>"
      "<IsTruncated>true</IsTruncated><NextContinuationToken>t&amp;1</NextContinuationToken>"
      "</ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "s/a&b'c\xC3\xA9");
  EXPECT_EQ(page->objects[0].size, 12u);
  EXPECT_EQ(page->objects[1].key, "s/0.0");
  EXPECT_EQ(page->next_token, "t&1");
  auto last = ParseListPage("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(last.ok());
  EXPECT_TRUE(last->objects.empty() && last->next_token.empty());
}

// Cloud Storage's XML API answers list-type=2 with the same document, with
// its own namespace and extra elements (Generation, MetaGeneration).
TEST(ParseListPage, ReadsCloudStoragePages) {
  auto page = ParseListPage(
      "<?xml version='1.0' encoding='UTF-8'?><ListBucketResult "
      "xmlns='http://doc.s3.amazonaws.com/2006-03-01'><Name>b</Name><Prefix>d/</Prefix>"
      "<KeyCount>1</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>CgVkL3guYw==</NextContinuationToken><Contents><Key>d/x.nc</Key>"
      "<Generation>1700000000000000</Generation><MetaGeneration>1</MetaGeneration>"
      "<LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>\"e\"</ETag>"
      "<Size>4096</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "d/x.nc");
  EXPECT_EQ(page->objects[0].size, 4096u);
  EXPECT_EQ(page->next_token, "CgVkL3guYw==");
}

TEST(ParseListPage, RefusesWhatIsNotAListing) {
  for (const char* bad :
       {"<Error><Code>AccessDenied</Code></Error>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>1x</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>1</Size>"})
    EXPECT_EQ(ParseListPage(bad).status().code(), Code::kInvalidArgument) << bad;
}

TEST(ListPageUrl, CanonicalQueryForBothStores) {
  EXPECT_EQ(ListPageUrl("s3", "b", "s.zarr/", "tok/1+&x"),
            "s3://b/?continuation-token=tok%2F1%2B%26x&list-type=2&prefix=s.zarr%2F");
  EXPECT_EQ(S3ListUrl("b", "p", ""), ListPageUrl("s3", "b", "p", ""));
  EXPECT_EQ(ListPageUrl("gs", "b", "a b/", ""), "gs://b/?list-type=2&prefix=a%20b%2F");
  // Planned to Cloud Storage's XML API, the bucket's URL with the query.
  EXPECT_EQ(*GcsObjectUrl(ListPageUrl("gs", "b", "d/", "t")),
            "https://storage.googleapis.com/b?continuation-token=t&list-type=2&prefix=d%2F");
}

class ListObjectsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    origin_.Set(ListPageUrl("gs", "b", "d/", ""),
                testing::ListingPage({{"d/", 0}, {"d/a.nc", 5}, {"d/sub/", 0}, {"d/sub/c.nc", 7}}, "n1"));
    origin_.Set(ListPageUrl("gs", "b", "d/", "n1"), testing::ListingPage({{"d/b.nc", 6}, {"d/b.txt", 1}}, ""));
  }
  FakeOrigin origin_;
};

TEST_F(ListObjectsTest, FollowsEveryPageAndLeavesOutFolderMarkers) {
  auto listed = ListObjects(&origin_, "gs://b/d/");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_THAT(Keys(*listed), ElementsAre("d/a.nc", "d/sub/c.nc", "d/b.nc", "d/b.txt"));
  EXPECT_EQ((*listed)[2].size, 6u);
}

TEST_F(ListObjectsTest, AFailingPageFailsTheListingNamingThePage) {
  origin_.FailAlways(ListPageUrl("gs", "b", "d/", "n1"), IoError("HTTP 503"));
  auto listed = ListObjects(&origin_, "gs://b/d/");
  ASSERT_FALSE(listed.ok());
  EXPECT_THAT(listed.status().message(), HasSubstr("listing gs://b/d/ failed after 1 pages (2 objects)"));
  EXPECT_THAT(listed.status().message(), HasSubstr("at page 2"));
  EXPECT_THAT(listed.status().message(), HasSubstr("HTTP 503"));
  origin_.ClearFailures();
  origin_.Set(ListPageUrl("gs", "b", "d/", "n1"), "<html>a login page</html>");
  listed = ListObjects(&origin_, "gs://b/d/");
  ASSERT_FALSE(listed.ok());
  EXPECT_THAT(listed.status().message(), HasSubstr("not an S3 ListObjectsV2 answer"));
}

TEST_F(ListObjectsTest, IsBounded) {
  ListingLimits one_page;
  one_page.max_pages = 1;
  auto listed = ListObjects(&origin_, "gs://b/d/", one_page);
  ASSERT_FALSE(listed.ok());
  EXPECT_THAT(listed.status().message(), HasSubstr("goes on past 1 pages; refusing"));
  ListingLimits few;
  few.max_objects = 2;
  listed = ListObjects(&origin_, "gs://b/d/", few);
  ASSERT_FALSE(listed.ok());
  EXPECT_THAT(listed.status().message(), HasSubstr("names more than 2 objects"));
  // A store answering its own token again would never end.
  origin_.Set(ListPageUrl("gs", "b", "d/", "n1"), testing::ListingPage({{"d/b.nc", 6}}, "n1"));
  listed = ListObjects(&origin_, "gs://b/d/");
  ASSERT_FALSE(listed.ok());
  EXPECT_THAT(listed.status().message(), HasSubstr("token is this page's"));
  EXPECT_FALSE(ListObjects(&origin_, "http://h/d/").ok());
}

TEST_F(ListObjectsTest, GlobsMatchKeysAsFnmatchWithPathnames) {
  EXPECT_TRUE(IsObjectGlob("s3://b/d/*.nc"));
  EXPECT_TRUE(IsObjectGlob("gs://b/d/x?.nc"));
  EXPECT_FALSE(IsObjectGlob("s3://b/d/x.nc"));
  EXPECT_FALSE(IsObjectGlob("https://h/d/*.nc"));
  auto urls = ExpandObjectGlob(&origin_, "gs://b/d/*.nc");
  ASSERT_TRUE(urls.ok()) << urls.status().ToString();
  // '*' does not cross '/', and the answer is in byte order.
  EXPECT_THAT(*urls, ElementsAre("gs://b/d/a.nc", "gs://b/d/b.nc"));
  origin_.Set(ListPageUrl("gs", "b", "d/s", ""), testing::ListingPage({{"d/sub/c.nc", 7}, {"d/sub/cc.nc", 7}}, ""));
  urls = ExpandObjectGlob(&origin_, "gs://b/d/s*/?.nc");
  ASSERT_TRUE(urls.ok()) << urls.status().ToString();
  EXPECT_THAT(*urls, ElementsAre("gs://b/d/sub/c.nc"));
  auto none = ExpandObjectGlob(&origin_, "gs://b/d/*.h5");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("gs://b/d/*.h5: no object matches"));
}

}  // namespace
}  // namespace zm
