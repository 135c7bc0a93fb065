#include "refs/reference_loader.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <utility>
#include <optional>
#include <algorithm>
#include <unordered_map>
#include <vector>

#include "base/base64.h"
#include "codecs/codec.h"
#include "refs/json_members.h"
#include "refs/template.h"

namespace zm {
namespace {

namespace od = simdjson::ondemand;

// Names a key in an error; a hostile one is shortened.
std::string Quote(std::string_view key) {
  constexpr size_t kMaxQuoted = 256;
  if (key.size() > kMaxQuoted) return "key '" + std::string(key.substr(0, kMaxQuoted)) + "...'";
  return "key '" + std::string(key) + "'";
}

// Errors are one line, whatever bytes of the reference set they quote.
Status OneLine(const Status& st) {
  std::string m;
  for (unsigned char c : st.message()) {
    if (c == '\n') {
      m += "\\n";
    } else if (c < 0x20 || c == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      m += hex;
    } else {
      m += static_cast<char>(c);
    }
  }
  return Status(st.code(), std::move(m));
}

// `shift`: the offset of json's first byte in the text the user gave.
Status JsonError(simdjson::error_code e, od::document& doc, std::string_view json, int64_t shift) {
  std::string where;
  const char* loc = nullptr;
  if (!doc.current_location().get(loc) && loc >= json.data() && loc <= json.data() + json.size())
    where = " at byte " + std::to_string(std::max<int64_t>(0, loc - json.data() + shift));
  return InvalidArgument(std::string("invalid JSON") + where + ": " + simdjson::error_message(e));
}

// Reads a JSON integer that must be >= 0 and fit in int64.
Result<uint64_t> NonNegativeInt(od::value v, const char* what) {
  std::string msg = std::string(what) + " must be a non-negative integer";
  od::json_type t;
  if (v.type().get(t) || t != od::json_type::number) return InvalidArgument(msg);
  od::number_type nt;
  if (v.get_number_type().get(nt)) return InvalidArgument(msg);
  if (nt == od::number_type::signed_integer) {
    int64_t x;
    if (v.get_int64().get(x) || x < 0) return InvalidArgument(msg);
    return static_cast<uint64_t>(x);
  }
  if (nt == od::number_type::unsigned_integer)
    return InvalidArgument(std::string(what) + " is too large");
  return InvalidArgument(msg);
}

// One dimension of a 'gen' entry: a list of values or a range, kept as
// start/step/count so that a huge range costs nothing before the key limit
// refuses it.
struct GenDim {
  std::string name;
  std::vector<TemplateValue> values;
  bool is_range = false;
  int64_t start = 0, step = 1;
  uint64_t count = 0;
  uint64_t size() const { return is_range ? count : values.size(); }
  TemplateValue at(uint64_t i) const {
    // start + i * step lies between start and stop: no overflow.
    return is_range ? TemplateValue(static_cast<int64_t>(static_cast<uint64_t>(start) +
                                                         i * static_cast<uint64_t>(step)))
                    : values[i];
  }
};

// The templates of a 'gen' entry; offset and length only if `ranged`.
struct GenTemplates {
  std::string key, url, offset, length;
  bool ranged = false;
};

// Python's len(range(start, stop, step)), in unsigned arithmetic: stop -
// start may not fit in int64. REQUIRES: step != 0.
uint64_t RangeLength(int64_t start, int64_t stop, int64_t step) {
  if (step > 0 && stop > start) {
    uint64_t span = static_cast<uint64_t>(stop) - static_cast<uint64_t>(start);
    return (span - 1) / static_cast<uint64_t>(step) + 1;
  }
  if (step < 0 && stop < start) {
    uint64_t span = static_cast<uint64_t>(start) - static_cast<uint64_t>(stop);
    return (span - 1) / (~static_cast<uint64_t>(step) + 1) + 1;
  }
  return 0;
}

// A dimension given as a list of integers or strings.
Status ParseGenValues(od::value& v, const std::string& ctx, GenDim* dim) {
  od::array arr;
  if (v.get_array().get(arr)) return InvalidArgument(ctx + ": malformed dimensions");
  for (auto elem : arr) {
    int64_t i;
    std::string_view s;
    if (!elem.get_int64().get(i))
      dim->values.emplace_back(i);
    else if (!elem.get_string().get(s))
      dim->values.emplace_back(std::string(s));
    else
      return InvalidArgument(ctx + ": dimension '" + dim->name + "' values must be integers or strings");
  }
  return Status::Ok();
}

// A dimension given as {start, stop, step} (stop required, step not 0).
Status ParseGenRange(od::value& v, const std::string& ctx, GenDim* dim) {
  od::object range;
  if (v.get_object().get(range)) return InvalidArgument(ctx + ": malformed dimensions");
  int64_t start = 0, stop = 0, step = 1;
  bool has_stop = false;
  for (auto rf : range) {
    std::string_view rk;
    int64_t val;
    if (rf.unescaped_key().get(rk)) return InvalidArgument(ctx + ": malformed dimension '" + dim->name + "'");
    std::string rk_copy(rk);
    if (rf.value().get_int64().get(val))
      return InvalidArgument(ctx + ": dimension '" + dim->name + "' " + rk_copy + " must be an integer");
    if (rk_copy == "start") start = val;
    else if (rk_copy == "stop") { stop = val; has_stop = true; }
    else if (rk_copy == "step") step = val;
    else return InvalidArgument(ctx + ": dimension '" + dim->name + "' has unknown field '" + rk_copy + "'");
  }
  if (!has_stop) return InvalidArgument(ctx + ": dimension '" + dim->name + "' needs 'stop'");
  if (step == 0) return InvalidArgument(ctx + ": dimension '" + dim->name + "' has step 0");
  dim->is_range = true;
  dim->start = start;
  dim->step = step;
  dim->count = RangeLength(start, stop, step);
  return Status::Ok();
}

// The 'dimensions' object of a gen entry, in its order.
Result<std::vector<GenDim>> ParseGenDimensions(od::object& obj, const std::string& ctx) {
  od::value v;
  if (obj.find_field_unordered("dimensions").get(v)) return InvalidArgument(ctx + ": missing 'dimensions'");
  od::object dobj;
  if (v.get_object().get(dobj)) return InvalidArgument(ctx + ": 'dimensions' must be an object");
  std::vector<GenDim> dims;
  for (auto field : dobj) {
    std::string_view name;
    if (field.unescaped_key().get(name)) return InvalidArgument(ctx + ": malformed dimensions");
    GenDim dim{std::string(name), {}};
    od::value dv;
    od::json_type t;
    if (field.value().get(dv) || dv.type().get(t)) return InvalidArgument(ctx + ": malformed dimensions");
    if (t == od::json_type::array) {
      ZM_RETURN_IF_ERROR(ParseGenValues(dv, ctx, &dim));
    } else if (t == od::json_type::object) {
      ZM_RETURN_IF_ERROR(ParseGenRange(dv, ctx, &dim));
    } else {
      return InvalidArgument(ctx + ": dimension '" + dim.name + "' must be a list or {start, stop, step}");
    }
    dims.push_back(std::move(dim));
  }
  return dims;
}

class Parser {
 public:
  Parser(std::string_view base, const ReferenceLoadOptions& options)
      : base_(base), options_(options) {}

