#include "zarr/metadata.h"

#include <simdjson.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "base/base64.h"

namespace zm {
namespace {

namespace dom = simdjson::dom;

// Errors name the document and the field: ".zarray: 'dtype' ...".
struct Doc {
  const char* name;  // ".zarray" or "zarr.json"
  Status Bad(std::string_view field, std::string_view what) const {
    return InvalidArgument(std::string(name) + ": '" + std::string(field) + "' " + std::string(what));
  }
};

Status ReadDims(const Doc& d, dom::element v, std::string_view field, std::vector<uint64_t>* out) {
  dom::array arr;
  if (v.get_array().get(arr)) return d.Bad(field, "must be a list of non-negative integers");
  for (auto x : arr) {
    uint64_t n;
    if (x.get_uint64().get(n)) return d.Bad(field, "must be a list of non-negative integers");
    out->push_back(n);
  }
  return Status::Ok();
}

// A codec's parameters: strings, numbers (booleans as 0/1) and lists of
// integers are kept; anything else is not needed to decode.
void ReadParams(dom::object obj, std::string_view skip, CodecConfig* c) {
  for (auto [key, value] : obj) {
    if (key == skip) continue;
    std::string k(key);
    std::string_view s;
    double n;
    bool b;
    dom::array arr;
    if (!value.get_string().get(s)) {
      c->strings[k] = std::string(s);
    } else if (!value.get_bool().get(b)) {
      c->numbers[k] = b ? 1 : 0;
    } else if (value.is_number() && !value.get_double().get(n)) {
      c->numbers[k] = n;
    } else if (!value.get_array().get(arr)) {
      std::vector<int64_t> ints;
      bool all = true;
      for (auto x : arr) {
        int64_t i;
        if (x.get_int64().get(i)) {
          all = false;
          break;
        }
        ints.push_back(i);
      }
      if (all) c->int_lists[k] = std::move(ints);
    }
  }
}

// A Zarr v3 codec list: each a name, or an object with a "name" and an
// optional "configuration". Appends them to `out`; each entry's
// configuration object (nullopt when it has none) to `configs` when given.
Status ReadV3Codecs(const Doc& d, dom::element v, std::string_view field,
                    std::vector<CodecConfig>* out,
                    std::vector<std::optional<dom::object>>* configs = nullptr) {
  dom::array codecs;
  if (v.get_array().get(codecs)) return d.Bad(field, "must be a list");
  for (auto c : codecs) {
    CodecConfig cfg;
    dom::object obj;
    std::optional<dom::object> config;
    std::string_view s;
    if (!c.get_string().get(s)) {
      cfg.id = std::string(s);
    } else if (!c.get_object().get(obj) && !obj["name"].get_string().get(s)) {
      cfg.id = std::string(s);
      dom::object conf;
      if (!obj["configuration"].get_object().get(conf)) {
        ReadParams(conf, "", &cfg);
        config = conf;
      }
    } else {
      return d.Bad(field, "must be codec objects with a \"name\"");
    }
    out->push_back(std::move(cfg));
    if (configs) configs->push_back(config);
  }
  return Status::Ok();
}

// The "index_codecs" of a sharding_indexed codec: "bytes" (endian little
// or big), then optionally "crc32c"; "" if so, else why not.
std::string ReadShardIndexCodecs(const std::vector<CodecConfig>& codecs, ShardingSpec* spec) {
  if (codecs.empty() || codecs[0].id != "bytes") return "index_codecs must start with \"bytes\"";
  auto endian = codecs[0].strings.find("endian");
  spec->index_big_endian = endian != codecs[0].strings.end() && endian->second == "big";
  if (codecs.size() > 1 && codecs[1].id == "crc32c") spec->index_crc32c = true;
  if (codecs.size() > (spec->index_crc32c ? 2u : 1u))
    return "index_codecs other than bytes and crc32c are not supported";
  return "";
}

// The configuration of a sharding_indexed codec over shards of
// `shard_shape`, or why the inner chunks cannot be read (what the spec
// forbids, such as an inner chunk shape that does not divide the shard's,
// and what this build does not read). Never fails the array's metadata:
// the zarr view needs only the shard grid.
std::string ReadSharding(dom::object conf, const std::vector<uint64_t>& shard_shape,
                         ShardingSpec* spec) {
  const Doc d{"zarr.json: sharding_indexed"};
  auto message = [](const Status& st) { return std::string(st.message()); };
  dom::element v;
  if (conf["chunk_shape"].get(v)) return "sharding_indexed has no chunk_shape";
  if (Status st = ReadDims(d, v, "chunk_shape", &spec->inner_chunks); !st.ok()) return message(st);
  if (spec->inner_chunks.size() != shard_shape.size())
    return "sharding_indexed chunk_shape and the shard shape differ in length";
  for (size_t i = 0; i < shard_shape.size(); ++i) {
    const uint64_t c = spec->inner_chunks[i];
    if (c == 0 || shard_shape[i] % c != 0)
      return "sharding_indexed chunk_shape does not divide the shard shape";
    spec->chunks_per_shard.push_back(shard_shape[i] / c);
  }
  // The index is read whole (16 bytes per inner chunk): bound it at 1 GiB.
  constexpr uint64_t kMaxInnerChunks = uint64_t{1} << 26;
  uint64_t inner = 1;
  for (uint64_t n : spec->chunks_per_shard) {
    if (n != 0 && inner > kMaxInnerChunks / n)
      return "sharding_indexed has more than " + std::to_string(kMaxInnerChunks) +
             " inner chunks per shard";
    inner *= n;
  }
  if (conf["codecs"].get(v)) return "sharding_indexed has no codecs";
  if (Status st = ReadV3Codecs(d, v, "codecs", &spec->codecs); !st.ok()) return message(st);
  std::vector<CodecConfig> index_codecs;
  if (conf["index_codecs"].get(v)) return "sharding_indexed has no index_codecs";
  if (Status st = ReadV3Codecs(d, v, "index_codecs", &index_codecs); !st.ok()) return message(st);
  if (std::string why = ReadShardIndexCodecs(index_codecs, spec); !why.empty())
    return "sharding_indexed " + why;
  std::string_view loc = "end";
  if (!conf["index_location"].get(v) && (v.get_string().get(loc) || (loc != "start" && loc != "end")))
    return "sharding_indexed index_location must be \"start\" or \"end\"";
  spec->index_at_end = loc == "end";
  return "";
}

// ---- fill values -----------------------------------------------------------------

template <typename T>
std::string Element(T v, bool big_endian) {
  std::string s(sizeof(T), '\0');
  std::memcpy(s.data(), &v, sizeof(T));
  if (big_endian) std::reverse(s.begin(), s.end());
  return s;
}

// IEEE half from double, rounding to nearest even.
uint16_t ToHalf(double d) {
  float f = static_cast<float>(d);
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int32_t exp = int32_t((x >> 23) & 0xFF) - 127 + 15;
  uint32_t mant = x & 0x7FFFFF;
  if (((x >> 23) & 0xFF) == 0xFF) return uint16_t(sign | 0x7C00 | (mant ? 0x200 : 0));
  if (exp >= 31) return uint16_t(sign | 0x7C00);
  if (exp <= 0) {
    if (exp < -10) return uint16_t(sign);
    mant |= 0x800000;
    uint32_t shift = uint32_t(14 - exp);
    uint32_t h = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return uint16_t(sign | h);
  }
  uint32_t h = sign | uint32_t(exp) << 10 | mant >> 13;
  uint32_t rem = mant & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // may carry into the exponent: correct
  return uint16_t(h);
}

// A float fill: a number, or "NaN", "Infinity", "-Infinity" as Zarr writes
// them. *bits is set instead for v3's "0x..." spelling of the raw bits.
bool FloatOf(dom::element v, double* out, bool* raw, uint64_t* bits) {
  *raw = false;
  if (v.is_number()) return !v.get_double().get(*out);
  std::string_view s;
  if (v.get_string().get(s)) return false;
  if (s == "NaN") *out = std::numeric_limits<double>::quiet_NaN();
  else if (s == "Infinity") *out = std::numeric_limits<double>::infinity();
  else if (s == "-Infinity") *out = -std::numeric_limits<double>::infinity();
  else if (s.size() > 2 && s.size() <= 18 && s[0] == '0' && s[1] == 'x') {
    *bits = 0;
    for (char c : s.substr(2)) {
      int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (h < 0) return false;
      *bits = *bits << 4 | uint64_t(h);
    }
    *raw = true;
  } else {
    return false;
  }
  return true;
}

Result<std::string> FloatElement(dom::element v, const DataType& dt, uint32_t size, const Doc& d) {
  double x;
  bool raw;
  uint64_t bits = 0;
  if (!FloatOf(v, &x, &raw, &bits)) return d.Bad("fill_value", "must be a number, \"NaN\", \"Infinity\" or \"-Infinity\"");
  if (raw) {
    if (size < 8 && bits >> (size * 8)) return d.Bad("fill_value", "has more bits than the data type");
    if (size == 2) return Element(uint16_t(bits), dt.big_endian);
    if (size == 4) return Element(uint32_t(bits), dt.big_endian);
    return Element(bits, dt.big_endian);
  }
  if (size == 2) return Element(ToHalf(x), dt.big_endian);
  if (size == 4) return Element(static_cast<float>(x), dt.big_endian);
  return Element(x, dt.big_endian);
}

Result<std::string> FillElement(dom::element v, const DataType& dt, const Doc& d) {
  if (v.is_null()) return std::string();
  auto bad = [&](std::string_view what) { return d.Bad("fill_value", what); };
  switch (dt.kind) {
    case 'b': {
      bool b;
      int64_t i;
      if (!v.get_bool().get(b)) return std::string(1, b ? '\1' : '\0');
      if (!v.get_int64().get(i) && (i == 0 || i == 1)) return std::string(1, char(i));
      return bad("must be true or false");
    }
    case 'i':
    case 'u':
    case 'M':
    case 'm': {
      int64_t i = 0;
      uint64_t u = 0;
      double f;
      std::string_view s;
      bool is_unsigned = false;
      if (!v.get_int64().get(i)) {
      } else if (!v.get_uint64().get(u)) {
        is_unsigned = true;
      } else if (v.is_double() && !v.get_double().get(f) && f == std::floor(f) && f >= -9.3e18 && f <= 9.2e18) {
        i = static_cast<int64_t>(f);
      } else if ((dt.kind == 'M' || dt.kind == 'm') && !v.get_string().get(s) && s == "NaT") {
        i = std::numeric_limits<int64_t>::min();
      } else {
        return bad("must be an integer");
      }
      // In range of the type?
      const unsigned bitsz = dt.size * 8;
      if (dt.kind == 'u') {
        if (!is_unsigned && i < 0) return bad("is negative for an unsigned type");
        if (!is_unsigned) u = uint64_t(i);
        if (bitsz < 64 && u >> bitsz) return bad("is out of range of " + dt.ToString());
      } else {
        if (is_unsigned) return bad("is out of range of " + dt.ToString());
        if (bitsz < 64 && (i < -(int64_t(1) << (bitsz - 1)) || i >= (int64_t(1) << (bitsz - 1))))
          return bad("is out of range of " + dt.ToString());
        u = uint64_t(i);
      }
      switch (dt.size) {
        case 1: return std::string(1, char(u));
        case 2: return Element(uint16_t(u), dt.big_endian);
        case 4: return Element(uint32_t(u), dt.big_endian);
        default: return Element(u, dt.big_endian);
      }
    }
    case 'f': return FloatElement(v, dt, dt.size, d);
    case 'c': {
      // [real, imaginary]; a plain number is real.
      dom::array arr;
      DataType half = dt;
      half.size = dt.size / 2;
      if (!v.get_array().get(arr)) {
        if (arr.size() != 2) return bad("must be [real, imaginary]");
        ZM_ASSIGN_OR_RETURN(std::string re, FloatElement(arr.at(0).value_unsafe(), half, half.size, d));
        ZM_ASSIGN_OR_RETURN(std::string im, FloatElement(arr.at(1).value_unsafe(), half, half.size, d));
        return re + im;
      }
      ZM_ASSIGN_OR_RETURN(std::string re, FloatElement(v, half, half.size, d));
      return re + std::string(half.size, '\0');
    }
    case 'S':
    case 'V': {
      // Zarr v2 writes bytes as base64; v3 raw types as a list of bytes.
      std::string_view s;
      dom::array arr;
      int64_t zero;
      std::string bytes;
      if (!v.get_string().get(s)) {
        auto b = DecodeBase64(s);
        if (!b.ok()) return bad("is not base64");
        bytes = std::move(b).value();
      } else if (!v.get_array().get(arr)) {
        for (auto x : arr) {
          uint64_t byte;
          if (x.get_uint64().get(byte) || byte > 255) return bad("must be a list of bytes");
          bytes += char(byte);
        }
      } else if (!v.get_int64().get(zero) && zero == 0) {
      } else {
        return bad("must be a base64 string");
      }
      if (bytes.size() > dt.size) return bad("is longer than the data type");
      bytes.resize(dt.size, '\0');
      return bytes;
    }
    case 'U': {
      std::string_view s;
      int64_t zero;
      if (!v.get_int64().get(zero) && zero == 0) return std::string(dt.size, '\0');
      if (v.get_string().get(s)) return bad("must be a string");
      // UTF-8 to UTF-32 in the data type's byte order.
      std::string out;
      for (size_t i = 0; i < s.size();) {
        unsigned char c = s[i];
        uint32_t cp;
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > s.size()) return bad("is not UTF-8");
        cp = len == 1 ? c : c & (0x3F >> (len - 1));
        for (size_t k = 1; k < len; ++k) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        out += Element(cp, dt.big_endian);
        i += len;
      }
      if (out.size() > dt.size) return bad("is longer than the data type");
      out.resize(dt.size, '\0');
      return out;
    }
  }
  return bad("is not supported for " + dt.ToString());
}

Result<dom::element> ParseDoc(dom::parser& parser, std::string_view json, const char* name) {
  dom::element doc;
  if (auto e = parser.parse(json.data(), json.size()).get(doc))
    return InvalidArgument(std::string(name) + ": invalid JSON (" + simdjson::error_message(e) + ")");
  if (!doc.is_object()) return InvalidArgument(std::string(name) + ": not a JSON object");
  return doc;
}

}  // namespace

