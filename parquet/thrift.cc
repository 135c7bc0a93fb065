#include "parquet/thrift.h"

namespace zm::thrift {
namespace {

int64_t ZigZagDecode(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }
uint64_t ZigZagEncode(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }

}  // namespace

Status CompactReader::Error(const std::string& what) const {
  return InvalidArgument("thrift: " + what + " at byte " + std::to_string(pos_));
}

Result<uint64_t> CompactReader::ReadVarint() {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) return Error("truncated integer");
    uint8_t b = static_cast<uint8_t>(data_[pos_++]);
    v |= uint64_t{b & 0x7Fu} << shift;
    if (!(b & 0x80)) return v;
  }
  return Error("integer longer than 10 bytes");
}

Status CompactReader::BeginStruct() {
  if (depth_ >= kMaxDepth) return Error("structures nested too deep");
  last_id_[++depth_] = 0;
  return Status::Ok();
}

Status CompactReader::EndStruct() {
  if (depth_ > 0) --depth_;
  return Status::Ok();
}

Result<FieldHeader> CompactReader::ReadFieldHeader() {
  if (pos_ >= data_.size()) return Error("truncated structure");
  uint8_t b = static_cast<uint8_t>(data_[pos_++]);
  FieldHeader h;
  h.type = b & 0x0F;
  if (h.type == kStop) return h;
  if (h.type > kStruct) return Error("unknown field type " + std::to_string(h.type));
  if (uint8_t delta = b >> 4) {
    h.id = static_cast<int16_t>(last_id_[depth_] + delta);
  } else {
    ZM_ASSIGN_OR_RETURN(uint64_t raw, ReadVarint());
    int64_t id = ZigZagDecode(raw);
    if (id < INT16_MIN || id > INT16_MAX) return Error("field id out of range");
    h.id = static_cast<int16_t>(id);
  }
  last_id_[depth_] = h.id;
  return h;
}

Result<int32_t> CompactReader::ReadI32() {
  ZM_ASSIGN_OR_RETURN(uint64_t raw, ReadVarint());
  int64_t v = ZigZagDecode(raw);
  if (v < INT32_MIN || v > INT32_MAX) return Error("32-bit integer out of range");
  return static_cast<int32_t>(v);
}

Result<int64_t> CompactReader::ReadI64() {
  ZM_ASSIGN_OR_RETURN(uint64_t raw, ReadVarint());
  return ZigZagDecode(raw);
}

Result<std::string_view> CompactReader::ReadBinary() {
  ZM_ASSIGN_OR_RETURN(uint64_t n, ReadVarint());
  if (n > data_.size() - pos_) return Error("string of " + std::to_string(n) + " bytes past the end");
  std::string_view v = data_.substr(pos_, n);
  pos_ += n;
  return v;
}

Result<ListHeader> CompactReader::ReadListHeader() {
  if (pos_ >= data_.size()) return Error("truncated list");
  uint8_t b = static_cast<uint8_t>(data_[pos_++]);
  ListHeader h;
  h.element_type = b & 0x0F;
  uint64_t size = b >> 4;
  if (size == 15) {
    ZM_ASSIGN_OR_RETURN(size, ReadVarint());
  }
  if (h.element_type == kStop || h.element_type > kStruct) return Error("unknown list element type");
  if (size > data_.size() - pos_) return Error("list of " + std::to_string(size) + " elements past the end");
  h.size = static_cast<uint32_t>(size);
  return h;
}

Status CompactReader::Skip(uint8_t type) { return SkipDepth(type, 0); }

