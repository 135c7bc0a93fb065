// Unit tests of io/cloud.h: the AWS config file parser, the credential chain,
// URL -> endpoint resolution, S3 error bodies, --map, header options and the
// request planner.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>

#include "io/cloud.h"
#include "tests/unit/fake_origin.h"
#include "tests/unit/temp_dir.h"

namespace zm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A HOME of the test's own, with an empty .aws directory.
class TempHome : public testing::TempDir {
 public:
  TempHome() { Write(".aws/.keep", ""); }
};

// An environment made of `vars` only.
EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// ---- ParseIni -----------------------------------------------------------------

TEST(ParseIni, SectionsKeysCommentsAndNesting) {
  IniFile ini = ParseIni(
      "# comment\n"
      "ignored = before any section\n"
      "[default]\n"
      "aws_access_key_id = AKID\n"
      "AWS_Secret_Access_Key=se=cr#et   # trailing comment\n"
      "; another comment\n"
      "\n"
      "[ profile dev ]\r\n"
      "region = eu-west-1\r\n"
      "s3 =\n"
      "  endpoint_url = http://nested\n"
      "not a pair\n"
      "[broken\n"
      "key = lost\n");
  ASSERT_EQ(ini.count("default"), 1u);
  EXPECT_EQ(ini["default"]["aws_access_key_id"], "AKID");
  EXPECT_EQ(ini["default"]["aws_secret_access_key"], "se=cr#et");
  EXPECT_EQ(ini["default"].count("ignored"), 0u);
  ASSERT_EQ(ini.count("profile dev"), 1u);
  EXPECT_EQ(ini["profile dev"]["region"], "eu-west-1");
  EXPECT_EQ(ini["profile dev"]["s3"], "");
  EXPECT_EQ(ini["profile dev"].count("endpoint_url"), 0u);  // nested, not the profile's
  EXPECT_EQ(ini.count("broken"), 0u);
  EXPECT_EQ(ini["profile dev"].count("key"), 0u);
}

TEST(ParseIni, LaterDuplicatesWin) {
  IniFile ini = ParseIni("[a]\nk=1\n[b]\nk=2\n[a]\nk=3\n");
  EXPECT_EQ(ini["a"]["k"], "3");
  EXPECT_EQ(ini["b"]["k"], "2");
}

// ---- LoadS3Config: the credential chain ----------------------------------------------

TEST(LoadS3Config, NothingConfiguredIsAnonymousInUsEast1) {
  TempHome home;
  S3Config c = LoadS3Config({}, Env({{"HOME", home.path()}}));
  EXPECT_TRUE(c.problem.ok());
  EXPECT_TRUE(c.credentials.access_key_id.empty());
  EXPECT_EQ(c.credentials.source, "none found");
  EXPECT_EQ(c.region, "us-east-1");
  EXPECT_EQ(c.endpoint, "");
  EXPECT_EQ(c.profile, "default");
}

TEST(LoadS3Config, EnvironmentFirst) {
  TempHome home;
  home.Write(".aws/credentials", "[default]\naws_access_key_id=FILE\naws_secret_access_key=F\n");
  S3Config c = LoadS3Config({}, Env({{"HOME", home.path()},
                                     {"AWS_ACCESS_KEY_ID", "ENV"},
                                     {"AWS_SECRET_ACCESS_KEY", "E"},
                                     {"AWS_SESSION_TOKEN", "T"}}));
  ASSERT_TRUE(c.problem.ok()) << c.problem.message();
  EXPECT_EQ(c.credentials.access_key_id, "ENV");
  EXPECT_EQ(c.credentials.secret_access_key, "E");
  EXPECT_EQ(c.credentials.session_token, "T");
  EXPECT_THAT(c.credentials.source, HasSubstr("environment"));
}

TEST(LoadS3Config, HalfAKeyInTheEnvironmentIsAProblemNamingTheVariable) {
  TempHome home;
  S3Config c = LoadS3Config({}, Env({{"HOME", home.path()}, {"AWS_ACCESS_KEY_ID", "ENV"}}));
  EXPECT_EQ(c.problem.code(), Code::kPermissionDenied);
  EXPECT_THAT(c.problem.message(), HasSubstr("AWS_SECRET_ACCESS_KEY"));
}

