#include "codecs/codec.h"

#include <blosc.h>
#include <bzlib.h>
#include <lz4.h>
#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <limits>
#include <cstring>
#include <mutex>

#include "codecs/checksum.h"

namespace zm {
namespace {

Status TooBig(std::string_view id, uint64_t max_output) {
  return Status(Code::kOutOfRange, std::string(id) + ": output larger than " +
                                       std::to_string(max_output) + " bytes");
}

// The result of a streaming decoder, written in place. It grows by doubling
// only as output really arrives, and never past max_output + 1 bytes (the
// extra byte is how "too big" shows), so a bomb costs at most the limit.
class Output {
 public:
  Output(uint64_t max_output, size_t input_size)
      : max_(max_output), first_(std::clamp<uint64_t>(uint64_t{input_size} * 4, 16_KiB, 4_MiB)) {}

  // Room for more output. REQUIRES: !too_big().
  char* space() {
    if (used_ == buf_.size()) {
      uint64_t cap = max_ == UINT64_MAX ? max_ : max_ + 1;
      buf_.resize(std::min<uint64_t>(std::max<uint64_t>(buf_.size() * 2, first_), cap));
    }
    return buf_.data() + used_;
  }
  size_t space_size() const { return buf_.size() - used_; }
  void Commit(size_t n) { used_ += n; }
  bool too_big() const { return used_ > max_; }
  std::string Take() && {
    buf_.resize(used_);
    return std::move(buf_);
  }

 private:
  uint64_t max_;
  uint64_t first_;
  std::string buf_;
  size_t used_ = 0;
};

// libdeflate inflates a whole buffer of known size two to three times as
// fast as zlib's streaming inflate: what a view pays per chunk. One
// decompressor per thread (it holds ~32 KiB of tables).
libdeflate_decompressor* ThreadDecompressor() {
  struct Owner {
    libdeflate_decompressor* d = libdeflate_alloc_decompressor();
    ~Owner() { libdeflate_free_decompressor(d); }
  };
  thread_local Owner owner;
  return owner.d;
}

// Inflates all of `in` into exactly `size` bytes at `out` with libdeflate.
// True only for that clean outcome; anything else (a bad stream, another
// size, a second gzip member) is left to zlib, whose messages say what is
// wrong and which reads several gzip members.
bool FastInflate(bool gzip, std::string_view in, char* out, size_t size) {
  libdeflate_decompressor* d = ThreadDecompressor();
  if (!d) return false;
  size_t in_used = 0, out_made = 0;
  libdeflate_result r =
      gzip ? libdeflate_gzip_decompress_ex(d, in.data(), in.size(), out, size, &in_used, &out_made)
           : libdeflate_zlib_decompress_ex(d, in.data(), in.size(), out, size, &in_used, &out_made);
  // Bytes after a zlib stream are ignored (as zlib's path does); after a
  // gzip member another member may follow.
  return r == LIBDEFLATE_SUCCESS && out_made == size && (!gzip || in_used == in.size());
}

// zlib and gzip differ only in the header zlib is told to expect.
class DeflateCodec : public Codec {
 public:
  DeflateCodec(std::string_view id, int window_bits) : id_(id), window_bits_(window_bits) {}
  std::string_view id() const override { return id_; }

