/**
 * The native backend against the TypeScript reference (the definition of every op): matmul for every stored dtype
 * (f32, bf16, f16, fp8 with partial scale blocks on both axes and per-chunk scale rows) on odd shapes through both
 * the small-T row kernel and the prefill GEMM, RMSNorm, RoPE, SwiGLU, attention (GQA ratios, sinks, windows across a
 * ring-buffer wrap, chunks with a cached past), the fused MoE experts op (against the reference and bit for bit against
 * the native per-expert composition), every dispatch level forced (avx512, avx2, scalar), and 1 vs 2 threads bit for
 * bit. Skips, loudly, only when the addon is not built.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AttentionInput, Backend, MlpWeightSet, Weight } from '../../src/kernels/backend.js';
import { DISPATCH_LEVELS, type DispatchLevel, type NativeAddon } from '../../src/kernels/native/addon.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import { moeExpertsVia } from '../../src/kernels/reference/moe-experts.js';
import { referenceBackend as ref } from '../../src/kernels/reference/ops.js';
import { numberToBf16Bits } from '../../src/tensor/dtype.js';
import { nativeAddon, needNative } from '../helpers/native.js';
import { assertBitwise, assertClose, randomF32, rng } from '../helpers/kernel-check.js';

const addon = nativeAddon;
const initialThreads = addon?.getThreads() ?? 1;
const initialLevel = addon?.getDispatch();
after(() => {
  if (!addon) return;
  addon.setThreads(initialThreads);
  addon.setDispatch(initialLevel!);
});


/** Levels this CPU runs, best first. */
function levels(a: NativeAddon): DispatchLevel[] {
  const best = DISPATCH_LEVELS.indexOf(a.bestDispatch());
  return DISPATCH_LEVELS.slice(best);
}



/** Random f16 bit patterns: normals in ~[2^-7, 2^5] and some subnormals, both signs, no inf/NaN. */
function randomF16Bits(n: number, r: () => number): Uint16Array {
  return Uint16Array.from({ length: n }, () => {
    const sign = r() < 0.5 ? 0x8000 : 0;
    const e = r() < 0.05 ? 0 : 8 + Math.floor(r() * 13);
    return sign | (e << 10) | Math.floor(r() * 1024);
  });
}

interface Fp8Grid {
  blockCols: number;
  /** Weight rows per scale row, or 'chunks' for a fused weight whose parts start new scale rows (per-chunk grid). */
  rowBlock: number | 'chunks';
}

function makeWeight(dtype: Weight['dtype'], rows: number, cols: number, r: () => number, grid: Fp8Grid = { blockCols: 128, rowBlock: 128 }): Weight {
  const n = rows * cols;
  switch (dtype) {
    case 'f32':
      return { rows, cols, dtype, data: randomF32(n, r) };
    case 'bf16':
      return { rows, cols, dtype, data: Uint16Array.from(randomF32(n, r), (v) => numberToBf16Bits(v)) };
    case 'f16':
      return { rows, cols, dtype, data: randomF16Bits(n, r) };
    case 'fp8': {
      // Finite codes only (0x7F / 0xFF are NaN; tested separately).
      const data = Uint8Array.from({ length: n }, () => {
        const c = Math.floor(r() * 254);
        return c >= 0x7f ? c + 1 : c;
      });
      const rowScale = new Int32Array(rows);
      if (grid.rowBlock === 'chunks') {
        // Three fused parts (like q/k/v) of sizes ≈ 1/2, 1/3, rest, each starting a new 2-row scale block.
        const cuts = [0, Math.ceil(rows / 2), Math.ceil((5 * rows) / 6), rows];
        let next = 0;
        for (let p = 0; p < 3; p++) {
          for (let i = cuts[p]!; i < cuts[p + 1]!; i++) rowScale[i] = next + Math.floor((i - cuts[p]!) / 2);
          next += Math.ceil((cuts[p + 1]! - cuts[p]!) / 2);
        }
      } else {
        for (let i = 0; i < rows; i++) rowScale[i] = Math.floor(i / grid.rowBlock);
      }
      const scaleRows = rows === 0 ? 0 : Math.max(...rowScale) + 1;
      const scaleCols = Math.ceil(cols / grid.blockCols);
      const scales = Float32Array.from({ length: scaleRows * scaleCols }, () => 2 ** -(4 + Math.floor(r() * 8)) * (0.5 + r()));
      return { rows, cols, dtype, data, scales, scaleCols, blockCols: grid.blockCols, rowScale };
    }
    case 'mxfp4': {
      // Every code; exponent bytes 117…136 (scales 2^−10 … 2^9); cols must be a multiple of 32.
      const data = Uint8Array.from({ length: (rows * cols) / 2 }, () => Math.floor(r() * 256));
      const e8m0 = Uint8Array.from({ length: (rows * cols) / 32 }, () => 117 + Math.floor(r() * 20));
      return { rows, cols, dtype, data, e8m0 };
    }
    case 'ggml':
      throw new Error('ggml block weights are tested in test/gguf');
  }
}

