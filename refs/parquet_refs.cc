#include "refs/parquet_refs.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/files.h"
#include "base/json.h"
#include "parquet/reader.h"
#include "parquet/writer.h"
#include "base/log.h"
#include "refs/lazy_parquet.h"
#include "refs/parquet_record.h"
#include "zarr/metadata.h"

namespace zm {
namespace {

namespace od = simdjson::ondemand;

constexpr uint64_t kMaxRangeEnd = uint64_t{1} << 50;  // as for JSON references

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// `json` with the non-finite numbers Python writes (NaN, Infinity,
// -Infinity; kerchunk's .zmetadata has them where attributes hold them)
// replaced by finite numbers of the same length, outside strings, so that a
// strict parser accepts it and every offset still points at the same text.
std::string WithFiniteNumbers(std::string_view json) {
  std::string out(json);
  bool in_string = false;
  for (size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (out.compare(i, 9, "-Infinity") == 0) {
      out.replace(i, 9, "-1.00e+99");
      i += 8;
    } else if (out.compare(i, 8, "Infinity") == 0) {
      out.replace(i, 8, "1.00e+99");
      i += 7;
    } else if (out.compare(i, 3, "NaN") == 0) {
      out.replace(i, 3, "0.0");
      i += 2;
    }
  }
  return out;
}

// The text of `view` (into `parsed`) in `original`, which has the same length.
std::string_view Original(std::string_view view, std::string_view parsed, std::string_view original) {
  return original.substr(static_cast<size_t>(view.data() - parsed.data()), view.size());
}

// A metadata value: a string is served as its text, anything else as the
// JSON text it was written as (taken from `original`, the text before
// WithFiniteNumbers; `parsed` is what simdjson parses).
Status MetadataValue(od::value v, const std::string& key, std::string_view parsed, std::string_view original,
                     std::string* out) {
  od::json_type t;
  if (v.type().get(t)) return InvalidArgument("metadata key '" + key + "': invalid JSON");
  if (t == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return InvalidArgument("metadata key '" + key + "': invalid string");
    *out = s;
    return Status::Ok();
  }
  std::string_view raw;
  if (t == od::json_type::object) {
    od::object o;
    if (v.get_object().get(o) || o.raw_json().get(raw)) return InvalidArgument("metadata key '" + key + "': invalid JSON");
  } else if (t == od::json_type::array) {
    od::array a;
    if (v.get_array().get(a) || a.raw_json().get(raw)) return InvalidArgument("metadata key '" + key + "': invalid JSON");
  } else {
    raw = v.raw_json_token();
  }
  *out = TrimRight(Original(raw, parsed, original));
  return Status::Ok();
}

}  // namespace

Result<ZMetadata> ParseZMetadata(const std::string& original) {
  std::string text = WithFiniteNumbers(original);
  size_t len = text.size();
  text.resize(len + simdjson::SIMDJSON_PADDING, ' ');
  od::parser parser;
  od::document doc;
  if (auto e = parser.iterate(text.data(), len, text.size()).get(doc))
    return InvalidArgument(std::string("invalid JSON: ") + simdjson::error_message(e));
  od::object root;
  if (doc.get_object().get(root)) return InvalidArgument("not a JSON object");
  ZMetadata z;
  bool have_metadata = false, have_size = false;
  for (auto field : root) {
    std::string_view k;
    if (field.unescaped_key().get(k)) return InvalidArgument("invalid JSON");
    if (k == "metadata") {
      od::object meta;
      if (field.value().get_object().get(meta)) return InvalidArgument("'metadata' must be an object");
      have_metadata = true;
      for (auto entry : meta) {
        std::string_view mk;
        if (entry.unescaped_key().get(mk)) return InvalidArgument("invalid JSON in 'metadata'");
        std::string key(mk), value;
        od::value v;
        if (entry.value().get(v)) return InvalidArgument("metadata key '" + key + "': invalid JSON");
        ZM_RETURN_IF_ERROR(MetadataValue(v, key, text, original, &value));
        z.entries.emplace_back(std::move(key), std::move(value));
      }
    } else if (k == "record_size") {
      uint64_t n;
      if (field.value().get_uint64().get(n) || n == 0)
        return InvalidArgument("'record_size' must be a positive integer");
      z.record_size = n;
      have_size = true;
    } else {
      od::value skip;
      if (field.value().get(skip)) return InvalidArgument("invalid JSON");
    }
  }
  if (!have_metadata) return InvalidArgument("no 'metadata' object");
  if (!have_size) return InvalidArgument("no 'record_size'");
  return z;
}

Result<Record> DecodeRecord(std::string_view bytes, const std::string& name) {
  ZM_ASSIGN_OR_RETURN(parquet::ParquetFile f, parquet::ParquetFile::Open(bytes, name));
  Record r;
  r.rows = static_cast<size_t>(f.num_rows());
  auto binary = [&](const char* col, parquet::BinaryColumn* out) -> Status {
    auto i = f.FindColumn(col);
    if (!i) return Status::Ok();
    ZM_ASSIGN_OR_RETURN(*out, f.ReadBinaryColumn(*i));
    return Status::Ok();
  };
  auto int64 = [&](const char* col, parquet::Int64Column* out) -> Status {
    auto i = f.FindColumn(col);
    if (!i) return Status::Ok();
    ZM_ASSIGN_OR_RETURN(*out, f.ReadInt64Column(*i));
    return Status::Ok();
  };
  if (auto i = f.FindColumn("path")) {
    ZM_ASSIGN_OR_RETURN(r.path, f.ReadInternedBinaryColumn(*i));
  }
  ZM_RETURN_IF_ERROR(binary("raw", &r.raw));
  ZM_RETURN_IF_ERROR(int64("offset", &r.offset));
  ZM_RETURN_IF_ERROR(int64("size", &r.size));
  return r;
}

Result<RecordRow> ReadRecordRow(const Record& r, size_t i) {
  auto present = [i](const auto& col) { return i < col.size() && !col.is_null(i); };
  RecordRow row;
  if (present(r.raw)) {
    row.kind = RecordRow::Kind::kInline;
    row.bytes = r.raw.value(i);
    return row;
  }
  if (!present(r.path)) return row;  // a missing chunk
  const int64_t offset = present(r.offset) ? r.offset.values[i] : 0;
  const int64_t size = present(r.size) ? r.size.values[i] : 0;
  if (offset < 0 || size < 0) return InvalidArgument("negative offset or size");
  if (static_cast<uint64_t>(offset) + static_cast<uint64_t>(size) > kMaxRangeEnd)
    return InvalidArgument("offset + size beyond 2^50");
  row.bytes = r.path.value(i);
  if (row.bytes.empty()) return InvalidArgument("empty path");
  row.kind = offset == 0 && size == 0 ? RecordRow::Kind::kWhole : RecordRow::Kind::kRange;
  row.offset = static_cast<uint64_t>(offset);
  row.size = static_cast<uint64_t>(size);
  return row;
}

namespace {

// Adds the chunks of one array, record file by record file.
class ArrayLoader {
 public:
  ArrayLoader(const ReferenceDirReader& read, const std::string& name, std::string_view base,
              const ReferenceLoadOptions& options, ReferenceIndexBuilder* builder)
      : read_(read), name_(name), base_(base), options_(options), builder_(builder),
        chunk_budget_(options.max_generated_keys) {}

