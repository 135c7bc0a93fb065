#include "app/version.h"

#include <algorithm>

#include "app/build_info.h"
#include "app/daemon.h"

namespace zm {

std::string VersionText() {
  // Versions line up in one column. (Names and versions are kept apart in
  // the binary, too: "libdeflate 1.14" would look like an embedded zlib's
  // banner to lintian.)
  constexpr size_t kNameColumnChars = 12;
  std::string out = std::string("zarrmount ") + kVersion + "\nbuilt with:\n";
  for (const BuiltWith& library : kBuiltWith) {
    std::string name = library.name;
    name.resize(std::max(name.size() + 1, kNameColumnChars), ' ');
    out += "  " + name + library.version + "\n";
  }
  return out;
}

}  // namespace zm
