// NetCDF-4 / HDF5 into references, through libhdf5 (the serial build).
// One pass over the file's objects (H5Ovisit2, which visits each object
// once, so a cycle of hard links ends); per dataset: its element type,
// shape, layout, filters, fill value, attributes and dimension scales, then
// where each stored chunk is (H5Dget_chunk_info; 1.10 has no chunk_iter).

#include <hdf5.h>
#include <hdf5_hl.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "base/base64.h"
#include "base/json.h"
#include "base/log.h"
#include "refs/scan.h"
#include "refs/scan_common.h"

namespace zm {
namespace {

Status Unsupported(std::string msg) { return Status(Code::kUnsupported, std::move(msg)); }

// Closes an hid_t at scope exit with the matching H5?close.
class Hid {
 public:
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Hid() {
    if (id_ >= 0) close_(id_);
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// ---- a virtual file driver over ScanSink::Read ---------------------------------------
// libhdf5 reads the file through these callbacks, so a remote object is
// read range by range through the caller's cache, and a local one by
// pread. Read-only: every write fails.

// The last read error of the driver: libhdf5 reports only "read failed",
// this says what and where. Scanning is one thread at a time (scan.h).
std::string g_driver_error;

struct DriverInfo {
  const ScanSink* sink;
};

struct DriverFile {
  H5FD_t base;  // first: libhdf5 hands back the H5FD_t it was given
  const ScanSink* sink;
  haddr_t eoa;
};

DriverFile* Of(const H5FD_t* f) {
  return reinterpret_cast<DriverFile*>(const_cast<H5FD_t*>(f));
}

H5FD_t* DriverOpen(const char*, unsigned flags, hid_t fapl, haddr_t) {
  if (flags & (H5F_ACC_RDWR | H5F_ACC_CREAT | H5F_ACC_TRUNC)) return nullptr;
  auto* info = static_cast<const DriverInfo*>(H5Pget_driver_info(fapl));
  if (!info || !info->sink) return nullptr;
  auto* f = new DriverFile{};
  f->sink = info->sink;
  return &f->base;
}

herr_t DriverClose(H5FD_t* f) {
  delete Of(f);
  return 0;
}

herr_t DriverQuery(const H5FD_t*, unsigned long* flags) {
  // Let libhdf5 gather small metadata reads into larger ones.
  *flags = H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_DATA_SIEVE;
  return 0;
}

haddr_t DriverGetEoa(const H5FD_t* f, H5FD_mem_t) { return Of(f)->eoa; }
herr_t DriverSetEoa(H5FD_t* f, H5FD_mem_t, haddr_t addr) {
  Of(f)->eoa = addr;
  return 0;
}
haddr_t DriverGetEof(const H5FD_t* f, H5FD_mem_t) { return Of(f)->sink->file_size(); }

herr_t DriverRead(H5FD_t* f, H5FD_mem_t, hid_t, haddr_t addr, size_t size, void* buf) {
  const ScanSink* sink = Of(f)->sink;
  uint64_t eof = sink->file_size();
  uint64_t n = addr < eof ? std::min<uint64_t>(size, eof - addr) : 0;
  if (n > 0) {
    auto bytes = sink->Read(addr, n);
    if (!bytes.ok()) {
      g_driver_error = bytes.status().message();
      return -1;
    }
    std::memcpy(buf, bytes->data(), n);
  }
  // Past the end reads as zeros, as with libhdf5's own drivers.
  std::memset(static_cast<char*>(buf) + n, 0, size - n);
  return 0;
}

herr_t DriverWrite(H5FD_t*, H5FD_mem_t, hid_t, haddr_t, size_t, const void*) { return -1; }

const H5FD_class_t kDriverClass = {
    "zarrmount_scan", (haddr_t{1} << 62), H5F_CLOSE_WEAK,
    nullptr,                                    // terminate
    nullptr, nullptr, nullptr,                  // superblock hooks
    sizeof(DriverInfo), nullptr, nullptr, nullptr,  // fapl: copied bytewise
    0, nullptr, nullptr,                        // dxpl
    DriverOpen, DriverClose, nullptr, DriverQuery, nullptr,
    nullptr, nullptr,                           // alloc, free: read-only
    DriverGetEoa, DriverSetEoa, DriverGetEof, nullptr,
    DriverRead, DriverWrite, nullptr, nullptr, nullptr, nullptr,
    H5FD_FLMAP_DICHOTOMY};

hid_t DriverId() {
  static hid_t id = H5FDregister(&kDriverClass);
  return id;
}

// The innermost message of libhdf5's error stack (the most specific), and
// the stack cleared; the driver's own read error first.
std::string Hdf5Message() {
  if (!g_driver_error.empty()) {
    std::string msg = std::move(g_driver_error);
    g_driver_error.clear();
    H5Eclear2(H5E_DEFAULT);
    return msg;
  }
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD,
           [](unsigned n, const H5E_error2_t* e, void* out) -> herr_t {
             auto* s = static_cast<std::string*>(out);
             if (n == 0 && e->desc) *s = e->desc;
             return 0;
           },
           &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? "libhdf5 error" : msg;
}

// Attributes netCDF-4 and the dimension-scale convention keep for
// themselves; they say nothing to a Zarr reader.
bool IsHiddenAttribute(std::string_view name) {
  return name == "REFERENCE_LIST" || name == "CLASS" || name == "DIMENSION_LIST" ||
         name == "NAME" || name == "_Netcdf4Dimid" || name == "_Netcdf4Coordinates" ||
         name == "_nc3_strict" || name == "_NCProperties" || name == "_FillValue";
}

std::string BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// ---- element types -------------------------------------------------------------------

enum class Kind { kInt, kUint, kFloat, kString, kCompound };

struct ElementType {
  Kind kind;
  size_t size;
  bool big_endian;
  std::string dtype;  // numpy's spelling ("<f4"), or a JSON list for compounds
};

Result<ElementType> AtomType(hid_t type) {
  H5T_class_t cls = H5Tget_class(type);
  size_t size = H5Tget_size(type);
  bool be = H5Tget_order(type) == H5T_ORDER_BE;
  std::string order = size == 1 ? "|" : be ? ">" : "<";
  if (cls == H5T_INTEGER && (size == 1 || size == 2 || size == 4 || size == 8)) {
    bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
    return ElementType{is_signed ? Kind::kInt : Kind::kUint, size, be,
                       order + (is_signed ? "i" : "u") + std::to_string(size)};
  }
  if (cls == H5T_FLOAT && (size == 2 || size == 4 || size == 8)) {
    // Only IEEE layouts: numpy has no other.
    size_t spos, epos, esize, mpos, msize;
    H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize);
    size_t want_esize = size == 2 ? 5 : size == 4 ? 8 : 11;
    if (esize != want_esize || spos != size * 8 - 1)
      return Unsupported("a non-IEEE float type");
    return ElementType{Kind::kFloat, size, be, order + "f" + std::to_string(size)};
  }
  if (cls == H5T_STRING) {
    if (H5Tis_variable_str(type) > 0) return Unsupported("variable-length strings");
    return ElementType{Kind::kString, size, false, "|S" + std::to_string(size)};
  }
  switch (cls) {
    case H5T_VLEN: return Unsupported("variable-length data");
    case H5T_ENUM: return Unsupported("an enumerated type");
    case H5T_REFERENCE: return Unsupported("references");
    case H5T_ARRAY: return Unsupported("an array type");
    case H5T_OPAQUE: return Unsupported("an opaque type");
    case H5T_BITFIELD: return Unsupported("a bitfield type");
    default: return Unsupported("an element type Zarr v2 cannot say");
  }
}

// A compound type as a numpy structured dtype: fields of atomic types,
// packed in order (a Zarr v2 dtype list has no offsets).
Result<ElementType> CompoundType(hid_t type) {
  int n = H5Tget_nmembers(type);
  if (n <= 0) return Unsupported("an empty compound type");
  std::vector<std::string> fields;
  size_t offset = 0;
  for (int i = 0; i < n; ++i) {
    char* name = H5Tget_member_name(type, i);
    std::string field = name ? name : "";
    H5free_memory(name);
    Hid member(H5Tget_member_type(type, i), H5Tclose);
    if (!member.ok()) return Unsupported("an unreadable compound member");
    if (H5Tget_member_offset(type, i) != offset) return Unsupported("a compound type with padding");
    auto atom = AtomType(member.get());
    if (!atom.ok()) return Unsupported("compound member '" + field + "' of " + atom.status().message());
    offset += atom->size;
    fields.push_back("[" + JsonQuote(field) + ", " + JsonQuote(atom->dtype) + "]");
  }
  if (offset != H5Tget_size(type)) return Unsupported("a compound type with padding");
  return ElementType{Kind::kCompound, offset, false, JsonList(fields)};
}

Result<ElementType> TypeOf(hid_t type) {
  if (H5Tget_class(type) == H5T_COMPOUND) return CompoundType(type);
  return AtomType(type);
}

std::string DtypeJson(const ElementType& t) {
  return t.kind == Kind::kCompound ? t.dtype : JsonQuote(t.dtype);
}

double HalfToDouble(uint16_t h) {
  int exp = (h >> 10) & 31, mant = h & 1023;
  double v = exp == 0 ? std::ldexp(mant, -24)
             : exp == 31 ? (mant ? std::nan("") : INFINITY)
                         : std::ldexp(mant + 1024, exp - 25);
  return (h & 0x8000) ? -v : v;
}

// One value of `t` stored at `p` (in the type's byte order), as JSON.
std::string ValueJson(const ElementType& t, const unsigned char* p) {
  uint64_t raw = 0;
  for (size_t i = 0; i < t.size; ++i) {
    size_t at = t.big_endian ? i : t.size - 1 - i;
    raw = (raw << 8) | p[at];
  }
  switch (t.kind) {
    case Kind::kInt: {
      int shift = 64 - int(t.size) * 8;
      return std::to_string(static_cast<int64_t>(raw << shift) >> shift);
    }
    case Kind::kUint: return std::to_string(raw);
    case Kind::kFloat: {
      if (t.size == 2) return JsonDouble(HalfToDouble(static_cast<uint16_t>(raw)));
      if (t.size == 4) {
        uint32_t u = static_cast<uint32_t>(raw);
        float f;
        std::memcpy(&f, &u, 4);
        return JsonDouble(f);
      }
      double d;
      std::memcpy(&d, &raw, 8);
      return JsonDouble(d);
    }
    case Kind::kString:
      return JsonQuote(EncodeBase64(std::string_view(reinterpret_cast<const char*>(p), t.size)));
    case Kind::kCompound: return "null";
  }
  return "null";
}

// ---- attributes ----------------------------------------------------------------------

// The value of attribute `attr` as JSON: text, a number, or a list of them
// (one element is written bare, as kerchunk does); "" if .zattrs cannot
// hold its type (then it is left out).
std::string AttributeJson(hid_t attr) {
  Hid type(H5Aget_type(attr), H5Tclose);
  Hid space(H5Aget_space(attr), H5Sclose);
  if (!type.ok() || !space.ok()) return "";
  if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) return "\"\"";
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0 || n > (1 << 20)) return "";
  std::vector<std::string> items;
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_STRING && H5Tis_variable_str(type.get()) > 0) {
    Hid mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    std::vector<char*> strs(n, nullptr);
    if (H5Aread(attr, mem.get(), strs.data()) < 0) return "";
    for (char* s : strs) items.push_back(JsonQuote(s ? s : ""));
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, strs.data());
  } else if (cls == H5T_STRING) {
    size_t size = H5Tget_size(type.get());
    std::string buf(size * n, '\0');
    if (H5Aread(attr, type.get(), buf.data()) < 0) return "";
    for (hssize_t i = 0; i < n; ++i) {
      std::string_view s(buf.data() + i * size, size);
      s = s.substr(0, s.find('\0'));
      items.push_back(JsonQuote(s));
    }
  } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
    bool is_float = cls == H5T_FLOAT, is_signed = H5Tget_sign(type.get()) == H5T_SGN_2;
    std::vector<uint64_t> buf(n);
    hid_t mem = is_float ? H5T_NATIVE_DOUBLE : is_signed ? H5T_NATIVE_LLONG : H5T_NATIVE_ULLONG;
    if (H5Aread(attr, mem, buf.data()) < 0) return "";
    for (uint64_t raw : buf) {
      if (is_float) {
        double d;
        std::memcpy(&d, &raw, 8);
        items.push_back(JsonDouble(d));
      } else {
        items.push_back(is_signed ? std::to_string(static_cast<int64_t>(raw)) : std::to_string(raw));
      }
    }
  } else {
    return "";
  }
  if (items.size() == 1 && H5Sget_simple_extent_type(space.get()) != H5S_NULL) return items[0];
  return JsonList(items);
}

