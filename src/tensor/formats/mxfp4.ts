/**
 * MXFP4 block format of MiMo-V2.6's routed experts (OCP Microscaling FP4): a logical weight `[rows, cols]` is stored
 * as U8 codes `[rows, cols/2]`, two FP4 (e2m1) codes per byte — column 2j in the LOW nibble, column 2j+1 in the HIGH
 * nibble — and U8 E8M0 exponents `[rows, cols/32]`, one per 32 consecutive input columns:
 *   W[r, c] = FP4[code(r, c)] · 2^(scale[r, ⌊c/32⌋] − 127),  FP4 = [0, .5, 1, 1.5, 2, 3, 4, 6, −0, …, −6] (bit 3 = sign).
 * Every product is exact in float32 (a 2-bit mantissa times a power of two; 6 · 2^127 overflows to ±Infinity, as
 * the float32 reference gives). Byte 255 is E8M0's NaN and never occurs in a valid checkpoint.
 * This module is the TypeScript definition of the format: the native kernels are tested against it.
 * Source: spec §2.8, fixtures/README §1.2 ("MiMo-V2.6 layout"), OCP Microscaling Formats (MX) v1.0 §5.3.3 (E8M0).
 */

/** Input columns per E8M0 scale (`quantization_config.mxfp4_block_size`). */
export const MXFP4_BLOCK = 32;

/** The 16 FP4 e2m1 values indexed by code (bit 3 = sign; code 8 is −0). */
export const FP4_E2M1_VALUES: Float32Array = new Float32Array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6]);

/** The E8M0 NaN byte. */
export const E8M0_NAN = 255;

/** 2^(byte − 127) for each E8M0 byte as float32 (byte 0 is the subnormal 2^−127; byte 255 is NaN). */
export const E8M0_TABLE: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let b = 0; b < 255; b++) t[b] = 2 ** (b - 127);
  t[E8M0_NAN] = NaN;
  return t;
})();

/** Value of one logical element `[r, c]` of a packed MXFP4 weight with `cols` logical columns. */
export function mxfp4Element(codes: Uint8Array, scales: Uint8Array, cols: number, r: number, c: number): number {
  const byte = codes[r * (cols >> 1) + (c >> 1)]!;
  const code = c & 1 ? byte >> 4 : byte & 0x0f;
  return Math.fround(FP4_E2M1_VALUES[code]! * E8M0_TABLE[scales[r * (cols / MXFP4_BLOCK) + Math.floor(c / MXFP4_BLOCK)]!]!);
}

/**
 * Decode logical row r of a packed MXFP4 weight into `out[outOffset …]` `[cols]` float32 (exact).
 * @param codes `[rows, cols/2]` U8; @param scales `[rows, cols/32]` U8 E8M0
 */
export function decodeMxfp4Row(codes: Uint8Array, scales: Uint8Array, cols: number, r: number, out: Float32Array, outOffset = 0): void {
  const half = cols >> 1;
  const blocks = cols / MXFP4_BLOCK;
  const cBase = r * half;
  const sBase = r * blocks;
  for (let b = 0; b < blocks; b++) {
    const s = E8M0_TABLE[scales[sBase + b]!]!;
    for (let j = 0; j < MXFP4_BLOCK / 2; j++) {
      const byte = codes[cBase + b * (MXFP4_BLOCK / 2) + j]!;
      const c = outOffset + b * MXFP4_BLOCK + 2 * j;
      out[c] = FP4_E2M1_VALUES[byte & 0x0f]! * s;
      out[c + 1] = FP4_E2M1_VALUES[byte >> 4]! * s;
    }
  }
}

/** Index of the first E8M0 NaN byte (255) in `scales`, or −1 when there is none. */
export function findE8m0Nan(scales: Uint8Array): number {
  return scales.indexOf(E8M0_NAN);
}

/**
 * Nearest e2m1 code of a finite value (already divided by its block scale): ties to the even code, saturating at ±6,
 * sign kept (−0 and small negatives → code 8). The thresholds are the midpoints between neighbouring e2m1 values;
 * `<=` where the lower neighbour's code is even (a tie goes to it), `<` where the upper one's is.
 */
export function nearestFp4Code(v: number): number {
  const sign = v < 0 || Object.is(v, -0) ? 8 : 0;
  const a = Math.abs(v);
  const code = a <= 0.25 ? 0 : a < 0.75 ? 1 : a <= 1.25 ? 2 : a < 1.75 ? 3 : a <= 2.5 ? 4 : a < 3.5 ? 5 : a <= 5 ? 6 : 7;
  return sign | code;
}

/**
 * Encode a float32 weight `[rows, cols]` to packed MXFP4 as the fixtures' writer does (fixtures/README §1.2): per row
 * and 32-column block, e = ⌊log2(max|w|)⌋ − 2, byte e + 127 clamped to 0…254 (an all-zero block gets 127), code =
 * w / 2^e rounded to the nearest e2m1 value, ties to the even code, saturating at ±6.
 * @throws RangeError when cols is not a multiple of 32 or a value is not finite
 * @returns codes `[rows, cols/2]` and scales `[rows, cols/32]`
 */
export function encodeMxfp4(w: Float32Array, rows: number, cols: number): { codes: Uint8Array; scales: Uint8Array } {
  if (cols % MXFP4_BLOCK !== 0) throw new RangeError(`encodeMxfp4: cols ${cols} is not a multiple of ${MXFP4_BLOCK}`);
  if (w.length !== rows * cols) throw new RangeError(`encodeMxfp4: ${w.length} values, expected [${rows}, ${cols}]`);
  const blocks = cols / MXFP4_BLOCK;
  const codes = new Uint8Array((rows * cols) >> 1);
  const scales = new Uint8Array(rows * blocks);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const c0 = r * cols + b * MXFP4_BLOCK;
      let amax = 0;
      for (let i = 0; i < MXFP4_BLOCK; i++) {
        const v = w[c0 + i]!;
        if (!Number.isFinite(v)) throw new RangeError(`encodeMxfp4: value [${r}, ${b * MXFP4_BLOCK + i}] is ${v}`);
        amax = Math.max(amax, Math.abs(v));
      }
      const byte = amax === 0 ? 127 : Math.min(254, Math.max(0, Math.floor(Math.log2(amax)) - 2 + 127));
      scales[r * blocks + b] = byte;
      const inv = 2 ** -(byte - 127);
      for (let i = 0; i < MXFP4_BLOCK; i += 2) {
        const lo = nearestFp4Code(w[c0 + i]! * inv);
        const hi = nearestFp4Code(w[c0 + i + 1]! * inv);
        codes[(c0 + i) >> 1] = lo | (hi << 4);
      }
    }
  }
  return { codes, scales };
}
