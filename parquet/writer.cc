#include "parquet/writer.h"

#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <limits>
#include <unordered_map>

#include "parquet/rle.h"

namespace zm::parquet {
namespace {

void PutU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }

Result<std::string> Gzip(std::string_view in) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return InvalidArgument("gzip: cannot initialise");
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return InvalidArgument("gzip: compression failed");
  return out;
}

// The values of a column and its definition levels, as a page holds them.
struct EncodedValues {
  std::string levels;      // RLE hybrid, no length prefix; empty when required
  std::string values;      // PLAIN values or (width byte + RLE hybrid) indices
  std::string dictionary;  // PLAIN dictionary entries, when dictionary encoded
  int32_t dictionary_size = 0;
  int32_t rows = 0;
  int32_t nulls = 0;
};

Status EncodeColumn(const ColumnToWrite& c, EncodedValues* e) {
  const bool optional = c.schema.repetition == Repetition::kOptional;
  const size_t rows = c.binary ? c.binary->size() : c.int64->size();
  std::vector<uint32_t> defs;
  std::vector<uint32_t> indices;
  std::unordered_map<std::string_view, uint32_t> dict_ids;
  for (size_t i = 0; i < rows; ++i) {
    bool null = c.binary ? c.binary->is_null(i) : c.int64->is_null(i);
    if (null && !optional) return InvalidArgument("column '" + c.schema.name + "': a null in a required column");
    if (optional) defs.push_back(null ? 0 : 1);
    if (null) {
      ++e->nulls;
      continue;
    }
    if (c.int64) {
      int64_t v = c.int64->values[i];
      e->values.append(reinterpret_cast<const char*>(&v), 8);
      continue;
    }
    std::string_view v = c.binary->value(i);
    if (v.size() > std::numeric_limits<int32_t>::max())
      return InvalidArgument("column '" + c.schema.name + "': a value beyond 2 GiB");
    if (c.dictionary) {
      auto [it, added] = dict_ids.emplace(v, static_cast<uint32_t>(dict_ids.size()));
      if (added) {
        PutU32(&e->dictionary, static_cast<uint32_t>(v.size()));
        e->dictionary.append(v);
      }
      indices.push_back(it->second);
    } else {
      PutU32(&e->values, static_cast<uint32_t>(v.size()));
      e->values.append(v);
    }
  }
  if (c.dictionary) {
    e->dictionary_size = static_cast<int32_t>(dict_ids.size());
    int width = BitWidth(dict_ids.empty() ? 0 : static_cast<uint32_t>(dict_ids.size() - 1));
    e->values.push_back(static_cast<char>(width));
    e->values += EncodeRleHybrid(indices, width);
  }
  if (optional) e->levels = EncodeRleHybrid(defs, 1);
  e->rows = static_cast<int32_t>(rows);
  return Status::Ok();
}

Status CheckPageSize(size_t n) {
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    return InvalidArgument("a page beyond 2 GiB");
  return Status::Ok();
}

