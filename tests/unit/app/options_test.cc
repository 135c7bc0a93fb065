// Unit tests of app/options.h: the command line of a mount, --help, and the
// default cache directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "app/daemon.h"
#include "app/options.h"
#include "base/units.h"

namespace zm {
namespace {

using ::testing::HasSubstr;

Result<Options> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "zarrmount");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return ParseOptions(static_cast<int>(args.size()), argv.data());
}

Options MustParse(std::vector<std::string> args) {
  auto r = Parse(args);
  std::string joined;
  for (const auto& a : args) joined += a + " ";
  EXPECT_TRUE(r.ok()) << joined << ": " << r.status().ToString();
  return r.ok() ? *r : Options{};
}

std::string ParseError(std::vector<std::string> args) {
  auto r = Parse(args);
  std::string joined;
  for (const auto& a : args) joined += a + " ";
  EXPECT_FALSE(r.ok()) << joined << "was accepted";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << "one line";
  return r.status().message();
}

TEST(ParseOptions, Defaults) {
  Options o = MustParse({"refs.json", "/mnt/x"});
  Options d;
  EXPECT_EQ(o.source, "refs.json");
  EXPECT_EQ(o.mountpoint, "/mnt/x");
  EXPECT_FALSE(o.foreground);
  EXPECT_FALSE(o.debug);
  EXPECT_FALSE(o.check_only);
  EXPECT_FALSE(o.help);
  EXPECT_FALSE(o.version);
  EXPECT_TRUE(o.fuse_options.empty());
  EXPECT_EQ(o.cache_dir, "");
  EXPECT_EQ(o.cache_size, d.cache_size);
  EXPECT_EQ(o.memory_cache, d.memory_cache);
  EXPECT_TRUE(o.disk_cache);
  EXPECT_EQ(o.block_size, 1_MiB);
  EXPECT_EQ(o.threads, d.threads);
  EXPECT_EQ(o.log_file, "");
  EXPECT_EQ(o.connect_timeout_ms, d.connect_timeout_ms);
  EXPECT_EQ(o.request_timeout_ms, d.request_timeout_ms);
  EXPECT_EQ(o.retries, d.retries);
}

TEST(ParseOptions, Flags) {
  EXPECT_TRUE(MustParse({"-f", "s", "m"}).foreground);
  EXPECT_TRUE(MustParse({"--foreground", "s", "m"}).foreground);
  Options o = MustParse({"-d", "s", "m"});
  EXPECT_TRUE(o.debug);
  EXPECT_TRUE(o.foreground) << "-d implies foreground";
  o = MustParse({"--debug", "s", "m"});
  EXPECT_TRUE(o.debug && o.foreground);
  EXPECT_FALSE(MustParse({"--no-disk-cache", "s", "m"}).disk_cache);
  EXPECT_TRUE(MustParse({"-h"}).help);
  EXPECT_TRUE(MustParse({"--help"}).help);
  EXPECT_TRUE(MustParse({"-V"}).version);
  EXPECT_TRUE(MustParse({"--version"}).version);
  // Options may follow the positional arguments.
  o = MustParse({"s", "m", "-f", "--no-disk-cache"});
  EXPECT_TRUE(o.foreground);
  EXPECT_FALSE(o.disk_cache);
  EXPECT_EQ(o.source, "s");
  EXPECT_EQ(o.mountpoint, "m");
}

TEST(ParseOptions, FuseOptions) {
  Options o = MustParse({"-o", "allow_other,max_read=131072", "s", "m"});
  EXPECT_EQ(o.fuse_options, (std::vector<std::string>{"allow_other", "max_read=131072"}));
  o = MustParse({"-oallow_other", "s", "m", "-o", "a,,b,", "-o", "c"});
  EXPECT_EQ(o.fuse_options, (std::vector<std::string>{"allow_other", "a", "b", "c"}));
  EXPECT_THAT(ParseError({"s", "m", "-o"}), HasSubstr("'-o'"));
}

