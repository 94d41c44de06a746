/**
 * Q2_K (ggml `block_q2_K`, ggml-common.h): super-blocks of 256 elements, 84 bytes — `scales[16]` (per 16-element
 * sub-block: low nibble = scale code, high nibble = min code), `qs[64]` (2-bit codes), `d` (F16, scale of the scale
 * codes), `dmin` (F16, scale of the min codes).
 * Element e of a super-block (e = 128·h + 32·j + t, h < 2, j < 4, t < 32) has code (qs[32·h + t] >> 2·j) & 3 and
 * sub-block s = e / 16; value = d · (scales[s] & 15) · code − dmin · (scales[s] >> 4), in float32 as ggml's
 * `dequantize_row_q2_K` (ggml-quants.c) computes it.
 */
import { f16Value } from './float.js';

/** Elements per super-block of every K-quant (ggml's QK_K). */
export const QK_K = 256;
/** Bytes per Q2_K super-block. */
export const Q2_K_BLOCK_BYTES = 84;

/** Decode a Q2_K row of n elements (n a multiple of 256) from its super-blocks in `src`. */
export function decodeQ2_KRow(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let b = 0, p = 0, o = outOffset; b < n / QK_K; b++, p += Q2_K_BLOCK_BYTES, o += QK_K) {
    const d = f16Value(src[p + 80]! | (src[p + 81]! << 8));
    const dmin = f16Value(src[p + 82]! | (src[p + 83]! << 8));
    for (let s = 0; s < 16; s++) {
      const sc = src[p + s]!;
      const dl = Math.fround(d * (sc & 0x0f));
      const ml = Math.fround(dmin * (sc >> 4));
      for (let k = 0; k < 16; k++) {
        const e = 16 * s + k;
        const h = e >> 7;
        const j = (e >> 5) & 3;
        const t = e & 31;
        const q = (src[p + 16 + 32 * h + t]! >> (2 * j)) & 3;
        out[o + e] = Math.fround(Math.fround(dl * q) - ml);
      }
    }
  }
}
