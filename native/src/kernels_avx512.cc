// AVX-512 (F/BW/VL/DQ) kernels. Compiled for baseline x86-64 with per-function target attributes (the pragma below),
// so the addon loads on any x86-64 and only runs this code after the CPU check. Weights are dequantised to f32 in
// registers: bf16 by a 16-bit shift, f16 by vcvtph2ps, fp8 E4M3 by moving its bits into an f16 (exact) and
// multiplying by 256 · block scale (one rounding, like the reference's f32 dequantisation); 0x7F/0xFF give NaN.
// GCC 12 warns about the deliberately undefined source operands inside its own AVX-512 intrinsics.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <type_traits>
#pragma GCC diagnostic pop

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "ggml_kernels.h"
#include "ggml_q8.h"
#include "kernels.h"
#include "mxfp4.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")

namespace mimo {
namespace {

template <WDType D>
struct Dec;

template <>
struct Dec<WDType::F32> {
  using T = float;
  static __m512 load(const float* p, __m512) { return _mm512_loadu_ps(p); }
  static __m512 loadMask(const float* p, __mmask16 m, __m512) { return _mm512_maskz_loadu_ps(m, p); }
};

template <>
struct Dec<WDType::BF16> {
  using T = uint16_t;
  static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static __m512 load(const uint16_t* p, __m512) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 loadMask(const uint16_t* p, __mmask16 m, __m512) { return widen(_mm256_maskz_loadu_epi16(m, p)); }
};

template <>
struct Dec<WDType::F16> {
  using T = uint16_t;
  static __m512 load(const uint16_t* p, __m512) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 loadMask(const uint16_t* p, __mmask16 m, __m512) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
};

template <>
struct Dec<WDType::FP8> {
  using T = uint8_t;
  // s eeee mmm → f16 s 0eeee mmm0000000 = value / 256 (subnormals included); × (256 · scale).
  static __m512 widen(__m128i b, __m512 scale256) {
    __m256i h = _mm256_cvtepi8_epi16(b);
    h = _mm256_and_si256(_mm256_slli_epi16(h, 7), _mm256_set1_epi16(static_cast<short>(0xBFFF)));
    __m512 v = _mm512_mul_ps(_mm512_cvtph_ps(h), scale256);
    const __m128i m7f = _mm_set1_epi8(0x7F);
    __mmask16 nan = _mm_cmpeq_epi8_mask(_mm_and_si128(b, m7f), m7f);
    return _mm512_mask_mov_ps(v, nan, _mm512_set1_ps(NAN));
  }
  static __m512 load(const uint8_t* p, __m512 s) { return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), s); }
  static __m512 loadMask(const uint8_t* p, __mmask16 m, __m512 s) { return widen(_mm_maskz_loadu_epi8(m, p), s); }
};

// The fast fp8 route, for rows without NaN codes whose block scales are below 2^8 (checked by fp8FastOk): s eeee mmm
// → f32 bits (sign-extended byte << 20) & 0x87F00000 = value · 2^-120 (subnormal codes become exact f32
// subnormals), then one multiply by scale · 2^120 rounds once: the same f32 as the safe route and the reference.
struct Fp8Fast {
  using T = uint8_t;
  static constexpr float kFactor = 0x1p120f;
  static __m512 widen(__m128i b, __m512 fac) {
    __m512i d = _mm512_slli_epi32(_mm512_cvtepi8_epi32(b), 20);
    d = _mm512_and_si512(d, _mm512_set1_epi32(static_cast<int>(0x87F00000u)));
    return _mm512_mul_ps(_mm512_castsi512_ps(d), fac);
  }
  static __m512 load(const uint8_t* p, __m512 s) { return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), s); }
  static __m512 loadMask(const uint8_t* p, __mmask16 m, __m512 s) { return widen(_mm_maskz_loadu_epi8(m, p), s); }
};

inline __mmask16 tailMask(int n) { return static_cast<__mmask16>((1u << n) - 1); }

