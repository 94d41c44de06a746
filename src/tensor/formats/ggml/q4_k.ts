/**
 * Q4_K (ggml `block_q4_K`, ggml-common.h): super-blocks of 256 elements, 144 bytes — `d` (F16), `dmin` (F16),
 * `scales[12]` (eight 6-bit scale and min codes, see k-scales.ts), `qs[128]` (4-bit codes).
 * Element e = 64·c + 32·u + t (c < 4, u < 2, t < 32) is the low (u = 0) or high (u = 1) nibble of qs[32·c + t], in
 * sub-block j = 2·c + u; value = d · scale(j) · code − dmin · min(j), in float32 as ggml's `dequantize_row_q4_K`.
 */
import { f16Value } from './float.js';
import { encodeKScalesAndCodes, kMin, kScale } from './k-scales.js';
import { QK_K } from './q2_k.js';

/** Bytes per Q4_K super-block. */
export const Q4_K_BLOCK_BYTES = 144;

/** Decode a Q4_K row of n elements (n a multiple of 256) from its super-blocks in `src`. */
export function decodeQ4_KRow(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let b = 0, p = 0, o = outOffset; b < n / QK_K; b++, p += Q4_K_BLOCK_BYTES, o += QK_K) {
    const d = f16Value(src[p]! | (src[p + 1]! << 8));
    const dmin = f16Value(src[p + 2]! | (src[p + 3]! << 8));
    for (let j = 0; j < 8; j++) {
      const dl = Math.fround(d * kScale(src, p + 4, j));
      const ml = Math.fround(dmin * kMin(src, p + 4, j));
      const q = p + 16 + 32 * (j >> 1);
      const shift = 4 * (j & 1);
      for (let t = 0; t < 32; t++) out[o + 32 * j + t] = Math.fround(Math.fround(dl * ((src[q + t]! >> shift) & 0x0f)) - ml);
    }
  }
}

/**
 * Encode n float32 values src[so …] (n a multiple of 256) as Q4_K super-blocks at dst[dp …], as ggml's
 * `quantize_row_q4_K_ref` (make_qkx2_quants with nmax 15, rmin −1, 20 steps).
 */
export function encodeQ4_KRow(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  const L = new Uint8Array(QK_K);
  for (let b = 0; b < n / QK_K; b++, so += QK_K, dp += Q4_K_BLOCK_BYTES) {
    encodeKScalesAndCodes(src, so, 15, -1, 20, dst, dp, L);
    for (let c = 0; c < 4; c++) {
      for (let t = 0; t < 32; t++) dst[dp + 16 + 32 * c + t] = L[64 * c + t]! | (L[64 * c + 32 + t]! << 4);
    }
  }
}
