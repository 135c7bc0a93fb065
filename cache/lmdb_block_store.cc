#include <fcntl.h>
#include <lmdb.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <xxhash.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.h"
#include "cache/block_store.h"

namespace zm {
namespace {

// On-disk record: a fixed header, then the data. The header repeats the key
// so a record found under the wrong key (or a torn one) is detected.
struct RecordHeader {
  uint32_t magic;
  uint32_t version;
  uint64_t key_hi;
  uint64_t key_lo;
  uint64_t length;
  uint64_t checksum;  // XXH64 of the data
};
constexpr uint32_t kMagic = 0x314D425A;  // "ZBM1"
constexpr uint32_t kVersion = 1;
constexpr size_t kAdviseBytes = 64 * 1024;
constexpr int kMaxPutWaitMs = 1000;

std::string LmdbError(const char* what, int rc) {
  return std::string(what) + ": " + mdb_strerror(rc);
}

class LmdbBlockStore : public BlockStore {
 public:
  LmdbBlockStore(MDB_env* env, MDB_dbi dbi, const LmdbOptions& options)
      : env_(env), dbi_(dbi), options_(options), writer_([this] { WriterLoop(); }) {}

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
    uint64_t k[2] = {key.hi, key.lo};
    MDB_val mk{sizeof k, k}, mv;
    rc = mdb_get(txn, dbi_, &mk, &mv);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return nullptr;
    }
    Block out;
    if (mv.mv_size >= kAdviseBytes) {
      // A cold value faults in page by page; ask for all of it at once.
      auto start = reinterpret_cast<uintptr_t>(mv.mv_data) & ~uintptr_t{4095};
      auto end = reinterpret_cast<uintptr_t>(mv.mv_data) + mv.mv_size;
      ::madvise(reinterpret_cast<void*>(start), end - start, MADV_WILLNEED);
    }
    RecordHeader h;
    bool good = mv.mv_size >= sizeof h;
    if (good) {
      std::memcpy(&h, mv.mv_data, sizeof h);
      const char* data = static_cast<const char*>(mv.mv_data) + sizeof h;
      good = h.magic == kMagic && h.version == kVersion && h.key_hi == key.hi &&
             h.key_lo == key.lo && h.length == mv.mv_size - sizeof h &&
             XXH64(data, h.length, 0) == h.checksum;
      if (good) out = std::make_shared<const std::string>(data, h.length);
    }
    mdb_txn_abort(txn);
    if (!good) {
      corrupt_.fetch_add(1, std::memory_order_relaxed);
      LogWarning("cache: a block failed its integrity check; dropping it and refetching");
      Enqueue(Op{key, nullptr});
    }
    return out;
  }

  void Put(const BlockKey& key, Block data) override { Enqueue(Op{key, std::move(data)}); }