TEST(LoadS3Config, ProfileFromCredentialsFileThenConfigFile) {
  TempHome home;
  home.Write(".aws/credentials",
             "[default]\naws_access_key_id=D\naws_secret_access_key=DS\n"
             "[team]\naws_access_key_id=T\naws_secret_access_key=TS\naws_session_token=TT\n");
  home.Write(".aws/config",
             "[default]\nregion=eu-central-1\n"
             "[profile team]\nregion=ap-south-1\nendpoint_url=http://minio:9000/\n"
             "[profile cfgonly]\naws_access_key_id=C\naws_secret_access_key=CS\n"
             "[cfgonly]\naws_access_key_id=WRONG\naws_secret_access_key=WRONG\n");
  auto env = [&](std::map<std::string, std::string> more) {
    more["HOME"] = home.path();
    return Env(more);
  };
  S3Config d = LoadS3Config({}, env({}));
  EXPECT_EQ(d.credentials.access_key_id, "D");
  EXPECT_EQ(d.region, "eu-central-1");
  EXPECT_THAT(d.credentials.source, HasSubstr("profile 'default' in " + home.path() + "/.aws/credentials"));

  S3Config t = LoadS3Config({}, env({{"AWS_PROFILE", "team"}}));
  EXPECT_EQ(t.credentials.access_key_id, "T");
  EXPECT_EQ(t.credentials.session_token, "TT");
  EXPECT_EQ(t.region, "ap-south-1");
  EXPECT_EQ(t.endpoint, "http://minio:9000");  // the trailing '/' dropped

  // The config file's "[profile NAME]" section, not "[NAME]".
  S3Config c = LoadS3Config({}, env({{"AWS_PROFILE", "cfgonly"}}));
  EXPECT_EQ(c.credentials.access_key_id, "C");
  EXPECT_THAT(c.credentials.source, HasSubstr("/.aws/config"));

  // --s3-profile beats AWS_PROFILE, and skips the environment's keys.
  S3Config o = LoadS3Config({.profile = "team"},
                            env({{"AWS_PROFILE", "default"}, {"AWS_ACCESS_KEY_ID", "ENV"},
                                 {"AWS_SECRET_ACCESS_KEY", "E"}}));
  EXPECT_EQ(o.credentials.access_key_id, "T");
  // ... whereas AWS_PROFILE does not outrank the environment's keys.
  S3Config e = LoadS3Config({}, env({{"AWS_PROFILE", "team"}, {"AWS_ACCESS_KEY_ID", "ENV"},
                                     {"AWS_SECRET_ACCESS_KEY", "E"}}));
  EXPECT_EQ(e.credentials.access_key_id, "ENV");
}

TEST(LoadS3Config, FileLocationsFromTheEnvironment) {
  TempHome home;
  home.Write("creds", "[default]\naws_access_key_id=X\naws_secret_access_key=XS\n");
  home.Write("conf", "[default]\nregion=sa-east-1\n");
  S3Config c = LoadS3Config({}, Env({{"HOME", "/nonexistent"},
                                     {"AWS_SHARED_CREDENTIALS_FILE", home.path() + "/creds"},
                                     {"AWS_CONFIG_FILE", home.path() + "/conf"}}));
  EXPECT_EQ(c.credentials.access_key_id, "X");
  EXPECT_EQ(c.region, "sa-east-1");
}

TEST(LoadS3Config, UnknownProfileIsAProblemNamingBothFiles) {
  TempHome home;
  S3Config c = LoadS3Config({}, Env({{"HOME", home.path()}, {"AWS_PROFILE", "nope"}}));
  EXPECT_EQ(c.problem.code(), Code::kPermissionDenied);
  EXPECT_THAT(c.problem.message(), HasSubstr("'nope' not found"));
  EXPECT_THAT(c.problem.message(), HasSubstr(home.path() + "/.aws/credentials"));
  EXPECT_THAT(c.problem.message(), HasSubstr(home.path() + "/.aws/config"));
}

TEST(LoadS3Config, ProfileWithHalfAKeyIsAProblem) {
  TempHome home;
  home.Write(".aws/credentials", "[default]\naws_access_key_id=X\n");
  S3Config c = LoadS3Config({}, Env({{"HOME", home.path()}}));
  EXPECT_EQ(c.problem.code(), Code::kPermissionDenied);
  EXPECT_THAT(c.problem.message(), HasSubstr("no aws_secret_access_key"));
}

