/**
 * The native backend: every op of `Backend` runs in the C++ addon (native/src/), threaded, with run-time CPU dispatch
 * (AVX-512, AVX2+FMA, scalar). Weights stay in their stored dtype (bf16/f16/fp8/mxfp4 and GGUF block formats —
 * Q8_0, Q4_0 … Q6_K, IQ4_NL/XS, MXFP4 (`addon.ggmlTypes()`) — are dequantised in registers).
 * Numerics: float32 accumulation (matmul error ≈ 1e-8 of Σ|x·w|), SwiGLU/attention exp ≈ 1 ulp; rmsNorm and rope follow
 * the reference's float64 steps and match it bit for bit (rope up to libm vs V8 last-bit differences in cos/sin).
 * Results do not depend on the thread count. No op falls back to TypeScript.
 */
import { RequestError, ShapeError } from '../../errors.js';
import type { AttentionInput, Backend, MlpWeightSet, Weight } from '../backend.js';
import { checkMoeRouting } from '../reference/moe-experts.js';
import { INT8_ACTIVATION_TYPES } from '../reference/q8-activations.js';
import { checkMxfp4Scales } from '../../tensor/weight.js';
import { ggmlRowBytes, ggmlTypeInfo, ggmlTypeName } from '../../tensor/formats/ggml/types.js';
import { loadNativeAddon, type NativeAddon } from './addon.js';

export interface NativeBackendOptions {
  /** Threads for the kernels, the calling thread included (default: hardware concurrency). Process-wide. */
  threads?: number;
}

const DATA_TYPE: Readonly<Record<Weight['dtype'], string>> = { f32: 'Float32Array', bf16: 'Uint16Array', f16: 'Uint16Array', fp8: 'Uint8Array', mxfp4: 'Uint8Array', ggml: 'Uint8Array' };

/** Tensor name (and file) of a weight for messages, or 'weight'. */
function label(w: Weight): string {
  return w.name ? `${w.name}${w.file ? ` (${w.file})` : ''}` : 'weight';
}

function checkWeight(w: Weight, ggmlTypes: ReadonlySet<number>): void {
  const arrayType = DATA_TYPE[w.dtype];
  if (arrayType === undefined) throw new ShapeError(`weight: unknown dtype '${String(w.dtype)}'`);
  if (w.data.constructor.name !== arrayType) throw new ShapeError(`weight: ${w.dtype} data must be a ${arrayType}, got ${w.data.constructor.name}`);
  if (w.dtype === 'mxfp4') {
    if (w.cols % 32 !== 0) throw new ShapeError(`weight: mxfp4 cols ${w.cols} is not a multiple of 32`);
    if (w.data.length < (w.rows * w.cols) / 2) throw new ShapeError(`weight: mxfp4 data has ${w.data.length} bytes, expected [${w.rows}, ${w.cols / 2}]`);
    if (!w.e8m0 || w.e8m0.length < (w.rows * w.cols) / 32) throw new ShapeError(`weight: mxfp4 needs e8m0 scales [${w.rows}, ${w.cols / 32}]`);
    return;
  }
  if (w.dtype === 'ggml') {
    const type = w.ggmlType;
    if (type === undefined || !ggmlTypes.has(type)) {
      throw new ShapeError(`${label(w)}: ggml type ${type === undefined ? '(none)' : ggmlTypeName(type)} has no native kernel (native: ${[...ggmlTypes].map(ggmlTypeName).join(', ')})`);
    }
    if (w.activations !== undefined && (w.activations !== 'int8' || !INT8_ACTIVATION_TYPES.has(type))) {
      throw new ShapeError(`${label(w)}: activations ${JSON.stringify(w.activations)} needs 'int8' and a ggml type of ${[...INT8_ACTIVATION_TYPES].map(ggmlTypeName).join(', ')}, got ${ggmlTypeName(type)}`);
    }
    const info = ggmlTypeInfo(type)!;
    if (w.cols % info.blockElements !== 0) throw new ShapeError(`${label(w)}: ${info.name} cols ${w.cols} is not a multiple of its ${info.blockElements}-element block`);
    const need = w.rows * ggmlRowBytes(type, w.cols);
    if (w.data.length < need) throw new ShapeError(`${label(w)}: ${info.name} data has ${w.data.length} bytes, expected ${need} ([${w.rows}, ${w.cols}])`);
    return;
  }
  if (w.data.length < w.rows * w.cols) throw new ShapeError(`weight: data has ${w.data.length} elements, expected [${w.rows}, ${w.cols}]`);
  if (w.dtype === 'fp8' && (!w.scales || !w.rowScale || !w.scaleCols || !w.blockCols)) {
    throw new ShapeError('weight: fp8 needs scales, scaleCols, blockCols and rowScale');
  }
}

/**
 * A `Backend` backed by the native addon.
 * @throws BackendUnavailableError when the addon is not built or cannot load (see loadNativeAddon).
 * @throws RequestError('--threads') when `threads` is not a positive integer.
 */
