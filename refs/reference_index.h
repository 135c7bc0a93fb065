// ReferenceIndex: the immutable, compact in-memory form of a reference set.
//
// Every key ("tas/0.0.0") is a file; the directories are implied by the '/'
// separated prefixes. The index stores, per directory, a contiguous run of
// its files sorted by name, so lookups are binary searches and readdir is a
// range scan. Names are kept once in one arena (basenames only: a directory's
// path is not repeated for each of its files), URLs are interned, and a file
// entry is 32 bytes. Ids are dense and deterministic for the same reference
// set, so they make stable inode numbers.
//
// Lazy chunk runs: a directory (an array) may also have one run of lazy
// files, the chunks of its grid in C order, whose targets a
// LazyChunkResolver looks up when asked (refs/lazy_refs.h). Eager files take
// the ids [0, eager_file_count()); each run takes the next `chunk_count` ids,
// runs in the order they were added. A lazy file's name is its chunk key
// ("3.0.1"); FindFile accepts exactly the names of the run's grid, whether
// the chunk exists or not: Resolve says kMissing for one that does not.
//
// Thread-safety: const methods are safe to call concurrently. SetSize() is
// for start-up only, before the index is shared.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "refs/lazy_refs.h"
#include "zarr/chunk_grid.h"
#include "zarr/chunk_key.h"

namespace zm {

class ReferenceIndex {
 public:
  using DirId = uint32_t;
  using FileId = uint64_t;
  static constexpr DirId kRootDir = 0;
  static constexpr uint32_t kInlineUrl = 0xFFFFFFFFu;
  // Size of a whole-object reference whose size has not been learned yet.
  static constexpr uint64_t kUnknownSize = ~uint64_t{0};

  // What a file's bytes are.
  struct Target {
    uint32_t url_id;  // kInlineUrl for inline bytes
    uint64_t offset;  // into the object (or the inline arena)
    uint64_t size;    // kUnknownSize for a whole object not yet sized
    bool is_inline() const { return url_id == kInlineUrl; }
  };

  // What any file's bytes are, eager or lazy: one call for every consumer.
  struct ResolvedTarget {
    using Kind = LazyTarget::Kind;
    Kind kind = Kind::kMissing;
    // kRange, kWhole: valid as long as the index.
    const std::string* url = nullptr;
    uint64_t offset = 0;
    uint64_t size = 0;  // kWhole: kUnknownSize unless sized at mount
    // kInline: the bytes; they live as long as `inline_owner` when it is
    // set, else as long as the index.
    std::string_view inline_bytes;
    SharedBuffer inline_owner;
    bool is_inline() const { return kind == Kind::kInline; }
    bool missing() const { return kind == Kind::kMissing; }
  };

  // The chunks of one array's grid, looked up lazily.
  struct LazyRun {
    DirId dir;
    FileId first;  // the run's ids are [first, first + grid.chunk_count())
    ChunkGrid grid;
    ChunkKeyEncoding encoding;
  };

  ReferenceIndex() = default;
  ReferenceIndex(ReferenceIndex&&) = default;
  ReferenceIndex& operator=(ReferenceIndex&&) = default;

  size_t dir_count() const { return dirs_.size(); }
  // Every file id, eager and lazy.
  size_t file_count() const { return files_.size() + lazy_file_count_; }
  size_t eager_file_count() const { return files_.size(); }
  bool is_lazy(FileId f) const { return f >= files_.size(); }
  // Eager URLs only (lazy runs intern theirs in the resolver).
  size_t url_count() const { return urls_.size(); }

  std::string_view dir_name(DirId d) const;  // "" for the root
  DirId dir_parent(DirId d) const { return dirs_[d].parent; }
  std::string DirPath(DirId d) const;        // "a/b"; "" for the root
  // Subdirectories of `d`, sorted by name.
  std::span<const DirId> subdirs(DirId d) const;
  // Eager files of `d` are the ids [first, first + count), sorted by name.
  FileId first_file(DirId d) const { return dirs_[d].first_file; }
  uint64_t file_count(DirId d) const { return dirs_[d].file_count; }

  // REQUIRES: !is_lazy(f) (FileName works for both).
  std::string_view file_name(FileId f) const;
  std::string FileName(FileId f) const;
  DirId file_dir(FileId f) const;
  std::string FileKey(FileId f) const;  // the full key, "a/b/.zarray"
  // REQUIRES: !is_lazy(f).
  Target target(FileId f) const;
  // Bytes of an inline file. REQUIRES: !is_lazy(f), target(f).is_inline().
  std::string_view inline_data(FileId f) const;
  // Any file's target; an error is a lazy chunk's record that cannot be read.
  Result<ResolvedTarget> Resolve(FileId f) const;