// factor · scale of weight row r's column block `block` (fp8 only; factor 256 for the f16 route, 2^120 for the fast one).
inline __m512 fp8Scale(const WeightView& w, int r, int block, float factor = 256.0f) {
  return _mm512_set1_ps(w.scales[static_cast<size_t>(w.rowScale[r]) * w.scaleCols + block] * factor);
}

template <class Dc>
struct Route {
  static constexpr bool kFp8 = false;
  static constexpr float kFactor = 0;
};
template <>
struct Route<Dec<WDType::FP8>> {
  static constexpr bool kFp8 = true;
  static constexpr float kFactor = 256.0f;
};
template <>
struct Route<Fp8Fast> {
  static constexpr bool kFp8 = true;
  static constexpr float kFactor = Fp8Fast::kFactor;
};

// One 16-column step of a rows tile: every (row, token) accumulator takes one FMA.
template <class Dc, int R, int TT, bool kMasked>
inline __attribute__((always_inline)) void rowsStep(__m512 (&acc)[R][TT], const typename Dc::T* const (&wp)[R],
                                                    const float* const (&xp)[TT], const __m512 (&s)[R], int c, __mmask16 m) {
  __m512 xv[TT];
  for (int t = 0; t < TT; t++) xv[t] = kMasked ? _mm512_maskz_loadu_ps(m, xp[t] + c) : _mm512_loadu_ps(xp[t] + c);
  for (int i = 0; i < R; i++) {
    const __m512 wv = kMasked ? Dc::loadMask(wp[i] + c, m, s[i]) : Dc::load(wp[i] + c, s[i]);
    for (int t = 0; t < TT; t++) acc[i][t] = _mm512_fmadd_ps(wv, xv[t], acc[i][t]);
  }
}

// Rows ahead that the row kernel prefetches (8: the next group at T = 1, two groups ahead otherwise), into L2
// (_MM_HINT_T1): into L1 they evict the group's own lines before use (see kernels_avx512bf16.cc).
constexpr int kPrefetchRows = 8;

// y[t0+tt, r+i] for i < R, tt < TT: one zmm accumulator per (row, token), columns in order 16 at a time (fp8: the
// chunks restart at each scale block, tails masked), then a fixed horizontal sum. The arithmetic per (row, token) is
// the same for every R and TT, and both loop shapes below visit the same chunks.
template <class Dc, int R, int TT, bool kAligned>
void rowsTileT(const MatmulArgs& a, int r, int t0) {
  using T = typename Dc::T;
  constexpr bool kFp8 = Route<Dc>::kFp8;
  const int K = a.w.cols;
  const int N = a.w.rows;
  const T* wp[R];
  const float* xp[TT];
  for (int i = 0; i < R; i++) wp[i] = static_cast<const T*>(a.w.data) + static_cast<size_t>(r + i) * K;
  for (int t = 0; t < TT; t++) xp[t] = a.x + static_cast<size_t>(t0 + t) * K;
  __m512 acc[R][TT];
  for (int i = 0; i < R; i++)
    for (int t = 0; t < TT; t++) acc[i][t] = _mm512_setzero_ps();
  __m512 s[R];
  for (int i = 0; i < R; i++) s[i] = _mm512_setzero_ps();
  const int seg = kFp8 ? a.w.blockCols : K;
  if (kAligned) {
    // Blocks are whole chunks: one straight loop per block, a single masked chunk at the end.
    const int k16 = K & ~15;
    for (int c = 0; c < k16;) {
      const int c1 = c + seg < k16 ? c + seg : k16;
      if (kFp8)
        for (int i = 0; i < R; i++) s[i] = fp8Scale(a.w, r + i, c / seg, Route<Dc>::kFactor);
      for (; c < c1; c += 16) {
        // Prefetch the same columns kPrefetchRows rows down (the next row group), one line per row: rows of 1 KB
        // (a MoE down projection) are too short streams for the hardware prefetcher (T = 1 bf16 [1024, 512]: 17 →
        // 23 GB/s on one thread). Past the last row this touches nothing of use, and prefetches never fault.
        if (((c * sizeof(T)) & 63) == 0)
          for (int i = 0; i < R; i++)
            _mm_prefetch(reinterpret_cast<const char*>(wp[i] + c + static_cast<size_t>(kPrefetchRows) * K), _MM_HINT_T1);
        rowsStep<Dc, R, TT, false>(acc, wp, xp, s, c, 0);
      }
    }
    if (k16 < K) {
      if (kFp8)
        for (int i = 0; i < R; i++) s[i] = fp8Scale(a.w, r + i, k16 / seg, Route<Dc>::kFactor);
      rowsStep<Dc, R, TT, true>(acc, wp, xp, s, k16, tailMask(K - k16));
    }
  } else {
    // fp8 with blocks that are not whole chunks: each block ends in a masked chunk.
    for (int c0 = 0, block = 0; c0 < K; c0 += seg, block++) {
      const int c1 = c0 + seg < K ? c0 + seg : K;
      for (int i = 0; i < R; i++) s[i] = fp8Scale(a.w, r + i, block, Route<Dc>::kFactor);
      int c = c0;
      for (; c + 16 <= c1; c += 16) rowsStep<Dc, R, TT, false>(acc, wp, xp, s, c, 0);
      if (c < c1) rowsStep<Dc, R, TT, true>(acc, wp, xp, s, c, tailMask(c1 - c));
    }
  }
  for (int i = 0; i < R; i++)
    for (int t = 0; t < TT; t++) a.y[static_cast<size_t>(t0 + t) * N + r + i] = _mm512_reduce_add_ps(acc[i][t]);
}