// Appends the column's pages to `file` and fills in `chunk`.
Status WriteColumnChunk(const ColumnToWrite& c, const WriteOptions& o, std::string* file, ColumnChunk* chunk) {
  EncodedValues e;
  ZM_RETURN_IF_ERROR(EncodeColumn(c, &e));
  const size_t start = file->size();
  chunk->type = c.schema.type;
  chunk->codec = o.codec;
  chunk->path = {c.schema.name};
  chunk->num_values = e.rows;
  uint64_t uncompressed = 0;
  if (c.dictionary && c.binary) {
    PageHeader h;
    h.type = PageType::kDictionaryPage;
    h.num_values = e.dictionary_size;
    h.encoding = Encoding::kPlain;
    ZM_ASSIGN_OR_RETURN(std::string body, CompressPage(o.codec, e.dictionary, o.zstd_level));
    ZM_RETURN_IF_ERROR(CheckPageSize(e.dictionary.size()));
    ZM_RETURN_IF_ERROR(CheckPageSize(body.size()));
    h.uncompressed_page_size = static_cast<int32_t>(e.dictionary.size());
    h.compressed_page_size = static_cast<int32_t>(body.size());
    chunk->dictionary_page_offset = static_cast<int64_t>(file->size());
    std::string header = EncodePageHeader(h);
    uncompressed += header.size() + e.dictionary.size();
    *file += header;
    *file += body;
  }
  PageHeader h;
  h.num_values = e.rows;
  h.encoding = c.dictionary && c.binary ? Encoding::kRleDictionary : Encoding::kPlain;
  std::string body;
  size_t raw_size = 0;
  if (o.data_page_v2) {
    h.type = PageType::kDataPageV2;
    h.num_nulls = e.nulls;
    h.num_rows = e.rows;
    h.definition_levels_byte_length = static_cast<int32_t>(e.levels.size());
    ZM_ASSIGN_OR_RETURN(std::string values, CompressPage(o.codec, e.values, o.zstd_level));
    body = e.levels + values;
    raw_size = e.levels.size() + e.values.size();
  } else {
    h.type = PageType::kDataPage;
    std::string page;
    if (c.schema.repetition == Repetition::kOptional) {
      PutU32(&page, static_cast<uint32_t>(e.levels.size()));
      page += e.levels;
    }
    page += e.values;
    raw_size = page.size();
    ZM_ASSIGN_OR_RETURN(body, CompressPage(o.codec, page, o.zstd_level));
  }
  ZM_RETURN_IF_ERROR(CheckPageSize(raw_size));
  ZM_RETURN_IF_ERROR(CheckPageSize(body.size()));
  h.uncompressed_page_size = static_cast<int32_t>(raw_size);
  h.compressed_page_size = static_cast<int32_t>(body.size());
  chunk->data_page_offset = static_cast<int64_t>(file->size());
  std::string header = EncodePageHeader(h);
  uncompressed += header.size() + raw_size;
  *file += header;
  *file += body;
  chunk->total_uncompressed_size = static_cast<int64_t>(uncompressed);
  chunk->total_compressed_size = static_cast<int64_t>(file->size() - start);
  if (chunk->dictionary_page_offset) chunk->encodings = {Encoding::kPlain, Encoding::kRle, Encoding::kRleDictionary};
  else chunk->encodings = {Encoding::kPlain, Encoding::kRle};
  return Status::Ok();
}

}  // namespace

Result<std::string> CompressPage(Codec codec, std::string_view in, int zstd_level) {
  switch (codec) {
    case Codec::kUncompressed: return std::string(in);
    case Codec::kSnappy: {
      std::string out;
      snappy::Compress(in.data(), in.size(), &out);
      return out;
    }
    case Codec::kGzip: return Gzip(in);
    case Codec::kZstd: {
      std::string out(ZSTD_compressBound(in.size()), '\0');
      size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), zstd_level);
      if (ZSTD_isError(n)) return InvalidArgument(std::string("zstd: ") + ZSTD_getErrorName(n));
      out.resize(n);
      return out;
    }
    default: return InvalidArgument(std::string("compression ") + CodecName(codec) + " is not supported for writing");
  }
}

Result<std::string> WriteParquetFile(const std::vector<ColumnToWrite>& columns, const WriteOptions& options) {
  FileMetaData meta;
  meta.created_by = options.created_by;
  RowGroup group;
  std::string file = "PAR1";
  std::optional<size_t> rows;
  for (const ColumnToWrite& c : columns) {
    bool binary = c.schema.type == PhysicalType::kByteArray;
    if ((binary && !c.binary) || (!binary && (c.schema.type != PhysicalType::kInt64 || !c.int64)))
      return InvalidArgument("column '" + c.schema.name + "': values of the wrong type");
    size_t n = binary ? c.binary->size() : c.int64->size();
    if (rows && *rows != n) return InvalidArgument("column '" + c.schema.name + "': a different number of rows");
    if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
      return InvalidArgument("more than 2^31 rows");
    rows = n;
    ColumnChunk chunk;
    ZM_RETURN_IF_ERROR(WriteColumnChunk(c, options, &file, &chunk));
    group.total_byte_size += chunk.total_uncompressed_size;
    group.columns.push_back(std::move(chunk));
    meta.columns.push_back(c.schema);
  }
  group.num_rows = static_cast<int64_t>(rows.value_or(0));
  meta.num_rows = group.num_rows;
  meta.row_groups.push_back(std::move(group));
  std::string footer = EncodeFileMetaData(meta);
  file += footer;
  PutU32(&file, static_cast<uint32_t>(footer.size()));
  file += "PAR1";
  return file;
}

}  // namespace zm::parquet
