#include "app/catalog_mount.h"

#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <set>

#include "base/log.h"
#include "base/units.h"
#include "app/scan_source.h"
#include "refs/reference_loader.h"

namespace zm {
namespace {

// Catalog documents are small; a larger one is a mistake, not a catalog.
constexpr uint64_t kMaxDocumentBytes = 256_MiB;
constexpr uint64_t kSniffBytes = 64_KiB;

Result<std::string> ReadLocal(const std::string& path, uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFound(path + ": " + std::strerror(errno));
  struct stat sb;
  if (::fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": not a regular file");
  }
  std::string data;
  data.resize(std::min<uint64_t>(static_cast<uint64_t>(sb.st_size), max_bytes));
  size_t got = 0;
  while (got < data.size()) {
    ssize_t r = ::read(fd, data.data() + got, data.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  data.resize(got);
  return data;
}

std::string LocalPath(const std::string& location) {
  return location.starts_with("file://") ? location.substr(7) : location;
}

// "s3://bucket/key" -> "s3://bucket/"; empty for other URLs.
std::string S3BucketPrefix(std::string_view url) {
  if (!url.starts_with("s3://")) return {};
  size_t slash = url.find('/', 5);
  if (slash == std::string_view::npos) return std::string(url) + "/";
  return std::string(url.substr(0, slash + 1));
}


}  // namespace

Result<std::string> ReadDocument(const std::string& location, Origin* origin, uint64_t max_bytes) {
  if (!IsRemoteSource(location)) {
    auto data = ReadLocal(LocalPath(location), max_bytes + 1);
    if (data.ok() && data->size() > max_bytes)
      return InvalidArgument(location + ": larger than " + FormatSize(max_bytes) + "; refusing");
    return data;
  }
  const std::string shown = RedactUrl(location);
  auto info = origin->Stat(location);
  if (!info.ok()) return info.status().WithContext(shown);
  if (info->size > max_bytes)
    return InvalidArgument(shown + ": larger than " + FormatSize(max_bytes) + "; refusing");
  if (info->size == 0) return std::string();
  auto data = origin->Read(location, ByteRange{0, info->size});
  if (!data.ok()) return data.status().WithContext(shown);
  return data;
}

Result<CatalogKind> DetectCatalog(const std::string& source, Origin* origin) {
  std::string head;
  if (!IsRemoteSource(source)) {
    ZM_ASSIGN_OR_RETURN(head, ReadLocal(LocalPath(source), kSniffBytes));
  } else {
    // A name is enough for YAML; otherwise the first bytes decide, without
    // fetching a large reference file twice.
    CatalogKind by_name = SniffCatalog(source, "");
    if (by_name != CatalogKind::kNone) return by_name;
    auto info = origin->Stat(source);
    if (!info.ok()) return info.status().WithContext(RedactUrl(source));
    if (info->size == 0) return CatalogKind::kNone;
    auto data = origin->Read(source, ByteRange{0, std::min<uint64_t>(info->size, kSniffBytes)});
    if (!data.ok()) return data.status().WithContext(RedactUrl(source));
    head = std::move(data).value();
  }
  return SniffCatalog(source, head);
}

Result<Catalog> ReadCatalog(const std::string& source, CatalogKind kind, Origin* origin) {
  CatalogIo io;
  io.fetch = [origin](const std::string& location) {
    return ReadDocument(location, origin, kMaxDocumentBytes);
  };
  io.glob = [](const std::string& pattern) { return GlobFiles(pattern); };
  return LoadCatalog(source, kind, io);
}

Result<std::vector<std::string>> GlobFiles(const std::string& pattern) {
  glob_t g{};
  // GLOB_MARK: directories end in '/', so they can be left out.
  int rc = ::glob(pattern.c_str(), GLOB_MARK | GLOB_NOSORT, nullptr, &g);
  std::vector<std::string> out;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i)
      if (std::string_view p = g.gl_pathv[i]; !p.ends_with('/')) out.emplace_back(p);
  ::globfree(&g);
  if (rc != 0 && rc != GLOB_NOMATCH)
    return IoError(pattern + ": " + (rc == GLOB_NOSPACE ? "out of memory" : "cannot be listed"));
  // Byte order, not the locale's collation: the same layout on every host.
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> LocalReferenceDirectories(const Catalog& catalog) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  char real[PATH_MAX];
  for (const CatalogDataset& d : catalog.datasets) {
    if (IsRemoteSource(d.references)) continue;
    std::string dir = LocalPath(d.references);
    dir.erase(dir.find_last_of('/') == std::string::npos ? 0 : dir.find_last_of('/'));
    if (dir.empty()) dir = "/";
    if (!seen.insert(dir).second) continue;
    if (::realpath(dir.c_str(), real)) out.push_back(real);
  }
  return out;
}

namespace {

// Buckets of an anonymous dataset (`anon: true`) are read unsigned.
void AddUnsignedBucket(Stack* stack, std::string_view url) {
  if (std::string p = S3BucketPrefix(url); !p.empty()) stack->planner->AddUnsignedPrefix(p);
}

// Dataset `ds`'s reference set: inline, or read through the stack's origin;
// URLs without a scheme resolve against `url_base`, else the file's
// directory.
Result<ReferenceIndex> LoadDatasetIndex(const CatalogDataset& ds, const std::string& shown,
                                        Stack* stack, const ReferenceLoadOptions& lo) {
  const std::string& refs = ds.references;
  const bool unsigned_buckets = ds.anonymous && stack->planner;
  if (unsigned_buckets) AddUnsignedBucket(stack, refs);
  std::string data;
  if (!ds.inline_references.empty()) {
    data = ds.inline_references;
  } else {
    ZM_ASSIGN_OR_RETURN(data, ReadDocument(refs, stack->origin.get(), lo.max_decompressed_bytes));
  }
  std::string base = ds.url_base;
  if (base.empty()) {
    std::string r = IsRemoteSource(refs) ? refs.substr(0, refs.find('?')) : LocalPath(refs);
    base = r.substr(0, r.rfind('/') + 1);
  }
  ZM_ASSIGN_OR_RETURN(ReferenceIndex index, LoadReferenceData(std::move(data), shown, base, lo));
  if (unsigned_buckets)
    for (size_t u = 0; u < index.url_count(); ++u)
      AddUnsignedBucket(stack, stack->url_map.Apply(index.url(u)));
  return index;
}

}  // namespace

DatasetLoader MakeDatasetLoader(const Catalog* catalog, Stack* stack, const DaemonConfig* config,
                                int64_t mtime, DatasetScanner scan) {
  return [catalog, stack, config, mtime, scan](size_t d) -> Result<LoadedDataset> {
    const CatalogDataset& ds = catalog->datasets[d];
    // Inline references are named by the document and source holding them.
    const std::string shown =
        ds.inline_references.empty()
            ? RedactUrl(ds.references)
            : RedactUrl(ds.references) + ": inline references of '" +
                  (ds.path.empty() ? "" : ds.path.back()) + "'";
    if (ds.scan && !scan) return InvalidArgument(shown + ": a NetCDF/HDF5 file, and nothing here scans it");
    // A scanned file's references name the file itself: its bucket is the
    // one to read unsigned.
    if (ds.scan && ds.anonymous && stack->planner) AddUnsignedBucket(stack, stack->url_map.Apply(ds.references));
    ZM_ASSIGN_OR_RETURN(ReferenceIndex index,
                        ds.scan ? scan(ds) : LoadDatasetIndex(ds, shown, stack, config->load));
    ZM_RETURN_IF_ERROR(CheckIndex(&index, stack, *config, shown));
    std::string set_name = ds.path.empty() ? "root" : ds.path.back();
    if (IsScanName(set_name)) set_name.erase(set_name.rfind('.'));
    ZM_ASSIGN_OR_RETURN(std::unique_ptr<ServedDataset> built,
                        BuildDataset(std::move(index), stack, *config, set_name, mtime));
    std::shared_ptr<ServedDataset> served = std::move(built);
    LoadedDataset out;
    // The index is what a dataset holds for as long as it is loaded; a
    // view's decoded chunks are bounded by --view-cache on their own.
    out.bytes = served->index.MemoryUsage() + 4_KiB;
    // Released with the tree: the version checker stops, the index goes.
    out.tree = std::shared_ptr<const Tree>(served, served->tree.get());
    return out;
  };
}

}  // namespace zm