  // Parses the reference set `text`. The text is never parsed whole: the
  // top level is scanned for its members first, then each is parsed on its
  // own, and the references object a slice of members at a time, so the
  // parser's index of the text stays small however large the set (see
  // ParseObjectInSlices). `release(n)` (optional) is told that the first n
  // bytes of the text will not be read again.
  Status Run(std::string_view text, const JsonProgress& release) {
    const size_t start = SkipJsonSpace(text, 0);
    if (start == text.size()) return InvalidArgument("invalid JSON: no content");
    if (text[start] != '{') return InvalidArgument("not a JSON object");
    ZM_ASSIGN_OR_RETURN(TopLevel top, ScanTopLevel(text, start, release));
    // A reference takes 30 bytes of text or more, a key a quarter of it.
    builder_.Reserve(text.size() / 32, text.size() / 4);
    // Version: 1 when "version" is 1, 0 when absent.
    int64_t version = 0;
    if (top.version) {
      ZM_RETURN_IF_ERROR(Load(text, *top.version));
      od::document doc;
      if (auto e = Iterate(&doc)) return Err(e, doc);
      if (doc.get_int64().get(version) || version != 1)
        return InvalidArgument("unsupported reference specification version (expected 1)");
    }
    if (version != 1) return ParseObjectInSlices(text, start, release);
    // Templates first: refs' URLs need them, whatever the field order.
    if (top.templates) ZM_RETURN_IF_ERROR(ParseTemplates(text, *top.templates));
    if (top.refs) {
      if (text[top.refs->begin] != '{') return InvalidArgument("'refs' must be an object");
      ZM_RETURN_IF_ERROR(ParseObjectInSlices(text, top.refs->begin, release));
    }
    if (top.gen) ZM_RETURN_IF_ERROR(ParseGens(text, *top.gen));
    return Status::Ok();
  }

