// AVX-512 matmul row kernel for GGUF block formats (ggml_blocks.h). Weights are dequantised in registers to exactly the
// float32 values of the reference (src/tensor/formats/ggml/*.ts): a group of 32 columns is unpacked to int8 codes
// (ggml_simd.h), widened to f32, times the group's scale (plus its bias, for formats with a min) — the reference's
// two roundings —, then dotted with x in f32 (one FMA per element). 4- and 5-bit formats skip the widening: the
// group's 16 or 32 possible values are computed once and each column is a table lookup (vpermps / vpermi2ps); Q4_K,
// Q5_K and Q6_K unpack the groups that share code bytes together. Per (row, token): one zmm accumulator, the two
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

// 4-bit formats decode by table: the group's 16 possible values fround(fround(s · value(code)) + b) are computed once
// (one or two vector ops), then every column is a vpermps of its nibble — the same float32 values as the general
// route, in fewer instructions per column.
template <int TY>
constexpr bool kNibbleTable = TY == kQ4_0 || TY == kQ4_1 || TY == kQ4_K || TY == kIQ4_NL || TY == kIQ4_XS || TY == kMXFP4;

// The integer value of each of the 16 codes of a 4-bit format, as f32 lanes.
template <int TY>
inline __m512 codeValues() {
  if constexpr (TY == kIQ4_NL || TY == kIQ4_XS) return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(kIq4nlValues))));
  else if constexpr (TY == kMXFP4) return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(kMxfp4Values))));
  else if constexpr (TY == kQ4_0) return _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
  else return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

// 5-bit formats likewise with a 32-value table in two registers (vpermi2ps): index = nibble | fifth bit << 4.
template <int TY>
constexpr bool kFiveBitTable = TY == kQ5_0 || TY == kQ5_1 || TY == kQ5_K;

