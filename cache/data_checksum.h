// The checksum cached blocks carry (disk records, shared-tier envelopes):
// XXH3, 64 bits. On x86-64 it runs with the widest vector unit the CPU has
// (libxxhash's runtime dispatch: AVX-512 or AVX2 where present, about four
// times the SSE2 code a portable build is compiled to), so checking a block
// costs a small fraction of copying it.
//
// Thread-safety: DataChecksum is a pure function; a DataChecksummer is used
// by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace zm {

uint64_t DataChecksum(std::string_view data);

// The same checksum, of data given piece by piece.
class DataChecksummer {
 public:
  DataChecksummer();
  ~DataChecksummer();
  void Update(const void* data, size_t n);
  uint64_t Digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace zm