JsonAttributes Attributes(hid_t obj, const std::string& where) {
  struct Ctx {
    JsonAttributes out;
    const std::string* where;
  } ctx{{}, &where};
  auto visit = [](hid_t loc, const char* name, const H5A_info_t*, void* data) -> herr_t {
    auto* c = static_cast<Ctx*>(data);
    if (IsHiddenAttribute(name)) return 0;
    Hid attr(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose);
    std::string value = attr.ok() ? AttributeJson(attr.get()) : "";
    if (value.empty() || value == "\"DIMENSION_SCALE\"") {
      LogDebug(*c->where + ": attribute '" + name + "' left out (a type .zattrs cannot hold)");
      H5Eclear2(H5E_DEFAULT);
      return 0;
    }
    c->out.emplace_back(name, std::move(value));
    return 0;
  };
  hsize_t idx = 0;
  // Creation order where the file tracks it (netCDF-4 does), else by name.
  if (H5Aiterate2(obj, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, visit, &ctx) < 0) {
    H5Eclear2(H5E_DEFAULT);
    ctx.out.clear();
    idx = 0;
    H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, visit, &ctx);
  }
  return std::move(ctx.out);
}

// ---- filters -------------------------------------------------------------------------

const char* BloscCompressorName(unsigned code) {
  static const char* kNames[] = {"blosclz", "lz4", "lz4hc", "snappy", "zlib", "zstd"};
  return code < 6 ? kNames[code] : nullptr;
}

