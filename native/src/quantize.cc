// ggml block encoders, bitwise the TypeScript reference (src/tensor/formats/ggml/*.ts, which follows ggml-quants.c).
// The reference rounds every arithmetic step to float32 (Math.fround), so float arithmetic here gives the same
// values (double rounding of +, −, ×, ÷, sqrt of floats is exact; -ffp-contract=off keeps products unfused). Where
// the reference leaves float32 — Math.min/max (NaN-propagating), stores into Uint8Array/Int8Array (ToUint8/ToInt8:
// NaN and ±Infinity → 0, else modulo 256), bit operators (ToInt32), truthiness (NaN is falsy) — the js* helpers
// below reproduce JavaScript's semantics, so even rows whose scales overflow or underflow give the same bytes.
#include "quantize.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "ggml_blocks.h"

namespace mimo {
namespace {

constexpr int QK_K = 256;
constexpr float kGroupMaxEps = 1e-15f;  // quant-search.ts GROUP_MAX_EPS
constexpr float kRound = 12582912.f;    // 1.5·2^23: (v + kRound) − kRound rounds |v| < 2^22 to nearest, ties even
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// JavaScript ToInt32 of a number.
inline int32_t jsInt32(double v) {
  if (v > -2147483649.0 && v < 2147483648.0) return static_cast<int32_t>(v);  // truncates toward zero
  if (!std::isfinite(v)) return 0;                                             // NaN, ±Infinity
  double m = std::fmod(std::trunc(v), 4294967296.0);
  if (m < 0) m += 4294967296.0;
  return static_cast<int32_t>(static_cast<uint32_t>(m));
}
// A store into a Uint8Array / Int8Array (ToUint8 / ToInt8: the low 8 bits of ToInt32).
inline uint8_t jsU8(double v) { return static_cast<uint8_t>(jsInt32(v)); }
inline int8_t jsI8(double v) { return static_cast<int8_t>(static_cast<uint8_t>(jsInt32(v))); }
// JavaScript truthiness of a number (0, −0 and NaN are false).
inline bool jsTruthy(float v) { return v == v && v != 0; }
// Math.min(a, b) / Math.max(a, b): NaN when either is NaN, −0 < +0.
inline float jsMin(float a, float b) {
  if (a != a || b != b) return kNaN;
  if (a == b) return std::signbit(a) ? a : b;
  return a < b ? a : b;
}
inline float jsMax(float a, float b) {
  if (a != a || b != b) return kNaN;
  if (a == b) return std::signbit(a) ? b : a;
  return a > b ? a : b;
}
// Math.max(lo, Math.min(hi, v)).
inline float jsClamp(float v, float lo, float hi) { return jsMax(lo, jsMin(hi, v)); }
// quant-search.ts nearestInt: nearest integer, ties to even (NaN and ±Infinity unchanged).
inline float nearestInt(float v) {
  if (std::fabs(v) < 4194304.f) return (v + kRound) - kRound;  // exact for |v| < 2^22 (kRound is even)
  return std::rint(v);                                          // default rounding mode: nearest, ties even
}

// float.ts f32ToF16Bits: round to nearest even, subnormals kept, overflow to ±Infinity, NaN stays NaN.
uint16_t f32ToF16Bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint32_t sign = (u >> 16) & 0x8000;
  const int exp = static_cast<int>((u >> 23) & 0xff);
  uint32_t mant = u & 0x7fffff;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));
  const int e = exp - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000;
    const int shift = 14 - e;
    const uint32_t half = 1u << (shift - 1);
    uint32_t r = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    if (rem > half || (rem == half && (r & 1))) r++;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
  return static_cast<uint16_t>(sign | r);
}

// float.ts putF16: the F16 bits of x little-endian at dst, returns the value they hold.
inline float putF16(uint8_t* dst, float x) {
  const uint16_t h = f32ToF16Bits(x);
  dst[0] = static_cast<uint8_t>(h);
  dst[1] = static_cast<uint8_t>(h >> 8);
  return HalfPortable::f(h);
}

inline void putU32(uint8_t* dst, uint32_t v) {
  for (int i = 0; i < 4; i++) dst[i] = static_cast<uint8_t>(v >> (8 * i));
}

// ---- quant-search.ts ----

// bestIndexInt8 over the 16 IQ4_NL levels: nearest level, a tie going up. kIq4Mid[j] = values[j − 1] + values[j];
// the same 4-step binary search, branch-free.
const float kIq4Mid[16] = {0, -231, -187, -148, -114, -84, -57, -32, -9, 14, 38, 63, 91, 122, 158, 202};
inline int bestIndexIq4(float x) {
  const float x2 = x + x;
  int idx = 0;
  idx += x2 >= kIq4Mid[idx + 8] ? 8 : 0;
  idx += x2 >= kIq4Mid[idx + 4] ? 4 : 0;
  idx += x2 >= kIq4Mid[idx + 2] ? 2 : 0;
  idx += x2 >= kIq4Mid[idx + 1] ? 1 : 0;
  return idx;
}