  ReferenceIndexBuilder& builder() { return builder_; }

 private:
  // Where the top-level members a version 1 set gives meaning to are.
  struct TopLevel {
    std::optional<JsonSpan> version, templates, refs, gen;
  };

  // Finds the top-level members (their values skipped, not parsed) and
  // checks that nothing follows the object.
  Result<TopLevel> ScanTopLevel(std::string_view text, size_t start, const JsonProgress& release) {
    TopLevel top;
    JsonObjectScanner scan(text, start, release);
    while (true) {
      ZM_ASSIGN_OR_RETURN(std::optional<JsonMember> m, scan.Next());
      if (!m) break;
      // The first of repeated members counts, as a lookup by name finds it.
      auto note = [&](std::optional<JsonSpan>& slot) { if (!slot) slot = m->value; };
      if (m->raw_key == "version") note(top.version);
      else if (m->raw_key == "templates") note(top.templates);
      else if (m->raw_key == "refs") note(top.refs);
      else if (m->raw_key == "gen") note(top.gen);
    }
    const size_t after = SkipJsonSpace(text, scan.end());
    if (after != text.size())
      return InvalidArgument("invalid JSON: content after the top-level object at byte " +
                             std::to_string(after));
    return top;
  }

  Status ParseTemplates(std::string_view text, JsonSpan span) {
    ZM_RETURN_IF_ERROR(Load(text, span));
    od::document doc;
    if (auto e = Iterate(&doc)) return Err(e, doc);
    od::object tmpl;
    if (doc.get_object().get(tmpl)) return InvalidArgument("'templates' must be an object");
    for (auto field : tmpl) {
      std::string_view name, value;
      if (auto e = field.unescaped_key().get(name)) return Err(e, doc);
      std::string name_copy(name);
      if (field.value().get_string().get(value))
        return InvalidArgument("template '" + name_copy + "' must be a string");
      templates_[name_copy] = std::string(value);
    }
    return Status::Ok();
  }

  Status ParseGens(std::string_view text, JsonSpan span) {
    ZM_RETURN_IF_ERROR(Load(text, span));
    od::document doc;
    if (auto e = Iterate(&doc)) return Err(e, doc);
    od::array gens;
    if (doc.get_array().get(gens)) return InvalidArgument("'gen' must be an array");
    size_t i = 0;
    for (auto g : gens) {
      od::object obj;
      if (g.get_object().get(obj)) return InvalidArgument("gen entry " + std::to_string(i) + " must be an object");
      ZM_RETURN_IF_ERROR(ParseGen(obj, i));
      ++i;
    }
    return Status::Ok();
  }

  // The members of the object at `pos` of `text`, parsed a slice of about
  // kSliceBytes of text at a time: the parser indexes every structural
  // character of its input (4 bytes each), which for a reference set of
  // ten million keys would cost more than the index being built.
  Status ParseObjectInSlices(std::string_view text, size_t pos, const JsonProgress& release) {
    constexpr size_t kSliceBytes = size_t{8} << 20;
    JsonObjectScanner scan(text, pos);
    std::optional<JsonSpan> slice;  // from the first key to the last value
    while (true) {
      ZM_ASSIGN_OR_RETURN(std::optional<JsonMember> m, scan.Next());
      if (m) {
        if (!slice) slice = JsonSpan{m->key.begin, m->value.end};
        slice->end = m->value.end;
      }
      if (slice && (!m || slice->size() >= kSliceBytes)) {
        ZM_RETURN_IF_ERROR(Load(text, *slice, "{", "}"));
        od::document doc;
        if (auto e = Iterate(&doc)) return Err(e, doc);
        od::object members;
        if (auto e = doc.get_object().get(members)) return Err(e, doc);
        ZM_RETURN_IF_ERROR(ParseRefsObject(members, doc, /*allow_objects=*/true));
        if (release) release(slice->end);
        slice.reset();
      }
      if (!m) return Status::Ok();
    }
  }

