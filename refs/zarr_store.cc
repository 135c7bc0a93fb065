#include "refs/zarr_store.h"

#include <simdjson.h>

#include <cstdlib>
#include <optional>
#include <set>

#include "zarr/chunk_grid.h"
#include "zarr/metadata.h"

namespace zm {

namespace {

namespace dom = simdjson::dom;

std::string JoinKey(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  return std::string(dir) + "/" + std::string(name);
}

// The directory of a metadata key: "a/b" for "a/b/.zarray", "" for ".zarray".
std::string_view KeyDir(std::string_view key) {
  size_t slash = key.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : key.substr(0, slash);
}

// Appends the chunk keys of the array at `dir` (metadata `meta`) to `out`.
Status AppendChunkKeys(std::string_view dir, const ZarrArrayMeta& meta, uint64_t max_keys,
                       std::vector<std::string>* out) {
  auto grid = meta.Grid();
  if (!grid.ok()) return grid.status().WithContext("array '" + std::string(dir) + "'");
  if (grid->chunk_count() > max_keys || out->size() > max_keys - grid->chunk_count())
    return InvalidArgument("array '" + std::string(dir) + "': more than " +
                           std::to_string(max_keys) +
                           " chunk keys in the store, too many to probe without a listing");
  for (uint64_t c = 0; c < grid->chunk_count(); ++c)
    out->push_back(JoinKey(dir, meta.ChunkKey(grid->GridIndex(c))));
  return Status::Ok();
}

Result<ConsolidatedStore> ReadConsolidatedV2(std::string_view text, uint64_t max_keys) {
  dom::parser parser;
  dom::element doc;
  dom::object metadata;
  if (parser.parse(text.data(), text.size()).get(doc) || doc["metadata"].get_object().get(metadata))
    return InvalidArgument(".zmetadata: not consolidated metadata (no \"metadata\" object)");
  ConsolidatedStore out;
  for (auto [key, value] : metadata) {
    std::string k(key), body = simdjson::minify(value);
    if (Status st = ReferenceIndexBuilder::ValidateKey(k); !st.ok())
      return st.WithContext(".zmetadata");
    if (k == ".zarray" || k.ends_with("/.zarray")) {
      auto meta = ParseZarrArray(body);
      if (!meta.ok()) return meta.status().WithContext(".zmetadata: '" + k + "'");
      ZM_RETURN_IF_ERROR(AppendChunkKeys(KeyDir(k), *meta, max_keys, &out.chunk_keys));
    }
    out.documents.emplace_back(std::move(k), std::move(body));
  }
  return out;
}

Result<ConsolidatedStore> ReadConsolidatedV3(std::string_view text, uint64_t max_keys) {
  dom::parser parser;
  dom::element doc;
  dom::object metadata;
  if (parser.parse(text.data(), text.size()).get(doc) ||
      doc["consolidated_metadata"]["metadata"].get_object().get(metadata))
    return InvalidArgument("zarr.json: no \"consolidated_metadata\" with \"metadata\"");
  ConsolidatedStore out;
  auto add_node = [&](std::string_view dir, std::string body) -> Status {
    auto type = ParseZarrV3NodeType(body);
    if (!type.ok()) return type.status().WithContext("zarr.json: node '" + std::string(dir) + "'");
    if (*type == "array") {
      auto meta = ParseZarrV3Array(body);
      if (!meta.ok()) return meta.status().WithContext("node '" + std::string(dir) + "'");
      ZM_RETURN_IF_ERROR(AppendChunkKeys(dir, *meta, max_keys, &out.chunk_keys));
    }
    out.documents.emplace_back(JoinKey(dir, "zarr.json"), std::move(body));
    return Status::Ok();
  };
  ZM_RETURN_IF_ERROR(add_node("", std::string(text)));
  for (auto [path, value] : metadata) {
    std::string dir(path);
    while (!dir.empty() && dir.front() == '/') dir.erase(0, 1);
    if (Status st = ReferenceIndexBuilder::ValidateKey(JoinKey(dir, "zarr.json")); !st.ok())
      return st.WithContext("zarr.json consolidated_metadata");
    ZM_RETURN_IF_ERROR(add_node(dir, simdjson::minify(value)));
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The text of an attribute value: the five entities a listing writes
// (&amp; &lt; &gt; &quot; &#39;), then %XX escapes. nullopt when an
// escape is malformed or decodes to NUL.
std::optional<std::string> DecodeLink(std::string_view v) {
  std::string text;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '&') {
      text += v[i];
      continue;
    }
    static const std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&#x27;", '\''}};
    bool matched = false;
    for (const auto& [name, c] : kEntities)
      if (v.substr(i).starts_with(name)) {
        text += c;
        i += name.size() - 1;
        matched = true;
        break;
      }
    if (!matched) text += '&';
  }
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace

std::vector<std::string> ParseIndexLinks(std::string_view html) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  size_t pos = 0;
  while ((pos = html.find("href=", pos)) != std::string_view::npos) {
    pos += 5;
    if (pos >= html.size()) break;
    const char quote = html[pos];
    if (quote != '"' && quote != '\'') continue;
    const size_t end = html.find(quote, pos + 1);
    if (end == std::string_view::npos) break;
    std::string_view raw = html.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    // Only links to an entry of this directory: no scheme, not absolute,
    // no query or fragment, not the parent or the directory itself.
    if (raw.empty() || raw.front() == '/' || raw.front() == '?' || raw.front() == '#' ||
        raw.find("://") != std::string_view::npos || raw.find_first_of("?#") != std::string_view::npos)
      continue;
    if (raw.starts_with("./")) raw.remove_prefix(2);
    auto name = DecodeLink(raw);
    if (!name || name->empty()) continue;
    const std::string_view bare = std::string_view(*name).substr(0, name->size() - (name->back() == '/'));
    if (bare.empty() || bare == "." || bare == ".." || bare.find('/') != std::string_view::npos)
      continue;
    if (seen.insert(*name).second) out.push_back(std::move(*name));
  }
  return out;
}

Result<StoreRoot> ClassifyStoreRoot(
    const std::function<Result<std::optional<std::string>>(std::string_view name)>& read) {
  ZM_ASSIGN_OR_RETURN(std::optional<std::string> zmeta, read(".zmetadata"));
  if (zmeta) {
    dom::parser parser;
    dom::element doc;
    dom::object obj;
    if (!parser.parse(*zmeta).get(doc) && !doc.get_object().get(obj)) {
      dom::element e;
      if (!obj["record_size"].get(e)) return StoreRoot::kNone;  // kerchunk Parquet references
      if (!obj["metadata"].get_object().error()) return StoreRoot::kConsolidatedV2;
    }
  }
  ZM_ASSIGN_OR_RETURN(std::optional<std::string> v3, read("zarr.json"));
  if (v3) {
    dom::parser parser;
    dom::element doc;
    if (!parser.parse(*v3).get(doc) &&
        !doc["consolidated_metadata"]["metadata"].get_object().error())
      return StoreRoot::kConsolidatedV3;
    return StoreRoot::kPlain;
  }
  for (std::string_view name : {".zgroup", ".zarray"}) {
    ZM_ASSIGN_OR_RETURN(std::optional<std::string> doc, read(name));
    if (doc) return StoreRoot::kPlain;
  }
  return StoreRoot::kNone;
}

Result<ConsolidatedStore> ReadConsolidated(StoreRoot kind, std::string_view root_document,
                                           uint64_t max_chunk_keys) {
  if (kind == StoreRoot::kConsolidatedV2) return ReadConsolidatedV2(root_document, max_chunk_keys);
  if (kind == StoreRoot::kConsolidatedV3) return ReadConsolidatedV3(root_document, max_chunk_keys);
  return InvalidArgument("the store has no consolidated metadata");
}

Result<ReferenceIndex> BuildStoreIndex(
    std::string_view root, const std::vector<std::pair<std::string, std::string>>& documents,
    const std::vector<StoreObject>& objects) {
  ReferenceIndexBuilder b;
  std::set<std::string_view> inline_keys;
  for (const auto& [key, text] : documents) {
    ZM_RETURN_IF_ERROR(ReferenceIndexBuilder::ValidateKey(key));
    b.AddInline(key, text);
    inline_keys.insert(key);
  }
  for (const StoreObject& o : objects) {
    if (inline_keys.count(o.key)) continue;
    if (Status st = ReferenceIndexBuilder::ValidateKey(o.key); !st.ok())
      return st.WithContext("store object '" + o.key + "'");
    const uint32_t url = b.InternUrl(JoinKey(root, o.key));
    if (o.size == ReferenceIndex::kUnknownSize) {
      b.AddWhole(o.key, url);
    } else {
      b.AddRange(o.key, url, 0, o.size);
    }
  }
  return std::move(b).Finish();
}

}  // namespace zm