/** |w| as f32, for the error bound Σ|x||w|. */
function absWeight(w: Weight): Weight {
  const d = ref.prepareWeight(w).data as Float32Array;
  return { rows: w.rows, cols: w.cols, dtype: 'f32', data: d.map(Math.abs) };
}



/** Native matmul vs the reference on dequantised weights, error ≤ 2e-5 · Σ|x||w| (float32 accumulation). */
function checkMatmul(w: Weight, T: number, r: () => number, what: string): void {
  const native = createNativeBackend();
  const x = randomF32(T * w.cols, r);
  const got = native.matmul(x, T, native.prepareWeight(w));
  const want = ref.matmul(x, T, ref.prepareWeight(w));
  const bound = ref.matmul(x.map(Math.abs), T, absWeight(w));
  assertClose(got, want, (i) => 2e-5 * bound[i]! + 1e-30, what);
}

const SHAPES: Array<[rows: number, cols: number, T: number]> = [
  [1, 1, 1],
  [3, 7, 1],
  [300, 33, 1],
  [17, 129, 2],
  [300, 200, 5],
  [64, 1, 3],
  [9, 16, 8],
  [300, 200, 9],
  [5, 257, 13], // row kernel for most dtypes, GEMM for fp8 (T > 12)
  [300, 200, 45], // GEMM (T > 32): 300 = 4·64 + 44 output panel tail, 200 = 128 + 72 K-block tail, 45 = 7·6 + 3 token tail
  [70, 129, 64],
];

