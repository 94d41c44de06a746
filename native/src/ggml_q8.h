// The opt-in 8-bit-activation path (`precision: 'fast'`) for GGUF weights of the 32-element single-scale formats
// without a min: Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4 (llama.cpp's `vec_dot_*_q8_0`). A weight view with `q8Act` set runs
// here instead of the f32 row kernels. Definition (src/kernels/reference/q8-activations.ts is the reference, and every
// level here gives its bits):
//   1. each token's row x `[K]` is quantised per block of 32 as ggml's quantize_row_q8_0: amax = max |x_i|,
//      d = amax / 127 (f32), id = d ≠ 0 ? 1 / d : 0, q_i = clamp(nearest-even(fround(x_i · id)), −127, 127); d kept f32;
//   2. block b of (row, token): eight exact int32 partial sums p_l = Σ_{i = 4l}^{4l+3} w_i · q_i (l < 8; the lanes of
//      maddubs + madd, or of vpdpbusd, over the block's 32 bytes) of the weight's int8 codes w and q, and the scale
//      s_b = fround(dw_b · d_b), dw_b the weight block's f32 scale;
//   3. sixteen f32 lanes from +0: acc[8 · (b mod 2) + l] = fround(acc[…] + fround(f32(p_l) · s_b)) for b in order,
//      then e_l = acc[l] + acc[8 + l] and y = ((e0 + e4) + (e2 + e6)) + ((e1 + e5) + (e3 + e7)).
// So every (row, token) has one order whatever T, the row range, the thread count or the dispatch level.
#pragma once
#include <vector>

#include "common.h"

namespace mimo {

// True for the ggml types this path runs (Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4).
bool ggmlQ8ActType(int type);

// Step 1 for x `[T, K]` (K a multiple of 32): codes xq `[T, K]`, scales xd `[T, K/32]`; the same bits on every level.
void ggmlQ8Quantize(const float* x, int T, int K, int8_t* xq, float* xd);

// Quantised activations of one call, kept per thread between calls: x's codes and scales for a.xq / a.xd.
struct Q8Buffer {
  int8_t* q = nullptr;
  float* d = nullptr;
  // Quantises x `[T, K]` into the buffer (grown as needed) and points q / d at it.
  void quantize(const float* x, int T, int K);

 private:
  std::vector<int8_t> qStore;
  std::vector<float> dStore;
};

// Rows [r0, r1) of a.w (GGML, q8Act) for every token, per level: portable C++, AVX2 (maddubs on |w| and x with w's
// sign, one block per ymm), AVX-512 VNNI (vpdpbusd on the same operands, two blocks per zmm, tiles of 4 rows × 4
// tokens; the AVX-512 levels on a CPU without VNNI run the AVX2 kernel).
void ggmlQ8MatmulRowsScalar(const MatmulArgs& a, int r0, int r1);
void ggmlQ8MatmulRowsAvx2(const MatmulArgs& a, int r0, int r1);
void ggmlQ8MatmulRowsAvx512(const MatmulArgs& a, int r0, int r1);

}  // namespace mimo