template <class Dc, int R, int TT>
void rowsTile(const MatmulArgs& a, int r, int t0) {
  if (!Route<Dc>::kFp8 || a.w.blockCols % 16 == 0) rowsTileT<Dc, R, TT, true>(a, r, t0);
  else rowsTileT<Dc, R, TT, false>(a, r, t0);
}

// True when rows [r, r + n) hold no NaN code (0x7F/0xFF) and every block scale they use is below 2^8 in magnitude,
// so the fast fp8 route gives exactly the safe route's values. One pass over the rows with their cache misses
// overlapped; it leaves the rows in L1/L2 for the compute pass. (Checking inside the compute loop costs more.)
bool fp8FastOk(const WeightView& w, int r, int n) {
  const int K = w.cols;
  const int blocks = ceilDiv(K, w.blockCols);
  for (int i = 0; i < n; i++) {
    const float* srow = w.scales + static_cast<size_t>(w.rowScale[r + i]) * w.scaleCols;
    for (int b = 0; b < blocks; b++) {
      if (!(std::fabs(srow[b]) < 256.0f)) return false;
    }
  }
  const __m512i m7f = _mm512_set1_epi8(0x7F);
  __m512i least = m7f;  // min over bytes of (~code & 0x7F): 0 exactly when some code is 0x7F or 0xFF
  const uint8_t* base = static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r) * K;
  int c = 0;
  for (; c + 64 <= K; c += 64)
    for (int i = 0; i < n; i++) least = _mm512_min_epu8(least, _mm512_andnot_si512(_mm512_loadu_si512(base + static_cast<size_t>(i) * K + c), m7f));
  if (c < K) {
    const __mmask64 m = (~0ULL) >> (64 - (K - c));
    for (int i = 0; i < n; i++)
      least = _mm512_min_epu8(least, _mm512_andnot_si512(_mm512_maskz_loadu_epi8(m, base + static_cast<size_t>(i) * K + c), m7f));
  }
  return _mm512_cmpeq_epi8_mask(least, _mm512_setzero_si512()) == 0;
}

template <class Dc, int R>
void rowsBlock(const MatmulArgs& a, int r) {
  int t0 = 0;
  for (; t0 + 4 <= a.T; t0 += 4) rowsTile<Dc, R, 4>(a, r, t0);
  switch (a.T - t0) {
    case 3: rowsTile<Dc, R, 3>(a, r, t0); break;
    case 2: rowsTile<Dc, R, 2>(a, r, t0); break;
    case 1: rowsTile<Dc, R, 1>(a, r, t0); break;
    default: break;
  }
}

