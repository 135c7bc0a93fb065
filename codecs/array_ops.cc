#include "codecs/array_ops.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace zm {
namespace {

#if defined(__SSE2__)
template <size_t ES>
size_t UnshuffleSse2(const char* in, char* out, size_t count);
#endif

// Element size known at compile time: the inner loop reads es streams in
// step and writes whole elements, which compilers turn into wide moves.
template <size_t ES>
void UnshuffleFixed(const char* in, char* out, size_t count) {
  size_t start = 0;
#if defined(__SSE2__)
  if constexpr (ES == 2 || ES == 4 || ES == 8) start = UnshuffleSse2<ES>(in, out, count);
#endif
  for (size_t i = start; i < count; ++i) {
    char e[ES];
    for (size_t j = 0; j < ES; ++j) e[j] = in[j * count + i];
    std::memcpy(out + i * ES, e, ES);
  }
}

#if defined(__SSE2__)
// 16 elements per step: ES byte planes of 16 bytes interleaved by unpack
// instructions (bytes, then 16-bit pairs, then 32-bit quads), the usual
// SSE2 transpose. Returns how many elements it did.
template <size_t ES>
size_t UnshuffleSse2(const char* in, char* out, size_t count) {
  auto ld = [&](size_t plane, size_t i) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + plane * count + i));
  };
  auto st = [&](size_t at, __m128i v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(out + at), v); };
  size_t i = 0;
  for (; i + 16 <= count; i += 16) {
    if constexpr (ES == 2) {
      __m128i a = ld(0, i), b = ld(1, i);
      st(i * 2, _mm_unpacklo_epi8(a, b));
      st(i * 2 + 16, _mm_unpackhi_epi8(a, b));
    } else if constexpr (ES == 4) {
      __m128i a = ld(0, i), b = ld(1, i), c = ld(2, i), d = ld(3, i);
      __m128i abl = _mm_unpacklo_epi8(a, b), abh = _mm_unpackhi_epi8(a, b);
      __m128i cdl = _mm_unpacklo_epi8(c, d), cdh = _mm_unpackhi_epi8(c, d);
      st(i * 4, _mm_unpacklo_epi16(abl, cdl));
      st(i * 4 + 16, _mm_unpackhi_epi16(abl, cdl));
      st(i * 4 + 32, _mm_unpacklo_epi16(abh, cdh));
      st(i * 4 + 48, _mm_unpackhi_epi16(abh, cdh));
    } else {  // 8
      __m128i x[8];
      for (size_t p = 0; p < 8; ++p) x[p] = ld(p, i);
      __m128i b[8];  // pairs of planes, low and high halves
      for (size_t p = 0; p < 4; ++p) {
        b[2 * p] = _mm_unpacklo_epi8(x[2 * p], x[2 * p + 1]);
        b[2 * p + 1] = _mm_unpackhi_epi8(x[2 * p], x[2 * p + 1]);
      }
      // q[k][h]: planes 4k..4k+3, elements 4h..4h+3 (4 bytes each).
      __m128i q[2][4];
      for (size_t k = 0; k < 2; ++k) {
        q[k][0] = _mm_unpacklo_epi16(b[4 * k], b[4 * k + 2]);
        q[k][1] = _mm_unpackhi_epi16(b[4 * k], b[4 * k + 2]);
        q[k][2] = _mm_unpacklo_epi16(b[4 * k + 1], b[4 * k + 3]);
        q[k][3] = _mm_unpackhi_epi16(b[4 * k + 1], b[4 * k + 3]);
      }
      for (size_t h = 0; h < 4; ++h) {
        st(i * 8 + h * 32, _mm_unpacklo_epi32(q[0][h], q[1][h]));
        st(i * 8 + h * 32 + 16, _mm_unpackhi_epi32(q[0][h], q[1][h]));
      }
    }
  }
  return i;
}
#endif