// largestByMagnitude: the first value of largest magnitude (0 when all are 0).
float largestByMagnitude(const float* x, int n) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; i++) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  return max;
}

// makeQ3Quants: L = code + nmax (int8), returns the scale.
float makeQ3Quants(int n, int nmax, const float* x, int8_t* L) {
  const float max = largestByMagnitude(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::memset(L, 0, n);
    return 0;
  }
  const float fn = static_cast<float>(nmax), hi = static_cast<float>(nmax - 1), lo = -fn;
  const float iscale = -fn / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; i++) {
    const float xi = x[i];
    const float l = jsClamp(nearestInt(iscale * xi), lo, hi);
    L[i] = jsI8(l);
    const float w = xi * xi;
    sumlx = sumlx + (w * xi) * l;
    suml2 = suml2 + (w * l) * l;
  }
  for (int itry = 0; itry < 5; itry++) {
    int changed = 0;
    for (int i = 0; i < n; i++) {
      const float xi = x[i];
      const float w = xi * xi;
      const float li = static_cast<float>(L[i]);
      float slx = sumlx - (w * xi) * li;
      if (slx > 0) {
        float sl2 = suml2 - (w * li) * li;
        const float nl = jsClamp(nearestInt((xi * sl2) / slx), lo, hi);
        if (nl != li) {
          slx = slx + (w * xi) * nl;
          sl2 = sl2 + (w * nl) * nl;
          if (sl2 > 0 && (slx * slx) * suml2 > (sumlx * sumlx) * sl2) {
            L[i] = jsI8(nl);
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; i++) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0 ? sumlx / suml2 : 0.f;
}

// quant-search.ts makeQkx2Quants on 8 groups of n ≤ 32 values at once, lane g = group g (xt[i], wt[i]: element i
// of each group's values and weights): per lane the reference's float32 operations in its order, each branch a
// select, so each group's codes (L[n·g …], 0 … nmax), scale and min (≥ 0) are the reference's. The first nearest-int may use the 1.5·2^23
// rounding for every |v|: its result is clamped to [0, nmax], where the two agree.
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

// Inlined into the encoders, which are also compiled for AVX2 (target_clones; the bytes do not depend on the ISA).
#define MIMO_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#define MIMO_INLINE inline __attribute__((always_inline))

#define MIMO_VABS(v) reinterpret_cast<v8f>(reinterpret_cast<v8i>(v) & 0x7fffffff)

MIMO_INLINE void makeQkx2Quants8(int n, int nmax, const v8f* xt, const v8f* wt, uint8_t* L, float rmin, float rdelta, int nstep,
                     bool useMad, float* scaleOut, float* minOut) {
  const v8f zero = {};
  const v8f fn = zero + static_cast<float>(nmax);
  v8f min = xt[0], max = xt[0];
  v8f sumW = wt[0];
  v8f sumX = sumW * xt[0];
  for (int i = 1; i < n; i++) {
    const v8f xi = xt[i];
    min = xi < min ? xi : min;
    max = xi > max ? xi : max;
    sumW = sumW + wt[i];
    sumX = sumX + wt[i] * xi;
  }
  min = min > 0 ? zero : min;
  const v8i flat = max == min;
  const v8f flatMin = min;
  const v8f iscale0 = fn / (max - min);
  v8f scale = 1.f / iscale0;
  v8f bestError = zero;
  v8f lt[32], la[32];
  for (int i = 0; i < n; i++) {
    const v8f xi = xt[i];
    v8f l = (iscale0 * (xi - min) + kRound) - kRound;
    l = l > fn ? fn : l;
    l = l < 0 ? zero : l;  // NaN stays NaN (as Math.max / Math.min)
    lt[i] = l == l ? l : zero;
    v8f diff = ((scale * l) + min) - xi;
    diff = useMad ? MIMO_VABS(diff) : diff * diff;
    bestError = bestError + wt[i] * diff;
  }
  for (int is = 0; is <= nstep; is++) {
    const float c = (rmin + rdelta * static_cast<float>(is)) + static_cast<float>(nmax);
    const v8f iscale = c / (max - min);
    v8f sumL = zero, sumL2 = zero, sumXL = zero;
    for (int i = 0; i < n; i++) {
      const v8f xi = xt[i];
      v8f l = (iscale * (xi - min) + kRound) - kRound;
      l = l < 0 ? zero : l > fn ? fn : l;
      la[i] = l == l ? l : zero;
      const v8f wl = wt[i] * l;
      sumL = sumL + wl;
      sumL2 = sumL2 + wl * l;
      sumXL = sumXL + wl * xi;
    }
    const v8f D = sumW * sumL2 - sumL * sumL;
    const v8i ok = D > 0;
    v8f thisScale = (sumW * sumXL - sumX * sumL) / D;
    v8f thisMin = (sumL2 * sumX - sumL * sumXL) / D;
    const v8i pos = thisMin > 0;
    thisMin = pos ? zero : thisMin;
    thisScale = pos ? sumXL / sumL2 : thisScale;
    v8f curError = zero;
    for (int i = 0; i < n; i++) {
      v8f diff = ((thisScale * la[i]) + thisMin) - xt[i];
      diff = useMad ? MIMO_VABS(diff) : diff * diff;
      curError = curError + wt[i] * diff;
    }
    const v8i take = ok & (curError < bestError);
    bool any = false;
    for (int g = 0; g < 8; g++) any |= take[g] != 0;
    if (!any) continue;
    for (int i = 0; i < n; i++) lt[i] = take ? la[i] : lt[i];
    bestError = take ? curError : bestError;
    scale = take ? thisScale : scale;
    min = take ? thisMin : min;
  }
  for (int g = 0; g < 8; g++) {
    for (int i = 0; i < n; i++) L[n * g + i] = flat[g] ? 0 : static_cast<uint8_t>(lt[i][g]);
    scaleOut[g] = flat[g] ? 0.f : scale[g];
    minOut[g] = flat[g] ? -flatMin[g] : -min[g];
  }
}

// quant-search.ts makeQxQuants (x² weights) on 8 groups of n ≤ 32 values at once, lane g = group g (xt[i]:
// element i of each group): codes + nmax into L[n·g …], scales out; per lane the reference's operations in its
// order. The first nearest-int uses the 1.5·2^23 rounding: its result is clamped to [−nmax, nmax − 1], where the two
// agree (and a −0 there, which the reference may give, adds nothing to the sums).
MIMO_INLINE void makeQxQuants8(int n, int nmax, const v8f* xt, uint8_t* L, float* scaleOut) {
  const v8f zero = {};
  const float fn = static_cast<float>(nmax), hi = static_cast<float>(nmax - 1), lo = -fn;
  v8f max = zero, amax = zero;
  for (int i = 0; i < n; i++) {
    const v8f ax = MIMO_VABS(xt[i]);
    const v8i bigger = ax > amax;
    amax = bigger ? ax : amax;
    max = bigger ? xt[i] : max;
  }
  const v8i empty = MIMO_VABS(max) < kGroupMaxEps;
  // One candidate inverse scale: codes + nmax into out, Σ x²·x·l and Σ x²·l² into sumlx / suml2.
  v8f sumlx, suml2;
  const auto candidate = [&](const v8f iscale, v8f* out) {
    sumlx = zero;
    suml2 = zero;
    for (int i = 0; i < n; i++) {
      const v8f xi = xt[i];
      v8f l = (iscale * xi + kRound) - kRound;
      l = l < lo ? zero + lo : l > hi ? zero + hi : l;
      out[i] = l == l ? l + fn : zero;
      const v8f w = xi * xi;
      sumlx = sumlx + (w * xi) * l;
      suml2 = suml2 + (w * l) * l;
    }
  };
  v8f lt[32];
  candidate(-fn / max, lt);
  v8f scale = (suml2 != 0) & (suml2 == suml2) ? sumlx / suml2 : zero;
  v8f best = scale * sumlx;
  for (int is = -9; is <= 9; is++) {
    if (is == 0) continue;
    v8f la[32];
    candidate(-(fn + 0.1f * static_cast<float>(is)) / max, la);
    const v8i take = (suml2 > 0) & (sumlx * sumlx > best * suml2);
    bool any = false;
    for (int g = 0; g < 8; g++) any |= take[g] != 0;
    if (!any) continue;
    for (int i = 0; i < n; i++) lt[i] = take ? la[i] : lt[i];
    scale = take ? sumlx / suml2 : scale;
    best = take ? scale * sumlx : best;
  }
  for (int g = 0; g < 8; g++) {
    for (int i = 0; i < n; i++) L[n * g + i] = empty[g] ? 0 : static_cast<uint8_t>(lt[i][g]);
    scaleOut[g] = empty[g] ? 0.f : scale[g];
  }
}

// The IQ4_NL level nearest to each lane of x (bestIndexInt8's), as a float.
MIMO_INLINE void iq4Level(const v8f& x, v8f& q) {
  const v8f zero = {};
  const v8f x2 = x + x;
  q = zero + static_cast<float>(kIq4nlValues[0]);
  for (int k = 1; k < 16; k++) q = x2 >= kIq4Mid[k] ? q + static_cast<float>(kIq4nlValues[k] - kIq4nlValues[k - 1]) : q;
}

// iq4.ts iq4BlockScale on 8 blocks of 32 at once (xt[j]: element j of each block): the scales out (the indices
// it also finds are redone by both callers, so they are not kept). bestIndexInt8's binary search over the sorted
// midpoints is the count of midpoints ≤ 2x, and the level it picks −127 plus the steps up to it.
MIMO_INLINE void iq4BlockScale8(const v8f* xt, float* scaleOut) {
  const v8f zero = {};
  v8f max = zero, amax = zero;
  for (int j = 0; j < 32; j++) {
    const v8f ax = MIMO_VABS(xt[j]);
    const v8i bigger = ax > amax;
    amax = bigger ? ax : amax;
    max = bigger ? xt[j] : max;
  }
  const v8i empty = amax < kGroupMaxEps;
  v8f d = -max / static_cast<float>(kIq4nlValues[0]);
  v8f id = 1.f / d;
  // Σ x²·q·x and Σ x²·q² of the levels nearest to id·x, into sumqx / sumq2.
  v8f sumqx, sumq2;
  const auto sums = [&](const v8f idv) {
    sumqx = zero;
    sumq2 = zero;
    for (int j = 0; j < 32; j++) {
      const v8f xj = xt[j];
      v8f q;
      iq4Level(idv * xj, q);
      const v8f w = xj * xj;
      sumqx = sumqx + (w * q) * xj;
      sumq2 = sumq2 + (w * q) * q;
    }
  };
  sums(id);
  d = sumq2 > 0 ? sumqx / sumq2 : zero;
  v8f best = d * sumqx;
  for (int itry = -7; itry <= 7; itry++) {
    id = static_cast<float>(itry + kIq4nlValues[0]) / max;
    sums(id);
    const v8i take = (sumq2 > 0) & (sumqx * sumqx > best * sumq2);
    d = take ? sumqx / sumq2 : d;
    best = take ? d * sumqx : best;
  }
  for (int g = 0; g < 8; g++) scaleOut[g] = empty[g] ? 0.f : d[g];
}

// ---- k-scales.ts ----

void packKScales(const uint8_t* ls, const uint8_t* lm, uint8_t* dst) {
  std::memset(dst, 0, 12);
  for (int j = 0; j < 8; j++) {
    if (j < 4) {
      dst[j] = ls[j];
      dst[j + 4] = lm[j];
    } else {
      dst[j + 4] = static_cast<uint8_t>((ls[j] & 0x0f) | ((lm[j] & 0x0f) << 4));
      dst[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      dst[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

inline int kScale(const uint8_t* q, int j) { return j < 4 ? q[j] & 63 : (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4); }
inline int kMin(const uint8_t* q, int j) { return j < 4 ? q[j + 4] & 63 : (q[j + 4] >> 4) | ((q[j] >> 6) << 4); }

// encodeKScalesAndCodes: d, dmin, scales at dst[0 … 16), codes 0 … nmax into L[256].
MIMO_INLINE void encodeKScalesAndCodes(const float* x, int nmax, float rmin, int nstep, uint8_t* dst, uint8_t* L) {
  float scales[8], mins[8];
  uint8_t ls[8], lm[8];
  float maxScale = 0, maxMin = 0;
  v8f xt[32], wt[32];
  for (int j = 0; j < 8; j++) {
    const float* xj = x + 32 * j;
    float sumX2 = 0;
    for (int l = 0; l < 32; l++) sumX2 = sumX2 + xj[l] * xj[l];
    const float avX = std::sqrt(sumX2 / 32.f);
    for (int l = 0; l < 32; l++) {
      xt[l][j] = xj[l];
      wt[l][j] = avX + std::fabs(xj[l]);
    }
  }
  makeQkx2Quants8(32, nmax, xt, wt, L, rmin, 0.1f, nstep, false, scales, mins);
  for (int j = 0; j < 8; j++) {
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
  const float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
  for (int j = 0; j < 8; j++) {
    const int s = jsInt32(nearestInt(invScale * scales[j])) & 0xff;
    const int m = jsInt32(nearestInt(invMin * mins[j])) & 0xff;
    ls[j] = static_cast<uint8_t>(s < 63 ? s : 63);
    lm[j] = static_cast<uint8_t>(m < 63 ? m : 63);
  }
  packKScales(ls, lm, dst + 4);
  const float d = putF16(dst, maxScale / 63.f);
  const float dmin = putF16(dst + 2, maxMin / 63.f);
  const float fn = static_cast<float>(nmax);
  for (int j = 0; j < 8; j++) {
    const float dl = d * static_cast<float>(ls[j]);
    if (!jsTruthy(dl)) continue;
    const float dm = dmin * static_cast<float>(lm[j]);
    for (int ii = 0; ii < 32; ii++) L[32 * j + ii] = jsU8(jsClamp(nearestInt((x[32 * j + ii] + dm) / dl), 0.f, fn));
  }
}

// ---- the row encoders (one block or super-block at a time) ----

MIMO_AVX2_CLONE void encodeQ4_K(const float* x, uint8_t* dst) {
  uint8_t L[QK_K];
  encodeKScalesAndCodes(x, 15, -1.f, 20, dst, L);
  for (int c = 0; c < 4; c++)
    for (int t = 0; t < 32; t++) dst[16 + 32 * c + t] = static_cast<uint8_t>(L[64 * c + t] | (L[64 * c + 32 + t] << 4));
}

MIMO_AVX2_CLONE void encodeQ5_K(const float* x, uint8_t* dst) {
  uint8_t L[QK_K];
  encodeKScalesAndCodes(x, 31, -0.5f, 15, dst, L);
  std::memset(dst + 16, 0, 32);
  for (int j = 0; j < 8; j++) {
    for (int t = 0; t < 32; t++) {
      const int l = L[32 * j + t];
      if (l > 15) dst[16 + t] |= static_cast<uint8_t>(1 << j);
      uint8_t* q = dst + 48 + 32 * (j >> 1) + t;
      if (j & 1) *q |= static_cast<uint8_t>((l & 0x0f) << 4);
      else *q = static_cast<uint8_t>(l & 0x0f);
    }
  }
}

MIMO_AVX2_CLONE void encodeQ6_K(const float* x, uint8_t* dst) {
  uint8_t L[QK_K];
  float scales[16];
  float maxScale = 0, maxAbsScale = 0;
  for (int half = 0; half < 2; half++) {
    v8f xt[16];
    for (int g = 0; g < 8; g++)
      for (int i = 0; i < 16; i++) xt[i][g] = x[128 * half + 16 * g + i];
    makeQxQuants8(16, 32, xt, L + 128 * half, scales + 8 * half);
  }
  for (int ib = 0; ib < 16; ib++) {
    const float scale = scales[ib];
    if (std::fabs(scale) > maxAbsScale) {
      maxAbsScale = std::fabs(scale);
      maxScale = scale;
    }
  }
  if (maxAbsScale < kGroupMaxEps) {
    std::memset(dst, 0, 210);
    return;
  }
  const float iscale = -128.f / maxScale;
  const float d = putF16(dst + 208, 1.f / iscale);
  for (int ib = 0; ib < 16; ib++) dst[192 + ib] = static_cast<uint8_t>(jsInt32(jsMin(127.f, nearestInt(iscale * scales[ib]))) & 0xff);
  for (int j = 0; j < 16; j++) {
    const float dl = d * static_cast<float>(static_cast<int8_t>(dst[192 + j]));
    if (!jsTruthy(dl)) continue;
    for (int ii = 0; ii < 16; ii++)
      L[16 * j + ii] = jsU8(static_cast<double>(jsClamp(nearestInt(x[16 * j + ii] / dl), -32.f, 31.f)) + 32);
  }
  for (int h = 0; h < 2; h++) {
    for (int t = 0; t < 32; t++) {
      const int e = 128 * h + t;
      const int q1 = L[e], q2 = L[e + 32], q3 = L[e + 64], q4 = L[e + 96];
      dst[64 * h + t] = static_cast<uint8_t>((q1 & 0x0f) | ((q3 & 0x0f) << 4));
      dst[64 * h + 32 + t] = static_cast<uint8_t>((q2 & 0x0f) | ((q4 & 0x0f) << 4));
      dst[128 + 32 * h + t] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  }
}

// q2_k.ts pack2BitPlanes
void pack2BitPlanes(const uint8_t* L, uint8_t* dst) {
  for (int h = 0; h < 2; h++) {
    for (int t = 0; t < 32; t++) {
      const int e = 128 * h + t;
      dst[32 * h + t] = static_cast<uint8_t>(L[e] | (L[e + 32] << 2) | (L[e + 64] << 4) | (L[e + 96] << 6));
    }
  }
}

MIMO_AVX2_CLONE void encodeQ2_K(const float* x, uint8_t* dst) {
  uint8_t L[QK_K];
  float scales[16], mins[16];
  float maxScale = 0, maxMin = 0;
  for (int half = 0; half < 2; half++) {
    v8f xt[16], wt[16];
    for (int g = 0; g < 8; g++) {
      for (int l = 0; l < 16; l++) {
        xt[l][g] = x[128 * half + 16 * g + l];
        wt[l][g] = std::fabs(x[128 * half + 16 * g + l]);
      }
    }
    makeQkx2Quants8(16, 3, xt, wt, L + 128 * half, -0.5f, 0.1f, 15, true, scales + 8 * half, mins + 8 * half);
  }
  for (int j = 0; j < 16; j++) {
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  float d, dmin;
  if (maxScale > 0) {
    const float iscale = 15.f / maxScale;
    for (int j = 0; j < 16; j++) dst[j] = jsU8(nearestInt(iscale * scales[j]));
    d = putF16(dst + 80, maxScale / 15.f);
  } else {
    std::memset(dst, 0, 16);
    d = putF16(dst + 80, 0.f);
  }
  if (maxMin > 0) {
    const float iscale = 15.f / maxMin;
    for (int j = 0; j < 16; j++) dst[j] = static_cast<uint8_t>(dst[j] | static_cast<uint32_t>(jsInt32(nearestInt(iscale * mins[j]))) << 4);
    dmin = putF16(dst + 82, maxMin / 15.f);
  } else {
    dmin = putF16(dst + 82, 0.f);
  }
  for (int j = 0; j < 16; j++) {
    const float dl = d * static_cast<float>(dst[j] & 0x0f);
    if (!jsTruthy(dl)) continue;
    const float dm = dmin * static_cast<float>(dst[j] >> 4);
    for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = jsU8(jsClamp(nearestInt((x[16 * j + ii] + dm) / dl), 0.f, 3.f));
  }
  pack2BitPlanes(L, dst + 16);
}

inline int q3KScaleCode(const uint8_t* q, int s) {
  const int lo = s < 8 ? q[s] & 0x0f : q[s - 8] >> 4;
  const int hi = (q[8 + (s & 3)] >> (2 * (s >> 2))) & 3;
  return lo | (hi << 4);
}

void encodeQ3_K(const float* x, uint8_t* dst) {
  int8_t L[QK_K];
  float scales[16];
  float maxScale = 0, amax = 0;
  for (int j = 0; j < 16; j++) {
    scales[j] = makeQ3Quants(16, 4, x + 16 * j, L + 16 * j);
    if (std::fabs(scales[j]) > amax) {
      amax = std::fabs(scales[j]);
      maxScale = scales[j];
    }
  }
  uint8_t* sp = dst + 96;
  std::memset(sp, 0, 12);
  float d;
  if (jsTruthy(maxScale)) {
    const float iscale = -32.f / maxScale;
    for (int j = 0; j < 16; j++) {
      const int32_t l = jsInt32(static_cast<double>(jsClamp(nearestInt(iscale * scales[j]), -32.f, 31.f)) + 32);
      if (j < 8) sp[j] = static_cast<uint8_t>(l & 0x0f);
      else sp[j - 8] |= static_cast<uint8_t>((l & 0x0f) << 4);
      sp[8 + (j % 4)] |= static_cast<uint8_t>((l >> 4) << (2 * (j >> 2)));
    }
    d = putF16(dst + 108, 1.f / iscale);
  } else {
    d = putF16(dst + 108, 0.f);
  }
  for (int j = 0; j < 16; j++) {
    const float dl = d * static_cast<float>(q3KScaleCode(sp, j) - 32);
    if (!jsTruthy(dl)) continue;
    for (int ii = 0; ii < 16; ii++)
      L[16 * j + ii] = jsI8(static_cast<double>(jsClamp(nearestInt(x[16 * j + ii] / dl), -4.f, 3.f)) + 4);
  }
  std::memset(dst, 0, 32);
  uint8_t low[QK_K];
  for (int e = 0; e < QK_K; e++) {
    int l = L[e];
    if (l > 3) {
      dst[e & 31] |= static_cast<uint8_t>(1 << (e >> 5));
      l -= 4;
    }
    low[e] = static_cast<uint8_t>(l);
  }
  pack2BitPlanes(low, dst + 32);
}

// iq4.ts iq4BlockScale: indices into L[32], returns the scale.
float iq4BlockScale(const float* x, uint8_t* L) {
  float amax = 0, max = 0;
  for (int j = 0; j < 32; j++) {
    const float ax = std::fabs(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, 32);
    return 0;
  }
  float d = -max / static_cast<float>(kIq4nlValues[0]);
  float id = 1.f / d;
  float sumqx = 0, sumq2 = 0;
  for (int j = 0; j < 32; j++) {
    const float xj = x[j];
    const int l = bestIndexIq4(id * xj);
    L[j] = static_cast<uint8_t>(l);
    const float q = kIq4nlValues[l];
    const float w = xj * xj;
    sumqx = sumqx + (w * q) * xj;
    sumq2 = sumq2 + (w * q) * q;
  }
  d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int itry = -7; itry <= 7; itry++) {
    id = static_cast<float>(itry + kIq4nlValues[0]) / max;
    sumqx = 0;
    sumq2 = 0;
    for (int j = 0; j < 32; j++) {
      const float xj = x[j];
      const float q = kIq4nlValues[bestIndexIq4(id * xj)];
      const float w = xj * xj;
      sumqx = sumqx + (w * q) * xj;
      sumq2 = sumq2 + (w * q) * q;
    }
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

inline void packIq4Nibbles(const uint8_t* L, uint8_t* dst) {
  for (int j = 0; j < 16; j++) dst[j] = static_cast<uint8_t>(L[j] | (L[16 + j] << 4));
}

// One IQ4_NL block with its scale found.
void encodeIq4NlBlock(const float* x, float scale, uint8_t* dst) {
  uint8_t L[32];
  putF16(dst, scale);
  const float id = jsTruthy(scale) ? 1.f / scale : 0.f;
  for (int j = 0; j < 32; j++) L[j] = static_cast<uint8_t>(bestIndexIq4(id * x[j]));
  packIq4Nibbles(L, dst + 2);
}

// Eight blocks' scales (iq4BlockScale) from x[0 … 256).
MIMO_AVX2_CLONE void iq4Scales8(const float* x, float* scales) {
  v8f xt[32];
  for (int g = 0; g < 8; g++)
    for (int j = 0; j < 32; j++) xt[j][g] = x[32 * g + j];
  iq4BlockScale8(xt, scales);
}

void encodeIq4NlRow(const float* x, int64_t blocks, uint8_t* dst) {
  float scales[8];
  uint8_t L[32];
  int64_t b = 0;
  for (; b + 8 <= blocks; b += 8) {
    iq4Scales8(x + 32 * b, scales);
    for (int g = 0; g < 8; g++) encodeIq4NlBlock(x + 32 * (b + g), scales[g], dst + 18 * (b + g));
  }
  for (; b < blocks; b++) encodeIq4NlBlock(x + 32 * b, iq4BlockScale(x + 32 * b, L), dst + 18 * b);
}

void encodeIq4Xs(const float* x, uint8_t* dst) {
  uint8_t L[QK_K];
  float scales[8];
  float maxScale = 0, amaxScale = 0;
  iq4Scales8(x, scales);
  for (int ib = 0; ib < 8; ib++) {
    if (std::fabs(scales[ib]) > amaxScale) {
      amaxScale = std::fabs(scales[ib]);
      maxScale = scales[ib];
    }
  }
  const float d = -maxScale / 32.f;
  putF16(dst, d);
  const float id = jsTruthy(d) ? 1.f / d : 0.f;
  uint32_t scalesH = 0;
  std::memset(dst + 4, 0, 4);
  for (int ib = 0; ib < 8; ib++) {
    const float l = jsClamp(nearestInt(id * scales[ib]), -32.f, 31.f);
    const float dl = d * l;
    const float idl = jsTruthy(dl) ? 1.f / dl : 0.f;
    for (int j = 0; j < 32; j++) L[32 * ib + j] = static_cast<uint8_t>(bestIndexIq4(idl * x[32 * ib + j]));
    const int32_t code = jsInt32(static_cast<double>(l) + 32);
    dst[4 + (ib >> 1)] |= static_cast<uint8_t>((code & 0x0f) << (4 * (ib & 1)));
    scalesH |= static_cast<uint32_t>(code >> 4) << (2 * ib);
  }
  dst[2] = static_cast<uint8_t>(scalesH);
  dst[3] = static_cast<uint8_t>(scalesH >> 8);
  for (int ib = 0; ib < 8; ib++) packIq4Nibbles(L + 32 * ib, dst + 8 + 16 * ib);
}

void encodeQ8_0(const float* x, uint8_t* dst) {
  float amax = 0;
  for (int j = 0; j < 32; j++) amax = jsMax(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  const float id = jsTruthy(d) ? 1.f / d : 0.f;
  putF16(dst, d);
  for (int j = 0; j < 32; j++) dst[2 + j] = jsU8(std::round(x[j] * id));  // Math.round of |v|: half away from zero
}

// q4_0.ts signedAbsMax
float signedAbsMax(const float* x, int n) {
  float amax = 0, max = 0;
  for (int j = 0; j < n; j++) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// Q4_0 (nmax 15, offset 8) and Q5_0 (31, 16): codes min(nmax, ⌊x/d + offset + 0.5⌋), d = max / −offset.
template <int kBits>
void encodeQx_0(const float* x, uint8_t* dst) {
  const float off = kBits == 4 ? 8.f : 16.f, qmax = kBits == 4 ? 15.f : 31.f;
  const float d = signedAbsMax(x, 32) / -off;
  const float id = jsTruthy(d) ? 1.f / d : 0.f;
  putF16(dst, d);
  uint8_t* qs = dst + (kBits == 4 ? 2 : 6);
  uint32_t qh = 0;
  for (int j = 0; j < 16; j++) {
    const int32_t q0 = jsInt32(jsMin(qmax, std::trunc(x[j] * id + (off + 0.5f))));
    const int32_t q1 = jsInt32(jsMin(qmax, std::trunc(x[16 + j] * id + (off + 0.5f))));
    qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
    qh |= (static_cast<uint32_t>(q0 >> 4) << j) | (static_cast<uint32_t>(q1 >> 4) << (j + 16));
  }
  if (kBits == 5) putU32(dst + 2, qh);
}

// Q4_1 (nmax 15) and Q5_1 (31): m = min, d = (max − min) / nmax, codes min(nmax, ⌊(x − m)/d + 0.5⌋).
template <int kBits>
void encodeQx_1(const float* x, uint8_t* dst) {
  const float qmax = kBits == 4 ? 15.f : 31.f;
  float min = std::numeric_limits<float>::infinity(), max = -min;
  for (int j = 0; j < 32; j++) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  const float d = (max - min) / qmax;
  const float id = jsTruthy(d) ? 1.f / d : 0.f;
  putF16(dst, d);
  putF16(dst + 2, min);
  uint8_t* qs = dst + (kBits == 4 ? 4 : 8);
  uint32_t qh = 0;
  for (int j = 0; j < 16; j++) {
    const int32_t q0 = jsInt32(jsMin(qmax, std::trunc((x[j] - min) * id + 0.5f)));
    const int32_t q1 = jsInt32(jsMin(qmax, std::trunc((x[16 + j] - min) * id + 0.5f)));
    qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
    qh |= (static_cast<uint32_t>(q0 >> 4) << j) | (static_cast<uint32_t>(q1 >> 4) << (j + 16));
  }
  if (kBits == 5) putU32(dst + 4, qh);
}

inline int nearestMxfp4(float x, float d) {
  int best = 0;
  float bestErr = std::fabs(static_cast<float>(kMxfp4Values[0]) * d - x);
  for (int i = 1; i < 16; i++) {
    const float err = std::fabs(static_cast<float>(kMxfp4Values[i]) * d - x);
    if (err < bestErr) {
      best = i;
      bestErr = err;
    }
  }
  return best;
}

void encodeMxfp4(const float* x, uint8_t* dst) {
  float amax = 0;
  for (int j = 0; j < 32; j++) amax = jsMax(amax, std::fabs(x[j]));
  int e = 0;
  if (amax > 0) {
    e = static_cast<int>(std::floor(static_cast<float>(std::log2(static_cast<double>(amax))))) - 2 + 127;
    e = e < 0 ? 0 : e > 255 ? 255 : e;
  }
  const float d = std::ldexp(1.f, e - 128);
  dst[0] = static_cast<uint8_t>(e);
  for (int j = 0; j < 16; j++) dst[1 + j] = static_cast<uint8_t>(nearestMxfp4(x[j], d) | (nearestMxfp4(x[16 + j], d) << 4));
}

void encodeF16(const float* x, uint8_t* dst) {
  const uint16_t h = f32ToF16Bits(x[0]);
  dst[0] = static_cast<uint8_t>(h);
  dst[1] = static_cast<uint8_t>(h >> 8);
}

// dtype.ts numberToBf16Bits: round to nearest even, NaN quietened.
void encodeBf16(const float* x, uint8_t* dst) {
  uint32_t u;
  std::memcpy(&u, x, 4);
  uint32_t h;
  if ((u & 0x7f800000) == 0x7f800000 && (u & 0x7fffff) != 0) h = (u >> 16) | 0x40;
  else h = ((u + 0x7fff + ((u >> 16) & 1)) >> 16) & 0xffff;
  dst[0] = static_cast<uint8_t>(h);
  dst[1] = static_cast<uint8_t>(h >> 8);
}

// One row of `blocks` blocks, block by block.
template <void (*kEncode)(const float*, uint8_t*), int kElements, int kBytes>
void perBlock(const float* x, int64_t blocks, uint8_t* dst) {
  for (int64_t b = 0; b < blocks; b++) kEncode(x + b * kElements, dst + b * kBytes);
}

struct Encoder {
  int type;
  int blockElements;
  int blockBytes;
  bool checkFinite;
  void (*encodeRow)(const float* x, int64_t blocks, uint8_t* dst);
};

const Encoder kEncoders[] = {
    {1, 1, 2, false, perBlock<encodeF16, 1, 2>},
    {2, 32, 18, true, perBlock<encodeQx_0<4>, 32, 18>},
    {3, 32, 20, true, perBlock<encodeQx_1<4>, 32, 20>},
    {6, 32, 22, true, perBlock<encodeQx_0<5>, 32, 22>},
    {7, 32, 24, true, perBlock<encodeQx_1<5>, 32, 24>},
    {8, 32, 34, true, perBlock<encodeQ8_0, 32, 34>},
    {10, QK_K, 84, true, perBlock<encodeQ2_K, QK_K, 84>},
    {11, QK_K, 110, true, perBlock<encodeQ3_K, QK_K, 110>},
    {12, QK_K, 144, true, perBlock<encodeQ4_K, QK_K, 144>},
    {13, QK_K, 176, true, perBlock<encodeQ5_K, QK_K, 176>},
    {14, QK_K, 210, true, perBlock<encodeQ6_K, QK_K, 210>},
    {20, 32, 18, true, encodeIq4NlRow},
    {23, QK_K, 136, true, perBlock<encodeIq4Xs, QK_K, 136>},
    {30, 1, 2, false, perBlock<encodeBf16, 1, 2>},
    {39, 32, 17, true, perBlock<encodeMxfp4, 32, 17>},
};

const Encoder* findEncoder(int type) {
  for (const Encoder& e : kEncoders)
    if (e.type == type) return &e;
  return nullptr;
}

}  // namespace

bool ggmlQuantizeSupported(int type) { return findEncoder(type) != nullptr; }

size_t ggmlQuantizeRowBytes(int type, int64_t cols) {
  const Encoder* e = findEncoder(type);
  if (!e || cols < 0 || cols % e->blockElements != 0) return 0;
  return static_cast<size_t>(cols / e->blockElements) * e->blockBytes;
}

int64_t ggmlQuantizeRows(int type, const float* src, int64_t rows, int64_t cols, uint8_t* dst) {
  const Encoder* e = findEncoder(type);
  if (!e) return -1;
  const int64_t blocks = cols / e->blockElements;
  for (int64_t r = 0; r < rows; r++) {
    const float* x = src + r * cols;
    if (e->checkFinite)
      for (int64_t c = 0; c < cols; c++)
        if (!std::isfinite(x[c])) return r * cols + c;
    e->encodeRow(x, blocks, dst + r * blocks * e->blockBytes);
  }
  return -1;
}

}  // namespace mimo
