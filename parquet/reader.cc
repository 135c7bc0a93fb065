#include "parquet/reader.h"

#include <snappy.h>

#include <cstring>
#include <memory>

#include "codecs/codec.h"
#include "parquet/delta.h"
#include "parquet/rle.h"

namespace zm::parquet {
namespace {

uint32_t LoadU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // little-endian hosts only (as the rest of the mount)
}

// Inflates a page's payload to exactly `expected` bytes.
Result<std::string> Decompress(Codec codec, std::string_view in, uint64_t expected) {
  switch (codec) {
    case Codec::kUncompressed:
      if (in.size() != expected)
        return InvalidArgument("uncompressed page of " + std::to_string(in.size()) + " bytes declares " +
                               std::to_string(expected));
      return std::string(in);
    case Codec::kSnappy: {
      size_t n = 0;
      if (!snappy::GetUncompressedLength(in.data(), in.size(), &n))
        return InvalidArgument("corrupt SNAPPY data");
      if (n != expected)
        return InvalidArgument("SNAPPY page inflates to " + std::to_string(n) + " bytes, declares " +
                               std::to_string(expected));
      std::string out(n, '\0');
      if (!snappy::RawUncompress(in.data(), in.size(), out.data())) return InvalidArgument("corrupt SNAPPY data");
      return out;
    }
    case Codec::kGzip:
    case Codec::kZstd: {
      auto codec_or = MakeCodec(codec == Codec::kGzip ? "gzip" : "zstd");
      if (!codec_or.ok()) return codec_or.status();
      auto out = (*codec_or)->Decode(in, expected);
      if (!out.ok())
        return InvalidArgument(std::string(CodecName(codec)) + " page: " + out.status().message());
      if (out->size() != expected)
        return InvalidArgument(std::string(CodecName(codec)) + " page inflates to " + std::to_string(out->size()) +
                               " bytes, declares " + std::to_string(expected));
      return std::move(out).value();
    }
    default: return InvalidArgument(std::string("compression ") + CodecName(codec) + " is not supported");
  }
}

// What a decoded value costs at least, charged against the decode budget:
// its end offset or value (8 bytes) and its validity flag.
constexpr uint64_t kBytesPerValue = 9;

// How values of one physical type are read and kept.
struct BinaryTraits {
  using Column = BinaryColumn;
  using Value = std::string_view;
  static constexpr PhysicalType kType = PhysicalType::kByteArray;
  // PLAIN: 4-byte length, then the bytes.
  static Status ReadPlain(std::string_view data, size_t* pos, std::string_view* v) {
    if (data.size() - *pos < 4) return InvalidArgument("PLAIN value length past the end of the page");
    uint32_t n = LoadU32(data.data() + *pos);
    *pos += 4;
    if (n > data.size() - *pos) return InvalidArgument("PLAIN value of " + std::to_string(n) + " bytes past the end of the page");
    *v = data.substr(*pos, n);
    *pos += n;
    return Status::Ok();
  }
  static void Append(Column* c, std::string_view v) {
    c->bytes.append(v);
    c->ends.push_back(c->bytes.size());
    c->valid.push_back(1);
  }
  static void AppendNull(Column* c) {
    c->ends.push_back(c->bytes.size());
    c->valid.push_back(0);
  }
  static uint64_t Charge(std::string_view v) { return v.size() + kBytesPerValue; }
};

// The same values, each distinct one kept once.
struct InternedBinaryTraits : BinaryTraits {
  using Column = InternedBinaryColumn;
  static void Append(Column* c, std::string_view v) {
    auto it = c->ids.find(v);
    if (it == c->ids.end()) {
      const std::string& kept = c->distinct.emplace_back(v);
      it = c->ids.emplace(kept, static_cast<uint32_t>(c->distinct.size() - 1)).first;
    }
    c->index.push_back(it->second);
    c->valid.push_back(1);
  }
  static void AppendNull(Column* c) {
    c->index.push_back(0);
    c->valid.push_back(0);
  }
};

struct Int64Traits {
  using Column = Int64Column;
  using Value = int64_t;
  static constexpr PhysicalType kType = PhysicalType::kInt64;
  static Status ReadPlain(std::string_view data, size_t* pos, int64_t* v) {
    if (data.size() - *pos < 8) return InvalidArgument("PLAIN INT64 value past the end of the page");
    std::memcpy(v, data.data() + *pos, 8);
    *pos += 8;
    return Status::Ok();
  }
  static void Append(Column* c, int64_t v) {
    c->values.push_back(v);
    c->valid.push_back(1);
  }
  static void AppendNull(Column* c) {
    c->values.push_back(0);
    c->valid.push_back(0);
  }
  static uint64_t Charge(int64_t) { return kBytesPerValue; }
};

template <typename Traits>
class ChunkDecoder {
 public:
  using Value = typename Traits::Value;

