// Scanning NetCDF and HDF5 files into kerchunk-style references: the Zarr v2
// metadata of every array and group, and for every stored chunk the byte
// range of the file that holds it (or its bytes, when smaller than the
// inline threshold).
//
//   * NetCDF-4 / HDF5 (refs/scan_hdf5.cc, through libhdf5): chunked
//     datasets give one reference per stored chunk, contiguous ones a single
//     chunk covering the array, compact ones inline bytes. Filters map to
//     numcodecs ids (deflate→zlib, shuffle, fletcher32, zstd, blosc, bz2);
//     dimension scales become _ARRAY_DIMENSIONS; groups nest.
//   * NetCDF-3 classic, 64-bit offset and CDF-5 (refs/scan_netcdf3.cc, a
//     bounded header parser of our own): fixed variables are one chunk,
//     record variables one chunk per record.
// What cannot be said as references (variable-length strings, filters the
// codecs cannot decode, chunks stored with a filter skipped, unsupported
// types) is left out, one log line per variable; it is never guessed.
//
// Thread-safety: ScanFile may be called from one thread at a time (libhdf5
// is the serial build). ParseNetcdf3Header is a pure function.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "refs/reference_index.h"

namespace zm {

struct ScanOptions {
  // Chunks (and compact data) smaller than this many bytes are stored in
  // the references themselves; 0 stores none inline.
  uint64_t inline_threshold_bytes = 500;
};

struct ScanResult {
  ReferenceIndex index;
  // One line per variable left out ("/grp/v: variable-length strings").
  std::vector<std::string> skipped;
};

// One object to scan: its size and a way to read its byte ranges (a local
// file, or a remote object read through the cache by the caller; refs/
// does no I/O of its own there). `read` returns exactly `size` bytes at
// `offset`, or an error; it is called from the scanning thread only.
struct ScanInput {
  std::string name;  // names the object in errors and log lines
  std::string url;   // what the references name
  uint64_t size = 0;
  std::function<Result<std::string>(uint64_t offset, uint64_t size)> read;
};

// Scans `input`. HDF5 is read by libhdf5 through a driver of ours over
// `input.read`, so a remote file costs only the ranges libhdf5 asks for.
// Errors are one line naming `input.name`.
Result<ScanResult> ScanObject(const ScanInput& input, const ScanOptions& options);

// Scans the local file `path`; chunk references name `url` (what the
// reference set should say, usually the absolute path). Errors are one line
// naming `path`: not NetCDF or HDF5, truncated, a chunk past the end of the
// file, a header the parser refuses.
Result<ScanResult> ScanFile(const std::string& path, const std::string& url,
                            const ScanOptions& options);

// True if `head` (the first bytes of a file) starts like NetCDF-3 ("CDF"
// and version 1, 2 or 5).
bool LooksLikeNetcdf3(std::string_view head);

// ---- NetCDF-3, exposed for tests and the fuzz target ------------------------

struct Netcdf3Attribute {
  std::string name;
  int type = 0;       // NetCDF type code: 1 byte, 2 char, 3 short, ... 11 uint64
  std::string bytes;  // the values, big-endian, padding dropped
};

struct Netcdf3Variable {
  std::string name;
  std::vector<uint64_t> dim_ids;
  std::vector<Netcdf3Attribute> attributes;
  int type = 0;
  uint64_t vsize = 0;  // bytes per record (record variables) or in all
  uint64_t begin = 0;  // file offset of the data (of record 0)
};

struct Netcdf3Header {
  int version = 1;  // 1 classic, 2 64-bit offset, 5 CDF-5
  uint64_t record_count = 0;
  bool streaming = false;  // the record count was written as "indeterminate"
  std::vector<std::pair<std::string, uint64_t>> dims;  // length 0: the record dimension
  std::vector<Netcdf3Attribute> attributes;
  std::vector<Netcdf3Variable> variables;
};

// Parses a NetCDF-3 header from `data` (at least the header's bytes).
// Bounded: counts and lengths are checked against what remains of `data`
// before anything is allocated. Errors say what is wrong and at which
// offset.
Result<Netcdf3Header> ParseNetcdf3Header(std::string_view data);

// Element size of NetCDF type `type` in bytes, or 0 if unknown.
uint64_t Netcdf3TypeSize(int type);

}  // namespace zm
