// AVX-512 with BF16 dot products (vdpbf16ps) and VBMI byte permutes: the matmul row kernel for BF16, FP8 E4M3 and
// MXFP4 weights. Every other kernel of this level is the AVX-512 one (kernelsAvx512), F32/F16 weights and the GGUF
// block formats (kernels_avx512_ggml.cc, f32 activations) included.
//
// Numerics. x is split once per call into two bf16 parts, x ≈ hi + lo (hi = RNE_bf16(x), lo = RNE_bf16(x − hi), so
// |x − hi − lo| ≤ 2^-17·|x|), laid out to meet the weights' in-register order. Weights become exact bf16 in registers:
// BF16 as stored, FP8 E4M3 by a 128-entry byte lookup of its magnitude (every E4M3 value, subnormals and NaN included,
// is a bf16 value), FP4 by a 16-entry word lookup. Each product w·hi and w·lo is exact in float32; vdpbf16ps adds
// them pairwise into float32 lanes. A block-scaled format (FP8 per `blockCols` columns, MXFP4 per 32) sums each block
// into a fresh `part` and adds part · scale to the accumulator (one FMA), as a blocked dequantise-then-dot would.
// Against the float32 reference a dot product stays within 2e-5 of Σ|w·x| (the kernel tests' bound); on the real-width
// checkpoints' weights every matmul is within 2.5e-6 of max |y| (bench/precision.ts); the golden cases pass unchanged.
//
// Row invariance: every (row, token) output takes the same instruction sequence for every tile shape (R rows × TT
// tokens) and every T, so a row's bits never depend on the rows or tokens that share its call.
//
// Source followed: Intel's intrinsics guide for vdpbf16ps / vcvtne2ps2bf16 / vpermi2b semantics; the FP8 and MXFP4
// definitions are src/tensor/dtype.ts (E4M3) and src/tensor/formats/mxfp4.ts.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "kernels.h"
#include "mxfp4.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx512vbmi,avx2,fma,f16c")

namespace mimo {
namespace {

// ---- x split into bf16 hi + lo, per dtype layout ----
// Words per token of the prepared x: hi and lo of every column, K padded to the layout's chunk (zeros past K).
constexpr int kBf16Chunk = 32;   // BF16: [hi 32 | lo 32] per 32 columns, natural order
constexpr int kFp8Chunk = 64;    // FP8: [hi X0 | hi X1 | lo X0 | lo X1] per 64 columns (see fp8Decode)
constexpr int kMxChunk = 128;    // MXFP4: [hi q0..q3 | lo q0..q3] per 128 columns, word w of q = column 4w + q

int chunkOf(WDType d) { return d == WDType::BF16 ? kBf16Chunk : d == WDType::FP8 ? kFp8Chunk : kMxChunk; }

inline uint16_t bf16Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN stays (quiet) NaN
  const uint32_t r = u + 0x7FFFu + ((u >> 16) & 1u);
  if ((r & 0x7F800000u) == 0x7F800000u && (u & 0x7F800000u) != 0x7F800000u) return static_cast<uint16_t>(u >> 16);  // no overflow to inf: truncate
  return static_cast<uint16_t>(r >> 16);
}
inline float bf16Float(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// hi/lo of 32 columns x[0 .. n) (n ≤ 32, zeros after) in natural order: 32 words each.
inline void splitNatural(const float* x, int n, __m512i* hi, __m512i* lo) {
  const __mmask16 ma = n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n < 0 ? 0 : n)) - 1);
  const int nb = n - 16;
  const __mmask16 mb = nb >= 16 ? static_cast<__mmask16>(0xFFFF) : nb <= 0 ? 0 : static_cast<__mmask16>((1u << nb) - 1);
  const __m512 a = _mm512_maskz_loadu_ps(ma, x), b = _mm512_maskz_loadu_ps(mb, x + 16);
  const __m512 lim = _mm512_set1_ps(3.3895313e38f);  // largest finite bf16: beyond it RNE would overflow to inf
  const __m512 absA = _mm512_abs_ps(a), absB = _mm512_abs_ps(b);
  const __mmask16 okA = _mm512_cmp_ps_mask(absA, lim, _CMP_LT_OQ), okB = _mm512_cmp_ps_mask(absB, lim, _CMP_LT_OQ);
  if (okA != 0xFFFF || okB != 0xFFFF) {
    // Non-finite or huge values: the scalar rule (NaN/inf keep hi, lo 0; no overflow of finite values).
    alignas(64) float v[32];
    alignas(64) uint16_t h[32], l[32];
    _mm512_store_ps(v, a);
    _mm512_store_ps(v + 16, b);
    for (int i = 0; i < 32; i++) {
      h[i] = bf16Bits(v[i]);
      const float rest = v[i] - bf16Float(h[i]);
      l[i] = std::isfinite(v[i]) ? bf16Bits(rest) : 0;
    }
    *hi = _mm512_load_si512(h);
    *lo = _mm512_load_si512(l);
    return;
  }
  const __m512bh h = _mm512_cvtne2ps_pbh(b, a);
  const __m512i hb = reinterpret_cast<const __m512i&>(h);
  const __m512 ha = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(hb)), 16));
  const __m512 hbf = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(hb, 1)), 16));
  const __m512bh l = _mm512_cvtne2ps_pbh(_mm512_sub_ps(b, hbf), _mm512_sub_ps(a, ha));
  *hi = hb;
  *lo = reinterpret_cast<const __m512i&>(l);
}

