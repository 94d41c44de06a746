// The 8-bit-activation row kernels of ggml_q8.h (`precision: 'fast'`): the portable one (scalar level and the
// definition in C++ of src/kernels/reference/q8-activations.ts), AVX2 (maddubs, sign trick) and AVX-512 VNNI (vpdpbusd on x + 128 with a −128 · Σ w start). Each
// level computes the same exact int32 block sums and the same float32 operations in the same order, so all levels
// (and the TypeScript reference) give the same bits.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu.h"
#include "ggml_blocks.h"
#include "ggml_q8.h"

namespace mimo {

bool ggmlQ8ActType(int type) { return type == kQ4_0 || type == kQ5_0 || type == kQ8_0 || type == kIQ4_NL || type == kMXFP4; }

namespace {

// Nearest integer, ties to even (the default rounding mode, as cvtps2dq), clamped to [−127, 127].
inline int8_t q8Code(float v) {
  float r = std::nearbyint(v);
  if (r > 127.0f) r = 127.0f;
  if (r < -127.0f) r = -127.0f;
  return static_cast<int8_t>(r);
}

void quantizePortable(const float* x, int T, int K, int8_t* xq, float* xd) {
  const size_t n = static_cast<size_t>(T) * K;
  for (size_t o = 0; o < n; o += 32) {
    float amax = 0.0f;
    for (int i = 0; i < 32; i++) amax = std::max(amax, std::fabs(x[o + i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    xd[o / 32] = d;
    for (int i = 0; i < 32; i++) xq[o + i] = q8Code(x[o + i] * id);
  }
}

float rowDotPortable(int type, const uint8_t* row, const int8_t* xq, const float* xd, int nb) {
  int e = 32, bytes = 0;
  ggmlBlockGeometry(type, &e, &bytes);
  float acc[16] = {};
  for (int b = 0; b < nb; b++) {
    const uint8_t* p = row + static_cast<size_t>(b) * bytes;
    int8_t q[32];
    float s[2], bias[2];
    groupCodes(type, p, 0, q);
    groupScales<HalfPortable>(type, p, 0, s, bias);
    const float scale = s[0] * xd[b];
    const int8_t* x = xq + 32 * b;
    float* a = acc + 8 * (b & 1);
    for (int l = 0; l < 8; l++) {
      int32_t part = 0;
      for (int i = 4 * l; i < 4 * l + 4; i++) part += static_cast<int32_t>(q[i]) * x[i];
      a[l] = a[l] + static_cast<float>(part) * scale;
    }
  }
  float e8[8];
  for (int l = 0; l < 8; l++) e8[l] = acc[l] + acc[8 + l];
  return ((e8[0] + e8[4]) + (e8[2] + e8[6])) + ((e8[1] + e8[5]) + (e8[3] + e8[7]));
}

// a.xq / a.xd, or x quantised now into this thread's buffer.
void quantized(const MatmulArgs& a, const int8_t** xq, const float** xd) {
  if (a.xq) {
    *xq = a.xq;
    *xd = a.xd;
    return;
  }
  static thread_local Q8Buffer own;
  own.quantize(a.x, a.T, a.w.cols);
  *xq = own.q;
  *xd = own.d;
}

}  // namespace

// The AVX2 quantiser (below, in the AVX2 target region); the bits of quantizePortable.
void ggmlQ8QuantizeAvx2(const float* x, int T, int K, int8_t* xq, float* xd);

void ggmlQ8Quantize(const float* x, int T, int K, int8_t* xq, float* xd) {
  if (currentLevel() == Level::Scalar) quantizePortable(x, T, K, xq, xd);
  else ggmlQ8QuantizeAvx2(x, T, K, xq, xd);
}

void Q8Buffer::quantize(const float* x, int T, int K) {
  const size_t n = static_cast<size_t>(T) * K;
  if (qStore.size() < n + 64) qStore.resize(n + 64);
  if (dStore.size() < n / 32 + 2) dStore.resize(n / 32 + 2);
  q = qStore.data();
  d = dStore.data();
  ggmlQ8Quantize(x, T, K, q, d);
}

void ggmlQ8MatmulRowsScalar(const MatmulArgs& a, int r0, int r1) {
  const int K = a.w.cols, N = a.w.rows, T = a.T, nb = K / 32;
  const int8_t* xq;
  const float* xd;
  quantized(a, &xq, &xd);
  const size_t rowBytes = ggmlRowBytes(a.w.ggmlType, K);
  for (int r = r0; r < r1; r++) {
    const uint8_t* row = static_cast<const uint8_t*>(a.w.data) + static_cast<size_t>(r) * rowBytes;
    for (int t = 0; t < T; t++)
      a.y[static_cast<size_t>(t) * N + r] = rowDotPortable(a.w.ggmlType, row, xq + static_cast<size_t>(t) * K, xd + static_cast<size_t>(t) * nb, nb);
  }
}

}  // namespace mimo

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

#include "ggml_simd.h"

namespace mimo {
namespace {

// The 32 int8 codes of the block at p (ggml_simd.h simdCodes: columns 0–15 low lane, 16–31 high).
template <int TY>
inline __attribute__((always_inline)) __m256i blockCodes(const uint8_t* p) {
  __m128i q0, q1;
  simdCodes<TY>(p, 0, q0, q1);
  return _mm256_inserti128_si256(_mm256_castsi128_si256(q0), q1, 1);
}

// The block's f32 scale (F16 d, or MXFP4's E8M0 2^(e − 128)).
template <int TY>
inline __attribute__((always_inline)) float blockScale(const uint8_t* p) {
  if constexpr (TY == kMXFP4) return e8m0Half(p[0]);
  else return _cvtsh_ss(u16At(p));
}

// ((e0 + e4) + (e2 + e6)) + ((e1 + e5) + (e3 + e7)) of e = lo + hi.
inline float laneSum(__m256 lo, __m256 hi) {
  const __m256 e = _mm256_add_ps(lo, hi);
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(e), _mm256_extractf128_ps(e, 1));
  const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
}

// x `[T, K]` → xq `[T, K]` int8, xd `[T, K/32]` (ggml_q8.h step 1), one block of 32 at a time; the bits of
// quantizePortable (cvtps2dq rounds to nearest even, as nearbyint in the default mode).
void quantizeAvx2(const float* x, int T, int K, int8_t* xq, float* xd) {
  const __m256 signBit = _mm256_set1_ps(-0.0f);
  const __m256i lim = _mm256_set1_epi32(127), nlim = _mm256_set1_epi32(-127);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const size_t n = static_cast<size_t>(T) * K;
  for (size_t o = 0; o < n; o += 32) {
    __m256 v[4];
    for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(x + o + 8 * k);
    const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signBit, v[0]), _mm256_andnot_ps(signBit, v[1])),
                                   _mm256_max_ps(_mm256_andnot_ps(signBit, v[2]), _mm256_andnot_ps(signBit, v[3])));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float d = _mm_cvtss_f32(m4) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    xd[o / 32] = d;
    const __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; k++) q[k] = _mm256_max_epi32(nlim, _mm256_min_epi32(lim, _mm256_cvtps_epi32(_mm256_mul_ps(v[k], idv))));
    // packs interleaves 128-bit lanes: groups of 4 come out 0, 2, 4, 6, 1, 3, 5, 7 → permuted back to order.
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(xq + o), _mm256_permutevar8x32_epi32(p, order));
  }
}

