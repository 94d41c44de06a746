/**
 * Q8_0 (ggml `block_q8_0`, ggml-common.h): blocks of 32 elements, 34 bytes each — `d` (F16 scale, little-endian)
 * then `qs[32]` (int8). Element j of a block is d · qs[j], computed in float32 as ggml's `dequantize_row_q8_0`
 * does (the F16 scale converted to float, times the integer).
 */
import { f16Value } from './float.js';

/** Elements per Q8_0 block. */
export const Q8_0_BLOCK = 32;
/** Bytes per Q8_0 block: 2 (F16 d) + 32 (int8 qs). */
export const Q8_0_BLOCK_BYTES = 34;

/** Decode a Q8_0 row of n elements (n a multiple of 32) from its blocks in `src`. */
export function decodeQ8_0Row(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  const nb = n / Q8_0_BLOCK;
  for (let b = 0; b < nb; b++) {
    const p = b * Q8_0_BLOCK_BYTES;
    const d = f16Value(src[p]! | (src[p + 1]! << 8));
    const o = outOffset + b * Q8_0_BLOCK;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const q = src[p + 2 + j]!;
      out[o + j] = Math.fround(d * (q > 127 ? q - 256 : q));
    }
  }
}