  Result<std::string> Decode(std::string_view in, uint64_t max_output) const override {
    z_stream zs{};
    if (inflateInit2(&zs, window_bits_) != Z_OK) return IoError(std::string(id_) + ": init failed");
    // avail_in and avail_out are 32 bits: larger buffers go in pieces.
    constexpr size_t kMaxPiece = std::numeric_limits<uInt>::max();
    std::string_view rest = in;
    Output out(max_output, in.size());
    Status error;
    while (true) {
      if (zs.avail_in == 0 && !rest.empty()) {
        size_t n = std::min(rest.size(), kMaxPiece);
        zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(rest.data()));
        zs.avail_in = static_cast<uInt>(n);
        rest.remove_prefix(n);
      }
      zs.next_out = reinterpret_cast<Bytef*>(out.space());
      zs.avail_out = static_cast<uInt>(std::min(out.space_size(), kMaxPiece));
      uInt room = zs.avail_out;
      int rc = inflate(&zs, Z_NO_FLUSH);
      out.Commit(room - zs.avail_out);
      if (out.too_big()) {
        error = TooBig(id_, max_output);
        break;
      }
      if (rc == Z_STREAM_END) {
        // gzip files may hold several members, one after the other.
        if ((zs.avail_in == 0 && rest.empty()) || window_bits_ < 16) break;
        inflateReset(&zs);
        continue;
      }
      if (rc == Z_BUF_ERROR && zs.avail_in == 0 && rest.empty()) {
        error = Corruption(std::string(id_) + ": truncated data");
        break;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        error = Corruption(std::string(id_) + ": corrupt data" + (zs.msg ? std::string(" (") + zs.msg + ")" : ""));
        break;
      }
    }
    inflateEnd(&zs);
    if (!error.ok()) return error;
    return std::move(out).Take();
  }

  Status DecodeInto(std::string_view in, char* out, size_t size) const override {
    if (FastInflate(window_bits_ >= 16, in, out, size)) return Status::Ok();
    if (size > std::numeric_limits<uInt>::max() || in.size() > std::numeric_limits<uInt>::max())
      return Codec::DecodeInto(in, out, size);
    z_stream zs{};
    if (inflateInit2(&zs, window_bits_) != Z_OK) return IoError(std::string(id_) + ": init failed");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    Status error;
    size_t done = 0;
    while (true) {
      zs.next_out = reinterpret_cast<Bytef*>(out + done);
      zs.avail_out = static_cast<uInt>(size - done);
      // A full buffer without the stream's end means the data is longer.
      int rc = inflate(&zs, Z_FINISH);
      done = size - zs.avail_out;
      if (rc == Z_STREAM_END) {
        // Bytes after a zlib stream are ignored, as Decode does; after a
        // gzip member another member follows.
        if (zs.avail_in == 0 || window_bits_ < 16) {
          if (done != size) error = Corruption(std::string(id_) + ": decodes to " + std::to_string(done) +
                                               " bytes, expected " + std::to_string(size));
          break;
        }
        inflateReset(&zs);  // another gzip member
        continue;
      }
      if (rc == Z_OK) continue;  // progress was made; call again
      if (rc == Z_BUF_ERROR && zs.avail_out == 0) {
        error = Corruption(std::string(id_) + ": decodes to more than the " + std::to_string(size) +
                           " bytes expected");
      } else if (rc == Z_BUF_ERROR) {
        error = Corruption(std::string(id_) + ": truncated data");
      } else {
        error = Corruption(std::string(id_) + ": corrupt data" + (zs.msg ? std::string(" (") + zs.msg + ")" : ""));
      }
      break;
    }
    inflateEnd(&zs);
    return error;
  }