// The (row, token) dot product of ggml_q8.h, one block per ymm (|w| times x with w's sign: |−128| is 0x80 = 128
// unsigned and x ∈ [−127, 127], so maddubs' pair sums stay below 2^15).
template <int TY>
float rowDotAvx2(const uint8_t* row, const int8_t* xq, const float* xd, int nb, size_t ahead) {
  constexpr int bytes = ggmlBlockBytes(TY);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int b = 0; b < nb; b++) {
    const uint8_t* p = row + static_cast<size_t>(b) * bytes;
    if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(p + ahead), _MM_HINT_T1);
    const __m256i w = blockCodes<TY>(p);
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 32 * b));
    const __m256i part = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), ones);
    const __m256 scale = _mm256_set1_ps(blockScale<TY>(p) * xd[b]);
    acc[b & 1] = _mm256_add_ps(acc[b & 1], _mm256_mul_ps(_mm256_cvtepi32_ps(part), scale));
  }
  return laneSum(acc[0], acc[1]);
}

template <int TY>
void rowsAvx2(const MatmulArgs& a, const int8_t* xq, const float* xd, int r0, int r1) {
  const int K = a.w.cols, N = a.w.rows, nb = K / 32;
  const size_t rowBytes = static_cast<size_t>(nb) * ggmlBlockBytes(TY);
  const uint8_t* w = static_cast<const uint8_t*>(a.w.data);
  for (int r = r0; r < r1; r++) {
    const uint8_t* row = w + static_cast<size_t>(r) * rowBytes;
    // The same bytes 4 rows down, while the row is read (short rows defeat the hardware prefetcher).
    const size_t ahead = r + 4 < N ? 4 * rowBytes : 0;
    for (int t = 0; t < a.T; t++)
      a.y[static_cast<size_t>(t) * N + r] = rowDotAvx2<TY>(row, xq + static_cast<size_t>(t) * K, xd + static_cast<size_t>(t) * nb, nb, ahead);
  }
}

}  // namespace

