// Mounting NetCDF and HDF5 files without a reference file: a SOURCE (or an
// input of an aggregation) that is such a file is scanned (refs/scan.h) and
// served as if its references had been given.
//
// Each file's references are kept in the cache directory, one file per
// input (<cache-dir>/scans/<hash>.refs), under a header naming the input's
// URL, its version (Origin::Stat: inode and modification time for a local
// file, the ETag or Last-Modified date of a URL), its size, the inline
// threshold and a checksum of the references. A record is used only when
// all of them match and the references parse; anything else (a changed
// file, a torn or corrupt record) is rescanned and the record rewritten
// (atomically, by rename). An object whose origin tells no version is
// scanned every time.
//
// Thread-safety: a SourceScanner is used from one thread (libhdf5 being the
// serial build, parallel scans are worker processes: ScanInWorkers).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cache/read_through.h"
#include "refs/reference_index.h"
#include "refs/reference_loader.h"
#include "refs/scan.h"

namespace zm {

// True if `head` (a file's first bytes; 4 KiB suffice) starts like NetCDF-3
// or holds HDF5's signature at 0, 512, 1024 or 2048 (after a user block).
bool LooksLikeScannable(std::string_view head);

// True if the local file `path` is NetCDF-3 or HDF5 by its first 4 KiB.
bool IsScannableFile(const std::string& path);

// True for a name ending in .nc, .nc4, .h5, .hdf5, .he5, .cdf or .netcdf.
bool IsScanName(std::string_view name);

// True for a SOURCE to scan rather than load: a local file that is
// NetCDF-3 or HDF5 by its first bytes, or a URL whose path has a NetCDF/HDF5
// name (a URL is not read to decide: a reference set's mount costs no
// request more).
bool IsScannableSource(const std::string& source);

// What a scan record must match to be used.
struct ScanRecordKey {
  std::string url;
  std::string version;
  uint64_t size = 0;
  uint64_t inline_threshold_bytes = 0;
};

// Where the record of `url` lives under `cache_dir`.
std::string ScanRecordPath(const std::string& cache_dir, const std::string& url);

// A record: the header for `key`, then `references` (kerchunk JSON).
std::string EncodeScanRecord(const ScanRecordKey& key, std::string_view references);

// The references of `record` if its header matches `key` and its checksum
// its contents; nullopt otherwise.
std::optional<std::string_view> DecodeScanRecord(std::string_view record, const ScanRecordKey& key);

// The scan records kept under a cache directory, for `zarrmount cache`.
struct ScanRecordUsage {
  uint64_t records = 0;
  uint64_t bytes = 0;  // their file sizes, together
};
ScanRecordUsage GetScanRecordUsage(const std::string& cache_dir);

// True if `record` is whole: its header's length and checksum match the
// references after it (whatever input it is for).
bool IsIntactScanRecord(std::string_view record);

// Checks every record under `cache_dir` (IsIntactScanRecord) and deletes
// the bad ones (a mount would scan their files again).
struct ScanRecordCheck {
  uint64_t checked = 0;
  uint64_t bad = 0;
};
Result<ScanRecordCheck> VerifyScanRecords(const std::string& cache_dir);

// Deletes every scan record under `cache_dir` (and temporary files a
// writer left); returns the records deleted. Errors name the file.
Result<uint64_t> ClearScanRecords(const std::string& cache_dir);

struct SourceScanOptions {
  std::string cache_dir;  // empty: no records; every mount scans
  ScanOptions scan;
  ReferenceLoadOptions load;
};

class SourceScanner {
 public:
  // REQUIRES: `cache` outlives the scanner.
  SourceScanner(ReadThroughCache* cache, SourceScanOptions options);

  // The references of the NetCDF/HDF5 file `url` (a local absolute path or
  // a URL): from its record if still valid, else scanned (local files read
  // directly, URLs through `cache`) and recorded. Errors name `url`.
  Result<ReferenceIndex> Load(const std::string& url);

  // Before loading many URLs: asks their versions on `threads` threads at
  // once (the cache remembers the answers), with the first block of each
  // that has no record in the same request, and fetches in the background
  // the first block of each whose record is out of date, so that loading
  // them one by one waits about one round trip per `threads` files rather
  // than several per file. Local paths are left alone.
  void Prepare(const std::vector<std::string>& urls, int threads);

  // Before loading many: scans those of `urls` that are local NetCDF/HDF5
  // files (IsScannableSource) without a valid record, in `jobs` worker processes
  // started with `command` (app/scan_workers.h), records them and keeps
  // their references for Load. Errors name the file. URLs are left to Load:
  // after Prepare, their scans wait on no round trip and a worker's would
  // (it asks each object's version again), so processes do not pay there.
  Status ScanInWorkers(const std::vector<std::string>& urls, int jobs,
                       const std::vector<std::string>& command);

  size_t scanned() const { return scanned_; }
  size_t reused() const { return reused_; }

 private:
  bool HasValidRecord(const std::string& url, const Origin::ObjectInfo& info) const;
  Result<ReferenceIndex> Scan(const std::string& url, uint64_t size);
  void Record(const std::string& url, const ScanRecordKey& key, const ReferenceIndex& index);

  ReadThroughCache* cache_;
  SourceScanOptions options_;
  std::map<std::string, std::string> scanned_by_workers_;  // url -> references, until loaded
  size_t scanned_ = 0;
  size_t reused_ = 0;
};

}  // namespace zm
