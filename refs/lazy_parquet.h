// A kerchunk Parquet reference directory (refs/parquet_refs.h) served
// lazily: mounting reads ".zmetadata" only; each array's chunks are a lazy
// run of the index (refs/lazy_refs.h) whose record files are read and
// decoded on first use, kept in an LRU bounded by `memory_bytes`, and read
// again (through whatever `read_record` reads through: the block cache in
// the daemon) once evicted.
//
// Arrays whose keys are "/" separated ("0/1/2", nested directories) are
// loaded eagerly, with a log line: lazy runs are the files of one
// directory. Aggregation, combine and convert use the eager
// LoadParquetReferences; lazy loading is for a Parquet SOURCE mounted as is.
//
// A record holds, per row, 20 bytes (URL number, offset, size) plus its
// inline bytes; URLs are interned once for the resolver's life (they are
// few: objects, not chunks). The LRU keeps the most recently used record
// even when it alone exceeds the budget.
//
// Errors: a record file that does not exist is all missing chunks; one
// that cannot be decoded (or has too few rows) makes each of its chunks
// fail with one line naming the file, column, row group and page, logged
// once per decode; a bad row (negative offset, empty path) fails only its
// chunk. A record that cannot be read (an I/O error) is not remembered, so
// the next use tries again.
//
// Thread-safety: the resolver is safe to use concurrently; concurrent first
// uses of one record decode it once.
#pragma once

#include <atomic>
#include <cstdint>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/units.h"
#include "refs/lazy_refs.h"
#include "refs/parquet_refs.h"
#include "refs/reference_index.h"

namespace zm {

struct Record;
class ThreadPool;

struct LazyParquetOptions {
  uint64_t memory_bytes = 256_MiB;  // decoded records kept
  // Log a record that cannot be decoded (off where the caller reports the
  // error itself, as --check does).
  bool log_errors = true;
};

// `read_metadata` reads ".zmetadata" (now); `read_record` reads record files
// later, from any thread, for the index's life. Other arguments as for
// LoadParquetReferences.
Result<ReferenceIndex> LoadLazyParquetReferences(const ReferenceDirReader& read_metadata,
                                                 ReferenceDirReader read_record, const std::string& name,
                                                 std::string_view base, const ReferenceLoadOptions& options,
                                                 const LazyParquetOptions& lazy);

class ParquetChunkResolver : public LazyChunkResolver {
 public:
  struct Array {
    std::string prefix;  // "tas/", "" for a root array
    uint64_t chunk_count;
  };
  // `arrays` are the runs in order.
  ParquetChunkResolver(ReferenceDirReader read, std::string name, std::string base, uint64_t record_size,
                       uint64_t max_record_bytes, const LazyParquetOptions& options, std::vector<Array> arrays);

  ~ParquetChunkResolver() override;

  Result<LazyTarget> Resolve(uint32_t run, uint64_t flat) const override;
  std::optional<uint64_t> NextPresent(uint32_t run, uint64_t from, uint64_t end) const override;
  size_t MemoryUsage() const override;
  size_t url_count() const override;

  // Record files decoded so far (each decode counts, re-reads included).
  uint64_t decodes() const { return decodes_.load(); }
  // Decoded records held now, and their bytes.
  size_t records_held() const;

 private:
  struct Table;
  using TablePtr = std::shared_ptr<const Table>;
  using Key = std::pair<uint32_t, uint64_t>;  // run, record number
  struct Slot {
    TablePtr table;                        // null while being decoded
    std::shared_future<TablePtr> pending;  // the decode, while table is null
    std::list<Key>::iterator lru;
  };

  // The decoded record `k` of `run`, from the LRU or decoded now (once for
  // concurrent callers).
  TablePtr Get(uint32_t run, uint64_t k) const;
  TablePtr Decode(uint32_t run, uint64_t k, bool* keep) const;
  void DecodeBytes(uint32_t run, uint64_t k, std::string bytes, const std::string& where, Table* table) const;
  void FillTable(const Record& record, uint64_t rows, const std::string& where, Table* table) const;
  // REQUIRES: mu_ held.
  void EvictOverBudget() const;
  const std::string* InternUrl(std::string url) const;

  const ReferenceDirReader read_;
  const std::string name_, base_;
  const uint64_t record_size_, max_record_bytes_, memory_bytes_;
  const bool log_errors_;
  const std::vector<Array> arrays_;

  mutable std::mutex mu_;  // guards the members below
  mutable std::map<Key, Slot> slots_;
  mutable std::list<Key> lru_;  // most recent first; only decoded slots
  mutable uint64_t held_bytes_ = 0;

  // Decodes run here, as many at a time as there are cores: they are CPU
  // work, and each holds a record's decoded columns until done.
  std::unique_ptr<ThreadPool> decoders_;

  mutable std::mutex urls_mu_;
  mutable std::unordered_set<std::string> urls_;  // nodes never move
  mutable uint64_t url_bytes_ = 0;
  mutable std::atomic<uint64_t> decodes_{0};
};

}  // namespace zm
