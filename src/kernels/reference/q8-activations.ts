/**
 * The opt-in 8-bit-activation matmul (`precision: 'fast'`, a weight with `activations: 'int8'`): the definition the
 * native kernels (native/src/ggml_q8.h, kernels_ggml_q8.cc) follow bit for bit on every dispatch level. It is
 * llama.cpp's `vec_dot_<type>_q8_0` scheme for GGUF weights of the 32-element single-scale formats without a min
 * (Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4): the activation row is quantised as ggml's `quantize_row_q8_0` and every block
 * product is an exact integer sum, scaled once.
 *
 * For y `[T, N]` = x `[T, K]` · Wᵀ (K a multiple of 32, nb = K / 32 blocks per row):
 *   1. per token and block of 32: amax = max |x_i|, d = fround(amax / 127), id = d ≠ 0 ? fround(1 / d) : 0,
 *      q_i = clamp(roundHalfEven(fround(x_i · id)), −127, 127) (int8), d kept as float32;
 *   2. per (row, token, block b): eight exact integer partial sums p_l = Σ_{i = 4l}^{4l+3} w_i · q_i (l < 8) of the
 *      weight block's integer codes w, and s_b = fround(dw · d) with dw the weight block's float32 scale (F16 d,
 *      MXFP4 2^(e − 128));
 *   3. sixteen float32 lanes from 0: acc[8·(b mod 2) + l] = fround(acc[…] + fround(p_l · s_b)) over b in order; then
 *      e_l = fround(acc[l] + acc[8 + l]) and y = ((e0 + e4) + (e2 + e6)) + ((e1 + e5) + (e3 + e7)), each sum rounded
 *      to float32 (the lanes are those of a SIMD int8 dot product: maddubs + madd or vpdpbusd over 32 bytes).
 * Error against the f32 path: the activation rounding, |Δx_i| ≤ d / 2 per element (about 0.4% of the block's
 * largest |x|); see the README ("8-bit activations") for its measured effect on logits.
 */
import { ShapeError } from '../../errors.js';
import type { Weight } from '../backend.js';
import { f16Value } from '../../tensor/formats/ggml/float.js';
import { IQ4_NL_VALUES } from '../../tensor/formats/ggml/iq4.js';
import { GGML_E8M0_HALF, GGML_MXFP4_VALUES } from '../../tensor/formats/ggml/mxfp4.js';
import { GGML_TYPE, ggmlRowBytes, ggmlTypeName } from '../../tensor/formats/ggml/types.js';

/** ggml type ids with an 8-bit-activation path: Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4. */
export const INT8_ACTIVATION_TYPES: ReadonlySet<number> = new Set(['Q4_0', 'Q5_0', 'Q8_0', 'IQ4_NL', 'MXFP4'].map((n) => GGML_TYPE[n]!));

/** Bytes per block of each of those types. */
const BLOCK_BYTES: Readonly<Record<number, number>> = { 2: 18, 6: 22, 8: 34, 20: 18, 39: 17 };

/** Nearest integer, ties to even (the hardware's default rounding), of |v| < 2^31. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const diff = v - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Step 1: x `[T, K]` (K a multiple of 32) as int8 codes `[T, K]` and one float32 scale per block `[T, K / 32]`.
 * @throws ShapeError when K is not a multiple of 32 or x is not T·K long
 */
export function quantizeActivationsInt8(x: Float32Array, T: number, K: number): { q: Int8Array; d: Float32Array } {
  if (K % 32 !== 0) throw new ShapeError(`quantizeActivationsInt8: K ${K} is not a multiple of 32`);
  if (x.length !== T * K) throw new ShapeError(`quantizeActivationsInt8: x has ${x.length} elements, expected [${T}, ${K}]`);
  const f = Math.fround;
  const q = new Int8Array(T * K);
  const d = new Float32Array((T * K) / 32);
  for (let o = 0; o < T * K; o += 32) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[o + i]!));
    const s = f(amax / 127);
    const id = s !== 0 ? f(1 / s) : 0;
    d[o / 32] = s;
    for (let i = 0; i < 32; i++) q[o + i] = Math.max(-127, Math.min(127, roundHalfEven(f(x[o + i]! * id))));
  }
  return { q, d };
}

