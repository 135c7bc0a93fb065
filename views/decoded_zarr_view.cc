#include "views/decoded_zarr_view.h"

#include <unordered_set>

#include "base/log.h"
#include "zarr/decoded_metadata.h"

namespace zm {

DecodedZarrView::DecodedZarrView(const ReferenceIndex* index, ReadThroughCache* cache, int64_t mtime)
    : index_(index), stored_(index, cache, mtime), dir_array_(index->dir_count(), -1) {}

Result<std::unique_ptr<DecodedZarrView>> DecodedZarrView::Build(const ReferenceIndex* index,
                                                                ReadThroughCache* cache,
                                                                const DecodedArraysOptions& options,
                                                                int64_t mtime) {
  std::unique_ptr<DecodedZarrView> v(new DecodedZarrView(index, cache, mtime));
  ZM_ASSIGN_OR_RETURN(v->arrays_, DecodedArrays::Load(index, cache, options));
  for (const auto& u : v->arrays_->undecodable()) {
    v->shown_as_stored_.push_back(u.where + " shown as stored: " + u.why);
    LogWarning(v->shown_as_stored_.back());
  }
  v->Plan();
  return v;
}

void DecodedZarrView::Rewrite(ReferenceIndex::FileId f, const Result<std::string>& text,
                              const std::string& where,
                              const std::function<Result<std::string>(std::string_view)>& rewrite) {
  auto out = text.ok() ? rewrite(*text) : Result<std::string>(text.status());
  if (!out.ok()) {
    LogWarning(where + " shown as stored: " + out.status().message());
    return;
  }
  documents_.emplace(f, std::move(out).value());
}

void DecodedZarrView::Plan() {
  // Arrays first: an array is decoded once its own document is rewritten.
  for (const auto& a : arrays_->arrays()) {
    const std::string where = a->path.empty() ? "the root array" : "array '" + a->path + "'";
    if (a->meta.sharding) {
      // Its inner chunks have no keys of their own to show them by.
      shown_as_stored_.push_back(where + " shown as stored: it is sharded");
      LogWarning(shown_as_stored_.back());
      continue;
    }
    const std::string_view doc_name =
        a->meta.chunk.zarr_format == 2 ? kZarrV2ArrayDocument : kZarrV3Document;
    auto doc = index_->FindFile(a->dir, doc_name);
    if (!doc) continue;  // cannot happen: the array was found by its document
    Rewrite(*doc, arrays_->ReadKey(*doc), where,
            [](std::string_view text) { return DecodedArrayDocument(text); });
    if (documents_.count(*doc)) dir_array_[a->dir] = static_cast<int32_t>(a->id);
  }
  // Directories sort by path, so a parent is marked before its children.
  for (ReferenceIndex::DirId d = 0; d < index_->dir_count(); ++d)
    if (d != ReferenceIndex::kRootDir && dir_array_[d] < 0) dir_array_[d] = dir_array_[index_->dir_parent(d)];

  // Consolidated metadata, in the groups that hold it.
  std::unordered_set<std::string> decoded_paths;
  for (const auto& a : arrays_->arrays())
    if (dir_array_[a->dir] == static_cast<int32_t>(a->id)) decoded_paths.insert(a->path);
  for (ReferenceIndex::DirId d = 0; d < index_->dir_count(); ++d) {
    if (dir_array_[d] >= 0) continue;
    const std::string group = index_->DirPath(d);
    auto rewrite = [&](std::string_view text) {
      return DecodedConsolidatedDocument(text, [&](std::string_view path) {
        return decoded_paths.count(group.empty() ? std::string(path) : group + "/" + std::string(path)) > 0;
      });
    };
    const std::string where =
        "the consolidated metadata of " + (group.empty() ? std::string("the root") : "group '" + group + "'");
    if (auto f = index_->FindFile(d, ".zmetadata")) Rewrite(*f, arrays_->ReadKey(*f), where, rewrite);
    if (auto f = index_->FindFile(d, kZarrV3Document)) {
      auto text = arrays_->ReadKey(*f);
      if (text.ok() && text->find("\"consolidated_metadata\"") != std::string::npos)
        Rewrite(*f, text, where, rewrite);
    }
  }
}

std::optional<DecodedZarrView::ChunkRef> DecodedZarrView::ChunkOf(ReferenceIndex::FileId f) const {
  const ReferenceIndex::DirId d = index_->file_dir(f);
  if (dir_array_[d] < 0) return std::nullopt;
  const auto& a = *arrays_->arrays()[dir_array_[d]];
  // The key relative to the array's directory: "0.1.1", or "0/1/1" (v2 "/"),
  // or "c/0/1/1" (v3 default).
  std::string rel;
  if (d != a.dir) {
    const std::string dir = index_->DirPath(d);
    rel = dir.substr(a.path.empty() ? 0 : a.path.size() + 1) + "/";
  }
  rel += index_->FileName(f);  // (a lazy chunk's name is made from its place)
  auto index = a.meta.ParseChunkKey(rel);
  if (!index) return std::nullopt;
  auto linear = a.grid->LinearIndex(*index);
  if (!linear) return std::nullopt;
  return ChunkRef{a.id, *linear};
}

Attr DecodedZarrView::Adjusted(Attr a) const {
  if (a.is_dir) return a;
  auto f = stored_.FileOf(a.ino);
  if (!f) return a;
  if (auto it = documents_.find(*f); it != documents_.end()) {
    a.size = it->second.size();
    a.size_known = true;
  } else if (auto c = ChunkOf(*f); c && a.size_known) {
    // Unknown until the stored object is known to exist (a plain store's
    // chunk): a lookup learns that, and the decoded size follows.
    a.size = arrays_->arrays()[c->array]->decoder->spec().chunk_bytes();
  }
  return a;
}

Result<Attr> DecodedZarrView::Lookup(uint64_t parent, std::string_view name) const {
  ZM_ASSIGN_OR_RETURN(Attr a, stored_.Lookup(parent, name));
  return Adjusted(a);
}

Result<Attr> DecodedZarrView::GetAttr(uint64_t ino) const {
  ZM_ASSIGN_OR_RETURN(Attr a, stored_.GetAttr(ino));
  return Adjusted(a);
}

Status DecodedZarrView::ReadDir(
    uint64_t ino, uint64_t offset,
    const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit) const {
  return stored_.ReadDir(ino, offset, [&](std::string_view name, const Attr& a, uint64_t next) {
    return emit(name, Adjusted(a), next);
  });
}

Result<Slices> DecodedZarrView::ReadSlices(uint64_t ino, uint64_t offset, uint64_t size) const {
  auto f = stored_.FileOf(ino);
  if (!f) return stored_.ReadSlices(ino, offset, size);
  if (auto it = documents_.find(*f); it != documents_.end()) {
    // The documents live as long as the view, which outlives reads.
    Slices s;
    const std::string& doc = it->second;
    if (offset < doc.size()) s.pieces.push_back(std::string_view(doc).substr(offset, size));
    return s;
  }
  auto c = ChunkOf(*f);
  if (!c) return stored_.ReadSlices(ino, offset, size);
  const auto& a = *arrays_->arrays()[c->array];
  // Readers read a chunk file from its start: its first read is the one
  // that tells the walk where the reader is.
  const bool overlapping = a.reads_in_flight.fetch_add(1) > 0;
  if (offset == 0) arrays_->FollowWalk(a, {c->chunk}, overlapping);
  auto block = arrays_->GetChunk(c->array, c->chunk);
  a.reads_in_flight.fetch_sub(1);
  if (!block.ok()) return block.status().WithContext("key '" + index_->FileKey(*f) + "'");
  Slices s;
  const std::string& data = **block;
  if (offset < data.size()) {
    s.pieces.push_back(std::string_view(data).substr(offset, size));
    s.buffers.push_back(std::move(block).value());
  }
  return s;
}

Result<std::string> DecodedZarrView::Read(uint64_t ino, uint64_t offset, uint64_t size) const {
  ZM_ASSIGN_OR_RETURN(Slices s, ReadSlices(ino, offset, size));
  return s.ToString();
}

}  // namespace zm
