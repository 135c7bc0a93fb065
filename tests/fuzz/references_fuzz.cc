// ParseReferences on arbitrary bytes. When a reference set is accepted, the
// whole index is walked and every name must lead back to its entry.
#include <cstdint>

#include "refs/reference_loader.h"
#include "tests/fuzz/fuzz_util.h"

using zm::fuzz::Check;

namespace {

void Walk(const zm::ReferenceIndex& idx) {
  using Index = zm::ReferenceIndex;
  Check(idx.dir_count() >= 1);
  uint64_t files = 0;
  for (Index::DirId d = 0; d < idx.dir_count(); ++d) {
    std::string path = idx.DirPath(d);
    if (d == Index::kRootDir) {
      Check(path.empty());
    } else {
      Check(zm::ReferenceIndexBuilder::ValidateKey(path).ok());
      Check(idx.FindDir(idx.dir_parent(d), idx.dir_name(d)) == d);
    }
    for (Index::DirId s : idx.subdirs(d)) Check(s < idx.dir_count() && idx.dir_parent(s) == d);
    for (Index::FileId f = idx.first_file(d); f < idx.first_file(d) + idx.file_count(d); ++f) {
      Check(f < idx.file_count());
      Check(idx.file_dir(f) == d);
      Check(idx.FindFile(d, idx.file_name(f)) == f);
      Check(!idx.FindDir(d, idx.file_name(f)));  // never both a file and a directory
    }
    files += idx.file_count(d);
  }
  Check(files == idx.file_count());
  for (Index::FileId f = 0; f < idx.file_count(); ++f) {
    std::string key = idx.FileKey(f);
    Check(zm::ReferenceIndexBuilder::ValidateKey(key).ok());
    Check(idx.FindKey(key) == f);
    Index::Target t = idx.target(f);
    if (t.is_inline()) {
      Check(idx.inline_data(f).size() == t.size);
    } else {
      Check(t.url_id < idx.url_count() && !idx.url(t.url_id).empty());
      Check(t.size == Index::kUnknownSize || t.offset + t.size <= (uint64_t{1} << 50));
    }
  }
  for (Index::FileId f : idx.UnsizedFiles()) Check(idx.target(f).size == Index::kUnknownSize);
  Check(idx.MemoryUsage() > 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  zm::ReferenceLoadOptions options;
  options.max_generated_keys = 10'000;  // bounded work per input
  auto r = zm::ParseReferences(zm::fuzz::AsText(data, size), "/base/", options);
  if (!r.ok()) {
    const std::string& m = r.status().message();
    Check(r.status().code() == zm::Code::kInvalidArgument);
    Check(!m.empty() && m.find('\n') == std::string::npos);  // one line
    return 0;
  }
  Walk(*r);
  return 0;
}
