// The envelope of a block in the shared (memcached) tier: what a value
// must carry before its bytes are believed. Anyone who can reach a
// memcached node can write any value under any key, so a value is data only
// if it names the block it claims to be (key, length, part), its bytes match
// its checksum and, when the tier has a key, its MACs under that key verify.
// A block longer than one value may carry is cut into parts, each enveloped
// on its own; a block is served only with every part good.
//
// With a key, the part's bytes are authenticated by AES-256-GMAC under a
// fresh random 96-bit nonce, and an HMAC-SHA256 covers the header: key,
// lengths, checksum, nonce and GMAC tag. GMAC runs on the CPU's carry-less
// multiply at about eight times SHA-256's speed (11.5 against 1.4 GB/s on
// the 2-core benchmark machine, SHA-NI for both), and it is the pass over
// every byte, so the tier's CPU is the GHASH's, not the HMAC's. Both keys
// are derived from the key file's bytes (HMAC-SHA256 of fixed labels).
// Random nonces keep GMAC sound for 2^32 values sealed under one key
// (NIST SP 800-38D); a tier that writes more than that should change keys.
//
// Value layout (little-endian), 128 bytes of header then the part's bytes:
//   "ZMS2" | flags u32 (1: has MACs) | key.hi u64 | key.lo u64 |
//   block_bytes u64 | part u32 | parts u32 | part_offset u64 |
//   part_bytes u64 | xxh3-64 of the part's bytes u64 |
//   nonce (12 bytes) | GMAC tag of the part's bytes (16) | 4 zero bytes |
//   HMAC-SHA256 (32 bytes) over the 96 bytes before it.
// Without a key, nonce, tag and HMAC are zero and the checksum alone is
// checked. Values of another layout (an older "ZMS1") are malformed: a
// miss, overwritten with this layout.
//
// Thread-safety: an EnvelopeSealer is immutable after construction and
// safe for concurrent use.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cache/block_store.h"

namespace zm {

inline constexpr uint64_t kEnvelopeHeaderBytes = 128;

// Why a value was refused, for counters and the log.
enum class EnvelopeFault { kNone, kMalformed, kWrongKey, kWrongLength, kChecksum, kUnsigned, kMac };
const char* EnvelopeFaultName(EnvelopeFault fault);

// One part of a block as read from a value: where it goes, and its bytes
// (pointing into the value).
struct EnvelopePart {
  uint64_t block_bytes = 0;
  uint32_t part = 0, parts = 0;
  uint64_t offset = 0;
  std::string_view data;
};

class EnvelopeSealer {
 public:
  // `mac_key` empty: values are sealed without a MAC, and values are
  // believed on their checksum alone (the tier is unauthenticated).
  explicit EnvelopeSealer(std::string mac_key);
  ~EnvelopeSealer();
  EnvelopeSealer(const EnvelopeSealer&) = delete;
  EnvelopeSealer& operator=(const EnvelopeSealer&) = delete;

  bool authenticated() const { return !mac_key_.empty(); }

  // The values of `block` under `key`, cut into parts of at most
  // `max_part_bytes` data bytes each (sizes as even as they can be).
  // REQUIRES: max_part_bytes > 0.
  std::vector<std::string> Seal(const BlockKey& key, std::string_view block,
                                uint64_t max_part_bytes) const;

  // Checks `value` as part `part` of the block under `key`; on success
  // fills *out. Every failure is a fault, never data.
  EnvelopeFault Open(const BlockKey& key, uint32_t part, std::string_view value,
                     EnvelopePart* out) const;

 private:
  // False if OpenSSL could not compute it.
  bool DataTag(const unsigned char nonce[12], std::string_view data, unsigned char out[16]) const;
  bool HeaderMac(std::string_view header, unsigned char out[32]) const;

  const std::string mac_key_;
  struct MacState;
  std::unique_ptr<MacState> mac_;  // null without a key
};

// Joins the opened parts of one block (any order; one of each) into the
// block; kWrongLength if they do not tile it exactly.
EnvelopeFault JoinParts(std::vector<EnvelopePart> parts, std::string* block);

}  // namespace zm
