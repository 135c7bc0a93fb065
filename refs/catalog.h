// Catalogs of reference sets: Intake (v1 YAML) catalogs and STAC catalogs,
// collections and items, read into one model — a tree of directories, each
// dataset a reference file to load later. Nothing here reads a reference
// file: a catalog of thousands of datasets costs its documents only.
//
// Intake: each entry of `sources` whose driver is a Zarr source (`zarr`,
// `intake_xarray.xzarr.ZarrSource`, ...) with `args.urlpath: reference://`
// and `args.storage_options.fo` is a dataset named by the entry; so is an
// entry whose driver is `netcdf` (`intake_xarray.netcdf.NetCDFSource`)
// with `args.urlpath` naming one NetCDF/HDF5 file (a dataset to scan;
// `storage_options.anon` is honoured, a pattern or a list is skipped); nested
// catalogs (`yaml_file_cat`, `yaml_files_cat`,
// `intake.catalog.local.YAMLFileCatalog`, ... with `args.path`) are nested
// directories. `storage_options.fo` may also be the reference set itself,
// written inline as a YAML mapping (kept as JSON text in the dataset).
//
// Nested catalogs follow Intake 0.6: a `yaml_file_cat` path (a pattern
// must match exactly one file) is one document whose sources are the
// directory's; a `yaml_files_cat` path (a list, a pattern, or a directory
// meaning DIR/*) is every matching file, sorted: with `flatten` (the
// default) all their sources are merged into the entry's directory, with
// `flatten: false` each file is a subdirectory named by its file name
// without .yaml/.yml. Patterns are expanded through CatalogIo::glob, for
// local documents only; a pattern in a URL cannot be listed and is noted.
//
// Templates: `{{ CATALOG_DIR }}` is the directory (or URL) of the
// document; `{{ NAME }}` is the `default` of a parameter NAME declared in
// the source's `parameters` or the document's `metadata.parameters` (the
// source's win), when that default is a scalar and not an env()/shell()
// expression. Any other `{{ ... }}` or `{% ... %}` leaves its entry out.
// Relative paths resolve against the document's directory.
//
// STAC: a Catalog or Collection is a directory whose `child` links are
// subdirectories (named by the child's id) and whose `item` links are items;
// a Feature (item) with one reference asset is a dataset named by its id,
// with several a directory of datasets named by asset key; a
// FeatureCollection's features are items. A reference asset has role
// `references` or `index` with a JSON (or no) media type, or carries
// `xarray:open_kwargs` naming the kerchunk engine or a `reference://`
// storage_options.fo. Storage options come from `xarray:storage_options` (or
// open_kwargs' storage_options). An item with no reference asset takes its
// NetCDF/HDF5 assets (type application/netcdf, application/x-netcdf,
// application/x-hdf5 or application/x-hdf) as datasets to scan, with
// `xarray:storage_options.anon` honoured. Links resolve against the document's
// location; each document is read once, within depth and count limits.
//
// Names: '/' and NUL become '_', empty names "_"; a name already taken in
// its directory gets "~2", "~3", ... Entries left out are listed in
// `Catalog::skipped`, one line each naming the document and the entry.
//
// Thread-safety: plain functions; `io` is called from the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace zm {

enum class CatalogKind { kNone, kIntake, kStac };

// What a SOURCE is, from its location and its first bytes (up to 64 KiB
// suffice): .yaml/.yml names, or YAML text with a top-level `sources:`, are
// Intake; JSON naming a "stac_version" is STAC; anything else kNone (a
// reference file).
CatalogKind SniffCatalog(std::string_view location, std::string_view head);

struct CatalogDataset {
  // Directory names from the mount's root; the last is the dataset's own.
  std::vector<std::string> path;
  // The reference file: an absolute local path or a URL. For inline
  // references, the catalog document that holds them (for messages, and
  // its directory for relative URLs and local confinement).
  std::string references;
  // Non-empty: the reference set itself, as JSON text (an inline `fo`);
  // `references` is then not read.
  std::string inline_references;
  // Prefix for reference URLs without a scheme (fsspec's remote_protocol):
  // "s3://" for remote_protocol s3; empty: resolve against `references`.
  std::string url_base;
  // remote_options / target_options `anon: true`: S3 requests to the
  // buckets this dataset reads are sent unsigned (fs/ applies it per
  // bucket, for the whole mount, when the dataset is first loaded).
  bool anonymous = false;
  // For messages: "DOCUMENT: source 'NAME'" / "DOCUMENT: asset 'KEY'".
  std::string where;
  // `references` is a NetCDF/HDF5 file, not a reference set: its
  // references are made by scanning it when the dataset is loaded.
  bool scan = false;
};

struct Catalog {
  // Every directory below the root (nested catalogs, STAC children, items
  // with several assets), parents before children. Dataset directories are
  // not listed here.
  std::vector<std::vector<std::string>> directories;
  std::vector<CatalogDataset> datasets;
  // One line per entry left out or option ignored.
  std::vector<std::string> notes;
  size_t documents = 0;  // documents read
};

struct CatalogIo {
  // The bytes of a document: a local absolute path or a URL.
  std::function<Result<std::string>(const std::string& location)> fetch;
  // The files matching a glob(3) pattern (a local absolute path), sorted;
  // none is an empty list. Unset: patterns are noted and left out.
  std::function<Result<std::vector<std::string>>(const std::string& pattern)> glob;
};

struct CatalogLimits {
  int max_depth = 32;             // nesting of documents
  size_t max_documents = 100'000;
  size_t max_datasets = 1'000'000;
};

// Reads the catalog at `location` (absolute path or URL) and every
// document it leads to. Fails with one line naming the document and the
// problem when a document cannot be read or is not a catalog of `kind`
// (malformed YAML or JSON, a wrong type); a nested document that fails
// leaves its entry out with a note instead, unless it is the root.
Result<Catalog> LoadCatalog(const std::string& location, CatalogKind kind, const CatalogIo& io,
                            const CatalogLimits& limits = {});

// `href` resolved against the document at `document` (path or URL):
// absolute URLs as they are, "/x" against a URL's host, relative ones
// against its directory, "." and ".." segments folded.
std::string ResolveLocation(std::string_view document, std::string_view href);

// A YAML mapping, sequence or scalar (yaml-cpp, as text) as JSON text,
// scalars typed as PyYAML (YAML 1.1) reads them: quoted ones are strings;
// plain null/~, booleans (true/yes/on/...), integers (decimal, 0x, 0o, 0b,
// leading-0 octal, '_' separators) and decimal floats are typed; the rest
// are strings. Used for inline references; exposed for tests.
Result<std::string> YamlToJson(std::string_view yaml);

// A name usable as one directory entry (see the file comment).
std::string SanitizeName(std::string_view name);

}  // namespace zm