TEST(ComputeSizes, NoMorePrefetchThreadsThanConnections) {
  EXPECT_EQ(ComputeSizes(MustParse({"s", "m"})).read_through.prefetch_threads, 64);
  EXPECT_EQ(ComputeSizes(MustParse({"--max-connections", "8", "s", "m"})).read_through.prefetch_threads, 8);
  EXPECT_EQ(ComputeSizes(MustParse({"--prefetch-threads", "4", "s", "m"})).read_through.prefetch_threads, 4);
  EXPECT_EQ(ComputeSizes(MustParse({"--no-prefetch", "s", "m"})).read_through.prefetch_threads, 0);
}

TEST(ParseOptions, ValueOptionsBothForms) {
  Options o = MustParse({"--cache-dir", "/var/c", "--cache-size", "20G", "--memory-cache", "64M",
                         "--block-size", "4M", "--threads", "8", "--connect-timeout", "5",
                         "--request-timeout", "60", "--retries", "0", "--log", "/tmp/z.log", "s",
                         "m"});
  EXPECT_EQ(o.cache_dir, "/var/c");
  EXPECT_EQ(o.cache_size, 20_GiB);
  EXPECT_EQ(o.memory_cache, 64_MiB);
  EXPECT_EQ(o.block_size, 4_MiB);
  EXPECT_EQ(o.threads, 8);
  EXPECT_EQ(o.connect_timeout_ms, 5000);
  EXPECT_EQ(o.request_timeout_ms, 60'000);
  EXPECT_EQ(o.retries, 0);
  EXPECT_EQ(o.log_file, "/tmp/z.log");

  Options e = MustParse({"--cache-dir=/var/c", "--cache-size=20GiB", "--memory-cache=64MB",
                         "--block-size=4096", "--threads=8", "--connect-timeout=5",
                         "--request-timeout=60", "--retries=0", "--log=/tmp/z.log", "s", "m"});
  EXPECT_EQ(e.cache_dir, o.cache_dir);
  EXPECT_EQ(e.cache_size, o.cache_size);
  EXPECT_EQ(e.memory_cache, o.memory_cache);
  EXPECT_EQ(e.block_size, 4096u);
  EXPECT_EQ(e.threads, 8);
  EXPECT_EQ(e.connect_timeout_ms, 5000);
  EXPECT_EQ(e.request_timeout_ms, 60'000);
  EXPECT_EQ(e.retries, 0);
  EXPECT_EQ(e.log_file, o.log_file);
  // A value with '=' in it, in the --opt=value form.
  EXPECT_EQ(MustParse({"--cache-dir=/a=b", "s", "m"}).cache_dir, "/a=b");
  // The last occurrence wins.
  EXPECT_EQ(MustParse({"--threads", "2", "--threads=3", "s", "m"}).threads, 3);
}

TEST(ParseOptions, SizesAndRanges) {
  EXPECT_EQ(MustParse({"--block-size", "4K", "s", "m"}).block_size, 4_KiB);
  EXPECT_EQ(MustParse({"--block-size", "64M", "s", "m"}).block_size, 64_MiB);
  EXPECT_THAT(ParseError({"--block-size", "4095", "s", "m"}), HasSubstr("--block-size"));
  EXPECT_THAT(ParseError({"--block-size", "65M", "s", "m"}), HasSubstr("--block-size"));
  EXPECT_EQ(MustParse({"--cache-size", "1.5G", "s", "m"}).cache_size, 1536_MiB);
  EXPECT_EQ(MustParse({"--memory-cache", "0", "s", "m"}).memory_cache, 0u);
  std::string m = ParseError({"--cache-size", "10X", "s", "m"});
  EXPECT_THAT(m, HasSubstr("--cache-size"));
  EXPECT_THAT(m, HasSubstr("10X"));
  EXPECT_THAT(ParseError({"--memory-cache=-1", "s", "m"}), HasSubstr("--memory-cache"));

  EXPECT_EQ(MustParse({"--threads", "1", "s", "m"}).threads, 1);
  EXPECT_EQ(MustParse({"--threads", "1024", "s", "m"}).threads, 1024);
  for (const char* bad : {"0", "1025", "-1", "abc", "", "8x", "1.5"}) {
    EXPECT_THAT(ParseError({"--threads", bad, "s", "m"}), HasSubstr("--threads")) << bad;
  }
  EXPECT_EQ(MustParse({"--retries", "100", "s", "m"}).retries, 100);
  EXPECT_THAT(ParseError({"--retries", "101", "s", "m"}), HasSubstr("--retries"));
  EXPECT_EQ(MustParse({"--connect-timeout", "86400", "s", "m"}).connect_timeout_ms, 86'400'000);
  EXPECT_THAT(ParseError({"--connect-timeout", "0", "s", "m"}), HasSubstr("--connect-timeout"));
  EXPECT_THAT(ParseError({"--request-timeout", "86401", "s", "m"}), HasSubstr("--request-timeout"));
  EXPECT_THAT(ParseError({"--cache-dir=", "s", "m"}), HasSubstr("--cache-dir"));
}

TEST(ParseOptions, OriginDeadlines) {
  Options d;
  EXPECT_LE(d.request_timeout_ms, d.read_timeout_ms) << "an attempt fits in a fetch";
  Options o = MustParse({"--read-timeout", "7", "--low-speed-limit", "16K", "--low-speed-time=3",
                         "s", "m"});
  EXPECT_EQ(o.read_timeout_ms, 7000);
  EXPECT_EQ(o.low_speed_limit, 16_KiB);
  EXPECT_EQ(o.low_speed_time_s, 3);
  EXPECT_EQ(MustParse({"--low-speed-limit=1", "s", "m"}).low_speed_limit, 1u);
  for (const char* bad : {"0", "86401", "-1", "1.5", ""})
    EXPECT_THAT(ParseError({"--read-timeout", bad, "s", "m"}), HasSubstr("--read-timeout")) << bad;
  EXPECT_THAT(ParseError({"--low-speed-time", "0", "s", "m"}), HasSubstr("--low-speed-time"));
  EXPECT_THAT(ParseError({"--low-speed-limit", "0", "s", "m"}), HasSubstr("--low-speed-limit"));
  EXPECT_THAT(ParseError({"--low-speed-limit", "2G", "s", "m"}), HasSubstr("--low-speed-limit"));
  EXPECT_THAT(ParseError({"--low-speed-limit", "fast", "s", "m"}), HasSubstr("--low-speed-limit"));
  std::string help = HelpText();
  EXPECT_THAT(help, HasSubstr("default: " + std::to_string(d.read_timeout_ms / 1000) + ")"));
  EXPECT_THAT(help, HasSubstr("default: " + FormatSize(d.low_speed_limit) + ")"));
}

TEST(ParseOptions, MissingValue) {
  for (const char* opt : {"--cache-dir", "--cache-size", "--memory-cache", "--block-size",
                          "--threads", "--connect-timeout", "--request-timeout", "--retries",
                          "--read-timeout", "--low-speed-limit", "--low-speed-time", "--log"}) {
    std::string m = ParseError({"s", "m", opt});
    EXPECT_THAT(m, HasSubstr(std::string("'") + opt + "'"));
    EXPECT_THAT(m, HasSubstr("needs a value"));
  }
}

TEST(ParseOptions, UnknownOption) {
  EXPECT_THAT(ParseError({"--bogus", "s", "m"}), HasSubstr("unknown option '--bogus'"));
  EXPECT_THAT(ParseError({"-x", "s", "m"}), HasSubstr("unknown option '-x'"));
  EXPECT_THAT(ParseError({"s", "m", "--cache_size", "1G"}), HasSubstr("'--cache_size'"));
  EXPECT_THAT(ParseError({"--bogus=1", "s", "m"}), HasSubstr("--bogus"));
}

TEST(ParseOptions, Positionals) {
  EXPECT_THAT(ParseError({}), HasSubstr("SOURCE and MOUNTPOINT"));
  EXPECT_THAT(ParseError({"s"}), HasSubstr("SOURCE and MOUNTPOINT"));
  EXPECT_THAT(ParseError({"-f", "s"}), HasSubstr("MOUNTPOINT"));
  MustParse({"a", "b", "c"});  // a collection, or refused once the files are read
  // "-" alone is a name, not an option.
  Options o = MustParse({"-", "m"});
  EXPECT_EQ(o.source, "-");
}

TEST(ParseOptions, CheckNeedsOnlySource) {
  Options o = MustParse({"--check", "refs.json"});
  EXPECT_TRUE(o.check_only);
  EXPECT_EQ(o.source, "refs.json");
  EXPECT_EQ(o.mountpoint, "");
  o = MustParse({"refs.json", "--check"});
  EXPECT_TRUE(o.check_only);
  EXPECT_EQ(o.source, "refs.json");
  o = MustParse({"--check", "refs.json", "/mnt"});  // a mountpoint is allowed, unused
  EXPECT_EQ(o.mountpoint, "/mnt");
  EXPECT_THAT(ParseError({"--check"}), HasSubstr("SOURCE"));
  MustParse({"--check", "a", "b", "c"});  // likewise
}

// Options this test knows the parser accepts, with a valid value where one
// is taken. Each must be documented in --help.
struct KnownOption {
  const char* name;
  const char* value;  // nullptr: a flag
};
const KnownOption kKnownOptions[] = {
    {"-h", nullptr},
    {"--help", nullptr},
    {"-V", nullptr},
    {"--version", nullptr},
    {"-f", nullptr},
    {"--foreground", nullptr},
    {"-d", nullptr},
    {"--debug", nullptr},
    {"-o", "allow_other"},
    {"--cache-dir", "/tmp/c"},
    {"--cache-size", "1G"},
    {"--memory-cache", "64M"},
    {"--no-disk-cache", nullptr},
    {"--block-size", "1M"},
    {"--threads", "4"},
    {"--no-prefetch", nullptr},
    {"--prefetch-threads", "4"},
    {"--prefetch-memory", "64M"},
    {"--coalesce-gap", "64K"},
    {"--coalesce-max", "16M"},
    {"--connect-timeout", "5"},
    {"--request-timeout", "30"},
    {"--read-timeout", "20"},
    {"--low-speed-limit", "4K"},
    {"--low-speed-time", "5"},
    {"--retries", "2"},
    {"--log", "/tmp/l"},
    {"--check", nullptr},
    {"--map", "s3://a/=http://b/"},
    {"--s3-endpoint", "http://127.0.0.1:9000"},
    {"--s3-region", "eu-west-1"},
    {"--s3-profile", "team"},
    {"--s3-anonymous", nullptr},
    {"--header", "https://h/ X-Key: v"},
    {"--bearer-token-env", "TOKEN_VAR"},
};

// A valid value for a metavariable of the help text ("SIZE", "N", ...).
std::string SampleValue(const std::string& metavar) {
  if (metavar == "SIZE") return "1M";
  if (metavar == "N") return "4";
  if (metavar == "S") return "5";
  if (metavar.starts_with("OPT")) return "allow_other";
  if (metavar == "OLD") return "s3://a/=http://b/";  // --map OLD=NEW
  if (metavar == "URL") return "http://127.0.0.1:9000";
  if (metavar == "HEADER") return "X-Key: v";
  if (metavar == "VIEW") return "npy";
  if (metavar == "FORMAT") return "zarr";
  if (metavar == "DIM") return "time";
  if (metavar == "A,B") return "lat,lon";
  if (metavar == "HOST") return "127.0.0.1:9100";  // --metrics HOST:PORT (the regex stops at ':')
  return "/tmp/zm-sample";  // DIR, FILE, ...
}

// The options documented in the option list of --help, with their
// metavariable ("" for a flag).
std::map<std::string, std::string> DocumentedOptions() {
  std::string help = HelpText();
  size_t start = help.find("Options:");
  EXPECT_NE(start, std::string::npos);
  // Only the option list: the prose above it quotes other programs
  // ("fusermount3 -u").
  help = help.substr(start == std::string::npos ? 0 : start);
  std::map<std::string, std::string> out;
  std::regex re(R"((^|[\s,\[(])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b(?:[ =]([A-Z][A-Z\[\],.]*))?)");
  for (auto it = std::sregex_iterator(help.begin(), help.end(), re); it != std::sregex_iterator(); ++it) {
    std::string name = (*it)[2].str(), metavar = (*it)[3].matched ? (*it)[3].str() : "";
    if (!out.count(name) || out[name].empty()) out[name] = metavar;
  }
  return out;
}

TEST(Options, View) {
  auto r = Parse({"--view", "netcdf", "s", "m"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->view, "netcdf");
  EXPECT_EQ(Parse({"s", "m"})->view, "zarr");
  auto bad = Parse({"--view", "hdf5", "s", "m"});
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("hdf5"));
  EXPECT_EQ(Parse({"--view-cache", "64M", "s", "m"})->view_cache, 64_MiB);
  EXPECT_FALSE(Parse({"--view-cache", "4K", "s", "m"}).ok());
}

TEST(ParseOptions, Aggregation) {
  Options o = MustParse({"--concat", "time", "a.json", "dir", "b*.json", "/mnt/x"});
  EXPECT_EQ(o.concat_dims, (std::vector<std::string>{"time"}));
  EXPECT_EQ(o.sources, (std::vector<std::string>{"a.json", "dir", "b*.json"}));
  EXPECT_EQ(o.source, "a.json");
  EXPECT_EQ(o.mountpoint, "/mnt/x");
  o = MustParse({"--concat", "time", "--concat=member", "--identical-dims", "lat,lon",
                 "--identical-dims=depth", "a", "m"});
  EXPECT_EQ(o.concat_dims, (std::vector<std::string>{"time", "member"}));
  EXPECT_EQ(o.identical_dims, (std::vector<std::string>{"lat", "lon", "depth"}));
  o = MustParse({"--check", "--concat", "time", "a", "b"});
  EXPECT_EQ(o.sources, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(o.mountpoint, "");
  // Several SOURCEs without --concat: a collection of NetCDF/HDF5 files or
  // an error, which only their contents tell (ExpandFileCollection).
  o = MustParse({"a", "b", "m"});
  EXPECT_EQ(o.sources, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(o.mountpoint, "m");
  o = MustParse({"--check", "a", "b", "c"});
  EXPECT_EQ(o.sources, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_THAT(ParseError({"--identical-dims", "lat", "a", "m"}), HasSubstr("needs --concat"));
  EXPECT_THAT(ParseError({"--concat", "t", "--concat", "t", "a", "m"}), HasSubstr("given twice"));
  EXPECT_THAT(ParseError({"--concat", "t", "--identical-dims", "a,,b", "a", "m"}),
              HasSubstr("empty name"));
  EXPECT_THAT(ParseError({"--concat", "t", "m"}), HasSubstr("expected SOURCE and MOUNTPOINT"));
}

TEST(HelpText, EveryOptionInTheHelpIsAccepted) {
  auto documented = DocumentedOptions();
  ASSERT_GE(documented.size(), 15u);
  // The help parser itself works.
  EXPECT_EQ(documented["--cache-size"], "SIZE");
  EXPECT_EQ(documented["--threads"], "N");
  EXPECT_EQ(documented["-o"], "OPT[,OPT...]");
  EXPECT_EQ(documented["-f"], "");
  EXPECT_EQ(documented["--check"], "");
  // Options that only make sense with another one.
  const std::map<std::string, std::vector<std::string>> needs = {
      {"--identical-dims", {"--concat", "time"}}};
  for (const auto& [opt, metavar] : documented) {
    std::vector<std::string> pre = needs.count(opt) ? needs.at(opt) : std::vector<std::string>{};
    std::vector<std::string> args = pre;
    args.push_back(opt);
    if (!metavar.empty()) args.push_back(SampleValue(metavar));
    args.push_back("s");
    args.push_back("m");
    auto r = Parse(args);
    EXPECT_TRUE(r.ok()) << "--help documents '" << opt << (metavar.empty() ? "" : " " + metavar)
                        << "' but: " << r.status().ToString();
    if (!metavar.empty() && opt.starts_with("--")) {
      std::vector<std::string> eq = pre;
      for (const char* a : {"=", "s", "m"}) eq.push_back(a);
      eq[pre.size()] = opt + "=" + SampleValue(metavar);
      auto e = Parse(eq);
      EXPECT_TRUE(e.ok()) << opt << "=VALUE: " << e.status().ToString();
      auto m = Parse({"s", "m", opt});
      EXPECT_FALSE(m.ok()) << opt << " without its value was accepted";
    }
  }
}

TEST(HelpText, EveryAcceptedOptionIsInTheHelp) {
  auto documented = DocumentedOptions();
  for (const auto& k : kKnownOptions) {
    EXPECT_TRUE(documented.count(k.name)) << k.name << " is accepted but not in --help";
    if (documented.count(k.name)) {
      EXPECT_EQ(documented[k.name].empty(), k.value == nullptr)
          << k.name << ": --help and the parser disagree on whether it takes a value";
    }
    std::vector<std::string> args = {k.name};
    if (k.value) args.push_back(k.value);
    args.push_back("s");
    args.push_back("m");
    auto r = Parse(args);
    EXPECT_TRUE(r.ok()) << k.name << ": " << r.status().ToString();
  }
}

TEST(HelpText, ShowsTheDefaults) {
  std::string help = HelpText();
  Options d;
  EXPECT_THAT(help, HasSubstr(FormatSize(d.cache_size)));
  EXPECT_THAT(help, HasSubstr(FormatSize(d.memory_cache)));
  EXPECT_THAT(help, HasSubstr(FormatSize(d.block_size)));
  EXPECT_THAT(help, HasSubstr("default: " + std::to_string(d.threads) + ")"));
  EXPECT_THAT(help, HasSubstr("default: " + std::to_string(d.retries) + ")"));
  EXPECT_THAT(help, HasSubstr("Usage: zarrmount"));
}

TEST(DefaultCacheDir, FollowsXdg) {
  const char* old_xdg = getenv("XDG_CACHE_HOME");
  const char* old_home = getenv("HOME");
  std::string saved_xdg = old_xdg ? old_xdg : "", saved_home = old_home ? old_home : "";
  setenv("XDG_CACHE_HOME", "/x/cache", 1);
  EXPECT_EQ(DefaultCacheDir(), "/x/cache/zarrmount");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(DefaultCacheDir(), "/home/u/.cache/zarrmount");
  if (old_xdg) setenv("XDG_CACHE_HOME", saved_xdg.c_str(), 1);
  if (old_home) setenv("HOME", saved_home.c_str(), 1);
  else unsetenv("HOME");
}

TEST(CloudOptions, Parse) {
  auto o = Parse({"--map", "s3://a/=http://b/", "--map=gs://c/=file:///d/",
                  "--s3-endpoint", "http://127.0.0.1:9000", "--s3-region", "eu-west-1",
                  "--s3-profile", "team", "--s3-anonymous", "--header", "https://h/ X-K: v",
                  "--bearer-token-env", "TOK", "refs.json", "/mnt"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_THAT(o->maps, ::testing::ElementsAre("s3://a/=http://b/", "gs://c/=file:///d/"));
  EXPECT_EQ(o->s3_endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(o->s3_region, "eu-west-1");
  EXPECT_EQ(o->s3_profile, "team");
  EXPECT_TRUE(o->s3_anonymous);
  EXPECT_THAT(o->headers, ::testing::ElementsAre("https://h/ X-K: v"));
  EXPECT_THAT(o->bearer_envs, ::testing::ElementsAre("TOK"));
  EXPECT_FALSE(Parse({"--map", "nothing", "r", "m"}).ok());
  EXPECT_FALSE(Parse({"--header", "no colon", "r", "m"}).ok());
  EXPECT_FALSE(Parse({"--s3-endpoint", "minio:9000", "r", "m"}).ok());
  EXPECT_FALSE(Parse({"--s3-anonymous=yes", "r", "m"}).ok());
}

}  // namespace
}  // namespace zm
