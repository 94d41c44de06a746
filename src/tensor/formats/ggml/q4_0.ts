/**
 * Q4_0 and Q4_1 (ggml `block_q4_0`, `block_q4_1`, ggml-common.h): blocks of 32 elements.
 * - Q4_0, 18 bytes: `d` (F16) then `qs[16]`; element j (j < 16) is the low nibble of qs[j], element j + 16 its high
 *   nibble; value = d · (q − 8).
 * - Q4_1, 20 bytes: `d` (F16), `m` (F16), `qs[16]` as Q4_0; value = d · q + m.
 * Computed in float32 as ggml's `dequantize_row_q4_0` / `_q4_1` (ggml-quants.c) do.
 */
import { f16Value, putF16 } from './float.js';

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

const f = Math.fround;

/** Index and value of the first element of largest magnitude in x[o … o + n). */
export function signedAbsMax(x: Float32Array, o: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < n; j++) {
    const v = x[o + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

/**
 * Encode n float32 values src[so …] (n a multiple of 32) as Q4_0 blocks at dst[dp …], as ggml's
 * `quantize_row_q4_0_ref`: d = max / −8 (max = the signed value of largest magnitude), q = min(15, ⌊x/d + 8.5⌋).
 */
export function encodeQ4_0Row(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  for (let b = 0; b < n / Q4_BLOCK; b++, so += Q4_BLOCK, dp += Q4_0_BLOCK_BYTES) {
    const d = f(signedAbsMax(src, so, Q4_BLOCK) / -8);
    const id = d ? f(1 / d) : 0;
    putF16(dst, dp, d);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(f(f(src[so + j]! * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(f(f(src[so + 16 + j]! * id) + 8.5)));
      dst[dp + 2 + j] = q0 | (q1 << 4);
    }
  }
}

/**
 * Encode n float32 values as Q4_1 blocks, as ggml's `quantize_row_q4_1_ref`: m = min, d = (max − min) / 15,
 * q = min(15, ⌊(x − m)/d + 0.5⌋).
 */
export function encodeQ4_1Row(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  for (let b = 0; b < n / Q4_BLOCK; b++, so += Q4_BLOCK, dp += Q4_1_BLOCK_BYTES) {
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < Q4_BLOCK; j++) {
      const v = src[so + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = f(f(max - min) / 15);
    const id = d ? f(1 / d) : 0;
    putF16(dst, dp, d);
    putF16(dst, dp + 2, min);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(f(f(f(src[so + j]! - min) * id) + 0.5)));
      const q1 = Math.min(15, Math.trunc(f(f(f(src[so + 16 + j]! - min) * id) + 0.5)));
      dst[dp + 4 + j] = q0 | (q1 << 4);
    }
  }
}