// rows [r, r + R) for all tokens; fp8 takes the fast route when it is exact for these rows.
template <WDType D, int R>
void rowsGroup(const MatmulArgs& a, int r) {
  if (D == WDType::FP8 && fp8FastOk(a.w, r, R)) {
    if (a.T == 1) rowsTile<Fp8Fast, R, 1>(a, r, 0);
    else rowsBlock<Fp8Fast, R>(a, r);
    return;
  }
  if (a.T == 1) rowsTile<Dec<D>, R, 1>(a, r, 0);
  else rowsBlock<Dec<D>, R>(a, r);
}

template <WDType D>
void matmulRowsT(const MatmulArgs& a, int r0, int r1) {
  int r = r0;
  if (a.T == 1) {
    for (; r + 8 <= r1; r += 8) rowsGroup<D, 8>(a, r);
  } else {
    for (; r + 4 <= r1; r += 4) rowsGroup<D, 4>(a, r);
  }
  for (; r < r1; r++) rowsGroup<D, 1>(a, r);
}

// ---- MXFP4 (spec §2.8): codes looked up in registers (vpermps over the 16 FP4 values), one E8M0 scale per block ----
// Per (row, token) and 32-column block b: part = Σ_j FP4[lo_j]·xe_j + Σ_j FP4[hi_j]·xo_j (16 lanes, one mul and one
// FMA), then acc = part · 2^(e−127) + acc (one FMA); x is de-interleaved (mxfp4.h) so that lane j of the low nibbles
// meets column 2j. The same steps for every R and TT, so a row's bits do not depend on the rows beside it.
template <int R, int TT>
void mxRowsTile(const MatmulArgs& a, const float* xd, int r, int t0) {
  const int K = a.w.cols;
  const int N = a.w.rows;
  const int half = K / 2;
  const int blocks = K / kMxBlock;
  const float* ev = e8m0Values();
  const MxRows<R> rows(a.w, r);
  const uint8_t* const(&wp)[R] = rows.codes;
  const uint8_t* const(&sp)[R] = rows.scales;
  const float* xp[TT];
  for (int t = 0; t < TT; t++) xp[t] = xd + static_cast<size_t>(t0 + t) * K;
  const __m512 table = _mm512_load_ps(kFp4Values);
  __m512 acc[R][TT];
  for (int i = 0; i < R; i++)
    for (int t = 0; t < TT; t++) acc[i][t] = _mm512_setzero_ps();
  for (int b = 0; b < blocks; b++) {
    __m512 xe[TT], xo[TT];
    for (int t = 0; t < TT; t++) {
      xe[t] = _mm512_loadu_ps(xp[t] + b * kMxBlock);
      xo[t] = _mm512_loadu_ps(xp[t] + b * kMxBlock + 16);
    }
    if ((b & 3) == 0)
      for (int i = 0; i < R; i++) _mm_prefetch(reinterpret_cast<const char*>(wp[i] + b * 16 + static_cast<size_t>(kPrefetchRows) * half), _MM_HINT_T1);
    for (int i = 0; i < R; i++) {
      const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wp[i] + b * 16)));
      const __m512 wl = _mm512_permutexvar_ps(v, table);
      const __m512 wh = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table);
      const __m512 sc = _mm512_set1_ps(ev[sp[i][b]]);
      for (int t = 0; t < TT; t++) {
        const __m512 part = _mm512_fmadd_ps(wh, xo[t], _mm512_mul_ps(wl, xe[t]));
        acc[i][t] = _mm512_fmadd_ps(part, sc, acc[i][t]);
      }
    }
  }
  for (int i = 0; i < R; i++)
    for (int t = 0; t < TT; t++) a.y[static_cast<size_t>(t0 + t) * N + r + i] = _mm512_reduce_add_ps(acc[i][t]);
}

