// The option table (app/option_table.h) against what it yields: the
// parser of each command, `zarrmount --help` and each command's --help.
// The behaviour of single options is tested in options_test.cc
// (ParseOptions, CloudOptions).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/option_table.h"
#include "app/options.h"
#include "base/units.h"

namespace zm {
namespace {

using ::testing::HasSubstr;

const std::map<Command, std::string> kCommandNames = {
    {Command::kMount, "mount"},     {Command::kWarm, "warm"},     {Command::kCombine, "combine"},
    {Command::kCache, "cache"},     {Command::kStatus, "status"},   {Command::kScan, "scan"},
    {Command::kConvert, "convert"},
};

// A valid value for a metavariable of the table.
std::string SampleValue(const std::string& metavar) {
  if (metavar == "SIZE") return "1M";
  if (metavar == "N" || metavar == "S") return "4";
  if (metavar == "AGE") return "7d";
  if (metavar.starts_with("OPT")) return "allow_other";
  if (metavar == "OLD=NEW") return "s3://a/=http://b/";
  if (metavar == "URL") return "http://127.0.0.1:9000";
  if (metavar == "HEADER") return "X-Key: v";
  if (metavar == "VIEW") return "npy";
  if (metavar == "FORMAT") return "zarr";
  if (metavar == "DIM") return "time";
  if (metavar == "A,B") return "lat,lon";
  if (metavar == "HOST:PORT") return "127.0.0.1:9100";
  if (metavar == "json|parquet") return "parquet";
  return "/tmp/zm-sample";  // DIR, FILE, NAME, REGION, VAR
}

// The spellings of an entry: "--long" and/or "-x".
std::vector<std::string> Spellings(const OptionSpec& spec) {
  std::vector<std::string> out;
  if (spec.long_name) out.push_back(spec.long_name);
  if (spec.short_name) out.push_back(std::string("-") + spec.short_name);
  return out;
}

Result<std::vector<std::string>> ParseFor(Command command, std::vector<std::string> args,
                                          Options* out) {
  args.insert(args.begin(), {"zarrmount", "command"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseCommandLine(command, static_cast<int>(argv.size()), argv.data(), 2, out);
}

TEST(OptionTable, EachSpellingNamesOneEntryPerCommand) {
  for (const auto& [command, name] : kCommandNames) {
    std::set<std::string> seen;
    for (const OptionSpec& spec : OptionTable()) {
      if (!spec.for_command(command)) continue;
      for (const std::string& s : Spellings(spec)) {
        EXPECT_TRUE(seen.insert(s).second) << name << ": '" << s << "' is in the table twice";
        EXPECT_EQ(FindOption(command, s), &spec) << name << " " << s;
      }
    }
  }
}

TEST(OptionTable, EveryEntryHasItsParts) {
  for (const OptionSpec& spec : OptionTable()) {
    std::string name = spec.long_name ? spec.long_name : std::string(1, spec.short_name);
    EXPECT_TRUE(spec.long_name || spec.short_name) << "an entry without a name";
    EXPECT_NE(spec.commands, 0u) << name << " is taken by no command";
    EXPECT_TRUE(spec.help && *spec.help) << name << " has no help text";
    EXPECT_TRUE(spec.apply) << name;
    EXPECT_EQ(std::string(spec.help).find("{}") != std::string::npos,
              spec.default_text != nullptr)
        << name << ": a default text and the help's \"{}\" come together";
  }
}

// Every entry of every command parses in each of its forms, and a value
// option without its value is refused.
TEST(OptionTable, EveryEntryParsesForItsCommands) {
  for (const auto& [command, name] : kCommandNames) {
    for (const OptionSpec& spec : OptionTable()) {
      if (!spec.for_command(command)) continue;
      for (const std::string& s : Spellings(spec)) {
        std::vector<std::string> args = {s};
        if (spec.takes_value()) args.push_back(SampleValue(spec.metavar));
        args.push_back("positional");
        Options o;
        auto r = ParseFor(command, args, &o);
        ASSERT_TRUE(r.ok()) << name << " " << s << ": " << r.status().ToString();
        if (!o.help) {
          EXPECT_EQ(*r, std::vector<std::string>{"positional"}) << name << " " << s;
        }
        if (!spec.takes_value()) continue;
        Options attached;
        std::string joined = s.starts_with("--") ? s + "=" + SampleValue(spec.metavar)
                                                 : s + SampleValue(spec.metavar);
        EXPECT_TRUE(ParseFor(command, {joined}, &attached).ok()) << name << " " << joined;
        Options missing;
        auto m = ParseFor(command, {s}, &missing);
        ASSERT_FALSE(m.ok()) << name << " " << s << " without its value was accepted";
        EXPECT_THAT(m.status().message(), HasSubstr("'" + s + "' needs a value"));
      }
    }
  }
}

TEST(OptionTable, CommandsRefuseOptionsTheyDoNotTake) {
  for (const auto& [command, name] : kCommandNames) {
    for (const OptionSpec& spec : OptionTable()) {
      if (spec.for_command(command) || !spec.long_name) continue;
      // A name may mean one option to some commands and another to others
      // (--format: what SOURCE is to a mount, what to write to convert).
      if (FindOption(command, spec.long_name)) continue;
      Options o;
      std::vector<std::string> args = {spec.long_name};
      if (spec.takes_value()) args.push_back(SampleValue(spec.metavar));
      auto r = ParseFor(command, args, &o);
      ASSERT_FALSE(r.ok()) << name << " accepts " << spec.long_name;
      EXPECT_THAT(r.status().message(),
                  HasSubstr("unknown option '" + std::string(spec.long_name) + "'"));
    }
  }
}

// `zarrmount --help` lists exactly the mount's entries, each with its
// spelling, metavariable and every line of its text.
TEST(OptionTable, HelpListsEveryMountEntry) {
  const std::string help = HelpText();
  const std::string list = help.substr(help.find("\nOptions:\n"));
  for (const OptionSpec& spec : OptionTable()) {
    std::string head = spec.long_name ? spec.long_name : std::string("-") + spec.short_name;
    if (spec.metavar) head += std::string(" ") + spec.metavar;
    if (!spec.for_command(Command::kMount)) {
      EXPECT_THAT(list, ::testing::Not(HasSubstr(" " + head + " "))) << head;
      continue;
    }
    EXPECT_THAT(list, HasSubstr(head + " ")) << head << " is not in --help";
    if (spec.short_name && spec.long_name) {
      EXPECT_THAT(list, HasSubstr(std::string("-") + spec.short_name + ", " + spec.long_name));
    }
    std::string text = spec.help;
    if (spec.default_text) text.replace(text.find("{}"), 2, spec.default_text(Options{}));
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      std::string line = text.substr(start, nl - start);
      EXPECT_THAT(list, HasSubstr(line + "\n")) << head;
      start = nl == std::string::npos ? text.size() : nl + 1;
    }
  }
  EXPECT_EQ(help.find(OptionListText(Command::kMount, Options{})), help.find("Options:\n") + 9);
}

// Each command's --help names every option the command takes, and every
// option it names is taken.
TEST(OptionTable, CommandUsageNamesWhatTheCommandTakes) {
  const std::map<Command, const char*> usage = {{Command::kWarm, kWarmUsage},
                                                {Command::kCombine, kCombineUsage},
                                                {Command::kCache, kCacheUsage},
                                                {Command::kStatus, kStatusUsage},
                                                {Command::kConvert, kConvertUsage}};
  for (const auto& [command, text] : usage) {
    const std::string name = kCommandNames.at(command);
    for (const OptionSpec& spec : OptionTable()) {
      if (!spec.for_command(command)) continue;
      for (const std::string& s : Spellings(spec))
        EXPECT_THAT(text, HasSubstr(s)) << name << " takes " << s << " but its --help lacks it";
    }
    std::string rest = text;
    for (size_t at = rest.find("--"); at != std::string::npos; at = rest.find("--", at + 2)) {
      size_t end = rest.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-", at + 2);
      std::string option = rest.substr(at, end - at);
      EXPECT_NE(FindOption(command, option), nullptr)
          << name << "'s --help names " << option << ", which it does not take";
    }
  }
}

TEST(OptionTable, WarmTakesTheOriginOptionsOfAMount) {
  Options o;
  o.max_connections = 16;
  auto r = ParseFor(Command::kWarm,
                    {"--cache-dir", "/c", "--cache-size=2G", "--max-connections", "4",
                     "--local-root", "/data", "--map", "s3://a/=http://b/", "--s3-endpoint",
                     "http://127.0.0.1:9000", "--s3-region", "eu-west-1", "--s3-profile", "team",
                     "--s3-anonymous", "--header", "X-K: v", "--bearer-token-env", "TOK",
                     "--json", "refs.json", "tas"},
                    &o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<std::string>{"refs.json", "tas"}));
  EXPECT_EQ(o.cache_dir, "/c");
  EXPECT_EQ(o.cache_size, 2_GiB);
  EXPECT_EQ(o.max_connections, 4);
  EXPECT_EQ(o.local_roots, std::vector<std::string>{"/data"});
  EXPECT_EQ(o.maps, std::vector<std::string>{"s3://a/=http://b/"});
  EXPECT_EQ(o.s3_endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(o.s3_region, "eu-west-1");
  EXPECT_EQ(o.s3_profile, "team");
  EXPECT_TRUE(o.s3_anonymous);
  EXPECT_EQ(o.headers, std::vector<std::string>{"X-K: v"});
  EXPECT_EQ(o.bearer_envs, std::vector<std::string>{"TOK"});
  EXPECT_TRUE(o.json);
  // Values are checked as for mounting.
  Options bad;
  EXPECT_THAT(ParseFor(Command::kWarm, {"--max-connections", "0"}, &bad).status().message(),
              HasSubstr("--max-connections"));
  EXPECT_FALSE(ParseFor(Command::kWarm, {"--map", "nothing"}, &bad).ok());
  EXPECT_FALSE(ParseFor(Command::kWarm, {"--threads", "4"}, &bad).ok());
}

TEST(OptionTable, ShortOIsTheCommandsOwn) {
  Options mount, combine;
  ASSERT_TRUE(ParseFor(Command::kMount, {"-o", "allow_other"}, &mount).ok());
  EXPECT_EQ(mount.fuse_options, std::vector<std::string>{"allow_other"});
  EXPECT_EQ(mount.output, "");
  ASSERT_TRUE(ParseFor(Command::kCombine, {"-o", "out.json"}, &combine).ok());
  EXPECT_EQ(combine.output, "out.json");
  EXPECT_TRUE(combine.fuse_options.empty());
}

TEST(OptionTable, CacheAges) {
  for (const auto& [text, seconds] : std::map<std::string, int64_t>{
           {"90", 90}, {"90s", 90}, {"30m", 1800}, {"12h", 43200}, {"7d", 604800}}) {
    Options o;
    ASSERT_TRUE(ParseFor(Command::kCache, {"--unused-for", text}, &o).ok()) << text;
    EXPECT_EQ(o.unused_for_s, seconds) << text;
  }
  for (const char* bad : {"", "3w", "-1", "d", "1.5h"}) {
    Options o;
    EXPECT_FALSE(ParseFor(Command::kCache, {"--unused-for", bad}, &o).ok()) << bad;
  }
  Options o;
  ASSERT_TRUE(ParseFor(Command::kCache, {"--to", "2G"}, &o).ok());
  EXPECT_EQ(o.prune_to, 2_GiB);
}

TEST(OptionTable, ACommandStopsAtHelp) {
  Options o;
  auto r = ParseFor(Command::kWarm, {"--help", "--bogus"}, &o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(o.help);
  Options m;
  EXPECT_FALSE(ParseFor(Command::kMount, {"--help", "--bogus"}, &m).ok())
      << "a mount's command line is checked whole, as before";
}

}  // namespace
}  // namespace zm
