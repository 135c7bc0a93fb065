#include "app/sources.h"

#include <dirent.h>
#include <glob.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "app/scan_source.h"
#include "io/object_listing.h"
#include "refs/parquet_refs.h"

namespace zm {
namespace {

bool IsReferenceName(std::string_view name) {
  return name.ends_with(".json") || name.ends_with(".json.gz") || name.ends_with(".json.zst");
}

bool IsRemoteUrl(const std::string& s) {
  return s.find("://") != std::string::npos && !s.starts_with("file://");
}

std::string Cwd() {
  char buf[PATH_MAX];
  return getcwd(buf, sizeof buf) ? buf : "";
}

std::string AbsoluteIn(const std::string& dir, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return dir + "/" + path;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// What a regular file holds, by its first bytes: a zip archive, a reference
// file (JSON, gzip, zstd), a NetCDF/HDF5 file to scan, or else a list of
// reference files.
enum class FileKind { kZip, kReferences, kScan, kList };

Result<FileKind> Sniff(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": " + std::strerror(errno));
  char head[4096] = {};
  in.read(head, sizeof head);
  size_t n = static_cast<size_t>(in.gcount());
  if (LooksLikeScannable(std::string_view(head, n))) return FileKind::kScan;
  n = std::min<size_t>(n, 512);
  auto u = reinterpret_cast<const unsigned char*>(head);
  if (n >= 4 && u[0] == 'P' && u[1] == 'K' && ((u[2] == 3 && u[3] == 4) || (u[2] == 5 && u[3] == 6)))
    return FileKind::kZip;
  if (n >= 2 && u[0] == 0x1F && u[1] == 0x8B) return FileKind::kReferences;
  if (n >= 4 && u[0] == 0x28 && u[1] == 0xB5 && u[2] == 0x2F && u[3] == 0xFD)
    return FileKind::kReferences;
  for (size_t i = 0; i < n; ++i) {
    if (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n') continue;
    return head[i] == '{' ? FileKind::kReferences : FileKind::kList;
  }
  return FileKind::kList;  // empty: an empty list, reported below
}

Status ZipEntries(const std::string& path, std::vector<ReferenceSource>* out) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (!z) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    Status st = InvalidArgument(path + ": not a readable zip archive (" + zip_error_strerror(&ze) + ")");
    zip_error_fini(&ze);
    return st;
  }
  size_t before = out->size();
  zip_int64_t n = zip_get_num_entries(z, 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(z, static_cast<zip_uint64_t>(i), 0);
    if (name && IsReferenceName(name) && !std::string_view(name).ends_with("/"))
      out->push_back(ReferenceSource{path, name});
  }
  zip_close(z);
  if (out->size() == before)
    return InvalidArgument(path + ": the zip archive holds no reference files (*.json, *.json.gz, *.json.zst)");
  return Status::Ok();
}

Status ListEntries(const std::string& path, std::vector<ReferenceSource>* out) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": " + std::strerror(errno));
  std::string dir = DirName(path), line;
  size_t before = out->size(), lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    if (IsRemoteUrl(line.substr(start))) {  // a remote file, scanned when loaded
      out->push_back(ReferenceSource{line.substr(start), ""});
      continue;
    }
    std::string file = AbsoluteIn(dir, line.substr(start));
    struct stat sb;
    if (::stat(file.c_str(), &sb) != 0)
      return NotFound(path + ":" + std::to_string(lineno) + ": " + file + ": " + std::strerror(errno));
    if (!S_ISREG(sb.st_mode))
      return InvalidArgument(path + ":" + std::to_string(lineno) + ": " + file + ": not a regular file");
    out->push_back(ReferenceSource{file, ""});
  }
  if (out->size() == before) return InvalidArgument(path + ": lists no reference files");
  return Status::Ok();
}

