/**
 * Q2_K (ggml `block_q2_K`, ggml-common.h): super-blocks of 256 elements, 84 bytes — `scales[16]` (per 16-element
 * sub-block: low nibble = scale code, high nibble = min code), `qs[64]` (2-bit codes), `d` (F16, scale of the scale
 * codes), `dmin` (F16, scale of the min codes).
 * Element e of a super-block (e = 128·h + 32·j + t, h < 2, j < 4, t < 32) has code (qs[32·h + t] >> 2·j) & 3 and
 * sub-block s = e / 16; value = d · (scales[s] & 15) · code − dmin · (scales[s] >> 4), in float32 as ggml's
 * `dequantize_row_q2_K` (ggml-quants.c) computes it.
 */
import { f16Value, putF16 } from './float.js';
import { makeQkx2Quants, nearestInt } from './quant-search.js';

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

const f = Math.fround;

/** Pack 256 2-bit codes L into qs[64] at dst[p …] (shared by Q2_K and Q3_K): byte 32·h + t holds element 128·h + 32·j + t in bits 2j. */
export function pack2BitPlanes(L: ArrayLike<number>, dst: Uint8Array, p: number): void {
  for (let h = 0; h < 2; h++) {
    for (let t = 0; t < 32; t++) {
      const e = 128 * h + t;
      dst[p + 32 * h + t] = L[e]! | (L[e + 32]! << 2) | (L[e + 64]! << 4) | (L[e + 96]! << 6);
    }
  }
}

/**
 * Encode n float32 values src[so …] (n a multiple of 256) as Q2_K super-blocks at dst[dp …], as ggml's
 * `quantize_row_q2_K_ref`: per 16 elements a scale and min by `make_qkx2_quants` (|x|-weighted absolute error),
 * both quantised to 4 bits against the super-block's largest, then the codes recomputed with the stored scales.
 */
export function encodeQ2_KRow(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  const L = new Uint8Array(QK_K);
  const Laux = new Uint8Array(16);
  const weights = new Float32Array(16);
  const scales = new Float32Array(16);
  const mins = new Float32Array(16);
  for (let b = 0; b < n / QK_K; b++, so += QK_K, dp += Q2_K_BLOCK_BYTES) {
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(src[so + 16 * j + l]!);
      const [scale, min] = makeQkx2Quants(16, 3, src, so + 16 * j, weights, L, 16 * j, Laux, -0.5, f(0.1), 15, true);
      scales[j] = scale;
      mins[j] = min;
      if (scale > maxScale) maxScale = scale;
      if (min > maxMin) maxMin = min;
    }
    let d = 0;
    let dmin = 0;
    if (maxScale > 0) {
      const iscale = f(15 / maxScale);
      for (let j = 0; j < 16; j++) dst[dp + j] = nearestInt(f(iscale * scales[j]!));
      d = putF16(dst, dp + 80, f(maxScale / 15));
    } else {
      dst.fill(0, dp, dp + 16);
      d = putF16(dst, dp + 80, 0);
    }
    if (maxMin > 0) {
      const iscale = f(15 / maxMin);
      for (let j = 0; j < 16; j++) dst[dp + j] |= nearestInt(f(iscale * mins[j]!)) << 4;
      dmin = putF16(dst, dp + 82, f(maxMin / 15));
    } else {
      dmin = putF16(dst, dp + 82, 0);
    }
    for (let j = 0; j < 16; j++) {
      const dl = f(d * (dst[dp + j]! & 0x0f));
      if (!dl) continue;
      const dm = f(dmin * (dst[dp + j]! >> 4));
      for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = Math.max(0, Math.min(3, nearestInt(f(f(src[so + 16 * j + ii]! + dm) / dl))));
    }
    pack2BitPlanes(L, dst, dp + 16);
  }
}
