#include "refs/aggregate.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include "codecs/pipeline.h"
#include "zarr/dimension_names.h"
#include "zarr/metadata.h"

namespace zm {
namespace {

std::string_view BaseName(std::string_view key) {
  size_t slash = key.rfind('/');
  return slash == std::string_view::npos ? key : key.substr(slash + 1);
}

std::string Join(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string s(dir);
  s += '/';
  s += name;
  return s;
}

// The JSON object `text` as (key, minified value) pairs, in document order.
Result<std::vector<std::pair<std::string, std::string>>> ObjectFields(std::string_view text,
                                                                     const std::string& what) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (parser.parse(text.data(), text.size()).get(doc) || doc.get_object().get(obj))
    return InvalidArgument(what + ": not a JSON object");
  std::vector<std::pair<std::string, std::string>> out;
  for (auto field : obj) out.emplace_back(std::string(field.key), simdjson::minify(field.value));
  return out;
}

std::string Fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out = "{";
  for (const auto& [k, v] : fields) {
    if (out.size() > 1) out += ", ";
    out += "\"" + k + "\": " + v;  // keys came out of a JSON object: already escaped text
  }
  return out + "}";
}

std::string IntList(const std::vector<uint64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// .zarray with some fields replaced (by raw JSON), order kept; fields not
// present are appended.
Result<std::string> RewriteZarray(std::string_view text,
                                  const std::vector<std::pair<std::string, std::string>>& repl,
                                  const std::string& what) {
  ZM_ASSIGN_OR_RETURN(auto fields, ObjectFields(text, what));
  for (const auto& [k, v] : repl) {
    const std::string& key = k;  // clang 14 cannot capture a structured binding
    auto it = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.first == key; });
    if (it == fields.end())
      fields.emplace_back(k, v);
    else
      it->second = v;
  }
  return Fields(fields);
}

// Strings of a JSON list ("_ARRAY_DIMENSIONS" of .zattrs), or empty; each
// as its path from the root ("/time" is "time", see zarr/dimension_names.h),
// so a --concat dimension names a root dimension however it is spelled.
std::vector<std::string> ArrayDimensions(std::string_view zattrs) {
  std::vector<std::string> dims;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::array arr;
  if (parser.parse(zattrs.data(), zattrs.size()).get(doc) ||
      doc["_ARRAY_DIMENSIONS"].get_array().get(arr))
    return dims;
  for (auto v : arr) {
    std::string_view s;
    if (v.get_string().get(s)) return {};
    dims.push_back(DimensionPath(s));
  }
  return dims;
}

// A string attribute of .zattrs, or "" when absent.
std::string StringAttr(std::string_view zattrs, const char* name) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view s;
  if (parser.parse(zattrs.data(), zattrs.size()).get(doc) || doc[name].get_string().get(s))
    return "";
  return std::string(s);
}

template <typename T>
T Load(const char* p, bool swap) {
  T v;
  char b[sizeof(T)];
  std::memcpy(b, p, sizeof(T));
  if (swap) std::reverse(b, b + sizeof(T));
  std::memcpy(&v, b, sizeof(T));
  return v;
}

// Coordinate elements as numbers to order them. long double holds every
// int64, uint64 and double exactly (x87 80-bit on amd64, binary128 on
// arm64), so equal and ordered mean the same as for the stored values.
Result<std::vector<long double>> ToNumbers(std::string_view bytes, const DataType& t) {
  bool swap = t.big_endian && t.size > 1;
  size_t n = bytes.size() / t.size;
  std::vector<long double> out(n);
  const char* p = bytes.data();
  for (size_t i = 0; i < n; ++i, p += t.size) {
    long double v;
    switch (t.kind) {
      case 'i':
      case 'M':
      case 'm':
        if (t.size == 1) v = Load<int8_t>(p, false);
        else if (t.size == 2) v = Load<int16_t>(p, swap);
        else if (t.size == 4) v = Load<int32_t>(p, swap);
        else if (t.size == 8) v = Load<int64_t>(p, swap);
        else return InvalidArgument("dtype " + t.ToString() + " cannot be ordered");
        break;
      case 'u':
        if (t.size == 1) v = Load<uint8_t>(p, false);
        else if (t.size == 2) v = Load<uint16_t>(p, swap);
        else if (t.size == 4) v = Load<uint32_t>(p, swap);
        else if (t.size == 8) v = Load<uint64_t>(p, swap);
        else return InvalidArgument("dtype " + t.ToString() + " cannot be ordered");
        break;
      case 'f':
        if (t.size == 4) v = Load<float>(p, swap);
        else if (t.size == 8) v = Load<double>(p, swap);
        else return InvalidArgument("dtype " + t.ToString() + " cannot be ordered");
        break;
      default:
        return InvalidArgument("dtype " + t.ToString() + " cannot be ordered");
    }
    out[i] = v;
  }
  return out;
}

std::string Num(long double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17Lg", v);
  return buf;
}