Result<ZarrArrayMeta> ParseZarrArray(std::string_view json) {
  const Doc d{".zarray"};
  dom::parser parser;
  ZM_ASSIGN_OR_RETURN(dom::element doc, ParseDoc(parser, json, d.name));
  ZarrArrayMeta meta;
  meta.chunk.zarr_format = 2;
  dom::element v;
  if (!doc["zarr_format"].get(v)) {
    int64_t f;
    if (v.get_int64().get(f) || f != 2) return d.Bad("zarr_format", "must be 2");
  }
  if (doc["shape"].get(v)) return d.Bad("shape", "is missing");
  ZM_RETURN_IF_ERROR(ReadDims(d, v, "shape", &meta.shape));
  if (doc["chunks"].get(v)) return d.Bad("chunks", "is missing");
  ZM_RETURN_IF_ERROR(ReadDims(d, v, "chunks", &meta.chunks));
  if (meta.shape.size() != meta.chunks.size()) return d.Bad("chunks", "and 'shape' differ in length");
  for (uint64_t c : meta.chunks)
    if (c == 0 && !meta.shape.empty()) return d.Bad("chunks", "must be positive");
  meta.chunk.chunk_shape = meta.chunks;

  std::string_view s;
  if (doc["dtype"].get(v)) return d.Bad("dtype", "is missing");
  if (v.get_string().get(s)) return d.Bad("dtype", v.is_array() ? "is a structured type, which is not supported" : "must be a string");
  auto dt = ParseDataType(s);
  if (!dt.ok()) return InvalidArgument(std::string(d.name) + ": 'dtype' " + dt.status().message());
  meta.chunk.dtype = *dt;

  if (!doc["order"].get(v)) {
    if (v.get_string().get(s) || (s != "C" && s != "F")) return d.Bad("order", "must be \"C\" or \"F\"");
    meta.chunk.order = s[0];
  }
  if (!doc["dimension_separator"].get(v)) {
    if (v.get_string().get(s) || (s != "." && s != "/")) return d.Bad("dimension_separator", "must be \".\" or \"/\"");
    meta.key_encoding = ChunkKeyEncoding::V2(s[0]);
  }
  if (!doc["fill_value"].get(v)) {
    ZM_ASSIGN_OR_RETURN(meta.chunk.fill_element, FillElement(v, meta.chunk.dtype, d));
  }
  auto codec = [&](dom::element c, const char* field) -> Status {
    dom::object obj;
    std::string_view id;
    if (c.get_object().get(obj) || obj["id"].get_string().get(id))
      return d.Bad(field, "must be null or codec objects with an \"id\"");
    CodecConfig cfg;
    cfg.id = std::string(id);
    ReadParams(obj, "id", &cfg);
    meta.chunk.codecs.push_back(std::move(cfg));
    return Status::Ok();
  };
  if (!doc["filters"].get(v) && !v.is_null()) {
    dom::array arr;
    if (v.get_array().get(arr)) return d.Bad("filters", "must be null or a list");
    for (auto f : arr) ZM_RETURN_IF_ERROR(codec(f, "filters"));
  }
  if (!doc["compressor"].get(v) && !v.is_null()) ZM_RETURN_IF_ERROR(codec(v, "compressor"));
  return meta;
}

