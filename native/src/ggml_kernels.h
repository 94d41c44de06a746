// Matmul row kernels for GGUF block-quantised weights (WDType::GGML, ggml_blocks.h), one per SIMD level; the scalar
// level's is in kernels_scalar.cc. Same contract as KernelTable::matmulRows: rows [r0, r1) for every token, each
// (row, token) summed in one fixed order whatever T, the row range or the thread count.
#pragma once
#include "common.h"

namespace mimo {

// AVX-512 (also the avx512bf16 level: block formats keep f32 activations there).
void ggmlMatmulRowsAvx512(const MatmulArgs& a, int r0, int r1);
// AVX2 + FMA + F16C.
void ggmlMatmulRowsAvx2(const MatmulArgs& a, int r0, int r1);

}  // namespace mimo