// Word permutations of the FP8 and MXFP4 layouts (output word → natural column within the chunk), built once.
struct Perms {
  alignas(64) uint16_t fp8[2][32];     // X0, X1 over 64 natural words (two zmm sources)
  alignas(64) uint16_t mxLo[4][32];    // q: words 0..15 from natural words 0..63
  alignas(64) uint16_t mxHi[4][32];    // q: words 16..31 from natural words 64..127
  Perms() {
    for (int j = 0; j < 2; j++)
      for (int L = 0; L < 4; L++)
        for (int k = 0; k < 8; k++) fp8[j][L * 8 + k] = static_cast<uint16_t>(16 * L + 8 * j + k);
    for (int q = 0; q < 4; q++)
      for (int w = 0; w < 32; w++) {
        const int col = 4 * w + q;
        mxLo[q][w] = static_cast<uint16_t>(w < 16 ? col : 0);
        mxHi[q][w] = static_cast<uint16_t>(w >= 16 ? col - 64 : 0);
      }
  }
};
const Perms& perms() {
  static const Perms p;
  return p;
}

// out `[T, 2·Kp]` words: x `[T, K]` split and laid out for weights of dtype d.
void prepareX(WDType d, const float* x, int T, int K, uint16_t* out) {
  const int chunk = chunkOf(d);
  const int Kp = ceilDiv(K, chunk) * chunk;
  const Perms& p = perms();
  for (int t = 0; t < T; t++) {
    const float* xs = x + static_cast<size_t>(t) * K;
    uint16_t* o = out + static_cast<size_t>(t) * 2 * Kp;
    for (int c = 0; c < Kp; c += chunk) {
      uint16_t* oc = o + 2 * c;
      if (d == WDType::BF16) {
        __m512i h, l;
        splitNatural(xs + c, K - c, &h, &l);
        _mm512_storeu_si512(oc, h);
        _mm512_storeu_si512(oc + 32, l);
      } else if (d == WDType::FP8) {
        __m512i h0, l0, h1, l1;
        splitNatural(xs + c, K - c, &h0, &l0);
        splitNatural(xs + c + 32, K - c - 32, &h1, &l1);
        for (int j = 0; j < 2; j++) {
          const __m512i idx = _mm512_load_si512(p.fp8[j]);
          _mm512_storeu_si512(oc + 32 * j, _mm512_permutex2var_epi16(h0, idx, h1));
          _mm512_storeu_si512(oc + 64 + 32 * j, _mm512_permutex2var_epi16(l0, idx, l1));
        }
      } else {
        __m512i h[4], l[4];
        for (int i = 0; i < 4; i++) splitNatural(xs + c + 32 * i, K - c - 32 * i, &h[i], &l[i]);
        for (int q = 0; q < 4; q++) {
          const __m512i a = _mm512_load_si512(p.mxLo[q]), b = _mm512_load_si512(p.mxHi[q]);
          const __mmask32 upper = 0xFFFF0000u;
          _mm512_storeu_si512(oc + 32 * q, _mm512_mask_blend_epi16(upper, _mm512_permutex2var_epi16(h[0], a, h[1]), _mm512_permutex2var_epi16(h[2], b, h[3])));
          _mm512_storeu_si512(oc + 128 + 32 * q, _mm512_mask_blend_epi16(upper, _mm512_permutex2var_epi16(l[0], a, l[1]), _mm512_permutex2var_epi16(l[2], b, l[3])));
        }
      }
    }
  }
}