Result<ZarrArrayMeta> ParseZarrV3Array(std::string_view json) {
  const Doc d{"zarr.json"};
  dom::parser parser;
  ZM_ASSIGN_OR_RETURN(dom::element doc, ParseDoc(parser, json, d.name));
  ZarrArrayMeta meta;
  meta.chunk.zarr_format = 3;
  dom::element v;
  int64_t f;
  std::string_view s;
  if (doc["zarr_format"].get(v) || v.get_int64().get(f) || f != 3) return d.Bad("zarr_format", "must be 3");
  if (doc["node_type"].get(v) || v.get_string().get(s)) return d.Bad("node_type", "is missing");
  if (s != "array") return d.Bad("node_type", "is \"" + std::string(s) + "\", not \"array\"");
  if (doc["shape"].get(v)) return d.Bad("shape", "is missing");
  ZM_RETURN_IF_ERROR(ReadDims(d, v, "shape", &meta.shape));

  if (doc["data_type"].get(v)) return d.Bad("data_type", "is missing");
  if (v.get_string().get(s)) return d.Bad("data_type", "must be a string (extension data types are not supported)");
  auto dt = ParseDataTypeV3(s);
  if (!dt.ok()) return InvalidArgument(std::string(d.name) + ": " + dt.status().message());
  meta.chunk.dtype = *dt;

  dom::object grid;
  if (doc["chunk_grid"].get(v) || v.get_object().get(grid)) return d.Bad("chunk_grid", "is missing");
  if (grid["name"].get_string().get(s) || s != "regular") return d.Bad("chunk_grid", "must be the \"regular\" grid");
  if (grid["configuration"]["chunk_shape"].get(v)) return d.Bad("chunk_grid", "has no chunk_shape");
  ZM_RETURN_IF_ERROR(ReadDims(d, v, "chunk_shape", &meta.chunks));
  if (meta.chunks.size() != meta.shape.size()) return d.Bad("chunk_shape", "and 'shape' differ in length");
  for (uint64_t c : meta.chunks)
    if (c == 0) return d.Bad("chunk_shape", "must be positive");
  meta.chunk.chunk_shape = meta.chunks;

  // The default encoding: "c/0/1"; "v2": "0.1".
  meta.key_encoding = ChunkKeyEncoding::V3Default('/');
  if (!doc["chunk_key_encoding"].get(v)) {
    dom::object enc;
    if (v.get_object().get(enc) || enc["name"].get_string().get(s)) return d.Bad("chunk_key_encoding", "must be an object with a name");
    if (s == "v2") {
      meta.key_encoding = ChunkKeyEncoding::V2('.');
    } else if (s != "default") {
      return d.Bad("chunk_key_encoding", "\"" + std::string(s) + "\" is not supported");
    }
    dom::element sep;
    if (!enc["configuration"]["separator"].get(sep)) {
      if (sep.get_string().get(s) || (s != "." && s != "/")) return d.Bad("chunk_key_encoding", "separator must be \".\" or \"/\"");
      meta.key_encoding.separator = s[0];
    }
  }
  if (doc["fill_value"].get(v)) return d.Bad("fill_value", "is missing");
  ZM_ASSIGN_OR_RETURN(meta.chunk.fill_element, FillElement(v, meta.chunk.dtype, d));

  if (doc["codecs"].get(v)) return d.Bad("codecs", "must be a list");
  std::vector<std::optional<dom::object>> codec_configs;
  ZM_RETURN_IF_ERROR(ReadV3Codecs(d, v, "codecs", &meta.chunk.codecs, &codec_configs));
  for (size_t i = 0; i < meta.chunk.codecs.size(); ++i) {
    if (meta.chunk.codecs[i].id != "sharding_indexed") continue;
    ShardingSpec spec;
    spec.unsupported = codec_configs[i] ? ReadSharding(*codec_configs[i], meta.chunks, &spec)
                                        : "sharding_indexed has no configuration";
    // Inner chunks are read by range only when the shard is the stored
    // object as is: no codec before or after sharding_indexed.
    if (meta.chunk.codecs.size() != 1 && spec.unsupported.empty())
      spec.unsupported = "sharding_indexed with other codecs around it is not supported";
    meta.sharding = std::move(spec);
  }
  if (!doc["storage_transformers"].get(v)) {
    dom::array arr;
    if (v.get_array().get(arr)) return d.Bad("storage_transformers", "must be a list");
    if (arr.size() != 0) return d.Bad("storage_transformers", "are not supported");
  }
  if (!doc["dimension_names"].get(v) && !v.is_null()) {
    dom::array arr;
    if (v.get_array().get(arr)) return d.Bad("dimension_names", "must be a list");
    for (auto n : arr) {
      if (n.is_null()) meta.dimension_names.emplace_back();
      else if (!n.get_string().get(s)) meta.dimension_names.emplace_back(s);
      else return d.Bad("dimension_names", "must be strings or null");
    }
    if (meta.dimension_names.size() != meta.shape.size()) return d.Bad("dimension_names", "and 'shape' differ in length");
  }
  return meta;
}

