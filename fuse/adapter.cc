#define FUSE_USE_VERSION 314
#include "fuse/adapter.h"

#include <fuse_lowlevel.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.h"
#include "fuse/errno.h"

namespace zm {
namespace {

// A mounted reference set never changes: the kernel may cache names and
// attributes for as long as it likes. (A TTL of zero would turn every
// readdir into a storm of lookups.)
constexpr double kForever = 365.0 * 24 * 3600;

struct Context {
  Tree* fs;
  std::function<std::string()> status;
  std::function<std::string()> metrics;
  FuseStats* stats;  // may be null
  uid_t uid;
  gid_t gid;
  uint32_t max_read;
  uint32_t readahead;
  // The kernel may skip OPEN (and RELEASE) requests once one is answered
  // ENOSYS (set by OpInit).
  bool no_open = false;
};

Context* Ctx(fuse_req_t req) { return static_cast<Context*>(fuse_req_userdata(req)); }

void FillStat(const Context* c, const Attr& a, struct stat* st) {
  *st = {};
  st->st_ino = a.ino;
  st->st_mode = a.is_dir ? (S_IFDIR | 0555) : (S_IFREG | 0444);
  st->st_nlink = a.nlink;
  st->st_size = static_cast<off_t>(a.size);
  st->st_blksize = 1 << 20;
  st->st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
  st->st_uid = c->uid;
  st->st_gid = c->gid;
  st->st_mtim.tv_sec = st->st_ctim.tv_sec = st->st_atim.tv_sec = c->fs->mtime();
}

void FillEntry(const Context* c, const Attr& a, fuse_entry_param* e) {
  *e = {};
  e->ino = a.ino;
  e->generation = 1;
  e->attr_timeout = kForever;
  e->entry_timeout = kForever;
  FillStat(c, a, &e->attr);
}

void OpInit(void* userdata, fuse_conn_info* conn) {
  auto* c = static_cast<Context*>(userdata);
  // libfuse derives max_pages from max_write: ask for max_read-sized
  // requests. max_read must match the mount option.
  conn->max_write = c->max_read;
  conn->max_read = c->max_read;
  conn->max_readahead = std::min(c->readahead, c->max_read);
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  // readdirplus hands the kernel each entry's attributes, saving a lookup
  // per entry to readers that go on to stat them (`ls -l`, xarray opening a
  // group), but makes it build an inode per entry: an `ls` of a chunk
  // directory of 2.5 million entries took 28 s, 15 s of it in the kernel.
  // In auto mode the kernel asks for attributes with the first batch of a
  // directory and then only while the reader is looking entries up, so a
  // plain listing of a huge directory costs names only (0.3 s for 250,000
  // entries instead of 1.5 s).
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO) conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
  c->no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto* c = Ctx(req);
  auto a = c->fs->Lookup(parent, name);
  if (!a.ok()) {
    fuse_reply_err(req, ErrnoFor(FuseOp::kLookup, a.status()));
    return;
  }
  fuse_entry_param e;
  FillEntry(c, *a, &e);
  fuse_reply_entry(req, &e);
}

void OpGetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto* c = Ctx(req);
  auto a = c->fs->GetAttr(ino);
  if (!a.ok()) {
    fuse_reply_err(req, ErrnoFor(FuseOp::kGetAttr, a.status()));
    return;
  }
  struct stat st;
  FillStat(c, *a, &st);
  fuse_reply_attr(req, &st, kForever);
}

void ReadDirCommon(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  auto* c = Ctx(req);
  std::string buf(size, '\0');
  size_t used = 0;
  Status st = c->fs->ReadDir(ino, static_cast<uint64_t>(off),
                             [&](std::string_view name, const Attr& a, uint64_t next) {
                               std::string n(name);
                               size_t need;
                               if (plus) {
                                 fuse_entry_param e;
                                 FillEntry(c, a, &e);
                                 // Node id 0: a name without attributes, which
                                 // the kernel looks up when it needs them.
                                 if (!a.size_known) e.ino = 0;
                                 need = fuse_add_direntry_plus(req, buf.data() + used, size - used,
                                                               n.c_str(), &e, static_cast<off_t>(next));
                               } else {
                                 struct stat s;
                                 FillStat(c, a, &s);
                                 need = fuse_add_direntry(req, buf.data() + used, size - used,
                                                          n.c_str(), &s, static_cast<off_t>(next));
                               }
                               if (need > size - used) return false;
                               used += need;
                               return true;
                             });
  if (!st.ok()) {
    fuse_reply_err(req, ErrnoFor(FuseOp::kReadDir, st));
    return;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  ReadDirCommon(req, ino, size, off, false);
}

void OpReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  ReadDirCommon(req, ino, size, off, true);
}

void OpOpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto a = Ctx(req)->fs->GetAttr(ino);
  if (!a.ok()) {
    fuse_reply_err(req, ErrnoFor(FuseOp::kOpenDir, a.status()));
    return;
  }
  if (!a->is_dir) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  fi->cache_readdir = 1;
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
    fuse_reply_err(req, EROFS);
    return;
  }
  auto* c = Ctx(req);
  Status st = c->fs->Open(ino);
  if (!st.ok()) {
    fuse_reply_err(req, ErrnoFor(FuseOp::kOpen, st));
    return;
  }
  if (c->stats) c->stats->opens.fetch_add(1, std::memory_order_relaxed);
  // Opening a file needs nothing of ours: it keeps no state, and the kernel
  // refuses writes on the read-only mount itself. Answered ENOSYS, the
  // kernel takes this open and every later one as done, with the page cache
  // kept across opens (what keep_cache says), and sends no more OPEN or
  // RELEASE requests: a reader of many small chunk files (zarr opens each
  // one) saves two round trips to the daemon per file, a quarter of the
  // time of a 380 KiB chunk served from memory.
  if (c->no_open) {
    fuse_reply_err(req, ENOSYS);
    return;
  }
  // Immutable contents: keep the page cache across opens.
  fi->keep_cache = 1;
  fi->noflush = 1;
  fuse_reply_open(req, fi);
}

// Reads and replies; true if it replied with data.
bool ReadAndReply(Context* c, fuse_req_t req, fuse_ino_t ino, size_t size, off_t off) {
  auto data = c->fs->ReadSlices(ino, static_cast<uint64_t>(off), size);
  if (!data.ok()) {
    LogWarning("read failed: " + data.status().message());
    fuse_reply_err(req, ErrnoFor(FuseOp::kRead, data.status()));
    return false;
  }
  // Straight from the cached blocks into the reply: no copy of our own.
  std::vector<iovec> iov;
  iov.reserve(data->pieces.size());
  for (auto p : data->pieces)
    iov.push_back(iovec{const_cast<char*>(p.data()), p.size()});
  fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
  return true;
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  auto* c = Ctx(req);
  if (!c->stats) {
    ReadAndReply(c, req, ino, size, off);
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  const bool ok = ReadAndReply(c, req, ino, size, off);
  (ok ? c->stats->read_ok : c->stats->read_error).Record(std::chrono::steady_clock::now() - start);
}

void OpStatFs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st;
  Ctx(req)->fs->StatFs(&st);
  fuse_reply_statfs(req, &st);
}

// An attribute value (or list of names): its size when asked with `size`
// 0, else the value if it fits.
void ReplyXattr(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0)
    fuse_reply_xattr(req, value.size());
  else if (size < value.size())
    fuse_reply_err(req, ERANGE);
  else
    fuse_reply_buf(req, value.data(), value.size());
}

// The root carries the daemon's status and its metrics; nothing else has
// any attribute.
void OpGetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  const Context* c = Ctx(req);
  const std::function<std::string()>* value = nullptr;
  if (ino == Tree::kRootIno && std::strcmp(name, kStatusXattr) == 0) value = &c->status;
  if (ino == Tree::kRootIno && std::strcmp(name, kMetricsXattr) == 0) value = &c->metrics;
  if (!value || !*value) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  ReplyXattr(req, (*value)(), size);
}
void OpListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  const Context* c = Ctx(req);
  std::string names;  // each name ends in a NUL
  if (ino == Tree::kRootIno && c->status) names.append(kStatusXattr, sizeof kStatusXattr);
  if (ino == Tree::kRootIno && c->metrics) names.append(kMetricsXattr, sizeof kMetricsXattr);
  ReplyXattr(req, names, size);
}

