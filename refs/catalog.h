// Catalogs of reference sets: Intake (v1 YAML) catalogs and STAC catalogs,
// collections and items, read into one model — a tree of directories, each
// dataset a reference file to load later. Nothing here reads a reference
// file: a catalog of thousands of datasets costs its documents only.
//
// Intake: each entry of `sources` whose driver is a Zarr source (`zarr`,
// `intake_xarray.xzarr.ZarrSource`, ...) with `args.urlpath: reference://`
// and `args.storage_options.fo` is a dataset named by the entry; nested
// catalogs (`yaml_file_cat`, `yaml_files_cat`,
// `intake.catalog.local.YAMLFileCatalog`, ... with `args.path`) are nested
// directories. `{{ CATALOG_DIR }}` is the directory (or URL) of the
// document; any other `{{ ... }}` or `{% ... %}` template leaves its entry
// out. Relative paths resolve against the document's directory.
//
// STAC: a Catalog or Collection is a directory whose `child` links are
// subdirectories (named by the child's id) and whose `item` links are items;
// a Feature (item) with one reference asset is a dataset named by its id,
// with several a directory of datasets named by asset key; a
// FeatureCollection's features are items. A reference asset has role
// `references` or `index` with a JSON (or no) media type, or carries
// `xarray:open_kwargs` naming the kerchunk engine or a `reference://`
// storage_options.fo. Storage options come from `xarray:storage_options` (or
// open_kwargs' storage_options). Links resolve against the document's
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
  // The reference file: an absolute local path or a URL.
  std::string references;
  // Prefix for reference URLs without a scheme (fsspec's remote_protocol):
  // "s3://" for remote_protocol s3; empty: resolve against `references`.
  std::string url_base;
  // remote_options / target_options `anon: true`: S3 requests of this
  // dataset are sent unsigned.
  bool anonymous = false;
  // For messages: "DOCUMENT: source 'NAME'" / "DOCUMENT: asset 'KEY'".
  std::string where;
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

// A name usable as one directory entry (see the file comment).
std::string SanitizeName(std::string_view name);

}  // namespace zm