TEST(LoadS3Config, RegionAndEndpointOrder) {
  TempHome home;
  home.Write(".aws/config", "[default]\nregion=from-file\nendpoint_url=http://file\n");
  auto env = [&](std::map<std::string, std::string> more) {
    more["HOME"] = home.path();
    return Env(more);
  };
  EXPECT_EQ(LoadS3Config({}, env({})).region, "from-file");
  EXPECT_EQ(LoadS3Config({}, env({{"AWS_DEFAULT_REGION", "dr"}})).region, "dr");
  EXPECT_EQ(LoadS3Config({}, env({{"AWS_DEFAULT_REGION", "dr"}, {"AWS_REGION", "r"}})).region, "r");
  EXPECT_EQ(LoadS3Config({.region = "opt"}, env({{"AWS_REGION", "r"}})).region, "opt");

  EXPECT_EQ(LoadS3Config({}, env({})).endpoint, "http://file");
  EXPECT_EQ(LoadS3Config({}, env({{"AWS_ENDPOINT_URL", "http://all"}})).endpoint, "http://all");
  EXPECT_EQ(LoadS3Config({}, env({{"AWS_ENDPOINT_URL", "http://all"},
                                  {"AWS_ENDPOINT_URL_S3", "http://s3"}}))
                .endpoint,
            "http://s3");
  EXPECT_EQ(LoadS3Config({.endpoint = "https://opt"}, env({{"AWS_ENDPOINT_URL_S3", "http://s3"}}))
                .endpoint,
            "https://opt");
  EXPECT_EQ(LoadS3Config({}, env({{"AWS_ENDPOINT_URL", "minio:9000"}})).problem.code(),
            Code::kPermissionDenied);
}

TEST(LoadS3Config, AnonymousWinsOverCredentials) {
  TempHome home;
  auto env = Env({{"HOME", home.path()}, {"AWS_ACCESS_KEY_ID", "K"}, {"AWS_SECRET_ACCESS_KEY", "S"}});
  S3Config a = LoadS3Config({.anonymous = true}, env);
  EXPECT_TRUE(a.credentials.access_key_id.empty());
  EXPECT_EQ(a.credentials.source, "--s3-anonymous");
  S3Config n = LoadS3Config({}, Env({{"HOME", home.path()}, {"AWS_ACCESS_KEY_ID", "K"},
                                     {"AWS_SECRET_ACCESS_KEY", "S"}, {"AWS_NO_SIGN_REQUEST", "YES"}}));
  EXPECT_TRUE(n.credentials.access_key_id.empty());
}

// ---- URLs ---------------------------------------------------------------------------------

TEST(S3ObjectUrl, VirtualHostedPathStyleAndEncoding) {
  S3Config aws;
  aws.region = "eu-west-1";
  EXPECT_EQ(*S3ObjectUrl("s3://bkt/a/b.nc", aws), "https://bkt.s3.eu-west-1.amazonaws.com/a/b.nc");
  EXPECT_EQ(*S3ObjectUrl("s3://my.bkt/k", aws), "https://s3.eu-west-1.amazonaws.com/my.bkt/k");
  EXPECT_EQ(*S3ObjectUrl("s3://bkt/sp ace+plus%/ü", aws),
            "https://bkt.s3.eu-west-1.amazonaws.com/sp%20ace%2Bplus%25/%C3%BC");
  S3Config minio;
  minio.endpoint = "http://127.0.0.1:9000/prefix";
  EXPECT_EQ(*S3ObjectUrl("s3://bkt/a/b.nc", minio), "http://127.0.0.1:9000/prefix/bkt/a/b.nc");
  for (const char* bad : {"s3://", "s3://bkt", "s3://bkt/", "s3:///key"}) {
    auto r = S3ObjectUrl(bad, aws);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_THAT(r.status().message(), HasSubstr("BUCKET/KEY"));
    }
  }
}

TEST(GcsObjectUrl, PublicXmlApi) {
  EXPECT_EQ(*GcsObjectUrl("gs://bkt/dir/x y.nc"), "https://storage.googleapis.com/bkt/dir/x%20y.nc");
  EXPECT_FALSE(GcsObjectUrl("gs://bkt").ok());
}