std::string Q(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

struct Aggregator::Impl {
  AggregateOptions options;
  ByteFetcher fetch;

  // One array of the inputs (all inputs hold the same ones).
  struct Array {
    std::string path;
    std::string canonical;          // .zarray, shape along concat dims left out
    std::vector<int> concat_pos;    // per concat dim: its axis here, or -1
    bool concat = false;            // has a concat dim
    bool coordinate = false;        // is a concat dim's coordinate
    ZarrArrayMeta meta;             // of the first input added
    std::string values;             // identical arrays: decoded chunks of the first input
    bool compare_values = false;
  };
  std::vector<Array> arrays;
  std::unordered_map<std::string, uint32_t> array_index;
  std::string first_added;  // name of the input the others are compared with
  std::vector<std::string> coord_units, coord_calendar;

  // Along one concat dim, inputs with the same values form a block.
  struct Block {
    std::vector<long double> values;
    std::string raw;     // the elements as stored (dtype of the coordinate)
    uint32_t input;      // the first input seen with these values
    uint64_t offset = 0;  // elements before it, after ordering
    uint32_t rank = 0;
  };
  std::vector<std::vector<Block>> blocks;                       // per dim
  std::vector<std::map<long double, uint32_t>> block_by_first;  // per dim

  struct Input {
    std::string name;
    std::vector<uint32_t> block;  // per dim
  };
  std::vector<Input> inputs;

  struct Chunk {
    uint32_t input;
    uint32_t array;
    uint64_t key_off;  // into chunk_keys: the key relative to its array
    uint32_t key_len;
    uint32_t url;      // kInlineUrl: bytes in inline_bytes
    uint64_t offset;
    uint64_t size;
  };
  std::vector<Chunk> chunks;
  std::string chunk_keys;
  std::string inline_bytes;
  std::vector<std::string> urls;
  std::unordered_map<std::string, uint32_t> url_ids;

  // Everything but the concatenated chunks, of the first input in order so
  // far (replaced when an earlier one comes).
  struct Rest {
    std::string key;
    uint32_t url;  // kInlineUrl: data holds the bytes
    std::string data;
    uint64_t offset, size;
  };
  std::vector<Rest> rest;
  int64_t first_input = -1;
  std::vector<long double> first_key;

  uint32_t UrlId(const std::string& url) {
    auto [it, inserted] = url_ids.try_emplace(url, static_cast<uint32_t>(urls.size()));
    if (inserted) urls.push_back(url);
    return it->second;
  }

  // The stored bytes of `key` in `input`, or nullopt if not stored.
  Result<std::optional<std::string>> Stored(const ReferenceIndex& input, const std::string& key) {
    auto f = input.FindKey(key);
    if (!f) return std::optional<std::string>();
    auto t = input.target(*f);
    if (t.is_inline()) return std::optional<std::string>(std::string(input.inline_data(*f)));
    auto bytes = fetch(input.url(t.url_id), t.offset, t.size);
    if (!bytes.ok()) return bytes.status().WithContext(Q(key));
    return std::optional<std::string>(std::move(bytes).value());
  }

  // Every chunk of the array decoded (fill for missing ones), in grid order.
  Result<std::string> DecodeAll(const ReferenceIndex& input, const std::string& path,
                                const ZarrArrayMeta& meta) {
    auto decoder = ChunkDecoder::Make(meta.chunk);
    if (!decoder.ok()) return decoder.status().WithContext(Q(path));
    auto grid = meta.Grid();
    if (!grid.ok()) return grid.status().WithContext(Q(path));
    std::string out;
    for (uint64_t n = 0; n < grid->chunk_count(); ++n) {
      std::string key = Join(path, meta.ChunkKey(grid->GridIndex(n)));
      ZM_ASSIGN_OR_RETURN(auto stored, Stored(input, key));
      if (stored) {
        auto dec = (*decoder)->Decode(*stored);
        if (!dec.ok()) return dec.status().WithContext(Q(key));
        out += *dec;
      } else {
        out += (*decoder)->FillChunk();
      }
    }
    return out;
  }

  // The arrays of the input being added.
  struct FoundArray {
    std::string path;
    std::string zarray, zattrs;  // v3: zarr.json, and its "attributes"
    ZarrArrayMeta meta;
    std::vector<std::string> dims;  // _ARRAY_DIMENSIONS
  };
  struct InputArrays {
    std::vector<FoundArray> list;
    std::unordered_map<std::string, size_t> by_path;  // into list
    std::vector<uint32_t> to_array;                   // per entry of list: into arrays
  };

  // The steps of Add, in order.
  Result<InputArrays> FindArrays(const ReferenceIndex& in) const;
  Status ReadV3Array(FoundArray* a) const;
  Status PlaceAlongDim(size_t d, const ReferenceIndex& in, const InputArrays& here,
                       uint32_t input_id, uint32_t* block, uint64_t* coord_len);
  Status CheckCoordinateAttrs(size_t d, const FoundArray& c, bool is_first_added);
  Result<std::vector<long double>> CoordinateValues(const ReferenceIndex& in, const FoundArray& c,
                                                    size_t d, std::string* raw);
  Status JoinBlock(size_t d, std::vector<long double> values, std::string raw, uint32_t input_id,
                   uint32_t* block);
  Status MatchArrays(InputArrays* here, const std::vector<uint64_t>& coord_len,
                     bool is_first_added);
  Result<std::vector<int>> ConcatPositions(const FoundArray& a,
                                           const std::vector<uint64_t>& coord_len) const;
  Result<std::string> CanonicalZarray(const FoundArray& a, const std::vector<int>& pos) const;
  uint32_t RegisterArray(const FoundArray& a, std::vector<int> pos, std::string canonical);
  Result<uint32_t> MatchArray(const FoundArray& a, const std::vector<int>& pos,
                              const std::string& canonical) const;
  Status CheckIdenticalArraysNamed() const;
  Status CompareIdenticalArrays(const ReferenceIndex& in, const InputArrays& here,
                                bool is_first_added);
  bool TakeFirstPlace(uint32_t input_id, const std::vector<uint32_t>& block);
  void KeepReferences(const ReferenceIndex& in, const InputArrays& here, uint32_t input_id,
                      bool becomes_first);
  std::optional<std::pair<uint32_t, size_t>> OwnerOf(std::string_view key,
                                                     const InputArrays& here) const;

  // The steps of Finish, in order, and what they write with.
  struct ResultWriter {
    ResultWriter(ReferenceIndexBuilder* b, const std::vector<std::string>& u)
        : builder(b), urls(u), url_map(u.size(), ReferenceIndex::kInlineUrl) {}
    // One reference: inline bytes when `url` is kInlineUrl, else a range
    // (or the whole object) of urls[url].
    void Add(const std::string& key, uint32_t url, std::string_view data, uint64_t offset,
             uint64_t size);
    ReferenceIndexBuilder* builder;
    const std::vector<std::string>& urls;
    std::vector<uint32_t> url_map;  // urls id -> the result's, kInlineUrl until used
  };
  Status OrderBlocks(size_t d);
  Status CheckOneInputPerPosition() const;
  Status CheckWholeChunks() const;
  Status AddRest(ResultWriter* out) const;
  Result<std::string> ConcatenatedZarray(const Array& arr, const std::vector<uint64_t>& totals,
                                         const Rest& r) const;
  void AddCoordinates(ReferenceIndexBuilder* builder) const;
  Status AddChunks(ResultWriter* out) const;

  Status Add(const std::string& name, const ReferenceIndex& in);
  Result<ReferenceIndex> Finish();
};

Aggregator::Aggregator(AggregateOptions options, ByteFetcher fetch) : impl_(new Impl) {
  impl_->options = std::move(options);
  impl_->fetch = std::move(fetch);
  size_t n = impl_->options.concat_dims.size();
  impl_->blocks.resize(n);
  impl_->block_by_first.resize(n);
  impl_->coord_units.resize(n);
  impl_->coord_calendar.resize(n);
}
Aggregator::~Aggregator() = default;
size_t Aggregator::input_count() const { return impl_->inputs.size(); }
Status Aggregator::Add(const std::string& name, const ReferenceIndex& input) {
  Status st = impl_->Add(name, input);
  return st.ok() ? st : st.WithContext(name);
}
Result<ReferenceIndex> Aggregator::Finish() { return impl_->Finish(); }

Status Aggregator::Impl::Add(const std::string& name, const ReferenceIndex& in) {
  const size_t ndims = options.concat_dims.size();
  const uint32_t input_id = static_cast<uint32_t>(inputs.size());
  const bool is_first_added = input_id == 0;

  ZM_ASSIGN_OR_RETURN(InputArrays here, FindArrays(in));
  Input input{name, std::vector<uint32_t>(ndims)};
  std::vector<uint64_t> coord_len(ndims);
  for (size_t d = 0; d < ndims; ++d)
    ZM_RETURN_IF_ERROR(PlaceAlongDim(d, in, here, input_id, &input.block[d], &coord_len[d]));
  ZM_RETURN_IF_ERROR(MatchArrays(&here, coord_len, is_first_added));
  if (is_first_added) {
    first_added = name;
    ZM_RETURN_IF_ERROR(CheckIdenticalArraysNamed());
  }
  ZM_RETURN_IF_ERROR(CompareIdenticalArrays(in, here, is_first_added));
  const bool becomes_first = TakeFirstPlace(input_id, input.block);
  KeepReferences(in, here, input_id, becomes_first);
  inputs.push_back(std::move(input));
  return Status::Ok();
}

// Step 1: the arrays of the input (Zarr v2 .zarray, or v3 zarr.json of
// node_type "array"), with their metadata.
Result<Aggregator::Impl::InputArrays> Aggregator::Impl::FindArrays(const ReferenceIndex& in) const {
  InputArrays here;
  for (ReferenceIndex::FileId f = 0; f < in.file_count(); ++f) {
    std::string_view base = in.file_name(f);
    if (base != kZarrV2ArrayDocument && base != kZarrV3Document) continue;
    FoundArray a;
    a.path = in.DirPath(in.file_dir(f));
    if (!in.target(f).is_inline())
      return InvalidArgument(Q(Join(a.path, std::string(base))) + " is not inline metadata");
    a.zarray = std::string(in.inline_data(f));
    if (base == kZarrV3Document) {
      auto type = ParseZarrV3NodeType(a.zarray);
      if (!type.ok()) return type.status().WithContext(Q(a.path));
      if (*type != "array") continue;
      ZM_RETURN_IF_ERROR(ReadV3Array(&a));
    } else {
      auto meta = ParseZarrArray(a.zarray);
      if (!meta.ok()) return meta.status().WithContext(Q(a.path));
      a.meta = std::move(meta).value();
      if (auto za = in.FindKey(Join(a.path, ".zattrs")); za && in.target(*za).is_inline())
        a.zattrs = std::string(in.inline_data(*za));
      a.dims = ArrayDimensions(a.zattrs);
    }
    here.by_path[a.path] = here.list.size();
    here.list.push_back(std::move(a));
  }
  return here;
}

// A v3 array's metadata, its "attributes" (as .zattrs would hold them)
// and its dimension names (dimension_names, else _ARRAY_DIMENSIONS).
Status Aggregator::Impl::ReadV3Array(FoundArray* a) const {
  auto meta = ParseZarrV3Array(a->zarray);
  if (!meta.ok()) return meta.status().WithContext(Q(a->path));
  a->meta = std::move(meta).value();
  ZM_ASSIGN_OR_RETURN(auto fields, ObjectFields(a->zarray, Q(Join(a->path, "zarr.json"))));
  for (const auto& [k, v] : fields)
    if (k == "attributes") a->zattrs = v;
  if (!a->meta.dimension_names.empty() &&
      std::none_of(a->meta.dimension_names.begin(), a->meta.dimension_names.end(),
                   [](const std::string& n) { return n.empty(); })) {
    for (const std::string& n : a->meta.dimension_names) a->dims.push_back(DimensionPath(n));
  } else {
    a->dims = ArrayDimensions(a->zattrs);
  }
  return Status::Ok();
}

// Step 2, along concat dim `d`: the input's coordinate values, checked,
// place it in a block.
Status Aggregator::Impl::PlaceAlongDim(size_t d, const ReferenceIndex& in,
                                       const InputArrays& here, uint32_t input_id,
                                       uint32_t* block, uint64_t* coord_len) {
  const std::string& dim = options.concat_dims[d];
  auto it = here.by_path.find(dim);
  if (it == here.by_path.end())
    return InvalidArgument("no coordinate array " + Q(dim) +
                           " (an array named like the --concat dimension, at the root)");
  const FoundArray& c = here.list[it->second];
  if (c.meta.shape.size() != 1)
    return InvalidArgument("coordinate " + Q(dim) + " is not one-dimensional");
  ZM_RETURN_IF_ERROR(CheckCoordinateAttrs(d, c, input_id == 0));
  std::string raw;
  ZM_ASSIGN_OR_RETURN(std::vector<long double> values, CoordinateValues(in, c, d, &raw));
  *coord_len = values.size();
  return JoinBlock(d, std::move(values), std::move(raw), input_id, block);
}

// The coordinate's "units" and "calendar": the first input's, or the same.
Status Aggregator::Impl::CheckCoordinateAttrs(size_t d, const FoundArray& c, bool is_first_added) {
  std::string units = StringAttr(c.zattrs, "units"), cal = StringAttr(c.zattrs, "calendar");
  if (is_first_added) {
    coord_units[d] = units;
    coord_calendar[d] = cal;
  } else if (units != coord_units[d] || cal != coord_calendar[d]) {
    return InvalidArgument("coordinate " + Q(options.concat_dims[d]) + " has units " + Q(units) +
                           (cal.empty() ? "" : " (calendar " + Q(cal) + ")") + ", but " +
                           first_added + " has " + Q(coord_units[d]) +
                           (coord_calendar[d].empty() ? "" : " (calendar " + Q(coord_calendar[d]) + ")"));
  }
  return Status::Ok();
}

// The coordinate's values as numbers (strictly increasing, at least one),
// and as stored in *raw.
Result<std::vector<long double>> Aggregator::Impl::CoordinateValues(const ReferenceIndex& in,
                                                                    const FoundArray& c, size_t d,
                                                                    std::string* raw) {
  const std::string& dim = options.concat_dims[d];
  ZM_ASSIGN_OR_RETURN(*raw, DecodeAll(in, c.path, c.meta));
  const DataType& t = c.meta.chunk.dtype;
  raw->resize(c.meta.shape[0] * t.size);
  // Kept for every input until the aggregate is written: a chunk of an
  // unlimited dimension is typically 1024 values for the one or few a
  // file holds, 4 MiB over 1,000 files.
  raw->shrink_to_fit();
  auto values = ToNumbers(*raw, t);
  if (!values.ok()) return values.status().WithContext("coordinate " + Q(dim));
  if (values->empty()) return InvalidArgument("coordinate " + Q(dim) + " is empty");
  for (size_t i = 1; i < values->size(); ++i)
    if (!((*values)[i - 1] < (*values)[i]))
      return InvalidArgument("the values of coordinate " + Q(dim) +
                             " are not strictly increasing (" + Num((*values)[i - 1]) +
                             " then " + Num((*values)[i]) + ")");
  return values;
}

// The block of inputs whose values along `d` start where these do (which
// must then be the same values), or a new one.
Status Aggregator::Impl::JoinBlock(size_t d, std::vector<long double> values, std::string raw,
                                   uint32_t input_id, uint32_t* block) {
  long double first = values.front();
  auto b = block_by_first[d].find(first);
  if (b != block_by_first[d].end()) {
    const Block& blk = blocks[d][b->second];
    if (blk.raw != raw)
      return InvalidArgument("coordinate " + Q(options.concat_dims[d]) + " starts at " +
                             Num(first) + " like in " + inputs[blk.input].name +
                             ", but the values differ");
    *block = b->second;
    return Status::Ok();
  }
  *block = static_cast<uint32_t>(blocks[d].size());
  block_by_first[d].emplace(first, *block);
  Block blk;
  blk.values = std::move(values);
  blk.raw = std::move(raw);
  blk.input = input_id;
  blocks[d].push_back(std::move(blk));
  return Status::Ok();
}

// Step 3: the same arrays as the first input, alike apart from the shape
// along the concat dims; the first input's become `arrays`.
Status Aggregator::Impl::MatchArrays(InputArrays* here, const std::vector<uint64_t>& coord_len,
                                     bool is_first_added) {
  here->to_array.resize(here->list.size());
  for (size_t i = 0; i < here->list.size(); ++i) {
    const FoundArray& a = here->list[i];
    ZM_ASSIGN_OR_RETURN(std::vector<int> pos, ConcatPositions(a, coord_len));
    ZM_ASSIGN_OR_RETURN(std::string canonical, CanonicalZarray(a, pos));
    if (is_first_added) {
      here->to_array[i] = RegisterArray(a, std::move(pos), std::move(canonical));
    } else {
      ZM_ASSIGN_OR_RETURN(here->to_array[i], MatchArray(a, pos, canonical));
    }
  }
  if (!is_first_added && here->list.size() != arrays.size()) {
    for (const Array& arr : arrays)
      if (!here->by_path.count(arr.path))
        return InvalidArgument("has no array " + Q(arr.path) + ", which " + first_added + " has");
  }
  return Status::Ok();
}

// Per concat dim: the array's axis along it, or -1; the array's extent
// there must be the coordinate's.
Result<std::vector<int>> Aggregator::Impl::ConcatPositions(
    const FoundArray& a, const std::vector<uint64_t>& coord_len) const {
  const auto& dims = options.concat_dims;
  std::vector<int> pos(dims.size(), -1);
  for (size_t d = 0; d < dims.size(); ++d) {
    auto it = std::find(a.dims.begin(), a.dims.end(), dims[d]);
    if (it == a.dims.end()) continue;
    if (a.dims.size() != a.meta.shape.size())
      return InvalidArgument(Q(a.path) + ": _ARRAY_DIMENSIONS and shape differ in length");
    pos[d] = static_cast<int>(it - a.dims.begin());
    if (a.meta.shape[pos[d]] != coord_len[d])
      return InvalidArgument(Q(a.path) + " has " + std::to_string(a.meta.shape[pos[d]]) +
                             " elements along " + Q(dims[d]) + ", but the coordinate has " +
                             std::to_string(coord_len[d]));
  }
  return pos;
}

// The .zarray as compared between inputs: fields sorted, the shape along
// the concat dims left out (and a coordinate's chunks: it is rebuilt as one
// chunk, so its chunking may differ).
Result<std::string> Aggregator::Impl::CanonicalZarray(const FoundArray& a,
                                                      const std::vector<int>& pos) const {
  const auto& dims = options.concat_dims;
  ZM_ASSIGN_OR_RETURN(auto fields, ObjectFields(a.zarray, Q(Join(a.path, ".zarray"))));
  std::vector<uint64_t> shape = a.meta.shape;
  for (int p : pos)
    if (p >= 0) shape[p] = 0;
  const bool is_coordinate = std::find(dims.begin(), dims.end(), a.path) != dims.end();
  for (auto& [k, v] : fields) {
    if (k == "shape") v = IntList(shape);
    if ((k == "chunks" || k == "chunk_grid" || k == "codecs") && is_coordinate) v = "null";
    // v3 attributes are the first input's, as v2's .zattrs are.
    if (k == "attributes") v = "null";
  }
  std::sort(fields.begin(), fields.end());
  return Fields(fields);
}

uint32_t Aggregator::Impl::RegisterArray(const FoundArray& a, std::vector<int> pos,
                                         std::string canonical) {
  const auto& dims = options.concat_dims;
  Array arr;
  arr.path = a.path;
  arr.canonical = std::move(canonical);
  arr.concat = std::any_of(pos.begin(), pos.end(), [](int p) { return p >= 0; });
  arr.concat_pos = std::move(pos);
  arr.coordinate = std::find(dims.begin(), dims.end(), a.path) != dims.end();
  arr.meta = a.meta;
  const uint32_t id = static_cast<uint32_t>(arrays.size());
  array_index[a.path] = id;
  arrays.push_back(std::move(arr));
  return id;
}

Result<uint32_t> Aggregator::Impl::MatchArray(const FoundArray& a, const std::vector<int>& pos,
                                              const std::string& canonical) const {
  auto it = array_index.find(a.path);
  if (it == array_index.end())
    return InvalidArgument("has array " + Q(a.path) + ", which " + first_added + " has not");
  const Array& arr = arrays[it->second];
  if (arr.concat_pos != pos)
    return InvalidArgument("the dimensions of " + Q(a.path) + " differ from those in " +
                           first_added);
  if (arr.canonical != canonical)
    return InvalidArgument(Q(Join(a.path, ".zarray")) + " differs from that of " + first_added +
                           (arr.concat ? " (apart from the concatenated shape)" : ""));
  return it->second;
}

// The arrays named by --identical-dims exist and are not concatenated.
Status Aggregator::Impl::CheckIdenticalArraysNamed() const {
  for (const std::string& want : options.identical_arrays) {
    auto it = array_index.find(want);
    if (it == array_index.end())
      return InvalidArgument("has no array " + Q(want) + " (named by --identical-dims)");
    if (arrays[it->second].concat)
      return InvalidArgument(Q(want) + " has a --concat dimension; it cannot be identical");
  }
  return Status::Ok();
}

// Step 4: identical arrays hold the same values (small ones; the metadata
// was compared for all).
Status Aggregator::Impl::CompareIdenticalArrays(const ReferenceIndex& in, const InputArrays& here,
                                                bool is_first_added) {
  for (const std::string& want : options.identical_arrays) {
    Array& arr = arrays[array_index.at(want)];
    const FoundArray& a = here.list[here.by_path.at(want)];
    auto grid = a.meta.Grid();
    uint64_t bytes;
    if (!grid.ok() ||
        __builtin_mul_overflow(grid->chunk_count(), a.meta.chunk.chunk_bytes(), &bytes) ||
        bytes > options.max_compare_bytes)
      continue;
    ZM_ASSIGN_OR_RETURN(std::string values, DecodeAll(in, a.path, a.meta));
    if (is_first_added) {
      arr.values = std::move(values);
      arr.compare_values = true;
    } else if (arr.compare_values && values != arr.values) {
      return InvalidArgument("the values of " + Q(want) + " differ from those in " + first_added +
                             " (--identical-dims)");
    }
  }
  return Status::Ok();
}

// Step 5: whether the input comes first in order so far; then its keys
// other than concatenated chunks are the ones kept.
bool Aggregator::Impl::TakeFirstPlace(uint32_t input_id, const std::vector<uint32_t>& block) {
  std::vector<long double> key(block.size());
  for (size_t d = 0; d < block.size(); ++d) key[d] = blocks[d][block[d]].values.front();
  if (first_input >= 0 && !(key < first_key)) return false;
  rest.clear();
  first_input = input_id;
  first_key = std::move(key);
  return true;
}

// The array owning `key`: the longest array path that prefixes it, and
// where the key relative to the array starts.
std::optional<std::pair<uint32_t, size_t>> Aggregator::Impl::OwnerOf(
    std::string_view key, const InputArrays& here) const {
  for (size_t cut = key.size();;) {
    size_t slash = cut == 0 ? std::string::npos : key.rfind('/', cut - 1);
    std::string prefix(slash == std::string::npos ? std::string_view() : key.substr(0, slash));
    auto it = here.by_path.find(prefix);
    if (it != here.by_path.end())
      return std::make_pair(here.to_array[it->second],
                            slash == std::string::npos ? size_t{0} : slash + 1);
    if (slash == std::string::npos) return std::nullopt;
    cut = slash;
  }
}

// Step 6: the references. Chunks of concatenated arrays are kept from
// every input; the rest from the first input only.
void Aggregator::Impl::KeepReferences(const ReferenceIndex& in, const InputArrays& here,
                                      uint32_t input_id, bool becomes_first) {
  for (ReferenceIndex::FileId f = 0; f < in.file_count(); ++f) {
    std::string k = in.FileKey(f);
    auto owner = OwnerOf(k, here);
    std::string_view rel = std::string_view(k).substr(owner ? owner->second : 0);
    const bool is_chunk = owner && arrays[owner->first].meta.ParseChunkKey(rel).has_value();
    auto t = in.target(f);
    if (is_chunk && arrays[owner->first].concat) {
      if (arrays[owner->first].coordinate) continue;  // rebuilt inline
      Chunk c{input_id, owner->first, chunk_keys.size(), static_cast<uint32_t>(rel.size()),
              t.url_id, t.offset, t.size};
      chunk_keys.append(rel);
      if (t.is_inline()) {
        c.offset = inline_bytes.size();
        inline_bytes.append(in.inline_data(f));
      } else {
        c.url = UrlId(in.url(t.url_id));
      }
      chunks.push_back(c);
    } else if (becomes_first) {
      // Consolidated metadata would repeat the inputs' shapes: stale here.
      if (BaseName(k) == ".zmetadata") continue;
      Rest r{std::move(k), t.url_id, {}, t.offset, t.size};
      if (t.is_inline())
        r.data = std::string(in.inline_data(f));
      else
        r.url = UrlId(in.url(t.url_id));
      rest.push_back(std::move(r));
    }
  }
}

Result<ReferenceIndex> Aggregator::Impl::Finish() {
  if (inputs.empty()) return InvalidArgument("no reference sets to aggregate");
  for (size_t d = 0; d < options.concat_dims.size(); ++d) ZM_RETURN_IF_ERROR(OrderBlocks(d));
  ZM_RETURN_IF_ERROR(CheckOneInputPerPosition());
  ZM_RETURN_IF_ERROR(CheckWholeChunks());
  ReferenceIndexBuilder builder;
  ResultWriter out(&builder, urls);
  ZM_RETURN_IF_ERROR(AddRest(&out));
  AddCoordinates(&builder);
  ZM_RETURN_IF_ERROR(AddChunks(&out));
  chunks.clear();
  chunks.shrink_to_fit();
  return std::move(builder).Finish();
}

// Step 1, along concat dim `d`: order the blocks by their first value and
// number them; neighbours must not overlap.
Status Aggregator::Impl::OrderBlocks(size_t d) {
  const std::string& dim = options.concat_dims[d];
  std::vector<uint32_t> order(blocks[d].size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return blocks[d][a].values.front() < blocks[d][b].values.front();
  });
  uint64_t offset = 0;
  for (uint32_t r = 0; r < order.size(); ++r) {
    Block& b = blocks[d][order[r]];
    if (r > 0) {
      const Block& prev = blocks[d][order[r - 1]];
      if (!(prev.values.back() < b.values.front()))
        return InvalidArgument(
            "the " + Q(dim) + " values of " + inputs[prev.input].name + " (" +
            Num(prev.values.front()) + " to " + Num(prev.values.back()) + ") and " +
            inputs[b.input].name + " (" + Num(b.values.front()) + " to " +
            Num(b.values.back()) + ") overlap");
    }
    b.rank = r;
    b.offset = offset;
    offset += b.values.size();
  }
  return Status::Ok();
}

