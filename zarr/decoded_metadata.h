// Metadata of arrays whose chunks are served decoded (the zarr-decoded
// view): the same array — shape, chunk grid, chunk keys, data type, fill
// value, attributes — with each chunk holding its elements as they are,
// in C order and in the byte order of the data type (what ChunkDecoder
// gives), so a Zarr reader copies them instead of decoding.
//
// Every member the rewrite does not name is kept, in document order.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace zm {

// An array's metadata document rewritten for decoded chunks:
//  - Zarr v2 ".zarray": "compressor" and "filters" null, "order" "C";
//  - Zarr v3 "zarr.json": "codecs" the "bytes" codec alone, little-endian
//    (the byte order v3 data types decode to; none for 1-byte types); for
//    a sharded array, the chunk grid its inner chunks' (each served as a
//    chunk of its own).
// kInvalidArgument when `document` is not a JSON object of either kind.
Result<std::string> DecodedArrayDocument(std::string_view document);

// A consolidated metadata document with the documents of the arrays that
// `decoded` accepts (their paths relative to the consolidating group)
// rewritten by DecodedArrayDocument:
//  - Zarr v2 ".zmetadata": {"metadata": {"a/b/.zarray": {...}, ...}, ...};
//  - a Zarr v3 group's "zarr.json" with "consolidated_metadata":
//    {"metadata": {"a/b": {...array zarr.json...}, ...}}.
// Members with nothing to rewrite keep their content (minified).
// kInvalidArgument when `document` is not a JSON object.
Result<std::string> DecodedConsolidatedDocument(
    std::string_view document, const std::function<bool(std::string_view)>& decoded);

}  // namespace zm
