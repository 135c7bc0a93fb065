// Loading kerchunk's Parquet reference sets (the layout fsspec's
// LazyReferenceMapper reads and writes) into a ReferenceIndex.
//
// The reference set is a directory:
//   .zmetadata            JSON {"metadata": {key: value, ...}, "record_size": N}
//                         holding every metadata key (".zgroup",
//                         "tas/.zarray", ...); a value is JSON (served as
//                         its text) or a string (served as the string);
//   <array>/refs.<k>.parq for each array, rows for the chunks of flat
//                         (C order) indices k*N ... k*N+N-1 of its chunk
//                         grid; the last file may be padded past the grid.
// Columns: "path" (string, nullable), "offset" and "size" (int64), "raw"
// (binary, nullable); a missing column reads as nulls. A row with "raw" is
// inline data; else a "path" with offset = size = 0 is the whole object, a
// "path" with a range is that range; both null is a missing chunk (no key,
// the fill value). A record file that does not exist is all missing. Chunk
// keys are spelled by the array's dimension_separator.
//
// Errors are one line naming the file and, for a record file, the column,
// row group and page ("<dir>/tas/refs.0.parq: column 'path', row group 0,
// page 1: dictionary index 9 out of range (4 entries)").
//
// Thread-safety: plain functions; `read` is called from the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "refs/reference_index.h"
#include "refs/reference_loader.h"

namespace zm {

// Reads a file of the reference directory by its path relative to the
// directory (".zmetadata", "tas/refs.0.parq"): kNotFound if it does not
// exist, another error if it cannot be read.
using ReferenceDirReader = std::function<Result<std::string>(const std::string& relative)>;

// Loads the whole reference set (every record file). `name` is the
// directory as the user knows it (for errors); relative paths in "path"
// resolve against `base` (see ParseReferences). The arrays' grids may have
// at most options.max_generated_keys chunks together, and a record file at
// most options.max_decompressed_bytes.
Result<ReferenceIndex> LoadParquetReferences(const ReferenceDirReader& read, const std::string& name,
                                             std::string_view base, const ReferenceLoadOptions& options = {});

// The same for a local directory.
Result<ReferenceIndex> LoadParquetReferenceDir(const std::string& dir, const ReferenceLoadOptions& options = {});

// Whether `dir` is a local directory holding a ".zmetadata" file.
bool IsParquetReferenceDir(const std::string& dir);

struct ParquetRefsWriteOptions {
  uint64_t record_size = 100'000;  // rows per record file (kerchunk's default)
  bool compress = true;            // zstd pages, else uncompressed
  // The arrays' grids together may have at most this many chunks (each is
  // a row, present or not).
  uint64_t max_chunks = 1'000'000'000;
};

// Writes `index` in the layout above, calling `write` with each file's
// path relative to the directory and its bytes (".zmetadata" last).
// Metadata keys are those whose name starts with ".z"; a value that is JSON
// is written as JSON, any other as a string. Every other key must be a
// chunk of an array whose ".zarray" the index holds: kInvalidArgument
// naming the first that is not. Paths are dictionary encoded; a record
// file is written for every record of every array, the last one not
// padded.
Status WriteParquetReferences(const ReferenceIndex& index, const ParquetRefsWriteOptions& options,
                              const std::function<Status(const std::string& relative, const std::string& bytes)>& write);

}  // namespace zm