void ggmlQ8QuantizeAvx2(const float* x, int T, int K, int8_t* xq, float* xd) { quantizeAvx2(x, T, K, xq, xd); }

void ggmlQ8MatmulRowsAvx2(const MatmulArgs& a, int r0, int r1) {
  const int8_t* xq;
  const float* xd;
  quantized(a, &xq, &xd);
  switch (a.w.ggmlType) {
    case kQ4_0: rowsAvx2<kQ4_0>(a, xq, xd, r0, r1); break;
    case kQ5_0: rowsAvx2<kQ5_0>(a, xq, xd, r0, r1); break;
    case kQ8_0: rowsAvx2<kQ8_0>(a, xq, xd, r0, r1); break;
    case kIQ4_NL: rowsAvx2<kIQ4_NL>(a, xq, xd, r0, r1); break;
    case kMXFP4: rowsAvx2<kMXFP4>(a, xq, xd, r0, r1); break;
    default: break;  // rejected by the addon's argument checks
  }
}

}  // namespace mimo

#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")

namespace mimo {
namespace {

// Blocks 2k and 2k + 1 of a row as one zmm: the codes w, −128 · Σ w over each lane's 4 bytes (so that vpdpbusd of
// x + 128, unsigned, with w gives Σ x · w exactly), and the two block scales each broadcast over its 8 lanes. With
// `both` false only block 2k exists (the upper half is zero codes and scale 0, which adds +0 to its lanes).
struct PairW {
  __m512i w;
  __m512i negc;
  __m512 dw;
};

template <int TY>
inline __attribute__((always_inline)) PairW pairW(const uint8_t* p, bool both) {
  constexpr int bytes = ggmlBlockBytes(TY);
  const __m256i w0 = blockCodes<TY>(p);
  const __m256i w1 = both ? blockCodes<TY>(p + bytes) : _mm256_setzero_si256();
  PairW r;
  r.w = _mm512_inserti64x4(_mm512_castsi256_si512(w0), w1, 1);
  r.negc = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(static_cast<char>(0x80)), r.w));
  r.dw = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(blockScale<TY>(p))), _mm256_set1_ps(both ? blockScale<TY>(p + bytes) : 0.0f), 1);
  return r;
}

// A token's blocks 2k, 2k + 1: the codes plus 128 as unsigned bytes (64; the second block's zero when absent) and
// the two d broadcast.
struct PairX {
  __m512i u;
  __m512 d;
};

inline __attribute__((always_inline)) PairX pairX(const int8_t* xq, const float* xd, bool both) {
  PairX r;
  __m512i q = both ? _mm512_loadu_si512(xq) : _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq)));
  if (!both) q = _mm512_inserti64x4(q, _mm256_setzero_si256(), 1);
  r.u = _mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80)));
  r.d = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(xd[0])), _mm256_set1_ps(both ? xd[1] : 0.0f), 1);
  return r;
}

// acc lanes 0–7 += block 2k's terms, lanes 8–15 += block 2k + 1's (ggml_q8.h step 3); the partial sums are
// Σ (x + 128) · w − 128 · Σ w = Σ x · w, exact in int32.
inline __attribute__((always_inline)) __m512 pairStep(__m512 acc, const PairW& w, const PairX& x) {
  const __m512i part = _mm512_dpbusd_epi32(w.negc, x.u, w.w);
  return _mm512_add_ps(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(part), _mm512_mul_ps(w.dw, x.d)));
}