// Everything that would change the tree. The mount is also "ro", so the
// kernel normally answers these itself; this is the second line.
void OpSetAttr(fuse_req_t req, fuse_ino_t, struct stat*, int, fuse_file_info*) { fuse_reply_err(req, EROFS); }
void OpMknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { fuse_reply_err(req, EROFS); }
void OpMkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { fuse_reply_err(req, EROFS); }
void OpUnlink(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void OpSymlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void OpRename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) {
  fuse_reply_err(req, EROFS);
}
void OpLink(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void OpWrite(fuse_req_t req, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*) {
  fuse_reply_err(req, EROFS);
}
void OpCreate(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) {
  fuse_reply_err(req, EROFS);
}
void OpSetXattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
  fuse_reply_err(req, EROFS);
}
void OpRemoveXattr(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.getattr = OpGetAttr;
  ops.opendir = OpOpenDir;
  ops.readdir = OpReadDir;
  ops.readdirplus = OpReadDirPlus;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.statfs = OpStatFs;
  ops.getxattr = OpGetXattr;
  ops.listxattr = OpListXattr;
  ops.setattr = OpSetAttr;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.unlink = OpUnlink;
  ops.rmdir = OpUnlink;
  ops.symlink = OpSymlink;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.write = OpWrite;
  ops.create = OpCreate;
  ops.setxattr = OpSetXattr;
  ops.removexattr = OpRemoveXattr;
  return ops;
}

// libfuse reports mount failures through its log function; keep the last
// message so the caller can print one line of ours instead.
std::mutex g_fuse_log_mu;  // guards g_fuse_last_error
std::string g_fuse_last_error;
bool g_fuse_debug = false;

void FuseLog(enum fuse_log_level level, const char* fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  std::string msg(buf);
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  if (level <= FUSE_LOG_ERR) {
    std::lock_guard<std::mutex> lock(g_fuse_log_mu);
    g_fuse_last_error = msg;
  }
  if (g_fuse_debug) std::fprintf(stderr, "%s\n", msg.c_str());
}

// The kernel caps a FUSE mount's readahead at the backing device's default
// (128 KiB), whatever max_readahead says; sequential readers then wait for
// one small request at a time. Set it to what the mount asks for where we
// may (root).
void SetReadahead(dev_t dev, uint32_t bytes) {
  std::string path = "/sys/class/bdi/" + std::to_string(major(dev)) + ":" +
                     std::to_string(minor(dev)) + "/read_ahead_kb";
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;  // not root, or no such knob: keep the default
  std::string kb = std::to_string(bytes / 1024);
  if (::write(fd, kb.data(), kb.size()) < 0) LogDebug("cannot raise readahead: " + path);
  ::close(fd);
}

}  // namespace

Status RunFuse(Tree* fs, const FuseConfig& config,
               const std::function<void(const Status&)>& on_ready) {
  g_fuse_debug = config.debug;
  fuse_set_log_func(FuseLog);
  Context ctx{fs,       config.status, config.metrics, config.stats,
              getuid(), getgid(),      config.max_read, config.readahead};

  std::string opts = "ro,default_permissions,fsname=" + config.fsname +
                     ",subtype=zarrmount,max_read=" + std::to_string(config.max_read);
  for (const auto& o : config.options) opts += "," + o;
  std::vector<std::string> argv_s = {"zarrmount", "-o", opts};
  if (config.debug) argv_s.push_back("-d");
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  auto fail = [&](const std::string& what) {
    std::string detail;
    {
      std::lock_guard<std::mutex> lock(g_fuse_log_mu);
      detail = g_fuse_last_error;
    }
    Status st = IoError(what + (detail.empty() ? "" : ": " + detail));
    on_ready(st);
    return st;
  };

  fuse_lowlevel_ops ops = MakeOps();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &ctx);
  fuse_opt_free_args(&args);
  if (!se) return fail("cannot start a FUSE session (bad -o option?)");
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return fail("cannot install signal handlers");
  }
  if (fuse_session_mount(se, config.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return fail("cannot mount on " + config.mountpoint);
  }

  // Tell the caller only once a request has gone through: stat the root
  // while the loop below serves it.
  std::thread ready([&] {
    struct stat st;
    if (::stat(config.mountpoint.c_str(), &st) == 0 && st.st_ino == Tree::kRootIno) {
      SetReadahead(st.st_dev, std::min(config.readahead, config.max_read));
      on_ready(Status::Ok());
    } else
      on_ready(IoError("the mount at " + config.mountpoint + " does not answer"));
  });

  fuse_loop_config* loop = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(loop, 0);
  fuse_loop_cfg_set_max_threads(loop, static_cast<unsigned>(config.max_threads));
  fuse_loop_cfg_set_idle_threads(loop, static_cast<unsigned>(std::min(config.max_threads, 10)));
  int rc = fuse_session_loop_mt(se, loop);
  fuse_loop_cfg_destroy(loop);
  ready.join();

  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  if (rc < 0) return IoError(std::string("FUSE loop failed: ") + std::strerror(-rc));
  return Status::Ok();
}

}  // namespace zm
