#include "views/decoded_zarr_view.h"

#include <algorithm>
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
  std::unordered_set<std::string> decoded_paths;
  uint64_t next_ino = kRootIno + index_->dir_count() + index_->file_count();
  for (const auto& a : arrays_->arrays()) {
    const std::string where = a->path.empty() ? "the root array" : "array '" + a->path + "'";
    if (a->meta.sharding && a->grid->rank() == 0) {
      shown_as_stored_.push_back(where + " shown as stored: a sharded array of no dimensions");
      LogWarning(shown_as_stored_.back());
      continue;
    }
    const std::string_view doc_name =
        a->meta.chunk.zarr_format == 2 ? kZarrV2ArrayDocument : kZarrV3Document;
    auto doc = index_->FindFile(a->dir, doc_name);
    if (!doc) continue;  // cannot happen: the array was found by its document
    Rewrite(*doc, arrays_->ReadKey(*doc), where,
            [](std::string_view text) { return DecodedArrayDocument(text); });
    if (!documents_.count(*doc)) continue;
    decoded_paths.insert(a->path);
    if (a->meta.sharding) {
      if (!AddInnerTree(*a, &next_ino)) {
        documents_.erase(*doc);
        decoded_paths.erase(a->path);
        shown_as_stored_.push_back(where + " shown as stored: too many inner chunks to number");
        LogWarning(shown_as_stored_.back());
      }
    } else {
      dir_array_[a->dir] = static_cast<int32_t>(a->id);
    }
  }
  // Directories sort by path, so a parent is marked before its children.
  for (ReferenceIndex::DirId d = 0; d < index_->dir_count(); ++d)
    if (d != ReferenceIndex::kRootDir && dir_array_[d] < 0) dir_array_[d] = dir_array_[index_->dir_parent(d)];

  // Consolidated metadata, in the groups that hold it.
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

bool DecodedZarrView::AddInnerTree(const DecodedArrays::Array& a, uint64_t* next_ino) {
  InnerTree t;
  t.array = a.id;
  t.dir_ino = kRootIno + a.dir;  // (fs/filesystem.h: the root, then each directory in index order)
  t.first_ino = *next_ino;
  const ChunkKeyEncoding& enc = a.meta.key_encoding;
  t.nested = enc.separator == '/';
  t.prefix_dir = t.nested && !enc.prefix.empty();
  const auto& grid = a.grid->grid_shape();
  const size_t rank = grid.size();
  uint64_t at = 0, prefixes = 1;
  for (size_t level = 0; level <= rank; ++level) {
    t.level_first.push_back(at);
    if (level > 0) prefixes *= grid[level - 1];
    const bool shown = level == rank || (t.nested && (level > 0 || t.prefix_dir));
    if (shown) at += level == 0 ? 1 : prefixes;
  }
  t.level_first.push_back(at);
  // (A grid's chunk count fits 64 bits, so `at` is at most twice it.)
  if (*next_ino > kMaxInnerNodes || at > kMaxInnerNodes - *next_ino) return false;
  *next_ino += at;
  inner_tree_of_dir_.emplace(t.dir_ino, inner_trees_.size());
  inner_trees_.push_back(std::move(t));
  return true;
}

void DecodedZarrView::StatFs(struct statvfs* st) const {
  stored_.StatFs(st);
  for (const InnerTree& t : inner_trees_) st->f_files += t.level_first.back();
}

std::optional<DecodedZarrView::InnerNode> DecodedZarrView::InnerNodeOf(uint64_t ino) const {
  if (inner_trees_.empty() || ino < inner_trees_.front().first_ino) return std::nullopt;
  // The last tree starting at or before `ino`.
  auto it = std::upper_bound(inner_trees_.begin(), inner_trees_.end(), ino,
                             [](uint64_t i, const InnerTree& t) { return i < t.first_ino; });
  const InnerTree& t = *std::prev(it);
  const uint64_t off = ino - t.first_ino;
  if (off >= t.level_first.back()) return std::nullopt;
  size_t level = 0;
  while (off >= t.level_first[level + 1]) ++level;
  return InnerNode{&t, level, off - t.level_first[level]};
}

