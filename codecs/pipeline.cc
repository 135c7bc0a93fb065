#include "codecs/pipeline.h"

#include <zlib.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <type_traits>

#include "base/units.h"
#include "codecs/array_ops.h"
#include "codecs/checksum.h"
#include "codecs/codec.h"

namespace zm {
namespace {

// A decoded chunk bigger than this is refused by Make: every stage allocates
// at most its exact output size, and this bounds that size.
constexpr uint64_t kMaxChunkBytes = 2_GiB;
// The size between two stages when a compressor makes it data-dependent.
constexpr uint64_t kVariable = UINT64_MAX;

// Buffers of finished decodes, for the next ones: a stage's output then
// needs neither an allocation nor zeroing, nor new pages, once a chunk as
// big has been decoded. At most kSpareBytes are kept, in all.
constexpr size_t kSpareBytes = 32_MiB;

class SpareBuffers {
 public:
  std::string Take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (spares_.empty()) return {};
    std::string s = std::move(spares_.back());
    spares_.pop_back();
    bytes_ -= s.capacity();
    return s;
  }
  void Give(std::string s) {
    if (s.capacity() == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (bytes_ + s.capacity() > kSpareBytes) return;  // freed outside the lock
    bytes_ += s.capacity();
    spares_.push_back(std::move(s));
  }

 private:
  std::mutex mu_;
  std::vector<std::string> spares_;
  size_t bytes_ = 0;
};

SpareBuffers& Spares() {
  static SpareBuffers* spares = new SpareBuffers;  // never destroyed: decodes may outlive statics
  return *spares;
}

// The bytes between two stages: the stored input (borrowed, never written)
// or a buffer the pipeline owns. Checksum stages only narrow the window, so
// stripping a checksum costs no copy. A stage that makes new bytes writes
// them into Output and Commits them; the buffer they replace becomes the
// spare, for the next stage.
class Buf {
 public:
  explicit Buf(std::string_view stored) : ext_(stored.data()), len_(stored.size()) {}
  ~Buf() { Spares().Give(std::move(spare_)); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;

  std::string_view view() const {
    return ext_ ? std::string_view(ext_ + off_, len_) : std::string_view(s_.data() + off_, len_);
  }
  size_t size() const { return len_; }
  // `n` writable bytes, of unspecified content, valid until Commit.
  char* Output(size_t n) {
    if (spare_.capacity() == 0) spare_ = Spares().Take();
    spare_.resize(n);  // zero-fills only past what the spare held before
    return spare_.data();
  }
  // The bytes written into Output become the content.
  void Commit() {
    s_.swap(spare_);
    ext_ = nullptr;
    off_ = 0;
    len_ = s_.size();
  }
  void Replace(std::string s) {
    s_ = std::move(s);
    ext_ = nullptr;
    off_ = 0;
    len_ = s_.size();
  }
  void Narrow(size_t off, size_t len) {
    off_ += off;
    len_ = len;
  }
  // Writable bytes, copied out of the stored input first if need be.
  char* Mutable() {
    if (ext_ || off_ != 0) Replace(std::string(view()));
    return s_.data();
  }
  std::string Take() && {
    if (ext_) return std::string(view());
    if (s_.capacity() > 2 * len_ + 4096) {
      // A spare of a bigger chunk: the decoded chunk, kept (cached) for its
      // size, must not hold all that memory. It gets its own; the spare
      // goes back.
      std::string out(view());
      if (spare_.capacity() < s_.capacity()) spare_.swap(s_);
      return out;
    }
    if (off_ != 0) s_.erase(0, off_);
    s_.resize(len_);
    return std::move(s_);
  }

 private:
  std::string spare_;
  std::string s_;
  const char* ext_ = nullptr;
  size_t off_ = 0, len_ = 0;
};

// One decode step. Sizes are exact and known when the pipeline is made:
// each stage checks its input size and produces exactly out_size bytes.
class Stage {
 public:
  Stage(std::string name, uint64_t in_size, uint64_t out_size)
      : name_(std::move(name)), in_size_(in_size), out_size_(out_size) {}
  virtual ~Stage() = default;
  Status Apply(Buf& b) const {
    if (b.size() != in_size_ && in_size_ != kVariable)
      return Corruption(name_ + ": input is " + std::to_string(b.size()) + " bytes, expected " +
                        std::to_string(in_size_));
    ZM_RETURN_IF_ERROR(Run(b));
    if (b.size() != out_size_ && out_size_ != kVariable)
      return Corruption(name_ + ": decoded " + std::to_string(b.size()) + " bytes, expected " +
                        std::to_string(out_size_));
    return Status::Ok();
  }
  const std::string& name() const { return name_; }

