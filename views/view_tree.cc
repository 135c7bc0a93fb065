#include "views/view_tree.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>

#include "base/log.h"
#include "fs/chunk_walk.h"
#include "codecs/pipeline.h"
#include "fs/zarr_node.h"
#include "views/netcdf.h"
#include "views/npy.h"
#include "zarr/dimension_names.h"

namespace zm {

struct ViewFilesystem::Array {
  std::string path;  // the array's directory in the store ("" for a root array)
  std::string name;  // its last component
  ZarrArrayMeta meta;
  // The grid the view decodes: the array's chunks, or a sharded array's
  // inner chunks (chunk numbering shared with `region`).
  std::unique_ptr<ChunkGrid> grid;
  std::unique_ptr<ChunkDecoder> decoder;
  std::vector<ZarrAttribute> attrs;
  std::unique_ptr<ArrayRegion> region;
  uint32_t id = 0;
  // Walks through the grid by the view's readers (fs/chunk_walk.h).
  mutable std::mutex walk_mu;  // guards walk; a leaf lock
  std::unique_ptr<ChunkWalk> walk;
  // Sharded arrays: decoded shard indexes by the shard's key.
  using ShardIndex = std::shared_ptr<const std::vector<ShardEntry>>;
  mutable std::mutex shard_mu;  // guards shard_indexes; a leaf lock
  mutable std::unordered_map<ReferenceIndex::FileId, ShardIndex> shard_indexes;
};

// Bytes [0, header.size()) are the header; each part's data follows at its
// begin; everything else (padding) reads as zeros.
struct ViewFilesystem::File {
  std::string path;  // in the view, for messages
  std::string header;
  struct Part {
    uint32_t array;
    uint64_t begin;
    uint64_t nbytes;
    bool swap;  // to big-endian (NetCDF) from a little-endian array
  };
  std::vector<Part> parts;  // by begin
  uint64_t size = 0;
};

struct ViewFilesystem::Node {
  std::string name;
  uint32_t parent = 0;
  bool is_dir = true;
  std::vector<uint32_t> children;  // sorted by name
  int64_t file = -1;               // into files_ (files only)
};

namespace {

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  return std::string(dir) + "/" + std::string(name);
}

std::string_view Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view Dirname(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

// A JSON list of strings, as .zattrs holds _ARRAY_DIMENSIONS. The attribute
// parser hands lists of strings back as JSON text (kOther), and JSON parsing
// belongs to refs/, so this reads just that shape: ["a", "b\"c", ...].
Result<std::vector<std::string>> ParseStringList(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
  };
  auto bad = [&] { return InvalidArgument("not a list of strings: " + std::string(s.substr(0, 80))); };
  ws();
  if (i >= s.size() || s[i++] != '[') return bad();
  ws();
  if (i < s.size() && s[i] == ']') return out;
  while (true) {
    ws();
    if (i >= s.size() || s[i++] != '"') return bad();
    std::string v;
    while (true) {
      if (i >= s.size()) return bad();
      char c = s[i++];
      if (c == '"') break;
      if (c != '\\') {
        v += c;
        continue;
      }
      if (i >= s.size()) return bad();
      char e = s[i++];
      switch (e) {
        case '"': case '\\': case '/': v += e; break;
        case 'n': v += '\n'; break;
        case 't': v += '\t'; break;
        case 'r': v += '\r'; break;
        case 'b': v += '\b'; break;
        case 'f': v += '\f'; break;
        case 'u': {
          if (i + 4 > s.size()) return bad();
          unsigned cp = std::stoul(std::string(s.substr(i, 4)), nullptr, 16);
          i += 4;
          // Dimension names are identifiers; code points up to U+FFFF suffice.
          if (cp < 0x80) {
            v += static_cast<char>(cp);
          } else if (cp < 0x800) {
            v += static_cast<char>(0xC0 | (cp >> 6));
            v += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            v += static_cast<char>(0xE0 | (cp >> 12));
            v += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            v += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default: return bad();
      }
    }
    out.push_back(std::move(v));
    ws();
    if (i >= s.size()) return bad();
    char c = s[i++];
    if (c == ']') break;
    if (c != ',') return bad();
  }
  return out;
}

// The NetCDF type holding a Zarr data type's elements unchanged, if any.
// Booleans are bytes 0/1 (NC_BYTE, as netCDF writers store them); byte
// strings are NC_CHAR with an extra dimension for their length.
std::optional<NcType> NcTypeFor(const DataType& t) {
  switch (t.kind) {
    case 'i':
      if (t.size == 1) return NcType::kByte;
      if (t.size == 2) return NcType::kShort;
      if (t.size == 4) return NcType::kInt;
      if (t.size == 8) return NcType::kInt64;
      break;
    case 'u':
      if (t.size == 1) return NcType::kUByte;
      if (t.size == 2) return NcType::kUShort;
      if (t.size == 4) return NcType::kUInt;
      if (t.size == 8) return NcType::kUInt64;
      break;
    case 'f':
      if (t.size == 4) return NcType::kFloat;
      if (t.size == 8) return NcType::kDouble;
      break;
    case 'b':
      if (t.size == 1) return NcType::kByte;
      break;
    case 'S':
      return NcType::kChar;
  }
  return std::nullopt;
}

// One number as an element of `t`, big-endian (for a _FillValue given only
// as an attribute).
std::string EncodeNumber(NcType t, double v) {
  std::string out(NcTypeSize(t), '\0');
  uint64_t bits = 0;
  switch (t) {
    case NcType::kFloat: {
      float f = static_cast<float>(v);
      uint32_t b;
      std::memcpy(&b, &f, 4);
      bits = b;
      break;
    }
    case NcType::kDouble: std::memcpy(&bits, &v, 8); break;
    case NcType::kUInt64: bits = static_cast<uint64_t>(v); break;
    default: bits = static_cast<uint64_t>(static_cast<int64_t>(v)); break;
  }
  for (size_t i = 0; i < out.size(); ++i) out[out.size() - 1 - i] = static_cast<char>((bits >> (8 * i)) & 0xFF);
  return out;
}

// Appends the Zarr attributes `in` to `out` as NetCDF attributes, but for
// those the file carries otherwise (_ARRAY_DIMENSIONS as the dimensions,
// _FillValue in the variable's type). A name NetCDF cannot hold is made one
// (NetcdfName); one that then collides with another is left out, logged
// with `where`.
void AppendNcAttributes(const std::vector<ZarrAttribute>& in, const std::string& where,
                        std::vector<NcAttribute>* out) {
  for (const auto& za : in) {
    if (za.name == "_ARRAY_DIMENSIONS" || za.name == "_FillValue") continue;
    const std::string name = NetcdfName(za.name);
    if (name != za.name &&
        std::any_of(in.begin(), in.end(), [&](const ZarrAttribute& o) { return o.name == name; })) {
      LogWarning(where + ": attribute '" + za.name + "' left out: its NetCDF name '" + name +
                 "' is taken");
      continue;
    }
    switch (za.kind) {
      case ZarrAttribute::Kind::kString: out->push_back(NcTextAttribute(name, za.text)); break;
      case ZarrAttribute::Kind::kInts: out->push_back(NcIntAttribute(name, za.ints)); break;
      case ZarrAttribute::Kind::kFloats: out->push_back(NcDoubleAttribute(name, za.floats)); break;
      case ZarrAttribute::Kind::kOther: out->push_back(NcTextAttribute(name, za.text)); break;
    }
  }
}

// The directory of the group at `path` ("" is the root), if the index has
// one (a group may exist only as the parent of its arrays).
std::optional<ReferenceIndex::DirId> FindGroupDir(const ReferenceIndex& index,
                                                  std::string_view path) {
  ReferenceIndex::DirId d = ReferenceIndex::kRootDir;
  while (!path.empty()) {
    size_t slash = path.find('/');
    auto sub = index.FindDir(d, path.substr(0, slash));
    if (!sub) return std::nullopt;
    d = *sub;
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  }
  return d;
}

// The dimension names of the array `name` in the file of `group`: its v3
// dimension_names, else its _ARRAY_DIMENSIONS attribute (v2), else
// "<name>_dim<i>"; group paths resolved and names made NetCDF names
// (GroupDimensionName). Not checked against the shape (see DimensionConflict).
std::vector<std::string> DimensionNames(const std::string& name, const std::string& group,
                                        const ZarrArrayMeta& m,
                                        const std::vector<ZarrAttribute>& attrs) {
  // v3 dimension_names may be null (kept as ""): all null is no names;
  // a null among names is named like a dimension of an unnamed array.
  std::vector<std::string> names = m.dimension_names;
  if (std::all_of(names.begin(), names.end(), [](const std::string& n) { return n.empty(); }))
    names.clear();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i].empty()) names[i] = name + "_dim" + std::to_string(i);
  for (const auto& za : attrs) {
    if (za.name != "_ARRAY_DIMENSIONS" || !names.empty()) continue;
    if (za.kind == ZarrAttribute::Kind::kString) {
      names = {za.text};
    } else if (za.kind == ZarrAttribute::Kind::kOther) {
      auto list = ParseStringList(za.text);
      if (list.ok()) names = std::move(list).value();
    }
  }
  for (auto& n : names) n = GroupDimensionName(n, group);
  if (names.empty())
    for (size_t i = 0; i < m.shape.size(); ++i)
      names.push_back(NetcdfName(name + "_dim" + std::to_string(i)));
  return names;
}

// The dimensions of one NetCDF file, which its variables share by name.
struct NcDimensions {
  std::vector<NcDimension> list;
  std::map<std::string, uint32_t> ids;  // name -> index into list
};

// Why a variable cannot have the dimensions `names` of `lengths` in a file
// with `dims`; "" if it can.
std::string DimensionConflict(const std::vector<std::string>& names,
                              const std::vector<uint64_t>& lengths, const NcDimensions& dims) {
  if (names.size() != lengths.size())
    return std::to_string(names.size()) + " dimension names for " +
           std::to_string(lengths.size()) + " dimensions";
  for (size_t i = 0; i < names.size(); ++i) {
    if (lengths[i] == 0) return "dimension '" + names[i] + "' has length 0";
    if (auto it = dims.ids.find(names[i]); it != dims.ids.end() && dims.list[it->second].length != lengths[i])
      return "dimension '" + names[i] + "' has length " + std::to_string(lengths[i]) +
             " here and " + std::to_string(dims.list[it->second].length) + " elsewhere";
    for (size_t j = 0; j < i; ++j)
      if (names[j] == names[i]) return "dimension '" + names[i] + "' appears twice";
  }
  return "";
}

// The indices in `dims` of the dimensions `names` of `lengths`, adding those
// it lacks. REQUIRES: DimensionConflict(names, lengths, *dims) is "".
std::vector<uint32_t> UseDimensions(const std::vector<std::string>& names,
                                    const std::vector<uint64_t>& lengths, NcDimensions* dims) {
  std::vector<uint32_t> ids;
  for (size_t i = 0; i < names.size(); ++i) {
    auto [it, inserted] = dims->ids.emplace(names[i], static_cast<uint32_t>(dims->list.size()));
    if (inserted) dims->list.push_back(NcDimension{names[i], lengths[i]});
    ids.push_back(it->second);
  }
  return ids;
}

// Appends the variable's _FillValue in its NetCDF type `type`: the array's
// fill value, else a _FillValue attribute converted; nothing when neither
// can be.
void AppendFillValue(const ZarrArrayMeta& m, const std::vector<ZarrAttribute>& attrs, NcType type,
                     std::vector<NcAttribute>* out) {
  const DataType& t = m.chunk.dtype;
  const std::string& fill = m.chunk.fill_element;
  if (!fill.empty() && (t.kind != 'S' || t.size == 1)) {
    out->push_back(NcElementAttribute("_FillValue", type, fill, t.big_endian || t.size == 1));
    return;
  }
  if (t.kind == 'S') return;
  for (const auto& za : attrs) {
    if (za.name != "_FillValue") continue;
    double x;
    if (za.kind == ZarrAttribute::Kind::kInts && za.ints.size() == 1) x = static_cast<double>(za.ints[0]);
    else if (za.kind == ZarrAttribute::Kind::kFloats && za.floats.size() == 1) x = za.floats[0];
    else if (za.kind == ZarrAttribute::Kind::kString && za.text == "NaN") x = std::nan("");
    else break;
    out->push_back(NcAttribute{"_FillValue", type, EncodeNumber(type, x)});
  }
}

// The variable showing the array `name` (metadata `m`, attributes `attrs`)
// in the NetCDF file of `group` with dimensions `dims`, which gains those
// it lacks; the error says why the array cannot be shown (and `dims` is
// left as it was).
Result<NcVariable> NetcdfVariable(const std::string& name, const std::string& group,
                                  const ZarrArrayMeta& m, const std::vector<ZarrAttribute>& attrs,
                                  NcDimensions* dims) {
  const DataType& t = m.chunk.dtype;
  auto type = NcTypeFor(t);
  if (!type) return InvalidArgument("NetCDF classic has no type for " + t.ToString());
  std::vector<std::string> names = DimensionNames(name, group, m, attrs);
  std::vector<uint64_t> lengths = m.shape;
  if (t.kind == 'S' && t.size > 1) {  // characters along a last dimension
    names.push_back("string" + std::to_string(t.size));
    lengths.push_back(t.size);
  }
  if (std::string conflict = DimensionConflict(names, lengths, *dims); !conflict.empty())
    return InvalidArgument(conflict);
  NcVariable v;
  v.name = NetcdfName(name);
  v.type = *type;
  v.dims = UseDimensions(names, lengths, dims);
  AppendNcAttributes(attrs, "variable '" + JoinPath(group, name) + "'", &v.attributes);
  AppendFillValue(m, attrs, *type, &v.attributes);
  return v;
}

}  // namespace

