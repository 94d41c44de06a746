// ggml block encoders (mimo quantize): float32 rows in, ggml blocks out, bitwise the bytes of the TypeScript
// reference encoders in src/tensor/formats/ggml/ (the definition; they follow ggml-quants.c `quantize_row_*_ref`).
#pragma once
#include <cstddef>
#include <cstdint>

namespace mimo {

// True when ggmlQuantizeRows can write ggml type `type` (F16, BF16 and the block types of quantize.cc).
bool ggmlQuantizeSupported(int type);

// Bytes of one row of `cols` values of `type`, or 0 when the type is not supported or cols is not whole blocks.
size_t ggmlQuantizeRowBytes(int type, int64_t cols);

// Encode rows `[rows, cols]` of src (row-major, cols a multiple of the type's block) as `type` into dst
// (rows · rowBytes bytes, the rows back to back). Block types check each row for a non-finite value before
// encoding it, as quantizeGgmlRows does: returns the flat index of the first one (the rows before it are written),
// or -1 when every row was encoded. Scalar, single-threaded.
int64_t ggmlQuantizeRows(int type, const float* src, int64_t rows, int64_t cols, uint8_t* dst);

}  // namespace mimo
