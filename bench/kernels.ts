/**
 * Native kernel figures, for 1 and 2 threads: decode matvec (T = 1) in GB/s of weight bytes read (bf16 and fp8,
 * streaming from memory: the timed calls rotate over copies of the matrix totalling ≥ 512 MiB, as a decode step
 * reads every weight once), prefill matmul GFLOP/s at T = 512, attention GFLOP/s, the thread pool's overhead per
 * empty parallel op, and the machine's read bandwidth (AVX-512 sum over 1 GiB, the decode bound's denominator).
 * The routed-experts op at decode on MiMo-V2-Flash's real expert shapes (hidden 4096, expert width 2048, 8 of 64
 * experts per token), FP8 as V2-Flash ships it and MXFP4 as V2.6 ships it, in GB/s of expert bytes read and as a
 * fraction of the bandwidth measured in the same run (`--experts-only` runs just that section and the bandwidth).
 * GGUF block formats (every type of `addon.ggmlTypes()`): decode matvec [4096, 4096] at T = 1 in GB/s of block bytes
 * read, streaming like the bf16/fp8 lines (`--ggml-only` runs just these lines and the bandwidth).
 * Each figure: median (and min time) over several timed calls after a warm-up. Other processes on the machine slow
 * every figure, so the load average is printed before and after.
 *
 *   npm run build:native && npx tsc -p . && node dist/bench/kernels.js [--quick] [--experts-only | --ggml-only]
 */
import * as os from 'node:os';
import type { Weight } from '../src/kernels/backend.js';
import { loadNativeAddon } from '../src/kernels/native/addon.js';
import { quantizeGgmlRows } from '../src/tensor/formats/ggml/quantize.js';
import { ggmlTypeName } from '../src/tensor/formats/ggml/types.js';

const addon = loadNativeAddon();
const quick = process.argv.includes('--quick');
const expertsOnly = process.argv.includes('--experts-only');
const ggmlOnly = process.argv.includes('--ggml-only');

interface Timing {
  medianS: number;
  minS: number;
}

/**
 * A 32-bit hash of (i, seed) (murmur3's finaliser): weight contents with no period, so no two pages of a timed
 * matrix are equal. Pages of equal contents can be merged by the host (KSM on a VM), and then the "streaming" calls
 * read one physical page from the caches again and again and report more than memory can deliver.
 */