// The numcodecs spelling of filter `i` of `dcpl`, or why there is none.
Result<std::string> FilterJson(hid_t dcpl, unsigned i, const ElementType& t) {
  unsigned flags = 0, cd[16] = {0}, config = 0;
  size_t ncd = 16;
  char name[64] = {0};
  H5Z_filter_t id = H5Pget_filter2(dcpl, i, &flags, &ncd, cd, sizeof name, name, &config);
  auto level = [&](unsigned dflt) { return std::to_string(ncd > 0 ? cd[0] : dflt); };
  // Registered names run on ("HDF5 lz4 filter; see http://..."): keep the name.
  if (char* cut = std::strchr(name, ';')) *cut = '\0';
  switch (id) {
    case H5Z_FILTER_DEFLATE: return "{\"id\": \"zlib\", \"level\": " + level(6) + "}";
    case H5Z_FILTER_SHUFFLE:
      return "{\"elementsize\": " + std::to_string(t.size) + ", \"id\": \"shuffle\"}";
    case H5Z_FILTER_FLETCHER32: return std::string();  // see FiltersJson
    case 307: return "{\"id\": \"bz2\", \"level\": " + level(9) + "}";
    case 32015: return "{\"id\": \"zstd\", \"level\": " + level(0) + "}";
    case 32001: {
      // cd: filter revision, blosc version, element size, chunk bytes,
      // then (when given) level, shuffle, compressor.
      const char* cname = BloscCompressorName(ncd > 6 ? cd[6] : 0);
      if (!cname) return Unsupported("blosc with compressor " + std::to_string(cd[6]));
      return "{\"blocksize\": 0, \"clevel\": " + std::to_string(ncd > 4 ? cd[4] : 5) +
             ", \"cname\": \"" + cname + "\", \"id\": \"blosc\", \"shuffle\": " +
             std::to_string(ncd > 5 ? cd[5] : 1) + "}";
    }
    default:
      return Unsupported("filter " + std::to_string(id) + (name[0] ? std::string(" (") + name + ")" : "") +
                         ", which no codec here decodes");
  }
}