 protected:
  virtual Status Run(Buf& b) const = 0;
  std::string name_;
  uint64_t in_size_, out_size_;
};

class CompressorStage : public Stage {
 public:
  CompressorStage(std::unique_ptr<Codec> codec, uint64_t out_size)
      : Stage(std::string(codec->id()), kVariable, out_size), codec_(std::move(codec)) {}

 private:
  Status Run(Buf& b) const override {
    if (out_size_ != kVariable) {
      // The size is known from the metadata: decode straight into a buffer
      // of exactly that size (the chunk's own when this is the last stage).
      Status st = codec_->DecodeInto(b.view(), b.Output(out_size_), out_size_);
      if (!st.ok()) return st.code() == Code::kCorruption ? st : Corruption(st.message());
      b.Commit();
      return Status::Ok();
    }
    // A compressor inside another one (v3 allows it): bounded by twice the
    // largest chunk.
    auto r = codec_->Decode(b.view(), kMaxChunkBytes * 2);
    if (!r.ok()) {
      if (r.status().code() == Code::kOutOfRange) return Corruption(name_ + ": decodes to too many bytes");
      if (r.status().code() == Code::kCorruption) return r.status();
      return Corruption(r.status().message());
    }
    b.Replace(std::move(r).value());
    return Status::Ok();
  }
  std::unique_ptr<Codec> codec_;
};

// A 4-byte little-endian checksum before or after the data.
class ChecksumStage : public Stage {
 public:
  enum class Kind { kCrc32c, kFletcher32, kCrc32, kAdler32 };
  ChecksumStage(std::string name, Kind kind, bool at_end, uint64_t out_size)
      : Stage(std::move(name), out_size == kVariable ? kVariable : out_size + 4, out_size),
        kind_(kind), at_end_(at_end) {}

 private:
  Status Run(Buf& b) const override {
    std::string_view all = b.view();
    if (all.size() < 4) return Corruption(name_ + ": input shorter than its checksum");
    std::string_view data = at_end_ ? all.substr(0, all.size() - 4) : all.substr(4);
    const auto* c = reinterpret_cast<const unsigned char*>(at_end_ ? all.data() + data.size() : all.data());
    uint32_t stored = uint32_t(c[0]) | uint32_t(c[1]) << 8 | uint32_t(c[2]) << 16 | uint32_t(c[3]) << 24;
    uint32_t want = 0;
    const auto* d = reinterpret_cast<const Bytef*>(data.data());
    switch (kind_) {
      case Kind::kCrc32c: want = Crc32c(data); break;
      case Kind::kFletcher32: want = Fletcher32(data); break;
      case Kind::kCrc32: want = uint32_t(crc32_z(0, d, data.size())); break;
      case Kind::kAdler32: want = uint32_t(adler32_z(1, d, data.size())); break;
    }
    if (want != stored) return Corruption(name_ + ": checksum mismatch");
    b.Narrow(at_end_ ? 0 : 4, data.size());
    return Status::Ok();
  }
  Kind kind_;
  bool at_end_;
};

class ShuffleStage : public Stage {
 public:
  ShuffleStage(size_t es, uint64_t size) : Stage("shuffle", size, size), es_(es) {}

