/**
 * IQ4_NL and IQ4_XS (ggml `block_iq4_nl`, `block_iq4_xs`, ggml-common.h): 4-bit indices into the non-linear table
 * {@link IQ4_NL_VALUES} (ggml's `kvalues_iq4nl`).
 * - IQ4_NL, 32 elements, 18 bytes: `d` (F16), `qs[16]`; element j < 16 is the low nibble of qs[j], element j + 16
 *   its high nibble; value = d · table[index].
 * - IQ4_XS, 256 elements, 136 bytes: `d` (F16), `scales_h` (uint16 LE), `scales_l[4]`, `qs[128]`. Sub-block b (32
 *   elements) has the 6-bit scale ls = (scales_l[b/2] >> 4·(b%2)) & 15 | ((scales_h >> 2·b) & 3) << 4 and its 16
 *   bytes qs[16·b …] laid out as one IQ4_NL block; value = (d · (ls − 32)) · table[index].
 * Computed in float32 as ggml's `dequantize_row_iq4_nl` / `_iq4_xs` (ggml-quants.c) do.
 */
import { f16Value, putF16 } from './float.js';
import { bestIndexInt8, GROUP_MAX_EPS, nearestInt } from './quant-search.js';
import { QK_K } from './q2_k.js';

/** ggml's `kvalues_iq4nl`: the 16 levels of IQ4_NL / IQ4_XS (ggml-common.h). */
export const IQ4_NL_VALUES: Int8Array = new Int8Array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);

/** Elements per IQ4_NL block. */
export const IQ4_NL_BLOCK = 32;
/** Bytes per IQ4_NL block: 2 (F16 d) + 16 (indices). */
export const IQ4_NL_BLOCK_BYTES = 18;
/** Bytes per IQ4_XS super-block: 2 (F16 d) + 2 (scales_h) + 4 (scales_l) + 128 (indices). */
export const IQ4_XS_BLOCK_BYTES = 136;

/** Decode an IQ4_NL row of n elements (n a multiple of 32) from its blocks in `src`. */
export function decodeIq4NlRow(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let b = 0, p = 0, o = outOffset; b < n / IQ4_NL_BLOCK; b++, p += IQ4_NL_BLOCK_BYTES, o += IQ4_NL_BLOCK) {
    const d = f16Value(src[p]! | (src[p + 1]! << 8));
    for (let j = 0; j < 16; j++) {
      const q = src[p + 2 + j]!;
      out[o + j] = Math.fround(d * IQ4_NL_VALUES[q & 0x0f]!);
      out[o + j + 16] = Math.fround(d * IQ4_NL_VALUES[q >> 4]!);
    }
  }
}

/** The 6-bit scale (0…63, before the −32 offset) of sub-block ib of the IQ4_XS super-block at src[p …]. */
export function iq4XsScale(src: Uint8Array, p: number, ib: number): number {
  const h = src[p + 2]! | (src[p + 3]! << 8);
  return ((src[p + 4 + (ib >> 1)]! >> (4 * (ib & 1))) & 0x0f) | (((h >> (2 * ib)) & 3) << 4);
}

/** Decode an IQ4_XS row of n elements (n a multiple of 256) from its super-blocks in `src`. */
export function decodeIq4XsRow(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let b = 0, p = 0, o = outOffset; b < n / QK_K; b++, p += IQ4_XS_BLOCK_BYTES, o += QK_K) {
    const d = f16Value(src[p]! | (src[p + 1]! << 8));
    for (let ib = 0; ib < 8; ib++) {
      const dl = Math.fround(d * (iq4XsScale(src, p, ib) - 32));
      const q = p + 8 + 16 * ib;
      for (let j = 0; j < 16; j++) {
        out[o + 32 * ib + j] = Math.fround(dl * IQ4_NL_VALUES[src[q + j]! & 0x0f]!);
        out[o + 32 * ib + j + 16] = Math.fround(dl * IQ4_NL_VALUES[src[q + j]! >> 4]!);
      }
    }
  }
}

const f = Math.fround;
const NTRY = 7;

/**
 * Best scale of one 32-element group against the IQ4_NL table (the per-block search of ggml's
 * `quantize_row_iq4_nl_impl` with ntry 7 and x² weights): writes the indices into L[lo …], returns the scale.
 */
