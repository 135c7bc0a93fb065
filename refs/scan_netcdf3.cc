// NetCDF-3 (classic CDF-1, 64-bit offset CDF-2, CDF-5) into references.
// The header grammar is the one of the NetCDF classic format specification:
//   header  = magic numrecs dim_list gatt_list var_list
//   list    = ABSENT (tag 0, count 0) | tag count element...
//   name    = count bytes, padded to 4
//   var     = name ndims dimid... vatt_list nc_type vsize begin
// Counts (NON_NEG) are 4 bytes, 8 in CDF-5; begin is 4 bytes in CDF-1 and
// 8 in the others. Every count is checked against the bytes left before
// anything is sized by it, so a hostile header costs at most its own size.

#include <cstring>
#include <limits>

#include "base/base64.h"
#include "base/json.h"
#include "refs/scan.h"
#include "refs/scan_common.h"

namespace zm {

uint64_t Netcdf3TypeSize(int type) {
  switch (type) {
    case 1: case 2: case 7: return 1;   // byte, char, ubyte
    case 3: case 8: return 2;           // short, ushort
    case 4: case 5: case 9: return 4;   // int, float, uint
    case 6: case 10: case 11: return 8; // double, int64, uint64
    default: return 0;
  }
}

namespace {

constexpr uint32_t kTagDimension = 0x0A;
constexpr uint32_t kTagVariable = 0x0B;
constexpr uint32_t kTagAttribute = 0x0C;
// NC_MAX_VAR_DIMS of the NetCDF library.
constexpr uint64_t kMaxVarDims = 1024;

// Reads big-endian fields from the header, never past its end.
class HeaderCursor {
 public:
  HeaderCursor(std::string_view data, int version) : data_(data), version_(version) {}

  uint64_t offset() const { return pos_; }
  uint64_t left() const { return data_.size() - pos_; }

  Status Truncated(uint64_t need) const {
    return InvalidArgument("NetCDF-3 header: needs " + std::to_string(need) + " bytes at offset " +
                           std::to_string(pos_) + ", past the end of the header read (" +
                           std::to_string(data_.size()) + " bytes)");
  }
  Status Bad(const std::string& what) const {
    return InvalidArgument("NetCDF-3 header: " + what + " at offset " + std::to_string(pos_));
  }

  Result<uint64_t> Uint(int bytes) {
    if (left() < uint64_t(bytes)) return Truncated(bytes);
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(data_[pos_ + i]);
    pos_ += bytes;
    return v;
  }
  Result<uint64_t> Count() { return Uint(version_ == 5 ? 8 : 4); }
  Result<uint64_t> Offset() { return Uint(version_ == 1 ? 4 : 8); }

  // `n` bytes, then the padding to a multiple of 4.
  Result<std::string_view> Padded(uint64_t n) {
    uint64_t padded = n + (4 - n % 4) % 4;
    if (n > left() || padded > left()) return Truncated(padded);
    std::string_view out = data_.substr(pos_, n);
    pos_ += padded;
    return out;
  }
  Result<std::string> Name() {
    ZM_ASSIGN_OR_RETURN(uint64_t n, Count());
    if (n == 0) return Bad("empty name");
    ZM_ASSIGN_OR_RETURN(std::string_view s, Padded(n));
    if (s.find('\0') != std::string_view::npos || s.find('/') != std::string_view::npos)
      return Bad("name with a NUL or '/'");
    return std::string(s);
  }
  // A list's tag and count; the count is bounded by the bytes left, each
  // element taking at least `min_element_bytes`.
  Result<uint64_t> ListHeader(uint32_t tag, uint64_t min_element_bytes, const char* what) {
    ZM_ASSIGN_OR_RETURN(uint64_t t, Uint(4));
    ZM_ASSIGN_OR_RETURN(uint64_t n, Count());
    if (t == 0 && n == 0) return uint64_t{0};
    if (t != tag) return Bad(std::string("expected the ") + what + " list");
    if (n > left() / min_element_bytes) return Bad(std::string("too many ") + what + "s");
    return n;
  }

