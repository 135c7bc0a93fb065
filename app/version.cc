#include "app/version.h"

#include "app/build_info.h"
#include "app/daemon.h"

namespace zm {

std::string VersionText() {
  std::string out = std::string("zarrmount ") + kVersion + "\nbuilt with:\n";
  for (const char* library : kBuiltWith) out += std::string("  ") + library + "\n";
  return out;
}

}  // namespace zm
