#include "fs/filesystem.h"

#include <cerrno>

namespace zm {

Filesystem::Filesystem(const ReferenceIndex* index, ReadThroughCache* cache, int64_t mtime)
    : index_(index), cache_(cache), mtime_(mtime) {
  // Lazy files (refs/lazy_refs.h) are not looked at: their sizes are not
  // counted, and theirs are learned from the cache's object records.
  const ReferenceIndex::FileId eager = index_->eager_file_count();
  bool any_unsized = false;
  for (ReferenceIndex::FileId f = 0; f < eager; ++f) {
    const uint64_t size = index_->target(f).size;
    if (size == ReferenceIndex::kUnknownSize) {
      any_unsized = true;
    } else {
      total_bytes_ += size;
    }
  }
  if (!any_unsized) return;
  learned_sizes_ = std::make_unique<std::atomic<uint64_t>[]>(eager);
  for (ReferenceIndex::FileId f = 0; f < eager; ++f)
    learned_sizes_[f].store(ReferenceIndex::kUnknownSize, std::memory_order_relaxed);
}

Result<uint64_t> Filesystem::ObjectSize(ReferenceIndex::FileId f, const std::string& url) const {
  auto size = cache_->Size(url);
  if (!size.ok()) {
    if (size.status().code() == Code::kNotFound) return NotFound("key '" + index_->FileKey(f) + "': no such object");
    return size.status().WithContext("key '" + index_->FileKey(f) + "'");
  }
  // The same bound as for references' ranges (and it keeps the sentinels
  // out of reach).
  if (*size > (uint64_t{1} << 50))
    return IoError("key '" + index_->FileKey(f) + "': the origin says the object has " +
                   std::to_string(*size) + " bytes, beyond 1 PiB");
  return *size;
}

Result<uint64_t> Filesystem::FileSize(ReferenceIndex::FileId f, const ReferenceIndex::ResolvedTarget& t) const {
  if (t.size != ReferenceIndex::kUnknownSize) return t.size;
  // A lazy chunk's object: the cache's object records remember its size.
  if (index_->is_lazy(f)) return ObjectSize(f, *t.url);
  const uint64_t learned = learned_sizes_[f].load(std::memory_order_acquire);
  if (learned == kMissingObject) return NotFound("key '" + index_->FileKey(f) + "': no such object");
  if (learned != ReferenceIndex::kUnknownSize) return learned;
  // Concurrent first questions share one request in the object records;
  // a failure other than "not found" is not remembered, so it is retried.
  auto size = ObjectSize(f, *t.url);
  if (!size.ok()) {
    if (size.status().code() == Code::kNotFound) learned_sizes_[f].store(kMissingObject, std::memory_order_release);
    return size.status();
  }
  learned_sizes_[f].store(*size, std::memory_order_release);
  return *size;
}

Result<ReferenceIndex::ResolvedTarget> Filesystem::Target(ReferenceIndex::FileId f) const {
  auto t = index_->Resolve(f);
  if (!t.ok()) return t.status().WithContext("key '" + index_->FileKey(f) + "'");
  if (t->missing()) return NotFound("key '" + index_->FileKey(f) + "': no such chunk");
  return t;
}

Attr Filesystem::DirAttr(ReferenceIndex::DirId d) const {
  Attr a;
  a.ino = kRootIno + d;
  a.is_dir = true;
  a.size = 0;
  a.nlink = 2 + static_cast<uint32_t>(index_->subdirs(d).size());
  return a;
}

Attr Filesystem::ListedFileAttr(ReferenceIndex::FileId f, const ReferenceIndex::ResolvedTarget& t) const {
  Attr a;
  a.ino = kRootIno + index_->dir_count() + f;
  a.is_dir = false;
  a.size = t.size;
  a.nlink = 1;
  if (a.size == ReferenceIndex::kUnknownSize) {
    const uint64_t learned =
        index_->is_lazy(f) ? ReferenceIndex::kUnknownSize : learned_sizes_[f].load(std::memory_order_acquire);
    a.size_known = learned < kMissingObject;
    a.size = a.size_known ? learned : 0;
  }
  return a;
}

Result<Attr> Filesystem::FileAttr(ReferenceIndex::FileId f) const {
  ZM_ASSIGN_OR_RETURN(ReferenceIndex::ResolvedTarget t, Target(f));
  Attr a = ListedFileAttr(f, t);
  if (a.size_known) return a;
  ZM_ASSIGN_OR_RETURN(a.size, FileSize(f, t));
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
      more = emit(index_->file_name(f), ListedFileAttr(f, index_->Resolve(f).value()), pos + 1);
    }
    if (!more) return Status::Ok();
  }
  if (auto run = index_->dir_lazy_run(d)) ReadLazyDir(*run, std::max(offset, end) - end, end, emit);
  return Status::Ok();
}

// A lazy run's chunks follow the eager entries, each at position `base` +
// its place in the grid, so a position stays valid across calls; missing
// chunks are skipped, a record at a time.
void Filesystem::ReadLazyDir(uint32_t run, uint64_t from, uint64_t base,
                             const std::function<bool(std::string_view, const Attr&, uint64_t)>& emit) const {
  const ReferenceIndex::FileId first = index_->lazy_run(run).first;
  for (auto flat = index_->NextLazyChunk(run, from); flat; flat = index_->NextLazyChunk(run, *flat + 1)) {
    const ReferenceIndex::FileId f = first + *flat;
    auto t = index_->Resolve(f);
    // A chunk whose row is bad is listed (its stat says what is wrong).
    Attr a = t.ok() ? ListedFileAttr(f, *t) : Attr{};
    if (!t.ok()) {
      a.ino = kRootIno + index_->dir_count() + f;
      a.nlink = 1;
      a.size_known = false;
    }
    if (!emit(index_->FileName(f), a, base + *flat + 1)) return;
  }
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
  ZM_ASSIGN_OR_RETURN(ReferenceIndex::ResolvedTarget t, Target(f));
  ZM_ASSIGN_OR_RETURN(t.size, FileSize(f, t));
  if (offset >= t.size) return Slices{};
  size = std::min(size, t.size - offset);
  if (t.is_inline()) {
    Slices s;
    // An eager file's bytes live in the index, which outlives reads; a
    // lazy one's are owned by the answer.
    if (t.inline_owner) s.buffers.push_back(t.inline_owner);
    s.pieces.push_back(t.inline_bytes.substr(offset, size));
    return s;
  }
  Prefetcher::ReadTicket ticket;
  if (prefetcher_) ticket = prefetcher_->OnRead(f, offset, size);
  auto data = cache_->ReadSlices(*t.url, ByteRange{t.offset, t.size}, offset, size);
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
