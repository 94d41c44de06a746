/**
 * Cross-engine (issue 15): the GGUF files `mimo quantize` writes load in llama.cpp (node-llama-cpp, the anchor
 * installed on first use in <cache>/bench/llamacpp-anchor, bench/lib/anchor.ts) and give, teacher-forced, the log-softmax of our
 * TypeScript reference on the same file: the top-10 tokens of every position within 0.1 (llama.cpp rounds
 * activations to its dot-product types for quantised weights); greedy agreement and the largest distance are
 * reported. An anchor that cannot be installed is a failure saying why, not a skip.
 */
import { anchorDir, ensureAnchor } from '../../bench/lib/anchor.js';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { loadModel } from '../../src/model/load.js';
import { quantizeCheckpoint } from '../../src/model/mimo-v2/gguf-quantize.js';
import { initCheckpoint } from '../../src/model/mimo-v2/init.js';
import { argmax } from '../helpers/fixtures.js';
import { makeK256Checkpoint } from '../helpers/k256-checkpoint.js';

// The anchor is installed on first use (copy of ../shared/tools/llamacpp-anchor + npm ci), as `npm run bench` does.
let anchorProblem = '';
await ensureAnchor().catch((e: Error) => (anchorProblem = e.message));
const anchorModule = path.join(anchorDir(), 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-quantize-llamacpp-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ckptDir = path.join(tmp, 'k256');
before(() => makeK256Checkpoint(ckptDir, { fixedRouting: true }));

const IDS = [1, 17, 300, 42, 511, 7, 99, 256, 3, 128, 64, 500];

/** The part of node-llama-cpp's API this test drives (its types live in the anchor's folder, not in this project). */
interface NodeLlamaCpp {
  LlamaLogLevel: { error: unknown };
  getLlama(o: Record<string, unknown>): Promise<{
    loadModel(o: Record<string, unknown>): Promise<{
      createContext(o: Record<string, unknown>): Promise<{
        getSequence(): { controlledEvaluate(input: unknown[]): Promise<Array<{ next?: { token?: number; probabilities?: Map<number, number> } }>> };
        dispose(): Promise<void>;
      }>;
      dispose(): Promise<void>;
    }>;
    dispose(): Promise<void>;
  }>;
}

function logSoftmax(row: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]!);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i]! - m);
  const l = Math.log(s) + m;
  return Float64Array.from(row as ArrayLike<number>, (v) => v - l);
}

test('llama.cpp (node-llama-cpp) is installed for the cross-engine check', () => {
  assert.ok(fs.existsSync(anchorModule), `node-llama-cpp not found at ${anchorModule}, and installing it failed: ${anchorProblem}`);
});

/**
 * Rewrites every `e_score_correction_bias` of a safetensors checkpoint in place: experts 0 … k−1 get biases k+1 … 2,
 * the rest −2 (scores are in (0, 1)), so every token picks the same experts in both engines whatever their rounding
 * (makeK256Checkpoint's fixedRouting, for a checkpoint `mimo init` wrote).
 */
function fixRouting(dir: string, k: number): void {
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.safetensors'))) {
    const fd = fs.openSync(path.join(dir, f), 'r+');
    try {
      const len = Buffer.alloc(8);
      fs.readSync(fd, len, 0, 8, 0);
      const n = Number(len.readBigUInt64LE());
      const head = Buffer.alloc(n);
      fs.readSync(fd, head, 0, n, 8);
      const header = JSON.parse(head.toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
      for (const [name, info] of Object.entries(header)) {
        if (!name.endsWith('e_score_correction_bias')) continue;
        assert.equal(info.dtype, 'F32', name);
        const bias = Float32Array.from({ length: info.shape[0]! }, (_, e) => (e < k ? k + 1 - e : -2));
        fs.writeSync(fd, new Uint8Array(bias.buffer), 0, bias.byteLength, 8 + n + info.data_offsets[0]);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Our reference's and llama.cpp's teacher-forced log-softmax on the GGUF `out`: top-10 of every position within 0.1. */
async function agreesWithLlamaCpp(t: TestContext, out: string, label: string): Promise<void> {
  const m = loadModel(out, { onNote: () => {} });
  const V = m.config.vocabSize;
  const ours = m.model.computeLogits(m.model.forward(IDS, m.model.newCache()), IDS.length);
  const { getLlama, LlamaLogLevel } = (await import(anchorModule)) as NodeLlamaCpp;
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 2 });
  try {
    const model = await llama.loadModel({ modelPath: out, gpuLayers: 0, experimentalDefaultContextKvCacheKeyType: 'F32', experimentalDefaultContextKvCacheValueType: 'F32' });
    const ctx = await model.createContext({ contextSize: 64, batchSize: 32, threads: 2 });
    const res = await ctx.getSequence().controlledEvaluate(IDS.map((id) => [id, { generateNext: { probabilities: true, token: true, options: { temperature: 0 } } }]));
    let worst = 0;
    let agree = 0;
    for (let p = 0; p < IDS.length; p++) {
      const mine = logSoftmax(ours.subarray(p * V, (p + 1) * V));
      const theirs = new Float64Array(V).fill(-Infinity);
      for (const [tok, prob] of res[p]!.next!.probabilities!) theirs[tok] = Math.log(prob);
      const top10 = Array.from(mine.keys()).sort((a, b) => mine[b]! - mine[a]!).slice(0, 10);
      for (const tok of top10) worst = Math.max(worst, Math.abs(mine[tok]! - theirs[tok]!));
      if (argmax(mine) === res[p]!.next!.token) agree++;
    }
    t.diagnostic(`${label}: max |Δ log p| over each position's top-10 = ${worst.toExponential(2)}; greedy (argmax) agreement ${agree}/${IDS.length}`);
    assert.ok(worst <= 0.1, `${label}: top-10 log-softmax differs from llama.cpp by ${worst} > 0.1`);
    await ctx.dispose();
    await model.dispose();
  } finally {
    await llama.dispose();
  }
}

for (const type of ['q8_0', 'q4_k_m', 'q5_k_m', 'q6_k', 'iq4_xs', 'mxfp4', 'bf16'] as const) {
  test(`llama.cpp loads our ${type} GGUF (MTP blocks included) and agrees with our reference on it`, { skip: !fs.existsSync(anchorModule) && 'see the installation test above' }, async (t) => {
    const out = path.join(tmp, `k256-${type}.gguf`);
    await quantizeCheckpoint({ input: ckptDir, output: out, type });
    await agreesWithLlamaCpp(t, out, type);
  });
}

test('llama.cpp loads our GGUF of a V2.6 checkpoint (MXFP4 experts repacked, BF16 router, fixed routing) and agrees with our reference on it', { skip: !fs.existsSync(anchorModule) && 'see the installation test above' }, async (t) => {
  const v26 = path.join(tmp, 'v26');
  await initCheckpoint({ preset: 'mimo-v2.6-flash', scale: 'tiny', outDir: v26, numMtpLayers: 1 });
  fixRouting(v26, (JSON.parse(fs.readFileSync(path.join(v26, 'config.json'), 'utf8')) as { num_experts_per_tok: number }).num_experts_per_tok);
  const out = path.join(tmp, 'v26-mxfp4.gguf');
  await quantizeCheckpoint({ input: v26, output: out, type: 'mxfp4' });
  await agreesWithLlamaCpp(t, out, 'V2.6 mxfp4');
});
