#include "refs/zarr_metadata.h"

#include <simdjson.h>

namespace zm {

std::vector<uint64_t> ZarrArrayMeta::GridShape() const {
  std::vector<uint64_t> g(shape.size());
  // Rounded up without shape + chunks - 1, which wraps for huge shapes.
  for (size_t i = 0; i < shape.size(); ++i)
    g[i] = chunks[i] ? shape[i] / chunks[i] + (shape[i] % chunks[i] != 0) : 0;
  return g;
}

Result<ZarrArrayMeta> ParseZarrArray(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc)) return InvalidArgument(".zarray: invalid JSON");
  ZarrArrayMeta meta;
  auto read_dims = [&](const char* field, std::vector<uint64_t>* out) -> Status {
    simdjson::dom::array arr;
    if (doc[field].get_array().get(arr))
      return InvalidArgument(std::string(".zarray: '") + field + "' must be a list of integers");
    for (auto v : arr) {
      uint64_t x;
      if (v.get_uint64().get(x))
        return InvalidArgument(std::string(".zarray: '") + field + "' must be a list of integers");
      out->push_back(x);
    }
    return Status::Ok();
  };
  ZM_RETURN_IF_ERROR(read_dims("shape", &meta.shape));
  ZM_RETURN_IF_ERROR(read_dims("chunks", &meta.chunks));
  if (meta.shape.size() != meta.chunks.size())
    return InvalidArgument(".zarray: 'shape' and 'chunks' differ in length");
  std::string_view sep;
  if (!doc["dimension_separator"].get_string().get(sep)) {
    if (sep != "." && sep != "/") return InvalidArgument(".zarray: bad dimension_separator");
    meta.separator = sep[0];
  }
  return meta;
}

}  // namespace zm
