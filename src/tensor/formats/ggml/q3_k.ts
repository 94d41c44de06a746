/**
 * Q3_K (ggml `block_q3_K`, ggml-common.h): super-blocks of 256 elements, 110 bytes — `hmask[32]` (high bits),
 * `qs[64]` (low 2 bits), `scales[12]` (sixteen 6-bit scale codes, offset 32), `d` (F16).
 * Scale code of sub-block s (16 elements): low 4 bits = s < 8 ? scales[s] & 15 : scales[s − 8] >> 4, high 2 bits =
 * (scales[8 + s % 4] >> 2·⌊s/4⌋) & 3. Element e = 128·h + 32·j + t (h < 2, j < 4, t < 32): low bits
 * (qs[32·h + t] >> 2·j) & 3, high bit (hmask[t] >> (4·h + j)) & 1; code = low − (high ? 0 : 4) ∈ [−4, 3];
 * value = d · (scale code − 32) · code, in float32 as ggml's `dequantize_row_q3_K` (ggml-quants.c).
 */
import { f16Value, putF16 } from './float.js';
import { pack2BitPlanes, QK_K } from './q2_k.js';
import { makeQ3Quants, nearestInt } from './quant-search.js';

/** Bytes per Q3_K super-block. */
export const Q3_K_BLOCK_BYTES = 110;

/** The 6-bit scale code (0…63, before the −32 offset) of sub-block s from a Q3_K block's 12 scale bytes at `p`. */
export function q3KScaleCode(src: Uint8Array, p: number, s: number): number {
  const lo = s < 8 ? src[p + s]! & 0x0f : src[p + s - 8]! >> 4;
  const hi = (src[p + 8 + (s & 3)]! >> (2 * (s >> 2))) & 3;
  return lo | (hi << 4);
}

/** Decode a Q3_K row of n elements (n a multiple of 256) from its super-blocks in `src`. */
export function decodeQ3_KRow(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let b = 0, p = 0, o = outOffset; b < n / QK_K; b++, p += Q3_K_BLOCK_BYTES, o += QK_K) {
    const d = f16Value(src[p + 108]! | (src[p + 109]! << 8));
    for (let s = 0; s < 16; s++) {
      const dl = Math.fround(d * (q3KScaleCode(src, p + 96, s) - 32));
      for (let k = 0; k < 16; k++) {
        const e = 16 * s + k;
        const h = e >> 7;
        const j = (e >> 5) & 3;
        const t = e & 31;
        const low = (src[p + 32 + 32 * h + t]! >> (2 * j)) & 3;
        const high = (src[p + t]! >> (4 * h + j)) & 1;
        out[o + e] = Math.fround(dl * (low - (high ? 0 : 4)));
      }
    }
  }
}

const f = Math.fround;

/**
 * Encode n float32 values src[so …] (n a multiple of 256) as Q3_K super-blocks at dst[dp …], as ggml's
 * `quantize_row_q3_K_ref`: per 16 elements a signed scale by `make_q3_quants`, quantised to 6 bits against the
 * largest-magnitude one, then the codes recomputed with the stored scales (high bit into hmask).
 */
export function encodeQ3_KRow(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(16);
  for (let b = 0; b < n / QK_K; b++, so += QK_K, dp += Q3_K_BLOCK_BYTES) {
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = makeQ3Quants(16, 4, src, so + 16 * j, L, 16 * j);
      if (Math.abs(scales[j]!) > amax) {
        amax = Math.abs(scales[j]!);
        maxScale = scales[j]!;
      }
    }
    const sp = dp + 96;
    dst.fill(0, sp, sp + 12);
    let d: number;
    if (maxScale) {
      const iscale = f(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        const l = Math.max(-32, Math.min(31, nearestInt(f(iscale * scales[j]!)))) + 32;
        if (j < 8) dst[sp + j] = l & 0x0f;
        else dst[sp + j - 8] |= (l & 0x0f) << 4;
        dst[sp + 8 + (j % 4)] |= (l >> 4) << (2 * (j >> 2));
      }
      d = putF16(dst, dp + 108, f(1 / iscale));
    } else {
      d = putF16(dst, dp + 108, 0);
    }
    for (let j = 0; j < 16; j++) {
      const dl = f(d * (q3KScaleCode(dst, sp, j) - 32));
      if (!dl) continue;
      for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = Math.max(-4, Math.min(3, nearestInt(f(src[so + 16 * j + ii]! / dl)))) + 4;
    }
    // high bit of element e into bit ⌊e/32⌋ of hmask[e % 32]
    dst.fill(0, dp, dp + 32);
    const low = new Uint8Array(QK_K);
    for (let e = 0; e < QK_K; e++) {
      let l = L[e]!;
      if (l > 3) {
        dst[dp + (e & 31)] |= 1 << (e >> 5);
        l -= 4;
      }
      low[e] = l;
    }
    pack2BitPlanes(low, dst, dp + 32);
  }
}
