#include <fcntl.h>
#include <lmdb.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY  // XXH64_state_t on the stack
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "cache/block_store.h"
#include "cache/data_checksum.h"

namespace zm {
namespace {

// Layout of the store: three named databases in one LMDB environment.
//   "blocks": key (16 bytes) -> RecordHeader + data
//   "uses":   key -> Use (disk bytes of the record, last use)
//   "meta":   name -> value ("format", "bytes": disk bytes of all records)
// "uses" is small and separate so that recording a use never rewrites a
// block, and eviction finds the oldest blocks without reading them.

// On-disk record: a fixed header, then the data. The header repeats the key
// so a record found under the wrong key (or a torn one) is detected.
struct RecordHeader {
  uint32_t magic;
  uint32_t version;
  uint64_t key_hi;
  uint64_t key_lo;
  uint64_t length;
  uint64_t checksum;  // of the data: XXH3 (version 2), XXH64 (version 1)
};
struct Use {
  uint64_t disk_bytes;
  int64_t last_use;  // unix microseconds: blocks written in one second still have an order
};
constexpr uint32_t kMagic = 0x314D425A;  // "ZBM1"
// Records are written as version 2, checksummed by DataChecksum (XXH3,
// vectorised: several times XXH64's speed). Version 1 records (XXH64) are
// still read, so an existing cache stays valid.
constexpr uint32_t kVersion = 2;
constexpr uint32_t kOldVersion = 1;
constexpr uint64_t kFormat = 2;
constexpr size_t kAdviseBytes = 64 * 1024;
constexpr int kMaxPutWaitMs = 1000;
constexpr size_t kPwriteBytes = 64 * 1024;  // values this large are written with pwrite
constexpr size_t kPieceBytes = 128 * 1024;  // checksum-and-copy step: fits the L2 cache
constexpr size_t kMaxTouches = 1 << 16;     // uses remembered between two writes
constexpr auto kTouchInterval = std::chrono::seconds(5);

// A record's checksum, taken piece by piece, by the hash of its version.
class RecordHash {
 public:
  explicit RecordHash(uint32_t version) : old_(version == kOldVersion) {
    if (old_) XXH64_reset(&old_state_, 0);
  }
  void Update(const void* data, size_t n) {
    if (old_)
      XXH64_update(&old_state_, data, n);
    else
      state_.Update(data, n);
  }
  uint64_t Digest() const { return old_ ? XXH64_digest(&old_state_) : state_.Digest(); }