Result<ViewKind> ParseViewKind(std::string_view name) {
  if (name == "zarr") return ViewKind::kZarr;
  if (name == "npy") return ViewKind::kNpy;
  if (name == "netcdf") return ViewKind::kNetcdf;
  return InvalidArgument("unknown view '" + std::string(name) + "' (zarr, npy or netcdf)");
}

std::string ReferenceSetName(std::string_view source_path) {
  std::string name(Basename(source_path));
  static const char* kExt[] = {".gz", ".zst", ".zstd", ".json", ".parq", ".parquet"};
  for (bool stripped = true; stripped;) {
    stripped = false;
    for (const char* ext : kExt) {
      size_t n = std::strlen(ext);
      if (name.size() > n && name.compare(name.size() - n, n, ext) == 0) {
        name.resize(name.size() - n);
        stripped = true;
      }
    }
  }
  if (name.empty() || name.front() == '.') return "root";
  return name;
}

ViewFilesystem::ViewFilesystem(const ReferenceIndex* index, ReadThroughCache* cache,
                               const ViewOptions& options, int64_t mtime)
    : index_(index), cache_(cache), options_(options), mtime_(mtime) {
  nodes_.push_back(Node{});  // the root
  chunks_ = std::make_unique<DecodedChunkCache>(options_.chunk_cache_bytes, options_.decode_threads);
}