function iq4BlockScale(x: Float32Array, o: number, L: Uint8Array, lo: number): number {
  const values = IQ4_NL_VALUES;
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const ax = Math.abs(x[o + j]!);
    if (ax > amax) {
      amax = ax;
      max = x[o + j]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + 32);
    return 0;
  }
  let d = f(-max / values[0]!);
  let id = f(1 / d);
  let sumqx = 0;
  let sumq2 = 0;
  for (let j = 0; j < 32; j++) {
    const xj = x[o + j]!;
    const l = bestIndexInt8(values, f(id * xj));
    L[lo + j] = l;
    const q = values[l]!;
    const w = f(xj * xj);
    sumqx = f(sumqx + f(f(w * q) * xj));
    sumq2 = f(sumq2 + f(f(w * q) * q));
  }
  d = sumq2 > 0 ? f(sumqx / sumq2) : 0;
  let best = f(d * sumqx);
  for (let itry = -NTRY; itry <= NTRY; itry++) {
    id = f((itry + values[0]!) / max);
    sumqx = 0;
    sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const xj = x[o + j]!;
      const q = values[bestIndexInt8(values, f(id * xj))]!;
      const w = f(xj * xj);
      sumqx = f(sumqx + f(f(w * q) * xj));
      sumq2 = f(sumq2 + f(f(w * q) * q));
    }
    if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
      d = f(sumqx / sumq2);
      best = f(d * sumqx);
    }
  }
  return d;
}

function packIq4Nibbles(L: Uint8Array, lo: number, dst: Uint8Array, p: number): void {
  for (let j = 0; j < 16; j++) dst[p + j] = L[lo + j]! | (L[lo + 16 + j]! << 4);
}

/**
 * Encode n float32 values src[so …] (n a multiple of 32) as IQ4_NL blocks at dst[dp …], as llama-quantize does
 * (ggml's `quantize_iq4_nl` without an importance matrix: x² weights, 15 trial scales, indices redone with the
 * chosen one).
 */
export function encodeIq4NlRow(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  const L = new Uint8Array(32);
  for (let b = 0; b < n / IQ4_NL_BLOCK; b++, so += IQ4_NL_BLOCK, dp += IQ4_NL_BLOCK_BYTES) {
    const scale = iq4BlockScale(src, so, L, 0);
    putF16(dst, dp, scale);
    const id = scale ? f(1 / scale) : 0;
    for (let j = 0; j < 32; j++) L[j] = bestIndexInt8(IQ4_NL_VALUES, f(id * src[so + j]!));
    packIq4Nibbles(L, 0, dst, dp + 2);
  }
}

/**
 * Encode n float32 values src[so …] (n a multiple of 256) as IQ4_XS super-blocks at dst[dp …], as llama-quantize
 * does (ggml's `quantize_iq4_xs` without an importance matrix): per 32 elements the IQ4_NL scale search, the scales
 * quantised to 6 bits (offset 32) against the largest-magnitude one, the indices redone with each stored scale.
 */
export function encodeIq4XsRow(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(8);
  for (let b = 0; b < n / QK_K; b++, so += QK_K, dp += IQ4_XS_BLOCK_BYTES) {
    let maxScale = 0;
    let amaxScale = 0;
    for (let ib = 0; ib < 8; ib++) {
      scales[ib] = iq4BlockScale(src, so + 32 * ib, L, 32 * ib);
      if (Math.abs(scales[ib]!) > amaxScale) {
        amaxScale = Math.abs(scales[ib]!);
        maxScale = scales[ib]!;
      }
    }
    const d = f(-maxScale / 32);
    putF16(dst, dp, d);
    const id = d ? f(1 / d) : 0;
    let scalesH = 0;
    dst.fill(0, dp + 4, dp + 8);
    for (let ib = 0; ib < 8; ib++) {
      const l = Math.max(-32, Math.min(31, nearestInt(f(id * scales[ib]!))));
      const dl = f(d * l);
      const idl = dl ? f(1 / dl) : 0;
      for (let j = 0; j < 32; j++) L[32 * ib + j] = bestIndexInt8(IQ4_NL_VALUES, f(idl * src[so + 32 * ib + j]!));
      const code = l + 32;
      dst[dp + 4 + (ib >> 1)] |= (code & 0x0f) << (4 * (ib & 1));
      scalesH |= (code >> 4) << (2 * ib);
    }
    dst[dp + 2] = scalesH & 0xff;
    dst[dp + 3] = scalesH >> 8;
    for (let ib = 0; ib < 8; ib++) packIq4Nibbles(L, 32 * ib, dst, dp + 8 + 16 * ib);
  }
}