  // Lazy runs, numbered in the order they were added.
  size_t lazy_run_count() const { return lazy_runs_.size(); }
  const LazyRun& lazy_run(uint32_t r) const { return lazy_runs_[r]; }
  // The run of directory `d`, if it has one.
  std::optional<uint32_t> dir_lazy_run(DirId d) const;
  // REQUIRES: is_lazy(f).
  uint32_t lazy_run_of(FileId f) const;
  // The first existing chunk of run `r` at a position >= `from`, or nullopt.
  std::optional<uint64_t> NextLazyChunk(uint32_t r, uint64_t from) const;
  const LazyChunkResolver* resolver() const { return resolver_.get(); }
  // The absolute URL or path of an object. REQUIRES: id < url_count().
  const std::string& url(uint32_t id) const { return urls_[id]; }

  std::optional<DirId> FindDir(DirId parent, std::string_view name) const;
  std::optional<FileId> FindFile(DirId parent, std::string_view name) const;
  // Looks up a full key ("a/b/c").
  std::optional<FileId> FindKey(std::string_view key) const;

  // Files whose size is kUnknownSize (whole-object refs to be sized).
  std::vector<FileId> UnsizedFiles() const;
  void SetSize(FileId f, uint64_t size) { files_[f].size = size; }

  // Approximate heap bytes held by the index (and its resolver).
  size_t MemoryUsage() const;

 private:
  friend class ReferenceIndexBuilder;

  struct Dir {
    uint32_t parent;
    uint32_t name_len;
    uint64_t name_off;
    uint32_t first_subdir;  // into subdir_ids_
    uint32_t subdir_count;
    uint64_t first_file;
    uint64_t file_count;
  };
  struct File {
    uint64_t name_off;
    uint32_t name_len;
    uint32_t url_id;
    uint64_t offset;
    uint64_t size;
  };
  static_assert(sizeof(File) == 32);

  // Arena of names: the builder's keys, each file's and directory's name
  // pointing at its last component within one of them.
  std::string names_;
  std::string inline_data_;  // arena of inline bytes
  std::vector<Dir> dirs_;    // sorted by full path; root first
  std::vector<DirId> subdir_ids_;
  std::vector<File> files_;  // grouped by dir (in dir id order), by name
  std::vector<std::string> urls_;
  std::vector<LazyRun> lazy_runs_;  // in id order
  std::vector<std::pair<DirId, uint32_t>> run_by_dir_;  // sorted by directory
  uint64_t lazy_file_count_ = 0;
  std::shared_ptr<const LazyChunkResolver> resolver_;
};

// Collects entries, then builds the index. Later entries for the same key
// replace earlier ones (as JSON objects and kerchunk's gen do).
class ReferenceIndexBuilder {
 public:
  ReferenceIndexBuilder();
  ~ReferenceIndexBuilder();

  // Checks a key: non-empty, relative, no empty, "." or ".." components, no
  // NUL. Returns a message naming the problem, or OK.
  static Status ValidateKey(std::string_view key);

  // Interns a URL and returns its id. URLs are stored as given.
  uint32_t InternUrl(std::string_view url);
  // Replaces the text of an interned URL (after template rendering and
  // resolution against the reference file's location).
  void RewriteUrl(uint32_t id, std::string url);
  size_t url_count() const;
  const std::string& url(uint32_t id) const;

  // REQUIRES: ValidateKey(key).ok().
  void AddInline(std::string_view key, std::string_view data);
  void AddRange(std::string_view key, uint32_t url_id, uint64_t offset, uint64_t size);
  void AddWhole(std::string_view key, uint32_t url_id);

  size_t entry_count() const;
  // Room for about `entries` entries with `key_bytes` of keys in all, so a
  // large set is not copied as it grows (unused room costs no memory until
  // written).
  void Reserve(size_t entries, size_t key_bytes);

  // Adds a lazy run for the directory `dir` ("" for the root; it must have
  // an eager file too, its metadata), resolved by the resolver given to
  // SetLazyResolver as run number (the count of runs added before).
  void AddLazyRun(std::string_view dir, ChunkGrid grid, ChunkKeyEncoding encoding);
  void SetLazyResolver(std::shared_ptr<const LazyChunkResolver> resolver);

  // Fails if a key is both a file and a directory ("a" and "a/b").
  Result<ReferenceIndex> Finish() &&;

 private:
  struct Impl;
  Status AttachLazyRuns(ReferenceIndex* idx);
  Impl* impl_;
};

}  // namespace zm
