/**
 * Reference quantizers of the ggml types mimo.ts writes: float32 rows in, ggml blocks out, as llama-quantize makes
 * them without an importance matrix (ggml-quants.c `quantize_row_*_ref`, and `quantize_iq4_nl` / `_iq4_xs`).
 * Each format's encoder lives beside its decoder in this folder; {@link GGML_ROW_ENCODERS} lists them (one line per
 * format) and {@link quantizeGgmlRows} is the one entry point, which runs the native addon's encoders of the same bytes
 * (native/src/quantize.cc) when the addon is loaded.
 */
import { BackendUnavailableError } from '../../../errors.js';
import { loadNativeAddon, type NativeAddon } from '../../../kernels/native/addon.js';
import { numberToBf16Bits } from '../../dtype.js';
import { f32ToF16Bits } from './float.js';
import { encodeIq4NlRow, encodeIq4XsRow } from './iq4.js';
import { encodeGgmlMxfp4Row } from './mxfp4.js';
import { encodeQ2_KRow } from './q2_k.js';
import { encodeQ3_KRow } from './q3_k.js';
import { encodeQ4_0Row, encodeQ4_1Row } from './q4_0.js';
import { encodeQ4_KRow } from './q4_k.js';
import { encodeQ5_0Row, encodeQ5_1Row } from './q5_0.js';
import { encodeQ5_KRow } from './q5_k.js';
import { encodeQ6_KRow } from './q6_k.js';
import { encodeQ8_0Row } from './q8_0.js';
import { ggmlRowBytes, ggmlTypeInfo, ggmlTypeName } from './types.js';

/**
 * Encoder of one row: n float32 values src[srcOffset …] (n a multiple of the block) → ggmlRowBytes(type, n) bytes at
 * dst[dstOffset …].
 */
export type GgmlRowEncoder = (src: Float32Array, srcOffset: number, n: number, dst: Uint8Array, dstOffset: number) => void;

function encodeF32Row(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  new Uint8Array(dst.buffer, dst.byteOffset + dp, 4 * n).set(new Uint8Array(src.buffer, src.byteOffset + 4 * so, 4 * n));
}

function encodeF16Row(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  for (let i = 0; i < n; i++) {
    const h = f32ToF16Bits(src[so + i]!);
    dst[dp + 2 * i] = h & 0xff;
    dst[dp + 2 * i + 1] = h >> 8;
  }
}

function encodeBf16Row(src: Float32Array, so: number, n: number, dst: Uint8Array, dp: number): void {
  for (let i = 0; i < n; i++) {
    const h = numberToBf16Bits(src[so + i]!);
    dst[dp + 2 * i] = h & 0xff;
    dst[dp + 2 * i + 1] = h >> 8;
  }
}

/** The formats mimo.ts can write, by ggml type id. One line per format. */
export const GGML_ROW_ENCODERS: Readonly<Partial<Record<number, GgmlRowEncoder>>> = {
  0: encodeF32Row,
  1: encodeF16Row,
  2: encodeQ4_0Row,
  3: encodeQ4_1Row,
  6: encodeQ5_0Row,
  7: encodeQ5_1Row,
  8: encodeQ8_0Row,
  10: encodeQ2_KRow,
  11: encodeQ3_KRow,
  12: encodeQ4_KRow,
  13: encodeQ5_KRow,
  14: encodeQ6_KRow,
  20: encodeIq4NlRow,
  23: encodeIq4XsRow,
  30: encodeBf16Row,
  39: encodeGgmlMxfp4Row,
};

/**
 * The native addon's encoders, when they can be used: not with `MIMO_BACKEND=ts`, nor when the addon does not load
 * (`MIMO_NATIVE_DISABLE=1`, not built) or predates `quantizeGgml`. Looked up once per thread.
 */
let nativeEncoder: { addon: NativeAddon; types: ReadonlySet<number> } | null | undefined;

function native(): { addon: NativeAddon; types: ReadonlySet<number> } | null {
  if (nativeEncoder !== undefined) return nativeEncoder;
  nativeEncoder = null;
  if (process.env['MIMO_BACKEND'] === 'ts') return nativeEncoder;
  try {
    const addon = loadNativeAddon();
    if (typeof addon.quantizeGgml === 'function') nativeEncoder = { addon, types: new Set(addon.ggmlQuantizeTypes()) };
  } catch (e) {
    if (!(e instanceof BackendUnavailableError)) throw e;
  }
  return nativeEncoder;
}

/** True when {@link quantizeGgmlRows} encodes `type` with the native addon (bitwise the same bytes). */
export function nativeQuantizeAvailable(type: number): boolean {
  return native()?.types.has(type) ?? false;
}

function nonFinite(type: number, src: Float32Array, cols: number, i: number): RangeError {
  return new RangeError(`${ggmlTypeName(type)}: value at row ${Math.floor(i / cols)}, column ${i % cols} is ${src[i]}; only finite values can be quantised`);
}

/**
 * Quantise a float32 matrix `[rows, cols]` (row-major) to ggml type `type`, row by row: with the native addon's
 * encoders when they are available ({@link nativeQuantizeAvailable}), else {@link quantizeGgmlRowsReference}; the
 * bytes are the same either way.
 * @returns rows · ggmlRowBytes(type, cols) bytes, the rows back to back as a GGUF tensor stores them
 * @throws RangeError for a type mimo.ts cannot write, cols not a multiple of the type's block, src shorter than
 *   rows · cols, or a non-finite value (named by row and column)
 */
export function quantizeGgmlRows(type: number, src: Float32Array, rows: number, cols: number): Uint8Array {
  const n = native();
  if (!n?.types.has(type)) return quantizeGgmlRowsReference(type, src, rows, cols);
  const rb = ggmlRowBytes(type, cols);
  if (src.length < rows * cols) throw new RangeError(`${ggmlTypeName(type)}: ${rows}×${cols} values needed, got ${src.length}`);
  const out = new Uint8Array(rows * rb);
  const bad = n.addon.quantizeGgml(type, src, rows, cols, out);
  if (bad >= 0) throw nonFinite(type, src, cols, bad);
  return out;
}

/**
 * {@link quantizeGgmlRows} with the TypeScript encoders of {@link GGML_ROW_ENCODERS} (the definition of the bytes).
 * @throws as quantizeGgmlRows
 */
export function quantizeGgmlRowsReference(type: number, src: Float32Array, rows: number, cols: number): Uint8Array {
  const encode = GGML_ROW_ENCODERS[type];
  if (!encode || !ggmlTypeInfo(type)) throw new RangeError(`mimo.ts cannot write ggml type ${ggmlTypeName(type)}`);
  const rb = ggmlRowBytes(type, cols);
  if (src.length < rows * cols) throw new RangeError(`${ggmlTypeName(type)}: ${rows}×${cols} values needed, got ${src.length}`);
  const out = new Uint8Array(rows * rb);
  for (let r = 0; r < rows; r++) {
    if (type !== 0 && type !== 1 && type !== 30) {
      for (let c = 0; c < cols; c++) {
        if (!Number.isFinite(src[r * cols + c]!)) throw nonFinite(type, src, cols, r * cols + c);
      }
    }
    encode(src, r * cols, cols, out, r * rb);
  }
  return out;
}
