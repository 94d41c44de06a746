// The per-instruction-set kernel table. Each ISA file (kernels_scalar.cc, kernels_avx2.cc, kernels_avx512.cc)
// fills one; the drivers (matmul.cc, attention.cc, elementwise.cc, bandwidth.cc) pick the table of the current
// dispatch level. Numerics: float32 accumulation, weights dequantised to f32 in registers, IEEE semantics.
#pragma once
#include <cstddef>

#include "common.h"

namespace mimo {

struct KernelTable {
  // Small-T matmul: y[t, r] for every t in [0, T) and r in [r0, r1); each (row, token) sum has a fixed order
  // that does not depend on r0/r1, so any row split gives the same bits.
  void (*matmulRows)(const MatmulArgs& a, int r0, int r1);

  // Prefill GEMM pieces (null on the scalar level, which uses matmulRows for every T).
  int mr;  // tokens per micro-tile
  int nr;  // outputs per micro-tile
  // bp `[kc, nr]` = W[n0 .. n0+nr, k0 .. k0+kc)ᵀ as f32 (kc ≤ 512); rows past W's end are zero.
  void (*packB)(const WeightView& w, int n0, int k0, int kc, float* bp);
  // y[i, j] (+)= Σ_k ap[k, i] · bp[k, j] for i < m, j < n (ldy: y's row stride); ap `[kc, mr]`, bp `[kc, nr]`.
  // Each output's block sum is one sequential FMA chain over k from zero, then added to y when accumulate is set.
  void (*gemmTile)(const float* ap, const float* bp, int kc, float* y, int ldy, int m, int n, bool accumulate);

  // Attention: out[j] = scale · q·k_j for n keys k_j = k0 + j·stride, each `d` long (a fixed per-key order).
  void (*scoreRun)(const float* q, const float* k0, size_t stride, int n, int d, float scale, float* out);
  // acc[0 .. d) += Σ_j p[j] · v_j over n value rows v_j = v0 + j·stride, j in order.
  void (*weightedSumRun)(float* acc, const float* p, const float* v0, size_t stride, int n, int d);

  // s[i] = exp(s[i] − m) for i < n; returns Σ s[i] (float32 lanes, fixed order).
  float (*expShiftSum)(float* s, int n, float m);
  // y[i] = silu(g[i]) · u[i] = g / (1 + exp(−g)) · u.
  void (*swiglu)(float* y, const float* g, const float* u, size_t n);
  // Sum of the bytes' float32 values (only to keep the memory bandwidth probe's loads alive).
  float (*readSum)(const float* p, size_t n);
};

const KernelTable& kernelsScalar();
const KernelTable& kernelsAvx2();
const KernelTable& kernelsAvx512();
// The table of the current dispatch level.
const KernelTable& kernels();

}  // namespace mimo