  Status Load(const std::string& field, const std::string& zarray_text, uint64_t record_size) {
    auto meta = ParseZarrArray(zarray_text);
    if (!meta.ok()) return meta.status().WithContext(name_ + ": " + (field.empty() ? "" : field + "/") + ".zarray");
    auto grid = meta->Grid();
    if (!grid.ok()) return grid.status().WithContext(name_ + ": " + field + "/.zarray");
    const uint64_t count = grid->chunk_count();
    // Every chunk of every grid is looked at (and most become keys): a
    // grid claiming more chunks than a loaded index may hold is refused
    // before any work.
    if (count > chunk_budget_)
      return InvalidArgument(name_ + ": " + field + "/.zarray: the arrays have more than " +
                             std::to_string(options_.max_generated_keys) + " chunks together; refusing");
    chunk_budget_ -= count;
    const std::string prefix = field.empty() ? "" : field + "/";
    const uint64_t records = count / record_size + (count % record_size != 0);
    for (uint64_t k = 0; k < records; ++k) {
      const std::string rel = prefix + "refs." + std::to_string(k) + ".parq";
      auto bytes = read_(rel);
      if (!bytes.ok() && bytes.status().code() == Code::kNotFound) continue;  // all missing
      if (!bytes.ok()) return bytes.status().WithContext(name_ + "/" + rel);
      if (bytes->size() > options_.max_decompressed_bytes)
        return InvalidArgument(name_ + "/" + rel + ": larger than " + FormatSize(options_.max_decompressed_bytes));
      ZM_ASSIGN_OR_RETURN(Record r, DecodeRecord(*bytes, name_ + "/" + rel));
      const uint64_t first = k * record_size;
      const uint64_t rows = std::min(record_size, count - first);
      if (r.rows < rows)
        return InvalidArgument(name_ + "/" + rel + ": " + std::to_string(r.rows) + " rows, the chunks " +
                               std::to_string(first) + ".." + std::to_string(first + rows - 1) + " need " +
                               std::to_string(rows));
      for (uint64_t i = 0; i < rows; ++i)
        ZM_RETURN_IF_ERROR(AddRow(r, i, prefix + meta->ChunkKey(grid->GridIndex(first + i)), rel));
    }
    return Status::Ok();
  }