 private:
  std::string_view data_;
  int version_;
  uint64_t pos_ = 0;
};

Result<std::vector<Netcdf3Attribute>> ParseAttributes(HeaderCursor* c) {
  ZM_ASSIGN_OR_RETURN(uint64_t n, c->ListHeader(kTagAttribute, 12, "attribute"));
  std::vector<Netcdf3Attribute> out;
  for (uint64_t i = 0; i < n; ++i) {
    Netcdf3Attribute a;
    ZM_ASSIGN_OR_RETURN(a.name, c->Name());
    ZM_ASSIGN_OR_RETURN(uint64_t type, c->Uint(4));
    a.type = static_cast<int>(type);
    uint64_t size = Netcdf3TypeSize(a.type);
    if (size == 0 || type > 11) return c->Bad("attribute '" + a.name + "' of unknown type");
    ZM_ASSIGN_OR_RETURN(uint64_t count, c->Count());
    if (count > c->left() / size) return c->Truncated(count);
    ZM_ASSIGN_OR_RETURN(std::string_view bytes, c->Padded(count * size));
    a.bytes = std::string(bytes);
    out.push_back(std::move(a));
  }
  return out;
}

Result<Netcdf3Variable> ParseVariable(HeaderCursor* c, int version, size_t dim_count) {
  Netcdf3Variable v;
  ZM_ASSIGN_OR_RETURN(v.name, c->Name());
  ZM_ASSIGN_OR_RETURN(uint64_t ndims, c->Count());
  if (ndims > kMaxVarDims || ndims > c->left() / 4)
    return c->Bad("variable '" + v.name + "' with too many dimensions");
  for (uint64_t d = 0; d < ndims; ++d) {
    ZM_ASSIGN_OR_RETURN(uint64_t id, c->Count());
    if (id >= dim_count) return c->Bad("variable '" + v.name + "' names dimension " + std::to_string(id));
    v.dim_ids.push_back(id);
  }
  ZM_ASSIGN_OR_RETURN(v.attributes, ParseAttributes(c));
  ZM_ASSIGN_OR_RETURN(uint64_t type, c->Uint(4));
  v.type = static_cast<int>(type);
  if (Netcdf3TypeSize(v.type) == 0 || type > 11 || (version != 5 && type > 6))
    return c->Bad("variable '" + v.name + "' of unknown type " + std::to_string(type));
  ZM_ASSIGN_OR_RETURN(v.vsize, c->Count());
  ZM_ASSIGN_OR_RETURN(v.begin, c->Offset());
  return v;
}

}  // namespace

Result<Netcdf3Header> ParseNetcdf3Header(std::string_view data) {
  if (!LooksLikeNetcdf3(data)) return InvalidArgument("NetCDF-3 header: no CDF magic");
  Netcdf3Header h;
  h.version = data[3];
  HeaderCursor c(data, h.version);
  ZM_RETURN_IF_ERROR(c.Uint(4).status());
  ZM_ASSIGN_OR_RETURN(h.record_count, c.Count());
  uint64_t streaming = h.version == 5 ? ~uint64_t{0} : 0xFFFFFFFFu;
  if (h.record_count == streaming) {
    h.streaming = true;
    h.record_count = 0;
  }
  ZM_ASSIGN_OR_RETURN(uint64_t ndims, c.ListHeader(kTagDimension, 8, "dimension"));
  bool have_record_dim = false;
  for (uint64_t i = 0; i < ndims; ++i) {
    ZM_ASSIGN_OR_RETURN(std::string name, c.Name());
    ZM_ASSIGN_OR_RETURN(uint64_t length, c.Count());
    if (length == 0) {
      if (have_record_dim) return c.Bad("a second record dimension");
      have_record_dim = true;
    }
    h.dims.emplace_back(std::move(name), length);
  }
  ZM_ASSIGN_OR_RETURN(h.attributes, ParseAttributes(&c));
  ZM_ASSIGN_OR_RETURN(uint64_t nvars, c.ListHeader(kTagVariable, 24, "variable"));
  for (uint64_t i = 0; i < nvars; ++i) {
    ZM_ASSIGN_OR_RETURN(Netcdf3Variable v, ParseVariable(&c, h.version, h.dims.size()));
    for (size_t d = 1; d < v.dim_ids.size(); ++d)
      if (h.dims[v.dim_ids[d]].second == 0)
        return c.Bad("variable '" + v.name + "' has the record dimension after its first");
    h.variables.push_back(std::move(v));
  }
  return h;
}

namespace {

// ---- metadata ----------------------------------------------------------------------

const char* Netcdf3Dtype(int type) {
  switch (type) {
    case 1: return "\"|i1\"";
    case 2: return "\"|S1\"";
    case 3: return "\">i2\"";
    case 4: return "\">i4\"";
    case 5: return "\">f4\"";
    case 6: return "\">f8\"";
    case 7: return "\"|u1\"";
    case 8: return "\">u2\"";
    case 9: return "\">u4\"";
    case 10: return "\">i8\"";
    case 11: return "\">u8\"";
    default: return "null";
  }
}

uint64_t BigEndian(const char* p, uint64_t n) {
  uint64_t v = 0;
  for (uint64_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Value `i` of big-endian `bytes` of NetCDF type `type`, as JSON.
std::string ValueJson(int type, std::string_view bytes, uint64_t i) {
  uint64_t size = Netcdf3TypeSize(type);
  uint64_t raw = BigEndian(bytes.data() + i * size, size);
  switch (type) {
    case 1: return std::to_string(static_cast<int8_t>(raw));
    case 3: return std::to_string(static_cast<int16_t>(raw));
    case 4: return std::to_string(static_cast<int32_t>(raw));
    case 10: return std::to_string(static_cast<int64_t>(raw));
    case 5: {
      uint32_t u = static_cast<uint32_t>(raw);
      float f;
      std::memcpy(&f, &u, 4);
      return JsonDouble(f);
    }
    case 6: {
      double d;
      std::memcpy(&d, &raw, 8);
      return JsonDouble(d);
    }
    default: return std::to_string(raw);  // unsigned
  }
}

// An attribute's value as JSON: text for char, a number for one value, a
// list for several.
std::string AttributeJson(const Netcdf3Attribute& a) {
  if (a.type == 2) {
    std::string_view text = a.bytes;
    while (!text.empty() && text.back() == '\0') text.remove_suffix(1);
    return JsonQuote(text);
  }
  uint64_t n = a.bytes.size() / Netcdf3TypeSize(a.type);
  if (n == 1) return ValueJson(a.type, a.bytes, 0);
  std::vector<std::string> items;
  for (uint64_t i = 0; i < n; ++i) items.push_back(ValueJson(a.type, a.bytes, i));
  return JsonList(items);
}

// The Zarr fill value: the variable's _FillValue, else null (the NetCDF
// default fills are not written: xarray would mask with them, and reading
// the file does not).
std::string FillJson(const Netcdf3Variable& v) {
  for (const Netcdf3Attribute& a : v.attributes) {
    if (a.name != "_FillValue" || a.type != v.type || a.bytes.size() != Netcdf3TypeSize(v.type))
      continue;
    if (v.type == 2) return JsonQuote(EncodeBase64(a.bytes));
    return ValueJson(v.type, a.bytes, 0);
  }
  return "null";
}

std::string VariableAttributes(const Netcdf3Header& h, const Netcdf3Variable& v) {
  JsonAttributes attrs;
  for (const Netcdf3Attribute& a : v.attributes)
    if (a.name != "_FillValue") attrs.emplace_back(a.name, AttributeJson(a));
  std::vector<std::string> dims;
  for (uint64_t id : v.dim_ids) dims.push_back(JsonQuote(h.dims[id].first));
  attrs.emplace_back("_ARRAY_DIMENSIONS", JsonList(dims));
  return ZattrsJson(attrs);
}

// ---- data ----------------------------------------------------------------------------

bool IsRecordVariable(const Netcdf3Header& h, const Netcdf3Variable& v) {
  return !v.dim_ids.empty() && h.dims[v.dim_ids[0]].second == 0;
}

// Product of `v`'s dimension lengths from `first` on, times its element
// size; false on overflow.
bool ElementBytes(const Netcdf3Header& h, const Netcdf3Variable& v, size_t first, uint64_t* out) {
  uint64_t bytes = Netcdf3TypeSize(v.type);
  for (size_t d = first; d < v.dim_ids.size(); ++d) {
    uint64_t len = h.dims[v.dim_ids[d]].second;
    if (len != 0 && bytes > std::numeric_limits<uint64_t>::max() / len) return false;
    bytes *= len;
  }
  *out = bytes;
  return true;
}

struct RecordLayout {
  uint64_t stride_bytes = 0;  // one record of every record variable
  uint64_t count = 0;
};

Result<RecordLayout> Records(const Netcdf3Header& h, const ScanSink& sink) {
  RecordLayout r;
  size_t record_vars = 0;
  uint64_t first_begin = std::numeric_limits<uint64_t>::max();
  for (const Netcdf3Variable& v : h.variables) {
    if (!IsRecordVariable(h, v)) continue;
    uint64_t bytes = 0;
    if (!ElementBytes(h, v, 1, &bytes)) return InvalidArgument(sink.path() + ": '" + v.name + "' is too large");
    // Each record variable's slab is padded to 4 bytes, unless it is the
    // only record variable.
    r.stride_bytes += bytes + (4 - bytes % 4) % 4;
    first_begin = std::min(first_begin, v.begin);
    ++record_vars;
    if (record_vars == 1) r.count = bytes;  // remembered for the single-variable case
  }
  if (record_vars == 1) r.stride_bytes = r.count;
  r.count = h.record_count;
  if (h.streaming && record_vars > 0 && r.stride_bytes > 0 && first_begin <= sink.file_size())
    r.count = (sink.file_size() - first_begin) / r.stride_bytes;
  return r;
}

Status AddVariable(const Netcdf3Header& h, const Netcdf3Variable& v, const RecordLayout& rec,
                   ScanSink* sink) {
  const bool record = IsRecordVariable(h, v);
  std::vector<uint64_t> shape, chunks;
  for (size_t d = 0; d < v.dim_ids.size(); ++d) {
    uint64_t len = h.dims[v.dim_ids[d]].second;
    shape.push_back(record && d == 0 ? rec.count : len);
    chunks.push_back(record && d == 0 ? 1 : len);
  }
  uint64_t slab = 0;
  if (!ElementBytes(h, v, record ? 1 : 0, &slab))
    return InvalidArgument(sink->path() + ": '" + v.name + "' is too large");
  // Zarr refuses chunks of length 0; an empty array has no chunk anyway.
  for (uint64_t& c : chunks) c = std::max<uint64_t>(c, 1);
  sink->AddMetadata(v.name, ".zarray", ZarrayJson(shape, chunks, Netcdf3Dtype(v.type), FillJson(v), "null"));
  sink->AddMetadata(v.name, ".zattrs", VariableAttributes(h, v));
  if (slab == 0) return Status();
  std::vector<uint64_t> index(shape.size(), 0);
  if (!record) return sink->AddChunk(ChunkKey(v.name, index), v.begin, slab);
  for (uint64_t r = 0; r < rec.count; ++r) {
    index[0] = r;
    if (rec.stride_bytes != 0 && r > (std::numeric_limits<uint64_t>::max() - v.begin) / rec.stride_bytes)
      return InvalidArgument(sink->path() + ": record " + std::to_string(r) + " is past any file");
    ZM_RETURN_IF_ERROR(sink->AddChunk(ChunkKey(v.name, index), v.begin + r * rec.stride_bytes, slab));
  }
  return Status();
}

// Reads the header: a first guess, then more of the file if it is longer.
Result<Netcdf3Header> ReadHeader(const ScanSink& sink) {
  constexpr uint64_t kFirstRead = 64 * 1024, kMaxHeader = 256ull << 20;
  uint64_t want = std::min(sink.file_size(), kFirstRead);
  while (true) {
    ZM_ASSIGN_OR_RETURN(std::string head, sink.Read(0, want));
    auto h = ParseNetcdf3Header(head);
    if (h.ok()) return h;
    bool short_read = h.status().message().find("past the end of the header read") != std::string::npos;
    if (!short_read || want == sink.file_size() || want >= kMaxHeader)
      return h.status().WithContext(sink.path());
    want = std::min({sink.file_size(), want * 16, kMaxHeader});
  }
}

}  // namespace

Status ScanNetcdf3(ScanSink* sink) {
  ZM_ASSIGN_OR_RETURN(Netcdf3Header h, ReadHeader(*sink));
  ZM_ASSIGN_OR_RETURN(RecordLayout rec, Records(h, *sink));
  sink->AddMetadata("", ".zgroup", "{\"zarr_format\": 2}");
  JsonAttributes global;
  for (const Netcdf3Attribute& a : h.attributes) global.emplace_back(a.name, AttributeJson(a));
  sink->AddMetadata("", ".zattrs", ZattrsJson(global));
  for (const Netcdf3Variable& v : h.variables) {
    if (v.name.starts_with(".")) {
      sink->Skip(v.name + ": a name Zarr cannot hold");
      continue;
    }
    ZM_RETURN_IF_ERROR(AddVariable(h, v, rec, sink));
  }
  return Status();
}

}  // namespace zm
