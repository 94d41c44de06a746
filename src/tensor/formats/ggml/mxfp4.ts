/**
 * GGUF MXFP4 (ggml `block_mxfp4`, type 39, ggml-common.h): blocks of 32 elements, 17 bytes — `e` (E8M0 exponent
 * byte) then `qs[16]` of FP4 e2m1 codes. ggml's nibble order: element j < 16 is the LOW nibble of qs[j] and element
 * j + 16 its HIGH nibble (unlike the safetensors layout of src/tensor/formats/mxfp4.ts, where a byte holds columns
 * 2j and 2j + 1). ggml's `dequantize_row_mxfp4` computes kvalues_mxfp4[code] · 2^(e − 128) with the doubled table
 * {0, 1, 2, 3, 4, 6, 8, 12, …negatives} (ggml-common.h), i.e. FP4[code] · 2^(e − 127): exact in float32, and
 * the safetensors decode of the same code and exponent (e < 255; ggml reads 255 as 2^127, not NaN), except that
 * code 8 (FP4 −0) is +0 in ggml's int8 table.
 */
import { MXFP4_BLOCK } from '../mxfp4.js';

/** ggml's `kvalues_mxfp4`: FP4 e2m1 values doubled, indexed by code (bit 3 = sign). */
export const GGML_MXFP4_VALUES: Int8Array = new Int8Array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);

/**
 * ggml's `GGML_E8M0_TO_FP32_HALF`: 2^(e − 128) for every byte, as float32 (e = 0 and 1 are subnormals; e = 255, the
 * OCP NaN, is 2^127 in ggml and so here — a reader that wants to refuse it checks the byte).
 */
export const GGML_E8M0_HALF: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let e = 0; e < 256; e++) t[e] = 2 ** (e - 128);
  return t;
})();

/** Bytes per GGUF MXFP4 block: 1 (E8M0) + 16 (codes). */
export const GGML_MXFP4_BLOCK_BYTES = 17;

/** Decode a GGUF MXFP4 row of n elements (n a multiple of 32) from its blocks in `src`. */
export function decodeGgmlMxfp4Row(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let b = 0, p = 0, o = outOffset; b < n / MXFP4_BLOCK; b++, p += GGML_MXFP4_BLOCK_BYTES, o += MXFP4_BLOCK) {
    const d = GGML_E8M0_HALF[src[p]!]!;
    for (let j = 0; j < 16; j++) {
      const q = src[p + 1 + j]!;
      out[o + j] = Math.fround(GGML_MXFP4_VALUES[q & 0x0f]! * d);
      out[o + j + 16] = Math.fround(GGML_MXFP4_VALUES[q >> 4]! * d);
    }
  }
}

/**
 * Repack one row of V2.6's safetensors MXFP4 (codes `[cols/2]` with column 2j low / 2j + 1 high, scales `[cols/32]`)
 * into GGUF MXFP4 blocks, without requantising: every element keeps its code and exponent (the bytes are the same values in
 * ggml's order; decoded, they equal the safetensors decode, code 8 giving +0 instead of −0). Writes cols/32 · 17 bytes at dst[dstOffset …].
 * @param codes the row's packed codes (cols/2 bytes from codesOffset); @param scales its E8M0 bytes (cols/32 from scalesOffset)
 * @throws RangeError when cols is not a multiple of 32
 */
export function repackMxfp4RowToGgml(
  codes: Uint8Array,
  codesOffset: number,
  scales: Uint8Array,
  scalesOffset: number,
  cols: number,
  dst: Uint8Array,
  dstOffset: number,
): void {
  if (cols % MXFP4_BLOCK !== 0) throw new RangeError(`MXFP4 row of ${cols} columns is not a whole number of 32-column blocks`);
  for (let b = 0; b < cols / MXFP4_BLOCK; b++) {
    const o = dstOffset + b * GGML_MXFP4_BLOCK_BYTES;
    const c = codesOffset + b * 16;
    dst[o] = scales[scalesOffset + b]!;
    for (let j = 0; j < 16; j++) {
      // element j is column j (byte j/2, nibble j&1); element j+16 is column j+16 (byte 8 + j/2)
      const lo = (codes[c + (j >> 1)]! >> (4 * (j & 1))) & 0x0f;
      const hi = (codes[c + 8 + (j >> 1)]! >> (4 * (j & 1))) & 0x0f;
      dst[o + 1 + j] = lo | (hi << 4);
    }
  }
}

/**
 * Encode n float32 values src[so …] (n a multiple of 32) as GGUF MXFP4 blocks at dst[dp …], as ggml's
 * `quantize_row_mxfp4_ref`: e = ⌊log2 max|x|⌋ − 2 + 127 (0 for an all-zero block), each code the first of
 * kvalues_mxfp4 · 2^(e − 128) nearest to x.
 */
export function encodeGgmlMxfp4Row(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  for (let b = 0; b < n / MXFP4_BLOCK; b++, so += MXFP4_BLOCK, dp += GGML_MXFP4_BLOCK_BYTES) {
    let amax = 0;
    for (let j = 0; j < MXFP4_BLOCK; j++) amax = Math.max(amax, Math.abs(src[so + j]!));
    const e = amax > 0 ? Math.max(0, Math.min(255, Math.floor(Math.fround(Math.log2(amax))) - 2 + 127)) : 0;
    const d = GGML_E8M0_HALF[e]!;
    dst[dp] = e;
    for (let j = 0; j < 16; j++) dst[dp + 1 + j] = nearestMxfp4(src[so + j]!, d) | (nearestMxfp4(src[so + 16 + j]!, d) << 4);
  }
}

/** ggml's `best_index_mxfp4`: the first code whose value kvalues_mxfp4[i] · d is nearest to x. */
function nearestMxfp4(x: number, d: number): number {
  let best = 0;
  let bestErr = Math.abs(Math.fround(Math.fround(GGML_MXFP4_VALUES[0]! * d) - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(Math.fround(Math.fround(GGML_MXFP4_VALUES[i]! * d) - x));
    if (err < bestErr) {
      best = i;
      bestErr = err;
    }
  }
  return best;
}