// A per-thread, 64-byte aligned scratch of at least n words (kept between calls).
uint16_t* xScratch(size_t n) {
  static thread_local uint16_t* store = nullptr;
  static thread_local size_t cap = 0;
  if (cap < n) {
    std::free(store);
    store = static_cast<uint16_t*>(std::aligned_alloc(64, ((n * sizeof(uint16_t) + 63) / 64) * 64));
    cap = n;
  }
  return store;
}

inline __m512bh asBh(__m512i v) { return reinterpret_cast<const __m512bh&>(v); }
inline __m512i loadW(const uint16_t* p) { return _mm512_loadu_si512(p); }

// Rows ahead that the T = 1 tiles prefetch (the next row group), one line per row and chunk, into L2 (_MM_HINT_T1):
// into L1 the next group, the group in use and x overfill its 48 KiB and evict lines still in use (experts op,
// 2 threads: FP8 25.5 → 35.0 GB/s, MXFP4 24.0 → 28.9 GB/s with L2 instead; bench/kernels.js --experts-only).
constexpr int kPrefetchRows = 8;

// ---- the formats: per chunk of columns, nW weight zmm of 32 bf16 each, decoded exactly ----
// Per (row, token) and chunk: for pass in (hi, lo), for j < nW: part = dp(part, W_j, x[pass·nW + j]) — one chain.
// Scaled formats add part · scale to acc (one FMA) when a scale block closes and restart part from zero; BF16 has
// no scales and part is the accumulator. The output is the horizontal sum of acc.

struct Bf16F {
  static constexpr int kChunk = kBf16Chunk, kNW = 1;
  static constexpr bool kScaled = false, kEveryChunk = false;
  static size_t byteOf(int c) { return static_cast<size_t>(c) * 2; }
  const uint16_t* base;
  int K;
  explicit Bf16F(const WeightView& w) : base(static_cast<const uint16_t*>(w.data)), K(w.cols) {}
  size_t rowStride() const { return static_cast<size_t>(K) * 2; }
  const uint8_t* row(int r) const { return reinterpret_cast<const uint8_t*>(base + static_cast<size_t>(r) * K); }
  // Chunk at column c of the row whose bytes start at rp.
  inline void decode(const uint8_t* rp, int c, __m512i* w) const {
    const uint16_t* p = reinterpret_cast<const uint16_t*>(rp) + c;
    const int left = K - c;
    w[0] = left >= 32 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi16(static_cast<__mmask32>((1u << left) - 1), p);
  }
  bool closes(int) const { return false; }
  __m512 scale(int, int) const { return _mm512_setzero_ps(); }
};

// FP8 E4M3: 64 codes → W0 (128-bit lane L words k = column 16L + k) and W1 (16L + 8 + k); the magnitude's bf16 high
// and low bytes by vpermi2b over 128-entry tables, the sign or-ed in.
struct Fp8Tables {
  alignas(64) uint8_t hi[128], lo[128];
  Fp8Tables() {
    for (int m = 0; m < 128; m++) {
      const int e = m >> 3, f = m & 7;
      float v;
      if (m == 0x7F) v = NAN;
      else if (e == 0) v = std::ldexp(static_cast<float>(f), -9);
      else v = std::ldexp(1.0f + f / 8.0f, e - 7);
      const uint16_t b = bf16Bits(v);
      hi[m] = static_cast<uint8_t>(b >> 8);
      lo[m] = static_cast<uint8_t>(b & 0xFF);
    }
  }
};
const Fp8Tables& fp8Tables() {
  static const Fp8Tables t;
  return t;
}

