/**
 * The reference backend: plain TypeScript, float32 storage, the definition of every op in backend.ts.
 * Accumulation is in float64 (JS numbers) and rounded to float32 on store. Source: spec §3.
 */
import { ShapeError } from '../../errors.js';
import type { AttentionInput, Backend, MlpWeightSet, Weight } from '../backend.js';
import { dequantize } from '../../tensor/weight.js';
import { moeExpertsVia } from './moe-experts.js';
import { matmulInt8Activations } from './q8-activations.js';

function matmul(x: Float32Array, T: number, w: Weight): Float32Array {
  if (w.activations === 'int8') return matmulInt8Activations(x, T, w);
  if (w.dtype !== 'f32') throw new ShapeError(`matmul: the reference backend needs f32 weights (prepareWeight), got ${w.dtype}`);
  const { rows, cols } = w;
  const data = w.data as Float32Array;
  if (x.length !== T * cols) throw new ShapeError(`matmul: x has ${x.length} elements, expected [${T}, ${cols}]`);
  const y = new Float32Array(T * rows);
  const c4 = cols - (cols % 4);
  for (let o = 0; o < rows; o++) {
    const wo = o * cols;
    for (let t = 0; t < T; t++) {
      const xo = t * cols;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let i = 0;
      for (; i < c4; i += 4) {
        s0 += x[xo + i]! * data[wo + i]!;
        s1 += x[xo + i + 1]! * data[wo + i + 1]!;
        s2 += x[xo + i + 2]! * data[wo + i + 2]!;
        s3 += x[xo + i + 3]! * data[wo + i + 3]!;
      }
      for (; i < cols; i++) s0 += x[xo + i]! * data[wo + i]!;
      y[t * rows + o] = s0 + s1 + s2 + s3;
    }
  }
  return y;
}

function rmsNorm(x: Float32Array, T: number, weight: Float32Array, eps: number): Float32Array {
  const D = weight.length;
  if (x.length !== T * D) throw new ShapeError(`rmsNorm: x has ${x.length} elements, expected [${T}, ${D}]`);
  const y = new Float32Array(x.length);
  for (let t = 0; t < T; t++) {
    const o = t * D;
    let ss = 0;
    for (let i = 0; i < D; i++) ss += x[o + i]! * x[o + i]!;
    const inv = Math.fround(1 / Math.sqrt(Math.fround(ss / D) + eps));
    for (let i = 0; i < D; i++) y[o + i] = Math.fround(x[o + i]! * inv) * weight[i]!;
  }
  return y;
}

/** inv_freq[i] = 1 / θ^(2i / rotaryDim), float32 (spec §3.4 item 3). Cached per (θ, rotaryDim). */
const invFreqCache = new Map<string, Float32Array>();
export function ropeInvFreq(theta: number, rotaryDim: number): Float32Array {
  const key = `${theta}/${rotaryDim}`;
  let f = invFreqCache.get(key);
  if (!f) {
    f = new Float32Array(rotaryDim / 2);
    for (let i = 0; i < rotaryDim / 2; i++) f[i] = 1 / Math.pow(theta, (2 * i) / rotaryDim);
    invFreqCache.set(key, f);
  }
  return f;
}

function rope(x: Float32Array, T: number, heads: number, headDim: number, rotaryDim: number, theta: number, start: number): void {
  if (x.length !== T * heads * headDim) throw new ShapeError(`rope: x has ${x.length} elements, expected [${T}, ${heads}, ${headDim}]`);
  const half = rotaryDim / 2;
  const invFreq = ropeInvFreq(theta, rotaryDim);
  const cos = new Float32Array(half);
  const sin = new Float32Array(half);
  for (let t = 0; t < T; t++) {
    const pos = start + t;
    for (let j = 0; j < half; j++) {
      const phi = Math.fround(pos * invFreq[j]!);
      cos[j] = Math.cos(phi);
      sin[j] = Math.sin(phi);
    }
    for (let h = 0; h < heads; h++) {
      const o = (t * heads + h) * headDim;
      for (let j = 0; j < half; j++) {
        const a = x[o + j]!;
        const b = x[o + j + half]!;
        x[o + j] = a * cos[j]! - b * sin[j]!;
        x[o + j + half] = b * cos[j]! + a * sin[j]!;
      }
    }
  }
}

function swiglu(gate: Float32Array, up: Float32Array): Float32Array {
  if (gate.length !== up.length) throw new ShapeError(`swiglu: gate has ${gate.length} elements, up ${up.length}`);
  const y = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i]!;
    y[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
  return y;
}