describe('native matmul vs reference', () => {
  for (const dtype of ['f32', 'bf16', 'f16', 'fp8'] as const) {
    it(`${dtype}: every dispatch level, odd shapes, T through the row kernel and the GEMM`, (t) => {
      const a = needNative(t);
      if (!a) return;
      for (const level of levels(a)) {
        a.setDispatch(level);
        const r = rng(1234);
        for (const [rows, cols, T] of SHAPES) checkMatmul(makeWeight(dtype, rows, cols, r), T, r, `${level} ${dtype} [${rows}, ${cols}] T=${T}`);
      }
      a.setDispatch(a.bestDispatch());
    });
  }

  it('fp8: partial scale blocks on both axes, odd block widths, per-chunk scale rows', (t) => {
    const a = needNative(t);
    if (!a) return;
    const grids: Fp8Grid[] = [
      { blockCols: 128, rowBlock: 128 },
      { blockCols: 5, rowBlock: 3 },
      { blockCols: 16, rowBlock: 7 },
      { blockCols: 48, rowBlock: 'chunks' },
      { blockCols: 1, rowBlock: 1 },
    ];
    for (const level of levels(a)) {
      a.setDispatch(level);
      const r = rng(99);
      for (const grid of grids) {
        for (const [rows, cols, T] of [[300, 200, 1], [37, 131, 3], [130, 300, 17], [1, 7, 1]] as const) {
          checkMatmul(makeWeight('fp8', rows, cols, r, grid), T, r, `${level} fp8 b=${grid.blockCols}/${grid.rowBlock} [${rows}, ${cols}] T=${T}`);
        }
      }
    }
    a.setDispatch(a.bestDispatch());
  });

  it('fp8 NaN codes (0x7F, 0xFF) give NaN in exactly the rows that hold them; subnormal codes decode exactly', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const rows = 40;
    const cols = 70;
    for (const level of levels(a)) {
      a.setDispatch(level);
      for (const T of [1, 12]) {
        const w = makeWeight('fp8', rows, cols, rng(5), { blockCols: 32, rowBlock: 4 });
        const data = w.data as Uint8Array;
        data[3 * cols + 69] = 0x7f;
        data[17 * cols + 0] = 0xff;
        for (let c = 0; c < cols; c++) data[20 * cols + c] = c & 0x87; // subnormals and their negatives
        const x = randomF32(T * cols, rng(6));
        const got = native.matmul(x, T, w);
        const want = ref.matmul(x, T, ref.prepareWeight(w));
        // Σ|x||w| per output: a subnormal code decoded wrongly (flushed, or off by a power of two) moves the sum by a
        // whole term (≈ 1/70 of this), far beyond the kernels' 2e-5 of it.
        const bound = ref.matmul(x.map(Math.abs), T, absWeight(w));
        for (let tt = 0; tt < T; tt++) {
          for (let o = 0; o < rows; o++) {
            const nan = o === 3 || o === 17;
            assert.equal(Number.isNaN(got[tt * rows + o]!), nan, `${level} T=${T} row ${o}`);
          }
          const g = got[tt * rows + 20]!;
          const wv = want[tt * rows + 20]!;
          const b = bound[tt * rows + 20]!;
          assert.ok(Math.abs(g - wv) <= 2e-5 * b, `${level} subnormal row: ${g} vs ${wv} (bound ${b})`);
        }
      }
    }
    a.setDispatch(a.bestDispatch());
  });

  it('fp8 block scales ≥ 2^8 (outside the fast decoding route) still match the reference', (t) => {
    const a = needNative(t);
    if (!a) return;
    for (const level of levels(a)) {
      a.setDispatch(level);
      const r = rng(31);
      for (const T of [1, 3, 20]) {
        const w = makeWeight('fp8', 50, 96, r, { blockCols: 32, rowBlock: 8 });
        w.scales![1] = 300;
        w.scales![w.scaleCols! + 2] = -1e6;
        checkMatmul(w, T, r, `${level} fp8 big scales T=${T}`);
      }
    }
    a.setDispatch(a.bestDispatch());
  });

  it('edge shapes: T = 0, cols = 0, rows = 0', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    assert.equal(native.matmul(new Float32Array(0), 0, makeWeight('bf16', 5, 3, rng(1))).length, 0);
    assert.deepEqual(Array.from(native.matmul(new Float32Array(0), 2, { rows: 3, cols: 0, dtype: 'f32', data: new Float32Array(0) })), [0, 0, 0, 0, 0, 0]);
    assert.equal(native.matmul(new Float32Array(6), 2, { rows: 0, cols: 3, dtype: 'f32', data: new Float32Array(0) }).length, 0);
  });

  it('rejects bad arguments with errors instead of reading out of bounds', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const w = makeWeight('fp8', 4, 8, rng(2), { blockCols: 4, rowBlock: 2 });
    assert.throws(() => native.matmul(new Float32Array(7), 1, w), /ShapeError|expected/);
    assert.throws(() => a.matmul(new Float32Array(4), new Float32Array(8), 1, 'fp8', w.data, 4, 8, w.scales!, 2, 4, Int32Array.from([0, 0, 1, 9])), RangeError);
    assert.throws(() => a.matmul(new Float32Array(4), new Float32Array(8), 1, 'fp8', w.data, 4, 8, w.scales!, 1, 4, w.rowScale!), /does not cover/);
    assert.throws(() => a.matmul(new Float32Array(4), new Float32Array(8), 1, 'bf16', new Uint16Array(31), 4, 8, null, 0, 0, null), RangeError);
    assert.throws(() => a.matmul(new Float32Array(4), new Float32Array(8), 1, 'bf16', new Float32Array(32), 4, 8, null, 0, 0, null), TypeError);
    assert.throws(() => a.matmul(new Float32Array(4), new Float32Array(8), 1, 'q4' as never, new Float32Array(32), 4, 8, null, 0, 0, null), /dtype/);
    assert.throws(() => native.prepareWeight({ rows: 2, cols: 2, dtype: 'bf16', data: new Uint8Array(4) }), /Uint16Array/);
  });

  it('prepareWeight keeps the stored dtype and data', (t) => {
    if (!needNative(t)) return;
    const native = createNativeBackend();
    for (const dtype of ['f32', 'bf16', 'f16', 'fp8'] as const) {
      const w = makeWeight(dtype, 3, 5, rng(3));
      const p = native.prepareWeight(w);
      assert.equal(p.dtype, dtype);
      assert.equal(p.data, w.data);
    }
  });
});