  ChunkDecoder(const ColumnChunk& chunk, const ColumnSchema& column, const ParquetLimits& limits,
               uint64_t* budget, typename Traits::Column* out)
      : chunk_(chunk), optional_(column.repetition == Repetition::kOptional), limits_(limits),
        budget_(budget), out_(out) {}

  Status Run(std::string_view bytes, const std::string& context) {
    size_t pos = 0;
    int page = 0;
    while (rows_ < static_cast<uint64_t>(chunk_.num_values)) {
      if (pos >= bytes.size())
        return InvalidArgument(context + ": the pages end after " + std::to_string(rows_) + " of " +
                               std::to_string(chunk_.num_values) + " values");
      Status st = Page(bytes, &pos);
      if (!st.ok()) return st.WithContext(context + ", page " + std::to_string(page));
      ++page;
    }
    return Status::Ok();
  }

 private:
  Status Page(std::string_view bytes, size_t* pos) {
    size_t header_size = 0;
    ZM_ASSIGN_OR_RETURN(PageHeader h, ParsePageHeader(bytes.substr(*pos), &header_size));
    *pos += header_size;
    if (static_cast<uint64_t>(h.compressed_page_size) > bytes.size() - *pos)
      return InvalidArgument("page of " + std::to_string(h.compressed_page_size) + " bytes runs past the column chunk (" +
                             std::to_string(bytes.size() - *pos) + " left)");
    std::string_view payload = bytes.substr(*pos, h.compressed_page_size);
    *pos += h.compressed_page_size;
    if (static_cast<uint64_t>(h.uncompressed_page_size) > limits_.max_page_bytes)
      return InvalidArgument("page declares " + std::to_string(h.uncompressed_page_size) +
                             " bytes, more than the limit of " + FormatSize(limits_.max_page_bytes));
    if (static_cast<uint64_t>(h.uncompressed_page_size) > *budget_)
      return InvalidArgument("the file decodes to more than " + FormatSize(limits_.max_decoded_bytes));
    *budget_ -= h.uncompressed_page_size;
    if (h.type == PageType::kDataPage || h.type == PageType::kDataPageV2) {
      // Before anything is decoded: levels can describe many values in few
      // bytes, so the count is what bounds the work.
      if (static_cast<uint64_t>(h.num_values) > chunk_.num_values - rows_)
        return InvalidArgument("the page holds " + std::to_string(h.num_values) + " values, the column chunk " +
                               std::to_string(chunk_.num_values - rows_) + " more");
      if (static_cast<uint64_t>(h.num_values) * kBytesPerValue > *budget_)
        return InvalidArgument("the file decodes to more than " + FormatSize(limits_.max_decoded_bytes));
    }
    switch (h.type) {
      case PageType::kDictionaryPage: return DictionaryPage(h, payload);
      case PageType::kDataPage: return DataPageV1(h, payload);
      case PageType::kDataPageV2: return DataPageV2(h, payload);
      case PageType::kIndexPage: return Status::Ok();
    }
    return InvalidArgument("unknown page type " + std::to_string(static_cast<int>(h.type)));
  }

  Status DictionaryPage(const PageHeader& h, std::string_view payload) {
    if (h.encoding != Encoding::kPlain && h.encoding != Encoding::kPlainDictionary)
      return InvalidArgument(std::string("dictionary page encoding ") + EncodingName(h.encoding) + " is not supported");
    ZM_ASSIGN_OR_RETURN(dict_buffer_, Decompress(chunk_.codec, payload, h.uncompressed_page_size));
    dict_.clear();
    size_t pos = 0;
    for (int32_t i = 0; i < h.num_values; ++i) {
      Value v{};
      Status st = Traits::ReadPlain(dict_buffer_, &pos, &v);
      if (!st.ok()) return st.WithContext("dictionary entry " + std::to_string(i));
      dict_.push_back(v);
    }
    have_dict_ = true;
    return Status::Ok();
  }