  void Flush() override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      flushed_.wait(lock, [this] { return queue_.empty() && !writing_; });
    }
    mdb_env_sync(env_, 1);
  }

 private:
  struct Op {
    BlockKey key;
    Block data;  // nullptr: delete
  };

  void Enqueue(Op op) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      uint64_t bytes = op.data ? op.data->size() : 0;
      // Never queue more than a quarter of the map (or the configured
      // bound). When the writer falls behind, wait a little for it: a block
      // dropped here is a block fetched again on the next mount. Past the
      // wait, the oldest queued blocks give way (a cache may forget).
      uint64_t limit = std::min(options_.max_pending_bytes, options_.capacity_bytes / 4);
      if (bytes > limit) return;
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
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty() && stop_) break;
      std::vector<Op> batch;
      while (!queue_.empty()) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      pending_bytes_ = 0;
      writing_ = true;
      room_.notify_all();
      lock.unlock();
      WriteBatch(batch);
      lock.lock();
      writing_ = false;
      writer_stalled_ = false;
      if (queue_.empty()) flushed_.notify_all();
    }
    flushed_.notify_all();
  }

  // Writes in slices of at most an eighth of the map, so one burst can
  // never need more room than eviction can make.
  void WriteBatch(const std::vector<Op>& batch) {
    const uint64_t slice_bytes = std::max<uint64_t>(options_.capacity_bytes / 8, 1);
    size_t start = 0;
    while (start < batch.size()) {
      size_t end = start;
      uint64_t bytes = 0;
      while (end < batch.size()) {
        uint64_t b = batch[end].data ? batch[end].data->size() + sizeof(RecordHeader) : 0;
        if (end > start && bytes + b > slice_bytes) break;
        bytes += b;
        ++end;
      }
      WriteSlice(batch, start, end, bytes);
      start = end;
    }
  }

  void WriteSlice(const std::vector<Op>& batch, size_t start, size_t end, uint64_t bytes) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      int rc = TryWrite(batch, start, end, bytes);
      if (rc == 0) return;
      if (rc == ENOSPC) {
        LogOnce("cache: the disk is full; blocks are served from the origin without being cached");
        return;
      }
      if (rc == MDB_MAP_FULL && attempt < 2) {
        // LMDB reuses pages freed by a transaction only after a later one
        // has committed: evict in two transactions, then retry.
        uint64_t need = std::max<uint64_t>(bytes + bytes / 2, options_.capacity_bytes / 10);
        Evict(need / 2);
        Evict(need - need / 2);
        continue;
      }
      LogOnce(LmdbError("cache write failed; blocks are still served from the origin", rc));
      return;
    }
  }

  int TryWrite(const std::vector<Op>& batch, size_t start, size_t end, uint64_t bytes) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc == MDB_MAP_RESIZED) {
      mdb_env_set_mapsize(env_, 0);
      rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    }
    if (rc != 0) return rc;
    if (!ReserveDisk(bytes)) {
      mdb_txn_abort(txn);
      return ENOSPC;
    }
    for (size_t i = start; i < end; ++i) {
      const Op& op = batch[i];
      uint64_t k[2] = {op.key.hi, op.key.lo};
      MDB_val mk{sizeof k, k};
      if (!op.data) {
        rc = mdb_del(txn, dbi_, &mk, nullptr);
        if (rc == MDB_NOTFOUND) rc = 0;
      } else {
        RecordHeader h{kMagic, kVersion, op.key.hi, op.key.lo, op.data->size(),
                       XXH64(op.data->data(), op.data->size(), 0)};
        MDB_val mv{sizeof h + op.data->size(), nullptr};
        rc = mdb_put(txn, dbi_, &mk, &mv, MDB_RESERVE);
        if (rc == 0) {
          std::memcpy(mv.mv_data, &h, sizeof h);
          std::memcpy(static_cast<char*>(mv.mv_data) + sizeof h, op.data->data(), op.data->size());
        }
      }
      if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
      }
    }
    return mdb_txn_commit(txn);
  }

  // The map is written in place (MDB_WRITEMAP), and a store into a page the
  // disk has no room for would kill the process with SIGBUS instead of
  // failing a call. So before a transaction writes, the file's blocks are
  // allocated up to the highest page it can touch: the last used page plus
  // the transaction's bytes and room for the tree pages it adds. Called with
  // the write lock held, so the last page is current across processes.
  bool ReserveDisk(uint64_t bytes) {
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(env_, &info) != 0 || mdb_env_stat(env_, &st) != 0) return false;
    uint64_t need = (static_cast<uint64_t>(info.me_last_pgno) + 1) * st.ms_psize + bytes +
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

  // Frees about `bytes` by deleting records from a pseudo-random point of
  // the key space (keys are hashes). Crude; good enough to stay under the
  // map size.
  void Evict(uint64_t bytes) {
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env_, nullptr, 0, &txn) != 0) return;
    MDB_cursor* cur = nullptr;
    if (mdb_cursor_open(txn, dbi_, &cur) != 0) {
      mdb_txn_abort(txn);
      return;
    }
    uint64_t start[2] = {next_evict_++ * 0x9E3779B97F4A7C15ull, 0};
    MDB_val k{sizeof start, start}, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    uint64_t freed = 0;
    size_t n = 0;
    while (freed < bytes) {
      if (rc == MDB_NOTFOUND) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc != 0) break;
      }
      if (rc != 0) break;
      freed += v.mv_size;
      if (mdb_cursor_del(cur, 0) != 0) break;
      ++n;
      rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
      if (rc != 0) rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    mdb_txn_commit(txn);
    LogInfo("cache: evicted " + std::to_string(n) + " blocks (" + FormatSize(freed) + ")");
  }

  void LogOnce(const std::string& msg) {
    bool expected = false;
    if (logged_.compare_exchange_strong(expected, true)) LogWarning(msg);
  }

  MDB_env* env_;
  MDB_dbi dbi_;
  const LmdbOptions options_;
  std::atomic<bool> logged_{false};
  std::atomic<uint64_t> corrupt_{0};
  std::atomic<uint64_t> dropped_{0};
  uint64_t next_evict_ = 1;  // writer thread only
  uint64_t reserved_ = 0;    // writer thread only: file bytes known to be allocated

  std::mutex mu_;  // guards the queue state below; never held across LMDB calls
  std::condition_variable cv_, flushed_, room_;
  std::deque<Op> queue_;
  uint64_t pending_bytes_ = 0;
  bool writing_ = false;
  bool writer_stalled_ = false;
  bool stop_ = false;
  std::thread writer_;  // last: started after everything it uses
};

}  // namespace

Result<std::unique_ptr<BlockStore>> OpenLmdbBlockStore(const std::string& dir,
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
  // Page-align the map size.
  uint64_t map = std::max<uint64_t>(options.capacity_bytes, 16_MiB);
  map = (map + 4095) & ~uint64_t{4095};
  mdb_env_set_mapsize(env, map);
  // NOTLS: read transactions are not tied to threads (FUSE worker threads
  // come and go). NOSYNC: commits reach the page cache, not the disk, so the
  // writer keeps up with the network; a killed daemon loses nothing (the
  // kernel holds the pages), an operating-system crash may lose recent
  // blocks, and every record's checksum guards against torn ones. Flush()
  // and close sync. WRITEMAP: values are copied once, straight into the
  // file's pages, instead of into LMDB's own buffers and then again by
  // write(2); that halves the CPU a cold read spends on caching (see
  // ReserveDisk for the price). The kernel's readahead stays on: values are
  // large and contiguous.
  rc = mdb_env_open(env, dir.c_str(), MDB_NOTLS | MDB_NOSYNC | MDB_WRITEMAP, 0600);
  if (rc != 0) {
    mdb_env_close(env);
    return IoError("cache directory " + dir + ": " + mdb_strerror(rc));
  }
  MDB_txn* txn = nullptr;
  MDB_dbi dbi;
  rc = mdb_txn_begin(env, nullptr, 0, &txn);
  if (rc == 0) rc = mdb_dbi_open(txn, nullptr, 0, &dbi);
  if (rc == 0) rc = mdb_txn_commit(txn);
  else if (txn) mdb_txn_abort(txn);
  if (rc != 0) {
    mdb_env_close(env);
    return IoError("cache directory " + dir + ": " + mdb_strerror(rc));
  }
  mdb_reader_check(env, nullptr);  // clear readers left by crashed processes
  return std::unique_ptr<BlockStore>(new LmdbBlockStore(env, dbi, options));
}

}  // namespace zm
