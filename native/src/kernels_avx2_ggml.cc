// AVX2 + FMA + F16C matmul row kernel for GGUF block formats (ggml_blocks.h): kernels_avx512_ggml.cc with 8 lanes.
// A group of 32 columns is unpacked to int8 codes (ggml_simd.h), widened to f32 in four quarters, scaled (plus the
// bias of formats with a min: the reference's two roundings) and dotted with x (one FMA per element). Per (row,
// token): one ymm accumulator, the quarters in column order, then a fixed horizontal sum; T = 1 decodes into the
// product, T > 1 decodes 4 rows once per token block into a buffer and runs 4 × 2 tiles with the same FMA sequence.
#include <immintrin.h>

#include <cstdlib>

#include "ggml_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,ssse3,sse4.1")

#include "ggml_simd.h"

namespace mimo {
namespace {

constexpr int kPrefetchRows = 8;

inline __m256 widen(__m128i q, __m256 s) { return _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))); }

// Group j of the block at p, with the block's scales s / biases b (blockScales): four quarters of 8 columns as f32.
template <int TY>
inline __attribute__((always_inline)) void decodeGroup(const uint8_t* p, int j, const float* s, const float* b, __m256 (&w)[4]) {
  __m128i q0, q1;
  simdCodes<TY>(p, j, q0, q1);
  const __m256 s0 = _mm256_set1_ps(s[2 * j]), s1 = _mm256_set1_ps(s[2 * j + 1]);
  w[0] = widen(q0, s0);
  w[1] = widen(_mm_srli_si128(q0, 8), s0);
  w[2] = widen(q1, s1);
  w[3] = widen(_mm_srli_si128(q1, 8), s1);
  if constexpr (ggmlHasBias(TY)) {
    const __m256 b0 = _mm256_set1_ps(b[2 * j]), b1 = _mm256_set1_ps(b[2 * j + 1]);
    w[0] = _mm256_add_ps(w[0], b0);
    w[1] = _mm256_add_ps(w[1], b0);
    w[2] = _mm256_add_ps(w[2], b1);
    w[3] = _mm256_add_ps(w[3], b1);
  }
}

// 32 int8 codes v (one group) → four quarters of 8 columns, times s0 / s1 (plus b0 / b1): the values of decodeGroup.
inline __attribute__((always_inline)) void widen32(__m256i v, float s0, float s1, const float* bias, __m256 (&w)[4]) {
  const __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
  const __m256 sv0 = _mm256_set1_ps(s0), sv1 = _mm256_set1_ps(s1);
  w[0] = widen(lo, sv0);
  w[1] = widen(_mm_srli_si128(lo, 8), sv0);
  w[2] = widen(hi, sv1);
  w[3] = widen(_mm_srli_si128(hi, 8), sv1);
  if (bias) {
    const __m256 b0 = _mm256_set1_ps(bias[0]), b1 = _mm256_set1_ps(bias[1]);
    w[0] = _mm256_add_ps(w[0], b0);
    w[1] = _mm256_add_ps(w[1], b0);
    w[2] = _mm256_add_ps(w[2], b1);
    w[3] = _mm256_add_ps(w[3], b1);
  }
}

// Codes of the groups that share bytes, on 32-byte vectors: Q6_K groups 4h … 4h + 3 (q[k], 64 ql + 32 qh bytes),
// Q4_K groups 2c, 2c + 1 (q[0], q[1]: low and high nibbles of 32 qs bytes). The integers of simdCodes.
inline void q6kCodes(const uint8_t* p, int h, __m256i (&q)[4]) {
  const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * h));
  const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * h + 32));
  const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 128 + 32 * h));
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03), off = _mm256_set1_epi8(32);
  const __m256i lo[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                         _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};
  const __m256i hi[4] = {_mm256_and_si256(qh, m2), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), _mm256_and_si256(_mm256_srli_epi16(qh, 4), m2),
                         _mm256_and_si256(_mm256_srli_epi16(qh, 6), m2)};
  #pragma GCC unroll 16
  for (int k = 0; k < 4; k++) q[k] = _mm256_sub_epi8(_mm256_or_si256(lo[k], _mm256_slli_epi16(hi[k], 4)), off);
}

inline void q4kCodes(const uint8_t* p, int c, __m256i (&q)[2]) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * c));
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  q[0] = _mm256_and_si256(v, m4);
  q[1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
}

