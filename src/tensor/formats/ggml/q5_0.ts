/**
 * Q5_0 and Q5_1 (ggml `block_q5_0`, `block_q5_1`, ggml-common.h): blocks of 32 elements of 5-bit codes.
 * - Q5_0, 22 bytes: `d` (F16), `qh[4]` (a little-endian uint32: bit j is the 5th bit of element j), `qs[16]`
 *   (element j < 16 in the low nibble of qs[j], element j + 16 in its high nibble); value = d · (q − 16).
 * - Q5_1, 24 bytes: `d` (F16), `m` (F16), `qh[4]`, `qs[16]` as Q5_0; value = d · q + m.
 * Computed in float32 as ggml's `dequantize_row_q5_0` / `_q5_1` (ggml-quants.c) do.
 */
import { f16Value } from './float.js';

/** Elements per Q5_0 / Q5_1 block. */
export const Q5_BLOCK = 32;
/** Bytes per Q5_0 block: 2 (F16 d) + 4 (high bits) + 16 (nibbles). */
export const Q5_0_BLOCK_BYTES = 22;
/** Bytes per Q5_1 block: 2 (F16 d) + 2 (F16 m) + 4 (high bits) + 16 (nibbles). */
export const Q5_1_BLOCK_BYTES = 24;

function u32At(src: Uint8Array, p: number): number {
  return (src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16) | (src[p + 3]! << 24)) >>> 0;
}

/** Decode a Q5_0 row of n elements (n a multiple of 32) from its blocks in `src`. */
export function decodeQ5_0Row(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let b = 0, p = 0, o = outOffset; b < n / Q5_BLOCK; b++, p += Q5_0_BLOCK_BYTES, o += Q5_BLOCK) {
    const d = f16Value(src[p]! | (src[p + 1]! << 8));
    const qh = u32At(src, p + 2);
    for (let j = 0; j < 16; j++) {
      const q = src[p + 6 + j]!;
      const lo = (q & 0x0f) | (((qh >>> j) & 1) << 4);
      const hi = (q >> 4) | (((qh >>> (j + 16)) & 1) << 4);
      out[o + j] = Math.fround((lo - 16) * d);
      out[o + j + 16] = Math.fround((hi - 16) * d);
    }
  }
}

/** Decode a Q5_1 row of n elements (n a multiple of 32) from its blocks in `src`. */
export function decodeQ5_1Row(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let b = 0, p = 0, o = outOffset; b < n / Q5_BLOCK; b++, p += Q5_1_BLOCK_BYTES, o += Q5_BLOCK) {
    const d = f16Value(src[p]! | (src[p + 1]! << 8));
    const m = f16Value(src[p + 2]! | (src[p + 3]! << 8));
    const qh = u32At(src, p + 4);
    for (let j = 0; j < 16; j++) {
      const q = src[p + 8 + j]!;
      const lo = (q & 0x0f) | (((qh >>> j) & 1) << 4);
      const hi = (q >> 4) | (((qh >>> (j + 16)) & 1) << 4);
      out[o + j] = Math.fround(Math.fround(lo * d) + m);
      out[o + j + 16] = Math.fround(Math.fround(hi * d) + m);
    }
  }
}