  // Copies text[span], between `before` and `after`, into the padded buffer
  // the parser reads; errors then name offsets of the whole text.
  Status Load(std::string_view text, JsonSpan span, std::string_view before = {},
              std::string_view after = {}) {
    const size_t n = before.size() + span.size() + after.size();
    buf_.clear();
    buf_.reserve(n + simdjson::SIMDJSON_PADDING);
    buf_.append(before).append(text.substr(span.begin, span.size())).append(after);
    buf_.resize(n + simdjson::SIMDJSON_PADDING, ' ');
    json_ = std::string_view(buf_.data(), n);
    shift_ = static_cast<int64_t>(span.begin) - static_cast<int64_t>(before.size());
    return Status::Ok();
  }

  simdjson::error_code Iterate(od::document* doc) {
    return parser_.iterate(json_.data(), json_.size(), buf_.size()).get(*doc);
  }

  Status Err(simdjson::error_code e, od::document& doc) { return JsonError(e, doc, json_, shift_); }

  Status ParseRefsObject(od::object& refs, od::document& doc, bool allow_objects) {
    for (auto field : refs) {
      std::string_view key_view;
      if (auto e = field.unescaped_key().get(key_view)) return Err(e, doc);
      key_.assign(key_view);
      if (Status st = ReferenceIndexBuilder::ValidateKey(key_); !st.ok())
        return st.WithContext(Quote(key_));
      od::value v;
      if (auto e = field.value().get(v)) return Err(e, doc);
      od::json_type t;
      if (auto e = v.type().get(t)) return Err(e, doc);
      switch (t) {
        case od::json_type::string: {
          std::string_view s;
          if (auto e = v.get_string().get(s)) return Err(e, doc);
          if (s.starts_with("base64:")) {
            auto bytes = DecodeBase64(s.substr(7));
            if (!bytes.ok()) return bytes.status().WithContext(Quote(key_));
            builder_.AddInline(key_, *bytes);
          } else {
            builder_.AddInline(key_, s);
          }
          break;
        }
        case od::json_type::array: {
          od::array arr;
          if (auto e = v.get_array().get(arr)) return Err(e, doc);
          ZM_RETURN_IF_ERROR(ParseRefArray(arr).WithContext(Quote(key_)));
          break;
        }
        case od::json_type::object: {
          std::string_view raw;
          od::object obj;
          if (!allow_objects || v.get_object().get(obj) || obj.raw_json().get(raw))
            return InvalidArgument(Quote(key_) + ": unsupported value");
          builder_.AddInline(key_, raw);
          break;
        }
        default:
          return InvalidArgument(Quote(key_) +
                                 ": value must be a string, [url] or [url, offset, length]");
      }
    }
    return Status::Ok();
  }

  Status ParseRefArray(od::array& arr) {
    std::string_view url;
    uint64_t offset = 0, length = 0;
    size_t n = 0;
    for (auto elem : arr) {
      od::value v;
      if (elem.get(v)) return InvalidArgument("malformed reference array");
      if (n == 0) {
        if (v.get_string().get(url)) return InvalidArgument("url must be a string");
        ZM_ASSIGN_OR_RETURN(url_id_, UrlId(url));
      } else if (n == 1) {
        ZM_ASSIGN_OR_RETURN(offset, NonNegativeInt(v, "offset"));
      } else if (n == 2) {
        ZM_ASSIGN_OR_RETURN(length, NonNegativeInt(v, "length"));
      }
      ++n;
    }
    if (n == 1) {
      builder_.AddWhole(key_, url_id_);
      return Status::Ok();
    }
    if (n != 3) return InvalidArgument("reference must be [url] or [url, offset, length]");
    return AddRange(offset, length);
  }

  Status AddRange(uint64_t offset, uint64_t length) {
    // No object is anywhere near 1 PiB (S3 and GCS stop at 5 TiB); a range
    // beyond it is a corrupt reference, refused here so that no later layer
    // sizes a file or a buffer by it. Both values are below 2^63, so the sum
    // cannot wrap.
    constexpr uint64_t kMax = uint64_t{1} << 50;
    if (length > kMax) return InvalidArgument("length " + std::to_string(length) + " is beyond 1 PiB");
    if (offset > kMax || offset + length > kMax)
      return InvalidArgument("offset + length (" + std::to_string(offset) + " + " +
                             std::to_string(length) + ") is beyond 1 PiB");
    builder_.AddRange(key_, url_id_, offset, length);
    return Status::Ok();
  }

