// Writes a synthetic kerchunk Parquet reference directory of N chunks over
// F local data files, for scripts/bench_parquet_scale.py. Not installed,
// not built by default.
//
//   parquet_refs_gen OUT_DIR DATA_DIR N F [SMALL]
//
// Array "big": shape [T, 100, 100], chunks [1, 10, 10] (100 chunks a time
// step), N chunks in all, chunk i in file i * F / N at a 1000-byte slot.
// Array "small" (SMALL chunks, default 1,000,000, at most N): every other
// chunk missing, for listings. The data files are sparse (no disk used).
// Records hold 100,000 rows, zstd pages, paths dictionary encoded, as
// kerchunk writes them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "parquet/writer.h"

namespace {

using namespace zm;

constexpr uint64_t kRecordSize = 100'000;
constexpr uint64_t kSlotBytes = 1000;

std::string Zarray(uint64_t chunks) {
  const uint64_t t = (chunks + 99) / 100;
  return "{\"chunks\": [1, 10, 10], \"compressor\": null, \"dtype\": \"|u1\", \"fill_value\": 0, "
         "\"filters\": null, \"order\": \"C\", \"shape\": [" +
         std::to_string(t) + ", 100, 100], \"zarr_format\": 2}";
}

void Put(parquet::BinaryColumn* c, const std::string* v) {
  if (v) c->bytes += *v;
  c->ends.push_back(c->bytes.size());
  c->valid.push_back(v != nullptr);
}

void Int(parquet::Int64Column* c, uint64_t v) {
  c->values.push_back(static_cast<int64_t>(v));
  c->valid.push_back(1);
}

// Record files of one array; `present(i)` says whether chunk i exists.
template <typename Present>
void WriteArray(const std::string& dir, uint64_t count, uint64_t n_files, const std::string& data_dir,
                Present present) {
  ::mkdir(dir.c_str(), 0755);
  const uint64_t per_file = (count + n_files - 1) / n_files;
  for (uint64_t first = 0; first < count; first += kRecordSize) {
    parquet::BinaryColumn path, raw;
    parquet::Int64Column offset, size;
    const uint64_t end = std::min(count, first + kRecordSize);
    std::string url;
    for (uint64_t i = first; i < end; ++i) {
      if (!present(i)) {
        Put(&path, nullptr);
        Int(&offset, 0);
        Int(&size, 0);
      } else {
        const uint64_t file = i / per_file;
        url = data_dir + "/file" + std::to_string(file) + ".bin";
        Put(&path, &url);
        Int(&offset, (i % per_file) * kSlotBytes);
        Int(&size, kSlotBytes - (i % 7));
      }
      Put(&raw, nullptr);
    }
    using parquet::PhysicalType;
    using parquet::Repetition;
    auto bytes = parquet::WriteParquetFile(
        {{{"path", PhysicalType::kByteArray, Repetition::kOptional, true}, &path, nullptr, true},
         {{"offset", PhysicalType::kInt64, Repetition::kRequired, false}, nullptr, &offset, false},
         {{"size", PhysicalType::kInt64, Repetition::kRequired, false}, nullptr, &size, false},
         {{"raw", PhysicalType::kByteArray, Repetition::kOptional, false}, &raw, nullptr, false}});
    if (!bytes.ok()) {
      std::fprintf(stderr, "%s\n", bytes.status().message().c_str());
      std::exit(1);
    }
    std::ofstream(dir + "/refs." + std::to_string(first / kRecordSize) + ".parq", std::ios::binary) << *bytes;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: parquet_refs_gen OUT_DIR DATA_DIR N F [SMALL]\n");
    return 2;
  }
  const std::string out = argv[1], data = argv[2];
  // Whole time steps: the grids hold exactly the chunks written.
  auto steps = [](uint64_t c) { return (c + 99) / 100 * 100; };
  const uint64_t n = steps(std::strtoull(argv[3], nullptr, 10)), files = std::strtoull(argv[4], nullptr, 10);
  const uint64_t small = std::min<uint64_t>(n, steps(argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 1'000'000));
  ::mkdir(out.c_str(), 0755);
  ::mkdir(data.c_str(), 0755);
  const uint64_t per_file = (n + files - 1) / files;
  for (uint64_t f = 0; f < files; ++f) {
    const std::string p = data + "/file" + std::to_string(f) + ".bin";
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT, 0644);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(per_file * kSlotBytes)) != 0) {
      std::perror(p.c_str());
      return 1;
    }
    ::close(fd);
  }
  WriteArray(out + "/big", n, files, data, [](uint64_t) { return true; });
  WriteArray(out + "/small", small, files, data, [](uint64_t i) { return i % 2 == 0; });
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\\\"") : std::string(1, c);
    return q + "\"";
  };
  std::ofstream(out + "/.zmetadata")
      << "{\"metadata\": {\".zgroup\": {\"zarr_format\": 2}, \"big/.zarray\": " << quote(Zarray(n))
      << ", \"big/.zattrs\": {\"_ARRAY_DIMENSIONS\": [\"t\", \"y\", \"x\"]}, \"small/.zarray\": "
      << quote(Zarray(small)) << "}, \"record_size\": " << kRecordSize << "}\n";
  return 0;
}