template <size_t ES>
void SwapFixed(char* d, size_t count) {
  for (size_t i = 0; i < count; ++i, d += ES) {
    if constexpr (ES == 2) {
      uint16_t v;
      std::memcpy(&v, d, 2);
      v = __builtin_bswap16(v);
      std::memcpy(d, &v, 2);
    } else if constexpr (ES == 4) {
      uint32_t v;
      std::memcpy(&v, d, 4);
      v = __builtin_bswap32(v);
      std::memcpy(d, &v, 4);
    } else {
      uint64_t v;
      std::memcpy(&v, d, 8);
      v = __builtin_bswap64(v);
      std::memcpy(d, &v, 8);
    }
  }
}

template <size_t ES>
inline void CopyElem(char* dst, const char* src, size_t) {
  std::memcpy(dst, src, ES);
}
inline void CopyElemN(char* dst, const char* src, size_t es) { std::memcpy(dst, src, es); }

// The permutation as an odometer over the output in C order: the innermost
// output axis runs in a tight strided loop over the input.
template <typename Copy>
void Permute(const char* in, char* out, const std::vector<uint64_t>& in_shape,
             const std::vector<size_t>& perm, size_t es, Copy copy) {
  const size_t nd = in_shape.size();
  std::vector<uint64_t> in_stride(nd);
  uint64_t s = es;
  for (size_t i = nd; i-- > 0;) {
    in_stride[i] = s;
    s *= in_shape[i];
  }
  if (s == 0) return;
  // Output axis k is input axis inv[k].
  std::vector<uint64_t> out_shape(nd), stride(nd);
  for (size_t i = 0; i < nd; ++i) {
    out_shape[perm[i]] = in_shape[i];
    stride[perm[i]] = in_stride[i];
  }
  const uint64_t inner = out_shape[nd - 1], inner_stride = stride[nd - 1];
  std::vector<uint64_t> idx(nd, 0);
  uint64_t base = 0;
  char* o = out;
  while (true) {
    const char* p = in + base;
    for (uint64_t j = 0; j < inner; ++j, p += inner_stride, o += es) copy(o, p, es);
    // Advance the outer axes.
    size_t k = nd - 1;
    while (k-- > 0) {
      base += stride[k];
      if (++idx[k] < out_shape[k]) break;
      base -= stride[k] * out_shape[k];
      idx[k] = 0;
    }
    if (k == size_t(-1)) return;
  }
}

}  // namespace

void Unshuffle(const char* in, char* out, size_t n, size_t es) {
  const size_t count = es ? n / es : 0;
  switch (es) {
    case 2: UnshuffleFixed<2>(in, out, count); break;
    case 4: UnshuffleFixed<4>(in, out, count); break;
    case 8: UnshuffleFixed<8>(in, out, count); break;
    case 16: UnshuffleFixed<16>(in, out, count); break;
    default:
      if (es <= 1) {
        std::memcpy(out, in, n);
        return;
      }
      for (size_t j = 0; j < es; ++j)
        for (size_t i = 0; i < count; ++i) out[i * es + j] = in[j * count + i];
  }
  const size_t done = count * es;
  std::memcpy(out + done, in + done, n - done);
}

void ByteSwapInPlace(char* data, size_t n, size_t es) {
  const size_t count = es ? n / es : 0;
  switch (es) {
    case 0:
    case 1: return;
    case 2: SwapFixed<2>(data, count); return;
    case 4: SwapFixed<4>(data, count); return;
    case 8: SwapFixed<8>(data, count); return;
    default:
      for (size_t i = 0; i < count; ++i) {
        char* e = data + i * es;
        for (size_t a = 0, b = es - 1; a < b; ++a, --b) std::swap(e[a], e[b]);
      }
  }
}

void PermuteAxes(const char* in, char* out, const std::vector<uint64_t>& in_shape,
                 const std::vector<size_t>& perm, size_t es) {
  if (in_shape.empty()) {
    std::memcpy(out, in, es);
    return;
  }
  switch (es) {
    case 1: Permute(in, out, in_shape, perm, es, CopyElem<1>); return;
    case 2: Permute(in, out, in_shape, perm, es, CopyElem<2>); return;
    case 4: Permute(in, out, in_shape, perm, es, CopyElem<4>); return;
    case 8: Permute(in, out, in_shape, perm, es, CopyElem<8>); return;
    case 16: Permute(in, out, in_shape, perm, es, CopyElem<16>); return;
    default: Permute(in, out, in_shape, perm, es, CopyElemN); return;
  }
}

}  // namespace zm