 private:
  Status AddRow(const Record& r, size_t i, const std::string& key, const std::string& rel) {
    auto row = ReadRecordRow(r, i);
    if (!row.ok())
      return row.status().WithContext(name_ + "/" + rel + ": row " + std::to_string(i) + " (key '" + key + "')");
    switch (row->kind) {
      case RecordRow::Kind::kMissing:
        break;
      case RecordRow::Kind::kInline:
        builder_->AddInline(key, row->bytes);
        break;
      case RecordRow::Kind::kWhole:
        builder_->AddWhole(key, builder_->InternUrl(ResolveUrl(base_, row->bytes)));
        break;
      case RecordRow::Kind::kRange:
        builder_->AddRange(key, builder_->InternUrl(ResolveUrl(base_, row->bytes)), row->offset, row->size);
        break;
    }
    return Status::Ok();
  }

  const ReferenceDirReader& read_;
  const std::string& name_;
  std::string_view base_;
  const ReferenceLoadOptions& options_;
  ReferenceIndexBuilder* builder_;
  uint64_t chunk_budget_;  // chunks the arrays not yet loaded may still have
};

// Reads `.zmetadata` and adds its metadata keys to `builder`.
Result<ZMetadata> ReadMetadataKeys(const ReferenceDirReader& read, const std::string& name,
                                   ReferenceIndexBuilder* builder) {
  auto text = read(".zmetadata");
  if (!text.ok()) return text.status().WithContext(name + "/.zmetadata");
  auto z = ParseZMetadata(*text);
  if (!z.ok()) return z.status().WithContext(name + "/.zmetadata");
  for (const auto& [key, value] : z->entries) {
    Status st = ReferenceIndexBuilder::ValidateKey(key);
    if (!st.ok()) return st.WithContext(name + "/.zmetadata");
    builder->AddInline(key, value);
  }
  return z;
}

}  // namespace

Result<ReferenceIndex> LoadParquetReferences(const ReferenceDirReader& read, const std::string& name,
                                             std::string_view base, const ReferenceLoadOptions& options) {
  ReferenceIndexBuilder builder;
  ZM_ASSIGN_OR_RETURN(ZMetadata z, ReadMetadataKeys(read, name, &builder));
  ArrayLoader arrays(read, name, base, options, &builder);
  for (const auto& [key, value] : z.entries) {
    if (key != ".zarray" && !key.ends_with("/.zarray")) continue;
    std::string field = key == ".zarray" ? "" : key.substr(0, key.size() - 8);
    ZM_RETURN_IF_ERROR(arrays.Load(field, value, z.record_size));
  }
  auto index = std::move(builder).Finish();
  if (!index.ok()) return index.status().WithContext(name);
  return index;
}

Result<ReferenceIndex> LoadLazyParquetReferences(const ReferenceDirReader& read_metadata,
                                                 ReferenceDirReader read_record, const std::string& name,
                                                 std::string_view base, const ReferenceLoadOptions& options,
                                                 const LazyParquetOptions& lazy) {
  ReferenceIndexBuilder builder;
  ZM_ASSIGN_OR_RETURN(ZMetadata z, ReadMetadataKeys(read_metadata, name, &builder));
  // Nested keys ("0/1") would be files of many directories: those arrays
  // are loaded now, as the eager loader does.
  ArrayLoader eager(read_record, name, base, options, &builder);
  std::vector<ParquetChunkResolver::Array> arrays;
  for (const auto& [key, value] : z.entries) {
    if (key != ".zarray" && !key.ends_with("/.zarray")) continue;
    const std::string field = key == ".zarray" ? "" : key.substr(0, key.size() - 8);
    auto meta = ParseZarrArray(value);
    if (!meta.ok()) return meta.status().WithContext(name + ": " + key);
    auto grid = meta->Grid();
    if (!grid.ok()) return grid.status().WithContext(name + ": " + key);
    if (meta->key_encoding.separator != '.') {
      LogInfo(name + ": " + key + ": '/' separated chunk keys; its references are loaded now, not lazily");
      ZM_RETURN_IF_ERROR(eager.Load(field, value, z.record_size));
      continue;
    }
    arrays.push_back({field.empty() ? "" : field + "/", grid->chunk_count()});
    builder.AddLazyRun(field, std::move(grid).value(), meta->key_encoding);
  }
  if (!arrays.empty())
    builder.SetLazyResolver(std::make_shared<ParquetChunkResolver>(
        std::move(read_record), name, std::string(base), z.record_size, options.max_decompressed_bytes,
        lazy, std::move(arrays)));
  auto index = std::move(builder).Finish();
  if (!index.ok()) return index.status().WithContext(name);
  return index;
}

Result<ReferenceIndex> LoadParquetReferenceDir(const std::string& dir, const ReferenceLoadOptions& options) {
  std::string root = dir;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  auto read = [&](const std::string& rel) -> Result<std::string> {
    auto r = ReadLocalFile(root + "/" + rel, options.max_decompressed_bytes);
    // The caller names the file; keep only the problem.
    if (!r.ok() && r.status().code() == Code::kNotFound) return NotFound("no such file");
    return r;
  };
  return LoadParquetReferences(read, root, root + "/", options);
}

bool IsParquetReferenceDir(const std::string& dir) {
  struct stat sb;
  if (::stat(dir.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode)) return false;
  // A consolidated Zarr store has a ".zmetadata" too: kerchunk's has
  // "record_size" and no "zarr_consolidated_format".
  constexpr uint64_t kMaxMetadataBytes = 256 << 20;
  auto text = ReadLocalFile(dir + "/.zmetadata", kMaxMetadataBytes);
  return text.ok() && text->find("\"record_size\"") != std::string::npos &&
         text->find("\"zarr_consolidated_format\"") == std::string::npos;
}

}  // namespace zm

