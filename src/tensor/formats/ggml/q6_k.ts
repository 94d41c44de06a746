/**
 * Q6_K (ggml `block_q6_K`, ggml-common.h): super-blocks of 256 elements, 210 bytes — `ql[128]` (low 4 bits),
 * `qh[64]` (high 2 bits), `scales[16]` (int8, one per 16-element sub-block), `d` (F16).
 * Element e = 128·h + 32·k + t (h < 2, k < 4, t < 32): low bits from ql[64·h + t + 32·(k & 1)], low nibble for
 * k < 2 and high nibble for k ≥ 2; high bits (qh[32·h + t] >> 2·k) & 3; code = (low | high << 4) − 32;
 * value = (d · scales[e / 16]) · code, in float32 as ggml's `dequantize_row_q6_K` (ggml-quants.c).
 */
import { f16Value } from './float.js';
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