describe('native rmsNorm, rope, swiglu vs reference', () => {
  it('rmsNorm is bitwise equal to the reference (same float64 sum, same roundings)', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const r = rng(7);
    for (const [T, D] of [[1, 1], [3, 7], [5, 129], [64, 1024], [2, 4096]] as const) {
      const x = randomF32(T * D, r, 3);
      const w = randomF32(D, r);
      assertBitwise(native.rmsNorm(x, T, w, 1e-6), ref.rmsNorm(x, T, w, 1e-6), `rmsNorm [${T}, ${D}]`);
    }
  });

  it('rope matches the reference (partial rotary dims, start positions, odd head counts)', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const r = rng(8);
    for (const [T, heads, headDim, rotaryDim, theta, start] of [
      [1, 1, 2, 2, 10000, 0],
      [3, 5, 192, 64, 5e6, 12345],
      [64, 2, 192, 64, 1e4, 7],
      [2, 3, 16, 0, 1e4, 3],
      [5, 4, 128, 128, 1e6, 100000],
    ] as const) {
      const x = randomF32(T * heads * headDim, r);
      const y = x.slice();
      native.rope(x, T, heads, headDim, rotaryDim, theta, start);
      ref.rope(y, T, heads, headDim, rotaryDim, theta, start);
      assertClose(x, y, (i) => 1e-6 * Math.abs(y[i]!) + 1e-7, `rope T=${T} H=${heads} D=${headDim} rot=${rotaryDim}`);
    }
  });

  it('swiglu matches the reference on every level, including extreme gates', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    for (const level of levels(a)) {
      a.setDispatch(level);
      const r = rng(9);
      for (const n of [1, 7, 16, 33, 1000, 70001]) {
        const g = randomF32(n, r, 12);
        const u = randomF32(n, r, 2);
        if (n > 10) g.set([0, -0, 100, -100, 88, -88, 90, -90, 1e-30, NaN]);
        const got = native.swiglu(g, u);
        const want = ref.swiglu(g, u);
        assertClose(got, want, (i) => 4e-7 * Math.abs(want[i]!) + 1e-30, `${level} swiglu n=${n}`);
      }
    }
    a.setDispatch(a.bestDispatch());
  });
});

interface AttnCase {
  name: string;
  T: number;
  start: number;
  Hq: number;
  Hkv: number;
  Dqk: number;
  Dv: number;
  window: number | null;
  sinks: boolean;
  /** Cache rows; positions p < start sit in row p mod pastRows (a ring when pastRows < start). */
  pastRows: number;
}

function attentionInput(c: AttnCase, r: () => number): AttentionInput {
  const { T, start, Hq, Hkv, Dqk, Dv, pastRows } = c;
  const pastKeys = new Float32Array(pastRows * Hkv * Dqk);
  const pastValues = new Float32Array(pastRows * Hkv * Dv);
  const pastFirst = Math.max(0, start - pastRows);
  for (let p = pastFirst; p < start; p++) {
    const row = p % pastRows;
    pastKeys.set(randomF32(Hkv * Dqk, r), row * Hkv * Dqk);
    pastValues.set(randomF32(Hkv * Dv, r), row * Hkv * Dv);
  }
  return {
    q: randomF32(T * Hq * Dqk, r),
    k: randomF32(T * Hkv * Dqk, r),
    v: randomF32(T * Hkv * Dv, r),
    start,
    T,
    numHeads: Hq,
    numKvHeads: Hkv,
    headDim: Dqk,
    vHeadDim: Dv,
    window: c.window,
    sinks: c.sinks ? randomF32(Hq, r, 3) : null,
    pastKeys,
    pastValues,
    pastRows,
    pastFirst,
  };
}

const ATTN_CASES: AttnCase[] = [
  { name: 'decode, full, GQA 4, sinks', T: 1, start: 37, Hq: 4, Hkv: 1, Dqk: 24, Dv: 16, window: null, sinks: true, pastRows: 64 },
  { name: 'decode, window 8 across the ring wrap', T: 1, start: 45, Hq: 4, Hkv: 2, Dqk: 19, Dv: 7, window: 8, sinks: true, pastRows: 10 },
  { name: 'chunk of 3 with past, window 8, ring of 10 wraps', T: 3, start: 45, Hq: 6, Hkv: 2, Dqk: 33, Dv: 17, window: 8, sinks: false, pastRows: 10 },
  { name: 'chunk of 5 with full past, GQA 3, no sinks', T: 5, start: 20, Hq: 6, Hkv: 2, Dqk: 16, Dv: 16, window: null, sinks: false, pastRows: 20 },
  { name: 'window 1 (only itself), MHA', T: 4, start: 9, Hq: 3, Hkv: 3, Dqk: 5, Dv: 3, window: 1, sinks: true, pastRows: 12 },
  { name: 'prefill from 0, window 16, sinks, bench head dims', T: 64, start: 0, Hq: 16, Hkv: 2, Dqk: 192, Dv: 128, window: 16, sinks: true, pastRows: 0 },
  { name: 'prefill chunk after a wrapped ring, window 128 (SWA layer)', T: 40, start: 300, Hq: 16, Hkv: 2, Dqk: 192, Dv: 128, window: 128, sinks: true, pastRows: 131 },
  { name: 'full attention, 1 KV head, long past', T: 2, start: 700, Hq: 16, Hkv: 1, Dqk: 192, Dv: 128, window: null, sinks: false, pastRows: 702 },
];