ViewFilesystem::~ViewFilesystem() { chunks_.reset(); }

Result<std::unique_ptr<ViewFilesystem>> ViewFilesystem::Build(const ReferenceIndex* index,
                                                              ReadThroughCache* cache,
                                                              const ViewOptions& options,
                                                              int64_t mtime) {
  std::unique_ptr<ViewFilesystem> v(new ViewFilesystem(index, cache, options, mtime));
  ZM_RETURN_IF_ERROR(v->Load());
  if (options.kind == ViewKind::kNetcdf)
    v->BuildNetcdf();
  else
    v->BuildNpy();
  for (const auto& f : v->files_) v->total_bytes_ += f.size;
  return v;
}

void ViewFilesystem::Omit(std::string line) {
  LogWarning(line);
  omitted_.push_back(std::move(line));
}

Result<std::string> ViewFilesystem::ReadKey(ReferenceIndex::FileId f) const {
  return ReadKeyBytes(*index_, cache_, f);
}

Status ViewFilesystem::Load() {
  // Directories sort by path, so a parent comes before its children.
  const size_t ndirs = index_->dir_count();
  std::vector<char> under_array(ndirs, 0);  // the directory is an array or inside one
  for (ReferenceIndex::DirId d = 0; d < ndirs; ++d) {
    if (d != ReferenceIndex::kRootDir && under_array[index_->dir_parent(d)]) {
      under_array[d] = 1;
      continue;
    }
    ZM_ASSIGN_OR_RETURN(ZarrNode node, LoadZarrNode(*index_, cache_, d));
    if (node.kind == ZarrNode::Kind::kNotArray) continue;
    under_array[d] = 1;
    const std::string path = index_->DirPath(d);
    const std::string where = path.empty() ? "the root array" : "array '" + path + "'";
    if (node.kind == ZarrNode::Kind::kBadArray) {
      Omit(where + " left out: " + node.error.message());
      continue;
    }
    ZM_RETURN_IF_ERROR(AddArray(d, path, where, std::move(node)));
  }
  return Status::Ok();
}