struct Fp8F {
  static constexpr int kChunk = kFp8Chunk, kNW = 2;
  static constexpr bool kScaled = true, kEveryChunk = false;
  static size_t byteOf(int c) { return static_cast<size_t>(c); }
  const WeightView& w;
  const uint8_t* base;
  int K, bc;
  bool b32;
  __m512i hi0, hi1, lo0, lo1, sign;
  explicit Fp8F(const WeightView& wv) : w(wv), base(static_cast<const uint8_t*>(wv.data)), K(wv.cols), bc(wv.blockCols), b32(wv.blockCols == 32) {
    const Fp8Tables& t = fp8Tables();
    hi0 = _mm512_load_si512(t.hi);
    hi1 = _mm512_load_si512(t.hi + 64);
    lo0 = _mm512_load_si512(t.lo);
    lo1 = _mm512_load_si512(t.lo + 64);
    sign = _mm512_set1_epi8(static_cast<char>(0x80));
  }
  size_t rowStride() const { return static_cast<size_t>(K); }
  const uint8_t* row(int r) const { return base + static_cast<size_t>(r) * K; }
  inline void decode(const uint8_t* rp, int c, __m512i* wv) const {
    const uint8_t* p = rp + c;
    const int left = K - c;
    const __m512i b = left >= 64 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(~0ull >> (64 - left), p);
    const __m512i h = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(hi0, b, hi1), b, sign, 0xF8);  // A | (B & C)
    const __m512i l = _mm512_permutex2var_epi8(lo0, b, lo1);
    wv[0] = _mm512_unpacklo_epi8(l, h);
    wv[1] = _mm512_unpackhi_epi8(l, h);
  }
  float s(int r, int b) const { return w.scales[static_cast<size_t>(w.rowScale[r]) * w.scaleCols + b]; }
  // The chunk starting at column c ends a scale block (always for 32-column blocks: it ends two).
  bool closes(int c) const { return b32 || c + kChunk >= K || (c + kChunk) % bc == 0; }
  // blockCols = 32: lanes 0–7 belong to the chunk's first block, 8–15 to its second.
  __m512 scale(int r, int c) const {
    if (!b32) return _mm512_set1_ps(s(r, c / bc));
    const int b0 = c / 32;
    return _mm512_mask_mov_ps(_mm512_set1_ps(s(r, b0)), 0xFF00, _mm512_set1_ps(c + 32 < K ? s(r, b0 + 1) : 0.0f));
  }
};

// MXFP4: 64 code bytes (128 columns, 4 blocks) → W0…W3 by vpermw over the 16 FP4 values. Word w of the codes holds
// columns 4w … 4w+3 in its nibbles; vpermw reads a word's low 5 bits, so with the values repeated in the 32-entry
// table v, v>>4, v>>8, v>>12 give columns 4w + q. Lane i of a product covers columns 8i … 8i+7: 128-bit lane L is
// block L, scaled by 2^(e_L − 127) (bits e << 23; e = 0 gives 2^-127).
alignas(64) const uint16_t kFp4Bf16[32] = {0x0000, 0x3F00, 0x3F80, 0x3FC0, 0x4000, 0x4040, 0x4080, 0x40C0,
                                           0x8000, 0xBF00, 0xBF80, 0xBFC0, 0xC000, 0xC040, 0xC080, 0xC0C0,
                                           0x0000, 0x3F00, 0x3F80, 0x3FC0, 0x4000, 0x4040, 0x4080, 0x40C0,
                                           0x8000, 0xBF00, 0xBF80, 0xBFC0, 0xC000, 0xC040, 0xC080, 0xC0C0};

