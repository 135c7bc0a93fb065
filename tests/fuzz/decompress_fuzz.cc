// DecompressIfNeeded, as applied to a reference file, on arbitrary bytes.
#include <cstdint>
#include <string>

#include "base/units.h"
#include "refs/reference_loader.h"
#include "tests/fuzz/fuzz_util.h"

using zm::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zm;
  constexpr uint64_t kLimit = 1_MiB;
  std::string in(fuzz::AsText(data, size));
  bool gzip = size >= 2 && data[0] == 0x1F && data[1] == 0x8B;
  bool zstd = size >= 4 && data[0] == 0x28 && data[1] == 0xB5 && data[2] == 0x2F && data[3] == 0xFD;
  auto r = DecompressIfNeeded(in, kLimit);
  if (!gzip && !zstd) {
    Check(r.ok() && *r == in);  // anything else passes through unchanged
  } else if (r.ok()) {
    Check(r->size() <= kLimit);
  } else {
    Check(r.status().code() == Code::kInvalidArgument);
    Check(r.status().message().find('\n') == std::string::npos);
  }
  return 0;
}