 private:
  bool old_;
  XXH64_state_t old_state_;
  DataChecksummer state_;
};

std::string LmdbError(const char* what, int rc) {
  return std::string(what) + ": " + mdb_strerror(rc);
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The databases of one environment.
struct Dbis {
  MDB_dbi blocks, uses, meta;
};

class LmdbBlockStore : public PersistentBlockStore {
 public:
  // `options.capacity_bytes` must be set (OpenLmdbBlockStore fills in 0).
  LmdbBlockStore(MDB_env* env, Dbis dbi, const LmdbOptions& options, std::string dir)
      : env_(env), dbi_(dbi), options_(options), dir_(std::move(dir)) {
    MDB_stat st;
    psize_ = mdb_env_stat(env, &st) == 0 ? st.ms_psize : 4096;
    writer_ = std::thread([this] { WriterLoop(); });
  }

  ~LmdbBlockStore() override {
    if (uint64_t n = dropped_.load())
      LogWarning("cache: " + std::to_string(n) +
                 " blocks were not written to disk (the writer fell behind)");
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    room_.notify_all();
    writer_.join();
    mdb_env_sync(env_, 1);
    mdb_env_close(env_);
  }

  Block Get(const BlockKey& key) override {
    MDB_txn* txn = BeginRead();
    if (!txn) return nullptr;
    uint64_t k[2] = {key.hi, key.lo};
    MDB_val mk{sizeof k, k}, mv;
    if (mdb_get(txn, dbi_.blocks, &mk, &mv) != 0) {
      mdb_txn_abort(txn);
      return nullptr;
    }
    if (mv.mv_size >= kAdviseBytes) {
      // A cold value faults in page by page; ask for all of it at once.
      auto start = reinterpret_cast<uintptr_t>(mv.mv_data) & ~uintptr_t{4095};
      auto end = reinterpret_cast<uintptr_t>(mv.mv_data) + mv.mv_size;
      ::madvise(reinterpret_cast<void*>(start), end - start, MADV_WILLNEED);
    }
    auto block = std::make_shared<std::string>();
    bool good = LoadRecord(key, mv, block.get());
    mdb_txn_abort(txn);
    if (!good) {
      corrupt_.fetch_add(1, std::memory_order_relaxed);
      LogWarning("cache: a block failed its integrity check; dropping it and refetching");
      Enqueue(Op{key, nullptr});
      return nullptr;
    }
    Touch(key);
    return block;
  }

  void Put(const BlockKey& key, Block data) override { Enqueue(Op{key, std::move(data)}, /*wait=*/true); }

  void Offer(const BlockKey& key, Block data) override { Enqueue(Op{key, std::move(data)}, /*wait=*/false); }

  void Flush() override {
    {
      // Waits for a batch that starts after this call: it takes everything
      // queued (and every use remembered) so far.
      std::unique_lock<std::mutex> lock(mu_);
      const uint64_t ticket = ++flush_requested_;
      cv_.notify_one();
      flushed_.wait(lock, [&] { return flush_done_ >= ticket || stop_; });
    }
    mdb_env_sync(env_, 1);
  }

  Result<Usage> GetUsage(bool with_ages) override {
    Usage u;
    u.capacity_bytes = options_.capacity_bytes;
    MDB_txn* txn = BeginRead();
    if (!txn) return IoError("cache directory " + dir_ + ": cannot read");
    u.used_bytes = ReadMeta(txn, "bytes");
    MDB_stat st;
    if (mdb_stat(txn, dbi_.blocks, &st) == 0) u.blocks = st.ms_entries;
    if (with_ages) {
      MDB_cursor* cur = nullptr;
      if (mdb_cursor_open(txn, dbi_.uses, &cur) == 0) {
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
          Use use;
          if (v.mv_size != sizeof use) continue;
          std::memcpy(&use, v.mv_data, sizeof use);
          int64_t s = use.last_use / 1'000'000;
          if (u.oldest_use == 0 || s < u.oldest_use) u.oldest_use = s;
          u.newest_use = std::max(u.newest_use, s);
        }
        mdb_cursor_close(cur);
      }
    }
    mdb_txn_abort(txn);
    for (const char* f : {"/data.mdb", "/lock.mdb"}) {
      struct stat sb;
      if (::stat((dir_ + f).c_str(), &sb) == 0) u.file_bytes += uint64_t(sb.st_blocks) * 512;
    }
    return u;
  }

  Result<VerifyReport> Verify(const std::function<void(uint64_t, uint64_t)>& progress) override {
    VerifyReport report;
    MDB_txn* txn = BeginRead();
    if (!txn) return IoError("cache directory " + dir_ + ": cannot read");
    MDB_stat st{};
    mdb_stat(txn, dbi_.blocks, &st);
    MDB_cursor* cur = nullptr;
    int rc = mdb_cursor_open(txn, dbi_.blocks, &cur);
    std::vector<BlockKey> bad;
    std::string scratch;
    MDB_val k, v;
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      BlockKey key;
      bool good = k.mv_size == 16;
      if (good) {
        std::memcpy(&key.hi, k.mv_data, 8);
        std::memcpy(&key.lo, static_cast<char*>(k.mv_data) + 8, 8);
        good = LoadRecord(key, v, &scratch);
      }
      report.bytes += v.mv_size;
      if (!good) {
        if (k.mv_size == 16) bad.push_back(key);
        ++report.bad;
      }
      ++report.checked;
      if (progress && report.checked % 256 == 0) progress(report.checked, st.ms_entries);
    }
    if (cur) mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != MDB_NOTFOUND) return IoError(LmdbError("cache verify", rc));
    if (progress) progress(report.checked, st.ms_entries);
    for (size_t at = 0; at < bad.size(); at += 1024) {
      size_t end = std::min(bad.size(), at + 1024);
      rc = WriteTxn([&](MDB_txn* w) {
        for (size_t i = at; i < end; ++i)
          if (int r = DeleteRecord(w, bad[i])) return r;
        return 0;
      });
      if (rc != 0) return IoError(LmdbError("cache verify: deleting bad records", rc));
    }
    return report;
  }