namespace zm {
namespace {

bool IsMetadataName(std::string_view key) {
  size_t slash = key.rfind('/');
  std::string_view base = slash == std::string_view::npos ? key : key.substr(slash + 1);
  return base.starts_with(".z");
}

// `text` as it goes into .zmetadata: itself when it is JSON (non-finite
// numbers allowed, as Python writes them), else quoted.
std::string MetadataJson(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  const std::string finite = WithFiniteNumbers(text);
  if (!text.empty() && !parser.parse(finite.data(), finite.size()).get(e)) return std::string(TrimRight(text));
  return JsonQuote(text);
}

// Builds one record file's columns row by row.
struct RecordBuilder {
  parquet::BinaryColumn path, raw;
  parquet::Int64Column offset, size;

  static void Put(parquet::BinaryColumn* c, std::optional<std::string_view> v) {
    if (v) c->bytes.append(*v);
    c->ends.push_back(c->bytes.size());
    c->valid.push_back(v.has_value());
  }
  void Add(std::optional<std::string_view> p, uint64_t off, uint64_t sz, std::optional<std::string_view> r) {
    Put(&path, p);
    Put(&raw, r);
    offset.values.push_back(static_cast<int64_t>(off));
    offset.valid.push_back(1);
    size.values.push_back(static_cast<int64_t>(sz));
    size.valid.push_back(1);
  }
  Result<std::string> Write(bool compress) const {
    using parquet::ColumnSchema;
    using parquet::PhysicalType;
    using parquet::Repetition;
    parquet::WriteOptions o;
    o.codec = compress ? parquet::Codec::kZstd : parquet::Codec::kUncompressed;
    return parquet::WriteParquetFile(
        {{ColumnSchema{"path", PhysicalType::kByteArray, Repetition::kOptional, true}, &path, nullptr, true},
         {ColumnSchema{"offset", PhysicalType::kInt64, Repetition::kRequired, false}, nullptr, &offset, false},
         {ColumnSchema{"size", PhysicalType::kInt64, Repetition::kRequired, false}, nullptr, &size, false},
         {ColumnSchema{"raw", PhysicalType::kByteArray, Repetition::kOptional, false}, &raw, nullptr, false}},
        o);
  }
};

}  // namespace

Status WriteParquetReferences(const ReferenceIndex& index, const ParquetRefsWriteOptions& options,
                              const std::function<Status(const std::string& relative, const std::string& bytes)>& write) {
  if (options.record_size == 0) return InvalidArgument("the record size must be positive");
  std::vector<uint8_t> covered(index.file_count(), 0);
  std::string zmeta = "{\"metadata\": {";
  bool first = true;
  for (ReferenceIndex::FileId f = 0; f < index.file_count(); ++f) {
    const std::string key = index.FileKey(f);
    if (!IsMetadataName(key)) continue;
    if (!index.target(f).is_inline())
      return InvalidArgument("key '" + key + "': metadata must be inline to be written as Parquet references");
    zmeta += (first ? "" : ", ") + JsonQuote(key) + ": " + MetadataJson(index.inline_data(f));
    first = false;
    covered[f] = 1;
  }
  zmeta += "}, \"record_size\": " + std::to_string(options.record_size) + "}\n";
  // Two passes over the arrays' chunks: the first only finds the keys no
  // chunk covers (so that nothing is written for a set that cannot be), the
  // second writes the record files.
  uint64_t chunks = 0;
  for (ReferenceIndex::FileId f = 0; f < index.file_count(); ++f) {
    const std::string key = index.FileKey(f);
    if (key != ".zarray" && !key.ends_with("/.zarray")) continue;
    auto meta = ParseZarrArray(index.inline_data(f));
    auto grid = meta.ok() ? meta->Grid() : Result<ChunkGrid>(meta.status());
    if (!grid.ok()) return grid.status().WithContext("key '" + key + "'");
    if (grid->chunk_count() > options.max_chunks - chunks)
      return InvalidArgument("key '" + key + "': the arrays have more than " + std::to_string(options.max_chunks) +
                             " chunks together; refusing");
    chunks += grid->chunk_count();
  }
  for (bool emit : {false, true}) {
    for (ReferenceIndex::FileId f = 0; f < index.file_count(); ++f) {
      const std::string key = index.FileKey(f);
      if (key != ".zarray" && !key.ends_with("/.zarray")) continue;
      const std::string prefix = key.substr(0, key.size() - 7);  // "a/b/" or ""
      auto meta = ParseZarrArray(index.inline_data(f));
      if (!meta.ok()) return meta.status().WithContext("key '" + key + "'");
      auto grid = meta->Grid();
      if (!grid.ok()) return grid.status().WithContext("key '" + key + "'");
      for (uint64_t start = 0; start < grid->chunk_count(); start += options.record_size) {
        RecordBuilder rec;
        const uint64_t end = std::min(grid->chunk_count(), start + options.record_size);
        for (uint64_t i = start; i < end; ++i) {
          auto id = index.FindKey(prefix + meta->ChunkKey(grid->GridIndex(i)));
          if (id) covered[*id] = 1;
          if (!emit) continue;
          if (!id) {
            rec.Add(std::nullopt, 0, 0, std::nullopt);
            continue;
          }
          ReferenceIndex::Target t = index.target(*id);
          if (t.is_inline()) {
            rec.Add(std::nullopt, 0, 0, index.inline_data(*id));
          } else if (t.size == ReferenceIndex::kUnknownSize) {
            rec.Add(index.url(t.url_id), 0, 0, std::nullopt);
          } else {
            rec.Add(index.url(t.url_id), t.offset, t.size, std::nullopt);
          }
        }
        if (!emit) continue;
        ZM_ASSIGN_OR_RETURN(std::string bytes, rec.Write(options.compress));
        ZM_RETURN_IF_ERROR(write(prefix + "refs." + std::to_string(start / options.record_size) + ".parq", bytes));
      }
    }
    if (emit) break;
    for (ReferenceIndex::FileId f = 0; f < index.file_count(); ++f)
      if (!covered[f])
        return InvalidArgument("key '" + index.FileKey(f) +
                               "' is neither metadata nor a chunk of an array: the Parquet layout cannot hold it");
  }
  return write(".zmetadata", zmeta);
}

}  // namespace zm