// Group j of the block at p, with the block's scales s / biases b (blockScales): columns 0–15 and 16–31 as f32.
template <int TY>
inline __attribute__((always_inline)) void decodeGroup(const uint8_t* p, int j, const float* s, const float* b, __m512& w0, __m512& w1) {
  if constexpr (kFiveBitTable<TY>) {
    const __m512 codes = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const float off = TY == kQ5_0 ? -16.0f : 0.0f;
    const __m512 sv = _mm512_set1_ps(s[2 * j]);
    __m512 lo = _mm512_mul_ps(sv, _mm512_add_ps(codes, _mm512_set1_ps(off)));
    __m512 hi = _mm512_mul_ps(sv, _mm512_add_ps(codes, _mm512_set1_ps(off + 16.0f)));
    if constexpr (ggmlHasBias(TY)) {
      lo = _mm512_add_ps(lo, _mm512_set1_ps(b[2 * j]));
      hi = _mm512_add_ps(hi, _mm512_set1_ps(b[2 * j]));
    }
    const __m512i m15 = _mm512_set1_epi32(15), sixteen = _mm512_set1_epi32(16);
    __m512i i0, i1;
    __mmask16 k0, k1;
    if constexpr (TY == kQ5_K) {
      const uint8_t* qs = p + 48 + 32 * (j >> 1);
      i0 = _mm512_cvtepu8_epi32(loadBytes(qs));
      i1 = _mm512_cvtepu8_epi32(loadBytes(qs + 16));
      if (j & 1) {
        i0 = _mm512_srli_epi32(i0, 4);
        i1 = _mm512_srli_epi32(i1, 4);
      }
      i0 = _mm512_and_si512(i0, m15);
      i1 = _mm512_and_si512(i1, m15);
      const __m128i bit = _mm_set1_epi8(static_cast<char>(1 << j));
      k0 = _mm_test_epi8_mask(loadBytes(p + 16), bit);
      k1 = _mm_test_epi8_mask(loadBytes(p + 32), bit);
    } else {
      constexpr int o = TY == kQ5_0 ? 2 : 4;
      const uint32_t qh = u32At(p + o);
      const __m512i i = _mm512_cvtepu8_epi32(loadBytes(p + o + 4));
      i0 = _mm512_and_si512(i, m15);
      i1 = _mm512_srli_epi32(i, 4);
      k0 = static_cast<__mmask16>(qh & 0xFFFF);
      k1 = static_cast<__mmask16>(qh >> 16);
    }
    // The index's fifth bit picks the second table register (vpermi2ps reads bits 0–4).
    i0 = _mm512_mask_or_epi32(i0, k0, i0, sixteen);
    i1 = _mm512_mask_or_epi32(i1, k1, i1, sixteen);
    w0 = _mm512_permutex2var_ps(lo, i0, hi);
    w1 = _mm512_permutex2var_ps(lo, i1, hi);
    return;
  }
  if constexpr (kNibbleTable<TY>) {
    // Nibble tables use one scale per group (s[2j] = s[2j + 1] for every 4-bit format).
    __m512 table = _mm512_mul_ps(_mm512_set1_ps(s[2 * j]), codeValues<TY>());
    if constexpr (ggmlHasBias(TY)) table = _mm512_add_ps(table, _mm512_set1_ps(b[2 * j]));
    if constexpr (TY == kQ4_K) {
      // Columns t < 32 of the group: nibble (j & 1) of qs[32·(j/2) + t].
      const uint8_t* qs = p + 16 + 32 * (j >> 1);
      __m512i i0 = _mm512_cvtepu8_epi32(loadBytes(qs)), i1 = _mm512_cvtepu8_epi32(loadBytes(qs + 16));
      if (j & 1) {
        i0 = _mm512_srli_epi32(i0, 4);
        i1 = _mm512_srli_epi32(i1, 4);
      }
      w0 = _mm512_permutexvar_ps(i0, table);
      w1 = _mm512_permutexvar_ps(i1, table);
    } else {
      // Columns t < 16: low nibble of byte t; 16 + t: its high nibble (vpermps reads the low 4 bits of each index).
      const uint8_t* qs = TY == kQ4_0 || TY == kIQ4_NL ? p + 2 : TY == kQ4_1 ? p + 4 : TY == kMXFP4 ? p + 1 : p + 8 + 16 * j;
      const __m512i i0 = _mm512_cvtepu8_epi32(loadBytes(qs));
      w0 = _mm512_permutexvar_ps(i0, table);
      w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(i0, 4), table);
    }
    return;
  }
  __m128i q0, q1;
  simdCodes<TY>(p, j, q0, q1);
  w0 = _mm512_mul_ps(_mm512_set1_ps(s[2 * j]), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)));
  w1 = _mm512_mul_ps(_mm512_set1_ps(s[2 * j + 1]), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)));
  if constexpr (ggmlHasBias(TY)) {
    w0 = _mm512_add_ps(w0, _mm512_set1_ps(b[2 * j]));
    w1 = _mm512_add_ps(w1, _mm512_set1_ps(b[2 * j + 1]));
  }
}

// Q4_K groups j and j + 1 (j even) share their 32 code bytes (low and high nibbles): w[0..1] group j, w[2..3] j + 1,
// the values of decodeGroup, with the bytes loaded and widened once.
inline __attribute__((always_inline)) void decodeQ4kPair(const uint8_t* p, int j, const float* s, const float* b, __m512 (&w)[4]) {
  const __m512 values = codeValues<kQ4_K>();
  const __m512 t0 = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(s[2 * j]), values), _mm512_set1_ps(b[2 * j]));
  const __m512 t1 = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(s[2 * j + 2]), values), _mm512_set1_ps(b[2 * j + 2]));
  const uint8_t* qs = p + 16 + 16 * j;
  const __m512i i0 = _mm512_cvtepu8_epi32(loadBytes(qs)), i1 = _mm512_cvtepu8_epi32(loadBytes(qs + 16));
  w[0] = _mm512_permutexvar_ps(i0, t0);
  w[1] = _mm512_permutexvar_ps(i1, t0);
  w[2] = _mm512_permutexvar_ps(_mm512_srli_epi32(i0, 4), t1);
  w[3] = _mm512_permutexvar_ps(_mm512_srli_epi32(i1, 4), t1);
}