// x de-interleaved per 32-column block, 16 lanes at a time (the same layout as deinterleaveMxfp4).
void mxDeinterleave(const float* x, int T, int K, float* xd) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const size_t n = static_cast<size_t>(T) * K;
  for (size_t c = 0; c < n; c += kMxBlock) {
    const __m512 lo = _mm512_loadu_ps(x + c), hi = _mm512_loadu_ps(x + c + 16);
    _mm512_storeu_ps(xd + c, _mm512_permutex2var_ps(lo, even, hi));
    _mm512_storeu_ps(xd + c + 16, _mm512_permutex2var_ps(lo, odd, hi));
  }
}

void mxMatmulRows(const MatmulArgs& a, int r0, int r1) {
  float* const xdStore = mxScratch(static_cast<size_t>(a.T) * a.w.cols);
  float* const xd = xdStore;
  mxDeinterleave(a.x, a.T, a.w.cols, xd);
  int r = r0;
  if (a.T == 1) {
    for (; r + 8 <= r1; r += 8) mxRowsTile<8, 1>(a, xd, r, 0);
    for (; r < r1; r++) mxRowsTile<1, 1>(a, xd, r, 0);
    return;
  }
  for (; r + 4 <= r1; r += 4) {
    int t0 = 0;
    for (; t0 + 4 <= a.T; t0 += 4) mxRowsTile<4, 4>(a, xd, r, t0);
    switch (a.T - t0) {
      case 3: mxRowsTile<4, 3>(a, xd, r, t0); break;
      case 2: mxRowsTile<4, 2>(a, xd, r, t0); break;
      case 1: mxRowsTile<4, 1>(a, xd, r, t0); break;
      default: break;
    }
  }
  for (; r < r1; r++) {
    int t0 = 0;
    for (; t0 + 4 <= a.T; t0 += 4) mxRowsTile<1, 4>(a, xd, r, t0);
    for (; t0 < a.T; t0++) mxRowsTile<1, 1>(a, xd, r, t0);
  }
}

void matmulRows(const MatmulArgs& a, int r0, int r1) {
  switch (a.w.dtype) {
    case WDType::F32: matmulRowsT<WDType::F32>(a, r0, r1); break;
    case WDType::BF16: matmulRowsT<WDType::BF16>(a, r0, r1); break;
    case WDType::F16: matmulRowsT<WDType::F16>(a, r0, r1); break;
    case WDType::FP8: matmulRowsT<WDType::FP8>(a, r0, r1); break;
    case WDType::MXFP4: mxMatmulRows(a, r0, r1); break;
    case WDType::GGML: a.w.q8Act ? ggmlQ8MatmulRowsAvx512(a, r0, r1) : ggmlMatmulRowsAvx512(a, r0, r1); break;
  }
}

// ---- attention ----
// Scores of KK keys at once (q chunks loaded once for all of them); per key: even/odd 16-column chunks in two
// accumulators, masked tail into the even one, fixed horizontal sum. Same arithmetic for KK = 4 and KK = 1.
template <int KK>
inline void scoreKeys(const float* q, const float* k, size_t stride, int d, float scale, float* out) {
  __m512 acc[KK][2];
  for (int j = 0; j < KK; j++) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
  int c = 0;
  for (; c + 32 <= d; c += 32) {
    const __m512 q0 = _mm512_loadu_ps(q + c), q1 = _mm512_loadu_ps(q + c + 16);
    for (int j = 0; j < KK; j++) {
      acc[j][0] = _mm512_fmadd_ps(q0, _mm512_loadu_ps(k + j * stride + c), acc[j][0]);
      acc[j][1] = _mm512_fmadd_ps(q1, _mm512_loadu_ps(k + j * stride + c + 16), acc[j][1]);
    }
  }
  for (; c < d; c += 16) {
    const __mmask16 m = d - c >= 16 ? static_cast<__mmask16>(0xFFFF) : tailMask(d - c);
    const __m512 q0 = _mm512_maskz_loadu_ps(m, q + c);
    for (int j = 0; j < KK; j++) acc[j][0] = _mm512_fmadd_ps(q0, _mm512_maskz_loadu_ps(m, k + j * stride + c), acc[j][0]);
  }
  for (int j = 0; j < KK; j++) out[j] = _mm512_reduce_add_ps(_mm512_add_ps(acc[j][0], acc[j][1])) * scale;
}

