// Listing the objects of a bucket under a prefix, for s3:// and gs:// URLs:
// S3's ListObjectsV2, and Cloud Storage's XML API with list-type=2 (the
// same request and answer). Every page is an ordinary request through the
// Origin, so --map, signing and headers apply to it as to any object read;
// a page that fails fails the whole listing, naming the page.
//
// Thread-safety: plain functions; none shares state (the Origin is used as
// its own contract allows).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/origin.h"

namespace zm {

// One object of a listing: its whole key in the bucket and its size.
struct ListedObject {
  std::string key;
  uint64_t size = 0;
};

// One page of a listing answer: its objects and the token of the next page
// (empty on the last). Errors: not a ListBucketResult, a Contents without
// Key or Size, truncated without a next token.
struct ListPage {
  std::vector<ListedObject> objects;
  std::string next_token;
};
Result<ListPage> ParseListPage(std::string_view xml);

// How far a listing may go before it is refused (a bucket of millions of
// objects named by mistake must not fill the memory).
struct ListingLimits {
  uint64_t max_page_bytes = 64ull << 20;
  size_t max_pages = 100'000;
  size_t max_objects = 10'000'000;
};

// The URL of one listing page ("s3://BUCKET/?..." or "gs://BUCKET/?...",
// planned by RequestPlanner into the bucket's URL) of the keys starting
// with `prefix`, after `continuation_token` (empty: the first page). Its
// query is in canonical form, as a Signature V4 over it requires.
std::string ListPageUrl(std::string_view scheme, std::string_view bucket, std::string_view prefix,
                        std::string_view continuation_token);

// Every object whose key starts with the key part of `prefix_url`
// ("s3://BUCKET/PREFIX" or "gs://BUCKET/PREFIX"; a plain string prefix, so
// "s3://b/dir/" for a directory's), in the store's (byte) order, page by
// page. Keys ending in '/' (folder markers) are left out. Errors name the
// URL and how far the listing got.
Result<std::vector<ListedObject>> ListObjects(Origin* origin, const std::string& prefix_url,
                                              const ListingLimits& limits = {});

// True for an s3:// or gs:// URL whose key holds a wildcard (*, ? or [).
bool IsObjectGlob(std::string_view url);

// The URLs of the objects matching `pattern_url` ("s3://BUCKET/dir/*.nc"),
// as fnmatch(3) with FNM_PATHNAME matches their keys ('*' does not cross
// '/'), in byte order. The bucket is listed under the key's part before its
// first wildcard. Error: no object matches, or the listing failed.
Result<std::vector<std::string>> ExpandObjectGlob(Origin* origin, const std::string& pattern_url,
                                                  const ListingLimits& limits = {});

}  // namespace zm