struct MxF {
  static constexpr int kChunk = kMxChunk, kNW = 4;
  static constexpr bool kScaled = true, kEveryChunk = true;  // every 128-column chunk closes its four blocks
  static size_t byteOf(int c) { return static_cast<size_t>(c) / 2; }
  const uint8_t* codes;
  const uint8_t* e8m0;
  int K;
  __m512i table, spread;
  explicit MxF(const WeightView& w) : codes(static_cast<const uint8_t*>(w.data)), e8m0(w.e8m0), K(w.cols) {
    table = _mm512_load_si512(kFp4Bf16);
    spread = _mm512_set_epi8(-1, -1, -1, 3, -1, -1, -1, 3, -1, -1, -1, 3, -1, -1, -1, 3, -1, -1, -1, 2, -1, -1, -1, 2, -1, -1, -1, 2, -1, -1, -1, 2,
                             -1, -1, -1, 1, -1, -1, -1, 1, -1, -1, -1, 1, -1, -1, -1, 1, -1, -1, -1, 0, -1, -1, -1, 0, -1, -1, -1, 0, -1, -1, -1, 0);
  }
  size_t rowStride() const { return static_cast<size_t>(K / 2); }
  const uint8_t* row(int r) const { return codes + static_cast<size_t>(r) * (K / 2); }
  inline void decode(const uint8_t* rp, int c, __m512i* w) const {
    const uint8_t* p = rp + c / 2;
    const __m512i v = K - c >= kChunk ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(~0ull >> (64 - (K - c) / 2), p);
    w[0] = _mm512_permutexvar_epi16(v, table);
    w[1] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), table);
    w[2] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 8), table);
    w[3] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 12), table);
  }
  bool closes(int) const { return true; }
  __m512 scale(int r, int c) const {
    const uint8_t* p = e8m0 + static_cast<size_t>(r) * (K / kMxBlock) + c / kMxBlock;
    uint32_t e4 = 0;
    if (K - c >= kChunk) std::memcpy(&e4, p, 4);
    else std::memcpy(&e4, p, static_cast<size_t>((K - c) / kMxBlock));
    const __m512i e = _mm512_shuffle_epi8(_mm512_set1_epi32(static_cast<int>(e4)), spread);
    return _mm512_castsi512_ps(_mm512_max_epu32(_mm512_slli_epi32(e, 23), _mm512_set1_epi32(0x00400000)));
  }
};

// T = 1: R rows, weights decoded in registers row by row, x read from L1.
template <class F, int R>
void tileT1(const MatmulArgs& a, const F& f, const uint16_t* xp, int r) {
  const int K = a.w.cols;
  const size_t stride = f.rowStride();
  const uint8_t* rp[R];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) rp[i] = f.row(r + i);
  __m512 acc[R], part[R];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) acc[i] = part[i] = _mm512_setzero_ps();
  for (int c = 0; c < K; c += F::kChunk) {
    const uint16_t* xc = xp + 2 * c;
    const size_t byte = F::byteOf(c);
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) _mm_prefetch(reinterpret_cast<const char*>(rp[i] + byte + kPrefetchRows * stride), _MM_HINT_T1);
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      __m512i w[F::kNW];
      f.decode(rp[i], c, w);
      if constexpr (F::kEveryChunk) {
        // The same steps as below with part restarting at every chunk, kept in a register.
        __m512 p = _mm512_setzero_ps();
        #pragma GCC unroll 16
        for (int pass = 0; pass < 2; pass++)
          #pragma GCC unroll 16
          for (int j = 0; j < F::kNW; j++) p = _mm512_dpbf16_ps(p, asBh(w[j]), asBh(loadW(xc + 32 * (pass * F::kNW + j))));
        acc[i] = _mm512_fmadd_ps(p, f.scale(r + i, c), acc[i]);
      } else if constexpr (F::kScaled) {
        #pragma GCC unroll 16
        for (int pass = 0; pass < 2; pass++)
          #pragma GCC unroll 16
          for (int j = 0; j < F::kNW; j++) part[i] = _mm512_dpbf16_ps(part[i], asBh(w[j]), asBh(loadW(xc + 32 * (pass * F::kNW + j))));
      } else {
        #pragma GCC unroll 16
        for (int pass = 0; pass < 2; pass++)
          #pragma GCC unroll 16
          for (int j = 0; j < F::kNW; j++) acc[i] = _mm512_dpbf16_ps(acc[i], asBh(w[j]), asBh(loadW(xc + 32 * (pass * F::kNW + j))));
      }
    }
    if constexpr (F::kScaled && !F::kEveryChunk) {
      if (f.closes(c))
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) {
          acc[i] = _mm512_fmadd_ps(part[i], f.scale(r + i, c), acc[i]);
          part[i] = _mm512_setzero_ps();
        }
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) a.y[r + i] = _mm512_reduce_add_ps(acc[i]);
}

