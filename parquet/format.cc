#include "parquet/format.h"

#include "parquet/thrift.h"

namespace zm::parquet {
namespace {

using thrift::CompactReader;
using thrift::CompactWriter;
using thrift::FieldHeader;

Status Expect(const FieldHeader& f, uint8_t type, const char* what) {
  if (f.type != type) return InvalidArgument(std::string("thrift: field '") + what + "' has the wrong type");
  return Status::Ok();
}

Status NonNegative(int64_t v, const char* what) {
  if (v < 0) return InvalidArgument(std::string(what) + " is negative (" + std::to_string(v) + ")");
  return Status::Ok();
}

// Calls `field(header)` for each field of the struct that starts at the
// reader's position; `field` skips what it does not know.
template <typename Fn>
Status ReadStruct(CompactReader& r, Fn&& field) {
  ZM_RETURN_IF_ERROR(r.BeginStruct());
  while (true) {
    ZM_ASSIGN_OR_RETURN(FieldHeader f, r.ReadFieldHeader());
    if (f.type == thrift::kStop) break;
    ZM_RETURN_IF_ERROR(field(f));
  }
  return r.EndStruct();
}

// Reads a list field of `type` elements, calling `element()` for each.
template <typename Fn>
Status ReadList(CompactReader& r, const FieldHeader& f, uint8_t type, const char* what, Fn&& element) {
  ZM_RETURN_IF_ERROR(Expect(f, thrift::kList, what));
  ZM_ASSIGN_OR_RETURN(thrift::ListHeader h, r.ReadListHeader());
  if (h.element_type != type)
    return InvalidArgument(std::string("thrift: elements of '") + what + "' have the wrong type");
  for (uint32_t i = 0; i < h.size; ++i) ZM_RETURN_IF_ERROR(element());
  return Status::Ok();
}

template <typename T>
Status ReadI32Into(CompactReader& r, const FieldHeader& f, const char* what, T* out) {
  ZM_RETURN_IF_ERROR(Expect(f, thrift::kI32, what));
  ZM_ASSIGN_OR_RETURN(int32_t v, r.ReadI32());
  *out = static_cast<T>(v);
  return Status::Ok();
}

Status ReadI64Into(CompactReader& r, const FieldHeader& f, const char* what, int64_t* out) {
  ZM_RETURN_IF_ERROR(Expect(f, thrift::kI64, what));
  ZM_ASSIGN_OR_RETURN(*out, r.ReadI64());
  return Status::Ok();
}

struct SchemaElement {
  std::optional<int32_t> type;
  int32_t repetition = 0;
  std::string name;
  int32_t num_children = 0;
  int32_t converted_type = -1;
};

Result<SchemaElement> ReadSchemaElement(CompactReader& r) {
  SchemaElement e;
  ZM_RETURN_IF_ERROR(ReadStruct(r, [&](const FieldHeader& f) -> Status {
    switch (f.id) {
      case 1: {
        int32_t t;
        ZM_RETURN_IF_ERROR(ReadI32Into(r, f, "type", &t));
        e.type = t;
        return Status::Ok();
      }
      case 3: return ReadI32Into(r, f, "repetition_type", &e.repetition);
      case 4: {
        ZM_RETURN_IF_ERROR(Expect(f, thrift::kBinary, "name"));
        ZM_ASSIGN_OR_RETURN(std::string_view n, r.ReadBinary());
        e.name = n;
        return Status::Ok();
      }
      case 5: return ReadI32Into(r, f, "num_children", &e.num_children);
      case 6: return ReadI32Into(r, f, "converted_type", &e.converted_type);
      default: return r.Skip(f.type);
    }
  }));
  return e;
}

Result<ColumnChunk> ReadColumnMetaData(CompactReader& r) {
  ColumnChunk c;
  ZM_RETURN_IF_ERROR(ReadStruct(r, [&](const FieldHeader& f) -> Status {
    switch (f.id) {
      case 1: return ReadI32Into(r, f, "type", &c.type);
      case 2:
        return ReadList(r, f, thrift::kI32, "encodings", [&]() -> Status {
          ZM_ASSIGN_OR_RETURN(int32_t e, r.ReadI32());
          c.encodings.push_back(static_cast<Encoding>(e));
          return Status::Ok();
        });
      case 3:
        return ReadList(r, f, thrift::kBinary, "path_in_schema", [&]() -> Status {
          ZM_ASSIGN_OR_RETURN(std::string_view p, r.ReadBinary());
          c.path.emplace_back(p);
          return Status::Ok();
        });
      case 4: return ReadI32Into(r, f, "codec", &c.codec);
      case 5: return ReadI64Into(r, f, "num_values", &c.num_values);
      case 6: return ReadI64Into(r, f, "total_uncompressed_size", &c.total_uncompressed_size);
      case 7: return ReadI64Into(r, f, "total_compressed_size", &c.total_compressed_size);
      case 9: return ReadI64Into(r, f, "data_page_offset", &c.data_page_offset);
      case 11: {
        int64_t off;
        ZM_RETURN_IF_ERROR(ReadI64Into(r, f, "dictionary_page_offset", &off));
        c.dictionary_page_offset = off;
        return Status::Ok();
      }
      default: return r.Skip(f.type);
    }
  }));
  ZM_RETURN_IF_ERROR(NonNegative(c.num_values, "num_values"));
  ZM_RETURN_IF_ERROR(NonNegative(c.total_compressed_size, "total_compressed_size"));
  ZM_RETURN_IF_ERROR(NonNegative(c.data_page_offset, "data_page_offset"));
  if (c.dictionary_page_offset) ZM_RETURN_IF_ERROR(NonNegative(*c.dictionary_page_offset, "dictionary_page_offset"));
  return c;
}

Result<ColumnChunk> ReadColumnChunk(CompactReader& r) {
  std::optional<ColumnChunk> meta;
  bool external = false;
  ZM_RETURN_IF_ERROR(ReadStruct(r, [&](const FieldHeader& f) -> Status {
    if (f.id == 1 && f.type == thrift::kBinary) {
      ZM_ASSIGN_OR_RETURN(std::string_view p, r.ReadBinary());
      external = !p.empty();
      return Status::Ok();
    }
    if (f.id == 3) {
      ZM_RETURN_IF_ERROR(Expect(f, thrift::kStruct, "meta_data"));
      ZM_ASSIGN_OR_RETURN(meta, ReadColumnMetaData(r));
      return Status::Ok();
    }
    return r.Skip(f.type);
  }));
  if (external) return InvalidArgument("a column chunk in another file (file_path) is not supported");
  if (!meta) return InvalidArgument("a column chunk has no meta_data (encrypted?)");
  return std::move(*meta);
}

Result<RowGroup> ReadRowGroup(CompactReader& r) {
  RowGroup g;
  ZM_RETURN_IF_ERROR(ReadStruct(r, [&](const FieldHeader& f) -> Status {
    switch (f.id) {
      case 1:
        return ReadList(r, f, thrift::kStruct, "columns", [&]() -> Status {
          ZM_ASSIGN_OR_RETURN(ColumnChunk c, ReadColumnChunk(r));
          g.columns.push_back(std::move(c));
          return Status::Ok();
        });
      case 2: return ReadI64Into(r, f, "total_byte_size", &g.total_byte_size);
      case 3: return ReadI64Into(r, f, "num_rows", &g.num_rows);
      default: return r.Skip(f.type);
    }
  }));
  ZM_RETURN_IF_ERROR(NonNegative(g.num_rows, "row group num_rows"));
  return g;
}

// The flat schema: a root whose children are all leaves.
Result<std::vector<ColumnSchema>> FlatColumns(const std::vector<SchemaElement>& schema) {
  if (schema.empty()) return InvalidArgument("the schema is empty");
  if (static_cast<size_t>(schema[0].num_children) != schema.size() - 1)
    return InvalidArgument("nested schemas are not supported (the root has " +
                           std::to_string(schema[0].num_children) + " children of " +
                           std::to_string(schema.size() - 1) + " elements)");
  std::vector<ColumnSchema> cols;
  for (size_t i = 1; i < schema.size(); ++i) {
    const SchemaElement& e = schema[i];
    if (e.num_children != 0 || !e.type)
      return InvalidArgument("column '" + e.name + "': nested columns are not supported");
    if (e.repetition < 0 || e.repetition > 1)
      return InvalidArgument("column '" + e.name + "': repeated columns are not supported");
    if (*e.type < 0 || *e.type > 7)
      return InvalidArgument("column '" + e.name + "': unknown physical type " + std::to_string(*e.type));
    cols.push_back(ColumnSchema{e.name, static_cast<PhysicalType>(*e.type),
                                static_cast<Repetition>(e.repetition), e.converted_type == 0});
  }
  return cols;
}

}  // namespace

const char* CodecName(Codec c) {
  switch (c) {
    case Codec::kUncompressed: return "UNCOMPRESSED";
    case Codec::kSnappy: return "SNAPPY";
    case Codec::kGzip: return "GZIP";
    case Codec::kLzo: return "LZO";
    case Codec::kBrotli: return "BROTLI";
    case Codec::kLz4: return "LZ4";
    case Codec::kZstd: return "ZSTD";
    case Codec::kLz4Raw: return "LZ4_RAW";
  }
  return "unknown";
}

const char* EncodingName(Encoding e) {
  switch (e) {
    case Encoding::kPlain: return "PLAIN";
    case Encoding::kPlainDictionary: return "PLAIN_DICTIONARY";
    case Encoding::kRle: return "RLE";
    case Encoding::kBitPacked: return "BIT_PACKED";
    case Encoding::kDeltaBinaryPacked: return "DELTA_BINARY_PACKED";
    case Encoding::kDeltaLengthByteArray: return "DELTA_LENGTH_BYTE_ARRAY";
    case Encoding::kDeltaByteArray: return "DELTA_BYTE_ARRAY";
    case Encoding::kRleDictionary: return "RLE_DICTIONARY";
    case Encoding::kByteStreamSplit: return "BYTE_STREAM_SPLIT";
  }
  return "unknown";
}

Result<FileMetaData> ParseFileMetaData(std::string_view bytes) {
  CompactReader r(bytes);
  FileMetaData m;
  std::vector<SchemaElement> schema;
  bool have_schema = false;
  Status st = ReadStruct(r, [&](const FieldHeader& f) -> Status {
    switch (f.id) {
      case 1: return ReadI32Into(r, f, "version", &m.version);
      case 2:
        have_schema = true;
        return ReadList(r, f, thrift::kStruct, "schema", [&]() -> Status {
          ZM_ASSIGN_OR_RETURN(SchemaElement e, ReadSchemaElement(r));
          schema.push_back(std::move(e));
          return Status::Ok();
        });
      case 3: return ReadI64Into(r, f, "num_rows", &m.num_rows);
      case 4:
        return ReadList(r, f, thrift::kStruct, "row_groups", [&]() -> Status {
          ZM_ASSIGN_OR_RETURN(RowGroup g, ReadRowGroup(r));
          m.row_groups.push_back(std::move(g));
          return Status::Ok();
        });
      case 6: {
        if (f.type != thrift::kBinary) return r.Skip(f.type);
        ZM_ASSIGN_OR_RETURN(std::string_view s, r.ReadBinary());
        m.created_by = s;
        return Status::Ok();
      }
      default: return r.Skip(f.type);
    }
  });
  if (!st.ok()) return st.WithContext("file metadata");
  if (!have_schema) return InvalidArgument("file metadata: no schema");
  auto cols = FlatColumns(schema);
  if (!cols.ok()) return cols.status().WithContext("file metadata");
  m.columns = std::move(cols).value();
  ZM_RETURN_IF_ERROR(NonNegative(m.num_rows, "file metadata: num_rows"));
  for (size_t g = 0; g < m.row_groups.size(); ++g) {
    if (m.row_groups[g].columns.size() != m.columns.size())
      return InvalidArgument("file metadata: row group " + std::to_string(g) + " has " +
                             std::to_string(m.row_groups[g].columns.size()) + " columns, the schema " +
                             std::to_string(m.columns.size()));
  }
  return m;
}

Result<PageHeader> ParsePageHeader(std::string_view bytes, size_t* header_size) {
  CompactReader r(bytes);
  PageHeader h;
  bool have_type = false, have_sub = false;
  auto data_v1 = [&](const FieldHeader& f) -> Status {
    switch (f.id) {
      case 1: return ReadI32Into(r, f, "num_values", &h.num_values);
      case 2: return ReadI32Into(r, f, "encoding", &h.encoding);
      case 3: return ReadI32Into(r, f, "definition_level_encoding", &h.definition_level_encoding);
      default: return r.Skip(f.type);
    }
  };
  auto dict = [&](const FieldHeader& f) -> Status {
    switch (f.id) {
      case 1: return ReadI32Into(r, f, "num_values", &h.num_values);
      case 2: return ReadI32Into(r, f, "encoding", &h.encoding);
      default: return r.Skip(f.type);
    }
  };
  auto data_v2 = [&](const FieldHeader& f) -> Status {
    switch (f.id) {
      case 1: return ReadI32Into(r, f, "num_values", &h.num_values);
      case 2: return ReadI32Into(r, f, "num_nulls", &h.num_nulls);
      case 3: return ReadI32Into(r, f, "num_rows", &h.num_rows);
      case 4: return ReadI32Into(r, f, "encoding", &h.encoding);
      case 5: return ReadI32Into(r, f, "definition_levels_byte_length", &h.definition_levels_byte_length);
      case 6: return ReadI32Into(r, f, "repetition_levels_byte_length", &h.repetition_levels_byte_length);
      case 7:
        if (f.type != thrift::kTrue && f.type != thrift::kFalse)
          return InvalidArgument("thrift: field 'is_compressed' has the wrong type");
        h.is_compressed = CompactReader::BoolFieldValue(f);
        return Status::Ok();
      default: return r.Skip(f.type);
    }
  };
  Status st = ReadStruct(r, [&](const FieldHeader& f) -> Status {
    switch (f.id) {
      case 1: have_type = true; return ReadI32Into(r, f, "type", &h.type);
      case 2: return ReadI32Into(r, f, "uncompressed_page_size", &h.uncompressed_page_size);
      case 3: return ReadI32Into(r, f, "compressed_page_size", &h.compressed_page_size);
      case 5:
      case 7:
      case 8: {
        ZM_RETURN_IF_ERROR(Expect(f, thrift::kStruct, "page sub-header"));
        bool wanted = (f.id == 5 && h.type == PageType::kDataPage) ||
                      (f.id == 7 && h.type == PageType::kDictionaryPage) ||
                      (f.id == 8 && h.type == PageType::kDataPageV2);
        if (!wanted) return r.Skip(f.type);
        have_sub = true;
        if (f.id == 5) return ReadStruct(r, data_v1);
        if (f.id == 7) return ReadStruct(r, dict);
        return ReadStruct(r, data_v2);
      }
      default: return r.Skip(f.type);
    }
  });
  if (!st.ok()) return st.WithContext("page header");
  if (!have_type) return InvalidArgument("page header: no page type");
  if (h.uncompressed_page_size < 0 || h.compressed_page_size < 0 || h.num_values < 0 || h.num_nulls < 0 ||
      h.num_rows < 0 || h.definition_levels_byte_length < 0 || h.repetition_levels_byte_length < 0)
    return InvalidArgument("page header: a negative size or count");
  bool needs_sub = h.type == PageType::kDataPage || h.type == PageType::kDictionaryPage ||
                   h.type == PageType::kDataPageV2;
  if (needs_sub && !have_sub) return InvalidArgument("page header: the page's own header is missing");
  *header_size = r.position();
  return h;
}

std::string EncodeFileMetaData(const FileMetaData& m) {
  CompactWriter w;
  w.BeginStruct();
  w.FieldI32(1, m.version);
  w.FieldList(2, thrift::kStruct, static_cast<uint32_t>(m.columns.size() + 1));
  w.BeginStruct();  // the root
  w.FieldBinary(4, "schema");
  w.FieldI32(5, static_cast<int32_t>(m.columns.size()));
  w.EndStruct();
  for (const ColumnSchema& c : m.columns) {
    w.BeginStruct();
    w.FieldI32(1, static_cast<int32_t>(c.type));
    w.FieldI32(3, static_cast<int32_t>(c.repetition));
    w.FieldBinary(4, c.name);
    if (c.is_string) {
      w.FieldI32(6, 0);  // UTF8
      w.FieldStruct(10);  // LogicalType: STRING (an empty struct)
      w.FieldStruct(1);
      w.EndStruct();
      w.EndStruct();
    }
    w.EndStruct();
  }
  w.FieldI64(3, m.num_rows);
  w.FieldList(4, thrift::kStruct, static_cast<uint32_t>(m.row_groups.size()));
  for (const RowGroup& g : m.row_groups) {
    w.BeginStruct();
    w.FieldList(1, thrift::kStruct, static_cast<uint32_t>(g.columns.size()));
    for (const ColumnChunk& c : g.columns) {
      w.BeginStruct();
      w.FieldI64(2, c.data_page_offset);  // file_offset: where the chunk's pages are
      w.FieldStruct(3);
      w.FieldI32(1, static_cast<int32_t>(c.type));
      w.FieldList(2, thrift::kI32, static_cast<uint32_t>(c.encodings.size()));
      for (Encoding e : c.encodings) w.ElementI32(static_cast<int32_t>(e));
      w.FieldList(3, thrift::kBinary, static_cast<uint32_t>(c.path.size()));
      for (const std::string& p : c.path) w.ElementBinary(p);
      w.FieldI32(4, static_cast<int32_t>(c.codec));
      w.FieldI64(5, c.num_values);
      w.FieldI64(6, c.total_uncompressed_size);
      w.FieldI64(7, c.total_compressed_size);
      w.FieldI64(9, c.data_page_offset);
      if (c.dictionary_page_offset) w.FieldI64(11, *c.dictionary_page_offset);
      w.EndStruct();
      w.EndStruct();
    }
    w.FieldI64(2, g.total_byte_size);
    w.FieldI64(3, g.num_rows);
    w.EndStruct();
  }
  if (!m.created_by.empty()) w.FieldBinary(6, m.created_by);
  w.EndStruct();
  return std::move(w).Take();
}

std::string EncodePageHeader(const PageHeader& h) {
  CompactWriter w;
  w.BeginStruct();
  w.FieldI32(1, static_cast<int32_t>(h.type));
  w.FieldI32(2, h.uncompressed_page_size);
  w.FieldI32(3, h.compressed_page_size);
  switch (h.type) {
    case PageType::kDataPage:
      w.FieldStruct(5);
      w.FieldI32(1, h.num_values);
      w.FieldI32(2, static_cast<int32_t>(h.encoding));
      w.FieldI32(3, static_cast<int32_t>(h.definition_level_encoding));
      w.FieldI32(4, static_cast<int32_t>(Encoding::kRle));
      w.EndStruct();
      break;
    case PageType::kDictionaryPage:
      w.FieldStruct(7);
      w.FieldI32(1, h.num_values);
      w.FieldI32(2, static_cast<int32_t>(h.encoding));
      w.EndStruct();
      break;
    case PageType::kDataPageV2:
      w.FieldStruct(8);
      w.FieldI32(1, h.num_values);
      w.FieldI32(2, h.num_nulls);
      w.FieldI32(3, h.num_rows);
      w.FieldI32(4, static_cast<int32_t>(h.encoding));
      w.FieldI32(5, h.definition_levels_byte_length);
      w.FieldI32(6, h.repetition_levels_byte_length);
      w.FieldBool(7, h.is_compressed);
      w.EndStruct();
      break;
    case PageType::kIndexPage: break;
  }
  w.EndStruct();
  return std::move(w).Take();
}

}  // namespace zm::parquet
