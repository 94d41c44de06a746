// AVX-512 matmul row kernel for GGUF block formats (ggml_blocks.h). Weights are dequantised in registers to exactly the
// float32 values of the reference (src/tensor/formats/ggml/*.ts): a group of 32 columns is unpacked to int8 codes
// (ggml_simd.h), widened to f32, times the group's scale (plus its bias, for formats with a min) — the reference's
// two roundings —, then dotted with x in f32 (one FMA per element). Per (row, token): one zmm accumulator, the two
// 16-column halves of every group in column order, then a fixed horizontal sum. T = 1 decodes straight into the
// product; T > 1 decodes groups of 4 rows once per block of tokens into a buffer and runs 4 × 4 tiles from it, with
// the same FMA sequence per (row, token), so every output has the same bits for any T, row split or thread count.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdlib>

#include "ggml_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")

#include "ggml_simd.h"

namespace mimo {
namespace {

constexpr int kPrefetchRows = 8;

template <int TY>
inline __attribute__((always_inline)) void decodeGroup(const uint8_t* row, int g, __m512& w0, __m512& w1) {
  constexpr int per = ggmlBlockElements(TY) / kGgmlGroup;
  const uint8_t* p = row + static_cast<size_t>(g / per) * ggmlBlockBytes(TY);
  const int j = g % per;
  __m128i q0, q1;
  simdCodes<TY>(p, j, q0, q1);
  float s[2], b[2];
  groupScales<HalfF16c>(TY, p, j, s, b);
  w0 = _mm512_mul_ps(_mm512_set1_ps(s[0]), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)));
  w1 = _mm512_mul_ps(_mm512_set1_ps(s[1]), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)));
  if constexpr (ggmlHasBias(TY)) {
    w0 = _mm512_add_ps(w0, _mm512_set1_ps(b[0]));
    w1 = _mm512_add_ps(w1, _mm512_set1_ps(b[1]));
  }
}

// T = 1: rows r … r+R−1, weights decoded in registers.
template <int TY, int R>
void tileT1(const MatmulArgs& a, size_t rowBytes, int r) {
  const int G = a.w.cols / kGgmlGroup;
  constexpr size_t groupBytes = ggmlBlockBytes(TY) * kGgmlGroup / ggmlBlockElements(TY);
  const uint8_t* rp[R];
  for (int i = 0; i < R; i++) rp[i] = static_cast<const uint8_t*>(a.w.data) + static_cast<size_t>(r + i) * rowBytes;
  __m512 acc[R];
  for (int i = 0; i < R; i++) acc[i] = _mm512_setzero_ps();
  for (int g = 0; g < G; g++) {
    const __m512 x0 = _mm512_loadu_ps(a.x + 32 * g), x1 = _mm512_loadu_ps(a.x + 32 * g + 16);
    // The same bytes kPrefetchRows rows down (the next group of rows): short rows defeat the hardware prefetcher.
    if ((g & 1) == 0)
      for (int i = 0; i < R; i++) _mm_prefetch(reinterpret_cast<const char*>(rp[i] + g * groupBytes + kPrefetchRows * rowBytes), _MM_HINT_T0);
    for (int i = 0; i < R; i++) {
      __m512 w0, w1;
      decodeGroup<TY>(rp[i], g, w0, w1);
      acc[i] = _mm512_fmadd_ps(w0, x0, acc[i]);
      acc[i] = _mm512_fmadd_ps(w1, x1, acc[i]);
    }
  }
  for (int i = 0; i < R; i++) a.y[r + i] = _mm512_reduce_add_ps(acc[i]);
}

// T > 1: R rows × TT tokens from decoded rows wb `[R, K]` f32, the FMA sequence of tileT1 per (row, token).
template <int R, int TT>
void tileBuf(const MatmulArgs& a, const float* wb, int r, int t0) {
  const int K = a.w.cols, N = a.w.rows;
  const float* xp[TT];
  for (int t = 0; t < TT; t++) xp[t] = a.x + static_cast<size_t>(t0 + t) * K;
  __m512 acc[R][TT];
  for (int i = 0; i < R; i++)
    for (int t = 0; t < TT; t++) acc[i][t] = _mm512_setzero_ps();
  for (int c = 0; c < K; c += 16) {
    __m512 xv[TT];
    for (int t = 0; t < TT; t++) xv[t] = _mm512_loadu_ps(xp[t] + c);
    for (int i = 0; i < R; i++) {
      const __m512 wv = _mm512_load_ps(wb + static_cast<size_t>(i) * K + c);
      for (int t = 0; t < TT; t++) acc[i][t] = _mm512_fmadd_ps(wv, xv[t], acc[i][t]);
    }
  }
  for (int i = 0; i < R; i++)
    for (int t = 0; t < TT; t++) a.y[static_cast<size_t>(t0 + t) * N + r + i] = _mm512_reduce_add_ps(acc[i][t]);
}

