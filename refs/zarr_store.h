// A plain Zarr store (v2 or v3: a directory, or a prefix on a web server or
// bucket) as a ReferenceIndex: every object of the store is a file of the
// index, a reference to bytes [0, size) of the object at ROOT/KEY, and the
// metadata documents read at mount are inline. The index then serves the
// zarr view, the npy/netcdf views, prefetch and status as a reference set's.
//
// The store's objects come from a listing (readdir, an HTML directory
// index, S3 ListObjectsV2; done by app/) or, with consolidated metadata and
// no listing, from the metadata: the chunk keys the arrays' grids name, as
// whole objects of unknown size, sized (or found missing: a missing chunk)
// when first used.
//
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "refs/reference_index.h"

namespace zm {

// Store root documents, by what they say about the store.
enum class StoreRoot {
  kNone,            // no Zarr metadata at the root
  kConsolidatedV2,  // .zmetadata (zarr-python's consolidated metadata)
  kConsolidatedV3,  // zarr.json with "consolidated_metadata"
  kPlain,           // .zgroup, .zarray or zarr.json without consolidated metadata
};

// What the root's documents make of the store: `read(name)` returns the
// document at the root (".zmetadata", "zarr.json", ".zgroup", ".zarray"),
// nullopt when absent. A kerchunk Parquet reference directory (a
// .zmetadata with "record_size") is kNone.
Result<StoreRoot> ClassifyStoreRoot(
    const std::function<Result<std::optional<std::string>>(std::string_view name)>& read);

// The metadata of a store with consolidated metadata: each node's
// documents as (key, text), e.g. ("a/.zarray", "{...}"), ("a/zarr.json",
// "{...}"); and every chunk key its arrays' grids name ("a/0.1",
// "b/c/0/0"), at most `max_chunk_keys` (kInvalidArgument beyond: too many
// to probe without a listing). Errors name the document and the node.
struct ConsolidatedStore {
  std::vector<std::pair<std::string, std::string>> documents;
  std::vector<std::string> chunk_keys;
};
Result<ConsolidatedStore> ReadConsolidated(StoreRoot kind, std::string_view root_document,
                                           uint64_t max_chunk_keys = 10'000'000);

// One object of a store: its key under the root and its size in bytes
// (ReferenceIndex::kUnknownSize: a key derived from the metadata, neither
// sized nor known to exist).
struct StoreObject {
  std::string key;
  uint64_t size = 0;
};

// The entries of an HTML directory index (nginx or Apache autoindex, a
// plain server's listing): the targets of its links that name an entry of
// the directory itself, percent- and entity-decoded, a directory's with a
// trailing '/' ("sub/", ".zarray", "0.0"). Links elsewhere (absolute,
// "../", "?C=N;O=D" sort links, other hosts) are left out.
std::vector<std::string> ParseIndexLinks(std::string_view html);

// The index of a store at `root` (a directory path or URL, no trailing
// '/'): `documents` inline, `objects` as whole objects at root + "/" + key
// (a key also among `documents` is served inline). Errors: a key that is not
// a valid reference key, or is both a file and a directory.
Result<ReferenceIndex> BuildStoreIndex(
    std::string_view root, const std::vector<std::pair<std::string, std::string>>& documents,
    const std::vector<StoreObject>& objects);

}  // namespace zm