function noise(i: number, seed: number): number {
  let h = Math.imul(i ^ Math.imul(seed, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Median and min seconds per call over `runs` timed calls after one warm-up call. */
function time(fn: (i: number) => void, runs: number): Timing {
  fn(runs);
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn(i);
    ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  ts.sort((a, b) => a - b);
  return { medianS: ts[Math.floor(ts.length / 2)]!, minS: ts[0]! };
}

function weight(dtype: 'bf16' | 'fp8', rows: number, cols: number, seed: number): Weight {
  if (dtype === 'bf16') {
    const data = new Uint16Array(rows * cols);
    for (let i = 0; i < data.length; i++) data[i] = 0x3c00 + (noise(i, seed) % 255); // ≈ 0.0078 … 0.0156, finite
    return { rows, cols, dtype, data };
  }
  const data = new Uint8Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = noise(i, seed) % 0x7e;
  const blockCols = 128;
  const scaleCols = Math.ceil(cols / blockCols);
  const rowScale = Int32Array.from({ length: rows }, (_, r) => Math.floor(r / 128));
  return { rows, cols, dtype, data, scales: new Float32Array(Math.ceil(rows / 128) * scaleCols).fill(0.01), scaleCols, blockCols, rowScale };
}

/** A random MXFP4 weight (every code; exponents 118…121, so values stay O(0.01–0.1)). */
function mxfp4Weight(rows: number, cols: number, seed: number): Weight {
  const data = new Uint8Array((rows * cols) / 2);
  for (let i = 0; i < data.length; i++) data[i] = noise(i, seed) & 0xff;
  const e8m0 = new Uint8Array((rows * cols) / 32);
  for (let i = 0; i < e8m0.length; i++) e8m0[i] = 118 + (noise(i, seed + 7777) % 4);
  return { rows, cols, dtype: 'mxfp4', data, e8m0 };
}

/** Bytes a weight's kernel reads: data plus scales. */
function weightBytesRead(w: Weight): number {
  return w.data.byteLength + (w.e8m0?.byteLength ?? 0) + (w.scales?.byteLength ?? 0);
}

/** The routed-experts op of one token: `active` of `experts` chosen (rotating through them), real shapes. */
function expertsSection(threads: number, bandwidth: number): void {
  const [D, I, E, K] = [4096, 2048, 64, 8];
  for (const dtype of ['fp8', 'mxfp4'] as const) {
    const make = (rows: number, cols: number, seed: number) => (dtype === 'fp8' ? weight('fp8', rows, cols, seed) : mxfp4Weight(rows, cols, seed));
    const experts = Array.from({ length: E }, (_, e) => ({ gate: make(I, D, 3 * e), up: make(I, D, 3 * e + 1), down: make(D, I, 3 * e + 2) }));
    const perCall = K * (weightBytesRead(experts[0]!.gate) + weightBytesRead(experts[0]!.up) + weightBytesRead(experts[0]!.down));
    const x = new Float32Array(D).fill(0.1);
    const out = new Float32Array(D);
    const rowStart = Int32Array.from({ length: K + 1 }, (_, j) => j);
    const rows = new Int32Array(K);
    const rowWeights = new Float32Array(K).fill(0.125);
    const runs = quick ? 24 : 64;
    // Call i uses experts 8i … 8i+7 (mod 64): 8 calls sweep all 64 (1.6 GB FP8, 0.85 GB MXFP4), far beyond the caches.
    const call = (i: number) => {
      const list: Weight[] = [];
      for (let k = 0; k < K; k++) {
        const ex = experts[(i * K + k) % E]!;
        list.push(ex.gate, ex.up, ex.down);
      }
      addon.moeExperts(out, x, 1, list, rowStart, rows, rowWeights);
    };
    const t = time(call, runs);
    const gbs = perCall / t.medianS;
    console.log(
      `decode experts ${dtype} (8 of 64, gate/up [${I}, ${D}], down [${D}, ${I}]): ${fmt(gbs / 1e9)} GB/s median = ${fmt((100 * gbs) / bandwidth)}% of ${fmt(bandwidth / 1e9)} GB/s, ` +
        `${fmt(perCall / t.minS / 1e9)} best; ${fmt(perCall / 1e6)} MB per token (${fmt(t.medianS * 1e3, 2)} ms)`,
    );
    // This machine's bandwidth moves from second to second: also time rounds of 16 calls, each beside its own probe
    // (512 MiB, best of 2, before and after), and report the median of the per-round fractions.
    const fractions: number[] = [];
    for (let round = 0; round < (quick ? 3 : 9); round++) {
      const b0 = addon.memReadBandwidth(512 << 20, threads, 2);
      const r = time((i) => call(i + round * 16), 16);
      const b1 = addon.memReadBandwidth(512 << 20, threads, 2);
      fractions.push(perCall / r.medianS / ((b0 + b1) / 2));
    }
    fractions.sort((a, b) => a - b);
    console.log(`  beside its own probes: median ${fmt(100 * fractions[Math.floor(fractions.length / 2)]!)}% of the bandwidth (rounds: ${fractions.map((f) => fmt(100 * f, 0)).join(' ')} %)`);
  }
}

function matmul(w: Weight, x: Float32Array, y: Float32Array, T: number): void {
  addon.matmul(y, x, T, w.dtype, w.data, w.rows, w.cols, w.scales ?? null, w.scaleCols ?? 0, w.blockCols ?? 0, w.rowScale ?? null, w.ggmlType);
}

/**
 * A [rows, cols] weight of ggml type `type`: a 256-row tile of normal(ish) random values quantised by the TypeScript
 * quantizer (real block contents), repeated down the rows.
 */
function ggmlWeight(type: number, rows: number, cols: number, seed: number): Weight {
  const tileRows = 256;
  let z = (seed * 2654435761) >>> 0 || 1;
  const rand = () => ((z ^= z << 13), (z ^= z >>> 17), (z ^= z << 5), (z >>> 0) / 2 ** 32);
  const src = Float32Array.from({ length: tileRows * cols }, () => (rand() + rand() + rand() - 1.5) * 0.05);
  const tile = quantizeGgmlRows(type, src, tileRows, cols);
  const data = new Uint8Array((tile.length / tileRows) * rows);
  for (let r = 0; r < rows; r += tileRows) data.set(tile.subarray(0, (tile.length / tileRows) * Math.min(tileRows, rows - r)), (tile.length / tileRows) * r);
  return { rows, cols, dtype: 'ggml', ggmlType: type, data };
}

/** Decode matvec at T = 1 for every native ggml type, streaming copies of [4096, 4096] totalling ≥ streamBytes. */
function ggmlSection(streamBytes: number, tiles: Map<number, Weight>): void {
  const [rows, cols] = [4096, 4096];
  for (const type of addon.ggmlTypes()) {
    let w0 = tiles.get(type);
    if (!w0) tiles.set(type, (w0 = ggmlWeight(type, rows, cols, type)));
    const bytes = w0.data.byteLength;
    const copies = Math.max(1, Math.ceil(streamBytes / bytes));
    const ws = Array.from({ length: copies }, (_, i) => (i === 0 ? w0! : { ...w0!, data: w0!.data.slice() }));
    const x = new Float32Array(cols).fill(0.5);
    const y = new Float32Array(rows);
    const t = time((i) => matmul(ws[i % copies]!, x, y, 1), Math.max(copies * 2, quick ? 10 : 30));
    console.log(
      `decode matvec ${ggmlTypeName(type)} [${rows}, ${cols}]: ${fmt(bytes / t.medianS / 1e9)} GB/s median, ${fmt(bytes / t.minS / 1e9)} best (${fmt(t.medianS * 1e6, 0)} µs, ${fmt((8 * bytes) / (rows * cols), 2)} bits/weight)`,
    );
  }
}
const ggmlTiles = new Map<number, Weight>();

const fmt = (x: number, d = 1): string => x.toFixed(d);
const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

console.log(`# node ${process.argv.slice(1).join(' ')}`);
console.log(`# dispatch ${addon.getDispatch()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${load()}`);

const decodeShapes: Array<[number, number]> = [
  [4096, 4096],
  [32000, 1024],
  [512, 1024],
];
const prefillShapes: Array<[number, number]> = quick ? [[1024, 1024]] : [[4096, 4096], [1024, 1024], [512, 1024]];
const streamBytes = (quick ? 256 : 512) << 20;

for (const threads of [1, 2]) {
  addon.setThreads(threads);
  console.log(`\n## ${threads} thread${threads > 1 ? 's' : ''}`);
  console.log(`thread pool: ${fmt(addon.dispatchOverheadUs(20000), 2)} µs per empty parallel op (back to back, median of 5 × 20000)`);
  const bw = addon.memReadBandwidth(1 << 30, threads, 5);
  const bwHuge = addon.memReadBandwidth(1 << 30, threads, 5, true);
  console.log(`memory read bandwidth: ${fmt(bw / 1e9)} GB/s with 4 KiB pages, ${fmt(bwHuge / 1e9)} GB/s with huge pages (sum over 1 GiB, best of 5)`);
  if (ggmlOnly) {
    ggmlSection(streamBytes, ggmlTiles);
    continue;
  }
  expertsSection(threads, bw);
  if (expertsOnly) continue;
  for (const dtype of ['bf16', 'fp8'] as const) {
    for (const [rows, cols] of decodeShapes) {
      const bytes = rows * cols * (dtype === 'bf16' ? 2 : 1);
      const copies = Math.max(1, Math.ceil(streamBytes / bytes));
      const ws = Array.from({ length: copies }, (_, i) => weight(dtype, rows, cols, i));
      const x = new Float32Array(cols).fill(0.5);
      const y = new Float32Array(rows);
      const runs = Math.max(copies * 2, quick ? 10 : 30);
      const t = time((i) => matmul(ws[i % copies]!, x, y, 1), runs);
      console.log(
        `decode matvec ${dtype} [${rows}, ${cols}]: ${fmt(bytes / t.medianS / 1e9)} GB/s median, ${fmt(bytes / t.minS / 1e9)} best (${fmt(t.medianS * 1e6, 0)} µs)`,
      );
    }
  }
  ggmlSection(streamBytes, ggmlTiles);
  for (const dtype of ['bf16', 'fp8'] as const) {
    for (const [rows, cols] of prefillShapes) {
      const T = 512;
      const w = weight(dtype, rows, cols, 0);
      const x = new Float32Array(T * cols).fill(0.25);
      const y = new Float32Array(T * rows);
      const t = time(() => matmul(w, x, y, T), quick ? 3 : 5);
      const flops = 2 * T * rows * cols;
      console.log(`prefill matmul ${dtype} T=${T} [${rows}, ${cols}]: ${fmt(flops / t.medianS / 1e9)} GFLOP/s median, ${fmt(flops / t.minS / 1e9)} best (${fmt(t.medianS * 1e3)} ms)`);
    }
  }
  {
    // One full-attention layer of the bench checkpoint over a 512-token prompt: 16 query heads, 1 KV head, 192/128.
    const [T, Hq, Hkv, Dqk, Dv] = [512, 16, 1, 192, 128];
    const q = new Float32Array(T * Hq * Dqk).fill(0.01);
    const k = new Float32Array(T * Hkv * Dqk).fill(0.02);
    const v = new Float32Array(T * Hkv * Dv).fill(0.5);
    const out = new Float32Array(T * Hq * Dv);
    const t = time(() => addon.attention(out, q, k, v, 0, T, Hq, Hkv, Dqk, Dv, null, null, new Float32Array(0), new Float32Array(0), 0), quick ? 3 : 5);
    const flops = 2 * Hq * ((T * (T + 1)) / 2) * (Dqk + Dv);
    console.log(`prefill attention T=${T} Hq=${Hq} Hkv=${Hkv} full causal: ${fmt(flops / t.medianS / 1e9)} GFLOP/s median (${fmt(t.medianS * 1e3)} ms)`);
  }
}
console.log(`\n# load average after: ${load()}`);
