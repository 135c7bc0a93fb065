// The Thrift compact protocol, as far as Parquet's metadata needs it:
// reading (bounded: every length is checked against the buffer, nesting is
// limited) and writing.
//
// Thread-safety: a reader or writer is used by one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace zm::thrift {

// Compact protocol type codes of a field or of list elements.
enum Type : uint8_t {
  kStop = 0,
  kTrue = 1,  // a boolean field's value is in its type; in lists, kBool
  kFalse = 2,
  kByte = 3,
  kI16 = 4,
  kI32 = 5,
  kI64 = 6,
  kDouble = 7,
  kBinary = 8,
  kList = 9,
  kSet = 10,
  kMap = 11,
  kStruct = 12,
};

struct FieldHeader {
  int16_t id = 0;
  uint8_t type = kStop;  // kStop ends the struct
};

struct ListHeader {
  uint8_t element_type = kStop;
  uint32_t size = 0;
};

// Reads values from one buffer. Errors are kInvalidArgument naming what was
// being read and the byte position; after an error the reader is unusable.
class CompactReader {
 public:
  // Structs and lists nest at most this deep (Parquet needs 4).
  static constexpr int kMaxDepth = 16;

  explicit CompactReader(std::string_view data) : data_(data) {}

  size_t position() const { return pos_; }

  // Struct scope: each struct's field ids are deltas from its previous one.
  Status BeginStruct();
  Status EndStruct();
  Result<FieldHeader> ReadFieldHeader();
  // A boolean field's value (its header carries it).
  static bool BoolFieldValue(const FieldHeader& h) { return h.type == kTrue; }

  Result<int32_t> ReadI32();
  Result<int64_t> ReadI64();
  // A binary or string: its bytes, a view into the buffer.
  Result<std::string_view> ReadBinary();
  // Elements follow; each is read by its type. A list may not claim more
  // elements than bytes remain (each element takes at least one byte).
  Result<ListHeader> ReadListHeader();
  // Skips a value of `type` (a whole struct, list or map included).
  Status Skip(uint8_t type);

 private:
  Result<uint64_t> ReadVarint();
  Status SkipDepth(uint8_t type, int depth);
  Status Error(const std::string& what) const;

  std::string_view data_;
  size_t pos_ = 0;
  int depth_ = 0;
  int16_t last_id_[kMaxDepth + 1] = {};
};

// Appends values to a string.
class CompactWriter {
 public:
  void BeginStruct();
  void EndStruct();  // writes the stop field
  void FieldI32(int16_t id, int32_t v);
  void FieldI64(int16_t id, int64_t v);
  void FieldBool(int16_t id, bool v);
  void FieldBinary(int16_t id, std::string_view v);
  // Begins a struct field; end it with EndStruct().
  void FieldStruct(int16_t id);
  // Begins a list field of `size` elements of `element_type`; write them
  // with the Element* calls (structs with BeginStruct/EndStruct).
  void FieldList(int16_t id, uint8_t element_type, uint32_t size);
  void ElementI32(int32_t v);
  void ElementBinary(std::string_view v);

  const std::string& data() const { return out_; }
  std::string Take() && { return std::move(out_); }

 private:
  void FieldHeader(int16_t id, uint8_t type);
  void Varint(uint64_t v);

  std::string out_;
  int16_t last_id_[CompactReader::kMaxDepth + 1] = {};
  int depth_ = 0;
};

}  // namespace zm::thrift
