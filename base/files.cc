#include "base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/units.h"

namespace zm {

Result<std::string> ReadLocalFile(const std::string& path, uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(path + ": " + std::strerror(errno));
    return IoError(path + ": " + std::strerror(errno));
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": not a regular file");
  }
  if (static_cast<uint64_t>(sb.st_size) > max_bytes) {
    ::close(fd);
    return InvalidArgument(path + ": larger than " + FormatSize(max_bytes) + "; refusing");
  }
  std::string data(static_cast<size_t>(sb.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t r = ::read(fd, data.data() + got, data.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      ::close(fd);
      return IoError(path + ": " + (r < 0 ? std::strerror(errno) : "file shrank while reading"));
    }
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  return data;
}

Status WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode) {
  // The writer's pid keeps two processes writing one path apart.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return IoError(path + ": cannot write: " + std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const int write_errno = done == data.size() ? 0 : (errno ? errno : EIO);
  const bool closed = ::close(fd) == 0;
  if (write_errno || !closed || ::rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = IoError(path + ": cannot write: " + std::strerror(write_errno ? write_errno : errno));
    ::unlink(tmp.c_str());
    return st;
  }
  return Status::Ok();
}

}  // namespace zm
