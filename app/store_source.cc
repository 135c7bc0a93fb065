#include "app/store_source.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "app/stack.h"
#include "base/log.h"
#include "io/cloud.h"
#include "io/object_listing.h"
#include "refs/zarr_store.h"

namespace zm {

namespace {

// The largest metadata document read at the root (consolidated metadata
// of very large stores runs to tens of MB).
constexpr uint64_t kMaxRootDocumentBytes = 512ull << 20;

std::string LocalPath(const std::string& source) {
  std::string p = source.starts_with("file://") ? source.substr(7) : source;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string RemoteRoot(const std::string& source) {
  std::string r = source;
  while (!r.empty() && r.back() == '/') r.pop_back();
  return r;
}

bool IsDirectory(const std::string& path) {
  struct stat sb {};
  return ::stat(path.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode);
}

// A document at the root of a local store: nullopt when absent.
Result<std::optional<std::string>> ReadLocalDocument(const std::string& dir, std::string_view name) {
  const std::string path = dir + "/" + std::string(name);
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0 || !S_ISREG(sb.st_mode)) return std::optional<std::string>();
  if (static_cast<uint64_t>(sb.st_size) > kMaxRootDocumentBytes)
    return InvalidArgument(path + ": metadata larger than 512 MiB; refusing");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) return IoError(path + ": cannot read");
  return std::optional<std::string>(ss.str());
}

// A document at the root of a remote store: nullopt when not found.
Result<std::optional<std::string>> ReadRemoteDocument(Origin* origin, const std::string& root,
                                                      std::string_view name) {
  const std::string url = root + "/" + std::string(name);
  auto info = origin->Stat(url);
  if (!info.ok()) {
    if (info.status().code() == Code::kNotFound) return std::optional<std::string>();
    return info.status();
  }
  if (info->size > kMaxRootDocumentBytes)
    return InvalidArgument(RedactUrl(url) + ": metadata larger than 512 MiB; refusing");
  ZM_ASSIGN_OR_RETURN(std::string text, origin->Read(url, ByteRange{0, info->size}));
  return std::optional<std::string>(std::move(text));
}

// Whether a URL is worth probing for a store's root metadata (several
// requests): it ends with '/', or its last component ends with ".zarr" or
// has no extension at all. Reference files and catalogs (refs.json.gz,
// catalog.yaml) are not probed.
bool MayBeRemoteStore(const std::string& source) {
  std::string path = source.substr(0, source.find('?'));
  if (path.ends_with("/")) return true;
  const std::string last = path.substr(path.rfind('/') + 1);
  return last.ends_with(".zarr") || last.find('.') == std::string::npos;
}

// Every regular file under `dir`, keys relative to `root`; hidden
// directories and files are kept (".zarray" is one).
Status WalkLocal(const std::string& root, const std::string& rel, std::vector<StoreObject>* out) {
  const std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return IoError(dir + ": cannot list: " + std::strerror(errno));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    const std::string key = rel.empty() ? n : rel + "/" + n;
    struct stat sb {};
    if (::stat((root + "/" + key).c_str(), &sb) != 0) continue;  // vanished or a dangling link
    if (S_ISDIR(sb.st_mode)) {
      ZM_RETURN_IF_ERROR(WalkLocal(root, key, out));
    } else if (S_ISREG(sb.st_mode)) {
      out->push_back(StoreObject{key, static_cast<uint64_t>(sb.st_size)});
    }
  }
  return Status::Ok();
}

// A local store is listed, so its metadata documents are read as the files
// they are (consolidated metadata, minified, would not show them byte for
// byte) and `kind` only told it is a store.
Result<ReferenceIndex> LoadLocalStore(const std::string& dir) {
  std::vector<StoreObject> objects;
  ZM_RETURN_IF_ERROR(WalkLocal(dir, "", &objects));
  return BuildStoreIndex(dir, {}, objects);
}

// The largest directory listing page read, and the most entries a listed
// store may have.
constexpr uint64_t kMaxListingBytes = 64ull << 20;
constexpr size_t kMaxListedObjects = 10'000'000;
// Bounds on a directory tree a server describes: its pages and how deep a
// path goes (a server linking a directory into itself must not loop us).
constexpr size_t kMaxListingPages = 1'000'000;
constexpr size_t kMaxListedPathBytes = 4096;

// One directory of a listed store: its files' and subdirectories' names.
struct ListedDir {
  std::vector<std::string> files;
  std::vector<std::string> subdirs;  // with a trailing '/'
};