Status ViewFilesystem::AddArray(ReferenceIndex::DirId d, const std::string& path,
                                const std::string& where, ZarrNode node) {
  auto a = std::make_unique<Array>();
  a->path = path;
  a->name = std::string(Basename(path));
  if (a->name.empty()) a->name = options_.set_name;
  a->meta = std::move(node.array);
  const auto& m = a->meta;
  // A sharded array is decoded by inner chunk.
  std::vector<uint64_t> chunk_shape = m.chunks;
  ChunkSpec spec = m.chunk;
  if (m.sharding) {
    if (!m.sharding->unsupported.empty()) {
      Omit(where + " left out: " + m.sharding->unsupported);
      return Status::Ok();
    }
    chunk_shape = m.sharding->inner_chunks;
    spec = m.sharding->InnerSpec(m.chunk);
  }
  bool ok_grid = m.chunk.dtype.size > 0 && chunk_shape.size() == m.shape.size();
  uint64_t chunk_elems = 1;
  for (uint64_t c : chunk_shape) {
    ok_grid = ok_grid && c > 0 && chunk_elems <= (uint64_t{1} << 40) / c;
    chunk_elems *= ok_grid ? c : 1;
  }
  if (!ok_grid || chunk_elems * m.chunk.dtype.size > (uint64_t{1} << 31)) {
    Omit(where + " left out: chunks of zero or more than 2 GiB");
    return Status::Ok();
  }
  auto grid = ChunkGrid::Make(m.shape, chunk_shape);
  if (!grid.ok()) {
    Omit(where + " left out: " + grid.status().message());
    return Status::Ok();
  }
  a->grid = std::make_unique<ChunkGrid>(std::move(grid).value());
  a->walk = std::make_unique<ChunkWalk>(a->grid->grid_shape());
  auto decoder = ChunkDecoder::Make(std::move(spec));
  if (!decoder.ok()) {
    Omit(where + " left out: " + decoder.status().message());
    return Status::Ok();
  }
  a->decoder = std::move(decoder).value();
  if (m.chunk.zarr_format == 2) {
    if (auto za = index_->FindFile(d, ".zattrs")) {
      ZM_ASSIGN_OR_RETURN(std::string text, ReadKey(*za));
      auto attrs = ParseZarrAttrs(text);
      if (attrs.ok()) a->attrs = std::move(attrs).value();
      else LogWarning(where + ": attributes ignored: " + attrs.status().message());
    }
  } else {
    // A v3 array's attributes are in its zarr.json.
    auto attrs = ParseZarrAttrs(node.document);
    if (attrs.ok()) a->attrs = std::move(attrs).value();
  }
  a->region = std::make_unique<ArrayRegion>(m.shape, chunk_shape, m.chunk.dtype.size);
  a->id = static_cast<uint32_t>(arrays_.size());
  arrays_.push_back(std::move(a));
  return Status::Ok();
}

uint32_t ViewFilesystem::EnsureDir(std::string_view path) {
  uint32_t n = 0;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    uint32_t found = 0;
    for (uint32_t c : nodes_[n].children)
      if (nodes_[c].name == part && nodes_[c].is_dir) found = c;
    if (!found) {
      found = static_cast<uint32_t>(nodes_.size());
      Node dir;
      dir.name = std::string(part);
      dir.parent = n;
      nodes_.push_back(std::move(dir));
      nodes_[n].children.push_back(found);
    }
    n = found;
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  }
  return n;
}