describe('native attention vs reference', () => {
  it('GQA ratios, sinks on/off, windows across ring wrap, chunks with past, on every level', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    for (const level of levels(a)) {
      a.setDispatch(level);
      const r = rng(11);
      for (const c of ATTN_CASES) {
        const input = attentionInput(c, r);
        const got = native.attention(input);
        const want = ref.attention(input);
        assertClose(got, want, (i) => 2e-5 * Math.abs(want[i]!) + 2e-6, `${level} attention: ${c.name}`);
      }
    }
    a.setDispatch(a.bestDispatch());
  });

  it('each token of a chunk gets the bits it gets alone (token blocks of 16, key runs cut anywhere), on every level', (t) => {
    // The chunk's tasks take blocks of up to 16 tokens and read the union of their keys in runs; a token alone reads
    // its own keys in other runs. Positions p sit in row p of one array holding start + T rows, so a lone token at
    // start + tt reads the chunk's earlier keys as cached rows.
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const cases: AttnCase[] = [
      { name: 'full, GQA 8:1, 37 tokens after 150 cached', T: 37, start: 150, Hq: 8, Hkv: 1, Dqk: 192, Dv: 128, window: null, sinks: false, pastRows: 0 },
      { name: 'window 24, sinks, GQA 4:2, 33 tokens after 61', T: 33, start: 61, Hq: 4, Hkv: 2, Dqk: 40, Dv: 24, window: 24, sinks: true, pastRows: 0 },
      { name: 'full, odd head dims, 18 tokens from 0', T: 18, start: 0, Hq: 3, Hkv: 1, Dqk: 19, Dv: 7, window: null, sinks: true, pastRows: 0 },
    ];
    for (const level of levels(a)) {
      a.setDispatch(level);
      const r = rng(17);
      for (const c of cases) {
        const rows = c.start + c.T;
        const chunk = attentionInput({ ...c, pastRows: rows }, r);
        const [Hq, Hkv, Dqk, Dv] = [c.Hq, c.Hkv, c.Dqk, c.Dv];
        for (let tt = 0; tt < c.T; tt++) {
          chunk.pastKeys!.set(chunk.k.subarray(tt * Hkv * Dqk, (tt + 1) * Hkv * Dqk), (c.start + tt) * Hkv * Dqk);
          chunk.pastValues!.set(chunk.v.subarray(tt * Hkv * Dv, (tt + 1) * Hkv * Dv), (c.start + tt) * Hkv * Dv);
        }
        const many = native.attention(chunk);
        const want = ref.attention(chunk);
        assertClose(many, want, (i) => 2e-5 * Math.abs(want[i]!) + 2e-6, `${level} ${c.name} vs reference`);
        for (let tt = 0; tt < c.T; tt++) {
          const alone = native.attention({
            ...chunk,
            q: chunk.q.subarray(tt * Hq * Dqk, (tt + 1) * Hq * Dqk),
            k: chunk.k.subarray(tt * Hkv * Dqk, (tt + 1) * Hkv * Dqk),
            v: chunk.v.subarray(tt * Hkv * Dv, (tt + 1) * Hkv * Dv),
            start: c.start + tt,
            T: 1,
          });
          assertBitwise(many.subarray(tt * Hq * Dv, (tt + 1) * Hq * Dv), alone, `${level} ${c.name}: token ${tt}`);
        }
      }
    }
    a.setDispatch(a.bestDispatch());
  });

  it('throws ShapeError when the window reaches positions evicted from the ring', (t) => {
    if (!needNative(t)) return;
    const native = createNativeBackend();
    const input = attentionInput({ name: '', T: 1, start: 45, Hq: 2, Hkv: 1, Dqk: 4, Dv: 4, window: 20, sinks: false, pastRows: 10 }, rng(1));
    assert.throws(() => native.attention(input), /evicted/);
    assert.throws(() => ref.attention(input), /evicted/);
  });
});

type MoeDTypes = readonly [gate: Weight['dtype'], up: Weight['dtype'], down: Weight['dtype']];

function makeExperts(E: number, D: number, I: number, dtypes: MoeDTypes, r: () => number): MlpWeightSet[] {
  const grid: Fp8Grid = { blockCols: 16, rowBlock: 8 };
  return Array.from({ length: E }, () => ({
    gate: makeWeight(dtypes[0], I, D, r, grid),
    up: makeWeight(dtypes[1], I, D, r, grid),
    down: makeWeight(dtypes[2], D, I, r, grid),
  }));
}

/**
 * Routing `[T, K]` (K ≥ 3, E ≥ K + 3): expert 0 is never chosen, expert 1 only by token 0, expert 2 by every token,
 * the rest at random; each token's choices in shuffled order (so k order differs from expert order).
 */
