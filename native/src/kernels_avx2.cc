// AVX2 + FMA + F16C kernels (8 lanes). Same structure and numerics as kernels_avx512.cc: weights dequantised to f32 in
// registers, one accumulator per (row, token), 6 × 16 GEMM micro-tile. Tails go through small zero-padded buffers.
#include <immintrin.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "ggml_kernels.h"
#include "ggml_q8.h"
#include "kernels.h"
#include "mxfp4.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,ssse3")

namespace mimo {
namespace {

template <WDType D>
struct Dec;

template <>
struct Dec<WDType::F32> {
  using T = float;
  static __m256 load(const float* p, __m256) { return _mm256_loadu_ps(p); }
};

template <>
struct Dec<WDType::BF16> {
  using T = uint16_t;
  static __m256 load(const uint16_t* p, __m256) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
};

template <>
struct Dec<WDType::F16> {
  using T = uint16_t;
  static __m256 load(const uint16_t* p, __m256) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
};

template <>
struct Dec<WDType::FP8> {
  using T = uint8_t;
  // s eeee mmm → f16 s 0eeee mmm0000000 = value / 256; × (256 · scale); codes 0x7F/0xFF → NaN.
  static __m256 load(const uint8_t* p, __m256 scale256) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    __m128i h = _mm_cvtepi8_epi16(b);
    h = _mm_and_si128(_mm_slli_epi16(h, 7), _mm_set1_epi16(static_cast<short>(0xBFFF)));
    const __m256 v = _mm256_mul_ps(_mm256_cvtph_ps(h), scale256);
    const __m128i m7f = _mm_set1_epi8(0x7F);
    const __m128i nan8 = _mm_cmpeq_epi8(_mm_and_si128(b, m7f), m7f);
    const __m256 nan = _mm256_castsi256_ps(_mm256_cvtepi8_epi32(nan8));
    return _mm256_blendv_ps(v, _mm256_set1_ps(NAN), nan);
  }
};

// Fast fp8 route (see kernels_avx512.cc): (sign-extended byte << 20) & 0x87F00000 = value · 2^-120, × scale · 2^120.
struct Fp8Fast {
  using T = uint8_t;
  static constexpr float kFactor = 0x1p120f;
  static __m256 load(const uint8_t* p, __m256 fac) {
    __m256i d = _mm256_slli_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))), 20);
    d = _mm256_and_si256(d, _mm256_set1_epi32(static_cast<int>(0x87F00000u)));
    return _mm256_mul_ps(_mm256_castsi256_ps(d), fac);
  }
};

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

inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256 loadPartial(const float* p, int n) {
  alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(buf, p, sizeof(float) * n);
  return _mm256_load_ps(buf);
}

template <class Dc>
inline __m256 loadWeightPartial(const typename Dc::T* p, int n, __m256 s) {
  using T = typename Dc::T;
  alignas(32) T buf[16] = {};
  std::memcpy(buf, p, sizeof(T) * n);
  return Dc::load(buf, s);
}

inline __m256 fp8Scale(const WeightView& w, int r, int block, float factor = 256.0f) {
  return _mm256_set1_ps(w.scales[static_cast<size_t>(w.rowScale[r]) * w.scaleCols + block] * factor);
}

