#include "refs/lazy_parquet.h"

#include <sys/mman.h>

#include <algorithm>
#include <future>
#include <new>
#include <thread>
#include <unordered_map>

#include "base/log.h"
#include "base/thread_pool.h"
#include "refs/parquet_record.h"
#include "refs/reference_loader.h"

namespace zm {
namespace {

// Large arrays straight from the kernel: decoded records come and go in
// LRU order, and from the heap (whose arenas keep what is freed; see
// app/main.cc) their holes would leave the daemon holding far more than
// --refs-memory. Mapped, a dropped record's pages go back at once.
template <typename T>
struct PageAllocator {
  using value_type = T;
  static constexpr size_t kMapBytes = 64 << 10;
  PageAllocator() = default;
  template <typename U>
  PageAllocator(const PageAllocator<U>&) {}
  T* allocate(size_t n) {
    if (n * sizeof(T) < kMapBytes) return std::allocator<T>().allocate(n);
    void* p = ::mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < kMapBytes) return std::allocator<T>().deallocate(p, n);
    ::munmap(p, n * sizeof(T));
  }
  template <typename U>
  bool operator==(const PageAllocator<U>&) const { return true; }
};

template <typename T>
using PagedVector = std::vector<T, PageAllocator<T>>;

}  // namespace

// One decoded record file, compact: per row a URL number (or one of the
// markers below), an offset and a size. Inline rows point into `inline_bytes`.
struct ParquetChunkResolver::Table {
  static constexpr uint32_t kMissing = 0xFFFFFFFFu;
  static constexpr uint32_t kInline = 0xFFFFFFFEu;
  static constexpr uint32_t kBadRow = 0xFFFFFFFDu;

  Status error;  // the record could not be decoded: every chunk of it fails
  std::vector<const std::string*> urls;  // interned, for the URL numbers below
  PagedVector<uint32_t> url;
  PagedVector<uint64_t> offset;
  PagedVector<uint64_t> size;  // kUnknownSize for a whole object
  std::basic_string<char, std::char_traits<char>, PageAllocator<char>> inline_bytes;
  std::unordered_map<uint32_t, std::string> bad_rows;  // row -> message

  size_t rows() const { return url.size(); }
  uint64_t bytes() const {
    uint64_t n = sizeof(Table) + urls.capacity() * sizeof(void*) + url.capacity() * 4 +
                 offset.capacity() * 8 + size.capacity() * 8 + inline_bytes.capacity() +
                 error.message().size();
    for (const auto& [row, m] : bad_rows) n += 64 + m.size();
    return n;
  }
};

ParquetChunkResolver::ParquetChunkResolver(ReferenceDirReader read, std::string name, std::string base,
                                           uint64_t record_size, uint64_t max_record_bytes,
                                           const LazyParquetOptions& options, std::vector<Array> arrays)
    : read_(std::move(read)), name_(std::move(name)), base_(std::move(base)), record_size_(record_size),
      max_record_bytes_(max_record_bytes), memory_bytes_(options.memory_bytes), log_errors_(options.log_errors),
      arrays_(std::move(arrays)),
      decoders_(std::make_unique<ThreadPool>(static_cast<int>(std::max(2u, std::thread::hardware_concurrency())))) {}

ParquetChunkResolver::~ParquetChunkResolver() = default;

const std::string* ParquetChunkResolver::InternUrl(std::string url) const {
  std::lock_guard<std::mutex> lock(urls_mu_);
  auto [it, inserted] = urls_.insert(std::move(url));
  if (inserted) url_bytes_ += sizeof(std::string) + 32 + it->capacity();
  return &*it;
}

