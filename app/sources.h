// The inputs of an aggregation, as named on the command line, and loading
// them into one aggregated ReferenceIndex.
//
// A SOURCE argument is
//   * a reference file (JSON, gzip or zstd; recognised by its content),
//   * a Parquet reference directory (holding .zmetadata): one input,
//   * another directory: its files named *.json, *.json.gz or *.json.zst,
//     by name,
//   * a NetCDF-3, NetCDF-4 or HDF5 file (by its first bytes), scanned when
//     loaded (app/scan_source.h); a directory without reference files
//     gives its *.nc, *.nc4, *.h5, *.hdf5, *.he5, *.cdf and *.netcdf files,
//   * an http(s)://, s3:// or gs:// URL with such a name (one input),
//   * a glob pattern (quoted, so that the shell leaves it): the matching
//     files, by name; for s3:// and gs:// (s3://bucket/dir/*.nc) the
//     bucket's listing under the pattern's part before its first wildcard,
//     matched as fnmatch(3) with FNM_PATHNAME, in byte order,
//   * a zip archive (by its magic bytes): its *.json, *.json.gz and
//     *.json.zst entries, in archive order; relative URLs in them are
//     resolved against the archive's directory,
//   * a text file listing reference files, one per line (blank lines and
//     lines starting with '#' skipped; relative paths are relative to the
//     list's directory; a URL line is one remote input).
// The inputs of all SOURCE arguments are taken in order.
//
// Thread-safety: plain functions; none shares state.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "cache/read_through.h"
#include "refs/aggregate.h"
#include "refs/reference_index.h"
#include "refs/reference_loader.h"

namespace zm {

struct ReferenceSource {
  std::string path;        // absolute: the reference file, or the zip archive
  std::string zip_entry;   // empty unless an entry of the archive `path`
  std::string name() const { return zip_entry.empty() ? path : path + ":" + zip_entry; }
};

// Expands SOURCE arguments (relative paths against the working directory)
// into their inputs. One-line errors naming the argument: one that does not
// exist, a glob or directory with no reference files, a listed file that
// does not exist, an unreadable archive, a bucket glob matching nothing or
// whose listing fails. `origin` lists bucket globs (null: they are refused).
Result<std::vector<ReferenceSource>> ExpandSources(const std::vector<std::string>& args,
                                                   Origin* origin = nullptr);

// Without --concat: several SOURCE arguments, or one directory, glob, list
// file or bucket glob, that name only NetCDF/HDF5 files are a collection.
// Each file is mounted as a directory of its own, named by the file, and
// scanned when first used (app/daemon.h), so a mount of many files costs
// no scan until one is opened. Returns the collection's files, or nothing
// when `args` is one file or not a collection (a reference set, a store, a
// catalog: served as before). Errors: several arguments that are not all
// NetCDF/HDF5 files (they need --concat), two files of one name.
Result<std::vector<ReferenceSource>> ExpandFileCollection(const std::vector<std::string>& args,
                                                          Origin* origin = nullptr);

// The directory name a collection gives `input`: its file name.
std::string CollectionEntryName(const ReferenceSource& input);

// The directories holding the inputs (the archive's for zip entries), each
// once, links resolved: where local references may read by default.
std::vector<std::string> SourceDirectories(const std::vector<ReferenceSource>& inputs);

// Gives the references of a NetCDF/HDF5 input (by its absolute path).
using InputScanner = std::function<Result<ReferenceIndex>(const std::string& path)>;

// Loads the inputs one at a time (one parsed input in memory at once) and
// calls `fn` with each. A NetCDF/HDF5 input (by its first bytes) is given
// by `scanner`; without one it is read as a reference file (and refused).
Status ForEachInput(const std::vector<ReferenceSource>& inputs, const ReferenceLoadOptions& options,
                    const std::function<Status(const std::string& name, const ReferenceIndex&)>& fn,
                    const InputScanner& scanner = nullptr);

// Aggregates `inputs`; coordinate chunks are read through `cache`.
Result<ReferenceIndex> LoadAggregation(const std::vector<ReferenceSource>& inputs,
                                       const AggregateOptions& aggregate,
                                       const ReferenceLoadOptions& load, ReadThroughCache* cache,
                                       const InputScanner& scanner = nullptr);

}  // namespace zm