template <class Dc, int R, int TT>
void rowsTile(const MatmulArgs& a, int r, int t0) {
  using T = typename Dc::T;
  constexpr bool kFp8 = Route<Dc>::kFp8;
  const int K = a.w.cols;
  const int N = a.w.rows;
  const T* wp[R];
  const float* xp[TT];
  for (int i = 0; i < R; i++) wp[i] = static_cast<const T*>(a.w.data) + static_cast<size_t>(r + i) * K;
  for (int t = 0; t < TT; t++) xp[t] = a.x + static_cast<size_t>(t0 + t) * K;
  __m256 acc[R][TT];
  for (int i = 0; i < R; i++)
    for (int t = 0; t < TT; t++) acc[i][t] = _mm256_setzero_ps();
  const int seg = kFp8 ? a.w.blockCols : K;
  for (int c0 = 0, block = 0; c0 < K; c0 += seg, block++) {
    const int c1 = c0 + seg < K ? c0 + seg : K;
    __m256 s[R];
    for (int i = 0; i < R; i++) s[i] = kFp8 ? fp8Scale(a.w, r + i, block, Route<Dc>::kFactor) : _mm256_setzero_ps();
    int c = c0;
    for (; c + 8 <= c1; c += 8) {
      __m256 xv[TT];
      for (int t = 0; t < TT; t++) xv[t] = _mm256_loadu_ps(xp[t] + c);
      for (int i = 0; i < R; i++) {
        const __m256 wv = Dc::load(wp[i] + c, s[i]);
        for (int t = 0; t < TT; t++) acc[i][t] = _mm256_fmadd_ps(wv, xv[t], acc[i][t]);
      }
    }
    if (c < c1) {
      __m256 xv[TT];
      for (int t = 0; t < TT; t++) xv[t] = loadPartial(xp[t] + c, c1 - c);
      for (int i = 0; i < R; i++) {
        const __m256 wv = loadWeightPartial<Dc>(wp[i] + c, c1 - c, s[i]);
        for (int t = 0; t < TT; t++) acc[i][t] = _mm256_fmadd_ps(wv, xv[t], acc[i][t]);
      }
    }
  }
  for (int i = 0; i < R; i++)
    for (int t = 0; t < TT; t++) a.y[static_cast<size_t>(t0 + t) * N + r + i] = hsum8(acc[i][t]);
}

// True when rows [r, r + n) hold no NaN code and use only block scales below 2^8 (see kernels_avx512.cc).
bool fp8FastOk(const WeightView& w, int r, int n) {
  const int K = w.cols;
  const int blocks = ceilDiv(K, w.blockCols);
  const __m256i m7f = _mm256_set1_epi8(0x7F);
  __m256i least = m7f;
  bool nanTail = false;
  for (int i = 0; i < n; i++) {
    const float* srow = w.scales + static_cast<size_t>(w.rowScale[r + i]) * w.scaleCols;
    for (int b = 0; b < blocks; b++) {
      if (!(std::fabs(srow[b]) < 256.0f)) return false;
    }
    const uint8_t* p = static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r + i) * K;
    int c = 0;
    for (; c + 32 <= K; c += 32)
      least = _mm256_min_epu8(least, _mm256_andnot_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + c)), m7f));
    for (; c < K; c++) nanTail |= (p[c] & 0x7F) == 0x7F;
  }
  return !nanTail && _mm256_movemask_epi8(_mm256_cmpeq_epi8(least, _mm256_setzero_si256())) == 0;
}

template <class Dc, int R>
void rowsBlock(const MatmulArgs& a, int r) {
  int t0 = 0;
  for (; t0 + 2 <= a.T; t0 += 2) rowsTile<Dc, R, 2>(a, r, t0);
  if (t0 < a.T) rowsTile<Dc, R, 1>(a, r, t0);
}

template <WDType D, int R>
void rowsGroup(const MatmulArgs& a, int r) {
  if (D == WDType::FP8 && fp8FastOk(a.w, r, R)) rowsBlock<Fp8Fast, R>(a, r);
  else rowsBlock<Dec<D>, R>(a, r);
}

template <WDType D>
void matmulRowsT(const MatmulArgs& a, int r0, int r1) {
  int r = r0;
  for (; r + 4 <= r1; r += 4) rowsGroup<D, 4>(a, r);
  for (; r < r1; r++) rowsGroup<D, 1>(a, r);
}

// ---- MXFP4 (see kernels_avx512.cc): the 16 bytes of a block split into low and high nibbles, looked up 16 at a time
// (pshufb) as int8 2·FP4 values, widened to f32 8 at a time; the block scale carries the ½ (exact: a power of two).
// FP4 −0 becomes +0, which no sum can tell apart from −0 except an all-zero one. ----
inline void fp4Block(const uint8_t* p, __m256& l0, __m256& l1, __m256& h0, __m256& h1) {
  const __m128i lut = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i lo = _mm_shuffle_epi8(lut, _mm_and_si128(b, m4));
  const __m128i hi = _mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(b, 4), m4));
  l0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
  l1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
  h0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
  h1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