  Status Clear() override {
    int rc = WriteTxn([&](MDB_txn* w) {
      int r = mdb_drop(w, dbi_.blocks, 0);
      if (r == 0) r = mdb_drop(w, dbi_.uses, 0);
      if (r == 0) r = WriteMeta(w, "bytes", 0);
      return r;
    });
    if (rc != 0) return IoError(LmdbError("cache clear", rc));
    return Status();
  }

  Result<uint64_t> Prune(uint64_t target_bytes, int64_t unused_since) override {
    return EvictLru(target_bytes, unused_since * 1'000'000);
  }

  uint64_t corrupt_blocks() const override { return corrupt_.load(); }
  uint64_t dropped_puts() const override { return dropped_.load(); }

 private:
  struct Op {
    BlockKey key;
    Block data;  // nullptr: delete
  };

  MDB_txn* BeginRead() {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    if (rc == MDB_MAP_RESIZED) {
      // Another process grew the map; adopt its size and try again.
      mdb_env_set_mapsize(env_, 0);
      rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    }
    if (rc != 0) {
      LogOnce(LmdbError("cache read", rc));
      return nullptr;
    }
    return txn;
  }

  // Runs `body` in a write transaction and commits it; returns an LMDB code.
  template <typename F>
  int WriteTxn(F&& body) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc == MDB_MAP_RESIZED) {
      mdb_env_set_mapsize(env_, 0);
      rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    }
    if (rc != 0) return rc;
    rc = body(txn);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return rc;
    }
    return mdb_txn_commit(txn);
  }

  // Checks the record `mv` found under `key` and copies its data into
  // `out`. Copied and hashed piece by piece: each piece is hashed while it
  // is still in the CPU's cache.
  static bool LoadRecord(const BlockKey& key, const MDB_val& mv, std::string* out) {
    RecordHeader h;
    if (mv.mv_size < sizeof h) return false;
    std::memcpy(&h, mv.mv_data, sizeof h);
    if (h.magic != kMagic || (h.version != kVersion && h.version != kOldVersion) || h.key_hi != key.hi ||
        h.key_lo != key.lo || h.length != mv.mv_size - sizeof h)
      return false;
    const char* data = static_cast<const char*>(mv.mv_data) + sizeof h;
    out->clear();
    out->reserve(h.length);
    RecordHash hash(h.version);
    for (uint64_t done = 0; done < h.length;) {
      size_t n = std::min<uint64_t>(kPieceBytes, h.length - done);
      out->append(data + done, n);
      hash.Update(out->data() + done, n);
      done += n;
    }
    return hash.Digest() == h.checksum;
  }

  // Disk bytes a record of `n` data bytes takes: a large value fills whole
  // overflow pages; a small one shares a leaf page with its key.
  uint64_t DiskBytes(uint64_t n) const {
    uint64_t v = n + sizeof(RecordHeader);
    if (v > psize_ / 2) return (v + 16 + psize_ - 1) / psize_ * psize_;
    return v + 16 + 16;
  }

  static uint64_t ReadMeta(MDB_txn* txn, MDB_dbi meta, const char* name) {
    MDB_val k{std::strlen(name), const_cast<char*>(name)}, v;
    uint64_t x = 0;
    if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == sizeof x) std::memcpy(&x, v.mv_data, sizeof x);
    return x;
  }
  uint64_t ReadMeta(MDB_txn* txn, const char* name) { return ReadMeta(txn, dbi_.meta, name); }
  int WriteMeta(MDB_txn* txn, const char* name, uint64_t x) {
    MDB_val k{std::strlen(name), const_cast<char*>(name)}, v{sizeof x, &x};
    return mdb_put(txn, dbi_.meta, &k, &v, 0);
  }

  // Deletes `key`'s record and use, keeping the byte count; no-op if absent.
  int DeleteRecord(MDB_txn* txn, const BlockKey& key) {
    uint64_t k[2] = {key.hi, key.lo};
    MDB_val mk{sizeof k, k}, v;
    if (mdb_get(txn, dbi_.uses, &mk, &v) == 0 && v.mv_size == sizeof(Use)) {
      Use use;
      std::memcpy(&use, v.mv_data, sizeof use);
      uint64_t bytes = ReadMeta(txn, "bytes");
      if (int rc = WriteMeta(txn, "bytes", bytes - std::min(bytes, use.disk_bytes))) return rc;
      if (int rc = mdb_del(txn, dbi_.uses, &mk, nullptr)) return rc;
    }
    int rc = mdb_del(txn, dbi_.blocks, &mk, nullptr);
    return rc == MDB_NOTFOUND ? 0 : rc;
  }

  // Remembers a use, for the writer to record with its next transaction.
  void Touch(const BlockKey& key) {
    std::lock_guard<std::mutex> lock(mu_);
    if (touches_.size() < kMaxTouches) touches_.insert_or_assign(key, NowMicros());
  }

  // `wait`: false for a block another tier holds (Offer), which is dropped
  // rather than waited for when the queue is full.
  void Enqueue(Op op, bool wait = true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      uint64_t bytes = op.data ? op.data->size() : 0;
      // Never queue more than a quarter of the map (or the configured
      // bound). When the writer falls behind, wait a little for it: a block
      // dropped here is a block fetched again on the next mount. Past the
      // wait, the oldest queued blocks give way (a cache may forget).
      uint64_t limit = std::min(options_.max_pending_bytes, options_.capacity_bytes / 4);
      if (bytes > limit) return;
      if (!wait && pending_bytes_ + bytes > limit) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      // A writer that has not finished a batch within the wait is stuck (say,
      // on another process's write lock): do not wait for it again until it
      // finishes one.
      if (!writer_stalled_ &&
          !room_.wait_for(lock, std::chrono::milliseconds(kMaxPutWaitMs),
                          [&] { return pending_bytes_ + bytes <= limit || stop_; }))
        writer_stalled_ = true;
      while (pending_bytes_ + bytes > limit && !queue_.empty()) {
        if (queue_.front().data) pending_bytes_ -= queue_.front().data->size();
        queue_.pop_front();
        dropped_.fetch_add(1, std::memory_order_relaxed);
      }
      pending_bytes_ += bytes;
      queue_.push_back(std::move(op));
    }
    cv_.notify_one();
  }

  void WriterLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      // Uses are recorded with the next batch of blocks, or every few
      // seconds when there is none.
      cv_.wait_for(lock, kTouchInterval, [this] {
        return stop_ || !queue_.empty() || flush_requested_ > flush_done_;
      });
      if (queue_.empty() && touches_.empty() && stop_) break;
      const uint64_t serving = flush_requested_;
      if (queue_.empty() && touches_.empty()) {
        flush_done_ = serving;
        flushed_.notify_all();
        continue;
      }
      std::vector<Op> batch;
      while (!queue_.empty()) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      std::unordered_map<BlockKey, int64_t, BlockKeyHash> touches;
      touches.swap(touches_);
      pending_bytes_ = 0;
      room_.notify_all();
      lock.unlock();
      WriteBatch(batch, touches);
      lock.lock();
      writer_stalled_ = false;
      flush_done_ = serving;
      flushed_.notify_all();
    }
    flushed_.notify_all();
  }

  // Writes in slices of at most an eighth of the capacity, so one burst can
  // never need more room than eviction can make; then evicts if the store
  // has grown past its high-water mark.
  void WriteBatch(const std::vector<Op>& batch,
                  const std::unordered_map<BlockKey, int64_t, BlockKeyHash>& touches) {
    const uint64_t slice_bytes = std::max<uint64_t>(options_.capacity_bytes / 8, 1);
    size_t start = 0;
    bool first = true;
    while (start < batch.size() || first) {
      size_t end = start;
      uint64_t bytes = 0;
      while (end < batch.size()) {
        uint64_t b = batch[end].data ? DiskBytes(batch[end].data->size()) : 0;
        if (end > start && bytes + b > slice_bytes) break;
        bytes += b;
        ++end;
      }
      MakeRoom(bytes);
      WriteSlice(batch, start, end, bytes, first ? &touches : nullptr);
      first = false;
      start = end;
    }
  }

  // Evicts before a slice of `incoming` bytes would take the store past 90%
  // of its capacity: down to 80%, less the slice.
  void MakeRoom(uint64_t incoming) {
    MDB_txn* txn = BeginRead();
    if (!txn) return;
    uint64_t used = ReadMeta(txn, "bytes");
    mdb_txn_abort(txn);
    const uint64_t high = options_.capacity_bytes / 10 * 9, low = options_.capacity_bytes / 10 * 8;
    if (used + incoming > high) (void)EvictLru(low > incoming ? low - incoming : 0, 0);
  }

  void WriteSlice(const std::vector<Op>& batch, size_t start, size_t end, uint64_t bytes,
                  const std::unordered_map<BlockKey, int64_t, BlockKeyHash>* touches) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      int rc = WriteTxn([&](MDB_txn* txn) { return WriteOps(txn, batch, start, end, bytes, touches); });
      if (rc == 0) return;
      if (rc == ENOSPC) {
        LogOnce("cache: the disk is full; blocks are served from the origin without being cached");
        return;
      }
      if (rc == MDB_MAP_FULL && attempt < 2) {
        // The map is full of pages not yet reusable (LMDB frees a
        // transaction's pages only after a later one committed), or of
        // blocks: make room for this slice and more, then retry.
        MDB_txn* txn = BeginRead();
        uint64_t used = txn ? ReadMeta(txn, "bytes") : 0;
        if (txn) mdb_txn_abort(txn);
        uint64_t need = std::max<uint64_t>(bytes + bytes / 2, options_.capacity_bytes / 10);
        (void)EvictLru(used > need ? used - need : 0, 0);
        // Pages freed by a transaction become reusable only once a later
        // one has committed: commit one more before the retry.
        WriteTxn([&](MDB_txn* txn) { return WriteMeta(txn, "bytes", ReadMeta(txn, "bytes")); });
        continue;
      }
      LogOnce(LmdbError("cache write failed; blocks are still served from the origin", rc));
      return;
    }
  }

  int WriteOps(MDB_txn* txn, const std::vector<Op>& batch, size_t start, size_t end,
               uint64_t bytes,
               const std::unordered_map<BlockKey, int64_t, BlockKeyHash>* touches) {
    if (!ReserveDisk(bytes)) return ENOSPC;
    const int64_t now = NowMicros();
    uint64_t total = ReadMeta(txn, "bytes");
    for (size_t i = start; i < end; ++i) {
      const Op& op = batch[i];
      if (!op.data) {
        if (int rc = WriteMeta(txn, "bytes", total)) return rc;
        if (int rc = DeleteRecord(txn, op.key)) return rc;
        total = ReadMeta(txn, "bytes");
        continue;
      }
      uint64_t k[2] = {op.key.hi, op.key.lo};
      MDB_val mk{sizeof k, k}, v;
      if (mdb_get(txn, dbi_.uses, &mk, &v) == 0 && v.mv_size == sizeof(Use)) {
        Use old;
        std::memcpy(&old, v.mv_data, sizeof old);
        total -= std::min(total, old.disk_bytes);
      }
      MDB_val mv{sizeof(RecordHeader) + op.data->size(), nullptr};
      if (int rc = mdb_put(txn, dbi_.blocks, &mk, &mv, MDB_RESERVE)) return rc;
      if (int rc = StoreValue(static_cast<char*>(mv.mv_data), op.key, *op.data)) return rc;
      Use use{DiskBytes(op.data->size()), now + static_cast<int64_t>(i - start)};
      MDB_val uv{sizeof use, &use};
      if (int rc = mdb_put(txn, dbi_.uses, &mk, &uv, 0)) return rc;
      total += use.disk_bytes;
    }
    if (touches) {
      for (const auto& [key, when] : *touches) {
        uint64_t k[2] = {key.hi, key.lo};
        MDB_val mk{sizeof k, k}, v;
        // Only blocks still there: a use never brings a deleted block back.
        if (mdb_get(txn, dbi_.uses, &mk, &v) != 0 || v.mv_size != sizeof(Use)) continue;
        Use use;
        std::memcpy(&use, v.mv_data, sizeof use);
        if (use.last_use >= when) continue;
        use.last_use = when;
        MDB_val uv{sizeof use, &use};
        if (int rc = mdb_put(txn, dbi_.uses, &mk, &uv, 0)) return rc;
      }
    }
    return WriteMeta(txn, "bytes", total);
  }

  // The map is written in place (MDB_WRITEMAP), and a store into a page the
  // disk has no room for would kill the process with SIGBUS instead of
  // failing a call. So before a transaction writes, the file's blocks are
  // allocated up to the highest page it can touch: the last used page plus
  // the transaction's bytes and room for the tree pages it adds. Called with
  // the write lock held, so the last page is current across processes.
  bool ReserveDisk(uint64_t bytes) {
    MDB_envinfo info;
    if (mdb_env_info(env_, &info) != 0) return false;
    uint64_t need = (static_cast<uint64_t>(info.me_last_pgno) + 1) * psize_ + bytes +
                    bytes / 8 + 4_MiB;
    need = std::min<uint64_t>(need, info.me_mapsize);
    if (need <= reserved_) return true;
    int fd = -1;
    if (mdb_env_get_fd(env_, &fd) != 0) return false;
    if (::fallocate(fd, 0, static_cast<off_t>(reserved_), static_cast<off_t>(need - reserved_)) != 0) {
      if (errno != EOPNOTSUPP) return false;
      // A file system without fallocate: nothing to reserve with.
    }
    reserved_ = need;
    return true;
  }

  // Fills the value LMDB reserved at `dst` (inside the map) with a header
  // and `data`. A large value is written with pwrite(2) at the same place in
  // the file rather than stored through the map: a first store into a map
  // page faults it in and zero-fills it before the copy, pwrite of whole
  // pages skips that; the page cache is the same, so the map sees the bytes.
  // The checksum is taken piece by piece just before each piece is written,
  // while the piece is in the CPU's cache.
  int StoreValue(char* dst, const BlockKey& key, const std::string& data) {
    RecordHeader h{kMagic, kVersion, key.hi, key.lo, data.size(), 0};
    int fd = -1;
    const off_t at = data.size() < kPwriteBytes || mdb_env_get_fd(env_, &fd) != 0
                         ? -1
                         : FileOffsetOfValue(dst);
    if (at < 0) {
      h.checksum = DataChecksum(data);
      std::memcpy(dst, &h, sizeof h);
      std::memcpy(dst + sizeof h, data.data(), data.size());
      return 0;
    }
    RecordHash hash(kVersion);
    for (size_t done = 0; done < data.size();) {
      size_t n = std::min(kPieceBytes, data.size() - done);
      hash.Update(data.data() + done, n);
      if (!WriteAll(fd, data.data() + done, n, at + static_cast<off_t>(sizeof h + done)))
        return errno ? errno : EIO;
      done += n;
    }
    h.checksum = hash.Digest();
    if (!WriteAll(fd, &h, sizeof h, at)) return errno ? errno : EIO;
    return 0;
  }

  // Where `p`, the start of a large value LMDB handed out, lies in the file;
  // -1 if it does not look like one. Such a value fills overflow pages, and
  // the page's 16-byte header starts with the page number and has the
  // overflow flag (LMDB's on-disk format, stable since 0.9).
  off_t FileOffsetOfValue(const char* p) const {
    constexpr size_t kPageHeader = 16;
    constexpr uint16_t kOverflowPage = 0x04;
    const char* page = p - kPageHeader;
    if (reinterpret_cast<uintptr_t>(page) % psize_ != 0) return -1;
    uint64_t pgno;
    uint16_t flags;
    std::memcpy(&pgno, page, sizeof pgno);
    std::memcpy(&flags, page + 10, sizeof flags);
    if (!(flags & kOverflowPage) || pgno == 0 || pgno > (uint64_t{1} << 40)) return -1;
    return static_cast<off_t>(pgno * psize_ + kPageHeader);
  }

  static bool WriteAll(int fd, const void* p, size_t n, off_t at) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t w = ::pwrite(fd, c, n, at);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      c += w;
      n -= static_cast<size_t>(w);
      at += w;
    }
    return true;
  }

  // Evicts least recently used blocks until at most `target` disk bytes are
  // held and none was last used before `unused_since` (microseconds). The scan of "uses"
  // reads small values only; deletes go in transactions of a bounded size so
  // other processes' writers are not held up long. Readers never wait.
  Result<uint64_t> EvictLru(uint64_t target, int64_t unused_since) {
    struct Entry {
      int64_t last_use;
      BlockKey key;
      uint64_t disk_bytes;
    };
    std::vector<Entry> entries;
    uint64_t used = 0;
    {
      MDB_txn* txn = BeginRead();
      if (!txn) return IoError("cache directory " + dir_ + ": cannot read");
      used = ReadMeta(txn, "bytes");
      MDB_cursor* cur = nullptr;
      if (mdb_cursor_open(txn, dbi_.uses, &cur) == 0) {
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
          if (k.mv_size != 16 || v.mv_size != sizeof(Use)) continue;
          Entry e;
          Use use;
          std::memcpy(&use, v.mv_data, sizeof use);
          std::memcpy(&e.key.hi, k.mv_data, 8);
          std::memcpy(&e.key.lo, static_cast<char*>(k.mv_data) + 8, 8);
          e.last_use = use.last_use;
          e.disk_bytes = use.disk_bytes;
          entries.push_back(e);
        }
        mdb_cursor_close(cur);
      }
      mdb_txn_abort(txn);
    }
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.last_use < b.last_use; });
    size_t n = 0;
    uint64_t freed = 0;
    while (n < entries.size() &&
           ((freed < used && used - freed > target) || entries[n].last_use < unused_since)) {
      freed += entries[n].disk_bytes;
      ++n;
    }
    for (size_t at = 0; at < n;) {
      size_t end = std::min(n, at + 4096);
      int rc = WriteTxn([&](MDB_txn* txn) {
        for (size_t i = at; i < end; ++i)
          if (int r = DeleteRecord(txn, entries[i].key)) return r;
        return 0;
      });
      if (rc != 0) return IoError(LmdbError("cache eviction", rc));
      at = end;
    }
    if (n > 0)
      LogInfo("cache: evicted " + std::to_string(n) + " least recently used blocks (" +
              FormatSize(freed) + ")");
    return freed;
  }

  void LogOnce(const std::string& msg) {
    bool expected = false;
    if (logged_.compare_exchange_strong(expected, true)) LogWarning(msg);
  }

  MDB_env* env_;
  const Dbis dbi_;
  const LmdbOptions options_;
  const std::string dir_;
  unsigned psize_ = 4096;  // LMDB's page size
  std::atomic<bool> logged_{false};
  std::atomic<uint64_t> corrupt_{0};
  std::atomic<uint64_t> dropped_{0};
  uint64_t reserved_ = 0;  // writer thread only: file bytes known to be allocated

  std::mutex mu_;  // guards the queue state below; never held across LMDB calls
  std::condition_variable cv_, flushed_, room_;
  std::deque<Op> queue_;
  std::unordered_map<BlockKey, int64_t, BlockKeyHash> touches_;  // uses not yet recorded
  uint64_t flush_requested_ = 0;  // Flush tickets handed out
  uint64_t flush_done_ = 0;       // tickets whose batch is written
  uint64_t pending_bytes_ = 0;
  bool writer_stalled_ = false;
  bool stop_ = false;
  std::thread writer_;  // started last, after everything it uses
};

