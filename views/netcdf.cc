#include "views/netcdf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

namespace zm {
namespace {

constexpr uint32_t kTagDimension = 0x0A;
constexpr uint32_t kTagVariable = 0x0B;
constexpr uint32_t kTagAttribute = 0x0C;

// CDF-2 stores a variable's size in 32 bits; the spec reserves the values
// above 2^32 - 4 (only a last variable may exceed them, which we avoid by
// switching to CDF-5 instead).
constexpr uint64_t kCdf2MaxVarBytes = (uint64_t{1} << 32) - 4;
constexpr uint64_t kCdf2MaxDim = std::numeric_limits<int32_t>::max();

uint64_t Pad4(uint64_t n) { return (n + 3) / 4 * 4; }

void PutBe(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

class HeaderWriter {
 public:
  explicit HeaderWriter(int version) : cdf5_(version == 5) {}
  std::string& out() { return out_; }

  void U32(uint64_t v) { PutBe(&out_, v, 4); }
  // NON_NEG counts and lengths: 32 bits in CDF-2, 64 in CDF-5.
  void Count(uint64_t v) { PutBe(&out_, v, cdf5_ ? 8 : 4); }
  void Offset(uint64_t v) { PutBe(&out_, v, 8); }  // CDF-2 and CDF-5 alike
  void Name(std::string_view name) {
    Count(name.size());
    Bytes(name);
  }
  // Bytes followed by zeros up to a multiple of 4.
  void Bytes(std::string_view b) {
    out_.append(b);
    out_.append(Pad4(b.size()) - b.size(), '\0');
  }
  void Attributes(const std::vector<NcAttribute>& attrs) {
    if (attrs.empty()) {  // ABSENT: a zero tag and a zero count
      U32(0);
      Count(0);
      return;
    }
    U32(kTagAttribute);
    Count(attrs.size());
    for (const auto& a : attrs) {
      Name(a.name);
      U32(static_cast<uint32_t>(a.type));
      Count(a.count());
      Bytes(a.values);
    }
  }

 private:
  bool cdf5_;
  std::string out_;
};

std::string Header(int version, const std::vector<NcDimension>& dims,
                   const std::vector<NcAttribute>& gattrs, const std::vector<NcVariable>& vars,
                   const std::vector<uint64_t>& vsize, const std::vector<uint64_t>& begin) {
  HeaderWriter w(version);
  w.out() += "CDF";
  w.out() += static_cast<char>(version);
  w.Count(0);  // numrecs: no record variables
  if (dims.empty()) {
    w.U32(0);
    w.Count(0);
  } else {
    w.U32(kTagDimension);
    w.Count(dims.size());
    for (const auto& d : dims) {
      w.Name(d.name);
      w.Count(d.length);
    }
  }
  w.Attributes(gattrs);
  if (vars.empty()) {
    w.U32(0);
    w.Count(0);
  } else {
    w.U32(kTagVariable);
    w.Count(vars.size());
    for (size_t i = 0; i < vars.size(); ++i) {
      const auto& v = vars[i];
      w.Name(v.name);
      w.Count(v.dims.size());
      for (uint32_t d : v.dims) w.Count(d);
      w.Attributes(v.attributes);
      w.U32(static_cast<uint32_t>(v.type));
      w.Count(vsize[i]);
      w.Offset(begin[i]);
    }
  }
  return std::move(w.out());
}

}  // namespace

uint32_t NcTypeSize(NcType t) {
  switch (t) {
    case NcType::kByte: case NcType::kChar: case NcType::kUByte: return 1;
    case NcType::kShort: case NcType::kUShort: return 2;
    case NcType::kInt: case NcType::kFloat: case NcType::kUInt: return 4;
    case NcType::kDouble: case NcType::kInt64: case NcType::kUInt64: return 8;
  }
  return 1;
}

uint64_t NcAttribute::count() const { return values.size() / NcTypeSize(type); }

NcAttribute NcTextAttribute(std::string name, std::string_view text) {
  return NcAttribute{std::move(name), NcType::kChar, std::string(text)};
}

NcAttribute NcIntAttribute(std::string name, const std::vector<int64_t>& values) {
  bool fits = true;
  for (int64_t v : values)
    fits = fits && v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
  NcAttribute a{std::move(name), fits ? NcType::kInt : NcType::kInt64, {}};
  for (int64_t v : values) PutBe(&a.values, static_cast<uint64_t>(v), fits ? 4 : 8);
  return a;
}

NcAttribute NcDoubleAttribute(std::string name, const std::vector<double>& values) {
  NcAttribute a{std::move(name), NcType::kDouble, {}};
  for (double v : values) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    PutBe(&a.values, bits, 8);
  }
  return a;
}

NcAttribute NcElementAttribute(std::string name, NcType t, std::string_view element,
                               bool big_endian) {
  NcAttribute a{std::move(name), t, std::string(element)};
  if (!big_endian) std::reverse(a.values.begin(), a.values.end());
  return a;
}

Result<NcLayout> LayoutNetcdf(const std::vector<NcDimension>& dims,
                              const std::vector<NcAttribute>& gattrs,
                              const std::vector<NcVariable>& vars, int min_version) {
  bool cdf5 = min_version >= 5;
  auto check_attrs = [&](const std::vector<NcAttribute>& attrs, const std::string& where) -> Status {
    std::set<std::string_view> seen;
    for (const auto& a : attrs) {
      if (a.name.empty() || !seen.insert(a.name).second)
        return InvalidArgument(where + ": empty or repeated attribute name '" + a.name + "'");
      if (NcTypeNeedsCdf5(a.type)) cdf5 = true;
    }
    return Status::Ok();
  };
  std::set<std::string_view> names;
  for (const auto& d : dims) {
    if (d.name.empty() || !names.insert(d.name).second)
      return InvalidArgument("empty or repeated dimension name '" + d.name + "'");
    if (d.length == 0) return InvalidArgument("dimension '" + d.name + "' has length 0");
    if (d.length > kCdf2MaxDim) cdf5 = true;
  }
  ZM_RETURN_IF_ERROR(check_attrs(gattrs, "global"));
  names.clear();
  NcLayout layout;
  for (const auto& v : vars) {
    if (v.name.empty() || !names.insert(v.name).second)
      return InvalidArgument("empty or repeated variable name '" + v.name + "'");
    ZM_RETURN_IF_ERROR(check_attrs(v.attributes, "variable '" + v.name + "'"));
    if (NcTypeNeedsCdf5(v.type)) cdf5 = true;
    uint64_t n = NcTypeSize(v.type);
    for (uint32_t d : v.dims) {
      if (d >= dims.size())
        return InvalidArgument("variable '" + v.name + "': no dimension " + std::to_string(d));
      if (n > (uint64_t{1} << 62) / dims[d].length)
        return InvalidArgument("variable '" + v.name + "' is too large");
      n *= dims[d].length;
    }
    if (Pad4(n) > kCdf2MaxVarBytes) cdf5 = true;
    layout.nbytes.push_back(n);
  }
  layout.version = cdf5 ? 5 : 2;
  std::vector<uint64_t> vsize;
  for (uint64_t n : layout.nbytes) vsize.push_back(Pad4(n));
  // The header's size does not depend on the offsets it holds (each takes
  // 8 bytes), so lay it out once with zeros, then with the real offsets.
  std::vector<uint64_t> begin(vars.size(), 0);
  const uint64_t header_size = Header(layout.version, dims, gattrs, vars, vsize, begin).size();
  uint64_t pos = header_size;
  for (size_t i = 0; i < vars.size(); ++i) {
    begin[i] = pos;
    pos += vsize[i];
  }
  layout.header = Header(layout.version, dims, gattrs, vars, vsize, begin);
  layout.begin = std::move(begin);
  layout.file_size = pos;
  return layout;
}

}  // namespace zm