function makeRouting(T: number, K: number, E: number, r: () => number): { ids: Int32Array; weights: Float32Array } {
  const ids = new Int32Array(T * K);
  const weights = new Float32Array(T * K);
  for (let t = 0; t < T; t++) {
    const chosen = t === 0 ? [1, 2] : [2];
    while (chosen.length < K) {
      const e = 3 + Math.floor(r() * (E - 3));
      if (!chosen.includes(e)) chosen.push(e);
    }
    for (let i = chosen.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [chosen[i], chosen[j]] = [chosen[j]!, chosen[i]!];
    }
    chosen.forEach((e, k) => {
      ids[t * K + k] = e;
      weights[t * K + k] = 0.1 + r();
    });
  }
  return { ids, weights };
}

const prepareExperts = (be: Backend, experts: MlpWeightSet[]): MlpWeightSet[] =>
  experts.map((e) => ({ gate: be.prepareWeight(e.gate), up: be.prepareWeight(e.up), down: be.prepareWeight(e.down) }));

/**
 * [D, I, T, K, E]: odd widths; T 1, 2, 7 through the fused row-kernel regions; T 64 with the busy experts on the GEMM
 * (row kernel only on the scalar level) beside fused ones.
 */
const MOE_SHAPES: Array<[D: number, I: number, T: number, K: number, E: number]> = [
  [37, 23, 1, 3, 8],
  [37, 23, 2, 4, 9],
  [100, 64, 7, 3, 8],
  [37, 23, 64, 4, 12],
  [100, 17, 64, 3, 40],
  [257, 130, 1, 4, 10],
  [257, 130, 7, 3, 8],
  [600, 20, 64, 3, 8], // large enough that the GEMM experts' sums into out are split across threads
];
const MOE_DTYPES: MoeDTypes[] = [
  ['f32', 'f32', 'f32'],
  ['bf16', 'bf16', 'bf16'],
  ['f16', 'f16', 'f16'],
  ['fp8', 'fp8', 'fp8'],
  ['bf16', 'f32', 'fp8'],
];

