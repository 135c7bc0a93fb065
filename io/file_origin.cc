#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/log.h"
#include "io/origin.h"

namespace zm {
namespace {

std::string PathOf(const std::string& url) {
  if (url.starts_with("file://")) return url.substr(7);
  return url;
}

Status ErrnoStatus(int err, const std::string& path) {
  std::string msg = path + ": " + std::strerror(err);
  if (err == ENOENT || err == ENOTDIR) return NotFound(msg);
  if (err == EACCES || err == EPERM) return Status(Code::kPermissionDenied, msg);
  return IoError(msg);
}

bool UnderRoot(std::string_view path, const std::vector<std::string>& roots) {
  for (const std::string& root : roots) {
    if (root == "/") return true;
    if (path.starts_with(root) && (path.size() == root.size() || path[root.size()] == '/'))
      return true;
  }
  return false;
}

Status Outside(const std::string& path, const std::string& real) {
  return Status(Code::kPermissionDenied,
                path + (real == path ? "" : " (" + real + ")") +
                    ": outside the directories local references may read (the reference "
                    "file's directory and --local-root)");
}

// An open descriptor of a regular file under the roots, closed with the
// object.
class OpenFile {
 public:
  ~OpenFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Open(const std::string& path, const std::vector<std::string>& roots) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
    // writer. The check is on what was opened (/proc/self/fd names it, links
    // resolved), so a link swapped in after a check cannot slip past it.
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd_ < 0) return ErrnoStatus(errno, path);
    if (::fstat(fd_, &st_) != 0) return ErrnoStatus(errno, path);
    char real[PATH_MAX];
    std::string proc = "/proc/self/fd/" + std::to_string(fd_);
    ssize_t n = ::readlink(proc.c_str(), real, sizeof real);
    if (n < 0) return ErrnoStatus(errno, path);
    if (static_cast<size_t>(n) >= sizeof real) return ErrnoStatus(ENAMETOOLONG, path);
    std::string resolved(real, static_cast<size_t>(n));
    if (!UnderRoot(resolved, roots)) return Outside(path, resolved);
    if (!S_ISREG(st_.st_mode)) return IoError(path + ": not a regular file");
    return Status::Ok();
  }
  int fd() const { return fd_; }
  const struct stat& stat() const { return st_; }

 private:
  int fd_ = -1;
  struct stat st_ {};
};

class FileOrigin : public Origin {
 public:
  explicit FileOrigin(std::vector<std::string> roots) : roots_(std::move(roots)) {}

  Result<std::string> Read(const std::string& url, ByteRange range) override {
    std::string path = PathOf(url);
    // Opened per read: reference sets point at thousands of files, and the
    // page cache, not a descriptor cache, is what makes this fast.
    OpenFile file;
    ZM_RETURN_IF_ERROR(file.Open(path, roots_));
    std::string out(range.length, '\0');
    uint64_t got = 0;
    while (got < range.length) {
      ssize_t r = ::pread(file.fd(), out.data() + got, range.length - got,
                          static_cast<off_t>(range.offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoStatus(errno, path);
      if (r == 0) {
        return Status(Code::kOutOfRange, path + ": file is shorter than the referenced range " +
                                             std::to_string(range.offset) + "+" +
                                             std::to_string(range.length));
      }
      got += static_cast<uint64_t>(r);
    }
    return out;
  }

  Result<uint64_t> Size(const std::string& url) override {
    ZM_ASSIGN_OR_RETURN(ObjectInfo info, Stat(url));
    return info.size;
  }

  Result<ObjectInfo> Stat(const std::string& url) override {
    std::string path = PathOf(url);
    OpenFile file;
    ZM_RETURN_IF_ERROR(file.Open(path, roots_));
    const struct stat& sb = file.stat();
    // A rewrite changes the modification time (or the inode, when the file
    // is replaced by a rename).
    return ObjectInfo{static_cast<uint64_t>(sb.st_size),
                      std::to_string(sb.st_ino) + ":" + std::to_string(sb.st_mtim.tv_sec) + "." +
                          std::to_string(sb.st_mtim.tv_nsec)};
  }

 private:
  const std::vector<std::string> roots_;
};

class OfflineOrigin : public Origin {
 public:
  Result<std::string> Read(const std::string& url, ByteRange range) override {
    return IoError(RedactUrl(url) + ": not in the cache (offline)");
  }
  Result<uint64_t> Size(const std::string& url) override {
    return IoError(RedactUrl(url) + ": size not in the cache (offline)");
  }
};

}  // namespace

Result<Origin::ObjectInfo> Origin::Stat(const std::string& url) {
  ZM_ASSIGN_OR_RETURN(uint64_t size, Size(url));
  return ObjectInfo{size, ""};
}

Result<std::string> Origin::Fetch(const std::string& url, uint64_t max_bytes) {
  ZM_ASSIGN_OR_RETURN(ObjectInfo info, Stat(url));
  if (info.size > max_bytes)
    return InvalidArgument(RedactUrl(url) + ": more than " + std::to_string(max_bytes) +
                           " bytes; refusing");
  return Read(url, ByteRange{0, info.size});
}

Result<Origin::Head> Origin::ReadHead(const std::string& url, uint64_t length) {
  Head head;
  ZM_ASSIGN_OR_RETURN(head.info, Stat(url));
  ZM_ASSIGN_OR_RETURN(head.bytes, Read(url, ByteRange{0, std::min(length, head.info.size)}));
  return head;
}

Result<std::vector<std::string>> Origin::ReadPieces(const std::string& url, ByteRange range,
                                                    const std::vector<uint64_t>& lengths) {
  ZM_ASSIGN_OR_RETURN(std::string all, Read(url, range));
  if (all.size() != range.length)
    return Corruption(RedactUrl(url) + ": origin returned " + std::to_string(all.size()) + " bytes for a " +
                      std::to_string(range.length) + "-byte range");
  std::vector<std::string> pieces;
  pieces.reserve(lengths.size());
  uint64_t at = 0;
  for (uint64_t n : lengths) {
    pieces.push_back(all.substr(at, n));
    at += n;
  }
  return pieces;
}

namespace {

class RoutingOrigin : public Origin {
 public:
  RoutingOrigin(std::unique_ptr<Origin> http, std::unique_ptr<Origin> file)
      : http_(std::move(http)), file_(std::move(file)) {}