// T = 1 MXFP4, R rows (rows r … r+R−1 lie back to back in memory): tileT1<MxF, R>'s steps for every row — per
// 128-column chunk p = Σ over (hi, lo) × W0…W3 in that order, acc += p · scale — so its bits equal tileBuf's. What
// differs is the schedule, for streaming expert weights at the bandwidth limit: the chunk's 8 x vectors are loaded
// once for all rows, rows are decoded and summed in pairs (two independent chains), the scale vector skips the
// subnormal fix-up when the group has no scale byte 0, and the next group's codes and scales are prefetched in
// address order, one line per row and chunk (the group's R·K/2 bytes are exactly R lines per chunk).
template <int R, bool kZeroScale>
void mxTileT1Full(const MatmulArgs& a, const MxF& f, const uint16_t* xp, int r) {
  const int K = a.w.cols;
  const size_t stride = f.rowStride();
  const uint8_t* g0 = f.row(r);
  const int sCols = K / kMxBlock;
  const uint8_t* s0 = f.e8m0 + static_cast<size_t>(r) * sCols;
  const char* pf = reinterpret_cast<const char*>(g0) + R * stride;
  const size_t sBytes = static_cast<size_t>(R) * sCols;
  const char* spf = reinterpret_cast<const char*>(s0) + sBytes;
  const __m512i subnormal = _mm512_set1_epi32(0x00400000);
  __m512 acc[R];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) acc[i] = _mm512_setzero_ps();
  const int full = K / kMxChunk;
  for (int ci = 0; ci < full; ci++) {
    const int c = ci * kMxChunk;
    const uint16_t* xc = xp + 2 * c;
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) _mm_prefetch(pf + (static_cast<size_t>(ci) * R + i) * 64, _MM_HINT_T1);
    if (static_cast<size_t>(ci) * 64 < sBytes) _mm_prefetch(spf + static_cast<size_t>(ci) * 64, _MM_HINT_T1);
    __m512i xv[8];
    #pragma GCC unroll 16
    for (int j = 0; j < 8; j++) xv[j] = loadW(xc + 32 * j);
    constexpr int P = R >= 2 ? 2 : 1;
    #pragma GCC unroll 16
    for (int i0 = 0; i0 < R; i0 += P) {
      __m512i w[P][4];
      __m512 p[P];
      #pragma GCC unroll 16
      for (int i = 0; i < P; i++) {
        const __m512i v = _mm512_loadu_si512(g0 + (i0 + i) * stride + c / 2);
        w[i][0] = _mm512_permutexvar_epi16(v, f.table);
        w[i][1] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), f.table);
        w[i][2] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 8), f.table);
        w[i][3] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 12), f.table);
        p[i] = _mm512_setzero_ps();
      }
      #pragma GCC unroll 16
      for (int k = 0; k < 8; k++)
        #pragma GCC unroll 16
        for (int i = 0; i < P; i++) p[i] = _mm512_dpbf16_ps(p[i], asBh(w[i][k & 3]), asBh(xv[k]));
      #pragma GCC unroll 16
      for (int i = 0; i < P; i++) {
        int32_t e4;
        std::memcpy(&e4, s0 + static_cast<size_t>(i0 + i) * sCols + c / kMxBlock, 4);
        __m512i e = _mm512_slli_epi32(_mm512_shuffle_epi8(_mm512_set1_epi32(e4), f.spread), 23);
        if constexpr (kZeroScale) e = _mm512_max_epu32(e, subnormal);
        acc[i0 + i] = _mm512_fmadd_ps(p[i], _mm512_castsi512_ps(e), acc[i0 + i]);
      }
    }
  }
  if (full * kMxChunk < K) {
    // The last, partial chunk (K not a multiple of 128): the generic steps.
    const int c = full * kMxChunk;
    const uint16_t* xc = xp + 2 * c;
    #pragma GCC unroll 16
    for (int i = 0; i < R; i++) {
      __m512i w[4];
      f.decode(g0 + i * stride, c, w);
      __m512 p = _mm512_setzero_ps();
      #pragma GCC unroll 16
      for (int k = 0; k < 8; k++) p = _mm512_dpbf16_ps(p, asBh(w[k & 3]), asBh(loadW(xc + 32 * k)));
      acc[i] = _mm512_fmadd_ps(p, f.scale(r + i, c), acc[i]);
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++) a.y[r + i] = _mm512_reduce_add_ps(acc[i]);
}