Status DirectoryEntries(const std::string& path, std::vector<ReferenceSource>* out) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return NotFound(path + ": " + std::strerror(errno));
  // Reference files; failing them, NetCDF and HDF5 files (scanned).
  std::vector<std::string> names, scan_names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.starts_with(".") || !(IsReferenceName(name) || IsScanName(name))) continue;
    struct stat sb;
    if (::stat((path + "/" + name).c_str(), &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    (IsReferenceName(name) ? names : scan_names).push_back(name);
  }
  ::closedir(d);
  if (names.empty()) names = std::move(scan_names);
  if (names.empty())
    return InvalidArgument(path + ": the directory holds no reference files (*.json, *.json.gz, *.json.zst)"
                           " nor NetCDF/HDF5 files (*.nc, *.nc4, *.h5, *.hdf5, *.he5, *.cdf, *.netcdf)");
  std::sort(names.begin(), names.end());
  for (const auto& name : names) out->push_back(ReferenceSource{path + "/" + name, ""});
  return Status::Ok();
}

Status FileEntries(const std::string& path, std::vector<ReferenceSource>* out) {
  ZM_ASSIGN_OR_RETURN(FileKind kind, Sniff(path));
  switch (kind) {
    case FileKind::kZip: return ZipEntries(path, out);
    case FileKind::kList: return ListEntries(path, out);
    case FileKind::kReferences:
    case FileKind::kScan: out->push_back(ReferenceSource{path, ""}); return Status::Ok();
  }
  return Status::Ok();
}

// One zip entry, inflated by libzip (and then by gzip/zstd if it is a
// compressed reference file), at most `max_bytes`.
Result<std::string> ReadZipEntry(zip_t* z, const ReferenceSource& src, uint64_t max_bytes) {
  zip_stat_t st;
  zip_int64_t i = zip_name_locate(z, src.zip_entry.c_str(), 0);
  if (i < 0 || zip_stat_index(z, static_cast<zip_uint64_t>(i), 0, &st) != 0)
    return NotFound("no such entry in the archive");
  if ((st.valid & ZIP_STAT_SIZE) && st.size > max_bytes)
    return InvalidArgument("larger than " + FormatSize(max_bytes) + "; refusing");
  zip_file_t* f = zip_fopen_index(z, static_cast<zip_uint64_t>(i), 0);
  if (!f) return IoError(zip_strerror(z));
  std::string data;
  char buf[1 << 16];
  while (true) {
    zip_int64_t r = zip_fread(f, buf, sizeof buf);
    if (r < 0) {
      Status s = IoError(zip_file_strerror(f));
      zip_fclose(f);
      return s;
    }
    if (r == 0) break;
    data.append(buf, static_cast<size_t>(r));
    if (data.size() > max_bytes) {
      zip_fclose(f);
      return InvalidArgument("larger than " + FormatSize(max_bytes) + "; refusing");
    }
  }
  zip_fclose(f);
  return DecompressIfNeeded(std::move(data), max_bytes);
}

}  // namespace

Result<std::vector<ReferenceSource>> ExpandSources(const std::vector<std::string>& args,
                                                   Origin* origin) {
  std::vector<ReferenceSource> out;
  const std::string cwd = Cwd();
  for (const std::string& arg : args) {
    if (IsObjectGlob(arg)) {
      if (!origin) return InvalidArgument(arg + ": a bucket glob cannot be listed here");
      ZM_ASSIGN_OR_RETURN(std::vector<std::string> urls, ExpandObjectGlob(origin, arg));
      for (std::string& url : urls) out.push_back(ReferenceSource{std::move(url), ""});
      continue;
    }
    // A URL with a NetCDF/HDF5 name is one input, scanned when loaded; the
    // scan tells whether it is one.
    if (IsRemoteUrl(arg) && IsScanName(std::string_view(arg).substr(0, arg.find('?')))) {
      out.push_back(ReferenceSource{arg, ""});
      continue;
    }
    std::string path = AbsoluteIn(cwd, arg);
    struct stat sb;
    if (::stat(path.c_str(), &sb) == 0) {
      if (S_ISDIR(sb.st_mode) && IsParquetReferenceDir(path)) {
        out.push_back(ReferenceSource{path, ""});
      } else if (S_ISDIR(sb.st_mode)) {
        ZM_RETURN_IF_ERROR(DirectoryEntries(path, &out));
      } else if (S_ISREG(sb.st_mode)) {
        ZM_RETURN_IF_ERROR(FileEntries(path, &out));
      } else {
        return InvalidArgument(arg + ": not a regular file or directory");
      }
      continue;
    }
    int stat_errno = errno;
    if (arg.find_first_of("*?[") == std::string::npos)
      return NotFound(arg + ": " + std::strerror(stat_errno));
    glob_t g{};
    int rc = ::glob(path.c_str(), 0, nullptr, &g);
    std::vector<std::string> matches;
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
    size_t before = out.size();
    for (const std::string& m : matches) {
      if (::stat(m.c_str(), &sb) == 0 && S_ISREG(sb.st_mode)) out.push_back(ReferenceSource{m, ""});
    }
    if (out.size() == before) return NotFound(arg + ": no file matches");
  }
  return out;
}

