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
  if (name == "zarr-decoded") return ViewKind::kZarrDecoded;
  if (name == "npy") return ViewKind::kNpy;
  if (name == "netcdf") return ViewKind::kNetcdf;
  return InvalidArgument("unknown view '" + std::string(name) + "' (zarr, zarr-decoded, npy or netcdf)");
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

ViewFilesystem::ViewFilesystem(const ReferenceIndex* index, const ViewOptions& options,
                               int64_t mtime)
    : index_(index), options_(options), mtime_(mtime) {
  nodes_.push_back(Node{});  // the root
}

ViewFilesystem::~ViewFilesystem() = default;

Result<std::unique_ptr<ViewFilesystem>> ViewFilesystem::Build(const ReferenceIndex* index,
                                                              ReadThroughCache* cache,
                                                              const ViewOptions& options,
                                                              int64_t mtime) {
  std::unique_ptr<ViewFilesystem> v(new ViewFilesystem(index, options, mtime));
  ZM_ASSIGN_OR_RETURN(v->arrays_, DecodedArrays::Load(index, cache, options.arrays));
  for (const auto& u : v->arrays_->undecodable()) v->Omit(u.where + " left out: " + u.why);
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
  for (const auto& a : arrays_->arrays()) {
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
  for (const auto& a : arrays_->arrays()) {
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
  auto text = arrays_->ReadKey(*key);
  auto attrs = text.ok() ? ParseZarrAttrs(*text) : Result<std::vector<ZarrAttribute>>(text.status());
  if (attrs.ok()) AppendNcAttributes(*attrs, "group '" + group + "'", &out);
  else LogWarning("group '" + group + "': attributes ignored: " + attrs.status().message());
  return out;
}

void ViewFilesystem::AddNetcdfFile(const std::string& group, const std::vector<const Array*>& arrays) {
  const std::string file_path = group.empty() ? options_.arrays.root_name + ".nc" : group + ".nc";
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
    const Array& a = *arrays_->arrays()[p.array];
    std::vector<uint64_t> touched;
    Status st = CopyRegion(*a.region, lo - p.begin, hi - lo, p.swap, buf->data() + (lo - offset),
                           [&](uint64_t chunk) {
                             touched.push_back(chunk);
                             return arrays_->GetChunk(p.array, chunk);
                           });
    // A read touches a chunk once per row it copies: file each chunk once.
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    arrays_->FollowWalk(a, touched);
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


void ViewFilesystem::ReadAhead(uint64_t ino, const File& file, uint64_t offset,
                               uint64_t size) const {
  if (!arrays_->decodes_ahead()) return;
  // Decode ahead once a reader has read on where it left off: the window
  // starts at 4 MiB and doubles while reads stay sequential, up to
  // max_readahead and a quarter of the decoded-chunk cache (so what is
  // decoded ahead is not evicted before it is read).
  const uint64_t cap = std::max<uint64_t>(std::min(options_.max_readahead, options_.arrays.chunk_cache_bytes / 4), 1);
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
    const Array& a = *arrays_->arrays()[p.array];
    constexpr size_t kMaxChunksAhead = 64;
    arrays_->FetchAndDecodeAhead(a, a.region->ChunksIn(a_lo - p.begin, a_hi - a_lo, kMaxChunksAhead));
  }
}

}  // namespace zm