Status CompactReader::SkipDepth(uint8_t type, int depth) {
  if (depth_ + depth >= kMaxDepth) return Error("values nested too deep");
  switch (type) {
    case kTrue:
    case kFalse: return Status::Ok();  // a field: the value is in the header
    case kByte:
      if (pos_ >= data_.size()) return Error("truncated byte");
      ++pos_;
      return Status::Ok();
    case kI16:
    case kI32:
    case kI64: return ReadVarint().status();
    case kDouble:
      if (data_.size() - pos_ < 8) return Error("truncated double");
      pos_ += 8;
      return Status::Ok();
    case kBinary: return ReadBinary().status();
    case kList:
    case kSet: {
      ZM_ASSIGN_OR_RETURN(ListHeader h, ReadListHeader());
      for (uint32_t i = 0; i < h.size; ++i) {
        // Booleans in a list take a byte each.
        uint8_t t = (h.element_type == kTrue || h.element_type == kFalse) ? uint8_t{kByte} : h.element_type;
        ZM_RETURN_IF_ERROR(SkipDepth(t, depth + 1));
      }
      return Status::Ok();
    }
    case kMap: {
      ZM_ASSIGN_OR_RETURN(uint64_t n, ReadVarint());
      if (n == 0) return Status::Ok();
      if (pos_ >= data_.size()) return Error("truncated map");
      uint8_t kv = static_cast<uint8_t>(data_[pos_++]);
      if (n > data_.size() - pos_) return Error("map past the end");
      auto elem = [](uint8_t t) -> uint8_t { return (t == kTrue || t == kFalse) ? uint8_t{kByte} : t; };
      for (uint64_t i = 0; i < n; ++i) {
        ZM_RETURN_IF_ERROR(SkipDepth(elem(kv >> 4), depth + 1));
        ZM_RETURN_IF_ERROR(SkipDepth(elem(kv & 0x0F), depth + 1));
      }
      return Status::Ok();
    }
    case kStruct: {
      ZM_RETURN_IF_ERROR(BeginStruct());
      while (true) {
        ZM_ASSIGN_OR_RETURN(FieldHeader f, ReadFieldHeader());
        if (f.type == kStop) break;
        ZM_RETURN_IF_ERROR(SkipDepth(f.type, depth + 1));
      }
      return EndStruct();
    }
    default: return Error("unknown type " + std::to_string(type));
  }
}

void CompactWriter::Varint(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

void CompactWriter::BeginStruct() { last_id_[++depth_] = 0; }

void CompactWriter::EndStruct() {
  out_.push_back(0);
  --depth_;
}

void CompactWriter::FieldHeader(int16_t id, uint8_t type) {
  int delta = id - last_id_[depth_];
  if (delta > 0 && delta <= 15) {
    out_.push_back(static_cast<char>((delta << 4) | type));
  } else {
    out_.push_back(static_cast<char>(type));
    Varint(ZigZagEncode(id));
  }
  last_id_[depth_] = id;
}

void CompactWriter::FieldI32(int16_t id, int32_t v) {
  FieldHeader(id, kI32);
  Varint(ZigZagEncode(v));
}

void CompactWriter::FieldI64(int16_t id, int64_t v) {
  FieldHeader(id, kI64);
  Varint(ZigZagEncode(v));
}

void CompactWriter::FieldBool(int16_t id, bool v) { FieldHeader(id, v ? kTrue : kFalse); }

void CompactWriter::FieldBinary(int16_t id, std::string_view v) {
  FieldHeader(id, kBinary);
  ElementBinary(v);
}

void CompactWriter::FieldStruct(int16_t id) {
  FieldHeader(id, kStruct);
  BeginStruct();
}

void CompactWriter::FieldList(int16_t id, uint8_t element_type, uint32_t size) {
  FieldHeader(id, kList);
  if (size < 15) {
    out_.push_back(static_cast<char>((size << 4) | element_type));
  } else {
    out_.push_back(static_cast<char>(0xF0 | element_type));
    Varint(size);
  }
}

void CompactWriter::ElementI32(int32_t v) { Varint(ZigZagEncode(v)); }

void CompactWriter::ElementBinary(std::string_view v) {
  Varint(v.size());
  out_.append(v);
}

}  // namespace zm::thrift