// Step 2: one input per position in the grid of blocks (with one dim: two
// inputs with the same values are duplicates).
Status Aggregator::Impl::CheckOneInputPerPosition() const {
  const auto& dims = options.concat_dims;
  std::map<std::vector<uint32_t>, uint32_t> seen;
  for (uint32_t i = 0; i < inputs.size(); ++i) {
    auto [it, inserted] = seen.emplace(inputs[i].block, i);
    if (inserted) continue;
    std::string where;
    for (size_t d = 0; d < dims.size(); ++d)
      where += (d ? ", " : "") + dims[d] + " from " +
               Num(blocks[d][inputs[i].block[d]].values.front());
    return InvalidArgument(inputs[it->second].name + " and " + inputs[i].name +
                           " hold the same coordinates (" + where + ")");
  }
  return Status::Ok();
}

// Step 3: whole chunks along each concat dim, but in the last block.
Status Aggregator::Impl::CheckWholeChunks() const {
  const auto& dims = options.concat_dims;
  for (const Array& arr : arrays) {
    if (!arr.concat || arr.coordinate) continue;
    for (size_t d = 0; d < dims.size(); ++d) {
      int p = arr.concat_pos[d];
      if (p < 0) continue;
      uint64_t c = arr.meta.chunks[p];
      for (const Block& b : blocks[d]) {
        if (b.rank + 1 == blocks[d].size()) continue;
        if (c == 0 || b.values.size() % c != 0)
          return InvalidArgument(inputs[b.input].name + ": " + Q(arr.path) + " has " +
                                 std::to_string(b.values.size()) + " elements along " +
                                 Q(dims[d]) + ", not a whole number of its chunks (" +
                                 std::to_string(c) + "); only the last input along " +
                                 Q(dims[d]) + " may end in a partial chunk");
      }
    }
  }
  return Status::Ok();
}