// The filters as a Zarr v2 list. A fletcher32 checksum (4 bytes after the
// filtered data) is not a codec in the list: zarr-python's numcodecs
// before 0.12 has none, so, as kerchunk does, each chunk's range stops
// before it (*trailer_bytes = 4). Only where it is the last filter.
Result<std::string> FiltersJson(hid_t dcpl, const ElementType& t, uint64_t* trailer_bytes) {
  *trailer_bytes = 0;
  int n = H5Pget_nfilters(dcpl);
  if (n <= 0) return std::string("null");
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    ZM_ASSIGN_OR_RETURN(std::string f, FilterJson(dcpl, static_cast<unsigned>(i), t));
    if (!f.empty()) {
      out.push_back(std::move(f));
    } else if (i + 1 == n) {
      *trailer_bytes = 4;
    } else {
      return Unsupported("fletcher32 before another filter");
    }
  }
  return out.empty() ? std::string("null") : JsonList(out);
}

// ---- one dataset ---------------------------------------------------------------------

struct Dataset {
  std::string path;  // "g/v"
  hid_t id;
  ElementType type;
  std::vector<uint64_t> shape;
  hid_t dcpl;
  hid_t file_type;
  hid_t space;  // the chunk queries of 1.10 refuse H5S_ALL
};