describe('native moeExperts', () => {
  it('matches the reference and, bit for bit, the native per-expert composition (every level, dtype, T)', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const r = rng(77);
    const cases = MOE_DTYPES.flatMap((dtypes) =>
      MOE_SHAPES.map(([D, I, T, K, E]) => {
        const experts = makeExperts(E, D, I, dtypes, r);
        const x = randomF32(T * D, r);
        const { ids, weights } = makeRouting(T, K, E, r);
        const want = ref.moeExperts(x, T, prepareExperts(ref, experts), ids, weights);
        return { what: `${dtypes.join('/')} D=${D} I=${I} T=${T} K=${K}`, D, T, experts, x, ids, weights, want };
      }),
    );
    for (const level of levels(a)) {
      a.setDispatch(level);
      for (const { what, D, T, experts, x, ids, weights, want } of cases) {
        const got = native.moeExperts(x, T, prepareExperts(native, experts), ids, weights);
        // Float32 accumulation through two matmuls: per token, 1e-4 of the row's largest output.
        for (let tt = 0; tt < T; tt++) {
          const row = want.subarray(tt * D, (tt + 1) * D);
          const scale = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          assert.ok(scale > 0, `${what}: token ${tt} has an all-zero reference row`);
          assertClose(got.subarray(tt * D, (tt + 1) * D), row, () => 1e-4 * scale, `${level} ${what} token ${tt}`);
        }
        assertBitwise(got, moeExpertsVia(native, x, T, experts, ids, weights), `${level} ${what} vs composed`);
      }
    }
    a.setDispatch(a.bestDispatch());
  });

  it('1 and 2 threads give bitwise identical results on every level', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const r = rng(78);
    const cases = MOE_SHAPES.map(([D, I, T, K, E], i) => {
      const experts = makeExperts(E, D, I, MOE_DTYPES[i % MOE_DTYPES.length]!, r);
      return { experts, T, x: randomF32(T * D, r), ...makeRouting(T, K, E, r) };
    });
    for (const level of levels(a)) {
      a.setDispatch(level);
      a.setThreads(1);
      const one = cases.map((c) => native.moeExperts(c.x, c.T, c.experts, c.ids, c.weights));
      a.setThreads(2);
      const two = cases.map((c) => native.moeExperts(c.x, c.T, c.experts, c.ids, c.weights));
      one.forEach((o, i) => assertBitwise(o, two[i]!, `${level} moe case ${i}`));
    }
    a.setThreads(initialThreads);
    a.setDispatch(a.bestDispatch());
  });

  it('edge cases: T = 0, K = 0, one expert chosen twice by a token', (t) => {
    if (!needNative(t)) return;
    const native = createNativeBackend();
    const r = rng(79);
    const experts = makeExperts(4, 9, 5, ['bf16', 'bf16', 'bf16'], r);
    assert.equal(native.moeExperts(new Float32Array(0), 0, experts, new Int32Array(0), new Float32Array(0)).length, 0);
    assert.deepEqual(Array.from(native.moeExperts(new Float32Array(18).fill(1), 2, experts, new Int32Array(0), new Float32Array(0))), new Array(18).fill(0));
    const x = randomF32(2 * 9, r);
    const ids = Int32Array.from([3, 3, 1, 3]);
    const weights = Float32Array.from([0.5, 0.25, 1, 2]);
    const got = native.moeExperts(x, 2, experts, ids, weights);
    assertBitwise(got, moeExpertsVia(native, x, 2, experts, ids, weights), 'repeated expert vs composed');
    const want = ref.moeExperts(x, 2, prepareExperts(ref, experts), ids, weights);
    assertClose(got, want, () => 1e-4 * want.reduce((m, v) => Math.max(m, Math.abs(v)), 0), 'repeated expert vs reference');
  });

  it('rejects bad arguments with errors instead of reading out of bounds', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const r = rng(80);
    const experts = makeExperts(4, 8, 6, ['f32', 'f32', 'f32'], r);
    const x = randomF32(2 * 8, r);
    const w = Float32Array.from([1, 1]);
    assert.throws(() => native.moeExperts(x, 2, experts, Int32Array.from([0, 4]), w), /outside/);
    assert.throws(() => native.moeExperts(x, 2, experts, Int32Array.from([0, -1]), w), /outside/);
    assert.throws(() => native.moeExperts(x, 2, experts, Int32Array.from([0, 1, 2]), Float32Array.from([1, 1, 1])), /multiple of T/);
    assert.throws(() => native.moeExperts(x, 2, experts, Int32Array.from([0, 1]), Float32Array.from([1])), /weights/);
    assert.throws(() => native.moeExperts(randomF32(15, r), 2, experts, Int32Array.from([0, 1]), w), /multiple of T/);
    const bad = experts.slice();
    bad[2] = { ...bad[2]!, down: makeWeight('f32', 8, 5, r) };
    assert.throws(() => native.moeExperts(x, 2, bad, Int32Array.from([2, 1]), w), /expected/);
    assert.throws(() => ref.moeExperts(x, 2, bad, Int32Array.from([2, 1]), w), /expected/);
    const e0 = experts[0]!;
    const triple = [e0.gate, e0.up, e0.down];
    const out = new Float32Array(16);
    assert.throws(() => a.moeExperts(out, x, 2, triple, Int32Array.from([0, 1]), Int32Array.from([2]), w.subarray(0, 1)), /rows\[0\]/);
    assert.throws(() => a.moeExperts(out, x, 2, triple, Int32Array.from([0, 0]), new Int32Array(0), new Float32Array(0)), /no rows/);
    assert.throws(() => a.moeExperts(out, x, 2, triple, Int32Array.from([0, 3]), Int32Array.from([0, 1]), w), /rowStart/);
    assert.throws(() => a.moeExperts(out, x, 2, triple.slice(0, 2), Int32Array.from([0, 1]), Int32Array.from([0]), w.subarray(0, 1)), /triples/);
    assert.throws(() => a.moeExperts(new Float32Array(15), x, 2, triple, Int32Array.from([0, 1]), Int32Array.from([0]), w.subarray(0, 1)), RangeError);
    const shortData = { ...e0.down, data: new Float32Array(10) };
    assert.throws(() => a.moeExperts(out, x, 2, [e0.gate, e0.up, shortData], Int32Array.from([0, 1]), Int32Array.from([0]), w.subarray(0, 1)), /weights\[2\]\.weight data/);
  });
});

