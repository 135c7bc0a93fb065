#include "refs/catalog.h"

#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "base/json.h"

namespace zm {
namespace {

bool EndsWith(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

bool IsUrl(std::string_view s) { return s.find("://") != std::string_view::npos; }

// "a/./b/../c" -> "a/c"; a leading '/' is kept; ".." above the top is dropped.
std::string FoldDots(std::string_view path) {
  std::string_view query;
  if (size_t q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q);
    path = path.substr(0, q);
  }
  const bool absolute = !path.empty() && path.front() == '/';
  const bool trailing = !path.empty() && path.back() == '/';
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(pos, end - pos);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    pos = end + 1;
  }
  std::string out = absolute ? "/" : "";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  if (trailing && !parts.empty()) out += '/';
  out += query;
  return out;
}

// The directory of a document, without a trailing '/': what
// {{ CATALOG_DIR }} means.
std::string DirectoryOf(std::string_view location) {
  std::string_view path = location.substr(0, location.find('?'));
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (IsUrl(path) && slash < path.find("://") + 3) return std::string(path);
  return std::string(path.substr(0, slash == 0 ? 1 : slash));
}

using Parameters = std::map<std::string, std::string>;  // name -> default, as text

// Replaces {{ CATALOG_DIR }} and {{ NAME }} of a parameter with a default
// (in one pass: substituted text is not scanned again); any other template
// is an error naming it.
Result<std::string> ExpandTemplates(const std::string& text, const std::string& catalog_dir,
                                    const Parameters& params = {}) {
  static const std::regex kName(R"(^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$)");
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t a = text.find("{{", pos), b = text.find("{%", pos);
    size_t at = std::min(a, b);
    if (at == std::string::npos) break;
    out.append(text, pos, at - pos);
    size_t end = text.find(at == a ? "}}" : "%}", at);
    std::string tmpl = text.substr(at, end == std::string::npos ? std::string::npos : end + 2 - at);
    std::smatch m;
    if (at == a && end != std::string::npos && std::regex_match(tmpl, m, kName)) {
      if (m[1] == "CATALOG_DIR") {
        out += catalog_dir;
        pos = end + 2;
        continue;
      }
      if (auto it = params.find(m[1]); it != params.end()) {
        out += it->second;
        pos = end + 2;
        continue;
      }
    }
    return InvalidArgument("template '" + tmpl +
                           "' is not supported (only {{ CATALOG_DIR }} and parameters with a default)");
  }
  if (pos < text.size()) out.append(text, pos, std::string::npos);
  return out;
}