// True if the dataset carries netCDF-4's bookkeeping attributes or is
// tied to dimension scales (how netCDF-4 writes every variable).
bool IsNetcdf4Variable(hid_t id) {
  bool found = false;
  hsize_t idx = 0;
  H5Aiterate2(id, H5_INDEX_NAME, H5_ITER_INC, &idx,
              [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
                std::string_view n(name);
                if (n.starts_with("_Netcdf4") || n == "DIMENSION_LIST" || n == "CLASS")
                  *static_cast<bool*>(out) = true;
                return 0;
              },
              &found);
  H5Eclear2(H5E_DEFAULT);
  return found;
}

// The fill value: the _FillValue attribute (netCDF's), else the dataset's
// own (what libhdf5 returns for chunks never written). null for compounds,
// and, as kerchunk writes it, for a netCDF-4 variable without _FillValue
// whose every chunk is stored: xarray would otherwise mask its coordinates
// with netCDF's default fill, which reading the file does not.
std::string FillJson(const Dataset& d, bool fully_stored) {
  if (d.type.kind == Kind::kCompound) return "null";
  std::vector<unsigned char> buf(d.type.size, 0);
  if (H5Aexists(d.id, "_FillValue") > 0) {
    Hid attr(H5Aopen(d.id, "_FillValue", H5P_DEFAULT), H5Aclose);
    Hid space(attr.ok() ? H5Aget_space(attr.get()) : -1, H5Sclose);
    if (space.ok() && H5Sget_simple_extent_npoints(space.get()) == 1 &&
        H5Aread(attr.get(), d.file_type, buf.data()) >= 0)
      return ValueJson(d.type, buf.data());
    H5Eclear2(H5E_DEFAULT);
  }
  if (fully_stored && IsNetcdf4Variable(d.id)) return "null";
  H5D_fill_value_t defined;
  if (H5Pfill_value_defined(d.dcpl, &defined) < 0 || defined == H5D_FILL_VALUE_UNDEFINED) return "null";
  if (H5Pget_fill_value(d.dcpl, d.file_type, buf.data()) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return "null";
  }
  return ValueJson(d.type, buf.data());
}