  // Interns the URL of a reference: templates rendered, then resolved. Most
  // reference sets have few distinct raw URLs, so this is one hash lookup.
  Result<uint32_t> UrlId(std::string_view raw) {
    auto it = raw_urls_.find(std::string(raw));
    if (it != raw_urls_.end()) return it->second;
    std::string url(raw);
    if (url.find("{{") != std::string::npos) {
      ZM_ASSIGN_OR_RETURN(url, RenderTemplate(raw, templates_));
    }
    if (url.empty()) return InvalidArgument("url is empty");
    uint32_t id = builder_.InternUrl(ResolveUrl(base_, url));
    raw_urls_.emplace(std::string(raw), id);
    return id;
  }

  Result<std::string> ReadString(od::object& obj, std::string_view field, bool required,
                                 bool* present) {
    od::value v;
    auto e = obj.find_field_unordered(field).get(v);
    *present = e == simdjson::SUCCESS;
    if (e == simdjson::NO_SUCH_FIELD) {
      if (required) return InvalidArgument("missing '" + std::string(field) + "'");
      return std::string();
    }
    if (e) return InvalidArgument("malformed '" + std::string(field) + "'");
    std::string_view s;
    if (!v.get_string().get(s)) return std::string(s);
    int64_t i;
    if (!v.get_int64().get(i)) return std::to_string(i);
    return InvalidArgument("'" + std::string(field) + "' must be a string or an integer");
  }

  // A 'gen' entry: keys from templates over the Cartesian product of its
  // dimensions (last dimension fastest).
  Status ParseGen(od::object& obj, size_t index) {
    const std::string ctx = "gen entry " + std::to_string(index);
    // Read dimensions first; find_field_unordered tolerates any order.
    ZM_ASSIGN_OR_RETURN(std::vector<GenDim> dims, ParseGenDimensions(obj, ctx));
    bool has_key, has_url, has_offset, has_length;
    auto field = [&](std::string_view name, bool required, bool* present) {
      auto r = ReadString(obj, name, required, present);
      if (!r.ok()) return Result<std::string>(r.status().WithContext(ctx));
      return r;
    };
    GenTemplates t;
    ZM_ASSIGN_OR_RETURN(t.key, field("key", true, &has_key));
    ZM_ASSIGN_OR_RETURN(t.url, field("url", true, &has_url));
    ZM_ASSIGN_OR_RETURN(t.offset, field("offset", false, &has_offset));
    ZM_ASSIGN_OR_RETURN(t.length, field("length", false, &has_length));
    if (has_offset != has_length)
      return InvalidArgument(ctx + ": 'offset' and 'length' must be given together");
    t.ranged = has_offset;

    ZM_ASSIGN_OR_RETURN(uint64_t total, CountGenKeys(dims, ctx));
    TemplateVars vars = templates_;
    std::vector<uint64_t> pos(dims.size(), 0);
    for (uint64_t n = 0; n < total; ++n) {
      for (size_t d = 0; d < dims.size(); ++d) vars[dims[d].name] = dims[d].at(pos[d]);
      ZM_RETURN_IF_ERROR(AddGenKey(t, vars, ctx));
      // Odometer over the Cartesian product, last dimension fastest.
      for (size_t d = dims.size(); d-- > 0;) {
        if (++pos[d] < dims[d].size()) break;
        pos[d] = 0;
      }
    }
    return Status::Ok();
  }

  // The keys a gen entry makes (0 if any dimension is empty), refused past
  // --max-generated-keys for the entry or for all entries so far.
  Result<uint64_t> CountGenKeys(const std::vector<GenDim>& dims, const std::string& ctx) {
    uint64_t total = 1;
    for (const auto& d : dims) {
      if (d.size() == 0) return uint64_t{0};
      if (__builtin_mul_overflow(total, d.size(), &total) || total > options_.max_generated_keys)
        return InvalidArgument(ctx + ": generates more than " +
                               std::to_string(options_.max_generated_keys) + " keys");
    }
    generated_ += total;
    if (generated_ > options_.max_generated_keys)
      return InvalidArgument(ctx + ": gen entries generate more than " +
                             std::to_string(options_.max_generated_keys) + " keys");
    return total;
  }