bool HasPattern(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

// "/a/b/x.yaml" -> "x": Intake names a file's catalog by its base name
// with ".yaml" and ".yml" taken out.
std::string CatalogStem(std::string_view path) {
  std::string name(path.substr(path.rfind('/') + 1));
  for (std::string_view ext : {".yaml", ".yml"})
    for (size_t at; (at = name.find(ext)) != std::string::npos;) name.erase(at, ext.size());
  return name;
}

// fsspec's reference:// storage options, whatever document they came from.
struct StorageOptions {
  std::optional<std::string> fo;
  std::optional<std::string> inline_json;  // fo written inline, as JSON text
  std::string remote_protocol;
  std::string target_protocol;
  std::map<std::string, std::string> remote_options;  // scalars as text
  std::map<std::string, std::string> target_options;
  std::vector<std::string> unknown;  // other keys, for notes
  bool scan = false;  // fo is a NetCDF/HDF5 file to scan, not references
};

// One plain scalar as PyYAML (YAML 1.1) types it, as a JSON value.
std::string PlainScalarJson(const std::string& v) {
  static const std::set<std::string> kNull{"", "~", "null", "Null", "NULL"};
  static const std::set<std::string> kTrue{"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const std::set<std::string> kFalse{"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  if (kNull.count(v)) return "null";
  if (kTrue.count(v)) return "true";
  if (kFalse.count(v)) return "false";
  static const std::regex kInt(R"(^[-+]?(0|[1-9][0-9_]*)$)");
  static const std::regex kRadix(R"(^([-+]?)0(b[01_]+|x[0-9a-fA-F_]+|o?[0-7_]+)$)");
  static const std::regex kFloat(R"(^[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?$)");
  auto digits = [](std::string t) {
    t.erase(std::remove(t.begin(), t.end(), '_'), t.end());
    return t;
  };
  std::smatch m;
  if (std::regex_match(v, kInt)) {
    std::string t = digits(v);
    if (t.front() == '+') t.erase(0, 1);
    return t;
  }
  if (std::regex_match(v, m, kRadix)) {
    std::string body = digits(m[2]);
    int base = 8;
    if (body[0] == 'b') base = 2, body.erase(0, 1);
    else if (body[0] == 'x') base = 16, body.erase(0, 1);
    else if (body[0] == 'o') body.erase(0, 1);
    errno = 0;
    char* end = nullptr;
    unsigned long long n = std::strtoull(body.c_str(), &end, base);
    if (errno == 0 && end && *end == '\0' && !body.empty() && n <= (1ULL << 63))
      return (m[1] == "-" ? "-" : "") + std::to_string(n);
  }
  if (v != "." && std::regex_match(v, kFloat) && v.find_first_of("0123456789") != std::string::npos) {
    double d = std::strtod(digits(v).c_str(), nullptr);
    if (std::isfinite(d)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", d);
      return buf;
    }
  }
  return JsonQuote(v);
}

// `n` as JSON text, appended to `out`.
Status AppendJson(const YAML::Node& n, std::string* out) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      *out += "null";
      return Status::Ok();
    case YAML::NodeType::Scalar:
      // Quoted (tag "!") and explicitly tagged !!str scalars are strings.
      if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str") *out += JsonQuote(n.Scalar());
      else if (n.Tag() == "?" || n.Tag().empty()) *out += PlainScalarJson(n.Scalar());
      else return InvalidArgument("the tag '" + n.Tag() + "' is not supported");
      return Status::Ok();
    case YAML::NodeType::Sequence: {
      *out += '[';
      bool first = true;
      for (const auto& e : n) {
        if (!first) *out += ',';
        first = false;
        ZM_RETURN_IF_ERROR(AppendJson(e, out));
      }
      *out += ']';
      return Status::Ok();
    }
    case YAML::NodeType::Map: {
      *out += '{';
      bool first = true;
      std::set<std::string> keys;
      for (const auto& kv : n) {
        if (!kv.first.IsScalar()) return InvalidArgument("a mapping key that is not a scalar");
        if (!keys.insert(kv.first.Scalar()).second)
          return InvalidArgument("the key '" + kv.first.Scalar() + "' appears twice");
        if (!first) *out += ',';
        first = false;
        *out += JsonQuote(kv.first.Scalar());
        *out += ':';
        ZM_RETURN_IF_ERROR(AppendJson(kv.second, out));
      }
      *out += '}';
      return Status::Ok();
    }
  }
  return InvalidArgument("an unknown YAML node");
}

bool IsTrue(const std::string& v) { return v == "true" || v == "True" || v == "1" || v == "yes"; }

class Builder {
 public:
  Builder(const CatalogIo& io, const CatalogLimits& limits) : io_(io), limits_(limits) {}

  Status Run(const std::string& location, CatalogKind kind) {
    Status st = kind == CatalogKind::kStac ? StacDocument(location, {}, 0, true)
                                           : IntakeDocument(location, {}, 0, true);
    if (!st.ok()) return st;
    return Status::Ok();
  }
  Catalog Take() { return std::move(out_); }

 private:
  using Path = std::vector<std::string>;

  void Note(std::string line) { out_.notes.push_back(std::move(line)); }

  // A free name in `dir` for `name`, recorded as taken.
  Path Claim(const Path& dir, std::string_view name) {
    std::set<std::string>& taken = taken_[dir];
    std::string base = SanitizeName(name), candidate = base;
    for (int i = 2; taken.count(candidate); ++i) candidate = base + "~" + std::to_string(i);
    taken.insert(candidate);
    Path p = dir;
    p.push_back(candidate);
    return p;
  }

  Path AddDirectory(const Path& dir, std::string_view name) {
    Path p = Claim(dir, name);
    out_.directories.push_back(p);
    return p;
  }

  // Reads a document once; a second visit (a loop, or two parents linking
  // the same child) is an error the caller turns into a note.
  Result<std::string> Fetch(const std::string& location, int depth) {
    if (depth > limits_.max_depth)
      return InvalidArgument(location + ": nested deeper than " + std::to_string(limits_.max_depth) +
                             " documents");
    if (out_.documents >= limits_.max_documents)
      return InvalidArgument(location + ": more than " + std::to_string(limits_.max_documents) +
                             " catalog documents");
    if (!visited_.insert(location).second) return InvalidArgument(location + ": already read (a loop?)");
    ++out_.documents;
    auto data = io_.fetch(location);
    if (!data.ok()) return data.status().WithContext(location);
    return data;
  }

