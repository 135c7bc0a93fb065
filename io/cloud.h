// Cloud object stores and per-origin request options: how a reference's URL
// (s3://, gs://, http(s)://) becomes one HTTP request — which https URL,
// which extra headers, whether and how it is signed — and how --map rewrites
// URLs before any of that. Pure logic: no sockets, no libcurl; the requests
// are sent by the HTTP origin (NewHttpOrigin with HttpOptions::plan).
//
// Credentials (AWS), in this order, the first that has a key wins:
//   1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN),
//      unless a profile was chosen with --s3-profile;
//   2. the profile (--s3-profile, else AWS_PROFILE, else "default") in the
//      shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
//      ~/.aws/credentials), section [NAME];
//   3. the same profile in the config file (AWS_CONFIG_FILE, else
//      ~/.aws/config), section [profile NAME] ([default] for the default);
//   4. none: requests are sent unsigned (public buckets).
// --s3-anonymous (or AWS_NO_SIGN_REQUEST=YES) sends every request unsigned.
// Region: --s3-region, AWS_REGION, AWS_DEFAULT_REGION, the profile's
// `region`, us-east-1. Endpoint: --s3-endpoint, AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL, the profile's `endpoint_url`; with one, requests are
// path-style (ENDPOINT/BUCKET/KEY), as S3-compatible stores want; without,
// virtual-hosted https://BUCKET.s3.REGION.amazonaws.com/KEY.
//
// Thread-safety: everything here is immutable once built; const methods may
// be called from many threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/origin.h"

namespace zm {

// Looks up an environment variable; nullopt when unset. Tests pass a map.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup ProcessEnv();

// An INI file as the AWS tools read it: [section] headers, `key = value`
// lines, '#' and ';' comment lines. Keys are lower-cased; section names and
// values are trimmed. Indented lines (nested service settings) and lines
// without '=' are skipped. Later duplicates win.
using IniFile = std::map<std::string, std::map<std::string, std::string>>;
IniFile ParseIni(std::string_view text);

struct AwsCredentials {
  std::string access_key_id;  // empty: none (requests go unsigned)
  std::string secret_access_key;
  std::string session_token;  // optional
  std::string source;         // where they came from, for messages (never a secret)
};

// What the command line says about S3; empty strings mean "not given".
struct S3Options {
  std::string endpoint{};  // --s3-endpoint
  std::string region{};    // --s3-region
  std::string profile{};   // --s3-profile
  bool anonymous = false;  // --s3-anonymous
};

struct S3Config {
  AwsCredentials credentials;
  std::string region = "us-east-1";
  std::string endpoint;  // empty: AWS, virtual-hosted; else path-style
  std::string profile;   // the profile looked up
  // Set when the configuration cannot work (a profile that does not exist,
  // a key without its secret). It is reported by every s3:// request
  // (kPermissionDenied), not at start-up: a mount without s3:// URLs must
  // not fail over an unrelated AWS_PROFILE.
  Status problem;
};

// Resolves credentials, region and endpoint as described above, reading
// the files named by `env` (HOME for ~).
S3Config LoadS3Config(const S3Options& options, const EnvLookup& env);

// Percent-encodes an object key for a URL path: everything but unreserved
// characters (A-Z a-z 0-9 - . _ ~) and '/'.
std::string EncodeKey(std::string_view key);

// "s3://BUCKET/KEY" -> the https (or endpoint) URL of the object.
// "s3://BUCKET/?QUERY" (as S3ListUrl makes) -> the bucket's URL with QUERY
// as it is.
Result<std::string> S3ObjectUrl(std::string_view url, const S3Config& config);

// The s3:// URL of one ListObjectsV2 page of the keys under `prefix` in
// `bucket`, after `continuation_token` (empty: the first page); planned and
// signed like an object's. Its query is in canonical form (parameters in
// order, values percent-encoded but for unreserved characters), as a
// Signature V4 over it requires. Same as ListPageUrl("s3", ...).
std::string S3ListUrl(std::string_view bucket, std::string_view prefix,
                      std::string_view continuation_token);
// "gs://BUCKET/KEY" -> https://storage.googleapis.com/BUCKET/KEY (the XML
// API). "gs://BUCKET/?QUERY" (a listing page, io/object_listing.h) -> the
// bucket's URL with QUERY as it is.
Result<std::string> GcsObjectUrl(std::string_view url);

// "Code: Message" from an S3 (or GCS XML API) error body, or empty when the
// body is not one. Only these two fields: the rest of a SignatureDoesNotMatch
// answer (the string to sign) is no use to a person.
std::string ParseS3Error(std::string_view body);

// --map OLD=NEW: URLs starting with OLD start with NEW instead. Of several
// rules the longest matching OLD wins.
class UrlMap {
 public:
  // Parses "OLD=NEW" (split at the first '='; OLD must not be empty).
  Status Add(std::string_view rule);
  // The rewritten URL, or `url` itself when no rule matches.
  std::string Apply(const std::string& url) const;
  bool empty() const { return rules_.empty(); }

 private:
  std::vector<std::pair<std::string, std::string>> rules_;  // longest OLD first
};

// An extra header for requests whose URL (as written in the reference set,
// after --map) starts with `prefix` (empty: every request). A signed s3://
// request keeps its own Authorization header (the signature).
struct HeaderRule {
  std::string prefix;
  std::string header;  // "Name: value"
};
// Parses "[PREFIX ]Name: value": a first word containing "://" is the
// prefix. Errors name the problem ("--header 'x': expected 'Name: value'").
Result<HeaderRule> ParseHeaderRule(std::string_view text, std::string_view option);
// "[PREFIX ]VAR" -> a rule adding "Authorization: Bearer $VAR"; an unset or
// empty variable is an error naming it.
Result<HeaderRule> BearerRuleFromEnv(std::string_view text, const EnvLookup& env);

// Turns URLs into requests (HttpOptions::plan): s3:// resolved and signed
// per the S3Config, gs:// to the public XML API, http(s):// as they are;
// header rules added where their prefix matches.
class RequestPlanner {
 public:
  RequestPlanner(S3Config s3, std::vector<HeaderRule> headers);
  Result<HttpRequest> Plan(const std::string& url) const;
  const S3Config& s3() const { return s3_; }
  // s3:// URLs starting with `prefix` ("s3://bucket/") are sent unsigned
  // from now on, credentials or not: a catalog's `anon: true` for one
  // dataset. Safe to call while other threads plan.
  void AddUnsignedPrefix(const std::string& prefix);
  // One line for the log: where credentials came from, region, endpoint,
  // headers with their values hidden.
  std::string Describe() const;

 private:
  bool Unsigned(const std::string& url) const;

  S3Config s3_;
  std::vector<HeaderRule> headers_;
  mutable std::mutex unsigned_mu_;  // guards unsigned_; a leaf lock
  std::vector<std::string> unsigned_;
};

// Rewrites every URL through `map` before `inner` sees it; errors say which
// URL was mapped. Takes ownership.
std::unique_ptr<Origin> NewMappingOrigin(UrlMap map, std::unique_ptr<Origin> inner);

}  // namespace zm