void Aggregator::Impl::ResultWriter::Add(const std::string& key, uint32_t url,
                                         std::string_view data, uint64_t offset, uint64_t size) {
  if (url == ReferenceIndex::kInlineUrl) {
    builder->AddInline(key, data);
    return;
  }
  // URLs are interned into the result as they are first used.
  if (url_map[url] == ReferenceIndex::kInlineUrl) url_map[url] = builder->InternUrl(urls[url]);
  if (size == ReferenceIndex::kUnknownSize)
    builder->AddWhole(key, url_map[url]);
  else
    builder->AddRange(key, url_map[url], offset, size);
}

// Step 4: the first input's other keys, with the .zarray shapes of
// concatenated arrays updated.
Status Aggregator::Impl::AddRest(ResultWriter* out) const {
  const auto& dims = options.concat_dims;
  std::vector<uint64_t> totals(dims.size());
  for (size_t d = 0; d < dims.size(); ++d)
    for (const Block& b : blocks[d]) totals[d] += b.values.size();
  for (const Rest& r : rest) {
    std::string_view k = r.key;
    if (BaseName(k) == ".zarray" || BaseName(k) == "zarr.json") {
      std::string path(k.substr(0, k.size() - BaseName(k).size()));
      if (!path.empty()) path.pop_back();
      auto it = array_index.find(path);
      if (it != array_index.end() && arrays[it->second].concat) {
        ZM_ASSIGN_OR_RETURN(std::string text, ConcatenatedZarray(arrays[it->second], totals, r));
        out->builder->AddInline(r.key, text);
        continue;
      }
    }
    out->Add(r.key, r.url, r.data, r.offset, r.size);
  }
  return Status::Ok();
}