template <int TY>
void decodeRow(const uint8_t* row, int K, float* out, size_t ahead) {
  constexpr int per = ggmlBlockElements(TY) / kGgmlGroup;
  for (int blk = 0; blk < K / ggmlBlockElements(TY); blk++) {
    const uint8_t* p = row + static_cast<size_t>(blk) * ggmlBlockBytes(TY);
    for (int o = 0; o < ggmlBlockBytes(TY); o += 64) _mm_prefetch(reinterpret_cast<const char*>(p + o + ahead), _MM_HINT_T1);
    float s[2 * per], b[2 * per];
    simdBlockScales<TY>(p, s, b);
    for (int j = 0; j < per; j++) {
      __m256 w[4];
      decodeGroup<TY>(p, j, s, b, w);
      #pragma GCC unroll 16
      for (int k = 0; k < 4; k++) _mm256_store_ps(out + ggmlBlockElements(TY) * blk + 32 * j + 8 * k, w[k]);
    }
  }
}

inline float hsum(__m256 v) {
  alignas(32) float l[8];
  _mm256_store_ps(l, v);
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

template <int TY, int R>
void tileT1(const MatmulArgs& a, size_t rowBytes, int r) {
  constexpr int per = ggmlBlockElements(TY) / kGgmlGroup;
  constexpr int bytes = ggmlBlockBytes(TY);
  const int nb = a.w.cols / ggmlBlockElements(TY);
  const uint8_t* rp[R];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) rp[i] = static_cast<const uint8_t*>(a.w.data) + static_cast<size_t>(r + i) * rowBytes;
  __m256 acc[R];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
  for (int blk = 0; blk < nb; blk++) {
    float s[R][2 * per], b[R][2 * per];
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      _mm_prefetch(reinterpret_cast<const char*>(rp[i] + blk * bytes + kPrefetchRows * rowBytes), _MM_HINT_T1);
      if (bytes > 64) _mm_prefetch(reinterpret_cast<const char*>(rp[i] + blk * bytes + 64 + kPrefetchRows * rowBytes), _MM_HINT_T1);
      if (bytes > 128) _mm_prefetch(reinterpret_cast<const char*>(rp[i] + blk * bytes + 128 + kPrefetchRows * rowBytes), _MM_HINT_T1);
      simdBlockScales<TY>(rp[i] + blk * bytes, s[i], b[i]);
    }
    if constexpr (TY == kQ6_K || TY == kQ4_K) {
      // Row by row (the groups sharing bytes are unpacked once per row); each row's groups still in column order.
      constexpr int n = TY == kQ6_K ? 4 : 2;
      for (int c = 0; c < per / n; c++)
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) {
          __m256i q[n];
          if constexpr (TY == kQ6_K) q6kCodes(rp[i] + blk * bytes, c, q);
          else q4kCodes(rp[i] + blk * bytes, c, q);
          #pragma GCC unroll 16
          for (int k = 0; k < n; k++) {
            const int j = n * c + k;
            const float* x = a.x + ggmlBlockElements(TY) * blk + 32 * j;
            __m256 w[4];
            widen32(q[k], s[i][2 * j], s[i][2 * j + 1], ggmlHasBias(TY) ? &b[i][2 * j] : nullptr, w);
            #pragma GCC unroll 16
            for (int e = 0; e < 4; e++) acc[i] = _mm256_fmadd_ps(w[e], _mm256_loadu_ps(x + 8 * e), acc[i]);
          }
        }
      continue;
    }
    for (int j = 0; j < per; j++) {
      const float* x = a.x + ggmlBlockElements(TY) * blk + 32 * j;
      __m256 xv[4];
      #pragma GCC unroll 16
      for (int k = 0; k < 4; k++) xv[k] = _mm256_loadu_ps(x + 8 * k);
      #pragma GCC unroll 16
      for (int i = 0; i < R; i++) {
        __m256 w[4];
        decodeGroup<TY>(rp[i] + blk * bytes, j, s[i], b[i], w);
        #pragma GCC unroll 16
        for (int k = 0; k < 4; k++) acc[i] = _mm256_fmadd_ps(w[k], xv[k], acc[i]);
      }
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) a.y[r + i] = hsum(acc[i]);
}

