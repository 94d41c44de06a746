// SSE/AVX2 group unpackers of the GGUF block formats (ggml_blocks.h): the 32 integer codes of a group as two int8
// vectors (columns 0–15, 16–31), the same integers as the portable `groupCodes`. Include this header only inside a
// `#pragma GCC target` region with at least "avx2,fma,f16c" (kernels_avx2_ggml.cc, kernels_avx512_ggml.cc), after
// <immintrin.h>; every function is TU-local (anonymous namespace) and so compiled for that file's target.
#pragma once
#include <cstdint>

#include "ggml_blocks.h"

namespace mimo {
namespace {

// F16 scale → float with F16C (exact).
struct HalfF16c {
  static float f(uint16_t h) { return _cvtsh_ss(h); }
};

inline __m128i lowNibbles(__m128i v) { return _mm_and_si128(v, _mm_set1_epi8(0x0F)); }
inline __m128i highNibbles(__m128i v) { return _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0F)); }
inline __m128i loadBytes(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// Byte i (i < 16) = 0x10 when bit i of m is set, else 0 (Q5_0 / Q5_1 fifth bits).
inline __m128i bitsTo0x10(uint32_t m) {
  const __m128i sel = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const __m128i bit = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  const __m128i v = _mm_and_si128(_mm_shuffle_epi8(_mm_cvtsi32_si128(static_cast<int>(m & 0xFFFF)), sel), bit);
  return _mm_and_si128(_mm_cmpeq_epi8(v, bit), _mm_set1_epi8(0x10));
}

// Byte t = 0xFF where bit `b` (< 8) of byte t of v is set.
inline __m128i bitSet(__m128i v, int b) {
  const __m128i m = _mm_set1_epi8(static_cast<char>(1 << b));
  return _mm_cmpeq_epi8(_mm_and_si128(v, m), m);
}

// (v >> sh) & mask per byte (sh < 8).
inline __m128i shiftMask(__m128i v, int sh, int mask) {
  return _mm_and_si128(_mm_srl_epi16(v, _mm_cvtsi32_si128(sh)), _mm_set1_epi8(static_cast<char>(mask)));
}

// The codes of group j of the block at p: q0 = columns 0–15, q1 = 16–31.
template <int TY>
inline __attribute__((always_inline)) void simdCodes(const uint8_t* p, int j, __m128i& q0, __m128i& q1) {
  if constexpr (TY == kQ8_0) {
    q0 = loadBytes(p + 2);
    q1 = loadBytes(p + 18);
  } else if constexpr (TY == kQ4_0 || TY == kQ4_1) {
    const __m128i v = loadBytes(p + (TY == kQ4_0 ? 2 : 4));
    q0 = lowNibbles(v);
    q1 = highNibbles(v);
    if constexpr (TY == kQ4_0) {
      q0 = _mm_sub_epi8(q0, _mm_set1_epi8(8));
      q1 = _mm_sub_epi8(q1, _mm_set1_epi8(8));
    }
  } else if constexpr (TY == kQ5_0 || TY == kQ5_1) {
    constexpr int o = TY == kQ5_0 ? 2 : 4;
    const uint32_t qh = u32At(p + o);
    const __m128i v = loadBytes(p + o + 4);
    q0 = _mm_or_si128(lowNibbles(v), bitsTo0x10(qh));
    q1 = _mm_or_si128(highNibbles(v), bitsTo0x10(qh >> 16));
    if constexpr (TY == kQ5_0) {
      q0 = _mm_sub_epi8(q0, _mm_set1_epi8(16));
      q1 = _mm_sub_epi8(q1, _mm_set1_epi8(16));
    }
  } else if constexpr (TY == kIQ4_NL || TY == kIQ4_XS || TY == kMXFP4) {
    const __m128i table = _mm_load_si128(reinterpret_cast<const __m128i*>(TY == kMXFP4 ? kMxfp4Values : kIq4nlValues));
    const __m128i v = loadBytes(TY == kIQ4_NL ? p + 2 : TY == kMXFP4 ? p + 1 : p + 8 + 16 * j);
    q0 = _mm_shuffle_epi8(table, lowNibbles(v));
    q1 = _mm_shuffle_epi8(table, highNibbles(v));
  } else if constexpr (TY == kQ4_K) {
    const uint8_t* qs = p + 16 + 32 * (j >> 1);
    q0 = shiftMask(loadBytes(qs), 4 * (j & 1), 0x0F);
    q1 = shiftMask(loadBytes(qs + 16), 4 * (j & 1), 0x0F);
  } else if constexpr (TY == kQ5_K) {
    const uint8_t* qs = p + 48 + 32 * (j >> 1);
    const __m128i five = _mm_set1_epi8(0x10);
    q0 = _mm_or_si128(shiftMask(loadBytes(qs), 4 * (j & 1), 0x0F), _mm_and_si128(bitSet(loadBytes(p + 16), j), five));
    q1 = _mm_or_si128(shiftMask(loadBytes(qs + 16), 4 * (j & 1), 0x0F), _mm_and_si128(bitSet(loadBytes(p + 32), j), five));
  } else if constexpr (TY == kQ6_K) {
    const int h = j >> 2, k = j & 3;
    const uint8_t* ql = p + 64 * h + 32 * (k & 1);
    const uint8_t* qh = p + 128 + 32 * h;
    const __m128i off = _mm_set1_epi8(32);
    q0 = _mm_sub_epi8(_mm_or_si128(shiftMask(loadBytes(ql), 4 * (k >> 1), 0x0F), _mm_slli_epi16(shiftMask(loadBytes(qh), 2 * k, 3), 4)), off);
    q1 = _mm_sub_epi8(_mm_or_si128(shiftMask(loadBytes(ql + 16), 4 * (k >> 1), 0x0F), _mm_slli_epi16(shiftMask(loadBytes(qh + 16), 2 * k, 3), 4)), off);
  } else if constexpr (TY == kQ2_K) {
    const uint8_t* qs = p + 16 + 32 * (j >> 2);
    q0 = shiftMask(loadBytes(qs), 2 * (j & 3), 3);
    q1 = shiftMask(loadBytes(qs + 16), 2 * (j & 3), 3);
  } else if constexpr (TY == kQ3_K) {
    const uint8_t* qs = p + 32 + 32 * (j >> 2);
    const int hb = 4 * (j >> 2) + (j & 3);
    const __m128i four = _mm_set1_epi8(4);
    q0 = _mm_sub_epi8(shiftMask(loadBytes(qs), 2 * (j & 3), 3), _mm_andnot_si128(bitSet(loadBytes(p), hb), four));
    q1 = _mm_sub_epi8(shiftMask(loadBytes(qs + 16), 2 * (j & 3), 3), _mm_andnot_si128(bitSet(loadBytes(p + 16), hb), four));
  } else {
    alignas(16) int8_t q[32];
    groupCodes(TY, p, j, q);
    q0 = _mm_load_si128(reinterpret_cast<const __m128i*>(q));
    q1 = _mm_load_si128(reinterpret_cast<const __m128i*>(q + 16));
  }
}

// 8 floats d · code[i] (i < 8) of 8 bytes at the low half of v, or their negation (sign flip, as the scalar −(…)).
inline __m256 scaledBytes(__m128i v, float d, bool negate) {
  __m256 r = _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)));
  return negate ? _mm256_xor_ps(r, _mm256_set1_ps(-0.0f)) : r;
}

