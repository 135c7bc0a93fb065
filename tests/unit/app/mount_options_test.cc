// -o as mount(8) and fstab spell options (app/option_table.h): every option
// --help lists, as name=VALUE or name, and mount(8)'s and FUSE's own.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "app/option_table.h"
#include "app/options.h"

namespace zm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Result<std::vector<std::string>> ParseMount(std::vector<std::string> args, Options* out) {
  args.insert(args.begin(), "zarrmount");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseCommandLine(Command::kMount, static_cast<int>(argv.size()), argv.data(), 1, out);
}

// The long options `zarrmount --help` lists, read from its text.
std::vector<std::string> HelpLongOptions() {
  std::vector<std::string> names;
  std::istringstream help(HelpText().substr(HelpText().find("\nOptions:\n")));
  for (std::string line; std::getline(help, line);) {
    // An option's line starts with its spelling, indented 2 or 6 spaces;
    // its text's further lines are indented to the text's column.
    size_t first = line.find_first_not_of(' ');
    if (first == std::string::npos || first > 6 || line[first] != '-') continue;
    size_t at = line.find("--");
    if (at == std::string::npos) continue;
    names.push_back(line.substr(at, line.find(' ', at) - at));
  }
  return names;
}

// A value `--name=VALUE` accepts: the first of a few that suit the table's
// kinds of values (sizes, counts, paths, URLs, headers, views, ...).
std::string AcceptedValue(const std::string& name) {
  for (const char* value : {"4", "1M", "/tmp/zm-sample", "zarr", "time", "lat,lon",
                            "s3://a/=http://b/", "http://127.0.0.1:9000", "X-Key: v",
                            "127.0.0.1:9100", "7d"}) {
    Options o;
    if (ParseMount({name + "=" + value}, &o).ok()) return value;
  }
  ADD_FAILURE() << name << ": no sample value is accepted; add one to AcceptedValue";
  return "";
}

// -o takes every option --help lists, with '_' or '-', to the same effect
// as the option itself: the two cannot drift apart.
TEST(MountOptions, EveryOptionOfHelpWorksThroughO) {
  const std::vector<std::string> listed = HelpLongOptions();
  size_t mount_long_options = 0;
  for (const OptionSpec& spec : OptionTable())
    if (spec.for_command(Command::kMount) && spec.long_name) ++mount_long_options;
  ASSERT_EQ(listed.size(), mount_long_options) << "--help lists every long option of a mount";
  for (const std::string& name : listed) {
    const OptionSpec* spec = FindOption(Command::kMount, name);
    ASSERT_NE(spec, nullptr) << name;
    const std::string value = spec->takes_value() ? AcceptedValue(name) : "";
    Options direct;
    ASSERT_TRUE(ParseMount({spec->takes_value() ? name + "=" + value : name}, &direct).ok())
        << name;
    std::string dashed = name.substr(2);
    std::string underscored = dashed;
    for (char& c : underscored)
      if (c == '-') c = '_';
    for (const std::string& spelled : {dashed, underscored}) {
      const std::string one = spec->takes_value() ? spelled + "=" + value : spelled;
      Options through_o;
      auto r = ParseMount({"-o", one}, &through_o);
      ASSERT_TRUE(r.ok()) << "-o " << one << ": " << r.status().ToString();
      EXPECT_TRUE(through_o == direct) << "-o " << one << " differs from " << name;
    }
  }
}

TEST(MountOptions, MixesOwnFuseAndMountOptions) {
  Options o;
  ASSERT_TRUE(ParseMount({"-o",
                          "ro,cache_dir=/var/cache/zm,allow_other,_netdev,noauto,nofail,user,"
                          "users,auto,defaults,x-systemd.automount,x-systemd.requires=n.service,"
                          "comment=x,noatime,relatime,nosuid,nodev,offline,memory-cache=64M,"
                          "map=s3://a/=http://b/,fsname=z"},
                         &o)
                  .ok());
  EXPECT_EQ(o.cache_dir, "/var/cache/zm");
  EXPECT_TRUE(o.offline);
  EXPECT_EQ(o.memory_cache, 64u << 20);
  EXPECT_THAT(o.maps, ElementsAre("s3://a/=http://b/"));
  // What FUSE is given: its own options; mount(8)'s, and access-time flags
  // that mean nothing on a read-only mount, are left out.
  EXPECT_THAT(o.fuse_options, ElementsAre("ro", "allow_other", "nosuid", "nodev", "fsname=z"));
}

TEST(MountOptions, QuotedValuesKeepTheirCommas) {
  Options o;
  ASSERT_TRUE(ParseMount({"-o", "header=\"X-A: b,c\",identical_dims=\"lat,lon\",allow_other"}, &o)
                  .ok());
  EXPECT_THAT(o.headers, ElementsAre("X-A: b,c"));
  EXPECT_THAT(o.identical_dims, ElementsAre("lat", "lon"));
  EXPECT_THAT(o.fuse_options, ElementsAre("allow_other"));
}

TEST(MountOptions, RepeatedOptionsAddUp) {
  Options o;
  ASSERT_TRUE(ParseMount({"-o", "local_root=/a,local_root=/b", "-o", "concat=time"}, &o).ok());
  EXPECT_THAT(o.local_roots, ElementsAre("/a", "/b"));
  EXPECT_THAT(o.concat_dims, ElementsAre("time"));
}

TEST(MountOptions, ErrorsNameTheOption) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"rw", "option '-o rw': the mount is read-only"},
      {"allow_other,rw", "'-o rw'"},
      {"offline=1", "option '-o offline' takes no value"},
      {"cache_dir", "option '-o cache_dir' needs a value (cache_dir=DIR)"},
      {"threads=0", "option '-o threads': '0' is not an integer in [1, 1024]"},
      {"view=tiff", "option '-o view': 'tiff' is not zarr, zarr-decoded, npy or netcdf"},
      {"block-size=1K", "option '-o block-size' must be between 4K and 64M"},
  };
  for (const auto& [given, error] : cases) {
    Options o;
    auto r = ParseMount({"-o", given}, &o);
    ASSERT_FALSE(r.ok()) << given;
    EXPECT_THAT(r.status().message(), HasSubstr(error)) << given;
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << given;
  }
}

}  // namespace
}  // namespace zm
