// SOURCE as a plain Zarr store (see refs/zarr_store.h): telling a store
// from a reference set, and reading a store's metadata and objects.
//
//  - A local directory: its files, by a walk of the tree (readdir; sizes
//    from stat), metadata documents included.
//  - A URL (http(s)://, s3://, gs://) with consolidated metadata (.zmetadata;
//    a v3 zarr.json with consolidated_metadata): the chunk keys the
//    metadata names, as whole objects of unknown size: none is requested
//    at mount; the tree sizes each on first use (fs/filesystem.h) and one
//    not found is a missing chunk.
//    The metadata documents are served from the consolidated metadata
//    (inline, as compact JSON: the same metadata, not the same bytes).
//  - An http(s):// URL without consolidated metadata: the objects its web
//    server's HTML directory index lists (nginx, Apache autoindex), page by
//    page, sized on first use as above; a page that cannot be fetched fails
//    the mount naming it. s3:// without consolidated metadata: listed by
//    ListObjectsV2 (paginated, signed as every request), with sizes. gs://
//    without consolidated metadata: an error saying so (not supported yet).
//
// Thread-safety: plain functions.
#pragma once

#include <string>

#include "base/status.h"
#include "io/origin.h"
#include "refs/reference_index.h"

namespace zm {

// Whether SOURCE is read as a Zarr store: `format` "zarr" or "references"
// decides; "auto" (or "") looks: a local directory whose root holds Zarr
// metadata (.zmetadata, zarr.json, .zgroup, .zarray), or a URL ending with
// '/' or whose last path component ends with ".zarr" or has no extension
// (so reference files and catalogs cost no probe), whose root holds such
// metadata.
bool IsZarrStoreSource(const std::string& source, const std::string& format, Origin* origin);

// The index of the store at `source` (see the top of this file). Errors are
// one line naming the store: no Zarr metadata at its root, a remote store
// without consolidated metadata, metadata that does not parse, a probe that
// Its chunk objects are not requested (see the top of this file).
Result<ReferenceIndex> LoadZarrStore(const std::string& source, Origin* origin);

}  // namespace zm