void ViewFilesystem::AddFile(uint32_t dir, std::string name, File file) {
  for (uint32_t c : nodes_[dir].children)
    if (nodes_[c].name == name) {
      Omit("view file '" + file.path + "' left out: the name is taken");
      return;
    }
  Node n;
  n.name = std::move(name);
  n.parent = dir;
  n.is_dir = false;
  n.file = static_cast<int64_t>(files_.size());
  files_.push_back(std::move(file));
  nodes_[dir].children.push_back(static_cast<uint32_t>(nodes_.size()));
  nodes_.push_back(std::move(n));
}

void ViewFilesystem::BuildNpy() {
  for (const auto& a : arrays_) {
    File f;
    f.path = JoinPath(Dirname(a->path), a->name + ".npy");
    f.header = NpyHeader(a->meta.chunk.dtype, a->meta.shape);
    f.parts.push_back(File::Part{a->id, f.header.size(), a->region->nbytes(), false});
    f.size = f.header.size() + a->region->nbytes();
    AddFile(EnsureDir(Dirname(a->path)), a->name + ".npy", std::move(f));
  }
  SortChildren();
}

void ViewFilesystem::SortChildren() {
  for (auto& n : nodes_)
    std::sort(n.children.begin(), n.children.end(),
              [&](uint32_t x, uint32_t y) { return nodes_[x].name < nodes_[y].name; });
}

void ViewFilesystem::BuildNetcdf() {
  // Arrays by group (their parent directory), in path order.
  std::map<std::string, std::vector<const Array*>> groups;
  for (const auto& a : arrays_) {
    if (a->path.empty()) {
      Omit("the root array left out of the netcdf view: a NetCDF variable needs a group");
      continue;
    }
    groups[std::string(Dirname(a->path))].push_back(a.get());
  }
  for (const auto& [group, arrays] : groups) AddNetcdfFile(group, arrays);
  SortChildren();
}

std::vector<NcAttribute> ViewFilesystem::NetcdfGroupAttributes(const std::string& group) const {
  std::vector<NcAttribute> out;
  auto dir = FindGroupDir(*index_, group);
  if (!dir) return out;
  auto key = index_->FindFile(*dir, ".zattrs");
  if (!key) key = index_->FindFile(*dir, "zarr.json");
  if (!key) return out;
  auto text = ReadKey(*key);
  auto attrs = text.ok() ? ParseZarrAttrs(*text) : Result<std::vector<ZarrAttribute>>(text.status());
  if (attrs.ok()) AppendNcAttributes(*attrs, "group '" + group + "'", &out);
  else LogWarning("group '" + group + "': attributes ignored: " + attrs.status().message());
  return out;
}

void ViewFilesystem::AddNetcdfFile(const std::string& group, const std::vector<const Array*>& arrays) {
  const std::string file_path = group.empty() ? options_.set_name + ".nc" : group + ".nc";
  const std::vector<NcAttribute> gattrs = NetcdfGroupAttributes(group);
  NcDimensions dims;
  std::vector<NcVariable> vars;
  std::vector<const Array*> shown;  // the array each of vars shows
  for (const Array* a : arrays) {
    auto v = NetcdfVariable(a->name, group, a->meta, a->attrs, &dims);
    if (v.ok() && std::any_of(vars.begin(), vars.end(),
                              [&](const NcVariable& o) { return o.name == v->name; }))
      v = InvalidArgument("its NetCDF name '" + v->name + "' is taken");
    if (!v.ok()) {
      Omit("variable '" + a->name + "' left out of " + file_path + ": " + v.status().message());
      continue;
    }
    vars.push_back(std::move(v).value());
    shown.push_back(a);
  }
  if (vars.empty()) return;
  auto layout = LayoutNetcdf(dims.list, gattrs, vars);
  if (!layout.ok()) {
    Omit("view file '" + file_path + "' left out: " + layout.status().message());
    return;
  }
  File f;
  f.path = file_path;
  f.header = std::move(layout->header);
  for (size_t i = 0; i < vars.size(); ++i) {
    // NetCDF data is big-endian; single bytes and characters have no order.
    const DataType& t = shown[i]->meta.chunk.dtype;
    const bool swap = t.size > 1 && !t.big_endian && t.kind != 'S';
    f.parts.push_back(File::Part{shown[i]->id, layout->begin[i], layout->nbytes[i], swap});
  }
  f.size = layout->file_size;
  AddFile(EnsureDir(Dirname(file_path)), std::string(Basename(file_path)), std::move(f));
}

Attr ViewFilesystem::NodeAttr(uint32_t n) const {
  Attr a;
  a.ino = n + 1;
  a.is_dir = nodes_[n].is_dir;
  if (a.is_dir) {
    a.nlink = 2;
    for (uint32_t c : nodes_[n].children) a.nlink += nodes_[c].is_dir;
  } else {
    a.size = files_[nodes_[n].file].size;
  }
  return a;
}

