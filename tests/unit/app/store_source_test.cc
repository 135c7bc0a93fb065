// Unit tests of app/store_source.h against the fake origin: a store on S3
// without consolidated metadata is listed page by page (ListObjectsV2), and
// a listing that fails midway is one error naming how far it got; a store
// with consolidated metadata is loaded without a request per chunk.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "app/store_source.h"
#include "io/cloud.h"
#include "tests/unit/fake_origin.h"
#include "tests/unit/io/listing_page.h"

namespace zm {
namespace {

using ::testing::HasSubstr;
using testing::FakeOrigin;

class S3ListingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    origin_.Set("s3://b/s.zarr/.zarray",
                R"({"zarr_format":2,"shape":[4],"chunks":[1],"dtype":"<i2","compressor":null,)"
                R"("fill_value":0,"order":"C","filters":null})");
    origin_.Set(S3ListUrl("b", "s.zarr/", ""),
                testing::ListingPage({{"s.zarr/", 0}, {"s.zarr/.zarray", 99}, {"s.zarr/0", 2}}, "tok/1+&x"));
    origin_.Set(S3ListUrl("b", "s.zarr/", "tok/1+&x"), testing::ListingPage({{"s.zarr/1", 2}, {"s.zarr/3", 2}}, ""));
  }
  FakeOrigin origin_;
};

TEST_F(S3ListingTest, ListsEveryPageWithSizes) {
  EXPECT_EQ(S3ListUrl("b", "s.zarr/", "tok/1+&x"),
            "s3://b/?continuation-token=tok%2F1%2B%26x&list-type=2&prefix=s.zarr%2F");
  auto index = LoadZarrStore("s3://b/s.zarr", &origin_);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->file_count(), 4u);
  for (const char* key : {"0", "1", "3"}) {
    auto f = index->FindKey(key);
    ASSERT_TRUE(f) << key;
    EXPECT_EQ(index->target(*f).size, 2u);
    EXPECT_EQ(index->url(index->target(*f).url_id), std::string("s3://b/s.zarr/") + key);
  }
  EXPECT_FALSE(index->FindKey("2"));
  EXPECT_EQ(index->target(*index->FindKey(".zarray")).size, 99u);
}

TEST_F(S3ListingTest, AListingThatFailsMidwayIsOneError) {
  origin_.FailAlways(S3ListUrl("b", "s.zarr/", "tok/1+&x"), IoError("HTTP 500"));
  auto index = LoadZarrStore("s3://b/s.zarr", &origin_);
  ASSERT_FALSE(index.ok());
  EXPECT_THAT(index.status().message(), HasSubstr("s3://b/s.zarr"));
  EXPECT_THAT(index.status().message(), HasSubstr("failed after 1 pages"));
  EXPECT_THAT(index.status().message(), HasSubstr("HTTP 500"));
  EXPECT_EQ(index.status().message().find('\n'), std::string::npos);
  origin_.ClearFailures();
  origin_.Set(S3ListUrl("b", "s.zarr/", "tok/1+&x"), "<html>not a listing</html>");
  index = LoadZarrStore("s3://b/s.zarr", &origin_);
  ASSERT_FALSE(index.ok());
  EXPECT_THAT(index.status().message(), HasSubstr("not an S3 ListObjectsV2 answer"));
}

TEST(StoreSource, ConsolidatedStoreLoadsWithoutARequestPerChunk) {
  FakeOrigin origin;
  origin.Set("http://h/c.zarr/.zmetadata",
             R"({"zarr_consolidated_format":1,"metadata":{".zgroup":{"zarr_format":2},)"
             R"("a/.zarray":{"zarr_format":2,"shape":[100,100],"chunks":[1,1],"dtype":"<i2",)"
             R"("compressor":null,"fill_value":0,"order":"C","filters":null}}})");
  auto index = LoadZarrStore("http://h/c.zarr", &origin);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->UnsizedFiles().size(), 10'000u);
  EXPECT_LE(origin.size_calls(), 3u);  // the root documents only
}

}  // namespace
}  // namespace zm
