#include "io/object_listing.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <utility>

#include "base/log.h"
#include "io/cloud.h"

namespace zm {

namespace {

// Appends the UTF-8 encoding of a code point (numeric character references
// in keys: S3 writes control characters so).
void AppendUtf8(unsigned long cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The text of an XML element's content: the five predefined entities and
// numeric character references decoded; anything else kept as it is.
std::string XmlText(std::string_view v) {
  static const std::pair<std::string_view, char> kEntities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '&') {
      out += v[i];
      continue;
    }
    const std::string_view rest = v.substr(i);
    auto named = std::find_if(std::begin(kEntities), std::end(kEntities),
                              [&](const auto& e) { return rest.starts_with(e.first); });
    if (named != std::end(kEntities)) {
      out += named->second;
      i += named->first.size() - 1;
      continue;
    }
    const size_t semi = rest.find(';');
    if (rest.starts_with("&#") && semi != std::string_view::npos && semi <= 10) {
      const bool hex = rest.size() > 2 && (rest[2] == 'x' || rest[2] == 'X');
      const std::string digits(rest.substr(hex ? 3 : 2, semi - (hex ? 3 : 2)));
      char* end = nullptr;
      const unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (!digits.empty() && end && *end == '\0' && cp > 0 && cp <= 0x10FFFF) {
        AppendUtf8(cp, &out);
        i += semi;
        continue;
      }
    }
    out += '&';
  }
  return out;
}

// The content of the first <tag> in `body`, nullopt if none.
std::optional<std::string_view> Element(std::string_view body, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  size_t a = body.find(open);
  if (a == std::string_view::npos) return std::nullopt;
  a += open.size();
  const size_t b = body.find(close, a);
  if (b == std::string_view::npos) return std::nullopt;
  return body.substr(a, b - a);
}

Result<uint64_t> ParseSize(std::string_view text) {
  const std::string s(text);
  char* stop = nullptr;
  const unsigned long long n = std::strtoull(s.c_str(), &stop, 10);
  if (s.empty() || s.front() == '-' || !stop || *stop != '\0' || n > (1ull << 50))
    return InvalidArgument("<Size>" + s.substr(0, 40) + "</Size> is not a size");
  return static_cast<uint64_t>(n);
}

// "s3://BUCKET/KEY" split at the bucket; the scheme without "://".
struct BucketUrl {
  std::string scheme, bucket, key;
};
Result<BucketUrl> SplitBucketUrl(const std::string& url) {
  BucketUrl out;
  if (url.starts_with("s3://")) {
    out.scheme = "s3";
  } else if (url.starts_with("gs://")) {
    out.scheme = "gs";
  } else {
    return InvalidArgument(RedactUrl(url) + ": only s3:// and gs:// URLs can be listed");
  }
  const std::string rest = url.substr(5);
  const size_t slash = rest.find('/');
  out.bucket = rest.substr(0, slash);
  out.key = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (out.bucket.empty()) return InvalidArgument(RedactUrl(url) + ": no bucket named");
  return out;
}

}  // namespace

Result<ListPage> ParseListPage(std::string_view xml) {
  if (xml.find("<ListBucketResult") == std::string_view::npos)
    return InvalidArgument("not an S3 ListObjectsV2 answer (no ListBucketResult)");
  ListPage page;
  size_t pos = 0;
  while ((pos = xml.find("<Contents>", pos)) != std::string_view::npos) {
    const size_t end = xml.find("</Contents>", pos);
    if (end == std::string_view::npos) return InvalidArgument("an unterminated <Contents>");
    const std::string_view entry = xml.substr(pos, end - pos);
    pos = end;
    auto key = Element(entry, "Key");
    auto size = Element(entry, "Size");
    if (!key || !size) return InvalidArgument("a <Contents> without <Key> or <Size>");
    ZM_ASSIGN_OR_RETURN(uint64_t n, ParseSize(*size));
    page.objects.push_back(ListedObject{XmlText(*key), n});
  }
  auto truncated = Element(xml, "IsTruncated");  // keys cannot hold a tag: '<' is &lt;
  if (truncated && *truncated == "true") {
    auto token = Element(xml, "NextContinuationToken");
    if (!token || token->empty())
      return InvalidArgument("a truncated listing without <NextContinuationToken>");
    page.next_token = XmlText(*token);
  }
  return page;
}