  Result<std::string> Read(const std::string& url, ByteRange range) override {
    ZM_ASSIGN_OR_RETURN(Origin * o, Pick(url));
    return o->Read(url, range);
  }
  Result<std::vector<std::string>> ReadPieces(const std::string& url, ByteRange range,
                                              const std::vector<uint64_t>& lengths) override {
    ZM_ASSIGN_OR_RETURN(Origin * o, Pick(url));
    return o->ReadPieces(url, range, lengths);
  }
  Result<uint64_t> Size(const std::string& url) override {
    ZM_ASSIGN_OR_RETURN(Origin * o, Pick(url));
    return o->Size(url);
  }
  Result<ObjectInfo> Stat(const std::string& url) override {
    ZM_ASSIGN_OR_RETURN(Origin * o, Pick(url));
    return o->Stat(url);
  }
  Result<Head> ReadHead(const std::string& url, uint64_t length) override {
    ZM_ASSIGN_OR_RETURN(Origin * o, Pick(url));
    return o->ReadHead(url, length);
  }
  Result<std::string> Fetch(const std::string& url, uint64_t max_bytes) override {
    ZM_ASSIGN_OR_RETURN(Origin * o, Pick(url));
    return o->Fetch(url, max_bytes);
  }

 private:
  Result<Origin*> Pick(const std::string& url) {
    if (url.starts_with("http://") || url.starts_with("https://") || url.starts_with("s3://") ||
        url.starts_with("gs://")) {
      if (http_) return http_.get();
    } else if (url.starts_with("file://") || url.find("://") == std::string::npos) {
      if (file_) return file_.get();
    }
    size_t colon = url.find("://");
    return Status(Code::kUnsupported,
                  "unsupported URL scheme '" + url.substr(0, colon) + "://' in " + RedactUrl(url));
  }

  std::unique_ptr<Origin> http_, file_;
};

}  // namespace

std::unique_ptr<Origin> NewFileOrigin(std::vector<std::string> roots) {
  return std::make_unique<FileOrigin>(std::move(roots));
}

Status CheckLocalAccess(const std::string& url, const std::vector<std::string>& roots) {
  std::string path = PathOf(url);
  char real[PATH_MAX];
  if (!::realpath(path.c_str(), real)) return Status::Ok();
  if (!UnderRoot(real, roots)) return Outside(path, real);
  return Status::Ok();
}

std::unique_ptr<Origin> NewOfflineOrigin() { return std::make_unique<OfflineOrigin>(); }

std::unique_ptr<Origin> NewRoutingOrigin(std::unique_ptr<Origin> http,
                                         std::unique_ptr<Origin> file) {
  return std::make_unique<RoutingOrigin>(std::move(http), std::move(file));
}

}  // namespace zm