/** BF16 bits → float32 (exact), for a BF16 KV cache. */
function bf16ToF32(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return new Float32Array(u.buffer);
}

function attention(a: AttentionInput): Float32Array {
  const { q, k, v, start, T, numHeads: Hq, numKvHeads: Hkv, headDim: Dqk, vHeadDim: Dv, window, sinks } = a;
  // A BF16 cache is read as the float32 values its bits stand for (the definition; native reads the bits in place).
  const widen = (x: Float32Array | Uint16Array): Float32Array => (x instanceof Uint16Array ? bf16ToF32(x) : x);
  const pastKeys = widen(a.pastKeys);
  const pastValues = widen(a.pastValues);
  // A page table: cached position j sits in row j mod S of page ⌊j / S⌋ (only pages below start are read).
  const pages = a.pastPages ?? null;
  if (pages && window !== null) throw new ShapeError('attention: a page table is for full-attention layers only (window must be null)');
  const S = pages?.pageSize ?? 1;
  const needPages = Math.ceil(start / S);
  if (pages && (pages.keys.length < needPages || pages.values.length < needPages)) throw new ShapeError(`attention: ${start} cached positions need ${needPages} pages, got ${pages.keys.length}`);
  const keyPages = pages ? pages.keys.slice(0, needPages).map(widen) : [];
  const valuePages = pages ? pages.values.slice(0, needPages).map(widen) : [];

  const group = Hq / Hkv;
  const scale = 1 / Math.sqrt(Dqk);
  const out = new Float32Array(T * Hq * Dv);
  const maxKeys = window ?? start + T;
  const scores = new Float64Array(maxKeys);
  const acc = new Float64Array(Dv);
  for (let t = 0; t < T; t++) {
    const i = start + t;
    const first = window === null ? 0 : Math.max(0, i - window + 1);
    if (first < a.pastFirst && first < start) throw new ShapeError(`attention: position ${first} was evicted from the cache (oldest cached ${a.pastFirst})`);
    for (let h = 0; h < Hq; h++) {
      const kvh = Math.floor(h / group);
      const qo = (t * Hq + h) * Dqk;
      let m = sinks ? sinks[h]! : -Infinity;
      let n = 0;
      for (let j = first; j <= i; j++) {
        let ko: number;
        let keys: Float32Array;
        if (j < start) {
          keys = pages ? keyPages[Math.floor(j / S)]! : pastKeys;
          ko = ((pages ? j % S : j % a.pastRows) * Hkv + kvh) * Dqk;
        } else {
          keys = k;
          ko = ((j - start) * Hkv + kvh) * Dqk;
        }
        let s = 0;
        for (let d = 0; d < Dqk; d++) s += q[qo + d]! * keys[ko + d]!;
        s *= scale;
        scores[n++] = s;
        if (s > m) m = s;
      }
      let denom = sinks ? Math.exp(sinks[h]! - m) : 0;
      acc.fill(0);
      for (let jj = 0; jj < n; jj++) {
        const j = first + jj;
        const p = Math.exp(scores[jj]! - m);
        denom += p;
        let vals: Float32Array;
        let vo: number;
        if (j < start) {
          vals = pages ? valuePages[Math.floor(j / S)]! : pastValues;
          vo = ((pages ? j % S : j % a.pastRows) * Hkv + kvh) * Dv;
        } else {
          vals = v;
          vo = ((j - start) * Hkv + kvh) * Dv;
        }
        for (let d = 0; d < Dv; d++) acc[d]! += p * vals[vo + d]!;
      }
      const oo = (t * Hq + h) * Dv;
      for (let d = 0; d < Dv; d++) out[oo + d] = acc[d]! / denom;
    }
  }
  return out;
}

function moeExperts(x: Float32Array, T: number, experts: readonly MlpWeightSet[], expertIds: Int32Array, weights: Float32Array): Float32Array {
  return moeExpertsVia({ matmul, swiglu }, x, T, experts, expertIds, weights);
}

/** The reference backend (pure TypeScript; the definition every other backend is tested against). */
/** Every reference op computes each row on its own, in the same order for any number of rows. */
const rowInvariantRows = (): number => Number.MAX_SAFE_INTEGER;

/** Weights to f32 once, except those on the 8-bit-activation path (`activations: 'int8'`), which matmul reads as stored. */
const prepareWeight = (w: Weight): Weight => (w.activations === 'int8' ? w : dequantize(w));

export const referenceBackend: Backend = { name: 'ts', rowInvariantRows, prepareWeight, matmul, rmsNorm, rope, swiglu, attention, moeExperts };