TEST(ParseS3Error, CodeAndMessageOnly) {
  EXPECT_EQ(ParseS3Error("<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The "
                         "specified key does not exist.</Message><Key>k</Key></Error>"),
            "NoSuchKey: The specified key does not exist.");
  std::string sig =
      "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature &amp; "
      "&quot;so&quot;</Message><StringToSign>AWS4-HMAC-SHA256\n2026...</StringToSign></Error>";
  EXPECT_EQ(ParseS3Error(sig), "SignatureDoesNotMatch: The request signature & \"so\"");
  EXPECT_EQ(ParseS3Error("<Error><Code>AccessDenied</Code></Error>"), "AccessDenied");
  EXPECT_EQ(ParseS3Error("<html>Not Found</html>"), "");
  EXPECT_EQ(ParseS3Error(""), "");
}

// ---- --map --------------------------------------------------------------------------------

TEST(UrlMap, LongestPrefixWinsWhateverTheOrder) {
  UrlMap m;
  ASSERT_TRUE(m.Add("s3://=http://all/").ok());
  ASSERT_TRUE(m.Add("s3://bkt/sub/=file:///mirror/").ok());
  ASSERT_TRUE(m.Add("s3://bkt/=http://bkt-mirror/").ok());
  EXPECT_EQ(m.Apply("s3://bkt/sub/x.nc"), "file:///mirror/x.nc");
  EXPECT_EQ(m.Apply("s3://bkt/other.nc"), "http://bkt-mirror/other.nc");
  EXPECT_EQ(m.Apply("s3://zzz/k"), "http://all/zzz/k");
  EXPECT_EQ(m.Apply("gs://bkt/k"), "gs://bkt/k");
  EXPECT_EQ(m.Apply("http://h/x"), "http://h/x");
}

TEST(UrlMap, RuleSyntax) {
  UrlMap m;
  EXPECT_FALSE(m.Add("no-equals").ok());
  EXPECT_FALSE(m.Add("=http://x/").ok());
  EXPECT_TRUE(m.Add("http://a/?x=1=http://b/").ok());  // split at the first '='
  EXPECT_EQ(m.Apply("http://a/?x/k"), "1=http://b//k");
  EXPECT_TRUE(m.Add("gs://strip/=").ok());  // to nothing: relative paths
  EXPECT_EQ(m.Apply("gs://strip/k"), "k");
}

TEST(MappingOrigin, RewritesBeforeTheOriginAndSaysSoInErrors) {
  auto fake = std::make_unique<testing::FakeOrigin>();
  testing::FakeOrigin* f = fake.get();
  f->Set("file:///mirror/x.nc", "0123456789");
  UrlMap map;
  ASSERT_TRUE(map.Add("s3://bkt/=file:///mirror/").ok());
  auto origin = NewMappingOrigin(std::move(map), std::move(fake));
  auto r = origin->Read("s3://bkt/x.nc", ByteRange{2, 3});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "234");
  auto s = origin->Size("s3://bkt/x.nc");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, 10u);
  auto missing = origin->Read("s3://bkt/y.nc", ByteRange{0, 1});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("mapped from s3://bkt/y.nc"));
}

// ---- headers ------------------------------------------------------------------------------

TEST(ParseHeaderRule, PrefixIsAFirstWordWithAScheme) {
  auto a = ParseHeaderRule("X-Api-Key: abc def", "--header");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->prefix, "");
  EXPECT_EQ(a->header, "X-Api-Key: abc def");
  auto b = ParseHeaderRule("https://h/data/  Authorization:Bearer xyz", "--header");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->prefix, "https://h/data/");
  EXPECT_EQ(b->header, "Authorization: Bearer xyz");
  for (const char* bad : {"", "novalue", ": x", "Bad Name: x", "https://h/ : x"}) {
    auto r = ParseHeaderRule(bad, "--header");
    EXPECT_FALSE(r.ok()) << bad;
  }
  // The error does not repeat the value, which may be a secret.
  auto r = ParseHeaderRule("Bad Name: s3cr3t", "--header");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), Not(HasSubstr("s3cr3t")));
}

