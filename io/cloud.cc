#include "io/cloud.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <strings.h>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "io/object_listing.h"

namespace zm {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A file that does not exist is an empty one: the AWS tools treat a missing
// ~/.aws/credentials the same way.
std::optional<IniFile> ReadIni(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseIni(ss.str());
}

std::string Get(const EnvLookup& env, const char* name) {
  auto v = env(name);
  return v ? *v : std::string();
}

// Splits "scheme://bucket/key" into bucket and key.
Status SplitBucketKey(std::string_view url, size_t scheme_len, std::string* bucket,
                      std::string* key) {
  std::string_view rest = url.substr(scheme_len);
  size_t slash = rest.find('/');
  *bucket = std::string(rest.substr(0, slash));
  *key = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  if (bucket->empty() || key->empty())
    return InvalidArgument(std::string(url) + ": expected " + std::string(url.substr(0, scheme_len)) +
                           "BUCKET/KEY");
  return Status::Ok();
}

std::string Between(std::string_view body, std::string_view open, std::string_view close) {
  size_t a = body.find(open);
  if (a == std::string_view::npos) return "";
  a += open.size();
  size_t b = body.find(close, a);
  if (b == std::string_view::npos) return "";
  std::string out(Trim(body.substr(a, b - a)));
  // Entities the stores use in messages.
  static const std::pair<const char*, const char*> kEntities[] = {
      {"&quot;", "\""}, {"&apos;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}};
  for (auto [from, to] : kEntities)
    for (size_t p; (p = out.find(from)) != std::string::npos;) out.replace(p, strlen(from), to);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 32) c = ' ';
  return out;
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

IniFile ParseIni(std::string_view text) {
  IniFile out;
  std::string section;
  bool in_section = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view raw = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    // Indented lines continue a nested block (e.g. "s3 =" then "  region = x"),
    // which we do not use: skipping them keeps their keys out of the profile.
    bool indented = !raw.empty() && (raw.front() == ' ' || raw.front() == '\t');
    std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      size_t close = line.find(']');
      if (close == std::string_view::npos) {
        in_section = false;
        continue;
      }
      section = std::string(Trim(line.substr(1, close - 1)));
      out[section];
      in_section = true;
      continue;
    }
    if (!in_section || indented) continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string key = Lower(Trim(line.substr(0, eq)));
    std::string_view value = Trim(line.substr(eq + 1));
    // An inline comment needs whitespace before it; a '#' inside a secret
    // is part of the secret.
    for (size_t i = 1; i < value.size(); ++i)
      if ((value[i] == '#' || value[i] == ';') && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
        value = Trim(value.substr(0, i));
        break;
      }
    if (!key.empty()) out[section][key] = std::string(value);
  }
  return out;
}

S3Config LoadS3Config(const S3Options& options, const EnvLookup& env) {
  S3Config c;
  const std::string home = Get(env, "HOME");
  std::string cred_path = Get(env, "AWS_SHARED_CREDENTIALS_FILE");
  if (cred_path.empty()) cred_path = home + "/.aws/credentials";
  std::string config_path = Get(env, "AWS_CONFIG_FILE");
  if (config_path.empty()) config_path = home + "/.aws/config";
  bool explicit_profile = !options.profile.empty();
  c.profile = options.profile;
  if (c.profile.empty()) {
    c.profile = Get(env, "AWS_PROFILE");
    if (c.profile.empty()) c.profile = Get(env, "AWS_DEFAULT_PROFILE");
    explicit_profile = !c.profile.empty();
  }
  if (c.profile.empty()) c.profile = "default";

  std::optional<IniFile> creds_file = ReadIni(cred_path);
  std::optional<IniFile> config_file = ReadIni(config_path);
  const std::map<std::string, std::string>* cred_section = nullptr;
  const std::map<std::string, std::string>* config_section = nullptr;
  if (creds_file) {
    auto it = creds_file->find(c.profile);
    if (it != creds_file->end()) cred_section = &it->second;
  }
  if (config_file) {
    auto it = config_file->find(c.profile == "default" ? "default" : "profile " + c.profile);
    if (it != config_file->end()) config_section = &it->second;
  }
  auto from = [](const std::map<std::string, std::string>* s, const char* key) {
    if (!s) return std::string();
    auto it = s->find(key);
    return it == s->end() ? std::string() : it->second;
  };

  // Region and endpoint: command line, environment, profile.
  for (const std::string& r : {options.region, Get(env, "AWS_REGION"),
                               Get(env, "AWS_DEFAULT_REGION"), from(config_section, "region")})
    if (!r.empty()) {
      c.region = r;
      break;
    }
  for (const std::string& e : {options.endpoint, Get(env, "AWS_ENDPOINT_URL_S3"),
                               Get(env, "AWS_ENDPOINT_URL"), from(config_section, "endpoint_url")})
    if (!e.empty()) {
      c.endpoint = e;
      break;
    }
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  if (!c.endpoint.empty() && !c.endpoint.starts_with("http://") &&
      !c.endpoint.starts_with("https://")) {
    c.problem = Status(Code::kPermissionDenied,
                       "S3 endpoint '" + c.endpoint + "' must start with http:// or https://");
    return c;
  }

  std::string no_sign = Lower(Get(env, "AWS_NO_SIGN_REQUEST"));
  if (options.anonymous || no_sign == "yes" || no_sign == "true" || no_sign == "1") {
    c.credentials.source = options.anonymous ? "--s3-anonymous" : "AWS_NO_SIGN_REQUEST";
    return c;
  }

  // 1. The environment, unless the command line chose a profile.
  if (options.profile.empty()) {
    std::string id = Get(env, "AWS_ACCESS_KEY_ID");
    std::string secret = Get(env, "AWS_SECRET_ACCESS_KEY");
    if (!id.empty() && !secret.empty()) {
      c.credentials = {id, secret, Get(env, "AWS_SESSION_TOKEN"), "the environment (AWS_ACCESS_KEY_ID)"};
      return c;
    }
    if (!id.empty() || !secret.empty()) {
      c.problem = Status(Code::kPermissionDenied,
                         id.empty() ? "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"
                                    : "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
      return c;
    }
  }
  // 2. and 3. The profile in the credentials file, then in the config file.
  for (auto [section, path] : {std::pair{cred_section, cred_path}, std::pair{config_section, config_path}}) {
    std::string id = from(section, "aws_access_key_id");
    std::string secret = from(section, "aws_secret_access_key");
    if (id.empty() && secret.empty()) continue;
    if (id.empty() || secret.empty()) {
      c.problem = Status(Code::kPermissionDenied,
                         "AWS profile '" + c.profile + "' in " + path + " has " +
                             (id.empty() ? "aws_secret_access_key but no aws_access_key_id"
                                         : "aws_access_key_id but no aws_secret_access_key"));
      return c;
    }
    c.credentials = {id, secret, from(section, "aws_session_token"),
                     "profile '" + c.profile + "' in " + path};
    return c;
  }
  if (explicit_profile && !cred_section && !config_section) {
    c.problem = Status(Code::kPermissionDenied, "AWS profile '" + c.profile + "' not found in " +
                                                    cred_path + " or " + config_path);
    return c;
  }
  // 4. Nothing: unsigned requests, which public buckets answer.
  c.credentials.source = "none found";
  return c;
}

std::string EncodeKey(std::string_view key) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(key.size());
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string S3ListUrl(std::string_view bucket, std::string_view prefix,
                      std::string_view continuation_token) {
  return ListPageUrl("s3", bucket, prefix, continuation_token);
}

Result<std::string> S3ObjectUrl(std::string_view url, const S3Config& config) {
  std::string bucket, key;
  ZM_RETURN_IF_ERROR(SplitBucketKey(url, 5, &bucket, &key));
  if (key.starts_with("?")) {  // a bucket request (a listing), its query canonical already
    // Path-style, the bucket's path has no trailing '/' (as the SDKs send it).
    if (!config.endpoint.empty()) return config.endpoint + "/" + bucket + key;
    if (bucket.find('.') != std::string::npos)
      return "https://s3." + config.region + ".amazonaws.com/" + bucket + key;
    return "https://" + bucket + ".s3." + config.region + ".amazonaws.com/" + key;
  }
  if (!config.endpoint.empty()) return config.endpoint + "/" + bucket + "/" + EncodeKey(key);
  // A bucket name with dots does not match the wildcard certificate of
  // virtual-hosted names; path-style addressing still serves it.
  if (bucket.find('.') != std::string::npos)
    return "https://s3." + config.region + ".amazonaws.com/" + bucket + "/" + EncodeKey(key);
  return "https://" + bucket + ".s3." + config.region + ".amazonaws.com/" + EncodeKey(key);
}

Result<std::string> GcsObjectUrl(std::string_view url) {
  std::string bucket, key;
  ZM_RETURN_IF_ERROR(SplitBucketKey(url, 5, &bucket, &key));
  // A bucket request (a listing, as ListPageUrl makes it): the bucket's
  // URL with the query as it is.
  if (key.starts_with("?")) return "https://storage.googleapis.com/" + bucket + key;
  return "https://storage.googleapis.com/" + bucket + "/" + EncodeKey(key);
}

std::string ParseS3Error(std::string_view body) {
  if (body.find("<Error>") == std::string_view::npos) return "";
  std::string code = Between(body, "<Code>", "</Code>");
  std::string message = Between(body, "<Message>", "</Message>");
  if (code.empty()) return "";
  return message.empty() ? code : code + ": " + message;
}

Status UrlMap::Add(std::string_view rule) {
  size_t eq = rule.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return InvalidArgument("--map '" + std::string(rule) + "': expected OLD_PREFIX=NEW_PREFIX");
  rules_.emplace_back(std::string(rule.substr(0, eq)), std::string(rule.substr(eq + 1)));
  std::stable_sort(rules_.begin(), rules_.end(), [](const auto& a, const auto& b) {
    return a.first.size() > b.first.size();
  });
  return Status::Ok();
}

std::string UrlMap::Apply(const std::string& url) const {
  for (const auto& [from, to] : rules_)
    if (url.starts_with(from)) return to + url.substr(from.size());
  return url;
}

Result<HeaderRule> ParseHeaderRule(std::string_view text, std::string_view option) {
  HeaderRule rule;
  std::string_view rest = Trim(text);
  size_t space = rest.find_first_of(" \t");
  if (space != std::string_view::npos && rest.substr(0, space).find("://") != std::string_view::npos) {
    rule.prefix = std::string(rest.substr(0, space));
    rest = Trim(rest.substr(space));
  }
  size_t colon = rest.find(':');
  std::string_view name = colon == std::string_view::npos ? "" : Trim(rest.substr(0, colon));
  bool name_ok = !name.empty();
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) name_ok = false;
  // What was given may be a secret: the error repeats only the header name.
  if (!name_ok)
    return InvalidArgument(std::string(option) + ": expected '[URL_PREFIX ]Name: value'");
  std::string_view value = Trim(rest.substr(colon + 1));
  if (value.find_first_of("\r\n") != std::string_view::npos)
    return InvalidArgument(std::string(option) + " '" + std::string(name) +
                           "': the value must be one line");
  rule.header = std::string(name) + ": " + std::string(value);
  return rule;
}

Result<HeaderRule> BearerRuleFromEnv(std::string_view text, const EnvLookup& env) {
  HeaderRule rule;
  std::string_view rest = Trim(text);
  size_t space = rest.find_first_of(" \t");
  if (space != std::string_view::npos) {
    rule.prefix = std::string(rest.substr(0, space));
    rest = Trim(rest.substr(space));
  }
  if (rest.empty())
    return InvalidArgument("--bearer-token-env: expected '[URL_PREFIX ]VARIABLE'");
  std::string token = Get(env, std::string(rest).c_str());
  if (token.empty())
    return InvalidArgument("--bearer-token-env: the environment variable " + std::string(rest) +
                           " is not set or empty");
  if (token.find_first_of("\r\n") != std::string::npos)
    return InvalidArgument("--bearer-token-env: " + std::string(rest) + " holds more than one line");
  rule.header = "Authorization: Bearer " + token;
  return rule;
}

RequestPlanner::RequestPlanner(S3Config s3, std::vector<HeaderRule> headers)
    : s3_(std::move(s3)), headers_(std::move(headers)) {}

void RequestPlanner::AddUnsignedPrefix(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(unsigned_mu_);
  if (std::find(unsigned_.begin(), unsigned_.end(), prefix) == unsigned_.end())
    unsigned_.push_back(prefix);
}

bool RequestPlanner::Unsigned(const std::string& url) const {
  std::lock_guard<std::mutex> lock(unsigned_mu_);
  for (const std::string& p : unsigned_)
    if (url.starts_with(p)) return true;
  return false;
}

Result<HttpRequest> RequestPlanner::Plan(const std::string& url) const {
  HttpRequest r;
  if (url.starts_with("s3://")) {
    if (!s3_.problem.ok())
      return Status(s3_.problem.code(), RedactUrl(url) + ": " + s3_.problem.message());
    ZM_ASSIGN_OR_RETURN(r.url, S3ObjectUrl(url, s3_));
    // curl 7.88 signs no payload hash of its own; S3 requires this header
    // on signed requests (and compatible stores refuse requests without it).
    // Our requests have no body: the hash of the empty string.
    const AwsCredentials& c = s3_.credentials;
    if (Unsigned(url)) {
      r.denied_hint = " (sent unsigned: anon for this dataset in the catalog)";
    } else if (!c.access_key_id.empty()) {
      r.headers.push_back(
          "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
      if (!c.session_token.empty()) {
        r.headers.push_back("x-amz-security-token: " + c.session_token);
        r.secrets.push_back(c.session_token);
      }
      r.aws_sigv4 = "aws:amz:" + s3_.region + ":s3";
      r.access_key_id = c.access_key_id;
      r.secret_access_key = c.secret_access_key;
      r.secrets.push_back(c.secret_access_key);
      r.denied_hint = " (signed with the AWS credentials from " + c.source + ", region " +
                      s3_.region + ")";
    } else if (c.source == "none found") {
      r.denied_hint =
          " (sent unsigned: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
          "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)";
    } else {
      r.denied_hint = " (sent unsigned: " + c.source + ")";
    }
  } else if (url.starts_with("gs://")) {
    ZM_ASSIGN_OR_RETURN(r.url, GcsObjectUrl(url));
  } else {
    r.url = url;
  }
  for (const HeaderRule& h : headers_) {
    if (!url.starts_with(h.prefix)) continue;
    // A signed request's Authorization header is its signature: a rule's
    // (a bearer token meant for https origins) would replace it.
    if (!r.aws_sigv4.empty() && strncasecmp(h.header.c_str(), "authorization:", 14) == 0) continue;
    r.headers.push_back(h.header);
    // Header values are credentials more often than not.
    std::string value = h.header.substr(h.header.find(':') + 1);
    std::string_view v = Trim(value);
    if (v.starts_with("Bearer ")) v.remove_prefix(7);
    if (v.size() >= 4) r.secrets.emplace_back(v);
  }
  return r;
}

std::string RequestPlanner::Describe() const {
  std::string d = "s3: credentials: ";
  d += s3_.credentials.access_key_id.empty() ? s3_.credentials.source
                                             : "from " + s3_.credentials.source;
  if (!s3_.credentials.session_token.empty()) d += ", with a session token";
  d += "; region " + s3_.region;
  d += "; endpoint " + (s3_.endpoint.empty() ? std::string("AWS (virtual-hosted)")
                                             : RedactUrl(s3_.endpoint) + " (path-style)");
  if (!s3_.problem.ok()) d += "; problem: " + s3_.problem.message();
  for (const HeaderRule& h : headers_)
    d += "; header " + RedactHeader(h.header) + " for " +
         (h.prefix.empty() ? std::string("every URL") : RedactUrl(h.prefix));
  return d;
}

namespace {

class MappingOrigin : public Origin {
 public:
  MappingOrigin(UrlMap map, std::unique_ptr<Origin> inner)
      : map_(std::move(map)), inner_(std::move(inner)) {}

  Result<std::string> Read(const std::string& url, ByteRange range) override {
    std::string to = map_.Apply(url);
    auto r = inner_->Read(to, range);
    if (!r.ok()) return Note(r.status(), url, to);
    return r;
  }
  Result<std::vector<std::string>> ReadPieces(const std::string& url, ByteRange range,
                                              const std::vector<uint64_t>& lengths) override {
    std::string to = map_.Apply(url);
    auto r = inner_->ReadPieces(to, range, lengths);
    if (!r.ok()) return Note(r.status(), url, to);
    return r;
  }
  Result<uint64_t> Size(const std::string& url) override {
    std::string to = map_.Apply(url);
    auto r = inner_->Size(to);
    if (!r.ok()) return Note(r.status(), url, to);
    return r;
  }
  Result<ObjectInfo> Stat(const std::string& url) override {
    std::string to = map_.Apply(url);
    auto r = inner_->Stat(to);
    if (!r.ok()) return Note(r.status(), url, to);
    return r;
  }
  Result<Head> ReadHead(const std::string& url, uint64_t length) override {
    std::string to = map_.Apply(url);
    auto r = inner_->ReadHead(to, length);
    if (!r.ok()) return Note(r.status(), url, to);
    return r;
  }
  Result<std::string> Fetch(const std::string& url, uint64_t max_bytes) override {
    std::string to = map_.Apply(url);
    auto r = inner_->Fetch(to, max_bytes);
    if (!r.ok()) return Note(r.status(), url, to);
    return r;
  }

 private:
  static Status Note(const Status& st, const std::string& from, const std::string& to) {
    if (from == to) return st;
    return Status(st.code(), st.message() + " (mapped from " + RedactUrl(from) + ")");
  }
  UrlMap map_;
  std::unique_ptr<Origin> inner_;
};

}  // namespace

std::unique_ptr<Origin> NewMappingOrigin(UrlMap map, std::unique_ptr<Origin> inner) {
  return std::make_unique<MappingOrigin>(std::move(map), std::move(inner));
}

}  // namespace zm