 private:
  std::string id_;
  int window_bits_;
};

class ZstdCodec : public Codec {
 public:
  std::string_view id() const override { return "zstd"; }
  Result<std::string> Decode(std::string_view in, uint64_t max_output) const override {
    // One frame that records its size (the usual chunk): decode in one call.
    // Anything else (several frames, no size) is streamed.
    unsigned long long size = ZSTD_getFrameContentSize(in.data(), in.size());
    if (size == ZSTD_CONTENTSIZE_ERROR) return Corruption("zstd: not zstd data");
    size_t frame = ZSTD_findFrameCompressedSize(in.data(), in.size());
    const bool one_sized_frame =
        size != ZSTD_CONTENTSIZE_UNKNOWN && !ZSTD_isError(frame) && frame == in.size();
    if (one_sized_frame && size > max_output) return TooBig("zstd", max_output);
    // The header's size is only a claim: allocate by it only when the input
    // can really expand that far (a block of at most 128 KiB takes at least
    // 4 bytes) and the allocation is modest. Otherwise stream, so the output
    // grows only as fast as it is really decoded.
    constexpr uint64_t kMaxRatio = 128_KiB / 4;
    constexpr uint64_t kMaxUpfront = 256_MiB;
    if (one_sized_frame && size <= kMaxUpfront && size / kMaxRatio <= in.size()) {
      std::string out(size, '\0');
      size_t r = ZSTD_decompress(out.data(), out.size(), in.data(), in.size());
      if (ZSTD_isError(r) || r != size) return Corruption("zstd: corrupt data");
      return out;
    }
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    Output out(max_output, in.size());
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    size_t r;
    while (true) {
      ZSTD_outBuffer ob{out.space(), out.space_size(), 0};
      r = ZSTD_decompressStream(ctx, &ob, &ib);
      if (ZSTD_isError(r)) break;
      out.Commit(ob.pos);
      if (out.too_big()) break;
      // Done when the input is used up and the decoder holds nothing more:
      // the last frame ended (r == 0) or it wants input there is not (it
      // left room in the output).
      if (ib.pos == ib.size && (r == 0 || ob.pos < ob.size)) break;
    }
    ZSTD_freeDCtx(ctx);
    if (ZSTD_isError(r)) return Corruption(std::string("zstd: corrupt data (") + ZSTD_getErrorName(r) + ")");
    if (out.too_big()) return TooBig("zstd", max_output);
    if (r != 0) return Corruption("zstd: truncated data");
    return std::move(out).Take();
  }

  Status DecodeInto(std::string_view in, char* out, size_t size) const override {
    // One frame (the usual chunk): one call into the buffer; ZSTD_decompress
    // checks the frame's content size against what it decodes.
    size_t frame = ZSTD_findFrameCompressedSize(in.data(), in.size());
    if (ZSTD_isError(frame) || frame != in.size()) return Codec::DecodeInto(in, out, size);
    size_t r = ZSTD_decompress(out, size, in.data(), in.size());
    if (ZSTD_isError(r)) {
      if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
        return Corruption("zstd: decodes to more than the " + std::to_string(size) + " bytes expected");
      return Corruption(std::string("zstd: corrupt data (") + ZSTD_getErrorName(r) + ")");
    }
    if (r != size) return Corruption("zstd: decodes to " + std::to_string(r) + " bytes, expected " + std::to_string(size));
    return Status::Ok();
  }
};

class BloscCodec : public Codec {
 public:
  std::string_view id() const override { return "blosc"; }
  Result<std::string> Decode(std::string_view in, uint64_t max_output) const override {
    ZM_ASSIGN_OR_RETURN(size_t nbytes, DecodedSize(in));
    if (nbytes > max_output) return TooBig("blosc", max_output);
    std::string out(nbytes, '\0');
    ZM_RETURN_IF_ERROR(DecodeInto(in, out.data(), out.size()));
    return out;
  }

  Status DecodeInto(std::string_view in, char* out, size_t size) const override {
    ZM_ASSIGN_OR_RETURN(size_t nbytes, DecodedSize(in));
    if (nbytes != size)
      return Corruption("blosc: header says " + std::to_string(nbytes) + " bytes, expected " +
                        std::to_string(size));
    int r = blosc_decompress_ctx(in.data(), out, size, 1);
    if (r < 0 || static_cast<size_t>(r) != nbytes) return Corruption("blosc: corrupt data");
    return Status::Ok();
  }