std::string ListPageUrl(std::string_view scheme, std::string_view bucket, std::string_view prefix,
                        std::string_view continuation_token) {
  // Query values percent-encoded but for unreserved characters ('/' too).
  auto encode = [](std::string_view v) {
    std::string out;
    for (char c : EncodeKey(v)) out += c == '/' ? std::string("%2F") : std::string(1, c);
    return out;
  };
  std::string url = std::string(scheme) + "://" + std::string(bucket) + "/?";
  if (!continuation_token.empty()) url += "continuation-token=" + encode(continuation_token) + "&";
  return url + "list-type=2&prefix=" + encode(prefix);
}

Result<std::vector<ListedObject>> ListObjects(Origin* origin, const std::string& prefix_url,
                                              const ListingLimits& limits) {
  ZM_ASSIGN_OR_RETURN(BucketUrl where, SplitBucketUrl(prefix_url));
  std::vector<ListedObject> out;
  std::string token;
  size_t pages = 0;
  do {
    auto failed = [&](const Status& st) {
      return st.WithContext("listing " + RedactUrl(prefix_url) + " failed after " +
                            std::to_string(pages) + " pages (" + std::to_string(out.size()) +
                            " objects), at page " + std::to_string(pages + 1));
    };
    if (pages >= limits.max_pages)
      return InvalidArgument("listing " + RedactUrl(prefix_url) + " goes on past " +
                             std::to_string(pages) + " pages; refusing");
    auto body = origin->Fetch(ListPageUrl(where.scheme, where.bucket, where.key, token),
                              limits.max_page_bytes);
    if (!body.ok()) return failed(body.status());
    auto page = ParseListPage(*body);
    if (!page.ok()) return failed(page.status());
    // A store answering the same token again would list forever.
    if (!page->next_token.empty() && page->next_token == token)
      return failed(InvalidArgument("the next page's token is this page's"));
    ++pages;
    for (ListedObject& o : page->objects) {
      if (!o.key.starts_with(where.key) || o.key.ends_with("/")) continue;
      if (out.size() >= limits.max_objects)
        return InvalidArgument("listing " + RedactUrl(prefix_url) + " names more than " +
                               std::to_string(limits.max_objects) + " objects; refusing");
      out.push_back(std::move(o));
    }
    token = std::move(page->next_token);
  } while (!token.empty());
  LogDebug(RedactUrl(prefix_url) + ": listed " + std::to_string(out.size()) + " objects in " +
           std::to_string(pages) + " pages");
  return out;
}

bool IsObjectGlob(std::string_view url) {
  if (!url.starts_with("s3://") && !url.starts_with("gs://")) return false;
  const size_t slash = url.find('/', 5);
  return slash != std::string_view::npos &&
         url.find_first_of("*?[", slash + 1) != std::string_view::npos;
}

Result<std::vector<std::string>> ExpandObjectGlob(Origin* origin, const std::string& pattern_url,
                                                  const ListingLimits& limits) {
  ZM_ASSIGN_OR_RETURN(BucketUrl where, SplitBucketUrl(pattern_url));
  const std::string base = where.scheme + "://" + where.bucket + "/";
  const std::string prefix = where.key.substr(0, where.key.find_first_of("*?["));
  ZM_ASSIGN_OR_RETURN(std::vector<ListedObject> listed, ListObjects(origin, base + prefix, limits));
  std::vector<std::string> out;
  for (const ListedObject& o : listed)
    if (::fnmatch(where.key.c_str(), o.key.c_str(), FNM_PATHNAME) == 0) out.push_back(base + o.key);
  if (out.empty())
    return NotFound(RedactUrl(pattern_url) + ": no object matches (" +
                    std::to_string(listed.size()) + " listed under '" + prefix + "')");
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace zm
