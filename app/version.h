// What `zarrmount --version` prints: the version, and the libraries (with
// their versions) zarrmount was built with.
#pragma once

#include <string>

namespace zm {

// "zarrmount VERSION", "built with:", then "  NAME    VERSION" per library,
// each line ending in '\n'.
std::string VersionText();

}  // namespace zm
