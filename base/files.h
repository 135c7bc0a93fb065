// Whole local files: read with a bound, written so that no reader ever
// sees half of one.
//
// Thread-safety: plain functions.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace zm {

// The bytes of the regular file `path`, at most `max_bytes` (a larger file
// is refused, not truncated). NotFound if it does not exist; errors name
// the path.
Result<std::string> ReadLocalFile(const std::string& path, uint64_t max_bytes);

// Writes `data` to `path` through a temporary file beside it (created with
// `mode`, less the umask) and a rename, so a reader sees the old file or
// the new one, never a torn one. On failure nothing is left behind but the
// old file. Errors name the path.
Status WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode = 0666);

}  // namespace zm
