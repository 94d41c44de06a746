/**
 * Q4_0 and Q4_1 (ggml `block_q4_0`, `block_q4_1`, ggml-common.h): blocks of 32 elements.
 * - Q4_0, 18 bytes: `d` (F16) then `qs[16]`; element j (j < 16) is the low nibble of qs[j], element j + 16 its high
 *   nibble; value = d · (q − 8).
 * - Q4_1, 20 bytes: `d` (F16), `m` (F16), `qs[16]` as Q4_0; value = d · q + m.
 * Computed in float32 as ggml's `dequantize_row_q4_0` / `_q4_1` (ggml-quants.c) do.
 */
import { f16Value } from './float.js';

/** Elements per Q4_0 / Q4_1 block. */
export const Q4_BLOCK = 32;
/** Bytes per Q4_0 block: 2 (F16 d) + 16 (nibbles). */
export const Q4_0_BLOCK_BYTES = 18;
/** Bytes per Q4_1 block: 2 (F16 d) + 2 (F16 m) + 16 (nibbles). */
export const Q4_1_BLOCK_BYTES = 20;

/** Decode a Q4_0 row of n elements (n a multiple of 32) from its blocks in `src`. */
export function decodeQ4_0Row(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let b = 0, p = 0, o = outOffset; b < n / Q4_BLOCK; b++, p += Q4_0_BLOCK_BYTES, o += Q4_BLOCK) {
    const d = f16Value(src[p]! | (src[p + 1]! << 8));
    for (let j = 0; j < 16; j++) {
      const q = src[p + 2 + j]!;
      out[o + j] = Math.fround(((q & 0x0f) - 8) * d);
      out[o + j + 16] = Math.fround(((q >> 4) - 8) * d);
    }
  }
}

/** Decode a Q4_1 row of n elements (n a multiple of 32) from its blocks in `src`. */
export function decodeQ4_1Row(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let b = 0, p = 0, o = outOffset; b < n / Q4_BLOCK; b++, p += Q4_1_BLOCK_BYTES, o += Q4_BLOCK) {
    const d = f16Value(src[p]! | (src[p + 1]! << 8));
    const m = f16Value(src[p + 2]! | (src[p + 3]! << 8));
    for (let j = 0; j < 16; j++) {
      const q = src[p + 4 + j]!;
      out[o + j] = Math.fround(Math.fround((q & 0x0f) * d) + m);
      out[o + j + 16] = Math.fround(Math.fround((q >> 4) * d) + m);
    }
  }
}