// A per-thread, 64-byte aligned buffer of at least n floats (kept between calls).
float* rowScratch(size_t n) {
  static thread_local float* store = nullptr;
  static thread_local size_t cap = 0;
  if (cap < n) {
    std::free(store);
    store = static_cast<float*>(std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64));
    cap = n;
  }
  return store;
}

template <int TY>
void rows(const MatmulArgs& a, int r0, int r1) {
  const int K = a.w.cols;
  const size_t rowBytes = static_cast<size_t>(K / ggmlBlockElements(TY)) * ggmlBlockBytes(TY);
  if (a.T == 1) {
    int r = r0;
    for (; r + 8 <= r1; r += 8) tileT1<TY, 8>(a, rowBytes, r);
    for (; r < r1; r++) tileT1<TY, 1>(a, rowBytes, r);
    return;
  }
  constexpr int RT = 4, TT = 4;
  float* wb = rowScratch(static_cast<size_t>(RT) * K);
  // Token blocks whose x stays in L2 (~512 KiB); the rows are decoded again per block.
  const int tokenBlock = K >= 8192 ? 16 : 32;
  for (int tb = 0; tb < a.T; tb += tokenBlock) {
    const int te = minInt(a.T, tb + tokenBlock);
    for (int r = r0; r < r1; r += RT) {
      const int n = minInt(RT, r1 - r);
      for (int i = 0; i < n; i++) {
        const uint8_t* rp = static_cast<const uint8_t*>(a.w.data) + static_cast<size_t>(r + i) * rowBytes;
        float* o = wb + static_cast<size_t>(i) * K;
        for (int g = 0; g < K / kGgmlGroup; g++) {
          __m512 w0, w1;
          decodeGroup<TY>(rp, g, w0, w1);
          _mm512_store_ps(o + 32 * g, w0);
          _mm512_store_ps(o + 32 * g + 16, w1);
        }
      }
      int t = tb;
      if (n == RT) {
        for (; t + TT <= te; t += TT) tileBuf<RT, TT>(a, wb, r, t);
        for (; t < te; t++) tileBuf<RT, 1>(a, wb, r, t);
      } else {
        for (int i = 0; i < n; i++) {
          int u = tb;
          for (; u + TT <= te; u += TT) tileBuf<1, TT>(a, wb + static_cast<size_t>(i) * K, r + i, u);
          for (; u < te; u++) tileBuf<1, 1>(a, wb + static_cast<size_t>(i) * K, r + i, u);
        }
      }
    }
  }
}

}  // namespace

void ggmlMatmulRowsAvx512(const MatmulArgs& a, int r0, int r1) {
  switch (a.w.ggmlType) {
    case kQ4_0: rows<kQ4_0>(a, r0, r1); break;
    case kQ4_1: rows<kQ4_1>(a, r0, r1); break;
    case kQ5_0: rows<kQ5_0>(a, r0, r1); break;
    case kQ5_1: rows<kQ5_1>(a, r0, r1); break;
    case kQ8_0: rows<kQ8_0>(a, r0, r1); break;
    case kQ2_K: rows<kQ2_K>(a, r0, r1); break;
    case kQ3_K: rows<kQ3_K>(a, r0, r1); break;
    case kQ4_K: rows<kQ4_K>(a, r0, r1); break;
    case kQ5_K: rows<kQ5_K>(a, r0, r1); break;
    case kQ6_K: rows<kQ6_K>(a, r0, r1); break;
    case kIQ4_NL: rows<kIQ4_NL>(a, r0, r1); break;
    case kIQ4_XS: rows<kIQ4_XS>(a, r0, r1); break;
    case kMXFP4: rows<kMXFP4>(a, r0, r1); break;
    default: break;  // rejected by the addon's argument checks
  }
}

}  // namespace mimo

#pragma GCC pop_options