// The dimension names: the attached dimension scale's name, the dataset's
// own for a scale, else phony_dim_N as netCDF-4 names them.
Result<std::vector<std::string>> DimensionNames(const Dataset& d) {
  std::vector<std::string> names;
  bool is_scale = H5DSis_scale(d.id) > 0;
  for (unsigned n = 0; n < d.shape.size(); ++n) {
    int scales = H5DSget_num_scales(d.id, n);
    if (scales == 1) {
      std::string name;
      H5DSiterate_scales(d.id, n, nullptr,
                         [](hid_t, unsigned, hid_t scale, void* out) -> herr_t {
                           char buf[1024] = {0};
                           H5Iget_name(scale, buf, sizeof buf);
                           *static_cast<std::string*>(out) = BaseName(buf);
                           return 1;
                         },
                         &name);
      names.push_back(name);
    } else if (is_scale) {
      names.push_back(BaseName(d.path));
    } else if (scales > 1) {
      return Unsupported(std::to_string(scales) + " dimension scales on dimension " + std::to_string(n));
    } else {
      names.push_back("phony_dim_" + std::to_string(n));
    }
  }
  H5Eclear2(H5E_DEFAULT);
  return names;
}

struct StoredChunk {
  std::string key;
  uint64_t offset;
  uint64_t size;
};

// The stored chunks of a chunked dataset, listed whole before any is
// added: one that cannot be said leaves the variable out.
Result<std::vector<StoredChunk>> ListChunks(const Dataset& d, const std::vector<uint64_t>& chunk,
                                            ScanSink* sink) {
  std::vector<StoredChunk> out;
  hsize_t count = 0;
  if (H5Dget_num_chunks(d.id, d.space, &count) < 0)
    return InvalidArgument(sink->path() + ": '" + d.path + "': chunk index unreadable (" + Hdf5Message() + ")");
  std::vector<hsize_t> offset(d.shape.size() + 1);
  for (hsize_t i = 0; i < count; ++i) {
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    if (H5Dget_chunk_info(d.id, d.space, i, offset.data(), &mask, &addr, &size) < 0)
      return InvalidArgument(sink->path() + ": '" + d.path + "': chunk " + std::to_string(i) +
                             " unreadable (" + Hdf5Message() + ")");
    if (addr == HADDR_UNDEF) continue;
    if (mask != 0) return Unsupported("a chunk stored with a filter skipped");
    std::vector<uint64_t> index(d.shape.size());
    for (size_t k = 0; k < index.size(); ++k) index[k] = offset[k] / chunk[k];
    out.push_back({ChunkKey(d.path, index), addr, size});
  }
  return out;
}

bool HasStorage(const Dataset& d, H5D_layout_t layout) {
  if (layout == H5D_CONTIGUOUS) {
    haddr_t a = H5Dget_offset(d.id);
    H5Eclear2(H5E_DEFAULT);
    return a != HADDR_UNDEF;
  }
  if (layout == H5D_CHUNKED) {
    hsize_t n = 0;
    return H5Dget_num_chunks(d.id, d.space, &n) >= 0 && n > 0;
  }
  return true;
}

uint64_t ElementCount(const std::vector<uint64_t>& shape) {
  uint64_t n = 1;
  for (uint64_t s : shape) n *= s;
  return n;
}