Result<std::string> ParseZarrV3NodeType(std::string_view json) {
  dom::parser parser;
  ZM_ASSIGN_OR_RETURN(dom::element doc, ParseDoc(parser, json, "zarr.json"));
  std::string_view s;
  if (doc["node_type"].get_string().get(s)) return InvalidArgument("zarr.json: 'node_type' is missing");
  return std::string(s);
}

Result<ZarrNode> ReadZarrNode(const ZarrDocumentReader& read) {
  ZarrNode node;
  ZM_ASSIGN_OR_RETURN(std::optional<std::string> doc, read(kZarrV2ArrayDocument));
  const bool v2 = doc.has_value();
  if (!v2) {
    ZM_ASSIGN_OR_RETURN(doc, read(kZarrV3Document));
    if (!doc) return node;  // neither: not an array
  }
  node.document = std::move(*doc);
  Result<ZarrArrayMeta> meta = v2 ? ParseZarrArray(node.document) : ParseZarrV3Array(node.document);
  if (meta.ok()) {
    node.kind = ZarrNode::Kind::kArray;
    node.array = std::move(meta).value();
    return node;
  }
  // A v3 group is no array; any other zarr.json that does not parse is an
  // array whose metadata cannot be read.
  if (!v2) {
    auto node_type = ParseZarrV3NodeType(node.document);
    if (node_type.ok() && *node_type == "group") return node;
  }
  node.kind = ZarrNode::Kind::kBadArray;
  node.error = meta.status();
  return node;
}