// The .zarray of a concatenated array: the summed shape; a coordinate is
// one uncompressed chunk, elements as the decoder gave them.
Result<std::string> Aggregator::Impl::ConcatenatedZarray(const Array& arr,
                                                         const std::vector<uint64_t>& totals,
                                                         const Rest& r) const {
  std::vector<std::pair<std::string, std::string>> repl;
  std::vector<uint64_t> shape = arr.meta.shape;
  for (size_t d = 0; d < totals.size(); ++d)
    if (arr.concat_pos[d] >= 0) shape[arr.concat_pos[d]] = totals[d];
  repl.emplace_back("shape", IntList(shape));
  if (arr.coordinate && arr.meta.chunk.zarr_format == 3) {
    // The decoded elements: little-endian, as v3 data types are.
    repl.emplace_back("chunk_grid", "{\"name\": \"regular\", \"configuration\": {\"chunk_shape\": " +
                                        IntList(shape) + "}}");
    repl.emplace_back("codecs", "[{\"name\": \"bytes\", \"configuration\": {\"endian\": \"little\"}}]");
  } else if (arr.coordinate) {
    repl.emplace_back("chunks", IntList(shape));
    repl.emplace_back("compressor", "null");
    repl.emplace_back("filters", "null");
    repl.emplace_back("order", "\"C\"");
  }
  return RewriteZarray(r.data, repl, Q(r.key));
}