Result<Attr> ViewFilesystem::Lookup(uint64_t parent, std::string_view name) const {
  if (parent == 0 || parent > nodes_.size()) return NotFound("no such directory");
  const Node& p = nodes_[parent - 1];
  if (!p.is_dir) return InvalidArgument("not a directory");
  if (name == ".") return NodeAttr(static_cast<uint32_t>(parent - 1));
  if (name == "..") return NodeAttr(p.parent);
  auto it = std::lower_bound(p.children.begin(), p.children.end(), name,
                             [&](uint32_t c, std::string_view n) { return nodes_[c].name < n; });
  if (it == p.children.end() || nodes_[*it].name != name) return NotFound(std::string(name));
  return NodeAttr(*it);
}

Result<Attr> ViewFilesystem::GetAttr(uint64_t ino) const {
  if (ino == 0 || ino > nodes_.size()) return NotFound("inode " + std::to_string(ino));
  return NodeAttr(static_cast<uint32_t>(ino - 1));
}

Status ViewFilesystem::ReadDir(
    uint64_t ino, uint64_t offset,
    const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit) const {
  if (ino == 0 || ino > nodes_.size()) return NotFound("no such directory");
  const uint32_t n = static_cast<uint32_t>(ino - 1);
  const Node& d = nodes_[n];
  if (!d.is_dir) return InvalidArgument("not a directory");
  const uint64_t end = 2 + d.children.size();
  for (uint64_t pos = offset; pos < end; ++pos) {
    bool more;
    if (pos == 0) more = emit(".", NodeAttr(n), 1);
    else if (pos == 1) more = emit("..", NodeAttr(d.parent), 2);
    else {
      uint32_t c = d.children[pos - 2];
      more = emit(nodes_[c].name, NodeAttr(c), pos + 1);
    }
    if (!more) break;
  }
  return Status::Ok();
}

Status ViewFilesystem::Open(uint64_t ino) const {
  if (ino == 0 || ino > nodes_.size()) return NotFound("inode " + std::to_string(ino));
  if (nodes_[ino - 1].is_dir) return InvalidArgument("is a directory");
  return Status::Ok();
}

void ViewFilesystem::StatFs(struct statvfs* st) const {
  *st = {};
  st->f_bsize = 4096;
  st->f_frsize = 4096;
  st->f_blocks = (total_bytes_ + 4095) / 4096;
  st->f_files = nodes_.size();
  st->f_namemax = 255;
  st->f_flag = ST_RDONLY;
}

std::string ViewFilesystem::ChunkKeyOf(const Array& a, uint64_t chunk) const {
  std::vector<uint64_t> index = a.grid->GridIndex(chunk);
  if (a.meta.sharding) index = a.meta.sharding->ShardOf(index);
  return JoinPath(a.path, a.meta.ChunkKey(index));
}

Result<Block> ViewFilesystem::DecodeChunk(const Array& a, std::string_view stored,
                                          const std::string& what) const {
  auto decoded = a.decoder->Decode(stored);
  if (!decoded.ok()) return decoded.status().WithContext(what);
  const uint64_t want = a.decoder->spec().chunk_bytes();
  if (decoded->size() != want)  // the decoder promises this; never trust a mismatch
    return Corruption(what + ": decoded to " + std::to_string(decoded->size()) +
                      " bytes, expected " + std::to_string(want));
  return Block(std::make_shared<const std::string>(std::move(decoded).value()));
}

Result<Block> ViewFilesystem::LoadChunk(const Array& a, uint64_t chunk) const {
  if (a.meta.sharding) return LoadInnerChunk(a, chunk);
  const std::string key = ChunkKeyOf(a, chunk);
  auto f = index_->FindKey(key);
  if (!f) return Block(std::make_shared<const std::string>(a.decoder->FillChunk()));
  ZM_ASSIGN_OR_RETURN(const auto target, index_->Resolve(*f));
  // A lazy chunk (refs/lazy_refs.h) that does not exist.
  if (target.missing()) return Block(std::make_shared<const std::string>(a.decoder->FillChunk()));
  auto stored = ReadKey(*f);
  if (!stored.ok()) {
    // A chunk key derived from a store's metadata whose object is not
    // there: a missing chunk, as a Zarr reader takes it.
    if (stored.status().code() == Code::kNotFound && target.size == ReferenceIndex::kUnknownSize)
      return Block(std::make_shared<const std::string>(a.decoder->FillChunk()));
    return stored.status();
  }
  return DecodeChunk(a, *stored, "key '" + key + "'");
}

Result<uint64_t> ViewFilesystem::KeySize(ReferenceIndex::FileId f) const {
  ZM_ASSIGN_OR_RETURN(const auto t, index_->Resolve(f));
  if (t.missing()) return NotFound("key '" + index_->FileKey(f) + "': no such chunk");
  if (t.is_inline()) return t.inline_bytes.size();
  if (t.size != ReferenceIndex::kUnknownSize) return t.size;
  ZM_ASSIGN_OR_RETURN(uint64_t object_size, cache_->Size(*t.url));
  if (object_size < t.offset)
    return Corruption("key '" + index_->FileKey(f) + "': offset past the object's end");
  return object_size - t.offset;
}

ByteRange ViewFilesystem::KeyRegion(ReferenceIndex::FileId f, uint64_t pos, uint64_t len) const {
  auto t = index_->Resolve(f);
  return ByteRange{(t.ok() ? t->offset : 0) + pos, len};
}

