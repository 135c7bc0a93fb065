// DecodedArrays: the arrays of a reference set's Zarr store, decoded chunk
// by chunk on demand, for the views that serve decoded bytes (npy, netcdf,
// zarr-decoded).
//
// Loading reads metadata only (.zarray, .zattrs, zarr.json). A chunk is
// fetched and decoded when first asked for and kept in a bounded cache of
// decoded chunks (views/chunk_cache.h); a chunk with no key is the fill
// value. A sharded array (Zarr v3 sharding_indexed) is decoded by inner
// chunk: its shard's index is read once (then cached) and each inner chunk
// by its own byte range, never the whole shard; an inner chunk the index
// marks empty is the fill value. A chunk that cannot be fetched or decoded
// to exactly its size is an error, never wrong bytes.
//
// Readers walking an array's chunk grid in any order are followed
// (fs/chunk_walk.h): the chunks ahead of the walk are fetched and decoded
// in the background.
//
// Thread-safety: all const methods are safe to call concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "base/units.h"
#include "cache/read_through.h"
#include "codecs/pipeline.h"
#include "fs/chunk_walk.h"
#include "fs/zarr_node.h"
#include "refs/reference_index.h"
#include "views/array_region.h"
#include "views/chunk_cache.h"
#include "zarr/metadata.h"

namespace zm {

struct DecodedArraysOptions {
  std::string root_name = "root";        // the name of an array at the store's root
  uint64_t chunk_cache_bytes = 256_MiB;  // decoded chunks kept in memory
  int decode_threads = 2;                // decode-ahead threads; 0: none (no walks followed)
};

class DecodedArrays {
 public:
  struct Array {
    std::string path;  // the array's directory in the store ("" for a root array)
    std::string name;  // its last component (the root name for a root array)
    ReferenceIndex::DirId dir = 0;
    ZarrArrayMeta meta;
    // The grid decoded: the array's chunks, or a sharded array's inner
    // chunks (chunk numbering shared with `region`).
    std::unique_ptr<ChunkGrid> grid;
    std::unique_ptr<ChunkDecoder> decoder;
    std::vector<ZarrAttribute> attrs;  // .zattrs, or a v3 zarr.json's attributes
    std::unique_ptr<ArrayRegion> region;
    uint32_t id = 0;  // position in arrays()
    // Walks through the grid by readers (fs/chunk_walk.h).
    mutable std::mutex walk_mu;  // guards walk; a leaf lock
    std::unique_ptr<ChunkWalk> walk;
    // Reads of the array being served: more than one at once is a pool of
    // readers (dask's threads), whose walks arrive in no order.
    mutable std::atomic<int> reads_in_flight{0};
    // Sharded arrays: decoded shard indexes by the shard's key.
    using ShardIndex = std::shared_ptr<const std::vector<ShardEntry>>;
    mutable std::mutex shard_mu;  // guards shard_indexes; a leaf lock
    mutable std::unordered_map<ReferenceIndex::FileId, ShardIndex> shard_indexes;
  };

  // An array that cannot be decoded: `where` names it ("array 'a/b'", "the
  // root array"), `why` says why (an unknown codec, unreadable metadata ...).
  struct Undecodable {
    std::string where;
    std::string why;
  };

  // Reads the metadata of `index` through `cache`; neither is owned and
  // both must outlive the result. Fails only when metadata cannot be read
  // at all; arrays that cannot be decoded are listed in undecodable().
  static Result<std::unique_ptr<DecodedArrays>> Load(const ReferenceIndex* index,
                                                     ReadThroughCache* cache,
                                                     const DecodedArraysOptions& options);
  ~DecodedArrays();

  const std::vector<std::unique_ptr<Array>>& arrays() const { return arrays_; }
  const std::vector<Undecodable>& undecodable() const { return undecodable_; }

  // Chunk `chunk` (linear in the array's grid) of array `array`, decoded:
  // from memory, or fetched and decoded once however many ask at once.
  Result<Block> GetChunk(uint32_t array, uint64_t chunk) const;
  // Whether chunk `chunk` of `a` (an inner chunk, when `a` is sharded) has
  // a stored key (its shard's, when sharded) that may exist: without one it
  // is the fill value, and a Zarr store shows it by its absence.
  bool HasStoredKey(const Array& a, uint64_t chunk) const;
  // Files the chunks one read touched with the array's walk detector, and
  // fetches and decodes ahead what the walk goes on to. `overlapping`:
  // another read of the array was in flight when this one began.
  void FollowWalk(const Array& a, const std::vector<uint64_t>& chunks,
                  bool overlapping = false) const;
  // Fetches the stored bytes of `chunks` in the background (many at once),
  // then decodes them on the decode-ahead threads, skipping those already
  // decoded.
  void FetchAndDecodeAhead(const Array& a, const std::vector<uint64_t>& chunks) const;
  bool decodes_ahead() const { return options_.decode_threads > 0; }

  // The bytes of key `f` (inline, else read whole through the cache).
  Result<std::string> ReadKey(ReferenceIndex::FileId f) const;

  const DecodedChunkStats& chunk_stats() const { return chunks_->stats(); }
  // Blocks until decode-ahead is idle (tests).
  void WaitForDecodeAhead() const { chunks_->WaitIdle(); }

 private:
  DecodedArrays(const ReferenceIndex* index, ReadThroughCache* cache,
                const DecodedArraysOptions& options);
  Status LoadAll();
  // Adds the array at directory `d`, or lists it as undecodable. Errors:
  // reading its attributes.
  Status AddArray(ReferenceIndex::DirId d, const std::string& path, const std::string& where,
                  ZarrNode node);
  void Undecoded(const std::string& where, std::string why);
  // The store key of chunk `chunk` of `a`: of the shard holding it when
  // `a` is sharded.
  std::string ChunkKeyOf(const Array& a, uint64_t chunk) const;
  Result<Block> LoadChunk(const Array& a, uint64_t chunk) const;
  // `stored` decoded to exactly one chunk; errors start with `what`.
  Result<Block> DecodeChunk(const Array& a, std::string_view stored, const std::string& what) const;
  // Sharded arrays: the inner chunk read by its byte range in the shard
  // (the index read once, then cached); not stored: the fill value.
  Result<Block> LoadInnerChunk(const Array& a, uint64_t chunk) const;
  // The decoded index of the shard at key `shard` (see zarr/sharding.h).
  Result<Array::ShardIndex> LoadShardIndex(const Array& a, ReferenceIndex::FileId shard) const;
  // The entry of inner chunk `chunk` if its shard's index is cached.
  std::optional<ShardEntry> CachedInnerEntry(const Array& a, uint64_t chunk,
                                             ReferenceIndex::FileId shard) const;
  // The bytes of key `f`: its size (asking the origin for a whole object
  // not yet sized), and bytes [pos, pos + len) read as their own cache
  // region.
  Result<uint64_t> KeySize(ReferenceIndex::FileId f) const;
  Result<std::string> ReadKeyRange(ReferenceIndex::FileId f, uint64_t pos, uint64_t len) const;

  const ReferenceIndex* index_;
  ReadThroughCache* cache_;
  const DecodedArraysOptions options_;
  std::vector<std::unique_ptr<Array>> arrays_;
  std::vector<Undecodable> undecodable_;
  // Last: destroyed first, so its decode-ahead threads stop before the
  // arrays they decode go away.
  std::unique_ptr<DecodedChunkCache> chunks_;
};

}  // namespace zm