 private:
  Status Run(Buf& b) const override {
    const std::string_view in = b.view();
    Unshuffle(in.data(), b.Output(in.size()), in.size(), es_);
    b.Commit();
    return Status::Ok();
  }
  size_t es_;
};

class ByteSwapStage : public Stage {
 public:
  ByteSwapStage(std::string name, size_t es, uint64_t size) : Stage(std::move(name), size, size), es_(es) {}

 private:
  Status Run(Buf& b) const override {
    ByteSwapInPlace(b.Mutable(), b.size(), es_);
    return Status::Ok();
  }
  size_t es_;
};

class PermuteStage : public Stage {
 public:
  PermuteStage(std::string name, std::vector<uint64_t> in_shape, std::vector<size_t> perm, size_t es,
               uint64_t size)
      : Stage(std::move(name), size, size), in_shape_(std::move(in_shape)), perm_(std::move(perm)), es_(es) {}

 private:
  Status Run(Buf& b) const override {
    const std::string_view in = b.view();
    PermuteAxes(in.data(), b.Output(in.size()), in_shape_, perm_, es_);
    b.Commit();
    return Status::Ok();
  }
  std::vector<uint64_t> in_shape_;
  std::vector<size_t> perm_;
  size_t es_;
};

// ---- numeric conversions (delta, fixedscaleoffset, quantize, astype) -------------

template <typename T>
T Load(const char* p, bool swap) {
  T v;
  if (swap) {
    char b[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) b[i] = p[sizeof(T) - 1 - i];
    std::memcpy(&v, b, sizeof(T));
  } else {
    std::memcpy(&v, p, sizeof(T));
  }
  return v;
}

template <typename T>
void Store(char* p, T v, bool swap) {
  std::memcpy(p, &v, sizeof(T));
  if (swap)
    for (size_t i = 0, j = sizeof(T) - 1; i < j; ++i, --j) std::swap(p[i], p[j]);
}

// numpy's astype: integers wrap, floats round, and a float outside an
// integer type's range (or NaN) becomes that type's minimum, as x86 does;
// C++ leaves that case undefined.
template <typename U, typename T>
U Cast(T v) {
  if constexpr (std::is_integral_v<U> && std::is_floating_point_v<T>) {
    const long double x = v;
    if (!(x >= (long double)std::numeric_limits<U>::min() && x < (long double)std::numeric_limits<U>::max() + 1.0L))
      return std::numeric_limits<U>::min();
    return static_cast<U>(v);
  } else if constexpr (std::is_integral_v<U> && std::is_integral_v<T>) {
    return static_cast<U>(static_cast<std::make_unsigned_t<U>>(v));
  } else {
    return static_cast<U>(v);
  }
}

template <typename U>
U Add(U a, U b) {
  if constexpr (std::is_integral_v<U>) {
    using W = std::make_unsigned_t<U>;
    return static_cast<U>(static_cast<W>(static_cast<W>(a) + static_cast<W>(b)));
  } else {
    return a + b;
  }
}

// Calls f(T{}) with the C++ type of a numeric data type; false if none.
template <typename F>
bool WithType(const DataType& d, F&& f) {
  switch (d.kind) {
    case 'i':
    case 'M':
    case 'm':
      switch (d.size) {
        case 1: f(int8_t{}); return true;
        case 2: f(int16_t{}); return true;
        case 4: f(int32_t{}); return true;
        case 8: f(int64_t{}); return true;
      }
      return false;
    case 'u':
      switch (d.size) {
        case 1: f(uint8_t{}); return true;
        case 2: f(uint16_t{}); return true;
        case 4: f(uint32_t{}); return true;
        case 8: f(uint64_t{}); return true;
      }
      return false;
    case 'f':
      if (d.size == 4) { f(float{}); return true; }
      if (d.size == 8) { f(double{}); return true; }
      return false;
  }
  return false;
}

bool IsNumeric(const DataType& d) {
  return WithType(d, [](auto) {});
}

enum class Conversion { kDelta, kScaleOffset, kCast };

// Elements of type `from` (encoded) to elements of type `to` (decoded).
class ConvertStage : public Stage {
 public:
  ConvertStage(std::string name, Conversion op, DataType from, DataType to, double scale, double offset,
               uint64_t n)
      : Stage(std::move(name), n * from.size, n * to.size),
        op_(op), from_(std::move(from)), to_(std::move(to)), scale_(scale), offset_(offset), n_(n) {}