Result<std::string> ViewFilesystem::ReadKeyRange(ReferenceIndex::FileId f, uint64_t pos,
                                                 uint64_t len) const {
  ZM_ASSIGN_OR_RETURN(const auto t, index_->Resolve(f));
  if (t.missing()) return NotFound("key '" + index_->FileKey(f) + "': no such chunk");
  if (t.is_inline()) {
    std::string_view data = t.inline_bytes;
    if (pos > data.size() || len > data.size() - pos)
      return Corruption("key '" + index_->FileKey(f) + "': bytes past its end");
    return std::string(data.substr(pos, len));
  }
  // The range is a region of its own, so its blocks are exactly these bytes
  // (a read of an inner chunk never fetches the rest of its shard), and a
  // prefetch of the same range fills the same blocks.
  auto r = cache_->Read(*t.url, ByteRange{t.offset + pos, len}, 0, len);
  if (!r.ok()) return r.status().WithContext("key '" + index_->FileKey(f) + "'");
  if (r->size() != len)
    return Corruption("key '" + index_->FileKey(f) + "': " + std::to_string(r->size()) +
                      " bytes at " + std::to_string(pos) + ", expected " + std::to_string(len));
  return r;
}

Result<ViewFilesystem::Array::ShardIndex> ViewFilesystem::LoadShardIndex(
    const Array& a, ReferenceIndex::FileId shard) const {
  {
    std::lock_guard<std::mutex> lock(a.shard_mu);
    if (auto it = a.shard_indexes.find(shard); it != a.shard_indexes.end()) return it->second;
  }
  const ShardingSpec& sh = *a.meta.sharding;
  const std::string where = "shard '" + index_->FileKey(shard) + "'";
  ZM_ASSIGN_OR_RETURN(uint64_t shard_bytes, KeySize(shard));
  auto at = sh.IndexOffset(shard_bytes);
  if (!at.ok()) return at.status().WithContext(where);
  ZM_ASSIGN_OR_RETURN(std::string encoded, ReadKeyRange(shard, *at, sh.index_bytes()));
  ZM_ASSIGN_OR_RETURN(std::vector<ShardEntry> entries,
                      DecodeShardIndex(sh, encoded, shard_bytes, where));
  auto decoded = std::make_shared<const std::vector<ShardEntry>>(std::move(entries));
  // Indexes are small (16 bytes per inner chunk); a bound keeps an array
  // of millions of shards from holding them all.
  constexpr uint64_t kMaxIndexBytesPerArray = 64_MiB;
  std::lock_guard<std::mutex> lock(a.shard_mu);
  if ((a.shard_indexes.size() + 1) * sh.index_bytes() > kMaxIndexBytesPerArray)
    a.shard_indexes.clear();
  a.shard_indexes.emplace(shard, decoded);
  return decoded;
}

std::optional<ShardEntry> ViewFilesystem::CachedInnerEntry(const Array& a, uint64_t chunk,
                                                           ReferenceIndex::FileId shard) const {
  std::lock_guard<std::mutex> lock(a.shard_mu);
  auto it = a.shard_indexes.find(shard);
  if (it == a.shard_indexes.end()) return std::nullopt;
  return (*it->second)[a.meta.sharding->PositionInShard(a.grid->GridIndex(chunk))];
}

Result<Block> ViewFilesystem::LoadInnerChunk(const Array& a, uint64_t chunk) const {
  const std::string key = ChunkKeyOf(a, chunk);
  auto shard = index_->FindKey(key);
  if (!shard) return Block(std::make_shared<const std::string>(a.decoder->FillChunk()));
  auto loaded = LoadShardIndex(a, *shard);
  if (!loaded.ok()) {
    // A shard key derived from a store's metadata with no object: missing.
    auto t = index_->Resolve(*shard);
    if (loaded.status().code() == Code::kNotFound && t.ok() &&
        (t->missing() || t->size == ReferenceIndex::kUnknownSize))
      return Block(std::make_shared<const std::string>(a.decoder->FillChunk()));
    return loaded.status();
  }
  const Array::ShardIndex& entries = *loaded;
  const uint64_t pos = a.meta.sharding->PositionInShard(a.grid->GridIndex(chunk));
  const ShardEntry e = (*entries)[pos];
  if (e.empty()) return Block(std::make_shared<const std::string>(a.decoder->FillChunk()));
  ZM_ASSIGN_OR_RETURN(std::string stored, ReadKeyRange(*shard, e.offset, e.nbytes));
  return DecodeChunk(a, stored, "shard '" + key + "', inner chunk " + std::to_string(pos));
}

Result<Block> ViewFilesystem::GetChunk(uint32_t array, uint64_t chunk) const {
  const Array& a = *arrays_[array];
  return chunks_->Get(ChunkId{array, chunk}, [&] { return LoadChunk(a, chunk); });
}

