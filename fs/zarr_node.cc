#include "fs/zarr_node.h"

namespace zm {

Result<Slices> ReadKeySlices(const ReferenceIndex& index, ReadThroughCache* cache,
                             ReferenceIndex::FileId f) {
  auto resolved = index.Resolve(f);
  if (!resolved.ok()) return resolved.status().WithContext("key '" + index.FileKey(f) + "'");
  auto t = std::move(resolved).value();
  if (t.missing()) return NotFound("key '" + index.FileKey(f) + "': no such chunk");
  if (t.is_inline()) {
    Slices s;
    if (t.inline_owner) s.buffers.push_back(std::move(t.inline_owner));
    if (!t.inline_bytes.empty()) s.pieces.push_back(t.inline_bytes);
    return s;
  }
  if (t.size == ReferenceIndex::kUnknownSize) {  // a whole object not sized yet: read whole next
    auto info = cache->ObjectForReading(*t.url);
    if (!info.ok()) return info.status().WithContext("key '" + index.FileKey(f) + "'");
    t.size = info->size;
  }
  auto r = cache->ReadSlices(*t.url, ByteRange{t.offset, t.size}, 0, t.size);
  if (!r.ok()) return r.status().WithContext("key '" + index.FileKey(f) + "'");
  return r;
}

Result<std::string> ReadKeyBytes(const ReferenceIndex& index, ReadThroughCache* cache,
                                 ReferenceIndex::FileId f) {
  ZM_ASSIGN_OR_RETURN(Slices s, ReadKeySlices(index, cache, f));
  return s.ToString();
}

Result<ZarrNode> LoadZarrNode(const ReferenceIndex& index, ReadThroughCache* cache,
                              ReferenceIndex::DirId d, uint64_t max_document_bytes) {
  return ReadZarrNode([&](std::string_view name) -> Result<std::optional<std::string>> {
    auto f = index.FindFile(d, name);
    if (!f) return std::optional<std::string>();
    ZM_ASSIGN_OR_RETURN(auto t, index.Resolve(*f));
    if (!t.is_inline() && t.size != ReferenceIndex::kUnknownSize && t.size > max_document_bytes)
      return InvalidArgument("key '" + index.FileKey(*f) + "': " + std::to_string(t.size) +
                             " bytes of metadata, more than " +
                             std::to_string(max_document_bytes) + " are not read");
    ZM_ASSIGN_OR_RETURN(std::string text, ReadKeyBytes(index, cache, *f));
    return std::optional<std::string>(std::move(text));
  });
}

}  // namespace zm
