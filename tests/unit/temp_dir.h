// A directory of one test's own under /tmp, removed with everything in it
// when the object goes out of scope.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace zm::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/zm_test.XXXXXX";
    char* d = mkdtemp(tmpl);
    EXPECT_NE(d, nullptr) << "mkdtemp failed";
    path_ = d ? d : "/tmp/zm_test.none";
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

  // Writes `data` to `name` (relative; missing parent directories are
  // made) and returns the file's path.
  std::string Write(const std::string& name, std::string_view data) const {
    std::string p = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream f(p, std::ios::binary);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    EXPECT_TRUE(f.good()) << "cannot write " << p;
    return p;
  }

 private:
  std::string path_;
};

}  // namespace zm::testing