// Q5_K groups j and j + 1 (j even) likewise: shared low-nibble bytes, the fifth bits from the same 32 qh bytes.
inline __attribute__((always_inline)) void decodeQ5kPair(const uint8_t* p, int j, const float* s, const float* b, __m512 (&w)[4]) {
  const __m512 codes = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512 codes16 = _mm512_setr_ps(16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
  const uint8_t* qs = p + 48 + 16 * j;
  const __m512i i0 = _mm512_cvtepu8_epi32(loadBytes(qs)), i1 = _mm512_cvtepu8_epi32(loadBytes(qs + 16));
  const __m512i m15 = _mm512_set1_epi32(15), sixteen = _mm512_set1_epi32(16);
  const __m128i h0 = loadBytes(p + 16), h1 = loadBytes(p + 32);
  for (int u = 0; u < 2; u++) {
    const int g = j + u;
    const __m512 sv = _mm512_set1_ps(s[2 * g]), bv = _mm512_set1_ps(b[2 * g]);
    const __m512 lo = _mm512_add_ps(_mm512_mul_ps(sv, codes), bv), hi = _mm512_add_ps(_mm512_mul_ps(sv, codes16), bv);
    __m512i a0 = u ? _mm512_srli_epi32(i0, 4) : _mm512_and_si512(i0, m15);
    __m512i a1 = u ? _mm512_srli_epi32(i1, 4) : _mm512_and_si512(i1, m15);
    const __m128i bit = _mm_set1_epi8(static_cast<char>(1 << g));
    a0 = _mm512_mask_or_epi32(a0, _mm_test_epi8_mask(h0, bit), a0, sixteen);
    a1 = _mm512_mask_or_epi32(a1, _mm_test_epi8_mask(h1, bit), a1, sixteen);
    w[2 * u] = _mm512_permutex2var_ps(lo, a0, hi);
    w[2 * u + 1] = _mm512_permutex2var_ps(lo, a1, hi);
  }
}

// Q6_K groups 4h … 4h + 3 (128 columns) at once: their low nibbles share 64 ql bytes and their 2-bit highs 32 qh bytes,
// so the byte work runs on 32-byte vectors once for the four groups; w[2k], w[2k + 1] are group 4h + k's two halves,
// the values of decodeGroup.
inline __attribute__((always_inline)) void decodeQ6kChunk(const uint8_t* p, int h, const float* s, __m512 (&w)[8]) {
  const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * h));
  const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * h + 32));
  const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 128 + 32 * h));
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03), off = _mm256_set1_epi8(32);
  __m256i q[4];
  q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
  q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
  q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
  #pragma GCC unroll 16
  for (int k = 0; k < 4; k++) {
    const __m256i v = _mm256_sub_epi8(q[k], off);
    const int j = 4 * h + k;
    w[2 * k] = _mm512_mul_ps(_mm512_set1_ps(s[2 * j]), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(v))));
    w[2 * k + 1] = _mm512_mul_ps(_mm512_set1_ps(s[2 * j + 1]), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(v, 1))));
  }
}

// Row `row` decoded to f32 `[K]` into out.
template <int TY>
void decodeRow(const uint8_t* row, int K, float* out, size_t ahead) {
  constexpr int per = ggmlBlockElements(TY) / kGgmlGroup;
  for (int blk = 0; blk < K / ggmlBlockElements(TY); blk++) {
    const uint8_t* p = row + static_cast<size_t>(blk) * ggmlBlockBytes(TY);
    for (int o = 0; o < ggmlBlockBytes(TY); o += 64) _mm_prefetch(reinterpret_cast<const char*>(p + o + ahead), _MM_HINT_T1);
    float s[2 * per], b[2 * per];
    simdBlockScales<TY>(p, s, b);
    float* o = out + ggmlBlockElements(TY) * blk;
    if constexpr (TY == kQ6_K) {
      for (int h = 0; h < 2; h++) {
        __m512 w[8];
        decodeQ6kChunk(p, h, s, w);
        #pragma GCC unroll 16
        for (int k = 0; k < 8; k++) _mm512_store_ps(o + 128 * h + 16 * k, w[k]);
      }
    } else if constexpr (TY == kQ4_K || TY == kQ5_K) {
      for (int j = 0; j < per; j += 2) {
        __m512 w[4];
        if constexpr (TY == kQ4_K) decodeQ4kPair(p, j, s, b, w);
        else decodeQ5kPair(p, j, s, b, w);
        #pragma GCC unroll 16
        for (int k = 0; k < 4; k++) _mm512_store_ps(o + 32 * j + 16 * k, w[k]);
      }
    } else {
      for (int j = 0; j < per; j++) {
        __m512 w0, w1;
        decodeGroup<TY>(p, j, s, b, w0, w1);
        _mm512_store_ps(o + 32 * j, w0);
        _mm512_store_ps(o + 32 * j + 16, w1);
      }
    }
  }
}