// Every directory under `root` by its web server's HTML directory index,
// keyed by path ("" for the root, "a/b/" below it). A page that cannot be
// fetched fails the whole listing, naming it.
Result<std::map<std::string, ListedDir>> ListHttpDirectories(const std::string& root, Origin* origin) {
  std::map<std::string, ListedDir> out;
  std::vector<std::string> todo = {""};
  size_t objects = 0;
  while (!todo.empty()) {
    const std::string rel = std::move(todo.back());
    todo.pop_back();
    if (out.size() >= kMaxListingPages || rel.size() > kMaxListedPathBytes)
      return InvalidArgument("the listing goes on past " + std::to_string(out.size()) +
                             " directory pages, at '" + rel.substr(0, 200) + "'; refusing");
    auto page = origin->Fetch(root + "/" + rel, kMaxListingBytes);
    if (!page.ok())
      return page.status().WithContext(
          "no consolidated metadata, and listing the store failed after " +
          std::to_string(out.size()) + " directory pages, at '" +
          (rel.empty() ? std::string("/") : rel) + "'");
    ListedDir& dir = out[rel];
    for (std::string& name : ParseIndexLinks(*page)) {
      if (name.ends_with("/")) {
        todo.push_back(rel + name);
        dir.subdirs.push_back(std::move(name));
      } else if (++objects > kMaxListedObjects) {
        return InvalidArgument("the listing names more than " + std::to_string(kMaxListedObjects) +
                               " objects; refusing");
      } else {
        dir.files.push_back(std::move(name));
      }
    }
  }
  return out;
}

// Zarr v2's metadata names begin with '.', and some servers leave such
// files out of their listings (nginx's autoindex does): in the directories
// of the store's groups and arrays, those not listed are asked for (HEAD;
// not found: absent), from the root down through groups (an array's
// subdirectories hold chunks).
Status AddHiddenMetadata(const std::string& root, Origin* origin,
                         std::map<std::string, ListedDir>* dirs, std::vector<StoreObject>* out) {
  std::vector<std::string> todo = {""};
  while (!todo.empty()) {
    const std::string rel = std::move(todo.back());
    todo.pop_back();
    ListedDir& dir = (*dirs)[rel];
    bool group = false, array = false;
    for (const char* name : {".zgroup", ".zarray", ".zattrs"}) {
      bool listed = std::find(dir.files.begin(), dir.files.end(), name) != dir.files.end();
      if (!listed) {
        auto info = origin->Stat(root + "/" + rel + name);
        if (!info.ok()) {
          if (info.status().code() == Code::kNotFound) continue;
          return info.status().WithContext("metadata of '" + (rel.empty() ? "/" : rel) + "'");
        }
        out->push_back(StoreObject{rel + name, info->size});
      }
      group |= std::string_view(name) == ".zgroup";
      array |= std::string_view(name) == ".zarray";
    }
    if (group && !array)
      for (const std::string& sub : dir.subdirs) todo.push_back(rel + sub);
  }
  return Status::Ok();
}

// Every object of the store at `root` (no consolidated metadata) by its
// web server's directory listings; sizes are learned on first use, but for
// metadata a listing hid.
Result<std::vector<StoreObject>> ListHttpStore(const std::string& root, Origin* origin) {
  ZM_ASSIGN_OR_RETURN(auto dirs, ListHttpDirectories(root, origin));
  std::vector<StoreObject> out;
  bool v3 = false;
  for (const auto& [rel, dir] : dirs)
    for (const std::string& name : dir.files) {
      out.push_back(StoreObject{rel + name, ReferenceIndex::kUnknownSize});
      v3 |= rel.empty() && name == "zarr.json";
    }
  if (!v3) ZM_RETURN_IF_ERROR(AddHiddenMetadata(root, origin, &dirs, &out));
  LogInfo(RedactUrl(root) + ": listed " + std::to_string(out.size()) + " objects in " +
          std::to_string(dirs.size()) + " directory pages, sized on first use");
  return out;
}

