// Zarr metadata of a reference set's directories, read through the cache:
// the one place the zarr tree's prefetcher and the npy/netcdf views learn
// which directories are arrays (Zarr v2 .zarray or Zarr v3 zarr.json) and
// what their grids and chunk keys are.
//
// Thread-safety: the functions are safe to call concurrently (the index is
// immutable; the cache is thread-safe).
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "cache/read_through.h"
#include "refs/reference_index.h"
#include "zarr/metadata.h"

namespace zm {

// The bytes of key `f`: inline bytes, else read whole through `cache`.
// Errors name the key ("key 'a/.zarray': ...").
Result<std::string> ReadKeyBytes(const ReferenceIndex& index, ReadThroughCache* cache,
                                 ReferenceIndex::FileId f);
// The same bytes without copying them (see ReadThroughCache::ReadSlices):
// valid while the result and the index live.
Result<Slices> ReadKeySlices(const ReferenceIndex& index, ReadThroughCache* cache,
                             ReferenceIndex::FileId f);

// What directory `d` is in Zarr terms (see ReadZarrNode), its metadata
// document read with ReadKeyBytes. A document stored out of line and larger
// than `max_document_bytes` is not read: kInvalidArgument naming the key.
// Other errors are those of reading the document.
Result<ZarrNode> LoadZarrNode(const ReferenceIndex& index, ReadThroughCache* cache,
                              ReferenceIndex::DirId d,
                              uint64_t max_document_bytes = ReferenceIndex::kUnknownSize);

}  // namespace zm