// Whether any of the n E8M0 bytes at p is 0 (the one exponent whose scale, 2^-127, is not e << 23).
inline bool anyZeroByte(const uint8_t* p, size_t n) {
  __mmask64 z = 0;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) z |= _mm512_cmpeq_epi8_mask(_mm512_loadu_si512(p + i), _mm512_setzero_si512());
  if (i < n) z |= _mm512_mask_cmpeq_epi8_mask(~0ull >> (64 - (n - i)), _mm512_maskz_loadu_epi8(~0ull >> (64 - (n - i)), p + i), _mm512_setzero_si512());
  return z != 0;
}

template <int R>
void mxTileT1(const MatmulArgs& a, const MxF& f, const uint16_t* xp, int r) {
  if (anyZeroByte(f.e8m0 + static_cast<size_t>(r) * (a.w.cols / kMxBlock), static_cast<size_t>(R) * (a.w.cols / kMxBlock)))
    mxTileT1Full<R, true>(a, f, xp, r);
  else
    mxTileT1Full<R, false>(a, f, xp, r);
}

// T > 1: R rows × TT tokens, weights from wb `[R][chunks][nW][32]` (decoded once per row group and token block).
template <class F, int R, int TT>
void tileBuf(const MatmulArgs& a, const F& f, const uint16_t* xp, int Kp, const uint16_t* wb, int chunks, int r, int t0) {
  const int K = a.w.cols, N = a.w.rows;
  __m512 acc[R][TT], part[R][TT];
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++)
    #pragma GCC unroll 16
    for (int t = 0; t < TT; t++) acc[i][t] = part[i][t] = _mm512_setzero_ps();
  for (int ci = 0, c = 0; c < K; ci++, c += F::kChunk) {
    #pragma GCC unroll 16
    for (int pass = 0; pass < 2; pass++)
      #pragma GCC unroll 16
      for (int j = 0; j < F::kNW; j++) {
        __m512i w[R];
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) w[i] = loadW(wb + ((static_cast<size_t>(i) * chunks + ci) * F::kNW + j) * 32);
        #pragma GCC unroll 16
        for (int t = 0; t < TT; t++) {
          const __m512bh xv = asBh(loadW(xp + static_cast<size_t>(t0 + t) * 2 * Kp + 2 * c + 32 * (pass * F::kNW + j)));
          #pragma GCC unroll 16
          for (int i = 0; i < R; i++) {
            if constexpr (F::kScaled) part[i][t] = _mm512_dpbf16_ps(part[i][t], asBh(w[i]), xv);
            else acc[i][t] = _mm512_dpbf16_ps(acc[i][t], asBh(w[i]), xv);
          }
        }
      }
    if constexpr (F::kScaled) {
      if (f.closes(c))
        #pragma GCC unroll 16
        for (int i = 0; i < R; i++) {
          const __m512 s = f.scale(r + i, c);
          #pragma GCC unroll 16
          for (int t = 0; t < TT; t++) {
            acc[i][t] = _mm512_fmadd_ps(part[i][t], s, acc[i][t]);
            part[i][t] = _mm512_setzero_ps();
          }
        }
    }
  }
  #pragma GCC unroll 16
  for (int i = 0; i < R; i++)
    #pragma GCC unroll 16
    for (int t = 0; t < TT; t++) a.y[static_cast<size_t>(t0 + t) * N + r + i] = _mm512_reduce_add_ps(acc[i][t]);
}

// A per-thread, 64-byte aligned buffer of at least n words for decoded weights (kept between calls).
uint16_t* wScratch(size_t n) {
  static thread_local uint16_t* store = nullptr;
  static thread_local size_t cap = 0;
  if (cap < n) {
    std::free(store);
    store = static_cast<uint16_t*>(std::aligned_alloc(64, ((n * sizeof(uint16_t) + 63) / 64) * 64));
    cap = n;
  }
  return store;
}

