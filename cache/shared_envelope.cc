#include "cache/shared_envelope.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>

#include "cache/data_checksum.h"

namespace zm {
namespace {

constexpr char kMagic[4] = {'Z', 'M', 'S', '1'};
constexpr uint32_t kHasMac = 1;
constexpr size_t kSignedBytes = 64;  // the header bytes the MAC covers
constexpr size_t kMacBytes = 32;
static_assert(kSignedBytes + kMacBytes == kEnvelopeHeaderBytes);

// The fixed fields, in the order they are written.
struct Header {
  uint32_t flags = 0;
  uint64_t key_hi = 0, key_lo = 0;
  uint64_t block_bytes = 0;
  uint32_t part = 0, parts = 0;
  uint64_t offset = 0, part_bytes = 0;
  uint64_t checksum = 0;
};

// Little-endian on every host: the hosts sharing a tier may differ.
template <typename T>
void Put(char*& at, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) *at++ = static_cast<char>((v >> (8 * i)) & 0xff);
}
template <typename T>
T Take(const char*& at) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<unsigned char>(*at++)) << (8 * i);
  return v;
}

void WriteHeader(const Header& h, char* out) {
  std::memcpy(out, kMagic, 4);
  char* at = out + 4;
  Put(at, h.flags);
  Put(at, h.key_hi);
  Put(at, h.key_lo);
  Put(at, h.block_bytes);
  Put(at, h.part);
  Put(at, h.parts);
  Put(at, h.offset);
  Put(at, h.part_bytes);
  Put(at, h.checksum);
}

Header ReadHeader(const char* in) {
  const char* at = in + 4;
  Header h;
  h.flags = Take<uint32_t>(at);
  h.key_hi = Take<uint64_t>(at);
  h.key_lo = Take<uint64_t>(at);
  h.block_bytes = Take<uint64_t>(at);
  h.part = Take<uint32_t>(at);
  h.parts = Take<uint32_t>(at);
  h.offset = Take<uint64_t>(at);
  h.part_bytes = Take<uint64_t>(at);
  h.checksum = Take<uint64_t>(at);
  return h;
}

}  // namespace

const char* EnvelopeFaultName(EnvelopeFault fault) {
  switch (fault) {
    case EnvelopeFault::kNone: return "good";
    case EnvelopeFault::kMalformed: return "not an envelope";
    case EnvelopeFault::kWrongKey: return "names another block";
    case EnvelopeFault::kWrongLength: return "wrong length";
    case EnvelopeFault::kChecksum: return "checksum mismatch";
    case EnvelopeFault::kUnsigned: return "no MAC";
    case EnvelopeFault::kMac: return "MAC mismatch";
  }
  return "?";
}

// An HMAC-SHA256 context holding the key; each MAC works on a copy, so the
// template is only read and the sealer needs no lock.
struct EnvelopeSealer::MacState {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* keyed = nullptr;
  ~MacState() {
    EVP_MAC_CTX_free(keyed);
    EVP_MAC_free(mac);
  }
};

EnvelopeSealer::EnvelopeSealer(std::string mac_key) : mac_key_(std::move(mac_key)) {
  if (mac_key_.empty()) return;
  mac_ = std::make_unique<MacState>();
  mac_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac_->mac) mac_->keyed = EVP_MAC_CTX_new(mac_->mac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!mac_->keyed ||
      !EVP_MAC_init(mac_->keyed, reinterpret_cast<const unsigned char*>(mac_key_.data()),
                    mac_key_.size(), params)) {
    // Without a working HMAC nothing can be sealed or believed: Mac()
    // fails, and Open refuses every value.
    EVP_MAC_CTX_free(mac_->keyed);
    mac_->keyed = nullptr;
  }
}

EnvelopeSealer::~EnvelopeSealer() = default;

bool EnvelopeSealer::Mac(std::string_view header, std::string_view data, unsigned char out[32]) const {
  std::memset(out, 0, kMacBytes);
  if (!mac_ || !mac_->keyed) return false;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(mac_->keyed);
  if (!ctx) return false;
  size_t len = 0;
  bool ok = EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(header.data()), header.size()) &&
            EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) &&
            EVP_MAC_final(ctx, out, &len, kMacBytes) && len == kMacBytes;
  EVP_MAC_CTX_free(ctx);
  return ok;
}