Result<std::vector<ZarrAttribute>> ParseZarrAttrs(std::string_view json) {
  dom::parser parser;
  ZM_ASSIGN_OR_RETURN(dom::element doc, ParseDoc(parser, json, "attributes"));
  dom::object obj = doc.get_object().value_unsafe();
  // A v3 zarr.json keeps its attributes in one member.
  int64_t f;
  dom::element nt;
  if (!obj["zarr_format"].get_int64().get(f) && f == 3 && !obj["node_type"].get(nt)) {
    dom::element a;
    if (obj["attributes"].get(a)) return std::vector<ZarrAttribute>{};
    if (a.get_object().get(obj)) return InvalidArgument("zarr.json: 'attributes' must be an object");
  }
  std::vector<ZarrAttribute> out;
  for (auto [key, value] : obj) {
    ZarrAttribute a;
    a.name = std::string(key);
    std::string_view s;
    dom::array arr;
    auto add_number = [&](dom::element x) {
      int64_t i;
      double dv;
      if (!x.get_int64().get(i)) {
        a.ints.push_back(i);
        a.floats.push_back(double(i));
        return true;
      }
      if (x.is_number() && !x.get_double().get(dv)) {
        a.floats.push_back(dv);
        a.kind = ZarrAttribute::Kind::kFloats;
        return true;
      }
      return false;
    };
    bool numbers = false;
    if (!value.get_string().get(s)) {
      a.kind = ZarrAttribute::Kind::kString;
      a.text = std::string(s);
    } else if (value.is_number()) {
      a.kind = ZarrAttribute::Kind::kInts;
      numbers = add_number(value);
    } else if (!value.get_array().get(arr) && arr.size() > 0) {
      a.kind = ZarrAttribute::Kind::kInts;
      numbers = true;
      for (auto x : arr)
        if (!add_number(x)) {
          numbers = false;
          break;
        }
    }
    if (a.kind != ZarrAttribute::Kind::kString) {
      if (numbers) {
        if (a.kind == ZarrAttribute::Kind::kInts) a.floats.clear();
        else a.ints.clear();
      } else {
        a.kind = ZarrAttribute::Kind::kOther;
        a.ints.clear();
        a.floats.clear();
        a.text = simdjson::minify(value);
      }
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace zm