// R rows × TT tokens from row r, token t0.
template <int TY, int R, int TT>
void tileVnni(const MatmulArgs& a, const int8_t* xq, const float* xd, size_t rowBytes, int r, int t0) {
  constexpr int bytes = ggmlBlockBytes(TY);
  const int K = a.w.cols, N = a.w.rows, nb = K / 32;
  const uint8_t* rp[R];
  #pragma GCC unroll 8
  for (int i = 0; i < R; i++) rp[i] = static_cast<const uint8_t*>(a.w.data) + static_cast<size_t>(r + i) * rowBytes;
  const size_t ahead = r + R + 4 <= N ? 4 * rowBytes : 0;
  __m512 acc[R][TT];
  #pragma GCC unroll 8
  for (int i = 0; i < R; i++)
    #pragma GCC unroll 8
    for (int t = 0; t < TT; t++) acc[i][t] = _mm512_setzero_ps();
  for (int b = 0; b < nb; b += 2) {
    const bool both = b + 1 < nb;
    PairW w[R];
    #pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
      _mm_prefetch(reinterpret_cast<const char*>(rp[i] + static_cast<size_t>(b) * bytes + ahead), _MM_HINT_T1);
      w[i] = pairW<TY>(rp[i] + static_cast<size_t>(b) * bytes, both);
    }
    #pragma GCC unroll 8
    for (int t = 0; t < TT; t++) {
      const size_t tt = static_cast<size_t>(t0 + t);
      const PairX x = pairX(xq + tt * K + 32 * b, xd + tt * nb + b, both);
      #pragma GCC unroll 8
      for (int i = 0; i < R; i++) acc[i][t] = pairStep(acc[i][t], w[i], x);
    }
  }
  #pragma GCC unroll 8
  for (int i = 0; i < R; i++)
    #pragma GCC unroll 8
    for (int t = 0; t < TT; t++)
      a.y[static_cast<size_t>(t0 + t) * N + r + i] = laneSum(_mm512_castps512_ps256(acc[i][t]), _mm512_extractf32x8_ps(acc[i][t], 1));
}

template <int TY>
void rowsVnni(const MatmulArgs& a, const int8_t* xq, const float* xd, int r0, int r1) {
  const size_t rowBytes = static_cast<size_t>(a.w.cols / 32) * ggmlBlockBytes(TY);
  int r = r0;
  for (; r + 4 <= r1; r += 4) {
    int t = 0;
    for (; t + 4 <= a.T; t += 4) tileVnni<TY, 4, 4>(a, xq, xd, rowBytes, r, t);
    for (; t < a.T; t++) tileVnni<TY, 4, 1>(a, xq, xd, rowBytes, r, t);
  }
  for (; r < r1; r++) {
    int t = 0;
    for (; t + 4 <= a.T; t += 4) tileVnni<TY, 1, 4>(a, xq, xd, rowBytes, r, t);
    for (; t < a.T; t++) tileVnni<TY, 1, 1>(a, xq, xd, rowBytes, r, t);
  }
}

}  // namespace

void ggmlQ8MatmulRowsAvx512(const MatmulArgs& a, int r0, int r1) {
  if (!cpuFeatures().avx512vnni) {
    ggmlQ8MatmulRowsAvx2(a, r0, r1);
    return;
  }
  const int8_t* xq;
  const float* xd;
  quantized(a, &xq, &xd);
  switch (a.w.ggmlType) {
    case kQ4_0: rowsVnni<kQ4_0>(a, xq, xd, r0, r1); break;
    case kQ5_0: rowsVnni<kQ5_0>(a, xq, xd, r0, r1); break;
    case kQ8_0: rowsVnni<kQ8_0>(a, xq, xd, r0, r1); break;
    case kIQ4_NL: rowsVnni<kIQ4_NL>(a, xq, xd, r0, r1); break;
    case kMXFP4: rowsVnni<kMXFP4>(a, xq, xd, r0, r1); break;
    default: break;  // rejected by the addon's argument checks
  }
}

}  // namespace mimo

#pragma GCC pop_options
