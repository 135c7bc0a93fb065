// A page of an S3 ListObjectsV2 answer, for tests that list a bucket
// through a fake origin (io/object_listing.h and its users).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace zm::testing {

// The XML page listing `objects` (key, size); truncated with the
// continuation token `next` unless it is empty.
inline std::string ListingPage(const std::vector<std::pair<std::string, int>>& objects, const std::string& next) {
  std::string xml = "<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name>";
  for (const auto& [key, size] : objects)
    xml += "<Contents><Key>" + key + "</Key><Size>" + std::to_string(size) + "</Size></Contents>";
  xml += next.empty() ? "<IsTruncated>false</IsTruncated>"
                      : "<IsTruncated>true</IsTruncated><NextContinuationToken>" + next +
                            "</NextContinuationToken>";
  return xml + "</ListBucketResult>";
}

}  // namespace zm::testing