describe('native threads and dispatch', () => {
  it('1 and 2 threads give bitwise identical results for every op', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const r = rng(21);
    const weights = (['f32', 'bf16', 'f16', 'fp8'] as const).map((d) => makeWeight(d, 300, 257, r, { blockCols: 64, rowBlock: 'chunks' }));
    const xs = [1, 3, 37].map((T) => ({ T, x: randomF32(T * 257, r) }));
    const attn = ATTN_CASES.slice(5).map((c) => attentionInput(c, r));
    const big = randomF32(70001, r, 6);
    const big2 = randomF32(70001, r);
    const normW = randomF32(1024, r);
    const normX = randomF32(80 * 1024, r);
    const ropeX = randomF32(64 * 16 * 192, r);
    const narrow = makeWeight('bf16', 40, 257, r); // one GEMM output panel: the prefill split runs along T instead
    const narrowX = randomF32(60 * 257, r);
    const run = (): Float32Array[] => {
      const out: Float32Array[] = [];
      for (const w of weights) for (const { T, x } of xs) out.push(native.matmul(x, T, w));
      out.push(native.matmul(narrowX, 60, narrow));
      for (const input of attn) out.push(native.attention(input));
      out.push(native.swiglu(big, big2));
      out.push(native.rmsNorm(normX, 80, normW, 1e-6));
      const rx = ropeX.slice();
      native.rope(rx, 64, 16, 192, 64, 1e4, 5);
      out.push(rx);
      return out;
    };
    for (const level of levels(a)) {
      a.setDispatch(level);
      a.setThreads(1);
      const one = run();
      a.setThreads(2);
      const two = run();
      one.forEach((o, i) => assertBitwise(o, two[i]!, `${level} op ${i}`));
    }
    a.setThreads(initialThreads);
    a.setDispatch(a.bestDispatch());
  });

  it('setDispatch accepts the supported levels and rejects others clearly', (t) => {
    const a = needNative(t);
    if (!a) return;
    const f = a.cpuFeatures();
    for (const key of ['avx512f', 'avx512bf16', 'avx512vnni', 'avx2', 'fma'] as const) assert.equal(typeof f[key], 'boolean');
    for (const level of DISPATCH_LEVELS) {
      if (levels(a).includes(level)) {
        a.setDispatch(level);
        assert.equal(a.getDispatch(), level);
      } else {
        assert.throws(() => a.setDispatch(level), /cannot run/);
      }
    }
    assert.throws(() => a.setDispatch('sse9' as DispatchLevel), /unknown level/);
    a.setDispatch(a.bestDispatch());
  });

  it('setThreads / getThreads, and the pool survives resizing', (t) => {
    const a = needNative(t);
    if (!a) return;
    for (const n of [1, 3, 2]) {
      a.setThreads(n);
      assert.equal(a.getThreads(), n);
    }
    assert.throws(() => a.setThreads(0), RangeError);
    assert.ok(a.dispatchOverheadUs(200) > 0);
    a.setThreads(initialThreads);
  });
});

describe('row invariance: a token gives the same bits alone as among 2, 7, 12 and 64 tokens (every level, dtype)', () => {
  const cases: Array<{ dtype: Weight['dtype']; grid?: Fp8Grid; shapes: Array<[number, number]> }> = [
    { dtype: 'f32', shapes: [[37, 131], [64, 256]] },
    { dtype: 'bf16', shapes: [[37, 131], [70, 300]] },
    { dtype: 'f16', shapes: [[37, 131]] },
    { dtype: 'fp8', grid: { blockCols: 128, rowBlock: 128 }, shapes: [[37, 131], [70, 300]] },
    { dtype: 'fp8', grid: { blockCols: 32, rowBlock: 'chunks' }, shapes: [[37, 200]] },
    { dtype: 'fp8', grid: { blockCols: 48, rowBlock: 7 }, shapes: [[21, 100]] },
    { dtype: 'mxfp4', shapes: [[37, 160], [70, 512]] },
  ];
  it('matmul', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    for (const level of levels(a)) {
      a.setDispatch(level);
      for (const c of cases) {
        for (const [rows, cols] of c.shapes) {
          const r = rng(rows * 1000 + cols);
          const w = native.prepareWeight(makeWeight(c.dtype, rows, cols, r, c.grid));
          const x = randomF32(64 * cols, r);
          const alone = Array.from({ length: 64 }, (_, tt) => native.matmul(x.subarray(tt * cols, (tt + 1) * cols), 1, w));
          const what = `${level} ${c.dtype}${c.grid ? ` b=${c.grid.blockCols}` : ''} [${rows}, ${cols}]`;
          for (const T of [2, 7, 12, 64]) {
            // The same tokens at another offset too, so a token's position in the call does not matter either.
            for (const offset of T < 64 ? [0, 64 - T] : [0]) {
              const many = native.matmul(x.subarray(offset * cols, (offset + T) * cols), T, w);
              for (let tt = 0; tt < T; tt++) assertBitwise(many.subarray(tt * rows, (tt + 1) * rows), alone[offset + tt]!, `${what} token ${offset + tt} of T=${T}`);
            }
          }
          a.setThreads(1);
          const one = native.matmul(x, 64, w);
          a.setThreads(2);
          const two = native.matmul(x, 64, w);
          a.setThreads(initialThreads);
          assertBitwise(one, two, `${what} T=64, 1 vs 2 threads`);
        }
      }
    }
    a.setDispatch(a.bestDispatch());
  });
});
