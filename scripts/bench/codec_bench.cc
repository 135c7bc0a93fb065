// Decode throughput of every codec: the library's own decompress call into
// a ready buffer (the limit) against ChunkDecoder::Decode (what views pay),
// on a smooth float32 field with noise, in chunks of 1 MiB.
//
// Usage: codec_bench [--mib N] [--json FILE]
// Prints one row per codec: compression ratio, MB/s of each, and ours/lib.
// MB are 10^6 bytes of decoded data.
#include <blosc.h>
#include <bzlib.h>
#include <lz4.h>
#include <zlib.h>
#include <zstd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "codecs/pipeline.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kChunkFloats = 256 * 1024;  // 1 MiB of float32

std::string Field(size_t chunk, std::mt19937& rng) {
  std::normal_distribution<float> noise(0, 0.05f);
  std::vector<float> v(kChunkFloats);
  for (size_t i = 0; i < v.size(); ++i) {
    double x = double(chunk * v.size() + i) * 1e-4;
    // Rounded to 0.01 K, as packed instrument data are.
    v[i] = std::round((280.0f + 15.0f * float(std::sin(x)) + 3.0f * float(std::cos(x * 7.3)) + noise(rng)) * 100) /
           100;
  }
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

struct Codec {
  const char* name;
  std::vector<zm::CodecConfig> codecs;                            // for ChunkDecoder
  std::function<std::string(const std::string&)> encode;          // with the library
  std::function<bool(const std::string&, char*, size_t)> decode;  // the library's raw call
  int mib_divisor = 1;                                            // bz2 is slow: less data
};

zm::CodecConfig Id(const char* id, std::map<std::string, double> numbers = {}) {
  zm::CodecConfig c;
  c.id = id;
  c.numbers = std::move(numbers);
  return c;
}

std::string Deflate(const std::string& in, int wbits) {
  z_stream zs{};
  deflateInit2(&zs, 5, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = (Bytef*)in.data();
  zs.avail_in = uInt(in.size());
  zs.next_out = (Bytef*)out.data();
  zs.avail_out = uInt(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

bool Inflate(const std::string& in, char* out, size_t n, int wbits) {
  z_stream zs{};
  inflateInit2(&zs, wbits);
  zs.next_in = (Bytef*)in.data();
  zs.avail_in = uInt(in.size());
  zs.next_out = (Bytef*)out;
  zs.avail_out = uInt(n);
  int rc = inflate(&zs, Z_FINISH);
  inflateEnd(&zs);
  return rc == Z_STREAM_END;
}

std::string ShuffleBytes(const std::string& in, size_t es) {
  std::string out(in.size(), '\0');
  size_t n = in.size() / es;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < es; ++j) out[j * n + i] = in[i * es + j];
  return out;
}

Codec Blosc(const char* name, const char* cname, int shuffle) {
  return {name, {Id("blosc")},
          [=](const std::string& in) {
            std::string out(in.size() + BLOSC_MAX_OVERHEAD, '\0');
            int n = blosc_compress_ctx(5, shuffle, 4, in.size(), in.data(), out.data(), out.size(), cname, 0, 1);
            out.resize(size_t(n));
            return out;
          },
          [](const std::string& in, char* out, size_t n) {
            return blosc_decompress_ctx(in.data(), out, n, 1) == int(n);
          }};
}

std::vector<Codec> Codecs() {
  std::vector<Codec> c;
  c.push_back({"none", {}, [](const std::string& in) { return in; },
               [](const std::string& in, char* out, size_t n) { std::memcpy(out, in.data(), n); return true; }});
  c.push_back({"zlib", {Id("zlib")}, [](const std::string& in) { return Deflate(in, 15); },
               [](const std::string& in, char* out, size_t n) { return Inflate(in, out, n, 15); }});
  c.push_back({"gzip", {Id("gzip")}, [](const std::string& in) { return Deflate(in, 31); },
               [](const std::string& in, char* out, size_t n) { return Inflate(in, out, n, 31); }});
  c.push_back({"shuffle+zlib", {Id("shuffle", {{"elementsize", 4}}), Id("zlib")},
               [](const std::string& in) { return Deflate(ShuffleBytes(in, 4), 15); },
               [](const std::string& in, char* out, size_t n) { return Inflate(in, out, n, 15); }});
  c.push_back({"bz2",
               {Id("bz2")},
               [](const std::string& in) {
                 unsigned n = unsigned(in.size() + in.size() / 100 + 600);
                 std::string out(n, '\0');
                 BZ2_bzBuffToBuffCompress(out.data(), &n, (char*)in.data(), unsigned(in.size()), 9, 0, 0);
                 out.resize(n);
                 return out;
               },
               [](const std::string& in, char* out, size_t n) {
                 unsigned len = unsigned(n);
                 return BZ2_bzBuffToBuffDecompress(out, &len, (char*)in.data(), unsigned(in.size()), 0, 0) ==
                            BZ_OK && len == n;
               },
               8});
  c.push_back({"zstd", {Id("zstd")},
               [](const std::string& in) {
                 std::string out(ZSTD_compressBound(in.size()), '\0');
                 out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
                 return out;
               },
               [](const std::string& in, char* out, size_t n) {
                 return ZSTD_decompress(out, n, in.data(), in.size()) == n;
               }});
  c.push_back({"lz4", {Id("lz4")},
               [](const std::string& in) {
                 std::string out(4 + size_t(LZ4_compressBound(int(in.size()))), '\0');
                 uint32_t n = uint32_t(in.size());
                 std::memcpy(out.data(), &n, 4);
                 out.resize(4 + size_t(LZ4_compress_default(in.data(), out.data() + 4, int(in.size()),
                                                            int(out.size() - 4))));
                 return out;
               },
               [](const std::string& in, char* out, size_t n) {
                 return LZ4_decompress_safe(in.data() + 4, out, int(in.size() - 4), int(n)) == int(n);
               }});
  c.push_back(Blosc("blosc lz4 shuffle", "lz4", BLOSC_SHUFFLE));
  c.push_back(Blosc("blosc zstd shuffle", "zstd", BLOSC_SHUFFLE));
  c.push_back(Blosc("blosc blosclz bitshuf", "blosclz", BLOSC_BITSHUFFLE));
  c.push_back(Blosc("blosc zlib noshuffle", "zlib", BLOSC_NOSHUFFLE));
  return c;
}

// Best of `reps` passes over all chunks, in MB/s of decoded bytes.
double Measure(size_t bytes, int reps, const std::function<void()>& pass) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    pass();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return double(bytes) / best / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 64;
  const char* json = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--mib") && i + 1 < argc) mib = std::stoul(argv[++i]);
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
    else {
      std::fprintf(stderr, "usage: codec_bench [--mib N] [--json FILE]\n");
      return 2;
    }
  }
  blosc_init();
  std::mt19937 rng(42);
  std::vector<std::string> raw;
  for (size_t i = 0; i < mib; ++i) raw.push_back(Field(i, rng));

  std::printf("%-22s %7s %11s %11s %8s\n", "codec", "ratio", "lib MB/s", "ours MB/s", "ours/lib");
  std::string rows;
  for (const Codec& c : Codecs()) {
    size_t n = std::max<size_t>(1, raw.size() / size_t(c.mib_divisor));
    std::vector<std::string> enc;
    size_t enc_bytes = 0;
    for (size_t i = 0; i < n; ++i) {
      enc.push_back(c.encode(raw[i]));
      enc_bytes += enc.back().size();
    }
    zm::ChunkSpec spec;
    spec.dtype = zm::ParseDataType("<f4").value();
    spec.chunk_shape = {kChunkFloats};
    spec.codecs = c.codecs;
    auto dec = zm::ChunkDecoder::Make(spec);
    if (!dec.ok()) {
      std::fprintf(stderr, "%s: %s\n", c.name, dec.status().ToString().c_str());
      return 1;
    }
    // Correctness first: both decode every chunk to the original.
    std::string buf(kChunkFloats * 4, '\0');
    for (size_t i = 0; i < n; ++i) {
      auto r = (*dec)->Decode(enc[i]);
      if (!r.ok() || *r != raw[i] || !c.decode(enc[i], buf.data(), buf.size()) ||
          (std::strcmp(c.name, "shuffle+zlib") != 0 && buf != raw[i])) {
        std::fprintf(stderr, "%s: chunk %zu does not decode to the original\n", c.name, i);
        return 1;
      }
    }
    const size_t bytes = n * kChunkFloats * 4;
    const int reps = 3;
    size_t sink = 0;
    double lib = Measure(bytes, reps, [&] {
      for (size_t i = 0; i < n; ++i) sink += c.decode(enc[i], buf.data(), buf.size());
    });
    double ours = Measure(bytes, reps, [&] {
      for (size_t i = 0; i < n; ++i) sink += (*dec)->Decode(enc[i])->size();
    });
    if (sink == 0) return 1;
    std::printf("%-22s %7.2f %11.0f %11.0f %8.2f\n", c.name, double(bytes) / double(enc_bytes), lib, ours,
                ours / lib);
    char row[256];
    std::snprintf(row, sizeof row, "%s{\"codec\": \"%s\", \"ratio\": %.3f, \"lib_mbps\": %.1f, \"ours_mbps\": %.1f}",
                  rows.empty() ? "" : ",\n  ", c.name, double(bytes) / double(enc_bytes), lib, ours);
    rows += row;
  }
  std::printf("(shuffle+zlib: lib is zlib alone; ours adds the unshuffle)\n");
  if (json) {
    FILE* f = std::fopen(json, "w");
    if (!f) return 1;
    std::fprintf(f, "{\"mib\": %zu, \"chunk_bytes\": %zu, \"codecs\": [\n  %s\n]}\n", mib, kChunkFloats * 4,
                 rows.c_str());
    std::fclose(f);
  }
  return 0;
}