namespace {

// A NetCDF/HDF5 input: a URL by its name (not read to decide), a local file
// by its name or else its first bytes.
bool IsScannableInput(const ReferenceSource& in) {
  if (!in.zip_entry.empty()) return false;
  if (IsRemoteUrl(in.path)) return IsScanName(std::string_view(in.path).substr(0, in.path.find('?')));
  return IsScanName(in.path) || IsScannableFile(in.path);
}

}  // namespace

std::string CollectionEntryName(const ReferenceSource& input) {
  std::string_view p = input.path;
  if (IsRemoteUrl(input.path)) p = p.substr(0, p.find_first_of("?#"));
  return std::string(p.substr(p.rfind('/') + 1));
}

Result<std::vector<ReferenceSource>> ExpandFileCollection(const std::vector<std::string>& args,
                                                          Origin* origin) {
  const bool several = args.size() > 1;
  const std::string several_error = "expected SOURCE and MOUNTPOINT; several SOURCEs need --concat DIM "
                                    "unless every one is a NetCDF/HDF5 file (see --help)";
  if (args.empty()) return std::vector<ReferenceSource>{};
  // One URL is one input (a bucket glob excepted): not read to decide.
  if (!several && IsRemoteUrl(args[0]) && !IsObjectGlob(args[0])) return std::vector<ReferenceSource>{};
  auto expanded = ExpandSources(args, origin);
  if (!expanded.ok()) {
    // One argument that does not expand is left to the loaders, whose
    // errors say what it is not; several must be a collection.
    if (several) return expanded.status();
    return std::vector<ReferenceSource>{};
  }
  std::vector<ReferenceSource> inputs = std::move(expanded).value();
  const bool all_scannable = !inputs.empty() && std::all_of(inputs.begin(), inputs.end(), IsScannableInput);
  if (!all_scannable) {
    if (several) return InvalidArgument(several_error);
    return std::vector<ReferenceSource>{};
  }
  // One file named by itself is mounted as that file, not as a collection.
  if (!several && inputs.size() == 1 && !IsObjectGlob(args[0]) &&
      args[0].find_first_of("*?[") == std::string::npos) {
    struct stat sb;
    const std::string path = AbsoluteIn(Cwd(), args[0]);
    if (::stat(path.c_str(), &sb) == 0 && S_ISREG(sb.st_mode) && inputs[0].path == path)
      return std::vector<ReferenceSource>{};
  }
  std::map<std::string, const ReferenceSource*> names;
  for (const ReferenceSource& in : inputs) {
    const std::string name = CollectionEntryName(in);
    if (name.empty() || name == "." || name == "..")
      return InvalidArgument(in.path + ": no file name to mount it under");
    auto [it, fresh] = names.emplace(name, &in);
    if (!fresh)
      return InvalidArgument("two files are named '" + name + "' (" + it->second->path + " and " + in.path +
                             "): a collection mounts each file under its name; mount them separately");
  }
  return inputs;
}

