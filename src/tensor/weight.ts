/**
 * Helpers over stored-dtype weights (`Weight` in kernels/backend.ts): dequantisation to float32 (the reference
 * definition of every weight's values, spec §2.5), single-row decoding (embedding lookups), and row gathering
 * (fused qkv splitting) without changing the dtype.
 */
import { ShapeError } from '../errors.js';
import type { Weight } from '../kernels/backend.js';
import { f16ToNumber, FP8_E4M3_TABLE } from './dtype.js';

/** Bytes of one stored element of a weight. */
export function weightElementBytes(w: Weight): number {
  return w.data.BYTES_PER_ELEMENT;
}

/** Bytes of a weight's data plus its FP8 scales. */
export function weightBytes(w: Weight): number {
  return w.data.byteLength + (w.scales?.byteLength ?? 0);
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
  }
}

/** The weight's values as a float32 weight (a copy; an f32 weight is returned as is). */
export function dequantize(w: Weight): Weight {
  if (w.dtype === 'f32') return w;
  const out = new Float32Array(w.rows * w.cols);
  for (let r = 0; r < w.rows; r++) decodeRow(w, r, out, r * w.cols);
  return { rows: w.rows, cols: w.cols, dtype: 'f32', data: out };
}

/**
 * A new weight made of the given rows of `w`, in the same dtype (FP8 rows keep their scale rows).
 * @param rows source row indices, in output order
 */
export function gatherRows(w: Weight, rows: ArrayLike<number>): Weight {
  const C = w.cols;
  const Ctor = w.data.constructor as { new (n: number): Float32Array | Uint16Array | Uint8Array };
  const data = new Ctor(rows.length * C);
  const rowScale = w.rowScale ? new Int32Array(rows.length) : undefined;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (r < 0 || r >= w.rows) throw new ShapeError(`gatherRows: row ${r} outside [0, ${w.rows})`);
    data.set(w.data.subarray(r * C, (r + 1) * C) as never, i * C);
    if (rowScale) rowScale[i] = w.rowScale![r]!;
  }
  return { ...w, rows: rows.length, data, rowScale };
}