// Reads and decodes record `k` of `run`. `keep` says whether the answer may
// be remembered (not after an I/O error, which may pass).
ParquetChunkResolver::TablePtr ParquetChunkResolver::Decode(uint32_t run, uint64_t k, bool* keep) const {
  auto table = std::make_shared<Table>();
  *keep = true;
  const Array& a = arrays_[run];
  const std::string rel = a.prefix + "refs." + std::to_string(k) + ".parq";
  const std::string where = name_ + "/" + rel;
  auto bytes = read_(rel);
  if (!bytes.ok() && bytes.status().code() == Code::kNotFound) return table;  // all missing
  if (!bytes.ok()) {
    *keep = false;
    table->error = bytes.status().WithContext(where);
    return table;
  }
  decodes_.fetch_add(1);
  // The decode runs on one of the resolver's own threads: its temporaries
  // (several times the table) then come from those threads' few heap
  // arenas, which keep what they free, and not from every reader's.
  std::promise<void> done;
  auto decoded = done.get_future();
  const bool queued = decoders_->Submit([&] {
    DecodeBytes(run, k, std::move(bytes).value(), where, table.get());
    done.set_value();
  });
  if (!queued) DecodeBytes(run, k, std::move(bytes).value(), where, table.get());  // shutting down
  if (queued) decoded.wait();
  return table;
}

// Decodes the bytes of record `k` of `run` into `table` (its error when
// they cannot be).
void ParquetChunkResolver::DecodeBytes(uint32_t run, uint64_t k, std::string bytes, const std::string& where,
                                       Table* table) const {
  const Array& a = arrays_[run];
  auto fail = [&](const Status& st) {
    if (log_errors_) LogWarning(st.message());
    table->error = IoError(st.message());
  };
  if (bytes.size() > max_record_bytes_)
    return fail(InvalidArgument(where + ": larger than " + FormatSize(max_record_bytes_)));
  auto record = DecodeRecord(bytes, where);
  std::string().swap(bytes);
  if (!record.ok()) return fail(record.status());
  const uint64_t first = k * record_size_;
  const uint64_t rows = std::min(record_size_, a.chunk_count - first);
  if (record->rows < rows)
    return fail(InvalidArgument(where + ": " + std::to_string(record->rows) + " rows, the chunks " +
                                std::to_string(first) + ".." + std::to_string(first + rows - 1) + " need " +
                                std::to_string(rows)));
  FillTable(*record, rows, where, table);
}

// The compact form of `record`'s first `rows` rows.
void ParquetChunkResolver::FillTable(const Record& record, uint64_t rows, const std::string& where,
                                     Table* table) const {
  table->url.resize(rows, Table::kMissing);
  table->offset.resize(rows, 0);
  table->size.resize(rows, 0);
  // Paths repeat (a dictionary of a few objects): each distinct one is
  // resolved and interned once per record.
  std::vector<uint32_t> url_of_path(record.path.distinct.size(), Table::kMissing);
  for (uint64_t i = 0; i < rows; ++i) {
    auto row = ReadRecordRow(record, i);
    if (!row.ok()) {
      std::string message = where + ": row " + std::to_string(i) + ": " + row.status().message();
      if (table->bad_rows.empty() && log_errors_) LogWarning(message);  // the first of the record
      table->url[i] = Table::kBadRow;
      table->bad_rows.emplace(static_cast<uint32_t>(i), std::move(message));
      continue;
    }
    switch (row->kind) {
      case RecordRow::Kind::kMissing:
        break;
      case RecordRow::Kind::kInline:
        table->url[i] = Table::kInline;
        table->offset[i] = table->inline_bytes.size();
        table->size[i] = row->bytes.size();
        table->inline_bytes.append(row->bytes);
        break;
      case RecordRow::Kind::kRange:
      case RecordRow::Kind::kWhole: {
        uint32_t& u = url_of_path[record.path.index[i]];
        if (u == Table::kMissing) {
          u = static_cast<uint32_t>(table->urls.size());
          table->urls.push_back(InternUrl(ResolveUrl(base_, row->bytes)));
        }
        table->url[i] = u;
        table->offset[i] = row->offset;
        table->size[i] = row->kind == RecordRow::Kind::kWhole ? ReferenceIndex::kUnknownSize : row->size;
        break;
      }
    }
  }
  table->inline_bytes.shrink_to_fit();
  table->urls.shrink_to_fit();
}