 private:
  // What the header says the input decodes to, once the header is checked
  // against the input's size.
  static Result<size_t> DecodedSize(std::string_view in) {
    static std::once_flag once;
    std::call_once(once, [] { blosc_init(); });
    size_t nbytes = 0, cbytes = 0, blocksize = 0;
    if (in.size() < BLOSC_MIN_HEADER_LENGTH) return Corruption("blosc: input too short");
    blosc_cbuffer_sizes(in.data(), &nbytes, &cbytes, &blocksize);
    if (cbytes != in.size()) return Corruption("blosc: header does not match the input size");
    return nbytes;
  }
};

// bzip2 streams one after the other (as the bzip2 tool and Python's bz2
// module accept them) are decoded as one.
class Bz2Codec : public Codec {
 public:
  std::string_view id() const override { return "bz2"; }
  Result<std::string> Decode(std::string_view in, uint64_t max_output) const override {
    if (in.empty()) return Corruption("bz2: empty input");
    Output out(max_output, in.size());
    bz_stream bz{};
    if (BZ2_bzDecompressInit(&bz, 0, 0) != BZ_OK) return IoError("bz2: init failed");
    constexpr size_t kMaxPiece = std::numeric_limits<unsigned>::max();
    std::string_view rest = in;
    Status error;
    while (true) {
      if (bz.avail_in == 0 && !rest.empty()) {
        size_t n = std::min(rest.size(), kMaxPiece);
        bz.next_in = const_cast<char*>(rest.data());
        bz.avail_in = static_cast<unsigned>(n);
        rest.remove_prefix(n);
      }
      bz.next_out = out.space();
      bz.avail_out = static_cast<unsigned>(std::min(out.space_size(), kMaxPiece));
      unsigned room = bz.avail_out;
      int rc = BZ2_bzDecompress(&bz);
      out.Commit(room - bz.avail_out);
      if (out.too_big()) {
        error = TooBig("bz2", max_output);
        break;
      }
      if (rc == BZ_STREAM_END) {
        if (bz.avail_in == 0 && rest.empty()) break;
        // The next stream starts in the unread input of this piece.
        char* next = bz.next_in;
        unsigned avail = bz.avail_in;
        BZ2_bzDecompressEnd(&bz);
        bz = bz_stream{};
        if (BZ2_bzDecompressInit(&bz, 0, 0) != BZ_OK) return IoError("bz2: init failed");
        bz.next_in = next;
        bz.avail_in = avail;
        continue;
      }
      if (rc != BZ_OK) {
        error = Corruption("bz2: corrupt data (error " + std::to_string(rc) + ")");
        break;
      }
      // BZ_OK with all input used and room left: the stream is cut short.
      if (bz.avail_in == 0 && rest.empty() && bz.avail_out > 0) {
        error = Corruption("bz2: truncated data");
        break;
      }
    }
    BZ2_bzDecompressEnd(&bz);
    if (!error.ok()) return error;
    return std::move(out).Take();
  }
};

// numcodecs' LZ4: a 4-byte little-endian decoded size, then one LZ4 block.
// The size is a claim: it is checked against the limit before allocating
// and against what the block really decodes to after.
class Lz4Codec : public Codec {
 public:
  std::string_view id() const override { return "lz4"; }
  Result<std::string> Decode(std::string_view in, uint64_t max_output) const override {
    if (in.size() < 4) return Corruption("lz4: input shorter than its 4-byte header");
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    uint32_t size = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    if (size > uint32_t(std::numeric_limits<int>::max()) || in.size() - 4 > size_t(std::numeric_limits<int>::max()))
      return Corruption("lz4: header claims " + std::to_string(size) + " bytes");
    if (size > max_output) return TooBig("lz4", max_output);
    // An LZ4 block expands at most ~255x; a bigger claim is a lie, refused
    // before the allocation it asks for.
    if (size / 255 > in.size()) return Corruption("lz4: header claims more than the block can hold");
    std::string out(size, '\0');
    int n = LZ4_decompress_safe(in.data() + 4, out.data(), int(in.size() - 4), int(size));
    if (n < 0 || uint32_t(n) != size) return Corruption("lz4: corrupt data");
    return out;
  }

