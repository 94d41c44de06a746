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
import { f16Value } from './float.js';
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
