#include "cache/data_checksum.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t's size
#include <xxhash.h>
#if defined(__x86_64__)
// Redirects the XXH3 calls below to libxxhash's dispatching entry points.
#include <xxh_x86dispatch.h>
#endif

namespace zm {

struct DataChecksummer::State {
  XXH3_state_t xxh;
};

uint64_t DataChecksum(std::string_view data) { return XXH3_64bits(data.data(), data.size()); }

DataChecksummer::DataChecksummer() : state_(std::make_unique<State>()) { XXH3_64bits_reset(&state_->xxh); }
DataChecksummer::~DataChecksummer() = default;

void DataChecksummer::Update(const void* data, size_t n) { XXH3_64bits_update(&state_->xxh, data, n); }

uint64_t DataChecksummer::Digest() const { return XXH3_64bits_digest(&state_->xxh); }

}  // namespace zm