// T = 1: rows r … r+R−1, weights decoded in registers (block scales once per row and block).
template <int TY, int R>
void tileT1(const MatmulArgs& a, size_t rowBytes, int r) {
  constexpr int per = ggmlBlockElements(TY) / kGgmlGroup;
  constexpr int bytes = ggmlBlockBytes(TY);
  const int nb = a.w.cols / ggmlBlockElements(TY);
  const uint8_t* rp[R];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) rp[i] = static_cast<const uint8_t*>(a.w.data) + static_cast<size_t>(r + i) * rowBytes;
  __m512 acc[R];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) acc[i] = _mm512_setzero_ps();
  for (int blk = 0; blk < nb; blk++) {
    float s[R][2 * per], b[R][2 * per];
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      // The same bytes kPrefetchRows rows down (the next group of rows): short rows defeat the hardware prefetcher.
      _mm_prefetch(reinterpret_cast<const char*>(rp[i] + blk * bytes + kPrefetchRows * rowBytes), _MM_HINT_T1);
      if (bytes > 64) _mm_prefetch(reinterpret_cast<const char*>(rp[i] + blk * bytes + 64 + kPrefetchRows * rowBytes), _MM_HINT_T1);
      if (bytes > 128) _mm_prefetch(reinterpret_cast<const char*>(rp[i] + blk * bytes + 128 + kPrefetchRows * rowBytes), _MM_HINT_T1);
      simdBlockScales<TY>(rp[i] + blk * bytes, s[i], b[i]);
    }
    if constexpr (TY == kQ6_K) {
      for (int h = 0; h < 2; h++) {
        const float* x = a.x + ggmlBlockElements(TY) * blk + 128 * h;
        __m512 xv[8];
        #pragma GCC unroll 16
        for (int k = 0; k < 8; k++) xv[k] = _mm512_loadu_ps(x + 16 * k);
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) {
          __m512 w[8];
          decodeQ6kChunk(rp[i] + blk * bytes, h, s[i], w);
          #pragma GCC unroll 16
          for (int k = 0; k < 8; k++) acc[i] = _mm512_fmadd_ps(w[k], xv[k], acc[i]);
        }
      }
      continue;
    }
    if constexpr (TY == kQ4_K || TY == kQ5_K) {
      for (int j = 0; j < per; j += 2) {
        const float* x = a.x + ggmlBlockElements(TY) * blk + 32 * j;
        __m512 xv[4];
        #pragma GCC unroll 16
        for (int k = 0; k < 4; k++) xv[k] = _mm512_loadu_ps(x + 16 * k);
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) {
          __m512 w[4];
          if constexpr (TY == kQ4_K) decodeQ4kPair(rp[i] + blk * bytes, j, s[i], b[i], w);
          else decodeQ5kPair(rp[i] + blk * bytes, j, s[i], b[i], w);
          #pragma GCC unroll 16
          for (int k = 0; k < 4; k++) acc[i] = _mm512_fmadd_ps(w[k], xv[k], acc[i]);
        }
      }
      continue;
    }
#pragma GCC unroll 8
    for (int j = 0; j < per; j++) {
      const float* x = a.x + ggmlBlockElements(TY) * blk + 32 * j;
      const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
      #pragma GCC unroll 16
      for (int i = 0; i < R; i++) {
        __m512 w0, w1;
        decodeGroup<TY>(rp[i] + blk * bytes, j, s[i], b[i], w0, w1);
        acc[i] = _mm512_fmadd_ps(w0, x0, acc[i]);
        acc[i] = _mm512_fmadd_ps(w1, x1, acc[i]);
      }
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) a.y[r + i] = _mm512_reduce_add_ps(acc[i]);
}

