// The per-instruction-set kernel table. Each ISA file (kernels_scalar.cc, kernels_avx2.cc, kernels_avx512.cc, whose
// row kernels hand GGUF block formats to kernels_*_ggml.cc) fills one; the drivers (matmul.cc, attention.cc, elementwise.cc, bandwidth.cc) pick the table of the current
// dispatch level. Numerics: float32 accumulation, weights dequantised to f32 in registers, IEEE semantics.
#pragma once
#include <cstddef>

#include "common.h"

namespace mimo {

struct KernelTable {
  // Matmul of rows [r0, r1) for every token t in [0, T): y[t, r]. Each (row, token) sum has one fixed order that
  // depends on neither r0/r1 nor T, so any row split and any number of tokens sharing the call give the same bits
  // (row invariance: batched decode, prefill chunks, verify steps and cached-prompt suffixes all agree).
  void (*matmulRows)(const MatmulArgs& a, int r0, int r1);

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

  // Levels whose row kernel splits x into bf16 parts (null elsewhere): words of split x that a call of T tokens of
  // weight w needs (0: this weight does not use it), and the split itself, so a driver can split x once per call and
  // pass it to every row range in MatmulArgs::xs.
  size_t (*splitWords)(const WeightView& w, int T) = nullptr;
  void (*splitX)(const WeightView& w, const float* x, int T, uint16_t* out) = nullptr;

  // scoreRun for nq queries q + r·qStride into out + r·outStride, each score with the bits scoreRun gives it (null:
  // call scoreRun per query). Levels that have it load each key chunk once for several queries.
  void (*scoreRunRows)(const float* q, size_t qStride, int nq, const float* k0, size_t stride, int n, int d, float scale, float* out,
                       size_t outStride) = nullptr;
  // weightedSumRun for nr rows acc + r·accStride with weights p + r·pStride over the same value rows, each row with the
  // bits weightedSumRun gives it (null: call weightedSumRun per row).
  void (*weightedSumRunRows)(float* acc, size_t accStride, const float* p, size_t pStride, int nr, const float* v0, size_t stride, int n,
                             int d) = nullptr;
};

const KernelTable& kernelsScalar();
const KernelTable& kernelsAvx2();
const KernelTable& kernelsAvx512();
// AVX-512 with BF16 dot products: kernelsAvx512 with the BF16/FP8/MXFP4 row kernel of kernels_avx512bf16.cc, no GEMM.
const KernelTable& kernelsAvx512Bf16();
// The table of the current dispatch level.
const KernelTable& kernels();

}  // namespace mimo