const DecodedZarrView::InnerTree* DecodedZarrView::InnerTreeOfDir(uint64_t ino) const {
  auto it = inner_tree_of_dir_.find(ino);
  return it == inner_tree_of_dir_.end() ? nullptr : &inner_trees_[it->second];
}

Attr DecodedZarrView::InnerAttr(const InnerNode& n) const {
  Attr a;
  a.ino = InoOf(n);
  const auto& grid = ArrayOf(*n.tree).grid->grid_shape();
  if (n.level < grid.size()) {
    a.is_dir = true;
    a.nlink = 2 + (n.level + 1 < grid.size() ? static_cast<uint32_t>(std::min<uint64_t>(grid[n.level], 1u << 30)) : 0);
  } else {
    a.size = ArrayOf(*n.tree).decoder->spec().chunk_bytes();
  }
  return a;
}

std::string DecodedZarrView::InnerName(const InnerNode& n) const {
  const auto& a = ArrayOf(*n.tree);
  if (n.level == 0) return a.meta.key_encoding.prefix;
  if (!n.tree->nested) return a.meta.ChunkKey(a.grid->GridIndex(n.linear));
  return std::to_string(n.linear % a.grid->grid_shape()[n.level - 1]);
}

uint64_t DecodedZarrView::InnerParentIno(const InnerNode& n) const {
  const InnerTree& t = *n.tree;
  if (n.level == 0 || !t.nested || (n.level == 1 && !t.prefix_dir)) return t.dir_ino;
  const uint64_t up = n.level == 1 ? 0 : n.linear / ArrayOf(t).grid->grid_shape()[n.level - 1];
  return InoOf(InnerNode{&t, n.level - 1, up});
}

uint64_t DecodedZarrView::InnerChildCount(const InnerTree& t, const InnerNode* parent) const {
  const auto& grid = ArrayOf(t).grid->grid_shape();
  if (!parent) {
    if (t.prefix_dir) return 1;
    return t.nested ? grid[0] : ArrayOf(t).grid->chunk_count();
  }
  return parent->level < grid.size() ? grid[parent->level] : 0;
}

std::optional<DecodedZarrView::InnerNode> DecodedZarrView::InnerChild(const InnerTree& t,
                                                                      const InnerNode* parent,
                                                                      uint64_t k) const {
  const auto& a = ArrayOf(t);
  const size_t rank = a.grid->rank();
  InnerNode n{&t, 0, k};
  if (!parent) {
    n.level = t.prefix_dir ? 0 : t.nested ? 1 : rank;
  } else {
    n.level = parent->level + 1;
    n.linear = parent->linear * a.grid->grid_shape()[parent->level] + k;
  }
  if (n.level == rank && !arrays_->HasStoredKey(a, n.linear)) return std::nullopt;
  return n;
}

std::optional<uint64_t> DecodedZarrView::InnerPlaceNamed(const InnerTree& t, const InnerNode* parent,
                                                         std::string_view name) const {
  const auto& a = ArrayOf(t);
  if (!parent && t.prefix_dir) {
    if (name == a.meta.key_encoding.prefix) return 0;
    return std::nullopt;
  }
  if (!parent && !t.nested) {
    auto index = a.meta.ParseChunkKey(name);
    return index ? a.grid->LinearIndex(*index) : std::nullopt;
  }
  // One index, spelt as the encoding spells it (no sign, no leading zero).
  auto index = ChunkKeyEncoding::V2('.').Parse(name, 1);
  const size_t level = parent ? parent->level : 0;
  if (index && (*index)[0] < a.grid->grid_shape()[level]) return (*index)[0];
  return std::nullopt;
}