  // One dataset from storage options; notes what cannot be honoured.
  void AddDataset(const Path& dir, std::string_view name, const std::string& document,
                  StorageOptions so, const std::string& where) {
    if ((!so.fo || so.fo->empty()) && !so.inline_json) {
      Note(where + ": no storage_options.fo (the reference file); skipped");
      return;
    }
    if (out_.datasets.size() >= limits_.max_datasets) {
      if (out_.datasets.size() == limits_.max_datasets)
        Note(where + ": more than " + std::to_string(limits_.max_datasets) +
             " datasets; the rest are skipped");
      return;
    }
    CatalogDataset d;
    d.where = where;
    d.scan = so.scan;
    if (so.inline_json) {
      // The references live in the document: relative URLs in them resolve
      // against its directory, local ones are confined as its own would be.
      d.references = document;
      d.inline_references = std::move(*so.inline_json);
    } else {
      std::string fo = *so.fo;
      if (!so.target_protocol.empty() && so.target_protocol != "file" && !IsUrl(fo))
        fo = (so.target_protocol == "gcs" ? std::string("gs") : so.target_protocol) + "://" + fo;
      d.references = ResolveLocation(document, fo);
      // A document fetched from elsewhere must not name files of this host.
      if (IsUrl(document) && !document.starts_with("file://") &&
          (!IsUrl(d.references) || d.references.starts_with("file://"))) {
        Note(where + ": a remote catalog may not name the local file " + d.references + "; skipped");
        return;
      }
    }
    if (d.references.starts_with("file://")) d.references = d.references.substr(7);
    const std::string& rp = so.remote_protocol;
    if (rp == "s3" || rp == "s3a") d.url_base = "s3://";
    else if (rp == "gs" || rp == "gcs") d.url_base = "gs://";
    else if (rp == "http" || rp == "https") d.url_base = rp + "://";
    else if (!rp.empty() && rp != "file" && rp != "local")
      Note(where + ": remote_protocol '" + rp + "' is not supported; URLs are used as written");
    for (const auto& [key, value] : so.remote_options) {
      if (key == "anon") d.anonymous = d.anonymous || IsTrue(value);
      else Note(where + ": remote_options '" + key + "' is not supported; ignored");
    }
    for (const auto& [key, value] : so.target_options) {
      if (key == "anon") d.anonymous = d.anonymous || IsTrue(value);
      // gzip and zstd are recognised by their magic bytes; others fail at load.
      else if (key != "compression") Note(where + ": target_options '" + key + "' is not supported; ignored");
    }
    for (const std::string& key : so.unknown)
      Note(where + ": storage_options '" + key + "' is not supported; ignored");
    d.path = Claim(dir, name);
    out_.datasets.push_back(std::move(d));
  }

  // ---- Intake --------------------------------------------------------------

  static std::string Scalar(const YAML::Node& n) {
    return n && n.IsScalar() ? n.Scalar() : std::string();
  }

  static void ScalarMap(const YAML::Node& n, std::map<std::string, std::string>* out) {
    if (!n || !n.IsMap()) return;
    for (const auto& kv : n) out->emplace(kv.first.Scalar(), kv.second.IsScalar() ? kv.second.Scalar() : "");
  }

  static bool IsZarrDriver(std::string_view d) {
    return d == "zarr" || d == "intake_xarray.xzarr.ZarrSource" || d == "intake_xarray.ZarrSource" ||
           d == "intake_xarray.zarr.ZarrSource";
  }
  static bool IsNetcdfDriver(std::string_view d) {
    return d == "netcdf" || d == "intake_xarray.netcdf.NetCDFSource" || d == "intake_xarray.NetCDFSource";
  }
  static bool IsCatalogDriver(std::string_view d) {
    return d == "yaml_file_cat" || d == "yaml_files_cat" ||
           d == "intake.catalog.local.YAMLFileCatalog" || d == "intake.catalog.local.YAMLFilesCatalog";
  }