 private:
  Status Run(Buf& b) const override {
    const char* in = b.view().data();
    char* o = b.Output(out_size_);
    const bool sin = from_.big_endian, sout = to_.big_endian;
    WithType(from_, [&](auto t) {
      using T = decltype(t);
      WithType(to_, [&](auto u) {
        using U = decltype(u);
        switch (op_) {
          case Conversion::kDelta: {
            // Summed in the decoded type: for integers the wrapped result
            // is the same as numpy's wider accumulator cast back.
            U acc = 0;
            for (uint64_t i = 0; i < n_; ++i) {
              acc = Add<U>(acc, Cast<U>(Load<T>(in + i * sizeof(T), sin)));
              Store<U>(o + i * sizeof(U), acc, sout);
            }
            break;
          }
          case Conversion::kScaleOffset: {
            // numpy divides a float32 array by a Python float in float32,
            // anything else in float64.
            using C = std::conditional_t<std::is_same_v<T, float>, float, double>;
            const C scale = C(scale_), offset = C(offset_);
            for (uint64_t i = 0; i < n_; ++i) {
              C v = C(Load<T>(in + i * sizeof(T), sin)) / scale + offset;
              Store<U>(o + i * sizeof(U), Cast<U>(v), sout);
            }
            break;
          }
          case Conversion::kCast:
            for (uint64_t i = 0; i < n_; ++i)
              Store<U>(o + i * sizeof(U), Cast<U>(Load<T>(in + i * sizeof(T), sin)), sout);
            break;
        }
      });
    });
    b.Commit();
    return Status::Ok();
  }
  Conversion op_;
  DataType from_, to_;
  double scale_, offset_;
  uint64_t n_;
};

// ---- building the pipeline ---------------------------------------------------------

Status Unsupported(const std::string& msg) { return Status(Code::kUnsupported, msg); }

class PipelineDecoder : public ChunkDecoder {
 public:
  PipelineDecoder(ChunkSpec spec, std::vector<std::unique_ptr<Stage>> stages)
      : ChunkDecoder(std::move(spec)), stages_(std::move(stages)) {}

  Result<std::string> Decode(std::string_view stored) const override {
    Buf b(stored);
    if (stages_.empty() && stored.size() != spec_.chunk_bytes())
      return Corruption("uncompressed chunk is " + std::to_string(stored.size()) + " bytes, expected " +
                        std::to_string(spec_.chunk_bytes()));
    for (const auto& s : stages_) ZM_RETURN_IF_ERROR(s->Apply(b));
    return std::move(b).Take();
  }