Result<Slices> ViewFilesystem::ReadSlices(uint64_t ino, uint64_t offset, uint64_t size) const {
  if (ino == 0 || ino > nodes_.size()) return NotFound("no such file");
  const Node& node = nodes_[ino - 1];
  if (node.is_dir) return InvalidArgument("is a directory");
  const File& file = files_[node.file];
  Slices out;
  if (offset >= file.size || size == 0) return out;
  const uint64_t n = std::min(size, file.size - offset);
  // Zero-filled: the gaps between variables are padding.
  auto buf = std::make_shared<std::string>(n, '\0');
  if (offset < file.header.size()) {
    uint64_t k = std::min<uint64_t>(n, file.header.size() - offset);
    std::memcpy(buf->data(), file.header.data() + offset, k);
  }
  const uint64_t end = offset + n;
  for (const auto& p : file.parts) {
    const uint64_t lo = std::max(offset, p.begin), hi = std::min(end, p.begin + p.nbytes);
    if (lo >= hi) continue;
    const Array& a = *arrays_[p.array];
    std::vector<uint64_t> touched;
    Status st = CopyRegion(*a.region, lo - p.begin, hi - lo, p.swap, buf->data() + (lo - offset),
                           [&](uint64_t chunk) {
                             touched.push_back(chunk);
                             return GetChunk(p.array, chunk);
                           });
    // A read touches a chunk once per row it copies: file each chunk once.
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    FollowWalk(a, touched);
    if (!st.ok())
      return st.WithContext("view file '" + file.path + "', array '" + a.path + "'");
  }
  ReadAhead(ino, file, offset, n);
  out.pieces.emplace_back(*buf);
  out.buffers.push_back(std::move(buf));
  return out;
}

Result<std::string> ViewFilesystem::Read(uint64_t ino, uint64_t offset, uint64_t size) const {
  ZM_ASSIGN_OR_RETURN(Slices s, ReadSlices(ino, offset, size));
  return s.ToString();
}

void ViewFilesystem::FollowWalk(const Array& a, const std::vector<uint64_t>& chunks) const {
  if (options_.decode_threads <= 0 || chunks.empty()) return;
  std::vector<std::vector<uint64_t>> batches;
  {
    std::lock_guard<std::mutex> lock(a.walk_mu);
    batches = a.walk->OnRead(chunks);
  }
  for (const auto& batch : batches) FetchAndDecodeAhead(a, batch);
}

void ViewFilesystem::FetchAndDecodeAhead(const Array& a, const std::vector<uint64_t>& chunks) const {
  std::vector<PrefetchTarget> raw;
  for (uint64_t c : chunks) {
    ChunkId id{a.id, c};
    if (chunks_->Has(id)) continue;
    if (auto f = index_->FindKey(ChunkKeyOf(a, c))) {
      auto resolved = index_->Resolve(*f);
      if (!resolved.ok() || resolved->missing()) continue;  // the decode reports a bad one
      const auto& t = *resolved;
      if (t.is_inline() || t.size == ReferenceIndex::kUnknownSize) continue;
      // The stored bytes on the read-through cache's own threads, many at
      // once, where neighbouring chunks are fetched in one request; the
      // decode waits for them on the decode-ahead threads. An inner chunk
      // is known only once its shard's index is (the decode loads it).
      if (!a.meta.sharding) {
        raw.push_back(PrefetchTarget{*t.url, ByteRange{t.offset, t.size}});
      } else if (auto e = CachedInnerEntry(a, c, *f); e && !e->empty()) {
        raw.push_back(PrefetchTarget{*t.url, ByteRange{t.offset + e->offset, e->nbytes}});
      }
    }
  }
  if (!raw.empty()) cache_->Prefetch(std::move(raw));
  for (uint64_t c : chunks) {
    ChunkId id{a.id, c};
    if (!chunks_->Has(id)) chunks_->Prefetch(id, [this, &a, c] { return LoadChunk(a, c); });
  }
}

void ViewFilesystem::ReadAhead(uint64_t ino, const File& file, uint64_t offset,
                               uint64_t size) const {
  if (options_.decode_threads <= 0) return;
  // Decode ahead once a reader has read on where it left off: the window
  // starts at 4 MiB and doubles while reads stay sequential, up to
  // max_readahead and a quarter of the decoded-chunk cache (so what is
  // decoded ahead is not evicted before it is read).
  const uint64_t cap = std::max<uint64_t>(std::min(options_.max_readahead, options_.chunk_cache_bytes / 4), 1);
  uint64_t window = 0;
  {
    std::lock_guard<std::mutex> lock(streams_mu_);
    Stream& s = streams_[ino % kStreams];
    if (s.ino == ino && s.next == offset)
      s.window = std::min(cap, std::max<uint64_t>(4_MiB, s.window * 2));
    else
      s = Stream{ino, 0, 0};
    s.next = offset + size;
    window = s.window;
  }
  if (window == 0) return;
  const uint64_t lo = offset + size, hi = std::min(file.size, lo + window);
  for (const auto& p : file.parts) {
    const uint64_t a_lo = std::max(lo, p.begin), a_hi = std::min(hi, p.begin + p.nbytes);
    if (a_lo >= a_hi) continue;
    const Array& a = *arrays_[p.array];
    constexpr size_t kMaxChunksAhead = 64;
    FetchAndDecodeAhead(a, a.region->ChunksIn(a_lo - p.begin, a_hi - a_lo, kMaxChunksAhead));
  }
}

}  // namespace zm