// Horizontal sums of 4 keys' accumulators s4[0..3], taken together by shuffles that pair the same lanes, in the same
// order, as _mm512_reduce_add_ps (GCC's avx512fintrin.h: lanes i + 8 and i, then i + 4 and i): 128-bit lane j of the
// result holds key j's four partial sums.
inline __m512 sumPairs4(const __m512* s4) {
  const __m512 a = _mm512_add_ps(_mm512_shuffle_f32x4(s4[0], s4[1], 0xEE), _mm512_shuffle_f32x4(s4[0], s4[1], 0x44));
  const __m512 b = _mm512_add_ps(_mm512_shuffle_f32x4(s4[2], s4[3], 0xEE), _mm512_shuffle_f32x4(s4[2], s4[3], 0x44));
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0xDD), _mm512_shuffle_f32x4(a, b, 0x88));
}

// The last two steps of _mm512_reduce_add_ps (lanes {0, 2} and {1, 3}, then their sum) for 16 keys whose partial
// sums sumPairs4 left in g4[0..3] (keys 4g … 4g + 3); out[0..16) = scale · sum, keys in order.
inline void finishScores16(const __m512* g4, float scale, float* out) {
  const __m512 h01 = _mm512_add_ps(_mm512_shuffle_ps(g4[0], g4[1], _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(g4[0], g4[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 h23 = _mm512_add_ps(_mm512_shuffle_ps(g4[2], g4[3], _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(g4[2], g4[3], _MM_SHUFFLE(3, 2, 3, 2)));
  // 128-bit lane j: keys j, 4 + j, 8 + j, 12 + j.
  const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(h01, h23, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(h01, h23, _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_permutexvar_ps(order, r), _mm512_set1_ps(scale)));
}

// Scores of NQ queries (qStride apart; out rows outStride apart) against 16 keys: per (query, key) the accumulators
// of scoreKeys and the horizontal sum of sumPairs4 / finishScores16, so every score has the bits scoreKeys<1> gives
// it; each key chunk loaded once for the NQ queries.
template <int NQ>
inline void scoreKeys16(const float* q, size_t qStride, const float* k, size_t stride, int d, float scale, float* out, size_t outStride) {
  __m512 g4[NQ][4];
  for (int g = 0; g < 4; g++) {
    const float* kg = k + 4 * g * stride;
    __m512 acc[NQ][4][2];
    for (int r = 0; r < NQ; r++)
      for (int j = 0; j < 4; j++) acc[r][j][0] = acc[r][j][1] = _mm512_setzero_ps();
    int c = 0;
    for (; c + 32 <= d; c += 32) {
      __m512 q0[NQ], q1[NQ];
      for (int r = 0; r < NQ; r++) q0[r] = _mm512_loadu_ps(q + r * qStride + c), q1[r] = _mm512_loadu_ps(q + r * qStride + c + 16);
      for (int j = 0; j < 4; j++) {
        __m512 k0 = _mm512_loadu_ps(kg + j * stride + c), k1 = _mm512_loadu_ps(kg + j * stride + c + 16);
        // Loaded once for the NQ queries: without the empty asm the compiler folds the load into each FMA.
        __asm__("" : "+v"(k0), "+v"(k1));
        for (int r = 0; r < NQ; r++) {
          acc[r][j][0] = _mm512_fmadd_ps(q0[r], k0, acc[r][j][0]);
          acc[r][j][1] = _mm512_fmadd_ps(q1[r], k1, acc[r][j][1]);
        }
      }
    }
    for (; c < d; c += 16) {
      const __mmask16 m = d - c >= 16 ? static_cast<__mmask16>(0xFFFF) : tailMask(d - c);
      for (int j = 0; j < 4; j++) {
        const __m512 k0 = _mm512_maskz_loadu_ps(m, kg + j * stride + c);
        for (int r = 0; r < NQ; r++) acc[r][j][0] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + r * qStride + c), k0, acc[r][j][0]);
      }
    }
    for (int r = 0; r < NQ; r++) {
      __m512 s4[4];
      for (int j = 0; j < 4; j++) s4[j] = _mm512_add_ps(acc[r][j][0], acc[r][j][1]);
      g4[r][g] = sumPairs4(s4);
    }
  }
  for (int r = 0; r < NQ; r++) finishScores16(g4[r], scale, out + r * outStride);
}

void scoreRun(const float* q, const float* k0, size_t stride, int n, int d, float scale, float* out) {
  int j = 0;
  for (; j + 16 <= n; j += 16) scoreKeys16<1>(q, 0, k0 + j * stride, stride, d, scale, out + j, 0);
  for (; j + 4 <= n; j += 4) scoreKeys<4>(q, k0 + j * stride, stride, d, scale, out + j);
  for (; j < n; j++) scoreKeys<1>(q, k0 + j * stride, stride, d, scale, out + j);
}

void scoreRunRows(const float* q, size_t qStride, int nq, const float* k0, size_t stride, int n, int d, float scale, float* out, size_t outStride) {
  int r = 0;
  for (; r + 2 <= nq; r += 2) {
    const float* qr = q + r * qStride;
    float* o = out + r * outStride;
    int j = 0;
    for (; j + 16 <= n; j += 16) scoreKeys16<2>(qr, qStride, k0 + j * stride, stride, d, scale, o + j, outStride);
    // The last n mod 16 keys: scoreRun's own 4- and 1-key steps, per query.
    for (int u = 0; u < 2 && j < n; u++) scoreRun(qr + u * qStride, k0 + j * stride, stride, n - j, d, scale, o + u * outStride + j);
  }
  for (; r < nq; r++) scoreRun(q + r * qStride, k0, stride, n, d, scale, out + r * outStride);
}

// acc[c .. c + 16·NC) += Σ_j p[j] · v_j[...] with the block held in registers over all rows.
template <int NC>
inline void weightedSumBlock(float* acc, const float* p, const float* v0, size_t stride, int n, int c) {
  __m512 a[NC];
  for (int i = 0; i < NC; i++) a[i] = _mm512_loadu_ps(acc + c + 16 * i);
  for (int j = 0; j < n; j++) {
    const __m512 pj = _mm512_set1_ps(p[j]);
    const float* v = v0 + j * stride + c;
    for (int i = 0; i < NC; i++) a[i] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + 16 * i), a[i]);
  }
  for (int i = 0; i < NC; i++) _mm512_storeu_ps(acc + c + 16 * i, a[i]);
}

// Columns [c0, d) of weightedSumRun: 16 at a time, then the masked tail.
void weightedSumRunTail(float* acc, const float* p, const float* v0, size_t stride, int n, int d, int c0) {
  int c = c0;
  for (; c + 16 <= d; c += 16) weightedSumBlock<1>(acc, p, v0, stride, n, c);
  if (c < d) {
    const __mmask16 m = tailMask(d - c);
    __m512 a = _mm512_maskz_loadu_ps(m, acc + c);
    for (int j = 0; j < n; j++) a = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), _mm512_maskz_loadu_ps(m, v0 + j * stride + c), a);
    _mm512_mask_storeu_ps(acc + c, m, a);
  }
}

