// Shared types of the mimo.ts native addon: weight views, dispatch levels, small helpers.
// A weight is `[rows, cols]` row-major in its stored dtype (see src/kernels/backend.ts `Weight`).
#pragma once
#include <cstddef>
#include <cstdint>

namespace mimo {

enum class WDType { F32, BF16, F16, FP8, MXFP4, GGML };

// Read-only view of a linear layer's weight `[rows, cols]`; W[r, c] as defined in backend.ts.
struct WeightView {
  WDType dtype;
  int rows;
  int cols;
  const void* data;
  // fp8 only: block scales `[scaleRows, scaleCols]`, columns per block, scale row of each weight row `[rows]`.
  const float* scales;
  int scaleCols;
  int blockCols;
  const int32_t* rowScale;
  // mxfp4 only: E8M0 exponents `[rows, cols/32]` (data: packed codes `[rows, cols/2]`).
  const uint8_t* e8m0;
  // ggml only: the ggml type id (ggml_blocks.h); data holds `rows` rows of ggmlRowBytes(ggmlType, cols) bytes.
  int ggmlType;
  // ggml only, `precision: 'fast'`: activations quantised to int8 blocks and int32 block dot products (ggml_q8.h);
  // only for the types of ggmlQ8ActType.
  bool q8Act = false;
};

// One matmul call: y `[T, rows]` = x `[T, cols]` · Wᵀ.
struct MatmulArgs {
  const float* x;
  int T;
  float* y;
  WeightView w;
  // x already split by KernelTable::splitX for this weight (or null: the row kernel splits it itself).
  const uint16_t* xs = nullptr;
  // A q8Act weight's x already quantised by ggmlQ8Quantize (codes `[T, cols]`, scales `[T, cols/32]`), or null: the
  // row kernel quantises it itself. Drivers quantise once per call, not once per row range.
  const int8_t* xq = nullptr;
  const float* xd = nullptr;
};

// Instruction-set levels the kernels are compiled for, best last.
enum class Level { Scalar = 0, Avx2 = 1, Avx512 = 2, Avx512Bf16 = 3 };

inline int ceilDiv(int a, int b) { return (a + b - 1) / b; }
inline int minInt(int a, int b) { return a < b ? a : b; }

}  // namespace mimo