  // Renders the templates of `t` with `vars` and adds the reference.
  Status AddGenKey(const GenTemplates& t, const TemplateVars& vars, const std::string& ctx) {
    auto key = RenderTemplate(t.key, vars);
    if (!key.ok()) return key.status().WithContext(ctx + ": key");
    key_ = std::move(key).value();
    if (Status st = ReferenceIndexBuilder::ValidateKey(key_); !st.ok())
      return st.WithContext(ctx + ": " + Quote(key_));
    auto url = RenderTemplate(t.url, vars);
    if (!url.ok()) return url.status().WithContext(ctx + ": " + Quote(key_));
    if (url->empty()) return InvalidArgument(ctx + ": " + Quote(key_) + ": url is empty");
    url_id_ = builder_.InternUrl(ResolveUrl(base_, *url));
    if (!t.ranged) {
      builder_.AddWhole(key_, url_id_);
      return Status::Ok();
    }
    uint64_t vals[2];
    const std::string* texts[2] = {&t.offset, &t.length};
    const char* names[2] = {"offset", "length"};
    for (int i = 0; i < 2; ++i) {
      auto r = RenderTemplate(*texts[i], vars);
      if (!r.ok()) return r.status().WithContext(ctx + ": " + Quote(key_));
      char* end = nullptr;
      errno = 0;
      long long x = std::strtoll(r->c_str(), &end, 10);
      if (r->empty() || *end != '\0' || errno == ERANGE || x < 0)
        return InvalidArgument(ctx + ": " + Quote(key_) + ": " + names[i] +
                               " must be a non-negative integer (got '" + *r + "')");
      vals[i] = static_cast<uint64_t>(x);
    }
    if (Status st = AddRange(vals[0], vals[1]); !st.ok()) return st.WithContext(ctx + ": " + Quote(key_));
    return Status::Ok();
  }