TEST(BearerRuleFromEnv, TokenFromTheVariable) {
  auto env = Env({{"TOK", "t0ken"}, {"EMPTY", ""}});
  auto a = BearerRuleFromEnv("TOK", env);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->prefix, "");
  EXPECT_EQ(a->header, "Authorization: Bearer t0ken");
  auto b = BearerRuleFromEnv("https://h/ TOK", env);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->prefix, "https://h/");
  for (const char* bad : {"UNSET", "EMPTY", ""}) {
    auto r = BearerRuleFromEnv(bad, env);
    ASSERT_FALSE(r.ok()) << bad;
    if (*bad) {
      EXPECT_THAT(r.status().message(), HasSubstr(bad));
    }
  }
}

// ---- the planner --------------------------------------------------------------------------

TEST(RequestPlanner, SignedS3Request) {
  S3Config c;
  c.region = "eu-west-1";
  c.endpoint = "http://127.0.0.1:9000";
  c.credentials = {"AKID", "SECRET", "TOKEN", "the environment"};
  RequestPlanner p(c, {{"", "Authorization: Bearer b34r3r"}, {"", "X-All: 1"}});
  auto r = p.Plan("s3://bkt/k 1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->url, "http://127.0.0.1:9000/bkt/k%201");
  EXPECT_EQ(r->aws_sigv4, "aws:amz:eu-west-1:s3");
  EXPECT_EQ(r->access_key_id, "AKID");
  EXPECT_EQ(r->secret_access_key, "SECRET");
  EXPECT_THAT(r->headers, ::testing::Contains(HasSubstr("x-amz-content-sha256: e3b0c442")));
  EXPECT_THAT(r->headers, ::testing::Contains("x-amz-security-token: TOKEN"));
  EXPECT_THAT(r->headers, ::testing::Contains("X-All: 1"));
  // The signature is the Authorization header: no rule replaces it.
  EXPECT_THAT(r->headers, Not(::testing::Contains(HasSubstr("Bearer"))));
  EXPECT_THAT(r->secrets, ::testing::IsSupersetOf({"SECRET", "TOKEN"}));
  EXPECT_THAT(r->denied_hint, HasSubstr("the environment"));
  EXPECT_THAT(p.Describe(), Not(HasSubstr("SECRET")));
  EXPECT_THAT(p.Describe(), Not(HasSubstr("TOKEN")));
  EXPECT_THAT(p.Describe(), Not(HasSubstr("b34r3r")));
  EXPECT_THAT(p.Describe(), HasSubstr("Authorization: ***"));
}

TEST(RequestPlanner, AnonymousS3AndGcsAndHttps) {
  S3Config c;
  c.credentials.source = "none found";
  RequestPlanner p(c, {{"https://h/private/", "Authorization: Bearer b34r3r"}});
  auto s3 = p.Plan("s3://bkt/k");
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->url, "https://bkt.s3.us-east-1.amazonaws.com/k");
  EXPECT_TRUE(s3->aws_sigv4.empty());
  EXPECT_TRUE(s3->headers.empty());
  EXPECT_THAT(s3->denied_hint, HasSubstr("no AWS credentials found"));
  auto gs = p.Plan("gs://bkt/k");
  ASSERT_TRUE(gs.ok());
  EXPECT_EQ(gs->url, "https://storage.googleapis.com/bkt/k");
  auto open = p.Plan("https://h/public/x");
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->url, "https://h/public/x");
  EXPECT_TRUE(open->headers.empty());
  auto priv = p.Plan("https://h/private/x");
  ASSERT_TRUE(priv.ok());
  EXPECT_THAT(priv->headers, ::testing::ElementsAre("Authorization: Bearer b34r3r"));
  EXPECT_THAT(priv->secrets, ::testing::Contains("b34r3r"));
}

TEST(RequestPlanner, AConfigurationProblemFailsS3RequestsOnly) {
  S3Config c;
  c.problem = Status(Code::kPermissionDenied, "AWS profile 'x' not found in a or b");
  RequestPlanner p(c, {});
  auto r = p.Plan("s3://bkt/k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("s3://bkt/k: AWS profile 'x' not found"));
  EXPECT_TRUE(p.Plan("https://h/x").ok());
}

}  // namespace
}  // namespace zm