std::vector<std::string> SourceDirectories(const std::vector<ReferenceSource>& inputs) {
  std::set<std::string> dirs;
  std::string last;
  for (const auto& in : inputs) {
    if (IsRemoteUrl(in.path)) continue;
    std::string dir = DirName(in.path);
    if (dir == last) continue;  // most inputs share a directory: skip realpath
    last = dir;
    char real[PATH_MAX];
    dirs.insert(::realpath(dir.c_str(), real) ? real : dir);
  }
  return {dirs.begin(), dirs.end()};
}

Status ForEachInput(const std::vector<ReferenceSource>& inputs, const ReferenceLoadOptions& options,
                    const std::function<Status(const std::string& name, const ReferenceIndex&)>& fn,
                    const InputScanner& scanner) {
  // Consecutive entries of one archive share one open archive.
  struct ZipCloser {
    void operator()(zip_t* z) const { zip_discard(z); }
  };
  std::unique_ptr<zip_t, ZipCloser> zip;
  std::string zip_path;
  for (const ReferenceSource& src : inputs) {
    Result<ReferenceIndex> idx = InvalidArgument("unreachable");
    if (src.zip_entry.empty() && IsParquetReferenceDir(src.path)) {
      idx = LoadParquetReferenceDir(src.path, options);
    } else if (src.zip_entry.empty() && scanner && (IsRemoteUrl(src.path) || IsScannableFile(src.path))) {
      idx = scanner(src.path);
    } else if (src.zip_entry.empty()) {
      idx = LoadReferenceFile(src.path, options);
    } else {
      if (!zip || zip_path != src.path) {
        int err = 0;
        zip.reset(zip_open(src.path.c_str(), ZIP_RDONLY, &err));
        zip_path = src.path;
        if (!zip) return InvalidArgument(src.path + ": not a readable zip archive");
      }
      auto data = ReadZipEntry(zip.get(), src, options.max_decompressed_bytes);
      if (!data.ok()) return data.status().WithContext(src.name());
      std::string base = DirName(src.path) + "/";
      idx = ParseReferences(*data, base, options);
      if (!idx.ok()) return idx.status().WithContext(src.name());
    }
    if (!idx.ok()) return idx.status();
    ZM_RETURN_IF_ERROR(fn(src.name(), *idx));
  }
  return Status::Ok();
}

Result<ReferenceIndex> LoadAggregation(const std::vector<ReferenceSource>& inputs,
                                       const AggregateOptions& aggregate,
                                       const ReferenceLoadOptions& load, ReadThroughCache* cache,
                                       const InputScanner& scanner) {
  // A scanned remote file's coordinate chunks are read with the whole file
  // as the region, as its scan read it: the same cache blocks, no request
  // more.
  std::set<std::string> scanned;
  InputScanner noting = nullptr;
  if (scanner)
    noting = [&](const std::string& path) {
      if (IsRemoteUrl(path)) scanned.insert(path);
      return scanner(path);
    };
  Aggregator agg(aggregate, [cache, &scanned](const std::string& url, uint64_t offset,
                                              uint64_t size) -> Result<std::string> {
    if (size == ReferenceIndex::kUnknownSize) {  // a whole object, read whole next
      ZM_ASSIGN_OR_RETURN(Origin::ObjectInfo info, cache->ObjectForReading(url));
      size = info.size;
      offset = 0;
    }
    if (scanned.count(url)) {
      ZM_ASSIGN_OR_RETURN(uint64_t object_size, cache->Size(url));
      return cache->Read(url, ByteRange{0, object_size}, offset, size);
    }
    return cache->Read(url, ByteRange{offset, size}, 0, size);
  });
  ZM_RETURN_IF_ERROR(ForEachInput(inputs, load, [&](const std::string& name, const ReferenceIndex& idx) {
    return agg.Add(name, idx);
  }, noting));
  return agg.Finish();
}

}  // namespace zm