  Status DataPageV1(const PageHeader& h, std::string_view payload) {
    ZM_ASSIGN_OR_RETURN(std::string page, Decompress(chunk_.codec, payload, h.uncompressed_page_size));
    std::string_view data = page;
    size_t pos = 0;
    std::vector<uint8_t> defs;
    if (optional_) {
      if (h.definition_level_encoding != Encoding::kRle)
        return InvalidArgument(std::string("definition level encoding ") + EncodingName(h.definition_level_encoding) +
                               " is not supported");
      if (data.size() < 4) return InvalidArgument("definition levels' length past the end of the page");
      uint32_t n = LoadU32(data.data());
      if (n > data.size() - 4)
        return InvalidArgument("definition levels of " + std::to_string(n) + " bytes past the end of the page");
      ZM_RETURN_IF_ERROR(DecodeLevels(data.substr(4, n), h.num_values, &defs));
      pos = 4 + n;
    }
    return Values(h, data.substr(pos), defs);
  }

  Status DataPageV2(const PageHeader& h, std::string_view payload) {
    uint64_t levels = uint64_t(h.repetition_levels_byte_length) + uint64_t(h.definition_levels_byte_length);
    if (levels > payload.size() || levels > static_cast<uint64_t>(h.uncompressed_page_size))
      return InvalidArgument("levels of " + std::to_string(levels) + " bytes past the end of the page");
    if (h.repetition_levels_byte_length != 0) return InvalidArgument("repetition levels in a flat column");
    std::vector<uint8_t> defs;
    if (optional_)
      ZM_RETURN_IF_ERROR(DecodeLevels(payload.substr(0, h.definition_levels_byte_length), h.num_values, &defs));
    std::string_view rest = payload.substr(levels);
    uint64_t expected = h.uncompressed_page_size - levels;
    std::string values;
    if (h.is_compressed) {
      ZM_ASSIGN_OR_RETURN(values, Decompress(chunk_.codec, rest, expected));
    } else {
      ZM_ASSIGN_OR_RETURN(values, Decompress(Codec::kUncompressed, rest, expected));
    }
    if (optional_) {
      size_t nulls = 0;
      for (uint8_t d : defs) nulls += d == 0;
      if (nulls != static_cast<size_t>(h.num_nulls))
        return InvalidArgument("the page counts " + std::to_string(h.num_nulls) + " nulls, its levels " +
                               std::to_string(nulls));
    }
    return Values(h, values, defs);
  }

  Status DecodeLevels(std::string_view data, int32_t count, std::vector<uint8_t>* defs) {
    std::vector<uint32_t> levels;
    Status st = DecodeRleHybrid(data, 1, static_cast<size_t>(count), &levels);
    if (!st.ok()) return st.WithContext("definition levels");
    defs->reserve(levels.size());
    for (uint32_t l : levels) {
      if (l > 1) return InvalidArgument("definition level " + std::to_string(l) + " in a flat column");
      defs->push_back(static_cast<uint8_t>(l));
    }
    return Status::Ok();
  }

  // The values of a data page: `defs` (empty for a required column) says
  // which rows are null.
  Status Values(const PageHeader& h, std::string_view data, const std::vector<uint8_t>& defs) {
    size_t present = h.num_values;
    if (optional_) {
      present = 0;
      for (uint8_t d : defs) present += d;
    }
    std::vector<Value> values;
    values.reserve(present);
    if (h.encoding == Encoding::kPlain) {
      size_t pos = 0;
      for (size_t i = 0; i < present; ++i) {
        Value v{};
        Status st = Traits::ReadPlain(data, &pos, &v);
        if (!st.ok()) return st.WithContext("value " + std::to_string(i));
        values.push_back(v);
      }
    } else if (h.encoding == Encoding::kPlainDictionary || h.encoding == Encoding::kRleDictionary) {
      ZM_RETURN_IF_ERROR(DictionaryValues(data, present, &values));
    } else if (DeltaFits(h.encoding)) {
      ZM_RETURN_IF_ERROR(DeltaValues(h.encoding, data, present, &values));
    } else {
      return InvalidArgument(std::string("value encoding ") + EncodingName(h.encoding) + " is not supported");
    }
    uint64_t charge = 0;
    for (const Value& v : values) charge += Traits::Charge(v);
    charge += (h.num_values - present) * kBytesPerValue;
    if (charge > *budget_) return InvalidArgument("the file decodes to more than " + FormatSize(limits_.max_decoded_bytes));
    *budget_ -= charge;
    size_t next = 0;
    for (int32_t i = 0; i < h.num_values; ++i) {
      if (optional_ && !defs[i]) {
        Traits::AppendNull(out_);
      } else {
        Traits::Append(out_, values[next++]);
      }
    }
    rows_ += h.num_values;
    return Status::Ok();
  }

