#include "views/decoded_arrays.h"

#include <algorithm>

#include "base/log.h"

namespace zm {

DecodedArrays::DecodedArrays(const ReferenceIndex* index, ReadThroughCache* cache,
                             const DecodedArraysOptions& options)
    : index_(index), cache_(cache), options_(options) {
  chunks_ = std::make_unique<DecodedChunkCache>(options_.chunk_cache_bytes, options_.decode_threads);
}

DecodedArrays::~DecodedArrays() { chunks_.reset(); }

Result<std::unique_ptr<DecodedArrays>> DecodedArrays::Load(const ReferenceIndex* index,
                                                           ReadThroughCache* cache,
                                                           const DecodedArraysOptions& options) {
  std::unique_ptr<DecodedArrays> d(new DecodedArrays(index, cache, options));
  ZM_RETURN_IF_ERROR(d->LoadAll());
  return d;
}

void DecodedArrays::Undecoded(const std::string& where, std::string why) {
  undecodable_.push_back(Undecodable{where, std::move(why)});
}

Result<std::string> DecodedArrays::ReadKey(ReferenceIndex::FileId f) const {
  return ReadKeyBytes(*index_, cache_, f);
}

Status DecodedArrays::LoadAll() {
  // Directories sort by path, so a parent comes before its children.
  const size_t ndirs = index_->dir_count();
  std::vector<char> under_array(ndirs, 0);  // the directory is an array or inside one
  for (ReferenceIndex::DirId d = 0; d < ndirs; ++d) {
    if (d != ReferenceIndex::kRootDir && under_array[index_->dir_parent(d)]) {
      under_array[d] = 1;
      continue;
    }
    ZM_ASSIGN_OR_RETURN(ZarrNode node, LoadZarrNode(*index_, cache_, d));
    if (node.kind == ZarrNode::Kind::kNotArray) continue;
    under_array[d] = 1;
    const std::string path = index_->DirPath(d);
    const std::string where = path.empty() ? "the root array" : "array '" + path + "'";
    if (node.kind == ZarrNode::Kind::kBadArray) {
      Undecoded(where, node.error.message());
      continue;
    }
    ZM_RETURN_IF_ERROR(AddArray(d, path, where, std::move(node)));
  }
  return Status::Ok();
}

Status DecodedArrays::AddArray(ReferenceIndex::DirId d, const std::string& path,
                               const std::string& where, ZarrNode node) {
  auto a = std::make_unique<Array>();
  a->path = path;
  a->dir = d;
  a->name = path.substr(path.rfind('/') + 1);  // (npos + 1: the whole path)
  if (a->name.empty()) a->name = options_.root_name;
  a->meta = std::move(node.array);
  const auto& m = a->meta;
  // A sharded array is decoded by inner chunk.
  std::vector<uint64_t> chunk_shape = m.chunks;
  ChunkSpec spec = m.chunk;
  if (m.sharding) {
    if (!m.sharding->unsupported.empty()) {
      Undecoded(where, m.sharding->unsupported);
      return Status::Ok();
    }
    chunk_shape = m.sharding->inner_chunks;
    spec = m.sharding->InnerSpec(m.chunk);
  }
  bool ok_grid = m.chunk.dtype.size > 0 && chunk_shape.size() == m.shape.size();
  uint64_t chunk_elems = 1;
  for (uint64_t c : chunk_shape) {
    ok_grid = ok_grid && c > 0 && chunk_elems <= (uint64_t{1} << 40) / c;
    chunk_elems *= ok_grid ? c : 1;
  }
  if (!ok_grid || chunk_elems * m.chunk.dtype.size > (uint64_t{1} << 31)) {
    Undecoded(where, "chunks of zero or more than 2 GiB");
    return Status::Ok();
  }
  auto grid = ChunkGrid::Make(m.shape, chunk_shape);
  if (!grid.ok()) {
    Undecoded(where, grid.status().message());
    return Status::Ok();
  }
  a->grid = std::make_unique<ChunkGrid>(std::move(grid).value());
  a->walk = std::make_unique<ChunkWalk>(a->grid->grid_shape());
  auto decoder = ChunkDecoder::Make(std::move(spec));
  if (!decoder.ok()) {
    Undecoded(where, decoder.status().message());
    return Status::Ok();
  }
  a->decoder = std::move(decoder).value();
  if (m.chunk.zarr_format == 2) {
    if (auto za = index_->FindFile(d, ".zattrs")) {
      ZM_ASSIGN_OR_RETURN(std::string text, ReadKey(*za));
      auto attrs = ParseZarrAttrs(text);
      if (attrs.ok()) a->attrs = std::move(attrs).value();
      else LogWarning(where + ": attributes ignored: " + attrs.status().message());
    }
  } else {
    // A v3 array's attributes are in its zarr.json.
    auto attrs = ParseZarrAttrs(node.document);
    if (attrs.ok()) a->attrs = std::move(attrs).value();
  }
  a->region = std::make_unique<ArrayRegion>(m.shape, chunk_shape, m.chunk.dtype.size);
  a->id = static_cast<uint32_t>(arrays_.size());
  arrays_.push_back(std::move(a));
  return Status::Ok();
}

std::string DecodedArrays::ChunkKeyOf(const Array& a, uint64_t chunk) const {
  std::vector<uint64_t> index = a.grid->GridIndex(chunk);
  if (a.meta.sharding) index = a.meta.sharding->ShardOf(index);
  std::string key = a.meta.ChunkKey(index);
  return a.path.empty() ? key : a.path + "/" + key;
}

bool DecodedArrays::HasStoredKey(const Array& a, uint64_t chunk) const {
  auto f = index_->FindKey(ChunkKeyOf(a, chunk));
  if (!f) return false;
  auto t = index_->Resolve(*f);
  return !t.ok() || !t->missing();  // a bad record is shown: its reads say what is wrong
}

Result<Block> DecodedArrays::DecodeChunk(const Array& a, std::string_view stored,
                                         const std::string& what) const {
  auto decoded = a.decoder->Decode(stored);
  if (!decoded.ok()) return decoded.status().WithContext(what);
  const uint64_t want = a.decoder->spec().chunk_bytes();
  if (decoded->size() != want)  // the decoder promises this; never trust a mismatch
    return Corruption(what + ": decoded to " + std::to_string(decoded->size()) +
                      " bytes, expected " + std::to_string(want));
  return Block(std::make_shared<const std::string>(std::move(decoded).value()));
}

Result<Block> DecodedArrays::LoadChunk(const Array& a, uint64_t chunk) const {
  if (a.meta.sharding) return LoadInnerChunk(a, chunk);
  const std::string key = ChunkKeyOf(a, chunk);
  auto f = index_->FindKey(key);
  if (!f) return Block(std::make_shared<const std::string>(a.decoder->FillChunk()));
  ZM_ASSIGN_OR_RETURN(const auto target, index_->Resolve(*f));
  // A lazy chunk (refs/lazy_refs.h) that does not exist.
  if (target.missing()) return Block(std::make_shared<const std::string>(a.decoder->FillChunk()));
  auto stored = ReadKeySlices(*index_, cache_, *f);
  if (!stored.ok()) {
    // A chunk key derived from a store's metadata whose object is not
    // there: a missing chunk, as a Zarr reader takes it.
    if (stored.status().code() == Code::kNotFound && target.size == ReferenceIndex::kUnknownSize)
      return Block(std::make_shared<const std::string>(a.decoder->FillChunk()));
    return stored.status();
  }
  // Decoded where the cache holds it when it lies in one block (most
  // chunks): no copy of the stored bytes.
  const std::string what = "key '" + key + "'";
  if (stored->pieces.size() == 1) return DecodeChunk(a, stored->pieces[0], what);
  return DecodeChunk(a, stored->ToString(), what);
}

Result<uint64_t> DecodedArrays::KeySize(ReferenceIndex::FileId f) const {
  ZM_ASSIGN_OR_RETURN(const auto t, index_->Resolve(f));
  if (t.missing()) return NotFound("key '" + index_->FileKey(f) + "': no such chunk");
  if (t.is_inline()) return t.inline_bytes.size();
  if (t.size != ReferenceIndex::kUnknownSize) return t.size;
  ZM_ASSIGN_OR_RETURN(uint64_t object_size, cache_->Size(*t.url));
  if (object_size < t.offset)
    return Corruption("key '" + index_->FileKey(f) + "': offset past the object's end");
  return object_size - t.offset;
}

Result<std::string> DecodedArrays::ReadKeyRange(ReferenceIndex::FileId f, uint64_t pos,
                                                uint64_t len) const {
  ZM_ASSIGN_OR_RETURN(const auto t, index_->Resolve(f));
  if (t.missing()) return NotFound("key '" + index_->FileKey(f) + "': no such chunk");
  if (t.is_inline()) {
    std::string_view data = t.inline_bytes;
    if (pos > data.size() || len > data.size() - pos)
      return Corruption("key '" + index_->FileKey(f) + "': bytes past its end");
    return std::string(data.substr(pos, len));
  }
  // The range is a region of its own, so its blocks are exactly these bytes
  // (a read of an inner chunk never fetches the rest of its shard), and a
  // prefetch of the same range fills the same blocks.
  auto r = cache_->Read(*t.url, ByteRange{t.offset + pos, len}, 0, len);
  if (!r.ok()) return r.status().WithContext("key '" + index_->FileKey(f) + "'");
  if (r->size() != len)
    return Corruption("key '" + index_->FileKey(f) + "': " + std::to_string(r->size()) +
                      " bytes at " + std::to_string(pos) + ", expected " + std::to_string(len));
  return r;
}

Result<DecodedArrays::Array::ShardIndex> DecodedArrays::LoadShardIndex(
    const Array& a, ReferenceIndex::FileId shard) const {
  {
    std::lock_guard<std::mutex> lock(a.shard_mu);
    if (auto it = a.shard_indexes.find(shard); it != a.shard_indexes.end()) return it->second;
  }
  const ShardingSpec& sh = *a.meta.sharding;
  const std::string where = "shard '" + index_->FileKey(shard) + "'";
  ZM_ASSIGN_OR_RETURN(uint64_t shard_bytes, KeySize(shard));
  auto at = sh.IndexOffset(shard_bytes);
  if (!at.ok()) return at.status().WithContext(where);
  ZM_ASSIGN_OR_RETURN(std::string encoded, ReadKeyRange(shard, *at, sh.index_bytes()));
  ZM_ASSIGN_OR_RETURN(std::vector<ShardEntry> entries,
                      DecodeShardIndex(sh, encoded, shard_bytes, where));
  auto decoded = std::make_shared<const std::vector<ShardEntry>>(std::move(entries));
  // Indexes are small (16 bytes per inner chunk); a bound keeps an array
  // of millions of shards from holding them all.
  constexpr uint64_t kMaxIndexBytesPerArray = 64_MiB;
  std::lock_guard<std::mutex> lock(a.shard_mu);
  if ((a.shard_indexes.size() + 1) * sh.index_bytes() > kMaxIndexBytesPerArray)
    a.shard_indexes.clear();
  a.shard_indexes.emplace(shard, decoded);
  return decoded;
}

std::optional<ShardEntry> DecodedArrays::CachedInnerEntry(const Array& a, uint64_t chunk,
                                                          ReferenceIndex::FileId shard) const {
  std::lock_guard<std::mutex> lock(a.shard_mu);
  auto it = a.shard_indexes.find(shard);
  if (it == a.shard_indexes.end()) return std::nullopt;
  return (*it->second)[a.meta.sharding->PositionInShard(a.grid->GridIndex(chunk))];
}

Result<Block> DecodedArrays::LoadInnerChunk(const Array& a, uint64_t chunk) const {
  const std::string key = ChunkKeyOf(a, chunk);
  auto shard = index_->FindKey(key);
  if (!shard) return Block(std::make_shared<const std::string>(a.decoder->FillChunk()));
  auto loaded = LoadShardIndex(a, *shard);
  if (!loaded.ok()) {
    // A shard key derived from a store's metadata with no object: missing.
    auto t = index_->Resolve(*shard);
    if (loaded.status().code() == Code::kNotFound && t.ok() &&
        (t->missing() || t->size == ReferenceIndex::kUnknownSize))
      return Block(std::make_shared<const std::string>(a.decoder->FillChunk()));
    return loaded.status();
  }
  const Array::ShardIndex& entries = *loaded;
  const uint64_t pos = a.meta.sharding->PositionInShard(a.grid->GridIndex(chunk));
  const ShardEntry e = (*entries)[pos];
  if (e.empty()) return Block(std::make_shared<const std::string>(a.decoder->FillChunk()));
  ZM_ASSIGN_OR_RETURN(std::string stored, ReadKeyRange(*shard, e.offset, e.nbytes));
  return DecodeChunk(a, stored, "shard '" + key + "', inner chunk " + std::to_string(pos));
}

Result<Block> DecodedArrays::GetChunk(uint32_t array, uint64_t chunk) const {
  const Array& a = *arrays_[array];
  return chunks_->Get(ChunkId{array, chunk}, [&] { return LoadChunk(a, chunk); });
}

void DecodedArrays::FollowWalk(const Array& a, const std::vector<uint64_t>& chunks,
                               bool overlapping) const {
  if (options_.decode_threads <= 0 || chunks.empty()) return;
  std::vector<std::vector<uint64_t>> batches;
  {
    std::lock_guard<std::mutex> lock(a.walk_mu);
    batches = a.walk->OnRead(chunks, overlapping);
  }
  for (const auto& batch : batches) FetchAndDecodeAhead(a, batch);
}

void DecodedArrays::FetchAndDecodeAhead(const Array& a, const std::vector<uint64_t>& chunks) const {
  std::vector<PrefetchTarget> raw;
  for (uint64_t c : chunks) {
    ChunkId id{a.id, c};
    if (chunks_->Has(id)) continue;
    if (auto f = index_->FindKey(ChunkKeyOf(a, c))) {
      auto resolved = index_->Resolve(*f);
      if (!resolved.ok() || resolved->missing()) continue;  // the decode reports a bad one
      const auto& t = *resolved;
      if (t.is_inline() || t.size == ReferenceIndex::kUnknownSize) continue;
      // The stored bytes on the read-through cache's own threads, many at
      // once, where neighbouring chunks are fetched in one request; the
      // decode waits for them on the decode-ahead threads. An inner chunk
      // is known only once its shard's index is (the decode loads it).
      if (!a.meta.sharding) {
        raw.push_back(PrefetchTarget{*t.url, ByteRange{t.offset, t.size}});
      } else if (auto e = CachedInnerEntry(a, c, *f); e && !e->empty()) {
        raw.push_back(PrefetchTarget{*t.url, ByteRange{t.offset + e->offset, e->nbytes}});
      }
    }
  }
  if (!raw.empty()) cache_->Prefetch(std::move(raw));
  for (uint64_t c : chunks) {
    ChunkId id{a.id, c};
    if (!chunks_->Has(id)) chunks_->Prefetch(id, [this, &a, c] { return LoadChunk(a, c); });
  }
}

}  // namespace zm
