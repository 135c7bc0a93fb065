#include "zarr/decoded_metadata.h"

#include <simdjson.h>

#include <map>

#include "base/json.h"
#include "codecs/pipeline.h"
#include "zarr/metadata.h"

namespace zm {
namespace {

namespace dom = simdjson::dom;

// A member's new JSON text, given its old value.
using Rewrite = std::function<Result<std::string>(dom::element)>;

// `obj` as minified JSON with the members named in `rewrites` replaced by
// what their rewrite makes of them; the others as they were, in order.
Result<std::string> RewriteMembers(dom::object obj, const std::map<std::string_view, Rewrite>& rewrites) {
  std::string out = "{";
  for (auto field : obj) {
    if (out.size() > 1) out += ',';
    out += JsonQuote(field.key);
    out += ':';
    if (auto it = rewrites.find(field.key); it != rewrites.end()) {
      ZM_ASSIGN_OR_RETURN(std::string v, it->second(field.value));
      out += v;
    } else {
      out += simdjson::minify(field.value);
    }
  }
  return out + "}";
}

Rewrite Constant(std::string json) {
  return [json](dom::element) -> Result<std::string> { return json; };
}

Result<dom::object> ParseObject(dom::parser& parser, std::string_view text, const char* what) {
  dom::element doc;
  dom::object obj;
  if (parser.parse(text.data(), text.size()).get(doc) || doc.get_object().get(obj))
    return InvalidArgument(std::string(what) + ": not a JSON object");
  return obj;
}

Result<std::string> DecodedArrayObject(dom::object obj) {
  int64_t format = 0;
  if (obj["zarr_format"].get_int64().get(format) || (format != 2 && format != 3))
    return InvalidArgument("array metadata: 'zarr_format' must be 2 or 3");
  if (format == 2)
    return RewriteMembers(obj, {{"compressor", Constant("null")},
                                {"filters", Constant("null")},
                                {"order", Constant("\"C\"")}});
  std::string_view name;
  if (obj["data_type"].get_string().get(name))
    return InvalidArgument("zarr.json: 'data_type' must be a string");
  auto type = ParseDataTypeV3(name);
  if (!type.ok()) return InvalidArgument("zarr.json: " + type.status().message());
  const std::string bytes = type->size > 1
                                ? R"([{"name":"bytes","configuration":{"endian":"little"}}])"
                                : R"([{"name":"bytes"}])";
  std::map<std::string_view, Rewrite> rewrites{{"codecs", Constant(bytes)}};
  // A sharded array's chunks are its inner chunks: the grid becomes theirs
  // (sharding as the metadata parser reads it).
  const std::string text(simdjson::minify(obj));
  ZM_ASSIGN_OR_RETURN(ZarrArrayMeta meta, ParseZarrV3Array(text));
  if (meta.sharding) {
    if (!meta.sharding->unsupported.empty()) return InvalidArgument("zarr.json: " + meta.sharding->unsupported);
    std::string shape;
    for (uint64_t n : meta.sharding->inner_chunks) shape += (shape.empty() ? "" : ",") + std::to_string(n);
    rewrites.emplace("chunk_grid",
                     Constant(R"({"name":"regular","configuration":{"chunk_shape":[)" + shape + "]}}"));
  }
  return RewriteMembers(obj, rewrites);
}

// The entries of a consolidated "metadata" object: those naming an array
// `decoded` accepts rewritten. `array_path` says which array an entry is
// (nullopt: not an array's document).
Rewrite ConsolidatedEntries(const std::function<std::optional<std::string_view>(std::string_view, dom::element)>& array_path,
                            const std::function<bool(std::string_view)>& decoded) {
  return [=](dom::element v) -> Result<std::string> {
    dom::object entries;
    if (v.get_object().get(entries)) return simdjson::minify(v);  // not ours to judge
    std::string out = "{";
    for (auto field : entries) {
      if (out.size() > 1) out += ',';
      out += JsonQuote(field.key);
      out += ':';
      dom::object doc;
      auto path = array_path(field.key, field.value);
      if (path && decoded(*path) && !field.value.get_object().get(doc)) {
        ZM_ASSIGN_OR_RETURN(std::string rewritten, DecodedArrayObject(doc));
        out += rewritten;
      } else {
        out += simdjson::minify(field.value);
      }
    }
    return out + "}";
  };
}

}  // namespace

Result<std::string> DecodedArrayDocument(std::string_view document) {
  dom::parser parser;
  ZM_ASSIGN_OR_RETURN(dom::object obj, ParseObject(parser, document, "array metadata"));
  return DecodedArrayObject(obj);
}

Result<std::string> DecodedConsolidatedDocument(
    std::string_view document, const std::function<bool(std::string_view)>& decoded) {
  dom::parser parser;
  ZM_ASSIGN_OR_RETURN(dom::object obj, ParseObject(parser, document, "consolidated metadata"));
  // v2: "a/b/.zarray" is array "a/b" (".zarray" the root array).
  auto v2_path = [](std::string_view key, dom::element) -> std::optional<std::string_view> {
    constexpr std::string_view kSuffix = ".zarray";
    if (!key.ends_with(kSuffix)) return std::nullopt;
    key.remove_suffix(kSuffix.size());
    if (key.empty()) return key;
    if (!key.ends_with('/')) return std::nullopt;
    key.remove_suffix(1);
    return key;
  };
  // v3: the key is the node's path; arrays say so.
  auto v3_path = [](std::string_view key, dom::element v) -> std::optional<std::string_view> {
    std::string_view type;
    if (v["node_type"].get_string().get(type) || type != "array") return std::nullopt;
    return key;
  };
  std::map<std::string_view, Rewrite> rewrites;
  int64_t format = 0;
  if (!obj["zarr_format"].get_int64().get(format) && format == 3) {
    rewrites["consolidated_metadata"] = [&](dom::element v) -> Result<std::string> {
      dom::object cm;
      if (v.get_object().get(cm)) return simdjson::minify(v);
      return RewriteMembers(cm, {{"metadata", ConsolidatedEntries(v3_path, decoded)}});
    };
  } else {
    rewrites["metadata"] = ConsolidatedEntries(v2_path, decoded);
  }
  return RewriteMembers(obj, rewrites);
}

}  // namespace zm