  // The delta encodings of this physical type.
  static bool DeltaFits(Encoding e) {
    if constexpr (std::is_same_v<Value, int64_t>) return e == Encoding::kDeltaBinaryPacked;
    return e == Encoding::kDeltaLengthByteArray || e == Encoding::kDeltaByteArray;
  }

  Status DeltaValues(Encoding e, std::string_view data, size_t count, std::vector<Value>* values) {
    if constexpr (std::is_same_v<Value, int64_t>) {
      size_t consumed = 0;
      return DecodeDeltaBinaryPacked(data, count, values, &consumed);
    } else {
      // The values are copied out before the next page replaces the storage.
      if (e == Encoding::kDeltaLengthByteArray) return DecodeDeltaLengthByteArray(data, count, values);
      return DecodeDeltaByteArray(data, count, &delta_storage_, values);
    }
  }

  Status DictionaryValues(std::string_view data, size_t count, std::vector<Value>* values) {
    if (!have_dict_) return InvalidArgument("dictionary-encoded values without a dictionary page");
    if (count == 0) return Status::Ok();
    if (data.empty()) return InvalidArgument("dictionary indices' bit width past the end of the page");
    int width = static_cast<uint8_t>(data[0]);
    if (width > 32) return InvalidArgument("dictionary index bit width " + std::to_string(width));
    std::vector<uint32_t> indices;
    Status st = DecodeRleHybrid(data.substr(1), width, count, &indices);
    if (!st.ok()) return st.WithContext("dictionary indices");
    for (uint32_t i : indices) {
      if (i >= dict_.size())
        return InvalidArgument("dictionary index " + std::to_string(i) + " out of range (" +
                               std::to_string(dict_.size()) + " entries)");
      values->push_back(dict_[i]);
    }
    return Status::Ok();
  }

  const ColumnChunk& chunk_;
  const bool optional_;
  const ParquetLimits& limits_;
  uint64_t* budget_;
  typename Traits::Column* out_;
  uint64_t rows_ = 0;
  bool have_dict_ = false;
  std::string dict_buffer_;
  std::vector<Value> dict_;
  std::string delta_storage_;  // DELTA_BYTE_ARRAY values of the current page
};

template <typename Traits>
Status DecodeChunk(std::string_view bytes, const ColumnChunk& chunk, const ColumnSchema& column,
                   const ParquetLimits& limits, const std::string& context, uint64_t* budget,
                   typename Traits::Column* out) {
  if (column.type != Traits::kType || chunk.type != Traits::kType)
    return InvalidArgument(context + ": unexpected physical type " + std::to_string(static_cast<int>(chunk.type)));
  ChunkDecoder<Traits> d(chunk, column, limits, budget, out);
  return d.Run(bytes, context);
}

}  // namespace

Status DecodeBinaryChunk(std::string_view chunk_bytes, const ColumnChunk& chunk, const ColumnSchema& column,
                         const ParquetLimits& limits, const std::string& context, uint64_t* budget,
                         BinaryColumn* out) {
  return DecodeChunk<BinaryTraits>(chunk_bytes, chunk, column, limits, context, budget, out);
}

Status DecodeInt64Chunk(std::string_view chunk_bytes, const ColumnChunk& chunk, const ColumnSchema& column,
                        const ParquetLimits& limits, const std::string& context, uint64_t* budget,
                        Int64Column* out) {
  return DecodeChunk<Int64Traits>(chunk_bytes, chunk, column, limits, context, budget, out);
}

