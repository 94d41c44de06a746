// MXFP4 (MiMo-V2.6 routed experts, spec §2.8): a logical weight [rows, cols] stored as U8 codes [rows, cols/2] (column
// 2j in the low nibble, 2j+1 in the high nibble) and U8 E8M0 exponents [rows, cols/32]:
//   W[r, c] = FP4[code] · 2^(e8m0[r, c/32] − 127), FP4 = e2m1 {0, .5, 1, 1.5, 2, 3, 4, 6} with bit 3 the sign.
// The definition is src/tensor/formats/mxfp4.ts; every product is exact in float32.
// The SIMD kernels dot a row against x "de-interleaved" per 32-column block: [x0, x2, …, x30 | x1, x3, …, x31], so the
// low nibbles of the block's 16 bytes meet the first half and the high nibbles the second half, lane for lane.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "common.h"

namespace mimo {

constexpr int kMxBlock = 32;

alignas(64) inline const float kFp4Values[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                                                 -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

// 2^(b − 127) for every E8M0 byte (byte 0: the subnormal 2^−127; 255: NaN, rejected before any kernel runs).
struct E8m0Table {
  float v[256];
  E8m0Table() {
    for (int b = 0; b < 255; b++) v[b] = std::ldexp(1.0f, b - 127);
    v[255] = NAN;
  }
};
inline const float* e8m0Values() {
  static const E8m0Table t;
  return t.v;
}

// out[0 .. kc) = W[r, k0 .. k0 + kc) as float32 (exact), for any k0/kc.
inline void decodeMxfp4(const uint8_t* codes, const uint8_t* e8m0, int cols, int r, int k0, int kc, float* out) {
  const uint8_t* row = codes + static_cast<size_t>(r) * (cols / 2);
  const uint8_t* srow = e8m0 + static_cast<size_t>(r) * (cols / kMxBlock);
  const float* e = e8m0Values();
  for (int i = 0; i < kc; i++) {
    const int c = k0 + i;
    const uint8_t byte = row[c >> 1];
    out[i] = kFp4Values[(c & 1) ? byte >> 4 : byte & 0x0F] * e[srow[c / kMxBlock]];
  }
}

// xd `[T, K]` = x `[T, K]` de-interleaved per 32-column block (K a multiple of 32).
inline void deinterleaveMxfp4(const float* x, int T, int K, float* xd) {
  for (int t = 0; t < T; t++) {
    const float* s = x + static_cast<size_t>(t) * K;
    float* d = xd + static_cast<size_t>(t) * K;
    for (int b = 0; b < K; b += kMxBlock)
      for (int j = 0; j < kMxBlock / 2; j++) {
        d[b + j] = s[b + 2 * j];
        d[b + kMxBlock / 2 + j] = s[b + 2 * j + 1];
      }
  }
}

// Code and scale rows r … r+R−1 of an MXFP4 weight (the SIMD tiles' row pointers).
template <int R>
struct MxRows {
  const uint8_t* codes[R];
  const uint8_t* scales[R];
  MxRows(const WeightView& w, int r) {
    for (int i = 0; i < R; i++) {
      codes[i] = static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r + i) * (w.cols / 2);
      scales[i] = w.e8m0 + static_cast<size_t>(r + i) * (w.cols / kMxBlock);
    }
  }
};

// A per-thread, 64-byte aligned buffer of at least n floats for the de-interleaved x (kept between calls).
inline float* mxScratch(size_t n) {
  static thread_local float* store = nullptr;
  static thread_local size_t cap = 0;
  if (cap < n) {
    std::free(store);
    store = static_cast<float*>(std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64));
    cap = n;
  }
  return store;
}

}  // namespace mimo