// Creates the databases, or finds them. A store of the first format (blocks
// directly in the main database) is emptied: its blocks would be
// unreachable.
int OpenDbis(MDB_env* env, Dbis* dbi, bool* upgraded) {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env, nullptr, 0, &txn);
  if (rc != 0) return rc;
  MDB_dbi main;
  rc = mdb_dbi_open(txn, nullptr, 0, &main);
  if (rc == 0 && mdb_dbi_open(txn, "meta", 0, &dbi->meta) == MDB_NOTFOUND) {
    MDB_stat st;
    if (mdb_stat(txn, main, &st) == 0 && st.ms_entries > 0) {
      rc = mdb_drop(txn, main, 0);
      *upgraded = true;
    }
  }
  if (rc == 0) rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi->meta);
  if (rc == 0) rc = mdb_dbi_open(txn, "blocks", MDB_CREATE, &dbi->blocks);
  if (rc == 0) rc = mdb_dbi_open(txn, "uses", MDB_CREATE, &dbi->uses);
  if (rc == 0) {
    uint64_t format = kFormat;
    MDB_val k{6, const_cast<char*>("format")}, v{sizeof format, &format};
    rc = mdb_put(txn, dbi->meta, &k, &v, 0);
  }
  if (rc != 0) {
    mdb_txn_abort(txn);
    return rc;
  }
  return mdb_txn_commit(txn);
}

}  // namespace

