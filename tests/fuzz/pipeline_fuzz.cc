// The whole decode path of a chunk: array metadata (a .zarray or a v3
// zarr.json) and the stored bytes of one chunk, as one input: two bytes of
// little-endian metadata length, the metadata, then the stored chunk.
// Whatever the input, parsing fails with kInvalidArgument or yields a spec;
// Make fails cleanly or yields a decoder; decoding yields exactly
// chunk_bytes() bytes or fails as corrupt; never a crash, leak or bomb.
#include <cstdint>
#include <string>

#include "base/units.h"
#include "codecs/pipeline.h"
#include "zarr/metadata.h"
#include "tests/fuzz/fuzz_util.h"

using zm::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zm;
  if (size < 2) return 0;
  size_t meta_len = std::min<size_t>(size - 2, data[0] | size_t(data[1]) << 8);
  std::string_view meta = fuzz::AsText(data + 2, meta_len);
  std::string_view stored = fuzz::AsText(data + 2 + meta_len, size - 2 - meta_len);

  const bool v3 = meta.find("\"node_type\"") != std::string_view::npos;
  auto m = v3 ? ParseZarrV3Array(meta) : ParseZarrArray(meta);
  if (!m.ok()) {
    Check(m.status().code() == Code::kInvalidArgument);
    Check(m.status().message().find('\n') == std::string::npos);
    return 0;
  }
  Check(m->shape.size() == m->chunks.size());
  // Big chunks are legal but make slow fuzzing: the limit logic is the
  // same at 1 MiB.
  const ChunkSpec& spec = m->chunk;
  if (spec.chunk_elements() > 1_MiB || spec.chunk_bytes() > 1_MiB) return 0;
  auto d = ChunkDecoder::Make(spec);
  if (!d.ok()) {
    Code c = d.status().code();
    Check(c == Code::kUnsupported || c == Code::kInvalidArgument);
    return 0;
  }
  Check((*d)->FillChunk().size() == spec.chunk_bytes());
  auto r = (*d)->Decode(stored);
  if (r.ok()) {
    Check(r->size() == spec.chunk_bytes());
  } else {
    Check(r.status().code() == Code::kCorruption);
    Check(!r.status().message().empty() && r.status().message().find('\n') == std::string::npos);
  }
  return 0;
}