std::vector<std::string> EnvelopeSealer::Seal(const BlockKey& key, std::string_view block,
                                              uint64_t max_part_bytes) const {
  const uint64_t n = std::max<uint64_t>(1, (block.size() + max_part_bytes - 1) / max_part_bytes);
  const uint64_t even = (block.size() + n - 1) / n;
  std::vector<std::string> values;
  values.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    Header h;
    h.flags = authenticated() ? kHasMac : 0;
    h.key_hi = key.hi;
    h.key_lo = key.lo;
    h.block_bytes = block.size();
    h.part = static_cast<uint32_t>(i);
    h.parts = static_cast<uint32_t>(n);
    h.offset = std::min<uint64_t>(i * even, block.size());
    h.part_bytes = std::min<uint64_t>(even, block.size() - h.offset);
    std::string_view data = block.substr(h.offset, h.part_bytes);
    h.checksum = DataChecksum(data);
    // The header on the stack, then header and data appended once: the
    // value is written exactly once (no zero fill first).
    char header[kEnvelopeHeaderBytes] = {};
    WriteHeader(h, header);
    if (authenticated())
      Mac(std::string_view(header, kSignedBytes), data, reinterpret_cast<unsigned char*>(header + kSignedBytes));
    std::string v;
    v.reserve(kEnvelopeHeaderBytes + data.size());
    v.append(header, kEnvelopeHeaderBytes);
    v.append(data);
    values.push_back(std::move(v));
  }
  return values;
}

EnvelopeFault EnvelopeSealer::Open(const BlockKey& key, uint32_t part, std::string_view value,
                                   EnvelopePart* out) const {
  if (value.size() < kEnvelopeHeaderBytes || std::memcmp(value.data(), kMagic, 4) != 0)
    return EnvelopeFault::kMalformed;
  const Header h = ReadHeader(value.data());
  std::string_view data = value.substr(kEnvelopeHeaderBytes);
  if (h.key_hi != key.hi || h.key_lo != key.lo || h.part != part) return EnvelopeFault::kWrongKey;
  if (h.parts == 0 || h.part >= h.parts || h.part_bytes != data.size() ||
      h.offset > h.block_bytes || h.part_bytes > h.block_bytes - h.offset)
    return EnvelopeFault::kWrongLength;
  // The MAC first when there is a key: a forger controls the checksum too.
  if (authenticated()) {
    if (!(h.flags & kHasMac)) return EnvelopeFault::kUnsigned;
    unsigned char want[kMacBytes];
    // A MAC that cannot be computed believes nothing.
    if (!Mac(value.substr(0, kSignedBytes), data, want) ||
        CRYPTO_memcmp(want, value.data() + kSignedBytes, kMacBytes) != 0)
      return EnvelopeFault::kMac;
  } else if (DataChecksum(data) != h.checksum) {
    // Only without a key: a verified MAC covers the data and the checksum
    // field both, so the sealer's checksum is known to match; a second pass
    // over the data would prove nothing more.
    return EnvelopeFault::kChecksum;
  }
  out->block_bytes = h.block_bytes;
  out->part = h.part;
  out->parts = h.parts;
  out->offset = h.offset;
  out->data = data;
  return EnvelopeFault::kNone;
}

EnvelopeFault JoinParts(std::vector<EnvelopePart> parts, std::string* block) {
  if (parts.empty()) return EnvelopeFault::kWrongLength;
  std::sort(parts.begin(), parts.end(),
            [](const EnvelopePart& a, const EnvelopePart& b) { return a.part < b.part; });
  const uint64_t total = parts[0].block_bytes;
  const uint32_t count = parts[0].parts;
  if (parts.size() != count) return EnvelopeFault::kWrongLength;
  uint64_t at = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const EnvelopePart& p = parts[i];
    if (p.part != i || p.parts != count || p.block_bytes != total || p.offset != at)
      return EnvelopeFault::kWrongLength;
    at += p.data.size();
  }
  if (at != total) return EnvelopeFault::kWrongLength;
  block->clear();
  block->reserve(total);
  for (const EnvelopePart& p : parts) block->append(p.data);
  return EnvelopeFault::kNone;
}

}  // namespace zm