// Small T (2 … kSmallT): R rows × TT tokens t0 … t0+TT−1, weights decoded in registers per group (once per TT
// tokens), the FMA sequence of tileT1 per (row, token). Cheaper than the buffer below when few tokens share a decode.
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
  __m512 acc[R][TT];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++)
    #pragma GCC unroll 16
    for (int t = 0; t < TT; t++) acc[i][t] = _mm512_setzero_ps();
  for (int blk = 0; blk < nb; blk++) {
    float s[R][2 * per], b[R][2 * per];
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      for (int o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(rp[i] + blk * bytes + o + kPrefetchRows * rowBytes), _MM_HINT_T1);
      simdBlockScales<TY>(rp[i] + blk * bytes, s[i], b[i]);
    }
    for (int j = 0; j < per; j++) {
      const int c = ggmlBlockElements(TY) * blk + 32 * j;
      __m512 x0[TT], x1[TT];
      #pragma GCC unroll 16
      for (int t = 0; t < TT; t++) {
        x0[t] = _mm512_loadu_ps(xp[t] + c);
        x1[t] = _mm512_loadu_ps(xp[t] + c + 16);
      }
      #pragma GCC unroll 16
      for (int i = 0; i < R; i++) {
        __m512 w0, w1;
        decodeGroup<TY>(rp[i] + blk * bytes, j, s[i], b[i], w0, w1);
        #pragma GCC unroll 16
        for (int t = 0; t < TT; t++) {
          acc[i][t] = _mm512_fmadd_ps(w0, x0[t], acc[i][t]);
          acc[i][t] = _mm512_fmadd_ps(w1, x1[t], acc[i][t]);
        }
      }
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++)
    #pragma GCC unroll 16
    for (int t = 0; t < TT; t++) a.y[static_cast<size_t>(t0 + t) * N + r + i] = _mm512_reduce_add_ps(acc[i][t]);
}

// Rows [r0, r1) of tokens [t0, t0 + TT) through tileSmall (4 rows at a time, then single rows).
template <int TY, int TT>
void rowsSmall(const MatmulArgs& a, size_t rowBytes, int r0, int r1, int t0) {
  int r = r0;
  for (; r + 4 <= r1; r += 4) tileSmall<TY, 4, TT>(a, rowBytes, r, t0);
  for (; r < r1; r++) tileSmall<TY, 1, TT>(a, rowBytes, r, t0);
}

// Largest T that takes tileSmall (MTP verify steps, small batches); beyond, rows are decoded once per token block.
constexpr int kSmallT = 8;

// T > 1: R rows × TT tokens from decoded rows wb `[R, K]` f32, the FMA sequence of tileT1 per (row, token).
template <int R, int TT>
void tileBuf(const MatmulArgs& a, const float* wb, int r, int t0) {
  const int K = a.w.cols, N = a.w.rows;
  const float* xp[TT];
  #pragma GCC unroll 16
  for (int t = 0; t < TT; t++) xp[t] = a.x + static_cast<size_t>(t0 + t) * K;
  __m512 acc[R][TT];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++)
    #pragma GCC unroll 16
    for (int t = 0; t < TT; t++) acc[i][t] = _mm512_setzero_ps();
  for (int c = 0; c < K; c += 16) {
    __m512 xv[TT];
    #pragma GCC unroll 16
    for (int t = 0; t < TT; t++) xv[t] = _mm512_loadu_ps(xp[t] + c);
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      const __m512 wv = _mm512_load_ps(wb + static_cast<size_t>(i) * K + c);
      #pragma GCC unroll 16
      for (int t = 0; t < TT; t++) acc[i][t] = _mm512_fmadd_ps(wv, xv[t], acc[i][t]);
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++)
    #pragma GCC unroll 16
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
  constexpr int RT = 4, TT = 4;
  float* wb = rowScratch(static_cast<size_t>(RT) * K);
  // Token blocks whose x stays in L2 (~512 KiB); the rows are decoded again per block.
  const int tokenBlock = K >= 8192 ? 16 : 32;
  for (int tb = 0; tb < a.T; tb += tokenBlock) {
    const int te = minInt(a.T, tb + tokenBlock);
    for (int r = r0; r < r1; r += RT) {
      const int n = minInt(RT, r1 - r);
      #pragma GCC unroll 16
      for (int i = 0; i < n; i++) {
        decodeRow<TY>(static_cast<const uint8_t*>(a.w.data) + static_cast<size_t>(r + i) * rowBytes, K, wb + static_cast<size_t>(i) * K, kPrefetchRows * rowBytes);
      }
      int t = tb;
      if (n == RT) {
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
