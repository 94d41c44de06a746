/**
 * Helpers over stored-dtype weights (`Weight` in kernels/backend.ts): dequantisation to float32 (the reference
 * definition of every weight's values, spec §2.5), single-row decoding (embedding lookups), and row gathering
 * (fused qkv splitting) without changing the dtype.
 */
import { CheckpointError, ShapeError } from '../errors.js';
import type { Weight } from '../kernels/backend.js';
import { f16ToNumber, FP8_E4M3_TABLE } from './dtype.js';
import { decodeMxfp4Row, findE8m0Nan, MXFP4_BLOCK } from './formats/mxfp4.js';
import { dequantizeGgmlRow, ggmlRowBytes } from './formats/ggml/types.js';

/** Bytes of one stored element of a weight (0.5 for packed MXFP4). */
export function weightElementBytes(w: Weight): number {
  if (w.dtype === 'ggml') return ggmlRowBytes(w.ggmlType!, w.cols) / w.cols;
  return w.dtype === 'mxfp4' ? 0.5 : w.data.BYTES_PER_ELEMENT;
}

/** Bytes of a weight's data plus its FP8 or E8M0 scales. */
export function weightBytes(w: Weight): number {
  return w.data.byteLength + (w.scales?.byteLength ?? 0) + (w.e8m0?.byteLength ?? 0);
}

/** Stored elements per row of `data` (packed MXFP4 holds two columns per byte). */
function storedCols(w: Weight): number {
  if (w.dtype === 'ggml') return ggmlRowBytes(w.ggmlType!, w.cols);
  return w.dtype === 'mxfp4' ? w.cols >> 1 : w.cols;
}

const F16_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f16ToNumber(h);
  return t;
})();

/**
 * Decode row r of a weight into `out` `[cols]` float32: bf16/f16 exactly, fp8 as fp8(code) × block scale
 * (one f32 multiply).
 */
export function decodeRow(w: Weight, r: number, out: Float32Array, outOffset = 0): void {
  const C = w.cols;
  const base = r * C;
  switch (w.dtype) {
    case 'f32':
      out.set((w.data as Float32Array).subarray(base, base + C), outOffset);
      return;
    case 'bf16': {
      const src = w.data as Uint16Array;
      const u = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, C);
      for (let c = 0; c < C; c++) u[c] = src[base + c]! << 16;
      return;
    }
    case 'f16': {
      const src = w.data as Uint16Array;
      for (let c = 0; c < C; c++) out[outOffset + c] = F16_TABLE[src[base + c]!]!;
      return;
    }
    case 'fp8': {
      const src = w.data as Uint8Array;
      const scales = w.scales!;
      const b1 = w.blockCols!;
      const sRow = w.rowScale![r]! * w.scaleCols!;
      for (let c = 0; c < C; c++) out[outOffset + c] = FP8_E4M3_TABLE[src[base + c]!]! * scales[sRow + Math.floor(c / b1)]!;
      return;
    }
    case 'mxfp4':
      decodeMxfp4Row(w.data as Uint8Array, w.e8m0!, C, r, out, outOffset);
      return;
    case 'ggml': {
      const rb = ggmlRowBytes(w.ggmlType!, C);
      dequantizeGgmlRow(w.ggmlType!, (w.data as Uint8Array).subarray(r * rb, (r + 1) * rb), C, out, outOffset);
      return;
    }
  }
}

const checkedE8m0 = new WeakSet<Uint8Array>();

/**
 * Check an MXFP4 weight's E8M0 scale bytes once, when the weight is first used (never at load: the experts' scales of
 * a real checkpoint are gigabytes): byte 255 is E8M0's NaN and no valid checkpoint holds it. Other dtypes pass.
 * @throws CheckpointError naming the file, the tensor's `weight_scale` and the element when a byte is 255
 */
export function checkMxfp4Scales(w: Weight): void {
  if (w.dtype !== 'mxfp4' || !w.e8m0 || checkedE8m0.has(w.e8m0)) return;
  const i = findE8m0Nan(w.e8m0);
  if (i >= 0) {
    const SB = w.cols / MXFP4_BLOCK;
    throw new CheckpointError(w.file ?? '(weight)', `tensor ${w.name ?? '(unnamed)'}_scale: scale [${Math.floor(i / SB)}, ${i % SB}] is byte 255 (E8M0 NaN), which no MXFP4 checkpoint holds`);
  }
  checkedE8m0.add(w.e8m0);
}

/** The weight's values as a float32 weight (a copy; an f32 weight is returned as is). */
export function dequantize(w: Weight): Weight {
  if (w.dtype === 'f32') return w;
  checkMxfp4Scales(w);
  const out = new Float32Array(w.rows * w.cols);
  for (let r = 0; r < w.rows; r++) decodeRow(w, r, out, r * w.cols);
  return { rows: w.rows, cols: w.cols, dtype: 'f32', data: out };
}

/**
 * A new weight made of the given rows of `w`, in the same dtype (FP8 rows keep their scale rows, MXFP4 rows their
 * E8M0 bytes).
 * @param rows source row indices, in output order
 */
export function gatherRows(w: Weight, rows: ArrayLike<number>): Weight {
  const C = storedCols(w);
  const SB = w.cols / MXFP4_BLOCK;
  const e8m0 = w.e8m0 ? new Uint8Array(rows.length * SB) : undefined;
  const Ctor = w.data.constructor as { new (n: number): Float32Array | Uint16Array | Uint8Array };
  const data = new Ctor(rows.length * C);
  const rowScale = w.rowScale ? new Int32Array(rows.length) : undefined;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (r < 0 || r >= w.rows) throw new ShapeError(`gatherRows: row ${r} outside [0, ${w.rows})`);
    data.set(w.data.subarray(r * C, (r + 1) * C) as never, i * C);
    if (rowScale) rowScale[i] = w.rowScale![r]!;
    if (e8m0) e8m0.set(w.e8m0!.subarray(r * SB, (r + 1) * SB), i * SB);
  }
  return { ...w, rows: rows.length, data, rowScale, e8m0 };
}