void weightedSumRun(float* acc, const float* p, const float* v0, size_t stride, int n, int d) {
  int c = 0;
  for (; c + 128 <= d; c += 128) weightedSumBlock<8>(acc, p, v0, stride, n, c);
  weightedSumRunTail(acc, p, v0, stride, n, d, c);
}

// weightedSumRun for NR rows (acc + r·accStride, weights p + r·pStride) over the same value rows, columns
// [c, c + 64): each value chunk is loaded once (the empty asm keeps the compiler from folding the load into every
// FMA that reads it) for all NR rows; every row's sum is carried in the same order as weightedSumRun carries it.
template <int NR>
inline void weightedSumRows64(float* acc, size_t accStride, const float* p, size_t pStride, const float* v0, size_t stride, int n, int c) {
  __m512 x[NR][4];
  for (int r = 0; r < NR; r++)
    for (int i = 0; i < 4; i++) x[r][i] = _mm512_loadu_ps(acc + r * accStride + c + 16 * i);
  for (int j = 0; j < n; j++) {
    const float* v = v0 + j * stride + c;
    __m512 vi[4];
    for (int i = 0; i < 4; i++) {
      vi[i] = _mm512_loadu_ps(v + 16 * i);
      __asm__("" : "+v"(vi[i]));
    }
    for (int r = 0; r < NR; r++) {
      const __m512 w = _mm512_set1_ps(p[r * pStride + j]);
      for (int i = 0; i < 4; i++) x[r][i] = _mm512_fmadd_ps(w, vi[i], x[r][i]);
    }
  }
  for (int r = 0; r < NR; r++)
    for (int i = 0; i < 4; i++) _mm512_storeu_ps(acc + r * accStride + c + 16 * i, x[r][i]);
}

