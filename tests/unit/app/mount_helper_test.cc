// zarrmount as mount(8)'s helper (app/mount_helper.h).

#include "app/mount_helper.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace zm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Result<MountHelperCall> Translate(std::vector<std::string> args) {
  args.insert(args.begin(), "/sbin/mount.fuse.zarrmount");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return TranslateMountHelperArgs(static_cast<int>(argv.size()), argv.data());
}

TEST(MountHelper, KnowsItsName) {
  EXPECT_TRUE(IsMountHelper("/sbin/mount.fuse.zarrmount"));
  EXPECT_TRUE(IsMountHelper("mount.fuse.zarrmount"));
  EXPECT_FALSE(IsMountHelper("/usr/bin/zarrmount"));
  EXPECT_FALSE(IsMountHelper("zarrmount"));
  EXPECT_FALSE(IsMountHelper("/opt/mount.d/zarrmount"));
}

// mount(8)'s rw is its default, not a request: dropped, wherever it stands.
TEST(MountHelper, DropsMountsReadWriteDefault) {
  auto call = Translate({"https://h/refs.json", "/data/agg", "-o",
                         "rw,cache_dir=/var/cache/zarrmount,allow_other"});
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  EXPECT_FALSE(call->fake);
  EXPECT_THAT(call->args, ElementsAre("zarrmount", "-o", "cache_dir=/var/cache/zarrmount,allow_other",
                                      "https://h/refs.json", "/data/agg"));
  call = Translate({"s", "/m", "-o", "rw"});
  ASSERT_TRUE(call.ok());
  EXPECT_THAT(call->args, ElementsAre("zarrmount", "s", "/m"));
  call = Translate({"s", "/m", "-o", "ro,offline,rw"});
  ASSERT_TRUE(call.ok());
  EXPECT_THAT(call->args, ElementsAre("zarrmount", "-o", "ro,offline", "s", "/m"));
}

TEST(MountHelper, KeepsQuotedCommas) {
  auto call = Translate({"s", "/m", "-o", "rw,header=\"X-A: b,rw\",allow_other"});
  ASSERT_TRUE(call.ok());
  EXPECT_THAT(call->args,
              ElementsAre("zarrmount", "-o", "header=\"X-A: b,rw\",allow_other", "s", "/m"));
}

TEST(MountHelper, TakesMountsFlags) {
  auto call = Translate({"-n", "s", "-v", "/m", "-s", "-t", "fuse.zarrmount", "-o", "offline"});
  ASSERT_TRUE(call.ok()) << call.status().ToString();
  EXPECT_FALSE(call->fake);
  EXPECT_THAT(call->args, ElementsAre("zarrmount", "-o", "offline", "s", "/m"));
  call = Translate({"s", "/m", "-fnv", "-o", "rw"});
  ASSERT_TRUE(call.ok());
  EXPECT_TRUE(call->fake) << "-f: mount(8) only records the mount";
}

TEST(MountHelper, RefusesWhatItCannotDo) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"s"}, "expected SOURCE and MOUNTPOINT, got 1"},
      {{"s", "/m", "/x"}, "expected SOURCE and MOUNTPOINT, got 3"},
      {{"s", "/m", "-N", "/proc/1/ns/mnt"}, "'-N': mount namespaces are not supported"},
      {{"s", "/m", "-o"}, "option '-o' needs a value"},
      {{"s", "/m", "-x"}, "unknown option '-x'"},
  };
  for (const auto& [args, error] : cases) {
    auto call = Translate(args);
    ASSERT_FALSE(call.ok()) << error;
    EXPECT_THAT(call.status().message(), HasSubstr(error));
  }
}

}  // namespace
}  // namespace zm