Result<std::unique_ptr<PersistentBlockStore>> OpenLmdbBlockStore(const std::string& dir,
                                                                 const LmdbOptions& options) {
  // mkdir -p
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos == dir.size() || dir[pos] == '/') {
      std::string part = dir.substr(0, pos);
      if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
        return IoError("cache directory " + dir + ": cannot create " + part + ": " +
                       std::strerror(errno));
    }
  }
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != 0) return IoError(LmdbError("cache", rc));
  mdb_env_set_maxreaders(env, 1024);
  mdb_env_set_maxdbs(env, 4);
  // NOTLS: read transactions are not tied to threads (FUSE worker threads
  // come and go). NOSYNC: commits reach the page cache, not the disk, so the
  // writer keeps up with the network; a killed daemon loses nothing (the
  // kernel holds the pages), an operating-system crash may lose recent
  // blocks, and every record's checksum guards against torn ones. Flush()
  // and close sync. WRITEMAP: values are copied once, straight into the
  // file's pages, instead of into LMDB's own buffers and then again by
  // write(2); that halves the CPU a cold read spends on caching (see
  // ReserveDisk for the price). NORDAHEAD: without it, the first store into
  // each new value's page (LMDB's page header) faulted in a readahead window
  // of the reserved, not yet written tail of the file, allocating and
  // zeroing pages the value's pwrite then overwrote: about a sixth of a
  // cold bulk read's CPU. Reads of large values ask for their whole range
  // themselves (MADV_WILLNEED in Get), so they lose nothing.
  //
  // No map size is set before opening: an existing store keeps the size it
  // has. With WRITEMAP, opening with a smaller size would truncate the file
  // under the other processes using it (SIGBUS for them). The map only ever
  // grows, below.
  rc = mdb_env_open(env, dir.c_str(), MDB_NOTLS | MDB_NOSYNC | MDB_WRITEMAP | MDB_NORDAHEAD, 0600);
  if (rc != 0) {
    mdb_env_close(env);
    return IoError("cache directory " + dir + ": " + mdb_strerror(rc));
  }
  LmdbOptions opts = options;
  MDB_envinfo info;
  rc = mdb_env_info(env, &info);
  if (rc == 0 && opts.capacity_bytes == 0) opts.capacity_bytes = info.me_mapsize;
  uint64_t map = std::max<uint64_t>(opts.capacity_bytes, 1_MiB);
  map = (map + 4095) & ~uint64_t{4095};
  if (rc == 0 && info.me_mapsize < map) rc = mdb_env_set_mapsize(env, map);
  if (rc != 0) {
    mdb_env_close(env);
    return IoError("cache directory " + dir + ": " + mdb_strerror(rc));
  }
  Dbis dbi{};
  bool upgraded = false;
  rc = OpenDbis(env, &dbi, &upgraded);
  if (rc != 0) {
    mdb_env_close(env);
    return IoError("cache directory " + dir + ": " + mdb_strerror(rc));
  }
  if (upgraded) LogWarning("cache: " + dir + " held an older format; it starts empty");
  mdb_reader_check(env, nullptr);  // clear readers left by crashed processes
  return std::unique_ptr<PersistentBlockStore>(new LmdbBlockStore(env, dbi, opts, dir));
}

}  // namespace zm