export function createNativeBackend(opts: NativeBackendOptions = {}): Backend {
  const addon: NativeAddon = loadNativeAddon();
  if (opts.threads !== undefined) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new RequestError('--threads', `must be a positive integer, got ${opts.threads}`);
    addon.setThreads(opts.threads);
  }

  const ggmlTypes: ReadonlySet<number> = new Set(addon.ggmlTypes());

  return {
    name: 'native',

    rowInvariantRows(): number {
      return addon.rowInvariantRows();
    },

    prepareWeight(w: Weight): Weight {
      checkWeight(w, ggmlTypes);
      return w;
    },

    matmul(x: Float32Array, T: number, w: Weight): Float32Array {
      if (x.length !== T * w.cols) throw new ShapeError(`matmul: x has ${x.length} elements, expected [${T}, ${w.cols}]`);
      const y = new Float32Array(T * w.rows);
      if (w.dtype === 'mxfp4') {
        checkMxfp4Scales(w);
        addon.matmul(y, x, T, w.dtype, w.data, w.rows, w.cols, w.e8m0!, w.cols / 32, 32, null);
      } else {
        addon.matmul(y, x, T, w.dtype, w.data, w.rows, w.cols, w.scales ?? null, w.scaleCols ?? 0, w.blockCols ?? 0, w.rowScale ?? null, w.ggmlType, w.activations);
      }
      return y;
    },

    rmsNorm(x: Float32Array, T: number, weight: Float32Array, eps: number): Float32Array {
      if (x.length !== T * weight.length) throw new ShapeError(`rmsNorm: x has ${x.length} elements, expected [${T}, ${weight.length}]`);
      const y = new Float32Array(x.length);
      addon.rmsNorm(y, x, T, weight, eps);
      return y;
    },

    rope(x: Float32Array, T: number, heads: number, headDim: number, rotaryDim: number, theta: number, start: number): void {
      if (x.length !== T * heads * headDim) throw new ShapeError(`rope: x has ${x.length} elements, expected [${T}, ${heads}, ${headDim}]`);
      if (rotaryDim % 2 !== 0 || rotaryDim > headDim || rotaryDim < 0) throw new ShapeError(`rope: rotaryDim ${rotaryDim} must be even and ≤ headDim ${headDim}`);
      addon.rope(x, T, heads, headDim, rotaryDim, theta, start);
    },

    swiglu(gate: Float32Array, up: Float32Array): Float32Array {
      if (gate.length !== up.length) throw new ShapeError(`swiglu: gate has ${gate.length} elements, up ${up.length}`);
      const y = new Float32Array(gate.length);
      addon.swiglu(y, gate, up);
      return y;
    },

    attention(a: AttentionInput): Float32Array {
      const { T, start, window } = a;
      if (T > 0) {
        const first = window === null ? 0 : Math.max(0, start - window + 1);
        if (first < a.pastFirst && first < start) throw new ShapeError(`attention: position ${first} was evicted from the cache (oldest cached ${a.pastFirst})`);
      }
      if (a.numHeads % a.numKvHeads !== 0) throw new ShapeError(`attention: numHeads ${a.numHeads} is not a multiple of numKvHeads ${a.numKvHeads}`);
      const out = new Float32Array(T * a.numHeads * a.vHeadDim);
      if (a.pastPages) {
        if (window !== null) throw new ShapeError('attention: a page table is for full-attention layers only (window must be null)');
        const p = a.pastPages;
        const need = Math.ceil(start / p.pageSize);
        if (p.keys.length < need || p.values.length < need) throw new ShapeError(`attention: ${start} cached positions need ${need} pages, got ${p.keys.length}`);
        // Only the pages below start are passed (the addon reads nothing else).
        const keys = p.keys.length === need ? p.keys : p.keys.slice(0, need);
        const values = p.values.length === need ? p.values : p.values.slice(0, need);
        addon.attentionPaged(out, a.q, a.k, a.v, start, T, a.numHeads, a.numKvHeads, a.headDim, a.vHeadDim, a.sinks, keys, values, p.pageSize);
        return out;
      }
      addon.attention(out, a.q, a.k, a.v, start, T, a.numHeads, a.numKvHeads, a.headDim, a.vHeadDim, window, a.sinks, a.pastKeys, a.pastValues, a.pastRows);
      return out;
    },

    moeExperts(x: Float32Array, T: number, experts: readonly MlpWeightSet[], expertIds: Int32Array, weights: Float32Array): Float32Array {
      const K = checkMoeRouting(x, T, experts, expertIds, weights);
      if (T > 0 && x.length % T !== 0) throw new ShapeError(`moeExperts: x has ${x.length} elements, not a multiple of T = ${T}`);
      // Counting sort of the choices by expert: each selected expert's rows in token order (then k order).
      const E = experts.length;
      const next = new Int32Array(E + 1);
      for (let i = 0; i < expertIds.length; i++) next[expertIds[i]! + 1]!++;
      let selected = 0;
      for (let e = 0; e < E; e++) {
        if (next[e + 1]! > 0) selected++;
        next[e + 1]! += next[e]!;
      }
      const rowStart = new Int32Array(selected + 1);
      const list: Weight[] = [];
      for (let e = 0, j = 0; e < E; e++) {
        if (next[e + 1] === next[e]) continue;
        const w = experts[e]!;
        checkMxfp4Scales(w.gate);
        checkMxfp4Scales(w.up);
        checkMxfp4Scales(w.down);
        list.push(w.gate, w.up, w.down);
        rowStart[++j] = next[e + 1]!;
      }
      const rows = new Int32Array(expertIds.length);
      const rowWeights = new Float32Array(expertIds.length);
      for (let t = 0; t < T; t++) {
        for (let k = 0; k < K; k++) {
          const p = next[expertIds[t * K + k]!]!++;
          rows[p] = t;
          rowWeights[p] = weights[t * K + k]!;
        }
      }
      const out = new Float32Array(x.length);
      addon.moeExperts(out, x, T, list, rowStart, rows, rowWeights);
      return out;
    },
  };
}