// Rows [r0, r1) × all tokens. T = 1: groups of 8 rows, then single rows. T > 1: token blocks whose prepared x stays in
// L2 (~512 KiB); per block, groups of RT rows decoded into a buffer once, then tiles of RT × TT tokens (tails one row
// or one token at a time). Every (row, token) takes the same steps in every tile, so its bits never depend on T.
template <class F, int RT, int TT>
void runRows(const MatmulArgs& a, const uint16_t* xp, int Kp, int r0, int r1) {
  const F f(a.w);
  const int K = a.w.cols;
  if (a.T == 1) {
    int r = r0;
    if constexpr (std::is_same<F, MxF>::value) {
      for (; r + 8 <= r1; r += 8) mxTileT1<8>(a, f, xp, r);
      for (; r < r1; r++) mxTileT1<1>(a, f, xp, r);
      return;
    }
    for (; r + 8 <= r1; r += 8) tileT1<F, 8>(a, f, xp, r);
    for (; r < r1; r++) tileT1<F, 1>(a, f, xp, r);
    return;
  }
  const int chunks = ceilDiv(K, F::kChunk);
  const size_t rowWords = static_cast<size_t>(chunks) * F::kNW * 32;
  uint16_t* wb = wScratch(RT * rowWords);
  const int tokenBlock = Kp >= 8192 ? 16 : 32;
  for (int tb = 0; tb < a.T; tb += tokenBlock) {
    const int te = minInt(a.T, tb + tokenBlock);
    for (int r = r0; r < r1; r += RT) {
      const int n = minInt(RT, r1 - r);
      for (int i = 0; i < n; i++)
        for (int ci = 0; ci < chunks; ci++) {
          __m512i w[F::kNW];
          f.decode(f.row(r + i), ci * F::kChunk, w);
          for (int j = 0; j < F::kNW; j++) _mm512_store_si512(wb + i * rowWords + (static_cast<size_t>(ci) * F::kNW + j) * 32, w[j]);
        }
      if (n == RT) {
        int t = tb;
        for (; t + TT <= te; t += TT) tileBuf<F, RT, TT>(a, f, xp, Kp, wb, chunks, r, t);
        for (; t < te; t++) tileBuf<F, RT, 1>(a, f, xp, Kp, wb, chunks, r, t);
      } else {
        for (int i = 0; i < n; i++) {
          int t = tb;
          for (; t + TT <= te; t += TT) tileBuf<F, 1, TT>(a, f, xp, Kp, wb + i * rowWords, chunks, r + i, t);
          for (; t < te; t++) tileBuf<F, 1, 1>(a, f, xp, Kp, wb + i * rowWords, chunks, r + i, t);
        }
      }
    }
  }
}

bool takesBf16(const WeightView& w) {
  return w.dtype == WDType::BF16 || w.dtype == WDType::MXFP4 ||
         (w.dtype == WDType::FP8 && (w.blockCols == 32 || (w.blockCols > 0 && w.blockCols % 64 == 0)));
}

size_t splitWords(const WeightView& w, int T) {
  if (!takesBf16(w)) return 0;
  const int chunk = chunkOf(w.dtype);
  return static_cast<size_t>(T) * 2 * (ceilDiv(w.cols, chunk) * chunk);
}

void splitX(const WeightView& w, const float* x, int T, uint16_t* out) { prepareX(w.dtype, x, T, w.cols, out); }

void matmulRowsBf16(const MatmulArgs& a, int r0, int r1) {
  if (!takesBf16(a.w)) {
    kernelsAvx512().matmulRows(a, r0, r1);
    return;
  }
  const int chunk = chunkOf(a.w.dtype);
  const int Kp = ceilDiv(a.w.cols, chunk) * chunk;
  const uint16_t* xp = a.xs;
  if (xp == nullptr) {
    uint16_t* s = xScratch(static_cast<size_t>(a.T) * 2 * Kp);
    prepareX(a.w.dtype, a.x, a.T, a.w.cols, s);
    xp = s;
  }
  switch (a.w.dtype) {
    case WDType::BF16: runRows<Bf16F, 4, 4>(a, xp, Kp, r0, r1); break;
    case WDType::FP8: runRows<Fp8F, 4, 3>(a, xp, Kp, r0, r1); break;
    default: runRows<MxF, 4, 3>(a, xp, Kp, r0, r1); break;
  }
}

}  // namespace
}  // namespace mimo

#pragma GCC pop_options

namespace mimo {

const KernelTable& kernelsAvx512Bf16() {
  static const KernelTable table = [] {
    KernelTable t = kernelsAvx512();
    t.matmulRows = matmulRowsBf16;
    t.splitWords = splitWords;
    t.splitX = splitX;
    return t;
  }();
  return table;
}

}  // namespace mimo