  Status DecodeInto(std::string_view in, char* out, size_t size) const override {
    if (in.size() < 4) return Corruption("lz4: input shorter than its 4-byte header");
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    uint32_t claim = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    if (claim != size || in.size() - 4 > size_t(std::numeric_limits<int>::max()))
      return Corruption("lz4: header says " + std::to_string(claim) + " bytes, expected " + std::to_string(size));
    int n = LZ4_decompress_safe(in.data() + 4, out, int(in.size() - 4), int(size));
    if (n < 0 || size_t(n) != size) return Corruption("lz4: corrupt data");
    return Status::Ok();
  }
};

// A 4-byte little-endian checksum after the data (Zarr v3 "crc32c",
// numcodecs "fletcher32") or before it (numcodecs "crc32", "adler32"),
// checked, then removed.
class ChecksumCodec : public Codec {
 public:
  enum class Kind { kCrc32c, kFletcher32, kCrc32, kAdler32 };
  explicit ChecksumCodec(Kind kind) : kind_(kind) {}
  std::string_view id() const override {
    switch (kind_) {
      case Kind::kCrc32c: return "crc32c";
      case Kind::kFletcher32: return "fletcher32";
      case Kind::kCrc32: return "crc32";
      case Kind::kAdler32: return "adler32";
    }
    return "";
  }
  Result<std::string> Decode(std::string_view in, uint64_t max_output) const override {
    if (in.size() < 4) return Corruption(std::string(id()) + ": input shorter than its checksum");
    const bool prefix = kind_ == Kind::kCrc32 || kind_ == Kind::kAdler32;
    std::string_view data = prefix ? in.substr(4) : in.substr(0, in.size() - 4);
    const auto* c = reinterpret_cast<const unsigned char*>(prefix ? in.data() : in.data() + in.size() - 4);
    uint32_t stored = uint32_t(c[0]) | uint32_t(c[1]) << 8 | uint32_t(c[2]) << 16 | uint32_t(c[3]) << 24;
    if (data.size() > max_output) return TooBig(id(), max_output);
    if (Compute(data) != stored) return Corruption(std::string(id()) + ": checksum mismatch");
    return std::string(data);
  }
  uint32_t Compute(std::string_view d) const {
    const auto* b = reinterpret_cast<const Bytef*>(d.data());
    switch (kind_) {
      case Kind::kCrc32c: return Crc32c(d);
      case Kind::kFletcher32: return Fletcher32(d);
      // zlib takes 32-bit lengths; z_size_t variants take size_t.
      case Kind::kCrc32: return uint32_t(crc32_z(0, b, d.size()));
      case Kind::kAdler32: return uint32_t(adler32_z(1, b, d.size()));
    }
    return 0;
  }

 private:
  Kind kind_;
};

}  // namespace

Status Codec::DecodeInto(std::string_view in, char* out, size_t size) const {
  auto r = Decode(in, size);
  if (!r.ok()) {
    if (r.status().code() == Code::kOutOfRange)
      return Corruption(std::string(id()) + ": decodes to more than the " + std::to_string(size) + " bytes expected");
    return Status(Code::kCorruption, r.status().message());
  }
  if (r->size() != size)
    return Corruption(std::string(id()) + ": decodes to " + std::to_string(r->size()) + " bytes, expected " +
                      std::to_string(size));
  std::memcpy(out, r->data(), size);
  return Status::Ok();
}

Result<std::unique_ptr<Codec>> MakeCodec(std::string_view id) {
  if (id == "zlib") return std::unique_ptr<Codec>(new DeflateCodec("zlib", 15));
  if (id == "gzip") return std::unique_ptr<Codec>(new DeflateCodec("gzip", 15 + 16));
  if (id == "zstd") return std::unique_ptr<Codec>(new ZstdCodec());
  if (id == "blosc") return std::unique_ptr<Codec>(new BloscCodec());
  if (id == "bz2") return std::unique_ptr<Codec>(new Bz2Codec());
  if (id == "lz4") return std::unique_ptr<Codec>(new Lz4Codec());
  using K = ChecksumCodec::Kind;
  if (id == "crc32c") return std::unique_ptr<Codec>(new ChecksumCodec(K::kCrc32c));
  if (id == "fletcher32") return std::unique_ptr<Codec>(new ChecksumCodec(K::kFletcher32));
  if (id == "crc32") return std::unique_ptr<Codec>(new ChecksumCodec(K::kCrc32));
  if (id == "adler32") return std::unique_ptr<Codec>(new ChecksumCodec(K::kAdler32));
  return Status(Code::kUnsupported, "unsupported codec '" + std::string(id) + "'");
}

}  // namespace zm