// weightedSumRun for nr rows (acc + r·accStride, p + r·pStride) over the same value rows: four rows per pass (then
// two, then one), 64 columns at a time, so each value chunk is loaded once for all of them; every row's sum is
// carried in the same order as weightedSumRun carries it.
void weightedSumRunRows(float* acc, size_t accStride, const float* p, size_t pStride, int nr, const float* v0, size_t stride, int n, int d) {
  int r = 0;
  auto rows = [&](auto nrTag) {
    constexpr int NR = decltype(nrTag)::value;
    float* a = acc + r * accStride;
    const float* pr = p + r * pStride;
    int c = 0;
    for (; c + 64 <= d; c += 64) weightedSumRows64<NR>(a, accStride, pr, pStride, v0, stride, n, c);
    if (c < d)
      for (int u = 0; u < NR; u++) weightedSumRunTail(a + u * accStride, pr + u * pStride, v0, stride, n, d, c);
    r += NR;
  };
  while (r + 4 <= nr) rows(std::integral_constant<int, 4>());
  if (r + 2 <= nr) rows(std::integral_constant<int, 2>());
  if (r < nr) rows(std::integral_constant<int, 1>());
}

// ---- vector helpers ----
// exp(x), float32, ≈1 ulp (Cephes polynomial, range reduction by ln 2 in two parts, scalef for 2^n); NaN stays NaN.
inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));  // NaN (2nd operand) passes
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(y, n);
}

float expShiftSum(float* s, int n, float m) {
  const __m512 mv = _mm512_set1_ps(m);
  __m512 sum = _mm512_setzero_ps();
  for (int i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : tailMask(n - i);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + i), mv));
    _mm512_mask_storeu_ps(s + i, k, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(k, e));
  }
  return _mm512_reduce_add_ps(sum);
}

void swiglu(float* y, const float* g, const float* u, size_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : tailMask(static_cast<int>(n - i));
    const __m512 gv = _mm512_maskz_loadu_ps(k, g + i);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), gv));
    const __m512 silu = _mm512_div_ps(gv, _mm512_add_ps(one, e));
    _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(k, u + i)));
  }
}

float readSum(const float* p, size_t n) {
  __m512 s[8];
  for (int j = 0; j < 8; j++) s[j] = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 128 <= n; i += 128)
    for (int j = 0; j < 8; j++) s[j] = _mm512_add_ps(s[j], _mm512_load_ps(p + i + 16 * j));
  float tail = 0;
  for (; i < n; i++) tail += p[i];
  for (int j = 1; j < 8; j++) s[0] = _mm512_add_ps(s[0], s[j]);
  return _mm512_reduce_add_ps(s[0]) + tail;
}

}  // namespace
}  // namespace mimo

#pragma GCC pop_options

namespace mimo {

const KernelTable& kernelsAvx512() {
  static const KernelTable table = [] {
    KernelTable t = {matmulRows, scoreRun, weightedSumRun, expShiftSum, swiglu, readSum};
    t.scoreRunRows = scoreRunRows;
    t.weightedSumRunRows = weightedSumRunRows;
    return t;
  }();
  return table;
}

}  // namespace mimo