// Per (row, token) and block: part = Σ over the block's two 8-byte halves h of 2·FP4[lo]·xe[8h..] + 2·FP4[hi]·xo[8h..]
// (one mul and three FMAs), acc = part · 2^(e−128) + acc. Same steps for every R and TT.
template <int R, int TT>
void mxRowsTile(const MatmulArgs& a, const float* xd, int r, int t0) {
  const int K = a.w.cols;
  const int N = a.w.rows;
  const int blocks = K / kMxBlock;
  const float* ev = e8m0Values();
  const MxRows<R> rows(a.w, r);
  const uint8_t* const(&wp)[R] = rows.codes;
  const uint8_t* const(&sp)[R] = rows.scales;
  const float* xp[TT];
  for (int t = 0; t < TT; t++) xp[t] = xd + static_cast<size_t>(t0 + t) * K;
  __m256 acc[R][TT];
  for (int i = 0; i < R; i++)
    for (int t = 0; t < TT; t++) acc[i][t] = _mm256_setzero_ps();
  for (int b = 0; b < blocks; b++) {
    for (int i = 0; i < R; i++) {
      __m256 l0, l1, h0, h1;
      fp4Block(wp[i] + b * 16, l0, l1, h0, h1);
      const __m256 sc = _mm256_set1_ps(ev[sp[i][b]] * 0.5f);
      for (int t = 0; t < TT; t++) {
        const float* x = xp[t] + b * kMxBlock;
        __m256 part = _mm256_mul_ps(l0, _mm256_loadu_ps(x));
        part = _mm256_fmadd_ps(l1, _mm256_loadu_ps(x + 8), part);
        part = _mm256_fmadd_ps(h0, _mm256_loadu_ps(x + 16), part);
        part = _mm256_fmadd_ps(h1, _mm256_loadu_ps(x + 24), part);
        acc[i][t] = _mm256_fmadd_ps(part, sc, acc[i][t]);
      }
    }
  }
  for (int i = 0; i < R; i++)
    for (int t = 0; t < TT; t++) {
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, acc[i][t]);
      a.y[static_cast<size_t>(t0 + t) * N + r + i] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    }
}

void mxMatmulRows(const MatmulArgs& a, int r0, int r1) {
  float* const xdStore = mxScratch(static_cast<size_t>(a.T) * a.w.cols);
  deinterleaveMxfp4(a.x, a.T, a.w.cols, xdStore);
  int r = r0;
  for (; r + 4 <= r1; r += 4) {
    int t0 = 0;
    for (; t0 + 2 <= a.T; t0 += 2) mxRowsTile<4, 2>(a, xdStore, r, t0);
    if (t0 < a.T) mxRowsTile<4, 1>(a, xdStore, r, t0);
  }
  for (; r < r1; r++)
    for (int t0 = 0; t0 < a.T; t0++) mxRowsTile<1, 1>(a, xdStore, r, t0);
}

void matmulRows(const MatmulArgs& a, int r0, int r1) {
  switch (a.w.dtype) {
    case WDType::F32: matmulRowsT<WDType::F32>(a, r0, r1); break;
    case WDType::BF16: matmulRowsT<WDType::BF16>(a, r0, r1); break;
    case WDType::F16: matmulRowsT<WDType::F16>(a, r0, r1); break;
    case WDType::FP8: matmulRowsT<WDType::FP8>(a, r0, r1); break;
    case WDType::MXFP4: mxMatmulRows(a, r0, r1); break;
    case WDType::GGML: a.w.q8Act ? ggmlQ8MatmulRowsAvx2(a, r0, r1) : ggmlMatmulRowsAvx2(a, r0, r1); break;
  }
}

