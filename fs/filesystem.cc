#include "fs/filesystem.h"

#include <cerrno>

namespace zm {

Filesystem::Filesystem(const ReferenceIndex* index, ReadThroughCache* cache, int64_t mtime)
    : index_(index), cache_(cache), mtime_(mtime) {
  bool any_unsized = false;
  for (ReferenceIndex::FileId f = 0; f < index_->file_count(); ++f) {
    const uint64_t size = index_->target(f).size;
    if (size == ReferenceIndex::kUnknownSize) {
      any_unsized = true;
    } else {
      total_bytes_ += size;
    }
  }
  if (!any_unsized) return;
  learned_sizes_ = std::make_unique<std::atomic<uint64_t>[]>(index_->file_count());
  for (ReferenceIndex::FileId f = 0; f < index_->file_count(); ++f)
    learned_sizes_[f].store(ReferenceIndex::kUnknownSize, std::memory_order_relaxed);
}

Result<uint64_t> Filesystem::FileSize(ReferenceIndex::FileId f) const {
  const auto t = index_->target(f);
  if (t.size != ReferenceIndex::kUnknownSize) return t.size;
  const uint64_t learned = learned_sizes_[f].load(std::memory_order_acquire);
  if (learned == kMissingObject) return NotFound("key '" + index_->FileKey(f) + "': no such object");
  if (learned != ReferenceIndex::kUnknownSize) return learned;
  // Concurrent first questions share one request in the object records;
  // a failure other than "not found" is not remembered, so it is retried.
  auto size = cache_->Size(index_->url(t.url_id));
  if (!size.ok()) {
    if (size.status().code() == Code::kNotFound) {
      learned_sizes_[f].store(kMissingObject, std::memory_order_release);
      return NotFound("key '" + index_->FileKey(f) + "': no such object");
    }
    return size.status().WithContext("key '" + index_->FileKey(f) + "'");
  }
  // The same bound as for references' ranges (and it keeps the sentinels
  // out of reach).
  if (*size > (uint64_t{1} << 50))
    return IoError("key '" + index_->FileKey(f) + "': the origin says the object has " +
                   std::to_string(*size) + " bytes, beyond 1 PiB");
  learned_sizes_[f].store(*size, std::memory_order_release);
  return *size;
}

Attr Filesystem::DirAttr(ReferenceIndex::DirId d) const {
  Attr a;
  a.ino = kRootIno + d;
  a.is_dir = true;
  a.size = 0;
  a.nlink = 2 + static_cast<uint32_t>(index_->subdirs(d).size());
  return a;
}

Attr Filesystem::ListedFileAttr(ReferenceIndex::FileId f) const {
  Attr a;
  a.ino = kRootIno + index_->dir_count() + f;
  a.is_dir = false;
  a.size = index_->target(f).size;
  a.nlink = 1;
  if (a.size == ReferenceIndex::kUnknownSize) {
    const uint64_t learned = learned_sizes_[f].load(std::memory_order_acquire);
    a.size_known = learned < kMissingObject;
    a.size = a.size_known ? learned : 0;
  }
  return a;
}

Result<Attr> Filesystem::FileAttr(ReferenceIndex::FileId f) const {
  Attr a = ListedFileAttr(f);
  if (a.size_known) return a;
  ZM_ASSIGN_OR_RETURN(a.size, FileSize(f));
  a.size_known = true;
  return a;
}

Result<Attr> Filesystem::Lookup(uint64_t parent, std::string_view name) const {
  if (!IsDir(parent)) return IsFile(parent) ? InvalidArgument("not a directory") : NotFound("no such directory");
  auto d = static_cast<ReferenceIndex::DirId>(parent - kRootIno);
  if (name == ".") return DirAttr(d);
  if (name == "..") return DirAttr(index_->dir_parent(d));
  if (auto sub = index_->FindDir(d, name)) return DirAttr(*sub);
  if (auto f = index_->FindFile(d, name)) return FileAttr(*f);
  return NotFound(std::string(name));
}

Result<Attr> Filesystem::GetAttr(uint64_t ino) const {
  if (IsDir(ino)) return DirAttr(static_cast<ReferenceIndex::DirId>(ino - kRootIno));
  if (IsFile(ino)) return FileAttr(ino - kRootIno - index_->dir_count());
  return NotFound("inode " + std::to_string(ino));
}

Status Filesystem::ReadDir(
    uint64_t ino, uint64_t offset,
    const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit) const {
  if (!IsDir(ino)) return IsFile(ino) ? InvalidArgument("not a directory") : NotFound("no such directory");
  auto d = static_cast<ReferenceIndex::DirId>(ino - kRootIno);
  auto subs = index_->subdirs(d);
  const uint64_t nsub = subs.size(), nfiles = index_->file_count(d);
  const uint64_t end = 2 + nsub + nfiles;
  for (uint64_t pos = offset; pos < end; ++pos) {
    bool more;
    if (pos == 0) {
      more = emit(".", DirAttr(d), pos + 1);
    } else if (pos == 1) {
      more = emit("..", DirAttr(index_->dir_parent(d)), pos + 1);
    } else if (pos < 2 + nsub) {
      auto sub = subs[pos - 2];
      more = emit(index_->dir_name(sub), DirAttr(sub), pos + 1);
    } else {
      auto f = index_->first_file(d) + (pos - 2 - nsub);
      more = emit(index_->file_name(f), ListedFileAttr(f), pos + 1);
    }
    if (!more) break;
  }
  return Status::Ok();
}

Status Filesystem::Open(uint64_t ino) const {
  if (IsFile(ino)) return Status::Ok();
  if (IsDir(ino)) return InvalidArgument("is a directory");
  return NotFound("inode " + std::to_string(ino));
}

std::string Filesystem::KeyOf(uint64_t ino) const {
  if (IsFile(ino)) return index_->FileKey(ino - kRootIno - index_->dir_count());
  if (IsDir(ino)) return index_->DirPath(static_cast<ReferenceIndex::DirId>(ino - kRootIno));
  return "inode " + std::to_string(ino);
}

Result<std::string> Filesystem::Read(uint64_t ino, uint64_t offset, uint64_t size) const {
  ZM_ASSIGN_OR_RETURN(Slices slices, ReadSlices(ino, offset, size));
  return slices.ToString();
}

Result<Slices> Filesystem::ReadSlices(uint64_t ino, uint64_t offset, uint64_t size) const {
  if (!IsFile(ino)) return IsDir(ino) ? InvalidArgument("is a directory") : NotFound("no such file");
  ReferenceIndex::FileId f = ino - kRootIno - index_->dir_count();
  auto t = index_->target(f);
  ZM_ASSIGN_OR_RETURN(t.size, FileSize(f));
  if (offset >= t.size) return Slices{};
  size = std::min(size, t.size - offset);
  if (t.is_inline()) {
    Slices s;
    s.pieces.push_back(index_->inline_data(f).substr(offset, size));  // the index outlives reads
    return s;
  }
  Prefetcher::ReadTicket ticket;
  if (prefetcher_) ticket = prefetcher_->OnRead(f, offset, size);
  auto data = cache_->ReadSlices(index_->url(t.url_id), ByteRange{t.offset, t.size}, offset, size);
  if (prefetcher_) prefetcher_->OnReadDone(ticket);
  if (!data.ok()) return data.status().WithContext("key '" + index_->FileKey(f) + "'");
  return data;
}

void Filesystem::StatFs(struct statvfs* st) const {
  *st = {};
  st->f_bsize = 4096;
  st->f_frsize = 4096;
  st->f_blocks = (total_bytes_ + 4095) / 4096;
  st->f_files = index_->dir_count() + index_->file_count();
  st->f_namemax = 255;
  st->f_flag = ST_RDONLY;
}

}  // namespace zm