/** The 32 integer codes of the block at src[p …] into out, and its float32 scale (the formats' definitions). */
function blockCodes(type: number, src: Uint8Array, p: number, out: Int32Array): number {
  switch (type) {
    case 8:
      for (let i = 0; i < 32; i++) out[i] = (src[p + 2 + i]! << 24) >> 24;
      return f16Value(src[p]! | (src[p + 1]! << 8));
    case 2:
      for (let i = 0; i < 16; i++) {
        out[i] = (src[p + 2 + i]! & 15) - 8;
        out[i + 16] = (src[p + 2 + i]! >> 4) - 8;
      }
      return f16Value(src[p]! | (src[p + 1]! << 8));
    case 6: {
      const qh = (src[p + 2]! | (src[p + 3]! << 8) | (src[p + 4]! << 16) | (src[p + 5]! << 24)) >>> 0;
      for (let i = 0; i < 16; i++) {
        out[i] = ((src[p + 6 + i]! & 15) | (((qh >>> i) & 1) << 4)) - 16;
        out[i + 16] = ((src[p + 6 + i]! >> 4) | (((qh >>> (i + 16)) & 1) << 4)) - 16;
      }
      return f16Value(src[p]! | (src[p + 1]! << 8));
    }
    case 20:
      for (let i = 0; i < 16; i++) {
        out[i] = IQ4_NL_VALUES[src[p + 2 + i]! & 15]!;
        out[i + 16] = IQ4_NL_VALUES[src[p + 2 + i]! >> 4]!;
      }
      return f16Value(src[p]! | (src[p + 1]! << 8));
    case 39:
      for (let i = 0; i < 16; i++) {
        out[i] = GGML_MXFP4_VALUES[src[p + 1 + i]! & 15]!;
        out[i + 16] = GGML_MXFP4_VALUES[src[p + 1 + i]! >> 4]!;
      }
      return GGML_E8M0_HALF[src[p]!]!;
    default:
      throw new ShapeError(`8-bit activations: ggml type ${ggmlTypeName(type)} has no int8 path`);
  }
}

/**
 * y `[T, w.rows]` = x `[T, w.cols]` · Wᵀ by the 8-bit-activation definition above, for a `dtype: 'ggml'` weight of a
 * type in {@link INT8_ACTIVATION_TYPES} (its `activations` field is not read: this is the int8 path by definition).
 * @throws ShapeError for another dtype / type, or x not `[T, w.cols]`
 */
export function matmulInt8Activations(x: Float32Array, T: number, w: Weight): Float32Array {
  const type = w.ggmlType ?? -1;
  if (w.dtype !== 'ggml' || !INT8_ACTIVATION_TYPES.has(type)) {
    throw new ShapeError(`8-bit activations need a ggml weight of type Q4_0, Q5_0, Q8_0, IQ4_NL or MXFP4, got ${w.dtype === 'ggml' ? ggmlTypeName(type) : w.dtype}`);
  }
  const { rows: N, cols: K } = w;
  if (x.length !== T * K) throw new ShapeError(`matmul: x has ${x.length} elements, expected [${T}, ${K}]`);
  const f = Math.fround;
  const { q, d } = quantizeActivationsInt8(x, T, K);
  const nb = K / 32;
  const bytes = BLOCK_BYTES[type]!;
  const rowBytes = ggmlRowBytes(type, K);
  const data = w.data as Uint8Array;
  const codes = new Int32Array(32 * nb);
  const scales = new Float32Array(nb);
  const acc = new Float32Array(16);
  const e = new Float32Array(8);
  const y = new Float32Array(T * N);
  for (let r = 0; r < N; r++) {
    for (let b = 0; b < nb; b++) scales[b] = blockCodes(type, data, r * rowBytes + b * bytes, codes.subarray(32 * b, 32 * b + 32));
    for (let t = 0; t < T; t++) {
      acc.fill(0);
      const xo = t * K;
      for (let b = 0; b < nb; b++) {
        const s = f(scales[b]! * d[t * nb + b]!);
        const base = 8 * (b & 1);
        for (let l = 0; l < 8; l++) {
          const c = 32 * b + 4 * l;
          const x = xo + c;
          const p = codes[c]! * q[x]! + codes[c + 1]! * q[x + 1]! + codes[c + 2]! * q[x + 2]! + codes[c + 3]! * q[x + 3]!;
          acc[base + l] = acc[base + l]! + f(p * s);
        }
      }
      for (let l = 0; l < 8; l++) e[l] = acc[l]! + acc[8 + l]!;
      y[t * N + r] = f(f(f(e[0]! + e[4]!) + f(e[2]! + e[6]!)) + f(f(e[1]! + e[5]!) + f(e[3]! + e[7]!)));
    }
  }
  return y;
}