// ---- attention (see kernels_avx512.cc) ----
template <int KK>
inline void scoreKeys(const float* q, const float* k, size_t stride, int d, float scale, float* out) {
  __m256 acc[KK][2];
  for (int j = 0; j < KK; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
  int c = 0;
  for (; c + 16 <= d; c += 16) {
    const __m256 q0 = _mm256_loadu_ps(q + c), q1 = _mm256_loadu_ps(q + c + 8);
    for (int j = 0; j < KK; j++) {
      acc[j][0] = _mm256_fmadd_ps(q0, _mm256_loadu_ps(k + j * stride + c), acc[j][0]);
      acc[j][1] = _mm256_fmadd_ps(q1, _mm256_loadu_ps(k + j * stride + c + 8), acc[j][1]);
    }
  }
  for (; c < d; c += 8) {
    const int left = d - c < 8 ? d - c : 8;
    const __m256 q0 = loadPartial(q + c, left);
    for (int j = 0; j < KK; j++) acc[j][0] = _mm256_fmadd_ps(q0, loadPartial(k + j * stride + c, left), acc[j][0]);
  }
  for (int j = 0; j < KK; j++) out[j] = hsum8(_mm256_add_ps(acc[j][0], acc[j][1])) * scale;
}

void scoreRun(const float* q, const float* k0, size_t stride, int n, int d, float scale, float* out) {
  int j = 0;
  for (; j + 4 <= n; j += 4) scoreKeys<4>(q, k0 + j * stride, stride, d, scale, out + j);
  for (; j < n; j++) scoreKeys<1>(q, k0 + j * stride, stride, d, scale, out + j);
}

template <int NC>
inline void weightedSumBlock(float* acc, const float* p, const float* v0, size_t stride, int n, int c) {
  __m256 a[NC];
  for (int i = 0; i < NC; i++) a[i] = _mm256_loadu_ps(acc + c + 8 * i);
  for (int j = 0; j < n; j++) {
    const __m256 pj = _mm256_set1_ps(p[j]);
    const float* v = v0 + j * stride + c;
    for (int i = 0; i < NC; i++) a[i] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 8 * i), a[i]);
  }
  for (int i = 0; i < NC; i++) _mm256_storeu_ps(acc + c + 8 * i, a[i]);
}

void weightedSumRun(float* acc, const float* p, const float* v0, size_t stride, int n, int d) {
  int c = 0;
  for (; c + 64 <= d; c += 64) weightedSumBlock<8>(acc, p, v0, stride, n, c);
  for (; c + 8 <= d; c += 8) weightedSumBlock<1>(acc, p, v0, stride, n, c);
  for (; c < d; c++) {
    float a = acc[c];
    for (int j = 0; j < n; j++) a = std::fma(p[j], v0[j * stride + c], a);
    acc[c] = a;
  }
}

// ---- vector helpers ----
// exp(x), float32, ≈1 ulp: Cephes polynomial; 2^n applied as 2^(n/2) · 2^(n − n/2) so every power is a normal float.
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));  // NaN (2nd operand) passes
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256 p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
  const __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(_mm256_mul_ps(y, p1), p2);
}

float expShiftSum(float* s, int n, float m) {
  const __m256 mv = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + i), mv));
    _mm256_storeu_ps(s + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (i < n) {
    alignas(32) float buf[8];
    _mm256_store_ps(buf, exp8(_mm256_sub_ps(loadPartial(s + i, n - i), mv)));
    for (int j = n - i; j < 8; j++) buf[j] = 0.0f;
    std::memcpy(s + i, buf, sizeof(float) * (n - i));
    sum = _mm256_add_ps(sum, _mm256_load_ps(buf));
  }
  return hsum8(sum);
}

void swiglu(float* y, const float* g, const float* u, size_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 gv = _mm256_loadu_ps(g + i);
    const __m256 silu = _mm256_div_ps(gv, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv))));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
  }
  if (i < n) {
    const int left = static_cast<int>(n - i);
    const __m256 gv = loadPartial(g + i, left);
    const __m256 silu = _mm256_div_ps(gv, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv))));
    alignas(32) float buf[8];
    _mm256_store_ps(buf, _mm256_mul_ps(silu, loadPartial(u + i, left)));
    std::memcpy(y + i, buf, sizeof(float) * left);
  }
}

float readSum(const float* p, size_t n) {
  __m256 s[8];
  for (int j = 0; j < 8; j++) s[j] = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= n; i += 64)
    for (int j = 0; j < 8; j++) s[j] = _mm256_add_ps(s[j], _mm256_load_ps(p + i + 8 * j));
  float tail = 0;
  for (; i < n; i++) tail += p[i];
  for (int j = 1; j < 8; j++) s[0] = _mm256_add_ps(s[0], s[j]);
  return hsum8(s[0]) + tail;
}

}  // namespace
}  // namespace mimo

#pragma GCC pop_options

namespace mimo {

const KernelTable& kernelsAvx2() {
  static const KernelTable table = {matmulRows, scoreRun, weightedSumRun, expShiftSum, swiglu, readSum};
  return table;
}

}  // namespace mimo
