// ParseNetcdf3Header on arbitrary bytes. An accepted header must be
// consistent: every variable's dimensions exist, the record dimension comes
// first, attribute values are whole elements of their type.
#include <cstdint>
#include <string_view>

#include "refs/scan.h"
#include "tests/fuzz/fuzz_util.h"

using zm::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto h = zm::ParseNetcdf3Header(bytes);
  if (!h.ok()) {
    Check(!h.status().message().empty());
    return 0;
  }
  Check(h->version == 1 || h->version == 2 || h->version == 5);
  auto check_attrs = [](const std::vector<zm::Netcdf3Attribute>& attrs) {
    for (const auto& a : attrs) {
      uint64_t es = zm::Netcdf3TypeSize(a.type);
      Check(es > 0 && a.bytes.size() % es == 0 && !a.name.empty());
    }
  };
  check_attrs(h->attributes);
  for (const auto& v : h->variables) {
    Check(zm::Netcdf3TypeSize(v.type) > 0);
    for (size_t d = 0; d < v.dim_ids.size(); ++d) {
      Check(v.dim_ids[d] < h->dims.size());
      if (d > 0) Check(h->dims[v.dim_ids[d]].second != 0);
    }
    check_attrs(v.attributes);
  }
  return 0;
}
