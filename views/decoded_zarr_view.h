// The zarr-decoded view: the reference set's Zarr store as the zarr view
// shows it — the same directories, keys and inode numbers — but with the
// chunks of every array the mount can decode served decoded: each chunk
// file holds the chunk's elements, in C order and in the byte order of the
// array's data type, and the array's metadata says so (no compressor, no
// filters: zarr/decoded_metadata.h), consolidated metadata included. A
// Zarr reader then copies chunks instead of decoding them, and the
// decoding runs here, ahead of it and on every core.
//
// Sizes come from metadata: a decoded chunk file's size is its chunk's
// bytes; listing and stat read no chunk data. A chunk key with no
// reference stays absent (the reader uses the fill value). Keys that are
// not chunks of a decoded array (attributes, groups, other files) read as
// stored, and so do the arrays the mount cannot decode (an unknown codec,
// unreadable metadata), with one log line each (shown_as_stored()):
// nothing is left out.
//
// A sharded array (Zarr v3 sharding_indexed) is shown unsharded: its inner
// chunks are its chunks, each a file of its own under the array's chunk
// key encoding, and its shards are not shown. An inner chunk is listed
// when its shard has a key (one its shard's index leaves empty reads as
// the fill value); inode numbers of these files and their directories
// follow the stored tree's.
//
// A decoded chunk is decoded once while it stays in the decoded-chunk cache
// (views/decoded_arrays.h); readers walking an array's chunks in any order
// get the chunks ahead fetched and decoded in the background. A chunk that
// cannot be fetched or decoded fails the read: never wrong bytes.
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "cache/read_through.h"
#include "fs/filesystem.h"
#include "fs/tree.h"
#include "refs/reference_index.h"
#include "views/decoded_arrays.h"

namespace zm {

class DecodedZarrView : public Tree {
 public:
  // Reads the metadata of `index` (through `cache`); neither is owned and
  // both must outlive the result. Fails only when metadata cannot be read
  // at all.
  static Result<std::unique_ptr<DecodedZarrView>> Build(const ReferenceIndex* index,
                                                        ReadThroughCache* cache,
                                                        const DecodedArraysOptions& options,
                                                        int64_t mtime = 0);

  int64_t mtime() const override { return stored_.mtime(); }
  Result<Attr> Lookup(uint64_t parent, std::string_view name) const override;
  Result<Attr> GetAttr(uint64_t ino) const override;
  Status ReadDir(uint64_t ino, uint64_t offset,
                 const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit)
      const override;
  Status Open(uint64_t ino) const override;
  Result<Slices> ReadSlices(uint64_t ino, uint64_t offset, uint64_t size) const override;
  void StatFs(struct statvfs* st) const override;

  // The same bytes as one string (tests).
  Result<std::string> Read(uint64_t ino, uint64_t offset, uint64_t size) const;
  // One line per array served as stored, as logged.
  const std::vector<std::string>& shown_as_stored() const { return shown_as_stored_; }
  const DecodedChunkStats& chunk_stats() const { return arrays_->chunk_stats(); }
  // Blocks until decode-ahead is idle (tests).
  void WaitForDecodeAhead() const { arrays_->WaitForDecodeAhead(); }

 private:
  struct ChunkRef {
    uint32_t array;
    uint64_t chunk;  // linear in the array's grid
  };

  // A sharded array's inner chunk files and their directories. Nodes go by
  // level: level k has one node per prefix of k chunk indices, in C order
  // (level 0: the prefix directory, "c", of a nested default encoding);
  // level rank holds the files. A nested encoding ('/') has a directory
  // per prefix; a flat one ('.') only the files, in the array's directory.
  struct InnerTree {
    uint32_t array = 0;
    uint64_t dir_ino = 0;    // the array's directory
    uint64_t first_ino = 0;  // of level 0's first node
    bool nested = false;
    bool prefix_dir = false;            // nested under the encoding's prefix
    std::vector<uint64_t> level_first;  // per level, its first node's offset; then the end
  };
  struct InnerNode {
    const InnerTree* tree = nullptr;
    size_t level = 0;
    uint64_t linear = 0;  // the prefix's place among its level's (a file's: its chunk)
  };
  static constexpr uint64_t kInnerPositions = uint64_t{1} << 62;  // ReadDir positions past the stored ones'
  static constexpr uint64_t kMaxInnerNodes = uint64_t{1} << 60;   // inodes, with the stored tree's

  DecodedZarrView(const ReferenceIndex* index, ReadThroughCache* cache, int64_t mtime);
  // Shows sharded array `a` by its inner chunks, numbered from *next_ino;
  // false if they are too many to number (kMaxInnerNodes in all).
  bool AddInnerTree(const DecodedArrays::Array& a, uint64_t* next_ino);
  const DecodedArrays::Array& ArrayOf(const InnerTree& t) const { return *arrays_->arrays()[t.array]; }
  std::optional<InnerNode> InnerNodeOf(uint64_t ino) const;
  const InnerTree* InnerTreeOfDir(uint64_t ino) const;
  uint64_t InoOf(const InnerNode& n) const { return n.tree->first_ino + n.tree->level_first[n.level] + n.linear; }
  Attr InnerAttr(const InnerNode& n) const;
  std::string InnerName(const InnerNode& n) const;
  uint64_t InnerParentIno(const InnerNode& n) const;
  // The children of the array's directory (`parent` null) or of node
  // `parent`: how many places, and the one at place `k` (a file whose chunk
  // has no stored key: nullopt).
  uint64_t InnerChildCount(const InnerTree& t, const InnerNode* parent) const;
  std::optional<InnerNode> InnerChild(const InnerTree& t, const InnerNode* parent, uint64_t k) const;
  // The place among those children that `name` names, if it names one
  // (whether or not a child is there: a stored shard of that name is not
  // shown either way).
  std::optional<uint64_t> InnerPlaceNamed(const InnerTree& t, const InnerNode* parent,
                                          std::string_view name) const;
  Status ReadInnerDir(const InnerTree& t, const InnerNode* parent, uint64_t from, uint64_t base,
                      const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit) const;
  // Marks the decoded arrays' directories and rewrites their metadata
  // documents and the consolidated ones.
  void Plan();
  // Adds the rewritten document of key `f` (whose bytes are `text`), or
  // logs why it stays as stored.
  void Rewrite(ReferenceIndex::FileId f, const Result<std::string>& text, const std::string& where,
               const std::function<Result<std::string>(std::string_view)>& rewrite);
  // Bytes of decoded chunk `chunk` of `a`, its walk followed.
  Result<Slices> ReadChunk(const DecodedArrays::Array& a, uint64_t chunk, uint64_t offset,
                           uint64_t size) const;
  // The decoded chunk key `f` is, if it is one.
  std::optional<ChunkRef> ChunkOf(ReferenceIndex::FileId f) const;
  // `a` with the size this view gives its file.
  Attr Adjusted(Attr a) const;

  const ReferenceIndex* index_;
  Filesystem stored_;  // the store as stored: the tree, and every key not decoded
  std::unique_ptr<DecodedArrays> arrays_;
  // Per directory of the index: the decoded array it is or lies in, or -1.
  std::vector<int32_t> dir_array_;
  // Metadata documents as this view shows them, by key.
  std::unordered_map<ReferenceIndex::FileId, std::string> documents_;
  std::vector<std::string> shown_as_stored_;
  std::vector<InnerTree> inner_trees_;  // by first_ino
  std::unordered_map<uint64_t, size_t> inner_tree_of_dir_;  // by the array directory's inode
};

}  // namespace zm