void ParquetChunkResolver::EvictOverBudget() const {
  // The most recent record stays even when it alone is over the budget: a
  // listing walks one record entry by entry.
  while (held_bytes_ > memory_bytes_ && lru_.size() > 1) {
    auto it = slots_.find(lru_.back());
    held_bytes_ -= it->second.table->bytes();
    slots_.erase(it);
    lru_.pop_back();
  }
}

ParquetChunkResolver::TablePtr ParquetChunkResolver::Get(uint32_t run, uint64_t k) const {
  const Key key{run, k};
  std::promise<TablePtr> promise;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = slots_.find(key);
    if (it != slots_.end()) {
      if (it->second.table) {
        lru_.splice(lru_.begin(), lru_, it->second.lru);
        return it->second.table;
      }
      std::shared_future<TablePtr> pending = it->second.pending;
      lock.unlock();
      return pending.get();  // decoded by the first caller
    }
    slots_.emplace(key, Slot{nullptr, promise.get_future().share(), lru_.end()});
  }
  bool keep = true;
  TablePtr table = Decode(run, k, &keep);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slots_.find(key);
    if (keep) {
      it->second.table = table;
      it->second.pending = {};
      lru_.push_front(key);
      it->second.lru = lru_.begin();
      held_bytes_ += table->bytes();
      EvictOverBudget();
    } else {
      slots_.erase(it);
    }
  }
  promise.set_value(table);
  return table;
}

Result<LazyTarget> ParquetChunkResolver::Resolve(uint32_t run, uint64_t flat) const {
  const uint64_t k = flat / record_size_, i = flat % record_size_;
  TablePtr t = Get(run, k);
  if (!t->error.ok()) return t->error;
  LazyTarget target;
  if (i >= t->rows()) return target;  // a record file that does not exist
  switch (const uint32_t u = t->url[i]) {
    case Table::kMissing:
      return target;
    case Table::kBadRow:
      return IoError(t->bad_rows.at(static_cast<uint32_t>(i)));
    case Table::kInline:
      target.kind = LazyTarget::Kind::kInline;
      target.inline_bytes =
          std::make_shared<const std::string>(std::string_view(t->inline_bytes).substr(t->offset[i], t->size[i]));
      target.size = t->size[i];
      return target;
    default:
      target.url = t->urls[u];
      target.offset = t->offset[i];
      target.size = t->size[i];
      target.kind = target.size == ReferenceIndex::kUnknownSize ? LazyTarget::Kind::kWhole : LazyTarget::Kind::kRange;
      if (target.kind == LazyTarget::Kind::kWhole) target.size = 0;
      return target;
  }
}

std::optional<uint64_t> ParquetChunkResolver::NextPresent(uint32_t run, uint64_t from, uint64_t end) const {
  while (from < end) {
    const uint64_t k = from / record_size_;
    TablePtr t = Get(run, k);
    const uint64_t first = k * record_size_;
    // A record that cannot be decoded shows as its first chunk, whose
    // lookup then reports the error.
    if (!t->error.ok() && from == first) return first;
    if (t->error.ok())
      for (uint64_t i = from - first; i < t->rows() && first + i < end; ++i)
        if (t->url[i] != Table::kMissing) return first + i;
    from = first + record_size_;
  }
  return std::nullopt;
}

size_t ParquetChunkResolver::MemoryUsage() const {
  uint64_t n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = held_bytes_;
  }
  std::lock_guard<std::mutex> lock(urls_mu_);
  return n + url_bytes_;
}

size_t ParquetChunkResolver::url_count() const {
  std::lock_guard<std::mutex> lock(urls_mu_);
  return urls_.size();
}

size_t ParquetChunkResolver::records_held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

}  // namespace zm