// Writes the array's metadata and its chunk references. Unsupported: the
// variable is left out (the caller logs why); other errors fail the file.
Status AddDataset(Dataset& d, ScanSink* sink) {
  H5D_layout_t layout = H5Pget_layout(d.dcpl);
  if (layout == H5D_VIRTUAL) return Unsupported("a virtual dataset");
  if (layout == H5D_CONTIGUOUS && H5Pget_external_count(d.dcpl) > 0)
    return Unsupported("data in external files");
  // netCDF-4 keeps a dimension without a coordinate variable as an empty
  // dimension scale: it is no array.
  if (H5DSis_scale(d.id) > 0 && !HasStorage(d, layout)) return Status();
  std::vector<uint64_t> chunk = d.shape;
  if (layout == H5D_CHUNKED) {
    std::vector<hsize_t> dims(d.shape.size() + 1);
    int rank = H5Pget_chunk(d.dcpl, static_cast<int>(dims.size()), dims.data());
    if (rank != static_cast<int>(d.shape.size())) return Unsupported("an unreadable chunk shape");
    for (size_t k = 0; k < chunk.size(); ++k) chunk[k] = dims[k];
  }
  for (uint64_t& c : chunk) c = std::max<uint64_t>(c, 1);
  std::string filters = "null";
  uint64_t trailer_bytes = 0;
  if (layout == H5D_CHUNKED) {
    ZM_ASSIGN_OR_RETURN(filters, FiltersJson(d.dcpl, d.type, &trailer_bytes));
  }
  ZM_ASSIGN_OR_RETURN(std::vector<std::string> dims, DimensionNames(d));

  bool fully_stored = true;
  if (layout == H5D_CHUNKED) {
    ZM_ASSIGN_OR_RETURN(std::vector<StoredChunk> chunks, ListChunks(d, chunk, sink));
    uint64_t grid = 1;
    for (size_t k = 0; k < chunk.size(); ++k) grid *= (d.shape[k] + chunk[k] - 1) / chunk[k];
    fully_stored = chunks.size() == grid;
    for (const StoredChunk& c : chunks) {
      if (c.size < trailer_bytes) return InvalidArgument(sink->path() + ": chunk '" + c.key + "' is too short");
      ZM_RETURN_IF_ERROR(sink->AddChunk(c.key, c.offset, c.size - trailer_bytes));
    }
  } else if (layout == H5D_CONTIGUOUS) {
    haddr_t addr = H5Dget_offset(d.id);
    H5Eclear2(H5E_DEFAULT);
    fully_stored = addr != HADDR_UNDEF;
    if (addr != HADDR_UNDEF && ElementCount(d.shape) > 0)
      ZM_RETURN_IF_ERROR(sink->AddChunk(ChunkKey(d.path, std::vector<uint64_t>(d.shape.size(), 0)), addr,
                                        H5Dget_storage_size(d.id)));
  } else if (layout == H5D_COMPACT) {
    std::string bytes(ElementCount(d.shape) * d.type.size, '\0');
    if (H5Dread(d.id, d.file_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()) < 0)
      return InvalidArgument(sink->path() + ": '" + d.path + "': compact data unreadable (" + Hdf5Message() + ")");
    if (!bytes.empty()) sink->AddInline(ChunkKey(d.path, std::vector<uint64_t>(d.shape.size(), 0)), bytes);
  } else {
    return Unsupported("an unknown storage layout");
  }
  sink->AddMetadata(d.path, ".zarray", ZarrayJson(d.shape, chunk, DtypeJson(d.type), FillJson(d, fully_stored), filters));
  JsonAttributes attrs = Attributes(d.id, sink->path() + ": " + d.path);
  std::vector<std::string> quoted;
  for (const std::string& n : dims) quoted.push_back(JsonQuote(n));
  attrs.emplace_back("_ARRAY_DIMENSIONS", JsonList(quoted));
  sink->AddMetadata(d.path, ".zattrs", ZattrsJson(attrs));
  return Status();
}