// Step 5: each coordinate inline, its blocks' values in order.
void Aggregator::Impl::AddCoordinates(ReferenceIndexBuilder* builder) const {
  const auto& dims = options.concat_dims;
  for (size_t d = 0; d < dims.size(); ++d) {
    std::vector<const Block*> ordered(blocks[d].size());
    for (const Block& b : blocks[d]) ordered[b.rank] = &b;
    std::string raw;
    for (const Block* b : ordered) raw += b->raw;
    // The coordinate's one chunk, keyed in its array's encoding.
    const Array& coord = arrays[array_index.at(dims[d])];
    builder->AddInline(Join(dims[d], coord.meta.ChunkKey({0})), raw);
  }
}

// Step 6: every input's chunks, their keys shifted along each concat dim by
// the chunks of the blocks before the input's.
Status Aggregator::Impl::AddChunks(ResultWriter* out) const {
  const auto& dims = options.concat_dims;
  std::string key;
  for (const Chunk& c : chunks) {
    const Array& arr = arrays[c.array];
    std::string_view rel = std::string_view(chunk_keys).substr(c.key_off, c.key_len);
    std::vector<uint64_t> idx = *arr.meta.ParseChunkKey(rel);  // a chunk key: checked by Add
    for (size_t d = 0; d < dims.size(); ++d) {
      int p = arr.concat_pos[d];
      if (p >= 0) idx[p] += blocks[d][inputs[c.input].block[d]].offset / arr.meta.chunks[p];
    }
    key = Join(arr.path, arr.meta.ChunkKey(idx));
    if (Status st = ReferenceIndexBuilder::ValidateKey(key); !st.ok())
      return st.WithContext(inputs[c.input].name + ": key " + Q(key));
    std::string_view data;
    if (c.url == ReferenceIndex::kInlineUrl) data = std::string_view(inline_bytes).substr(c.offset, c.size);
    out->Add(key, c.url, data, c.offset, c.size);
  }
  return Status::Ok();
}

