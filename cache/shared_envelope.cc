#include "cache/shared_envelope.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

#include "cache/data_checksum.h"

namespace zm {
namespace {

constexpr char kMagic[4] = {'Z', 'M', 'S', '2'};
constexpr uint32_t kHasMac = 1;
constexpr size_t kFieldBytes = 64;   // magic, flags and the fixed fields
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
constexpr size_t kNonceAt = kFieldBytes, kTagAt = kNonceAt + kNonceBytes;
constexpr size_t kSignedBytes = 96;  // the header bytes the HMAC covers
constexpr size_t kMacBytes = 32;
static_assert(kTagAt + kTagBytes + 4 == kSignedBytes);
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

// Keyed templates of the two MACs; each MAC works on a copy, so the
// templates are only read and the sealer needs no lock.
struct EnvelopeSealer::MacState {
  EVP_MAC* hmac = nullptr;
  EVP_MAC* gmac = nullptr;
  EVP_MAC_CTX* header_mac = nullptr;  // HMAC-SHA256
  EVP_MAC_CTX* data_tag = nullptr;    // AES-256-GMAC, nonce given per value
  ~MacState() {
    EVP_MAC_CTX_free(header_mac);
    EVP_MAC_CTX_free(data_tag);
    EVP_MAC_free(hmac);
    EVP_MAC_free(gmac);
  }
};

namespace {

// HMAC-SHA256 under `key`, initialised; null if OpenSSL cannot.
EVP_MAC_CTX* NewHmac(EVP_MAC* hmac, std::string_view key) {
  EVP_MAC_CTX* ctx = hmac ? EVP_MAC_CTX_new(hmac) : nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (ctx && EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params))
    return ctx;
  EVP_MAC_CTX_free(ctx);
  return nullptr;
}

// One key per use, from the key file's bytes: HMAC-SHA256(secret, label).
bool DeriveKey(EVP_MAC* hmac, std::string_view secret, std::string_view label, unsigned char out[32]) {
  EVP_MAC_CTX* ctx = NewHmac(hmac, secret);
  size_t len = 0;
  bool ok = ctx && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(label.data()), label.size()) &&
            EVP_MAC_final(ctx, out, &len, 32) && len == 32;
  EVP_MAC_CTX_free(ctx);
  return ok;
}

}  // namespace

EnvelopeSealer::EnvelopeSealer(std::string mac_key) : mac_key_(std::move(mac_key)) {
  if (mac_key_.empty()) return;
  // Without working MACs nothing can be sealed or believed: the MAC steps
  // fail, and Open refuses every value.
  mac_ = std::make_unique<MacState>();
  mac_->hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  mac_->gmac = EVP_MAC_fetch(nullptr, "GMAC", nullptr);
  unsigned char header_key[32], data_key[32];
  if (!DeriveKey(mac_->hmac, mac_key_, "zarrmount shared tier: header HMAC-SHA256", header_key) ||
      !DeriveKey(mac_->hmac, mac_key_, "zarrmount shared tier: data AES-256-GMAC", data_key))
    return;
  mac_->header_mac = NewHmac(mac_->hmac, std::string_view(reinterpret_cast<char*>(header_key), 32));
  char cipher[] = "AES-256-GCM";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0),
                         OSSL_PARAM_construct_end()};
  mac_->data_tag = mac_->gmac ? EVP_MAC_CTX_new(mac_->gmac) : nullptr;
  if (mac_->data_tag && !EVP_MAC_init(mac_->data_tag, data_key, sizeof data_key, params)) {
    EVP_MAC_CTX_free(mac_->data_tag);
    mac_->data_tag = nullptr;
  }
  OPENSSL_cleanse(header_key, sizeof header_key);
  OPENSSL_cleanse(data_key, sizeof data_key);
}

EnvelopeSealer::~EnvelopeSealer() = default;

bool EnvelopeSealer::DataTag(const unsigned char nonce[12], std::string_view data, unsigned char out[16]) const {
  std::memset(out, 0, kTagBytes);
  if (!mac_ || !mac_->data_tag) return false;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(mac_->data_tag);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_IV, const_cast<unsigned char*>(nonce), kNonceBytes),
      OSSL_PARAM_construct_end()};
  size_t len = 0;
  bool ok = ctx && EVP_MAC_init(ctx, nullptr, 0, params) &&
            EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) &&
            EVP_MAC_final(ctx, out, &len, kTagBytes) && len == kTagBytes;
  EVP_MAC_CTX_free(ctx);
  return ok;
}

bool EnvelopeSealer::HeaderMac(std::string_view header, unsigned char out[32]) const {
  std::memset(out, 0, kMacBytes);
  if (!mac_ || !mac_->header_mac) return false;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(mac_->header_mac);
  size_t len = 0;
  bool ok = ctx && EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(header.data()), header.size()) &&
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
    if (authenticated()) {
      // A value whose MACs cannot be made is still written: it fails Open
      // everywhere (zero MACs), a miss, never data.
      auto* nonce = reinterpret_cast<unsigned char*>(header + kNonceAt);
      if (RAND_bytes(nonce, kNonceBytes) == 1 &&
          DataTag(nonce, data, reinterpret_cast<unsigned char*>(header + kTagAt)))
        HeaderMac(std::string_view(header, kSignedBytes), reinterpret_cast<unsigned char*>(header + kSignedBytes));
    }
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
  // The MACs first when there is a key: a forger controls the checksum
  // too. A MAC that cannot be computed believes nothing.
  if (authenticated()) {
    if (!(h.flags & kHasMac)) return EnvelopeFault::kUnsigned;
    unsigned char mac[kMacBytes], tag[kTagBytes];
    if (!HeaderMac(value.substr(0, kSignedBytes), mac) ||
        CRYPTO_memcmp(mac, value.data() + kSignedBytes, kMacBytes) != 0)
      return EnvelopeFault::kMac;
    if (!DataTag(reinterpret_cast<const unsigned char*>(value.data() + kNonceAt), data, tag) ||
        CRYPTO_memcmp(tag, value.data() + kTagAt, kTagBytes) != 0)
      return EnvelopeFault::kMac;
  } else if (DataChecksum(data) != h.checksum) {
    // Only without a key: a verified tag covers the data and the HMAC the
    // checksum field, so the sealer's checksum is known to match; a second
    // pass over the data would prove nothing more.
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