Result<ParquetFile> ParquetFile::Open(std::string_view bytes, std::string name, const ParquetLimits& limits) {
  // "PAR1" <pages> <metadata> <metadata length: 4 bytes LE> "PAR1"
  if (bytes.size() < 12 || bytes.substr(0, 4) != "PAR1" || bytes.substr(bytes.size() - 4) != "PAR1")
    return InvalidArgument(name + ": not a Parquet file (no PAR1 magic at both ends)");
  uint32_t meta_len = LoadU32(bytes.data() + bytes.size() - 8);
  if (meta_len > bytes.size() - 12)
    return InvalidArgument(name + ": the footer claims " + std::to_string(meta_len) + " bytes of metadata, the file has " +
                           std::to_string(bytes.size() - 12));
  if (meta_len > limits.max_footer_bytes)
    return InvalidArgument(name + ": footer of " + std::to_string(meta_len) + " bytes, more than the limit of " +
                           FormatSize(limits.max_footer_bytes));
  auto meta = ParseFileMetaData(bytes.substr(bytes.size() - 8 - meta_len, meta_len));
  if (!meta.ok()) return meta.status().WithContext(name);
  int64_t rows = 0;
  for (const RowGroup& g : meta->row_groups) rows += g.num_rows;
  if (rows != meta->num_rows)
    return InvalidArgument(name + ": the row groups hold " + std::to_string(rows) + " rows, the file says " +
                           std::to_string(meta->num_rows));
  ParquetFile f;
  f.bytes_ = bytes.substr(0, bytes.size() - 8 - meta_len);
  f.name_ = std::move(name);
  f.limits_ = limits;
  f.meta_ = std::move(meta).value();
  return f;
}

std::optional<size_t> ParquetFile::FindColumn(std::string_view name) const {
  for (size_t i = 0; i < meta_.columns.size(); ++i)
    if (meta_.columns[i].name == name) return i;
  return std::nullopt;
}

template <typename Column, typename Decode>
Result<Column> ParquetFile::ReadColumn(size_t column, PhysicalType want, Decode decode) const {
  const ColumnSchema& schema = meta_.columns.at(column);
  const std::string where = name_ + ": column '" + schema.name + "'";
  if (schema.type != want)
    return InvalidArgument(where + ": physical type " + std::to_string(static_cast<int>(schema.type)) +
                           ", expected " + std::to_string(static_cast<int>(want)));
  Column out;
  uint64_t budget = limits_.max_decoded_bytes;
  for (size_t g = 0; g < meta_.row_groups.size(); ++g) {
    const RowGroup& group = meta_.row_groups[g];
    const ColumnChunk& chunk = group.columns[column];
    const std::string context = where + ", row group " + std::to_string(g);
    if (chunk.num_values != group.num_rows)
      return InvalidArgument(context + ": " + std::to_string(chunk.num_values) + " values in " +
                             std::to_string(group.num_rows) + " rows");
    // The chunk starts at its dictionary page, if any (a 0 there is a known
    // writer bug meaning "none").
    uint64_t start = chunk.data_page_offset;
    if (chunk.dictionary_page_offset && *chunk.dictionary_page_offset > 0)
      start = std::min<uint64_t>(start, *chunk.dictionary_page_offset);
    uint64_t size = chunk.total_compressed_size;
    if (start > bytes_.size() || size > bytes_.size() - start)
      return InvalidArgument(context + ": the column chunk (" + std::to_string(size) + " bytes at " +
                             std::to_string(start) + ") lies outside the file's " + std::to_string(bytes_.size()) +
                             " bytes of pages");
    ZM_RETURN_IF_ERROR(decode(bytes_.substr(start, size), chunk, schema, limits_, context, &budget, &out));
  }
  return out;
}

Result<BinaryColumn> ParquetFile::ReadBinaryColumn(size_t column) const {
  return ReadColumn<BinaryColumn>(column, PhysicalType::kByteArray, DecodeBinaryChunk);
}

Result<InternedBinaryColumn> ParquetFile::ReadInternedBinaryColumn(size_t column) const {
  return ReadColumn<InternedBinaryColumn>(
      column, PhysicalType::kByteArray,
      [](std::string_view bytes, const ColumnChunk& chunk, const ColumnSchema& schema, const ParquetLimits& limits,
         const std::string& context, uint64_t* budget, InternedBinaryColumn* out) {
        return DecodeChunk<InternedBinaryTraits>(bytes, chunk, schema, limits, context, budget, out);
      });
}

Result<Int64Column> ParquetFile::ReadInt64Column(size_t column) const {
  return ReadColumn<Int64Column>(column, PhysicalType::kInt64, DecodeInt64Chunk);
}

}  // namespace zm::parquet
