#include "views/array_region.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "zarr/chunk_grid.h"

namespace zm {

ArrayRegion::ArrayRegion(std::vector<uint64_t> shape, std::vector<uint64_t> chunks,
                         uint32_t elem_size)
    : shape_(std::move(shape)), chunks_(std::move(chunks)), elem_size_(elem_size) {
  if (shape_.empty()) {  // a scalar: one element in one chunk
    shape_ = {1};
    chunks_ = {1};
  }
  const size_t nd = shape_.size();
  grid_ = GridShape(shape_, chunks_);
  grid_stride_.assign(nd, 1);
  chunk_stride_.assign(nd, 1);
  uint64_t elements = 1;
  for (size_t d = 0; d < nd; ++d) elements *= shape_[d];
  nbytes_ = elements * elem_size_;
  for (size_t d = nd; d-- > 1;) {
    grid_stride_[d - 1] = grid_stride_[d] * grid_[d];
    chunk_stride_[d - 1] = chunk_stride_[d] * chunks_[d];
  }
  chunk_count_ = grid_stride_[0] * grid_[0];
  // Rows of a chunk are adjacent in the image as long as the chunk spans
  // every later dimension exactly: then a run may cover many rows.
  run_dim_ = nd - 1;
  while (run_dim_ > 0 && chunks_[run_dim_] == shape_[run_dim_]) --run_dim_;
  trailing_ = 1;
  for (size_t d = run_dim_ + 1; d < nd; ++d) trailing_ *= shape_[d];
}

void ArrayRegion::ForEachRun(uint64_t pos, uint64_t len,
                             const std::function<bool(const Run&)>& fn) const {
  if (len == 0 || nbytes_ == 0) return;
  const uint64_t es = elem_size_, end = pos + len;
  uint64_t e = pos / es;
  const uint64_t e_end = (end + es - 1) / es;
  const size_t nd = shape_.size();
  uint64_t idx[64];  // Zarr arrays have far fewer dimensions
  while (e < e_end) {
    uint64_t rem = e;
    for (size_t d = nd; d-- > 0;) {
      idx[d] = rem % shape_[d];
      rem /= shape_[d];
    }
    uint64_t chunk = 0, within = 0;
    for (size_t d = 0; d < nd; ++d) {
      chunk += idx[d] / chunks_[d] * grid_stride_[d];
      within += idx[d] % chunks_[d] * chunk_stride_[d];
    }
    const uint64_t k = run_dim_;
    const uint64_t lim = std::min((idx[k] / chunks_[k] + 1) * chunks_[k], shape_[k]);
    const uint64_t run = (lim - idx[k]) * trailing_ - e % trailing_;
    const uint64_t n = std::min(run, e_end - e);
    const uint64_t start = std::max(e * es, pos), stop = std::min((e + n) * es, end);
    if (!fn(Run{chunk, within * es + (start - e * es), start - pos, stop - start})) return;
    e += n;
  }
}

std::vector<uint64_t> ArrayRegion::ChunksIn(uint64_t pos, uint64_t len, size_t max) const {
  std::vector<uint64_t> out;
  std::unordered_set<uint64_t> seen;
  ForEachRun(pos, len, [&](const Run& r) {
    if (seen.insert(r.chunk).second) out.push_back(r.chunk);
    return out.size() < max;
  });
  return out;
}

namespace {

template <typename T, T (*Swap)(T)>
void SwapWhole(const char* src, uint64_t count, char* out) {
  for (uint64_t i = 0; i < count; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    v = Swap(v);
    std::memcpy(out + i * sizeof(T), &v, sizeof(T));
  }
}
uint16_t Bswap16(uint16_t v) { return __builtin_bswap16(v); }
uint32_t Bswap32(uint32_t v) { return __builtin_bswap32(v); }
uint64_t Bswap64(uint64_t v) { return __builtin_bswap64(v); }

}  // namespace

void SwapCopy(const char* src, uint64_t phase, uint64_t n, uint32_t elem, char* out) {
  if (elem <= 1) {
    std::memcpy(out, src, n);
    return;
  }
  const char* e = src - phase;
  char tmp[64];
  auto reversed = [&](const char* p) {
    for (uint32_t i = 0; i < elem; ++i) tmp[i] = p[elem - 1 - i];
  };
  if (phase) {  // the tail of an element
    reversed(e);
    uint64_t take = std::min<uint64_t>(elem - phase, n);
    std::memcpy(out, tmp + phase, take);
    out += take;
    n -= take;
    e += elem;
  }
  const uint64_t whole = n / elem;
  switch (elem) {
    case 2: SwapWhole<uint16_t, Bswap16>(e, whole, out); break;
    case 4: SwapWhole<uint32_t, Bswap32>(e, whole, out); break;
    case 8: SwapWhole<uint64_t, Bswap64>(e, whole, out); break;
    default:
      for (uint64_t i = 0; i < whole; ++i) {
        reversed(e + i * elem);
        std::memcpy(out + i * elem, tmp, elem);
      }
  }
  e += whole * elem;
  out += whole * elem;
  n -= whole * elem;
  if (n) {  // the head of an element
    reversed(e);
    std::memcpy(out, tmp, n);
  }
}

Status CopyRegion(const ArrayRegion& region, uint64_t pos, uint64_t len, bool swap, char* out,
                  const std::function<Result<Block>(uint64_t chunk)>& chunk) {
  Status status;
  uint64_t have_id = ~uint64_t{0};
  Block have;  // consecutive runs mostly come from the same chunk
  const uint32_t es = region.elem_size();
  region.ForEachRun(pos, len, [&](const ArrayRegion::Run& r) {
    if (r.chunk != have_id || !have) {
      auto c = chunk(r.chunk);
      if (!c.ok()) {
        status = c.status();
        return false;
      }
      have = std::move(c).value();
      have_id = r.chunk;
    }
    const char* src = have->data() + r.chunk_off;
    if (swap)
      SwapCopy(src, (pos + r.out_off) % es, r.size, es, out + r.out_off);
    else
      std::memcpy(out + r.out_off, src, r.size);
    return true;
  });
  return status;
}

}  // namespace zm