// blockScales<HalfF16c, TY> with vector arithmetic for the K-quants (16 products per block); the same floats.
template <int TY>
inline __attribute__((always_inline)) void simdBlockScales(const uint8_t* p, float* s, float* b) {
  if constexpr (TY == kQ4_K || TY == kQ5_K) {
    alignas(16) uint8_t code[16];
    kScaleMinCodes(p + 4, code);
    const __m128i c = _mm_load_si128(reinterpret_cast<const __m128i*>(code));
    const __m128i ds = _mm_shuffle_epi8(c, _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    const __m128i dm = _mm_shuffle_epi8(c, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15));
    const float d = HalfF16c::f(u16At(p)), dmin = HalfF16c::f(u16At(p + 2));
    _mm256_storeu_ps(s, scaledBytes(ds, d, false));
    _mm256_storeu_ps(s + 8, scaledBytes(_mm_srli_si128(ds, 8), d, false));
    _mm256_storeu_ps(b, scaledBytes(dm, dmin, true));
    _mm256_storeu_ps(b + 8, scaledBytes(_mm_srli_si128(dm, 8), dmin, true));
  } else if constexpr (TY == kQ6_K || TY == kQ2_K || TY == kQ3_K) {
    // Sixteen 16-column scales (and Q2_K's mins) as int8 / uint8 codes c, then d · c.
    __m128i c, m = _mm_setzero_si128();
    float d, dmin = 0.0f;
    if constexpr (TY == kQ6_K) {
      c = loadBytes(p + 192);
      d = HalfF16c::f(u16At(p + 208));
    } else if constexpr (TY == kQ2_K) {
      const __m128i v = loadBytes(p);
      c = lowNibbles(v);
      m = highNibbles(v);
      d = HalfF16c::f(u16At(p + 80));
      dmin = HalfF16c::f(u16At(p + 82));
    } else {
      // q3kScale for all s: low 4 bits from bytes 0–7 (s < 8 low nibbles, s ≥ 8 high), 2 high bits from bytes 8–11.
      uint64_t l;
      std::memcpy(&l, p + 96, 8);
      const uint32_t h = u32At(p + 104);
      const uint64_t m4 = 0x0F0F0F0F0F0F0F0Full;
      const __m128i lo = _mm_set_epi64x(static_cast<long long>((l >> 4) & m4), static_cast<long long>(l & m4));
      const __m128i hi = _mm_setr_epi32(static_cast<int>(h & 0x03030303u), static_cast<int>((h >> 2) & 0x03030303u),
                                        static_cast<int>((h >> 4) & 0x03030303u), static_cast<int>((h >> 6) & 0x03030303u));
      c = _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
      d = HalfF16c::f(u16At(p + 108));
    }
    const __m256 dv = _mm256_set1_ps(d);
    if constexpr (TY == kQ2_K) {
      _mm256_storeu_ps(s, scaledBytes(c, d, false));
      _mm256_storeu_ps(s + 8, scaledBytes(_mm_srli_si128(c, 8), d, false));
      _mm256_storeu_ps(b, scaledBytes(m, dmin, true));
      _mm256_storeu_ps(b + 8, scaledBytes(_mm_srli_si128(m, 8), dmin, true));
    } else {
      // Signed codes (Q6_K int8 scales, Q3_K's code − 32); no bias.
      _mm256_storeu_ps(s, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(c))));
      _mm256_storeu_ps(s + 8, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(c, 8)))));
      _mm256_storeu_ps(b, _mm256_setzero_ps());
      _mm256_storeu_ps(b + 8, _mm256_setzero_ps());
    }
  } else {
    blockScales<HalfF16c, TY>(p, s, b);
  }
}

}  // namespace
}  // namespace mimo