  Status IntakeDocument(const std::string& location, const Path& dir, int depth, bool root) {
    ZM_ASSIGN_OR_RETURN(std::string text, Fetch(location, depth));
    YAML::Node doc;
    try {
      doc = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      return InvalidArgument(location + ": invalid YAML at line " + std::to_string(e.mark.line + 1) +
                             ": " + e.msg);
    }
    if (!doc.IsMap() || !doc["sources"])
      return InvalidArgument(location + ": not an Intake catalog (no 'sources' mapping)");
    const YAML::Node sources = doc["sources"];
    if (sources.IsNull()) return Status::Ok();  // an empty catalog
    if (!sources.IsMap())
      return InvalidArgument(location + ": 'sources' must be a mapping of names to entries");
    const std::string catalog_dir = DirectoryOf(location);
    (void)root;
    try {
      // Parameters shared by the document's sources (Intake 0.6 reads them
      // from metadata.parameters); a source's own declarations win.
      Parameters shared;
      if (const YAML::Node md = doc["metadata"]; md && md.IsMap()) ParameterDefaults(md["parameters"], &shared);
      for (const auto& kv : sources) {
        const std::string name = kv.first.Scalar();
        const YAML::Node entry = kv.second;
        const std::string where = location + ": source '" + name + "'";
        if (!entry.IsMap()) {
          Note(where + ": not a mapping; skipped");
          continue;
        }
        const std::string driver = Scalar(entry["driver"]);
        const YAML::Node args = entry["args"];
        Parameters params;
        ParameterDefaults(entry["parameters"], &params);
        params.insert(shared.begin(), shared.end());  // keeps the source's own
        if (IsZarrDriver(driver)) {
          IntakeDataset(dir, name, location, catalog_dir, params, args, where);
        } else if (IsNetcdfDriver(driver)) {
          IntakeNetcdf(dir, name, location, catalog_dir, params, args, where);
        } else if (IsCatalogDriver(driver)) {
          const bool files = driver == "yaml_files_cat" || driver == "intake.catalog.local.YAMLFilesCatalog";
          IntakeNested(dir, name, location, catalog_dir, params, args, files, depth, where);
        } else {
          Note(where + ": driver '" + driver + "' is not a reference set; skipped");
        }
      }
    } catch (const YAML::Exception& e) {
      return InvalidArgument(location + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    return Status::Ok();
  }

  // A YAML 1.1 boolean as PyYAML reads a plain scalar; nullopt otherwise.
  static std::optional<bool> YamlBool(const YAML::Node& n) {
    if (!n || !n.IsScalar() || n.Tag() == "!") return std::nullopt;
    static const std::set<std::string> kTrue{"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const std::set<std::string> kFalse{"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    if (kTrue.count(n.Scalar())) return true;
    if (kFalse.count(n.Scalar())) return false;
    return std::nullopt;
  }

  // NAME -> default, as Jinja would print it, for each parameter declared
  // in `decl` with a scalar default that is not an env()/shell() expression
  // (those run things on the host; they are left undeclared).
  static void ParameterDefaults(const YAML::Node& decl, Parameters* out) {
    if (!decl || !decl.IsMap()) return;
    static const std::regex kExpr(R"(^\s*(client_)?(env|shell)\(.*\)\s*$)");
    for (const auto& kv : decl) {
      const YAML::Node def = kv.second.IsMap() ? kv.second["default"] : YAML::Node();
      if (!def || !def.IsScalar() || kv.second["type"].as<std::string>("") == "datetime") continue;
      std::string text = def.Scalar();
      if (def.Tag() != "!") {
        if (text == "~" || text == "null" || text == "Null" || text == "NULL") continue;
        if (auto b = YamlBool(def)) text = *b ? "True" : "False";
      }
      if (std::regex_match(text, kExpr)) continue;
      out->emplace(kv.first.Scalar(), text);
    }
  }

  void IntakeDataset(const Path& dir, const std::string& name, const std::string& location,
                     const std::string& catalog_dir, const Parameters& params, const YAML::Node& args,
                     const std::string& where) {
    if (!args || !args.IsMap()) {
      Note(where + ": no args; skipped");
      return;
    }
    auto urlpath = ExpandTemplates(Scalar(args["urlpath"]), catalog_dir, params);
    if (!urlpath.ok()) {
      Note(where + ": urlpath: " + urlpath.status().message() + "; skipped");
      return;
    }
    if (!urlpath->starts_with("reference://")) {
      Note(where + ": urlpath '" + *urlpath + "' is not reference://; skipped");
      return;
    }
    StorageOptions so;
    const YAML::Node opts = args["storage_options"];
    if (opts && opts.IsMap()) {
      for (const auto& kv : opts) {
        const std::string key = kv.first.Scalar();
        const YAML::Node& v = kv.second;
        if (key == "fo") {
          if (v.IsMap()) {
            // The reference set itself, taken as written: its own {{ }}
            // are kerchunk templates, not the catalog's.
            std::string json;
            if (Status st = AppendJson(v, &json); !st.ok()) {
              Note(where + ": inline storage_options.fo: " + st.message() + "; skipped");
              return;
            }
            so.inline_json = std::move(json);
            continue;
          }
          if (!v.IsScalar()) {
            Note(where + ": storage_options.fo is neither a path, a URL nor a mapping; skipped");
            return;
          }
          auto fo = ExpandTemplates(v.Scalar(), catalog_dir, params);
          if (!fo.ok()) {
            Note(where + ": fo: " + fo.status().message() + "; skipped");
            return;
          }
          so.fo = *fo;
        } else if (key == "remote_protocol") {
          so.remote_protocol = Scalar(v);
        } else if (key == "target_protocol") {
          so.target_protocol = Scalar(v);
        } else if (key == "remote_options") {
          ScalarMap(v, &so.remote_options);
        } else if (key == "target_options") {
          ScalarMap(v, &so.target_options);
        } else {
          so.unknown.push_back(key);
        }
      }
    }
    AddDataset(dir, name, location, std::move(so), where);
  }

  // A netcdf source: one file, scanned when loaded. Its storage options
  // are the file system's own (fsspec), of which `anon` is honoured.
  void IntakeNetcdf(const Path& dir, const std::string& name, const std::string& location,
                    const std::string& catalog_dir, const Parameters& params, const YAML::Node& args,
                    const std::string& where) {
    if (!args || !args.IsMap() || !args["urlpath"]) {
      Note(where + ": no args.urlpath; skipped");
      return;
    }
    if (!args["urlpath"].IsScalar()) {
      Note(where + ": urlpath is a list of files; only one file per netcdf source is mounted; skipped");
      return;
    }
    auto urlpath = ExpandTemplates(args["urlpath"].Scalar(), catalog_dir, params);
    if (!urlpath.ok()) {
      Note(where + ": urlpath: " + urlpath.status().message() + "; skipped");
      return;
    }
    if (urlpath->find_first_of("*?[") != std::string::npos) {
      Note(where + ": urlpath '" + *urlpath + "' is a pattern; only one file per netcdf source is mounted; skipped");
      return;
    }
    StorageOptions so;
    so.fo = *urlpath;
    so.scan = true;
    if (const YAML::Node opts = args["storage_options"]; opts && opts.IsMap())
      for (const auto& kv : opts) {
        const std::string key = kv.first.Scalar();
        if (key == "anon") so.target_options.emplace(key, Scalar(kv.second));
        else so.unknown.push_back(key);
      }
    AddDataset(dir, name, location, std::move(so), where);
  }

  void IntakeNested(const Path& dir, const std::string& name, const std::string& location,
                    const std::string& catalog_dir, const Parameters& params, const YAML::Node& args,
                    bool files_cat, int depth, const std::string& where) {
    std::vector<std::string> paths;
    const YAML::Node p = args ? args["path"] : YAML::Node();
    if (p && p.IsScalar()) paths.push_back(p.Scalar());
    if (p && p.IsSequence())
      for (const auto& e : p) paths.push_back(Scalar(e));
    if (paths.empty()) {
      Note(where + ": no args.path; skipped");
      return;
    }
    // yaml_files_cat: merge the files' sources (Intake's default), or one
    // subdirectory per file.
    bool flatten = true;
    if (files_cat && args["flatten"]) {
      auto b = YamlBool(args["flatten"]);
      if (!b) Note(where + ": flatten '" + Scalar(args["flatten"]) + "' is not a boolean; flattened");
      flatten = b.value_or(true);
    }
    const Path sub = AddDirectory(dir, name);
    for (const std::string& raw : paths) {
      auto expanded = ExpandTemplates(raw, catalog_dir, params);
      if (!expanded.ok()) {
        Note(where + ": path: " + expanded.status().message() + "; skipped");
        continue;
      }
      std::string target = ResolveLocation(location, *expanded);
      if (IsUrl(location) && !IsUrl(target)) {
        Note(where + ": a remote catalog may not name the local file " + target + "; skipped");
        continue;
      }
      if (target.starts_with("file://")) target = target.substr(7);
      // Intake reads a yaml_files_cat path without '*' as a directory; one
      // naming a .yaml/.yml file is taken as that file.
      if (files_cat && p.IsScalar() && !HasPattern(target) && !EndsWith(target, ".yaml") &&
          !EndsWith(target, ".yml"))
        target = FoldDots(target + "/*");
      std::vector<std::string> files;
      if (!HasPattern(target)) {
        files.push_back(target);
      } else if (IsUrl(target)) {
        Note(where + ": path '" + target + "' is a pattern, and a remote location cannot be listed; skipped");
        continue;
      } else if (!io_.glob) {
        Note(where + ": path '" + target + "' is a pattern; patterns are not supported here; skipped");
        continue;
      } else {
        auto matched = io_.glob(target);
        if (!matched.ok()) {
          Note(where + ": path '" + target + "': " + matched.status().message() + "; skipped");
          continue;
        }
        files = std::move(matched).value();
        if (files.empty()) {
          Note(where + ": path '" + target + "' matches no file");
          continue;
        }
        if (!files_cat && files.size() != 1) {
          Note(where + ": path '" + target + "' matches " + std::to_string(files.size()) +
               " files; a yaml_file_cat names one (use yaml_files_cat); skipped");
          continue;
        }
      }
      for (const std::string& file : files) {
        const Path into = files_cat && !flatten ? AddDirectory(sub, CatalogStem(file)) : sub;
        Status st = IntakeDocument(file, into, depth + 1, false);
        if (!st.ok()) Note(where + ": " + st.message() + "; skipped");
      }
    }
  }

  // ---- STAC ----------------------------------------------------------------

  using Element = simdjson::dom::element;

  static std::string Str(Element e, const char* key) {
    std::string_view v;
    if (e[key].get(v) == simdjson::SUCCESS) return std::string(v);
    return {};
  }

  static std::string Text(Element e) {
    std::string_view s;
    if (e.get(s) == simdjson::SUCCESS) return std::string(s);
    bool b;
    if (e.get(b) == simdjson::SUCCESS) return b ? "true" : "false";
    return simdjson::minify(e);
  }

  static void TextMap(Element e, std::map<std::string, std::string>* out) {
    simdjson::dom::object o;
    if (e.get(o) != simdjson::SUCCESS) return;
    for (auto [k, v] : o) out->emplace(std::string(k), Text(v));
  }

  static void ReadStorageOptions(Element e, StorageOptions* so) {
    simdjson::dom::object o;
    if (e.get(o) != simdjson::SUCCESS) return;
    for (auto [k, v] : o) {
      if (k == "fo") {
        std::string_view s;
        if (v.get(s) == simdjson::SUCCESS) so->fo = std::string(s);
      } else if (k == "remote_protocol") {
        so->remote_protocol = Text(v);
      } else if (k == "target_protocol") {
        so->target_protocol = Text(v);
      } else if (k == "remote_options") {
        TextMap(v, &so->remote_options);
      } else if (k == "target_options") {
        TextMap(v, &so->target_options);
      } else {
        so->unknown.emplace_back(k);
      }
    }
  }

  // Whether `asset` is a reference set; if so, its storage options.
  static std::optional<StorageOptions> ReferenceAsset(Element asset) {
    const std::string href = Str(asset, "href"), type = Str(asset, "type");
    bool ref_role = false;
    simdjson::dom::array roles;
    if (asset["roles"].get(roles) == simdjson::SUCCESS)
      for (Element r : roles) {
        std::string_view s;
        if (r.get(s) == simdjson::SUCCESS && (s == "references" || s == "index")) ref_role = true;
      }
    Element open_kwargs;
    bool has_kwargs = asset["xarray:open_kwargs"].get(open_kwargs) == simdjson::SUCCESS ||
                      asset["xarray:open_dataset_kwargs"].get(open_kwargs) == simdjson::SUCCESS;
    StorageOptions so;
    Element storage;
    if (asset["xarray:storage_options"].get(storage) == simdjson::SUCCESS)
      ReadStorageOptions(storage, &so);
    std::string engine;
    if (has_kwargs) {
      engine = Str(open_kwargs, "engine");
      if (open_kwargs["storage_options"].get(storage) == simdjson::SUCCESS)
        ReadStorageOptions(storage, &so);
      if (open_kwargs["backend_kwargs"]["storage_options"].get(storage) == simdjson::SUCCESS)
        ReadStorageOptions(storage, &so);
    }
    const bool json_type = type.empty() || type.starts_with("application/json");
    const bool is_ref = (ref_role && json_type) || engine == "kerchunk" || so.fo.has_value();
    if (!is_ref) return std::nullopt;
    if (!so.fo && !href.starts_with("reference://")) so.fo = href;
    // `consolidated` and friends are xarray's business, not ours.
    return so;
  }

  // Whether `asset` is a NetCDF/HDF5 file (by its media type); if so, the
  // storage options to scan it with (`anon` of xarray:storage_options).
  static std::optional<StorageOptions> NetcdfAsset(Element asset) {
    const std::string type = Str(asset, "type"), href = Str(asset, "href");
    const bool netcdf = type.starts_with("application/netcdf") || type.starts_with("application/x-netcdf") ||
                        type.starts_with("application/x-hdf5") || type.starts_with("application/x-hdf");
    if (!netcdf || href.empty()) return std::nullopt;
    StorageOptions so;
    so.fo = href;
    so.scan = true;
    Element anon;
    if (asset["xarray:storage_options"]["anon"].get(anon) == simdjson::SUCCESS)
      so.target_options.emplace("anon", Text(anon));
    return so;
  }

  // The reference assets of an item or collection, in document order; for
  // an item with none, its NetCDF/HDF5 assets.
  std::vector<std::pair<std::string, StorageOptions>> ReferenceAssets(Element doc) {
    std::vector<std::pair<std::string, StorageOptions>> out;
    simdjson::dom::object assets;
    if (doc["assets"].get(assets) != simdjson::SUCCESS) return out;
    for (auto [key, asset] : assets)
      if (auto so = ReferenceAsset(asset)) out.emplace_back(std::string(key), std::move(*so));
    if (out.empty())
      for (auto [key, asset] : assets)
        if (auto so = NetcdfAsset(asset)) out.emplace_back(std::string(key), std::move(*so));
    return out;
  }

  void AddAssets(const Path& dir, const std::string& location, Element doc, const std::string& id,
                 bool item) {
    auto assets = ReferenceAssets(doc);
    if (assets.empty()) {
      if (item) Note(location + ": item '" + id + "' has no reference or NetCDF/HDF5 asset; skipped");
      return;
    }
    if (item && assets.size() == 1) {
      AddDataset(dir, id, location, std::move(assets[0].second),
                 location + ": item '" + id + "' asset '" + assets[0].first + "'");
      return;
    }
    const Path sub = item ? AddDirectory(dir, id) : dir;
    for (auto& [key, so] : assets)
      AddDataset(sub, key, location, std::move(so), location + ": asset '" + key + "'");
  }

  Result<Element> ParseJson(simdjson::dom::parser& parser, const std::string& text,
                            const std::string& location) {
    Element doc;
    auto err = parser.parse(text).get(doc);
    if (err) return InvalidArgument(location + ": invalid JSON: " + simdjson::error_message(err));
    if (!doc.is_object()) return InvalidArgument(location + ": not a STAC document (not a JSON object)");
    return doc;
  }

  Status StacDocument(const std::string& location, const Path& parent, int depth, bool root) {
    ZM_ASSIGN_OR_RETURN(std::string text, Fetch(location, depth));
    simdjson::dom::parser parser;
    ZM_ASSIGN_OR_RETURN(Element doc, ParseJson(parser, text, location));
    const std::string type = Str(doc, "type");
    std::string id = Str(doc, "id");
    if (type == "FeatureCollection") {
      simdjson::dom::array features;
      if (doc["features"].get(features) != simdjson::SUCCESS)
        return InvalidArgument(location + ": a FeatureCollection without 'features'");
      for (Element f : features) {
        std::string fid = Str(f, "id");
        if (Str(f, "type") != "Feature" || fid.empty()) {
          Note(location + ": a feature without type Feature or id; skipped");
          continue;
        }
        AddAssets(parent, location, f, fid, true);
      }
      return Status::Ok();
    }
    if (type != "Catalog" && type != "Collection" && type != "Feature")
      return InvalidArgument(location + ": not a STAC document (type '" + type +
                             "', expected Catalog, Collection, Feature or FeatureCollection)");
    if (id.empty()) return InvalidArgument(location + ": a STAC " + type + " without an 'id'");
    if (root && Str(doc, "stac_version").empty())
      return InvalidArgument(location + ": not a STAC document (no 'stac_version')");
    if (type == "Feature") {
      AddAssets(parent, location, doc, id, true);
      return Status::Ok();
    }
    const Path dir = root ? parent : AddDirectory(parent, id);
    AddAssets(dir, location, doc, id, false);
    simdjson::dom::array links;
    if (doc["links"].get(links) != simdjson::SUCCESS) {
      Note(location + ": no 'links'");
      return Status::Ok();
    }
    for (Element link : links) {
      const std::string rel = Str(link, "rel"), href = Str(link, "href");
      if ((rel != "child" && rel != "item") || href.empty()) continue;
      std::string target = ResolveLocation(location, href);
      if (IsUrl(location) && !location.starts_with("file://") &&
          (!IsUrl(target) || target.starts_with("file://"))) {
        Note(location + ": link to the local file " + target + " from a remote document; skipped");
        continue;
      }
      if (target.starts_with("file://")) target = target.substr(7);
      Status st = rel == "child" ? StacDocument(target, dir, depth + 1, false)
                                 : StacItem(target, dir, depth + 1);
      if (!st.ok()) Note(location + ": " + rel + " link: " + st.message() + "; skipped");
    }
    return Status::Ok();
  }

  Status StacItem(const std::string& location, const Path& dir, int depth) {
    ZM_ASSIGN_OR_RETURN(std::string text, Fetch(location, depth));
    simdjson::dom::parser parser;
    ZM_ASSIGN_OR_RETURN(Element doc, ParseJson(parser, text, location));
    if (Str(doc, "type") != "Feature")
      return InvalidArgument(location + ": an item link to a document of type '" + Str(doc, "type") + "'");
    const std::string id = Str(doc, "id");
    if (id.empty()) return InvalidArgument(location + ": a STAC item without an 'id'");
    AddAssets(dir, location, doc, id, true);
    return Status::Ok();
  }

  const CatalogIo& io_;
  const CatalogLimits& limits_;
  Catalog out_;
  std::set<std::string> visited_;
  std::map<Path, std::set<std::string>> taken_;
};

}  // namespace

CatalogKind SniffCatalog(std::string_view location, std::string_view head) {
  std::string_view path = location.substr(0, location.find('?'));
  if (EndsWith(path, ".yaml") || EndsWith(path, ".yml")) return CatalogKind::kIntake;
  if (head.size() >= 2 && ((uint8_t(head[0]) == 0x1f && uint8_t(head[1]) == 0x8b) ||
                           (uint8_t(head[0]) == 0x28 && uint8_t(head[1]) == 0xb5)))
    return CatalogKind::kNone;  // gzip, zstd: a compressed reference file
  size_t i = head.find_first_not_of(" \t\r\n\xef\xbb\xbf");
  if (i == std::string_view::npos) return CatalogKind::kNone;
  if (head[i] == '{') {
    // A reference file could name "stac_version" in an inline attribute,
    // so this is a guess; LoadCatalog checks the top level.
    return head.find("\"stac_version\"") != std::string_view::npos ? CatalogKind::kStac
                                                                   : CatalogKind::kNone;
  }
  if (head.substr(i).starts_with("sources:") || head.find("\nsources:") != std::string_view::npos)
    return CatalogKind::kIntake;
  return CatalogKind::kNone;
}

Result<Catalog> LoadCatalog(const std::string& location, CatalogKind kind, const CatalogIo& io,
                            const CatalogLimits& limits) {
  Builder b(io, limits);
  ZM_RETURN_IF_ERROR(b.Run(location, kind));
  return b.Take();
}

std::string ResolveLocation(std::string_view document, std::string_view href) {
  if (IsUrl(href)) {
    size_t start = href.find("://") + 3;
    size_t slash = href.find('/', start);
    if (slash == std::string_view::npos) return std::string(href);
    return std::string(href.substr(0, slash)) + FoldDots(href.substr(slash));
  }
  std::string_view doc = document.substr(0, document.find('?'));
  if (IsUrl(doc)) {
    size_t start = doc.find("://") + 3;
    size_t slash = doc.find('/', start);
    std::string_view host = doc.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? "/" : doc.substr(slash);
    if (!href.empty() && href.front() == '/') return std::string(host) + FoldDots(href);
    std::string dir(path.substr(0, path.rfind('/') + 1));
    return std::string(host) + FoldDots(dir + std::string(href));
  }
  if (!href.empty() && href.front() == '/') return FoldDots(href);
  std::string dir(doc.substr(0, doc.rfind('/') + 1));
  return FoldDots(dir + std::string(href));
}

Result<std::string> YamlToJson(std::string_view yaml) {
  YAML::Node n;
  try {
    n = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return InvalidArgument("invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  std::string out;
  ZM_RETURN_IF_ERROR(AppendJson(n, &out));
  return out;
}

std::string SanitizeName(std::string_view name) {
  std::string out(name);
  for (char& c : out)
    if (c == '/' || c == '\0') c = '_';
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  if (out.size() > 255) out.resize(255);
  return out;
}

}  // namespace zm