// Every object under the store at `root` ("s3://BUCKET/PREFIX" or
// "gs://BUCKET/PREFIX") by the bucket's listing, with its size, keys
// relative to the root.
Result<std::vector<StoreObject>> ListBucketStore(const std::string& root, Origin* origin) {
  const size_t slash = root.find('/', 5);  // after "s3://" or "gs://"
  const std::string key_prefix = slash == std::string::npos ? "" : root.substr(slash + 1) + "/";
  ListingLimits limits;
  limits.max_page_bytes = kMaxListingBytes;
  limits.max_objects = kMaxListedObjects;
  auto listed = ListObjects(origin, root + "/", limits);
  if (!listed.ok()) return listed.status().WithContext("no consolidated metadata");
  std::vector<StoreObject> out;
  out.reserve(listed->size());
  for (ListedObject& o : *listed) out.push_back(StoreObject{o.key.substr(key_prefix.size()), o.size});
  LogInfo(RedactUrl(root) + ": listed " + std::to_string(out.size()) + " objects");
  return out;
}

Result<ReferenceIndex> LoadRemoteStore(const std::string& root, StoreRoot kind, Origin* origin) {
  if (kind != StoreRoot::kConsolidatedV2 && kind != StoreRoot::kConsolidatedV3) {
    std::vector<StoreObject> listed;
    if (root.starts_with("http://") || root.starts_with("https://")) {
      ZM_ASSIGN_OR_RETURN(listed, ListHttpStore(root, origin));
    } else if (root.starts_with("s3://") || root.starts_with("gs://")) {
      ZM_ASSIGN_OR_RETURN(listed, ListBucketStore(root, origin));
    } else {
      return InvalidArgument(
          "the store has no consolidated metadata (.zmetadata, or consolidated_metadata in "
          "zarr.json), and a store at " + RedactUrl(root) + " cannot be listed");
    }
    return BuildStoreIndex(root, {}, listed);
  }
  ZM_ASSIGN_OR_RETURN(auto text, ReadRemoteDocument(origin, root, kind == StoreRoot::kConsolidatedV2
                                                                      ? ".zmetadata" : "zarr.json"));
  if (!text) return NotFound("the consolidated metadata vanished while being read");
  ZM_ASSIGN_OR_RETURN(ConsolidatedStore consolidated, ReadConsolidated(kind, *text));
  // Readers of the mount find the consolidated metadata where they look.
  if (kind == StoreRoot::kConsolidatedV2) consolidated.documents.emplace_back(".zmetadata", *text);
  // Chunk keys are sized, or found missing, when first used: a mount of
  // 100,000 chunks costs no request per chunk.
  std::vector<StoreObject> objects;
  objects.reserve(consolidated.chunk_keys.size());
  for (std::string& key : consolidated.chunk_keys)
    objects.push_back(StoreObject{std::move(key), ReferenceIndex::kUnknownSize});
  LogInfo(RedactUrl(root) + ": " + std::to_string(objects.size()) +
          " chunk keys from the consolidated metadata, sized on first use");
  return BuildStoreIndex(root, consolidated.documents, objects);
}

}  // namespace

bool IsZarrStoreSource(const std::string& source, const std::string& format, Origin* origin) {
  if (format == "zarr") return true;
  if (format == "references") return false;
  if (!IsRemoteSource(source)) {
    const std::string dir = LocalPath(source);
    if (!IsDirectory(dir)) return false;
    auto kind = ClassifyStoreRoot([&](std::string_view n) { return ReadLocalDocument(dir, n); });
    return kind.ok() && *kind != StoreRoot::kNone;
  }
  if (!MayBeRemoteStore(source)) return false;
  const std::string root = RemoteRoot(source);
  auto kind = ClassifyStoreRoot([&](std::string_view n) { return ReadRemoteDocument(origin, root, n); });
  return kind.ok() && *kind != StoreRoot::kNone;
}

Result<ReferenceIndex> LoadZarrStore(const std::string& source, Origin* origin) {
  const std::string shown = RedactUrl(source);
  const bool remote = IsRemoteSource(source);
  const std::string root = remote ? RemoteRoot(source) : LocalPath(source);
  if (!remote && !IsDirectory(root)) return InvalidArgument(shown + ": not a directory (a Zarr store)");
  auto kind = ClassifyStoreRoot([&](std::string_view n) {
    return remote ? ReadRemoteDocument(origin, root, n) : ReadLocalDocument(root, n);
  });
  if (!kind.ok()) return kind.status().WithContext(shown);
  if (*kind == StoreRoot::kNone)
    return InvalidArgument(shown + ": not a Zarr store (no .zmetadata, zarr.json, .zgroup or "
                           ".zarray at its root)");
  auto index = remote ? LoadRemoteStore(root, *kind, origin)
                      : LoadLocalStore(root);
  if (!index.ok()) return index.status().WithContext(shown);
  return index;
}

}  // namespace zm
