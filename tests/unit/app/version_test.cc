// `zarrmount --version` (app/version.h).

#include "app/version.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "app/daemon.h"

namespace zm {
namespace {

using ::testing::ContainsRegex;
using ::testing::StartsWith;

TEST(Version, NamesTheLibrariesWithTheirVersions) {
  const std::string text = VersionText();
  EXPECT_THAT(text, StartsWith(std::string("zarrmount ") + kVersion + "\nbuilt with:\n"));
  for (const char* library : {"libfuse", "libcurl", "lmdb", "simdjson", "zstd", "libsystemd"})
    EXPECT_THAT(text, ContainsRegex(std::string("\n  ") + library + " +[0-9][0-9.]*\n")) << library;
}

}  // namespace
}  // namespace zm