Status VisitDataset(hid_t file, const std::string& path, ScanSink* sink) {
  Hid id(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!id.ok()) return InvalidArgument(sink->path() + ": dataset '" + path + "': " + Hdf5Message());
  Hid type(H5Dget_type(id.get()), H5Tclose);
  Hid space(H5Dget_space(id.get()), H5Sclose);
  Hid dcpl(H5Dget_create_plist(id.get()), H5Pclose);
  if (!type.ok() || !space.ok() || !dcpl.ok())
    return InvalidArgument(sink->path() + ": dataset '" + path + "': " + Hdf5Message());
  auto element = TypeOf(type.get());
  if (!element.ok()) {
    sink->Skip(path + ": left out: " + element.status().message());
    return Status();
  }
  H5S_class_t cls = H5Sget_simple_extent_type(space.get());
  if (cls == H5S_NULL) {
    sink->Skip(path + ": left out: an empty (null) dataspace");
    return Status();
  }
  Dataset d{path, id.get(), *element, {}, dcpl.get(), type.get(), space.get()};
  int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(rank > 0 ? rank : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  d.shape.assign(dims.begin(), dims.end());
  Status st = AddDataset(d, sink);
  if (st.code() == Code::kUnsupported) {
    sink->Skip(path + ": left out: " + st.message());
    return Status();
  }
  return st;
}

Status VisitGroup(hid_t file, const std::string& path, ScanSink* sink) {
  Hid group(H5Gopen2(file, path.empty() ? "/" : path.c_str(), H5P_DEFAULT), H5Gclose);
  if (!group.ok()) return InvalidArgument(sink->path() + ": group '" + path + "': " + Hdf5Message());
  sink->AddMetadata(path, ".zgroup", "{\"zarr_format\": 2}");
  sink->AddMetadata(path, ".zattrs", ZattrsJson(Attributes(group.get(), sink->path() + ": /" + path)));
  return Status();
}

struct VisitState {
  hid_t file;
  ScanSink* sink;
  Status status;
};

herr_t VisitObject(hid_t, const char* name, const H5O_info_t* info, void* data) {
  auto* s = static_cast<VisitState*>(data);
  std::string path = name;
  if (path == ".") return 0;  // the root, done before the walk
  if (!ReferenceIndexBuilder::ValidateKey(path + "/.zarray").ok()) {
    s->sink->Skip(path + ": left out: a name Zarr keys cannot hold");
    return 0;
  }
  if (info->type == H5O_TYPE_GROUP) s->status = VisitGroup(s->file, path, s->sink);
  else if (info->type == H5O_TYPE_DATASET) s->status = VisitDataset(s->file, path, s->sink);
  return s->status.ok() ? 0 : -1;
}

}  // namespace

Status ScanHdf5(ScanSink* sink) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become values, not stderr dumps
  g_driver_error.clear();
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  DriverInfo info{sink};
  if (DriverId() < 0 || H5Pset_driver(fapl.get(), DriverId(), &info) < 0)
    return InvalidArgument(sink->path() + ": libhdf5 refused the scan driver: " + Hdf5Message());
  H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
  Hid file(H5Fopen(sink->path().c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!file.ok()) return InvalidArgument(sink->path() + ": HDF5 file unreadable: " + Hdf5Message());
  ZM_RETURN_IF_ERROR(VisitGroup(file.get(), "", sink));
  VisitState state{file.get(), sink, Status()};
  herr_t rc = H5Ovisit2(file.get(), H5_INDEX_NAME, H5_ITER_INC, VisitObject, &state, H5O_INFO_BASIC);
  if (!state.status.ok()) return state.status;
  if (rc < 0) return InvalidArgument(sink->path() + ": HDF5 objects unreadable: " + Hdf5Message());
  return Status();
}

}  // namespace zm
