#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cache/origin.h"

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

class FileOrigin : public Origin {
 public:
  Result<std::string> Read(const std::string& url, ByteRange range) override {
    std::string path = PathOf(url);
    // Opened per read: reference sets point at thousands of files, and the
    // page cache, not a descriptor cache, is what makes this fast.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, path);
    std::string out(range.length, '\0');
    uint64_t got = 0;
    while (got < range.length) {
      ssize_t r = ::pread(fd, out.data() + got, range.length - got,
                          static_cast<off_t>(range.offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        int err = errno;
        ::close(fd);
        return ErrnoStatus(err, path);
      }
      if (r == 0) {
        ::close(fd);
        return Status(Code::kOutOfRange, path + ": file is shorter than the referenced range " +
                                             std::to_string(range.offset) + "+" +
                                             std::to_string(range.length));
      }
      got += static_cast<uint64_t>(r);
    }
    ::close(fd);
    return out;
  }

  Result<uint64_t> Size(const std::string& url) override {
    ZM_ASSIGN_OR_RETURN(ObjectInfo info, Stat(url));
    return info.size;
  }

  Result<ObjectInfo> Stat(const std::string& url) override {
    std::string path = PathOf(url);
    struct stat sb;
    if (::stat(path.c_str(), &sb) != 0) return ErrnoStatus(errno, path);
    if (!S_ISREG(sb.st_mode)) return InvalidArgument(path + ": not a regular file");
    // A rewrite changes the modification time (or the inode, when the file
    // is replaced by a rename).
    return ObjectInfo{static_cast<uint64_t>(sb.st_size),
                      std::to_string(sb.st_ino) + ":" + std::to_string(sb.st_mtim.tv_sec) + "." +
                          std::to_string(sb.st_mtim.tv_nsec)};
  }
};

class OfflineOrigin : public Origin {
 public:
  Result<std::string> Read(const std::string& url, ByteRange range) override {
    return IoError(url + ": not in the cache (offline)");
  }
  Result<uint64_t> Size(const std::string& url) override {
    return IoError(url + ": size not in the cache (offline)");
  }
};

}  // namespace

Result<Origin::ObjectInfo> Origin::Stat(const std::string& url) {
  ZM_ASSIGN_OR_RETURN(uint64_t size, Size(url));
  return ObjectInfo{size, ""};
}

Result<std::vector<std::string>> Origin::ReadPieces(const std::string& url, ByteRange range,
                                                    const std::vector<uint64_t>& lengths) {
  ZM_ASSIGN_OR_RETURN(std::string all, Read(url, range));
  if (all.size() != range.length)
    return Corruption(url + ": origin returned " + std::to_string(all.size()) + " bytes for a " +
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
                  "unsupported URL scheme '" + url.substr(0, colon) + "://' in " + url);
  }

  std::unique_ptr<Origin> http_, file_;
};

}  // namespace

std::unique_ptr<Origin> NewFileOrigin() { return std::make_unique<FileOrigin>(); }

std::unique_ptr<Origin> NewOfflineOrigin() { return std::make_unique<OfflineOrigin>(); }

std::unique_ptr<Origin> NewRoutingOrigin(std::unique_ptr<Origin> http,
                                         std::unique_ptr<Origin> file) {
  return std::make_unique<RoutingOrigin>(std::move(http), std::move(file));
}

}  // namespace zm
