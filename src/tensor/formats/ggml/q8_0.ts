/**
 * Q8_0 (ggml `block_q8_0`, ggml-common.h): blocks of 32 elements, 34 bytes each — `d` (F16 scale, little-endian)
 * then `qs[32]` (int8). Element j of a block is d · qs[j], computed in float32 as ggml's `dequantize_row_q8_0`
 * does (the F16 scale converted to float, times the integer).
 */
import { f16Value, putF16 } from './float.js';

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

/**
 * Encode n float32 values src[so …] (n a multiple of 32) as Q8_0 blocks at dst[dp …], as ggml's
 * `quantize_row_q8_0_ref`: d = max|x| / 127 stored as F16, qs = round(x / d) (half away from zero).
 */
export function encodeQ8_0Row(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  const f = Math.fround;
  for (let b = 0; b < n / Q8_0_BLOCK; b++, so += Q8_0_BLOCK, dp += Q8_0_BLOCK_BYTES) {
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) amax = Math.max(amax, Math.abs(src[so + j]!));
    const d = f(amax / 127);
    const id = d ? f(1 / d) : 0;
    putF16(dst, dp, d);
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const v = f(src[so + j]! * id);
      const q = v < 0 ? -Math.round(-v) : Math.round(v);
      dst[dp + 2 + j] = q & 0xff;
    }
  }
}
