/**
 * Q5_K (ggml `block_q5_K`, ggml-common.h): super-blocks of 256 elements, 176 bytes — `d` (F16), `dmin` (F16),
 * `scales[12]` (as Q4_K, see k-scales.ts), `qh[32]` (5th bits), `qs[128]` (low 4 bits).
 * Element e = 64·c + 32·u + t (c < 4, u < 2, t < 32), sub-block j = 2·c + u: low bits are the low (u = 0) or high
 * (u = 1) nibble of qs[32·c + t], the 5th bit is (qh[t] >> j) & 1; value = d · scale(j) · code − dmin · min(j), in
 * float32 as ggml's `dequantize_row_q5_K` (ggml-quants.c).
 */
import { f16Value } from './float.js';
import { encodeKScalesAndCodes, kMin, kScale } from './k-scales.js';
import { QK_K } from './q2_k.js';

/** Bytes per Q5_K super-block. */
export const Q5_K_BLOCK_BYTES = 176;

/** Decode a Q5_K row of n elements (n a multiple of 256) from its super-blocks in `src`. */
export function decodeQ5_KRow(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let b = 0, p = 0, o = outOffset; b < n / QK_K; b++, p += Q5_K_BLOCK_BYTES, o += QK_K) {
    const d = f16Value(src[p]! | (src[p + 1]! << 8));
    const dmin = f16Value(src[p + 2]! | (src[p + 3]! << 8));
    for (let j = 0; j < 8; j++) {
      const dl = Math.fround(d * kScale(src, p + 4, j));
      const ml = Math.fround(dmin * kMin(src, p + 4, j));
      const q = p + 48 + 32 * (j >> 1);
      const shift = 4 * (j & 1);
      for (let t = 0; t < 32; t++) {
        const code = ((src[q + t]! >> shift) & 0x0f) | (((src[p + 16 + t]! >> j) & 1) << 4);
        out[o + 32 * j + t] = Math.fround(Math.fround(dl * code) - ml);
      }
    }
  }
}

/**
 * Encode n float32 values src[so …] (n a multiple of 256) as Q5_K super-blocks at dst[dp …], as ggml's
 * `quantize_row_q5_K_ref` (make_qkx2_quants with nmax 31, rmin −0.5, 15 steps).
 */
export function encodeQ5_KRow(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  const L = new Uint8Array(QK_K);
  for (let b = 0; b < n / QK_K; b++, so += QK_K, dp += Q5_K_BLOCK_BYTES) {
    encodeKScalesAndCodes(src, so, 31, -0.5, 15, dst, dp, L);
    dst.fill(0, dp + 16, dp + 48);
    for (let j = 0; j < 8; j++) {
      for (let t = 0; t < 32; t++) {
        const l = L[32 * j + t]!;
        if (l > 15) dst[dp + 16 + t] |= 1 << j;
        const q = dp + 48 + 32 * (j >> 1) + t;
        if (j & 1) dst[q] |= (l & 0x0f) << 4;
        else dst[q] = l & 0x0f;
      }
    }
  }
}