 private:
  std::vector<std::unique_ptr<Stage>> stages_;  // in decode order
};

// A dtype parameter of a filter, defaulting to the array's.
Result<DataType> DtypeParam(const CodecConfig& c, const char* key, const DataType& dflt) {
  auto it = c.strings.find(key);
  if (it == c.strings.end()) return dflt;
  auto d = ParseDataType(it->second);
  if (!d.ok()) return Unsupported(c.id + ": " + d.status().message());
  return *d;
}

double NumberParam(const CodecConfig& c, const char* key, double dflt) {
  auto it = c.numbers.find(key);
  return it == c.numbers.end() ? dflt : it->second;
}

bool IsCompressor(std::string_view id) {
  return id == "zlib" || id == "gzip" || id == "bz2" || id == "zstd" || id == "lz4" || id == "blosc";
}

// Checksum codecs by id, with where numcodecs puts the checksum by default.
bool ChecksumKind(std::string_view id, ChecksumStage::Kind* kind, bool* at_end) {
  using K = ChecksumStage::Kind;
  if (id == "crc32c") { *kind = K::kCrc32c; *at_end = true; return true; }
  if (id == "fletcher32") { *kind = K::kFletcher32; *at_end = true; return true; }
  if (id == "crc32") { *kind = K::kCrc32; *at_end = false; return true; }
  if (id == "adler32") { *kind = K::kAdler32; *at_end = false; return true; }
  return false;
}

// A bytes-to-bytes codec (compressor or checksum) whose output is `decoded`
// bytes; sets *encoded to its input size (0: variable).
Result<std::unique_ptr<Stage>> MakeBytesStage(const CodecConfig& c, uint64_t decoded) {
  ChecksumStage::Kind kind;
  bool at_end;
  if (ChecksumKind(c.id, &kind, &at_end)) {
    auto loc = c.strings.find("location");
    if (loc != c.strings.end()) {
      if (loc->second != "start" && loc->second != "end")
        return Unsupported(c.id + ": location '" + loc->second + "'");
      at_end = loc->second == "end";
    }
    return std::unique_ptr<Stage>(new ChecksumStage(c.id, kind, at_end, decoded));
  }
  if (IsCompressor(c.id)) {
    auto codec = MakeCodec(c.id);
    if (!codec.ok()) return codec.status();
    return std::unique_ptr<Stage>(new CompressorStage(std::move(codec).value(), decoded));
  }
  return Unsupported("unsupported codec '" + c.id + "'");
}


// Zarr v2: `codecs` are the filters in encode order, then the compressor.
// Decoding runs them backwards, then turns an 'F' chunk into C order.
Result<std::vector<std::unique_ptr<Stage>>> MakeV2(const ChunkSpec& spec) {
  std::vector<std::unique_ptr<Stage>> encode_order;  // built forwards, reversed at the end
  uint64_t size = spec.chunk_bytes();                 // decoded size of the next codec
  const DataType& dt = spec.dtype;
  if (spec.order == 'F' && spec.chunk_shape.size() > 1) {
    std::vector<uint64_t> in_shape(spec.chunk_shape.rbegin(), spec.chunk_shape.rend());
    std::vector<size_t> perm(in_shape.size());
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = perm.size() - 1 - i;
    encode_order.emplace_back(new PermuteStage("order F", std::move(in_shape), std::move(perm), dt.size, size));
  } else if (spec.order != 'C' && spec.order != 'F') {
    return InvalidArgument(std::string("order must be 'C' or 'F', not '") + spec.order + "'");
  }
  for (const CodecConfig& c : spec.codecs) {
    if (size == kVariable && !IsCompressor(c.id) && c.id != "bitround") {
      ChecksumStage::Kind kind;
      bool at_end;
      if (!ChecksumKind(c.id, &kind, &at_end))
        return MakeBytesStage(c, size).ok() ? InvalidArgument("'" + c.id + "' after a compressor")
                                            : MakeBytesStage(c, size).status();
    }
    if (c.id == "shuffle") {
      double es = NumberParam(c, "elementsize", 4);
      if (!(es >= 1 && es <= 1_MiB) || es != std::floor(es))
        return Unsupported("shuffle: elementsize " + std::to_string(es));
      encode_order.emplace_back(new ShuffleStage(size_t(es), size));
    } else if (c.id == "delta" || c.id == "fixedscaleoffset" || c.id == "quantize" || c.id == "astype") {
      const bool is_astype = c.id == "astype";
      ZM_ASSIGN_OR_RETURN(DataType to, DtypeParam(c, is_astype ? "decode_dtype" : "dtype", dt));
      ZM_ASSIGN_OR_RETURN(DataType from, DtypeParam(c, is_astype ? "encode_dtype" : "astype", to));
      if (!IsNumeric(to) || !IsNumeric(from))
        return Unsupported(c.id + ": data types " + to.ToString() + " and " + from.ToString() +
                           " are not both integer or float");
      if (size % to.size != 0)
        return InvalidArgument(c.id + ": " + std::to_string(size) + " bytes are not whole " + to.ToString() +
                               " elements");
      uint64_t n = size / to.size;
      Conversion op = c.id == "delta" ? Conversion::kDelta
                      : c.id == "fixedscaleoffset" ? Conversion::kScaleOffset
                                                   : Conversion::kCast;
      double scale = NumberParam(c, "scale", 1), offset = NumberParam(c, "offset", 0);
      if (op == Conversion::kScaleOffset && (scale == 0 || !std::isfinite(scale) || !std::isfinite(offset)))
        return Unsupported("fixedscaleoffset: scale " + std::to_string(scale) + ", offset " +
                           std::to_string(offset));
      encode_order.emplace_back(new ConvertStage(c.id, op, from, to, scale, offset, n));
      size = n * from.size;
    } else if (c.id == "bitround") {
      // Lossy on encode only: the stored values are the values.
    } else {
      ZM_ASSIGN_OR_RETURN(auto stage, MakeBytesStage(c, size));
      ChecksumStage::Kind kind;
      bool at_end;
      if (!ChecksumKind(c.id, &kind, &at_end)) size = kVariable;
      else if (size != kVariable) size += 4;
      encode_order.push_back(std::move(stage));
      continue;
    }
  }
  return std::vector<std::unique_ptr<Stage>>(std::make_move_iterator(encode_order.rbegin()),
                                             std::make_move_iterator(encode_order.rend()));
}

// Zarr v3: array→array codecs, one array→bytes codec, bytes→bytes codecs.
Result<std::vector<std::unique_ptr<Stage>>> MakeV3(const ChunkSpec& spec) {
  std::vector<std::unique_ptr<Stage>> encode_order;
  const DataType& dt = spec.dtype;
  const uint64_t bytes = spec.chunk_bytes();
  std::vector<uint64_t> shape = spec.chunk_shape;  // of the array as it flows through encoding
  size_t i = 0;
  const auto& codecs = spec.codecs;
  for (; i < codecs.size(); ++i) {
    const CodecConfig& c = codecs[i];
    if (c.id != "transpose") break;
    std::vector<size_t> order;
    auto il = c.int_lists.find("order");
    auto st = c.strings.find("order");
    if (il != c.int_lists.end()) {
      std::vector<bool> seen(shape.size());
      if (il->second.size() != shape.size())
        return InvalidArgument("transpose: order has " + std::to_string(il->second.size()) +
                               " axes, the array " + std::to_string(shape.size()));
      for (int64_t a : il->second) {
        if (a < 0 || size_t(a) >= shape.size() || seen[size_t(a)])
          return InvalidArgument("transpose: order is not a permutation");
        seen[size_t(a)] = true;
        order.push_back(size_t(a));
      }
    } else if (st != c.strings.end() && (st->second == "C" || st->second == "F")) {
      for (size_t k = 0; k < shape.size(); ++k) order.push_back(st->second == "C" ? k : shape.size() - 1 - k);
    } else {
      return InvalidArgument("transpose: missing or bad order");
    }
    // Encoded axis k is axis order[k] of the array before it.
    std::vector<uint64_t> encoded(shape.size());
    for (size_t k = 0; k < shape.size(); ++k) encoded[k] = shape[order[k]];
    // Decoding: input axis k becomes output axis order[k].
    encode_order.emplace_back(new PermuteStage("transpose", encoded, order, dt.size, bytes));
    shape = std::move(encoded);
  }
  if (i == codecs.size() || (codecs[i].id != "bytes" && codecs[i].id != "endian")) {
    if (i < codecs.size() && codecs[i].id == "sharding_indexed")
      return Unsupported("unsupported codec 'sharding_indexed'");
    if (i < codecs.size() && !IsCompressor(codecs[i].id) && codecs[i].id != "crc32c")
      return Unsupported("unsupported codec '" + codecs[i].id + "'");
    return InvalidArgument("the codecs have no array-to-bytes codec ('bytes')");
  }
  {
    const CodecConfig& c = codecs[i++];
    auto e = c.strings.find("endian");
    std::string endian = e == c.strings.end() ? "" : e->second;
    if (endian.empty() && dt.size > 1 && dt.kind != 'V' && dt.kind != 'S')
      return InvalidArgument("bytes: 'endian' is required for " + dt.ToString());
    if (!endian.empty() && endian != "little" && endian != "big")
      return InvalidArgument("bytes: endian '" + endian + "'");
    // The decoded elements are in dtype's order; swap when the stored order
    // differs. Complex numbers swap each half.
    const bool stored_big = endian == "big";
    if (stored_big != dt.big_endian && dt.size > 1 && dt.kind != 'V' && dt.kind != 'S')
      encode_order.emplace_back(new ByteSwapStage("bytes", dt.kind == 'c' ? dt.size / 2 : dt.size, bytes));
  }
  uint64_t size = bytes;
  for (; i < codecs.size(); ++i) {
    const CodecConfig& c = codecs[i];
    if (c.id == "transpose" || c.id == "bytes")
      return InvalidArgument("'" + c.id + "' after the array-to-bytes codec");
    ZM_ASSIGN_OR_RETURN(auto stage, MakeBytesStage(c, size));
    ChecksumStage::Kind kind;
    bool at_end;
    if (!ChecksumKind(c.id, &kind, &at_end)) size = kVariable;
    else if (size != kVariable) size += 4;
    encode_order.push_back(std::move(stage));
  }
  return std::vector<std::unique_ptr<Stage>>(std::make_move_iterator(encode_order.rbegin()),
                                             std::make_move_iterator(encode_order.rend()));
}

}  // namespace

uint64_t ChunkSpec::chunk_elements() const {
  uint64_t n = 1;
  for (uint64_t d : chunk_shape)
    if (__builtin_mul_overflow(n, d, &n)) return UINT64_MAX;
  return n;
}

Result<std::unique_ptr<ChunkDecoder>> ChunkDecoder::Make(ChunkSpec spec) {
  uint64_t n = spec.chunk_elements(), bytes;
  if (spec.dtype.size == 0) return InvalidArgument("data type has no size");
  if (n == UINT64_MAX || __builtin_mul_overflow(n, uint64_t{spec.dtype.size}, &bytes) || bytes > kMaxChunkBytes)
    return Unsupported("chunks of more than " + FormatSize(kMaxChunkBytes) + " are not decoded");
  if (!spec.fill_element.empty() && spec.fill_element.size() != spec.dtype.size)
    return InvalidArgument("fill value is " + std::to_string(spec.fill_element.size()) + " bytes, the data type " +
                           std::to_string(spec.dtype.size));
  Result<std::vector<std::unique_ptr<Stage>>> stages = Status(Code::kInvalidArgument, "zarr_format");
  if (spec.zarr_format == 2) stages = MakeV2(spec);
  else if (spec.zarr_format == 3) stages = MakeV3(spec);
  else return InvalidArgument("zarr_format must be 2 or 3");
  if (!stages.ok()) return stages.status();
  return std::unique_ptr<ChunkDecoder>(new PipelineDecoder(std::move(spec), std::move(stages).value()));
}

std::string ChunkDecoder::FillChunk() const {
  const uint64_t n = spec_.chunk_elements();
  const std::string& f = spec_.fill_element;
  if (f.empty() || f.find_first_not_of('\0') == std::string::npos) return std::string(n * spec_.dtype.size, '\0');
  std::string out;
  out.resize(n * f.size());
  // Doubling copies: a few large memcpys instead of one per element.
  if (n == 0) return out;
  std::memcpy(out.data(), f.data(), f.size());
  size_t done = f.size();
  while (done < out.size()) {
    size_t k = std::min(done, out.size() - done);
    std::memcpy(out.data() + done, out.data(), k);
    done += k;
  }
  return out;
}

}  // namespace zm
