#include "codecs/codec.h"

#include <blosc.h>
#include <zlib.h>
#include <zstd.h>

#include <mutex>
#include <vector>

namespace zm {
namespace {

// zlib and gzip differ only in the header zlib is told to expect.
class DeflateCodec : public Codec {
 public:
  DeflateCodec(std::string_view id, int window_bits) : id_(id), window_bits_(window_bits) {}
  std::string_view id() const override { return id_; }

  Result<std::string> Decode(std::string_view in, uint64_t max_output) const override {
    z_stream zs{};
    if (inflateInit2(&zs, window_bits_) != Z_OK) return IoError(std::string(id_) + ": init failed");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    std::string out;
    std::vector<char> buf(256_KiB);
    Status error;
    while (true) {
      zs.next_out = reinterpret_cast<Bytef*>(buf.data());
      zs.avail_out = static_cast<uInt>(buf.size());
      int rc = inflate(&zs, Z_NO_FLUSH);
      out.append(buf.data(), buf.size() - zs.avail_out);
      if (out.size() > max_output) {
        error = Status(Code::kOutOfRange, std::string(id_) + ": output larger than " +
                                              std::to_string(max_output) + " bytes");
        break;
      }
      if (rc == Z_STREAM_END) {
        // gzip files may hold several members, one after the other.
        if (zs.avail_in == 0 || window_bits_ < 16) break;
        inflateReset(&zs);
        continue;
      }
      if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
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
    return out;
  }

 private:
  std::string id_;
  int window_bits_;
};

class ZstdCodec : public Codec {
 public:
  std::string_view id() const override { return "zstd"; }
  Result<std::string> Decode(std::string_view in, uint64_t max_output) const override {
    auto too_big = [&] {
      return Status(Code::kOutOfRange, "zstd: output larger than " + std::to_string(max_output) + " bytes");
    };
    // One frame that records its size (the usual chunk): decode in one call.
    // Anything else (several frames, no size) is streamed.
    unsigned long long size = ZSTD_getFrameContentSize(in.data(), in.size());
    if (size == ZSTD_CONTENTSIZE_ERROR) return Corruption("zstd: not zstd data");
    size_t frame = ZSTD_findFrameCompressedSize(in.data(), in.size());
    if (size != ZSTD_CONTENTSIZE_UNKNOWN && !ZSTD_isError(frame) && frame == in.size()) {
      if (size > max_output) return too_big();
      std::string out(size, '\0');
      size_t r = ZSTD_decompress(out.data(), out.size(), in.data(), in.size());
      if (ZSTD_isError(r) || r != size) return Corruption("zstd: corrupt data");
      return out;
    }
    ZSTD_DCtx* ctx = ZSTD_createDCtx();
    std::string out;
    std::vector<char> buf(ZSTD_DStreamOutSize());
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    size_t r = 1;
    while (ib.pos < ib.size) {
      ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
      r = ZSTD_decompressStream(ctx, &ob, &ib);
      if (ZSTD_isError(r)) break;
      out.append(buf.data(), ob.pos);
      if (out.size() > max_output) {
        ZSTD_freeDCtx(ctx);
        return too_big();
      }
    }
    // Flush what the decoder still holds for a frame whose input has ended.
    while (!ZSTD_isError(r) && r != 0) {
      ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
      r = ZSTD_decompressStream(ctx, &ob, &ib);
      if (ZSTD_isError(r) || ob.pos == 0) break;
      out.append(buf.data(), ob.pos);
      if (out.size() > max_output) {
        ZSTD_freeDCtx(ctx);
        return too_big();
      }
    }
    ZSTD_freeDCtx(ctx);
    if (ZSTD_isError(r)) return Corruption(std::string("zstd: corrupt data (") + ZSTD_getErrorName(r) + ")");
    if (r != 0) return Corruption("zstd: truncated data");
    return out;
  }
};

class BloscCodec : public Codec {
 public:
  std::string_view id() const override { return "blosc"; }
  Result<std::string> Decode(std::string_view in, uint64_t max_output) const override {
    static std::once_flag once;
    std::call_once(once, [] { blosc_init(); });
    size_t nbytes = 0, cbytes = 0, blocksize = 0;
    if (in.size() < BLOSC_MIN_HEADER_LENGTH) return Corruption("blosc: input too short");
    blosc_cbuffer_sizes(in.data(), &nbytes, &cbytes, &blocksize);
    if (cbytes != in.size()) return Corruption("blosc: header does not match the input size");
    if (nbytes > max_output)
      return Status(Code::kOutOfRange, "blosc: output larger than " + std::to_string(max_output) + " bytes");
    std::string out(nbytes, '\0');
    int r = blosc_decompress_ctx(in.data(), out.data(), out.size(), 1);
    if (r < 0 || static_cast<size_t>(r) != nbytes) return Corruption("blosc: corrupt data");
    return out;
  }
};

}  // namespace

Result<std::unique_ptr<Codec>> MakeCodec(std::string_view id) {
  if (id == "zlib") return std::unique_ptr<Codec>(new DeflateCodec("zlib", 15));
  if (id == "gzip") return std::unique_ptr<Codec>(new DeflateCodec("gzip", 15 + 16));
  if (id == "zstd") return std::unique_ptr<Codec>(new ZstdCodec());
  if (id == "blosc") return std::unique_ptr<Codec>(new BloscCodec());
  return Status(Code::kUnsupported, "unsupported codec '" + std::string(id) + "'");
}

}  // namespace zm
