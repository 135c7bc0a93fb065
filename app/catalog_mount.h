// Serving a catalog (refs/catalog.h) through the daemon's stack: reading
// its documents, and loading one dataset's reference set into a tree when
// the CatalogTree asks.
//
// Thread-safety: ReadDocument and DetectCatalog are plain functions; the
// loader returned by MakeDatasetLoader may be called from many threads.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/origin.h"
#include "fs/catalog_tree.h"
#include "app/daemon.h"
#include "app/stack.h"
#include "refs/catalog.h"

namespace zm {

// The bytes of a local file (path or file:// URL) or of a URL fetched whole
// through `origin` (so --map, credentials and headers apply). At most
// `max_bytes`; errors name the location.
Result<std::string> ReadDocument(const std::string& location, Origin* origin, uint64_t max_bytes);

// Whether SOURCE is a catalog, from its name and first 64 KiB.
Result<CatalogKind> DetectCatalog(const std::string& source, Origin* origin);

// The regular files matching the glob(3) pattern, in byte order (what a
// catalog's local `path: DIR/*.yaml` names).
Result<std::vector<std::string>> GlobFiles(const std::string& pattern);

// Reads the catalog at `source` (every document through `origin`).
Result<Catalog> ReadCatalog(const std::string& source, CatalogKind kind, Origin* origin);

// The directories of the catalog's local reference files, links resolved,
// each once: where their local references may read (as a single reference
// file's may read under its directory).
std::vector<std::string> LocalReferenceDirectories(const Catalog& catalog);

// Loads dataset d of `catalog`: its reference file (through the stack's
// origin for URLs), checked like a mounted one (CheckIndex: local
// references confined, whole objects sized), served as the config asks
// (BuildDataset: tree, prefetch, background version checks, which stop when
// the CatalogTree releases the dataset). REQUIRES: `catalog`, `stack` and
// `config` outlive the loader and every tree it returns.
// `scan` makes the index of a dataset that is a NetCDF/HDF5 file
// (CatalogDataset::scan) by scanning it; it must be safe to call from many
// threads (ScanningDatasets makes one). Without it such a dataset fails to
// load. A dataset named like a NetCDF/HDF5 file gives view files named by
// its stem (x.nc: x.npy, x.nc; not x.nc.nc).
using DatasetScanner = std::function<Result<ReferenceIndex>(const CatalogDataset&)>;
DatasetLoader MakeDatasetLoader(const Catalog* catalog, Stack* stack, const DaemonConfig* config,
                                int64_t mtime, DatasetScanner scan = nullptr);

}  // namespace zm
