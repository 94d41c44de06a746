/**
 * Q5_0 and Q5_1 (ggml `block_q5_0`, `block_q5_1`, ggml-common.h): blocks of 32 elements of 5-bit codes.
 * - Q5_0, 22 bytes: `d` (F16), `qh[4]` (a little-endian uint32: bit j is the 5th bit of element j), `qs[16]`
 *   (element j < 16 in the low nibble of qs[j], element j + 16 in its high nibble); value = d · (q − 16).
 * - Q5_1, 24 bytes: `d` (F16), `m` (F16), `qh[4]`, `qs[16]` as Q5_0; value = d · q + m.
 * Computed in float32 as ggml's `dequantize_row_q5_0` / `_q5_1` (ggml-quants.c) do.
 */
import { f16Value, putF16 } from './float.js';
import { signedAbsMax } from './q4_0.js';

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

const f = Math.fround;

function putU32(dst: Uint8Array, p: number, v: number): void {
  dst[p] = v & 0xff;
  dst[p + 1] = (v >>> 8) & 0xff;
  dst[p + 2] = (v >>> 16) & 0xff;
  dst[p + 3] = (v >>> 24) & 0xff;
}

/**
 * Encode n float32 values src[so …] (n a multiple of 32) as Q5_0 blocks at dst[dp …], as ggml's
 * `quantize_row_q5_0_ref`: d = max / −16, q = min(31, ⌊x/d + 16.5⌋).
 */
export function encodeQ5_0Row(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  for (let b = 0; b < n / Q5_BLOCK; b++, so += Q5_BLOCK, dp += Q5_0_BLOCK_BYTES) {
    const d = f(signedAbsMax(src, so, Q5_BLOCK) / -16);
    const id = d ? f(1 / d) : 0;
    putF16(dst, dp, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(31, Math.trunc(f(f(src[so + j]! * id) + 16.5)));
      const q1 = Math.min(31, Math.trunc(f(f(src[so + 16 + j]! * id) + 16.5)));
      dst[dp + 6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + 16));
    }
    putU32(dst, dp + 2, qh >>> 0);
  }
}

/**
 * Encode n float32 values as Q5_1 blocks, as ggml's `quantize_row_q5_1_ref`: m = min, d = (max − min) / 31,
 * q = ⌊(x − m)/d + 0.5⌋.
 */
export function encodeQ5_1Row(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  for (let b = 0; b < n / Q5_BLOCK; b++, so += Q5_BLOCK, dp += Q5_1_BLOCK_BYTES) {
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < Q5_BLOCK; j++) {
      const v = src[so + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = f(f(max - min) / 31);
    const id = d ? f(1 / d) : 0;
    putF16(dst, dp, d);
    putF16(dst, dp + 2, min);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(31, Math.trunc(f(f(f(src[so + j]! - min) * id) + 0.5)));
      const q1 = Math.min(31, Math.trunc(f(f(f(src[so + 16 + j]! - min) * id) + 0.5)));
      dst[dp + 8 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + 16));
    }
    putU32(dst, dp + 4, qh >>> 0);
  }
}
