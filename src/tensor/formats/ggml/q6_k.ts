/**
 * Q6_K (ggml `block_q6_K`, ggml-common.h): super-blocks of 256 elements, 210 bytes — `ql[128]` (low 4 bits),
 * `qh[64]` (high 2 bits), `scales[16]` (int8, one per 16-element sub-block), `d` (F16).
 * Element e = 128·h + 32·k + t (h < 2, k < 4, t < 32): low bits from ql[64·h + t + 32·(k & 1)], low nibble for
 * k < 2 and high nibble for k ≥ 2; high bits (qh[32·h + t] >> 2·k) & 3; code = (low | high << 4) − 32;
 * value = (d · scales[e / 16]) · code, in float32 as ggml's `dequantize_row_q6_K` (ggml-quants.c).
 */
import { f16Value, putF16 } from './float.js';
import { GROUP_MAX_EPS, makeQxQuants, nearestInt } from './quant-search.js';
import { QK_K } from './q2_k.js';

/** Bytes per Q6_K super-block. */
export const Q6_K_BLOCK_BYTES = 210;

/** Decode a Q6_K row of n elements (n a multiple of 256) from its super-blocks in `src`. */
export function decodeQ6_KRow(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let b = 0, p = 0, o = outOffset; b < n / QK_K; b++, p += Q6_K_BLOCK_BYTES, o += QK_K) {
    const d = f16Value(src[p + 208]! | (src[p + 209]! << 8));
    for (let e = 0; e < QK_K; e++) {
      const h = e >> 7;
      const k = (e >> 5) & 3;
      const t = e & 31;
      const lo = (src[p + 64 * h + t + 32 * (k & 1)]! >> (4 * (k >> 1))) & 0x0f;
      const hi = (src[p + 128 + 32 * h + t]! >> (2 * k)) & 3;
      const sc = src[p + 192 + (e >> 4)]!;
      out[o + e] = Math.fround(Math.fround(d * (sc > 127 ? sc - 256 : sc)) * ((lo | (hi << 4)) - 32));
    }
  }
}

/**
 * Encode n float32 values src[so …] (n a multiple of 256) as Q6_K super-blocks at dst[dp …], as ggml's
 * `quantize_row_q6_K_ref`: per 16 elements a signed scale by `make_qx_quants` (nmax 32, x²-weighted), quantised to
 * int8 against the largest-magnitude one, then the codes recomputed with the stored scales.
 */
export function encodeQ6_KRow(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  const f = Math.fround;
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  for (let b = 0; b < n / QK_K; b++, so += QK_K, dp += Q6_K_BLOCK_BYTES) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, src, so + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      dst.fill(0, dp, dp + Q6_K_BLOCK_BYTES);
      continue;
    }
    const iscale = f(-128 / maxScale);
    const d = putF16(dst, dp + 208, f(1 / iscale));
    for (let ib = 0; ib < 16; ib++) dst[dp + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]!))) & 0xff;
    for (let j = 0; j < 16; j++) {
      const sc = dst[dp + 192 + j]!;
      const dl = f(d * (sc > 127 ? sc - 256 : sc));
      if (!dl) continue;
      for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = Math.max(-32, Math.min(31, nearestInt(f(src[so + 16 * j + ii]! / dl)))) + 32;
    }
    for (let h = 0; h < 2; h++) {
      for (let t = 0; t < 32; t++) {
        const e = 128 * h + t;
        const q1 = L[e]!;
        const q2 = L[e + 32]!;
        const q3 = L[e + 64]!;
        const q4 = L[e + 96]!;
        dst[dp + 64 * h + t] = (q1 & 0x0f) | ((q3 & 0x0f) << 4);
        dst[dp + 64 * h + 32 + t] = (q2 & 0x0f) | ((q4 & 0x0f) << 4);
        dst[dp + 128 + 32 * h + t] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
}