// ---- writing ------------------------------------------------------------

namespace {

bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    if (n == 2 && c < 0xC2) return false;  // overlong
    if (n == 3) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0)) return false;  // overlong, surrogate
    }
    if (n == 4) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      if ((c == 0xF0 && c1 < 0x90) || c > 0xF4 || (c == 0xF4 && c1 >= 0x90)) return false;
    }
    i += n;
  }
  return true;
}

void AppendBase64(std::string_view in, std::string* out) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) |
                 uint8_t(in[i + 2]);
    out->push_back(kAlphabet[v >> 18]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back(kAlphabet[v & 63]);
  }
  if (i < in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out->push_back(kAlphabet[v >> 18]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out->push_back('=');
  }
}

// A JSON string literal of UTF-8 text: quotes, backslashes and control
// characters escaped.
void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

}  // namespace

Result<std::string> WriteReferencesV1(const ReferenceIndex& index) {
  std::string out = "{\"version\": 1, \"templates\": {";
  for (uint32_t u = 0; u < index.url_count(); ++u) {
    const std::string& url = index.url(u);
    if (url.find("{{") != std::string::npos)
      return InvalidArgument("URL " + Q(url) + " contains '{{' and would read as a template");
    if (url.find('{') != std::string::npos || url.find('}') != std::string::npos)
      continue;  // written as is: a template would not survive fsspec's str.format
    if (out.back() != '{') out += ", ";
    AppendJsonString("u" + std::to_string(u), &out);
    out += ": ";
    AppendJsonString(url, &out);
  }
  out += "},\n\"refs\": {";
  std::string key;
  for (ReferenceIndex::FileId f = 0; f < index.file_count(); ++f) {
    out += f ? ",\n" : "\n";
    AppendJsonString(index.FileKey(f), &out);
    out += ": ";
    auto t = index.target(f);
    if (t.is_inline()) {
      std::string_view data = index.inline_data(f);
      if (IsUtf8(data) && !data.starts_with("base64:")) {
        AppendJsonString(data, &out);
      } else {
        out += "\"base64:";
        AppendBase64(data, &out);
        out += '"';
      }
      continue;
    }
    const std::string& url = index.url(t.url_id);
    out += '[';
    if (url.find('{') != std::string::npos || url.find('}') != std::string::npos)
      AppendJsonString(url, &out);
    else
      out += "\"{{u" + std::to_string(t.url_id) + "}}\"";
    if (t.size != ReferenceIndex::kUnknownSize)
      out += ", " + std::to_string(t.offset) + ", " + std::to_string(t.size);
    out += ']';
  }
  out += "\n}}\n";
  return out;
}

}  // namespace zm
