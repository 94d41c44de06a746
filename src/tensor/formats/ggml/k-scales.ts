/**
 * The 12-byte scale block shared by Q4_K and Q5_K (ggml-common.h `K_SCALE_SIZE`, ggml-quants.c
 * `get_scale_min_k4`): eight 6-bit scale codes and eight 6-bit min codes, one pair per 32-element sub-block j.
 * j < 4: scale = b[j] & 63, min = b[j + 4] & 63. j ≥ 4: scale = (b[j + 4] & 15) | (b[j − 4] >> 6) << 4,
 * min = (b[j + 4] >> 4) | (b[j] >> 6) << 4.
 */
import { putF16 } from './float.js';
import { makeQkx2Quants, nearestInt } from './quant-search.js';

/** Scale code of sub-block j (0…7) from the 12 scale bytes at src[p …]. */
export function kScale(src: Uint8Array, p: number, j: number): number {
  return j < 4 ? src[p + j]! & 63 : (src[p + j + 4]! & 0x0f) | ((src[p + j - 4]! >> 6) << 4);
}

/** Min code of sub-block j (0…7) from the 12 scale bytes at src[p …]. */
export function kMin(src: Uint8Array, p: number, j: number): number {
  return j < 4 ? src[p + j + 4]! & 63 : (src[p + j + 4]! >> 4) | ((src[p + j]! >> 6) << 4);
}

/**
 * Pack eight 6-bit scale codes and eight 6-bit min codes (each 0…63) into 12 bytes at dst[p …], the inverse of
 * {@link kScale} / {@link kMin}.
 */
export function packKScales(scales: ArrayLike<number>, mins: ArrayLike<number>, dst: Uint8Array, p: number): void {
  dst.fill(0, p, p + 12);
  for (let j = 0; j < 8; j++) {
    const ls = scales[j]!;
    const lm = mins[j]!;
    if (j < 4) {
      dst[p + j] = ls;
      dst[p + j + 4] = lm;
    } else {
      dst[p + j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
      dst[p + j - 4] |= (ls >> 4) << 6;
      dst[p + j] |= (lm >> 4) << 6;
    }
  }
}

/**
 * The scale/min search shared by Q4_K and Q5_K (`quantize_row_q4_K_ref` / `_q5_K_ref`): per 32 elements
 * `make_qkx2_quants` with weights rms(x) + |x|, scales and mins quantised to 6 bits against the super-block's
 * largest, packed (k-scales.ts), d and dmin stored as F16, then the codes recomputed with the stored values.
 * Writes d, dmin, scales at dst[dp …] and the codes 0…nmax into L[256]; the caller packs them.
 */
export function encodeKScalesAndCodes(
  src: Float32Array,
  so: number,
  nmax: number,
  rmin: number,
  nstep: number,
  dst: Uint8Array,
  dp: number,
  L: Uint8Array,
): void {
  const f = Math.fround;
  const Laux = new Uint8Array(32);
  const weights = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  const ls = new Uint8Array(8);
  const lm = new Uint8Array(8);
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(src[so + 32 * j + l]! * src[so + 32 * j + l]!));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(src[so + 32 * j + l]!));
    const [scale, min] = makeQkx2Quants(32, nmax, src, so + 32 * j, weights, L, 32 * j, Laux, rmin, f(0.1), nstep, false);
    scales[j] = scale;
    mins[j] = min;
    if (scale > maxScale) maxScale = scale;
    if (min > maxMin) maxMin = min;
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    ls[j] = Math.min(63, nearestInt(f(invScale * scales[j]!)) & 0xff);
    lm[j] = Math.min(63, nearestInt(f(invMin * mins[j]!)) & 0xff);
  }
  packKScales(ls, lm, dst, dp + 4);
  const d = putF16(dst, dp, f(maxScale / 63));
  const dmin = putF16(dst, dp + 2, f(maxMin / 63));
  for (let j = 0; j < 8; j++) {
    const dl = f(d * ls[j]!);
    if (!dl) continue;
    const dm = f(dmin * lm[j]!);
    for (let ii = 0; ii < 32; ii++) L[32 * j + ii] = Math.max(0, Math.min(nmax, nearestInt(f(f(src[so + 32 * j + ii]! + dm) / dl))));
  }
}