// Small T (2 … kSmallT): R rows × TT tokens, weights decoded in registers per group (see kernels_avx512_ggml.cc).
template <int TY, int R, int TT>
void tileSmall(const MatmulArgs& a, size_t rowBytes, int r, int t0) {
  constexpr int per = ggmlBlockElements(TY) / kGgmlGroup;
  constexpr int bytes = ggmlBlockBytes(TY);
  const int K = a.w.cols, N = a.w.rows;
  const int nb = K / ggmlBlockElements(TY);
  const uint8_t* rp[R];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) rp[i] = static_cast<const uint8_t*>(a.w.data) + static_cast<size_t>(r + i) * rowBytes;
  const float* xp[TT];
  #pragma GCC unroll 16
  for (int t = 0; t < TT; t++) xp[t] = a.x + static_cast<size_t>(t0 + t) * K;
  __m256 acc[R][TT];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++)
    #pragma GCC unroll 16
    for (int t = 0; t < TT; t++) acc[i][t] = _mm256_setzero_ps();
  for (int blk = 0; blk < nb; blk++) {
    float s[R][2 * per], b[R][2 * per];
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      for (int o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(rp[i] + blk * bytes + o + kPrefetchRows * rowBytes), _MM_HINT_T1);
      simdBlockScales<TY>(rp[i] + blk * bytes, s[i], b[i]);
    }
    for (int j = 0; j < per; j++) {
      const int c = ggmlBlockElements(TY) * blk + 32 * j;
      #pragma GCC unroll 16
      for (int i = 0; i < R; i++) {
        __m256 w[4];
        decodeGroup<TY>(rp[i] + blk * bytes, j, s[i], b[i], w);
        #pragma GCC unroll 16
        for (int t = 0; t < TT; t++)
          #pragma GCC unroll 16
          for (int k = 0; k < 4; k++) acc[i][t] = _mm256_fmadd_ps(w[k], _mm256_loadu_ps(xp[t] + c + 8 * k), acc[i][t]);
      }
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++)
    #pragma GCC unroll 16
    for (int t = 0; t < TT; t++) a.y[static_cast<size_t>(t0 + t) * N + r + i] = hsum(acc[i][t]);
}

template <int TY, int TT>
void rowsSmall(const MatmulArgs& a, size_t rowBytes, int r0, int r1, int t0) {
  int r = r0;
  for (; r + 2 <= r1; r += 2) tileSmall<TY, 2, TT>(a, rowBytes, r, t0);
  for (; r < r1; r++) tileSmall<TY, 1, TT>(a, rowBytes, r, t0);
}

constexpr int kSmallT = 8;

template <int R, int TT>
void tileBuf(const MatmulArgs& a, const float* wb, int r, int t0) {
  const int K = a.w.cols, N = a.w.rows;
  const float* xp[TT];
  #pragma GCC unroll 16
  for (int t = 0; t < TT; t++) xp[t] = a.x + static_cast<size_t>(t0 + t) * K;
  __m256 acc[R][TT];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++)
    #pragma GCC unroll 16
    for (int t = 0; t < TT; t++) acc[i][t] = _mm256_setzero_ps();
  for (int c = 0; c < K; c += 8) {
    __m256 xv[TT];
    #pragma GCC unroll 16
    for (int t = 0; t < TT; t++) xv[t] = _mm256_loadu_ps(xp[t] + c);
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      const __m256 wv = _mm256_load_ps(wb + static_cast<size_t>(i) * K + c);
      #pragma GCC unroll 16
      for (int t = 0; t < TT; t++) acc[i][t] = _mm256_fmadd_ps(wv, xv[t], acc[i][t]);
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++)
    #pragma GCC unroll 16
    for (int t = 0; t < TT; t++) a.y[static_cast<size_t>(t0 + t) * N + r + i] = hsum(acc[i][t]);
}

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
    for (; r + 4 <= r1; r += 4) tileT1<TY, 4>(a, rowBytes, r);
    for (; r < r1; r++) tileT1<TY, 1>(a, rowBytes, r);
    return;
  }
  if (a.T <= kSmallT) {
    int t = 0;
    for (; t + 4 <= a.T; t += 4) rowsSmall<TY, 4>(a, rowBytes, r0, r1, t);
    switch (a.T - t) {
      case 3: rowsSmall<TY, 3>(a, rowBytes, r0, r1, t); break;
      case 2: rowsSmall<TY, 2>(a, rowBytes, r0, r1, t); break;
      case 1: rowsSmall<TY, 1>(a, rowBytes, r0, r1, t); break;
      default: break;
    }
    return;
  }
  constexpr int RT = 4, TT = 2;
  float* wb = rowScratch(static_cast<size_t>(RT) * K);
  const int tokenBlock = K >= 8192 ? 16 : 32;
  for (int tb = 0; tb < a.T; tb += tokenBlock) {
    const int te = minInt(a.T, tb + tokenBlock);
    for (int r = r0; r < r1; r += RT) {
      const int n = minInt(RT, r1 - r);
      #pragma GCC unroll 16
      for (int i = 0; i < n; i++) {
        decodeRow<TY>(static_cast<const uint8_t*>(a.w.data) + static_cast<size_t>(r + i) * rowBytes, K, wb + static_cast<size_t>(i) * K, kPrefetchRows * rowBytes);
      }
      if (n == RT) {
        int t = tb;
        for (; t + TT <= te; t += TT) tileBuf<RT, TT>(a, wb, r, t);
        for (; t < te; t++) tileBuf<RT, 1>(a, wb, r, t);
      } else {
        #pragma GCC unroll 16
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

void ggmlMatmulRowsAvx2(const MatmulArgs& a, int r0, int r1) {
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