  std::string base_;
  ReferenceLoadOptions options_;
  od::parser parser_;
  std::string buf_;        // the slice being parsed, padded (Load)
  std::string_view json_;  // its text, without the padding
  int64_t shift_ = 0;      // json_'s offset in the whole text
  ReferenceIndexBuilder builder_;
  TemplateVars templates_;  // name -> text
  std::unordered_map<std::string, uint32_t> raw_urls_;
  std::string key_;  // the key being parsed, for errors
  uint32_t url_id_ = 0;
  uint64_t generated_ = 0;
};

// Parses `text` into the index; `release` as for Parser::Run. `free_text`
// (optional) is called once the text is no longer needed, before the index
// is built, so the two are not held at once.
Result<ReferenceIndex> ParseText(std::string_view text, std::string_view base,
                                 const ReferenceLoadOptions& options,
                                 const JsonProgress& release = {},
                                 const std::function<void()>& free_text = {}) {
  Parser p(base, options);
  Status st = p.Run(text, release);
  if (free_text) free_text();
  if (!st.ok()) return OneLine(st);
  auto idx = std::move(p.builder()).Finish();
  if (!idx.ok()) return OneLine(idx.status());
  return idx;
}

// A reference file mapped read-only. The parse reads it front to back (in
// two passes), so pages it has passed are let go: resident memory holds a
// window of the file, not all of it, however large it is.
class MappedText {
 public:
  static Result<MappedText> Map(int fd, size_t size) {
    MappedText m;
    if (size == 0) return m;
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return IoError(std::string("cannot map: ") + std::strerror(errno));
    ::madvise(p, size, MADV_SEQUENTIAL);
    m.data_ = static_cast<char*>(p);
    m.size_ = size;
    return m;
  }
  MappedText() = default;
  MappedText(MappedText&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(o.size_) {}
  MappedText& operator=(MappedText&&) = delete;
  ~MappedText() { Unmap(); }

  std::string_view text() const { return {data_, size_}; }
  // Drops the pages wholly below `offset` from memory (they are read back
  // from the file should the parse come by again).
  void Release(size_t offset) const {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    if (data_ && offset >= page) ::madvise(data_, offset / page * page, MADV_DONTNEED);
  }
  void Unmap() {
    if (data_) ::munmap(data_, size_);
    data_ = nullptr;
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
};

bool StartsCompressed(std::string_view head) {
  const auto* p = reinterpret_cast<const unsigned char*>(head.data());
  return (head.size() >= 4 && p[0] == 0x28 && p[1] == 0xB5 && p[2] == 0x2F && p[3] == 0xFD) ||
         (head.size() >= 2 && p[0] == 0x1F && p[1] == 0x8B);
}

}  // namespace

Result<ReferenceIndex> ParseReferences(std::string_view json, std::string_view base,
                                       const ReferenceLoadOptions& options) {
  return ParseText(json, base, options);
}

std::string ResolveUrl(std::string_view base, std::string_view url) {
  if (url.find("://") != std::string_view::npos) return std::string(url);
  if (!url.empty() && url.front() == '/') return std::string(url);
  if (base.empty()) return std::string(url);
  std::string out(base);
  if (out.back() != '/') out += '/';
  while (url.starts_with("./")) url.remove_prefix(2);
  out += url;
  return out;
}

Result<std::string> DecompressIfNeeded(std::string data, uint64_t max_bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const char* id = nullptr;
  if (data.size() >= 4 && p[0] == 0x28 && p[1] == 0xB5 && p[2] == 0x2F && p[3] == 0xFD)
    id = "zstd";
  else if (data.size() >= 2 && p[0] == 0x1F && p[1] == 0x8B)
    id = "gzip";
  if (!id) return data;
  auto codec = MakeCodec(id);
  if (!codec.ok()) return codec.status();
  auto out = (*codec)->Decode(data, max_bytes);
  if (out.ok()) return out;
  if (out.status().code() == Code::kOutOfRange)
    return InvalidArgument("decompresses to more than " + FormatSize(max_bytes) + "; refusing");
  return InvalidArgument(out.status().message());
}

namespace {

// The directory relative URLs of the reference file at `path` resolve
// against, absolute and ending in '/'.
std::string BaseOfFile(const std::string& path) {
  std::string cwd;
  char buf[4096];
  if (getcwd(buf, sizeof buf)) cwd = std::string(buf) + "/";
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return cwd;
  std::string base = path.substr(0, slash + 1);
  return base.front() == '/' ? base : cwd + base;
}

// Reads all `size` bytes of `fd`.
Result<std::string> ReadAll(int fd, size_t size) {
  std::string data(size, '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t r = ::read(fd, data.data() + got, data.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return IoError(r < 0 ? std::strerror(errno) : "file shrank while reading");
    got += static_cast<size_t>(r);
  }
  return data;
}

}  // namespace

Result<ReferenceIndex> LoadReferenceFile(const std::string& path,
                                         const ReferenceLoadOptions& options) {
  // Larger plain files are mapped rather than read, and parsed through a
  // window of resident pages (MappedText). Like every reader of mapped
  // files, the load would fault if the file were cut short while it runs.
  auto fail = [&](const Status& st) { return st.WithContext(path); };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(NotFound(std::strerror(errno)));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    ::close(fd);
    return fail(InvalidArgument("not a regular file"));
  }
  const auto size = static_cast<uint64_t>(sb.st_size);
  if (size > options.max_decompressed_bytes) {
    ::close(fd);
    return fail(InvalidArgument("larger than " + FormatSize(options.max_decompressed_bytes) +
                                "; refusing"));
  }
  char head[4] = {};
  const ssize_t head_len = ::pread(fd, head, sizeof head, 0);
  if (size >= options.map_from_bytes && head_len > 0 && !StartsCompressed({head, static_cast<size_t>(head_len)})) {
    auto mapped = MappedText::Map(fd, size);
    ::close(fd);
    if (!mapped.ok()) return fail(mapped.status());
    auto idx = ParseText(mapped->text(), BaseOfFile(path), options,
                         [&](size_t offset) { mapped->Release(offset); },
                         [&] { mapped->Unmap(); });
    if (!idx.ok()) return fail(idx.status());
    return idx;
  }
  auto data = ReadAll(fd, size);
  ::close(fd);
  if (!data.ok()) return fail(data.status());
  return LoadReferenceData(std::move(data).value(), path, BaseOfFile(path), options);
}

Result<ReferenceIndex> LoadReferenceData(std::string data, const std::string& name,
                                         std::string_view base,
                                         const ReferenceLoadOptions& options) {
  auto fail = [&](const Status& st) { return st.WithContext(name); };
  auto inflated = DecompressIfNeeded(std::move(data), options.max_decompressed_bytes);
  if (!inflated.ok()) return fail(inflated.status());
  std::string json = std::move(inflated).value();
  auto idx = ParseText(json, base, options, {}, [&] { std::string().swap(json); });
  if (!idx.ok()) return fail(idx.status());
  return idx;
}

}  // namespace zm