Status DecodedZarrView::ReadInnerDir(
    const InnerTree& t, const InnerNode* parent, uint64_t from, uint64_t base,
    const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit) const {
  const uint64_t count = InnerChildCount(t, parent);
  for (uint64_t k = from; k < count; ++k) {
    auto n = InnerChild(t, parent, k);
    if (!n) continue;
    if (!emit(InnerName(*n), InnerAttr(*n), base + k + 1)) break;
  }
  return Status::Ok();
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
  const InnerTree* t = InnerTreeOfDir(parent);
  auto node = t ? std::nullopt : InnerNodeOf(parent);
  if (node) {
    t = node->tree;
    if (node->level == ArrayOf(*t).grid->rank()) return InvalidArgument("not a directory");
  }
  if (t) {
    const InnerNode* p = node ? &*node : nullptr;
    if (auto k = InnerPlaceNamed(*t, p, name)) {
      auto n = InnerChild(*t, p, *k);
      if (!n) return NotFound("no such chunk");
      return InnerAttr(*n);
    }
    if (node) return NotFound("no such chunk");
  }
  ZM_ASSIGN_OR_RETURN(Attr a, stored_.Lookup(parent, name));
  return Adjusted(a);
}

Result<Attr> DecodedZarrView::GetAttr(uint64_t ino) const {
  if (auto n = InnerNodeOf(ino)) return InnerAttr(*n);
  ZM_ASSIGN_OR_RETURN(Attr a, stored_.GetAttr(ino));
  return Adjusted(a);
}

Status DecodedZarrView::ReadDir(
    uint64_t ino, uint64_t offset,
    const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit) const {
  if (auto n = InnerNodeOf(ino)) {
    if (n->level == ArrayOf(*n->tree).grid->rank()) return InvalidArgument("not a directory");
    for (; offset < 2; ++offset) {
      const bool more = offset == 0 ? emit(".", InnerAttr(*n), 1)
                                    : emit("..", Attr{InnerParentIno(*n), true, 0, 2, true}, 2);
      if (!more) return Status::Ok();
    }
    return ReadInnerDir(*n->tree, &*n, offset - 2, 2, emit);
  }
  const InnerTree* t = InnerTreeOfDir(ino);
  if (!t) {
    return stored_.ReadDir(ino, offset, [&](std::string_view name, const Attr& a, uint64_t next) {
      return emit(name, Adjusted(a), next);
    });
  }
  // A sharded array's directory: what is stored but its shards, then its
  // inner chunks' places.
  if (offset < kInnerPositions) {
    bool stopped = false;
    ZM_RETURN_IF_ERROR(stored_.ReadDir(ino, offset, [&](std::string_view name, const Attr& a, uint64_t next) {
      if (name != "." && name != ".." && InnerPlaceNamed(*t, nullptr, name)) return true;
      stopped = !emit(name, Adjusted(a), next);
      return !stopped;
    }));
    if (stopped) return Status::Ok();
    offset = kInnerPositions;
  }
  return ReadInnerDir(*t, nullptr, offset - kInnerPositions, kInnerPositions, emit);
}

Status DecodedZarrView::Open(uint64_t ino) const {
  if (auto n = InnerNodeOf(ino))
    return n->level == ArrayOf(*n->tree).grid->rank() ? Status::Ok() : InvalidArgument("is a directory");
  return stored_.Open(ino);
}

Result<Slices> DecodedZarrView::ReadSlices(uint64_t ino, uint64_t offset, uint64_t size) const {
  if (auto n = InnerNodeOf(ino)) {
    if (n->level != ArrayOf(*n->tree).grid->rank()) return InvalidArgument("is a directory");
    return ReadChunk(ArrayOf(*n->tree), n->linear, offset, size);
  }
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
  auto s = ReadChunk(*arrays_->arrays()[c->array], c->chunk, offset, size);
  if (!s.ok()) return s.status().WithContext("key '" + index_->FileKey(*f) + "'");
  return s;
}

Result<Slices> DecodedZarrView::ReadChunk(const DecodedArrays::Array& a, uint64_t chunk, uint64_t offset,
                                          uint64_t size) const {
  // Readers read a chunk file from its start: its first read is the one
  // that tells the walk where the reader is.
  const bool overlapping = a.reads_in_flight.fetch_add(1) > 0;
  if (offset == 0) arrays_->FollowWalk(a, {chunk}, overlapping);
  auto block = arrays_->GetChunk(a.id, chunk);
  a.reads_in_flight.fetch_sub(1);
  if (!block.ok()) return block.status();
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
