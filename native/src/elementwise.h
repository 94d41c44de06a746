// RMSNorm, partial rotate-half RoPE and SwiGLU with the reference's semantics (src/kernels/reference/ops.ts).
#pragma once
#include <cstddef>
#include <cstdint>

namespace mimo {

// y `[T, D]` = w ⊙ x / sqrt(mean(x²) + eps); sum of squares in double in index order, as the reference: bitwise equal.
void rmsNorm(float* y, const float* x, int T, int D, const float* weight, double eps);
// In place on x `[T, heads, headDim]`: pairs (j, j + rotaryDim/2) of each head rotated by (start + t)·θ^(−2j/rotaryDim).
void rope(float* x, int T, int heads, int headDim, int rotaryDim, double theta, int64_t start);
// y = silu(gate) ⊙ up over n elements (vectorised exp of the current dispatch level).
void swiglu(float* y, const float* gate, const float* up, size_t n);

}  // namespace mimo
