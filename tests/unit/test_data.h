// Files under tests/data (ZM_TEST_DATA_DIR), for tests driven by vectors
// that tests/unit/make_codec_vectors.py wrote.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace zm::testing {

inline std::string DataDir(const std::string& sub) { return std::string(ZM_TEST_DATA_DIR) + "/" + sub; }

inline bool ReadDataFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

// Names in `dir` ending in `suffix`, without it, sorted.
inline std::vector<std::string> DataCases(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(n.substr(0, n.size() - suffix.size()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace zm::testing
