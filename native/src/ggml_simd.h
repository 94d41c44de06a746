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

}  // namespace
}  // namespace mimo
