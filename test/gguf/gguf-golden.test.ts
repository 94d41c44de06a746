/**
 * Independent writer (issue 15, Tests): every golden case converted to GGUF by llama.cpp's converter as the anchor
 * ships it (../shared/tools/llamacpp-anchor/hf_to_gguf.py: placeholder tokenizer, no MTP, routed scale folded, V heads
 * padded) in f32, f16, bf16 and q8_0 loads through `loadModel` and
 * - f32: reproduces the golden logits within the case tolerance and the greedy ids exactly;
 * - f16 / bf16 / q8_0: reproduces, within the same tolerance and with the same greedy ids, our reference forward on
 *   the file's own weights dequantised by the anchor's Python GGUF reader (test/gguf/gguf_to_f32_checkpoint.py) into
 *   a float32 safetensors checkpoint; the distance to the goldens is reported as a diagnostic.
 * On the TypeScript reference backend and, when the addon is built, the native backend (F16/BF16 as its own dtypes,
 * Q8_0 as stored, through its block kernels: no tensor dequantised at load). Needs python3 with numpy.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import type { Backend } from '../../src/kernels/backend.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import { referenceBackend } from '../../src/kernels/reference/ops.js';
import { Generator } from '../../src/engine/generate.js';
import { GgufModelFiles } from '../../src/loader/gguf.js';
import { loadModel, type LoadedModel } from '../../src/model/load.js';
import { ggmlTypeName } from '../../src/tensor/formats/ggml/types.js';
import { argmax, discoverCases, maxAbs, maxAbsDiff, readGolden, repoRoot } from '../helpers/fixtures.js';
import { nativeSkip } from '../helpers/native.js';

const anchor = path.resolve(repoRoot, '..', 'shared', 'tools', 'llamacpp-anchor');
const toF32 = path.join(repoRoot, 'test', 'gguf', 'gguf_to_f32_checkpoint.py');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-gguf-golden-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TYPES = ['f32', 'f16', 'bf16', 'q8_0'] as const;
const cases = discoverCases();

test('golden cases and the converter are present', () => {
  assert.ok(cases.length > 0, 'no golden case found');
  assert.ok(fs.existsSync(path.join(anchor, 'hf_to_gguf.py')), `no converter at ${anchor}`);
});

/** Convert a case (memoised): the GGUF, and its weights dequantised into an f32 checkpoint. */
const made = new Map<string, { gguf: string; f32Dir: string }>();
function convert(caseDir: string, type: string): { gguf: string; f32Dir: string } {
  const key = `${path.basename(caseDir)}-${type}`;
  let m = made.get(key);
  if (!m) {
    const gguf = path.join(tmp, `${key}.gguf`);
    execFileSync('python3', [path.join(anchor, 'hf_to_gguf.py'), caseDir, gguf, '--type', type, '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const f32Dir = path.join(tmp, `${key}-dequantised`);
    execFileSync('python3', [toF32, anchor, gguf, path.join(caseDir, 'config.json'), f32Dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    m = { gguf, f32Dir };
    made.set(key, m);
  }
  return m;
}

/** Tensors per ggml type in a GGUF file. */
function typeCounts(file: string): Record<string, number> {
  const f = new GgufModelFiles([file]);
  const out: Record<string, number> = {};
  for (const t of f.tensors.values()) out[ggmlTypeName(t.type)] = (out[ggmlTypeName(t.type)] ?? 0) + 1;
  f.close();
  return out;
}
let q8Files = 0;

/** Weights of dtype 'ggml' (block-quantised, kept as stored) anywhere under a model's weights. */
function ggmlWeights(obj: unknown): number {
  if (typeof obj !== 'object' || obj === null || ArrayBuffer.isView(obj)) return 0;
  if ('dtype' in obj && 'rows' in obj) return (obj as { dtype: string }).dtype === 'ggml' ? 1 : 0;
  return Object.values(obj).reduce((n: number, v) => n + ggmlWeights(v), 0);
}

function run(loaded: LoadedModel, ids: number[], prefixLen: number, steps: number): { logits: Float32Array; greedy: number[] } {
  const { model, config } = loaded;
  const logits = model.computeLogits(model.forward(ids, model.newCache()), ids.length);
  const cache = model.newCache();
  let h = model.forward(ids.slice(0, prefixLen), cache);
  let last = model.computeLogits(h.subarray((prefixLen - 1) * config.hiddenSize), 1);
  const greedy: number[] = [];
  for (let j = 0; j < steps; j++) {
    greedy.push(argmax(last));
    if (j + 1 < steps) {
      h = model.forward([greedy[j]!], cache);
      last = model.computeLogits(h, 1);
    }
  }
  return { logits, greedy };
}

const backends: Array<{ name: string; make: () => Backend; skip: string | false }> = [
  { name: 'ts', make: () => referenceBackend, skip: false },
  { name: 'native', make: () => createNativeBackend(), skip: nativeSkip },
];

for (const dir of cases) for (const type of TYPES) for (const b of backends) {
  const name = path.basename(dir);
  test(`GGUF ${type} of ${name} (${b.name} backend)`, { skip: b.skip }, (t) => {
    const g = readGolden(dir);
    const ids = Array.from(g.tensors.get('input_ids')!.data);
    const P = g.tensors.get('prefix_len')!.data[0]!;
    const wantGreedy = Array.from(g.tensors.get('greedy_ids')!.data);
    const goldenLogits = g.tensors.get('logits')!.data;
    const tol = 2e-3 * Math.max(1, maxAbs(goldenLogits));
    const { gguf, f32Dir } = convert(dir, type);
    const notes: string[] = [];
    const loaded = loadModel(gguf, { backend: b.make(), onNote: (m) => notes.push(m) });
    assert.deepEqual(loaded.report.unusedTensors, []);
    assert.equal(loaded.model.numMtpLayers, 0, 'the converter drops MTP layers');
    const counts = typeCounts(gguf);
    t.diagnostic(`tensor types in the file: ${JSON.stringify(counts)}`);
    if (type === 'q8_0') q8Files += counts['Q8_0'] ? 1 : 0;
    assert.deepEqual(notes, []);
    if (b.name === 'native' && counts['Q8_0']) assert.ok(ggmlWeights(loaded.model.weights) > 0, 'the native backend runs Q8_0 tensors as stored (ggml weights)');
    const got = run(loaded, ids, P, wantGreedy.length);
    const toGolden = maxAbsDiff(got.logits, goldenLogits);
    t.diagnostic(`max |logit − golden| = ${toGolden.toExponential(3)} (tolerance ${tol.toExponential(3)}); greedy ids ${JSON.stringify(got.greedy) === JSON.stringify(wantGreedy) ? 'equal' : 'differ from'} the goldens`);
    if (type === 'f32') {
      assert.ok(toGolden <= tol, `logits max diff to the goldens ${toGolden} > ${tol}`);
      assert.deepEqual(got.greedy, wantGreedy);
      return;
    }
    const ref = run(loadModel(f32Dir), ids, P, wantGreedy.length);
    const toRef = maxAbsDiff(got.logits, ref.logits);
    t.diagnostic(`max |logit − reference on the dequantised weights| = ${toRef.toExponential(3)}`);
    assert.ok(toRef <= tol, `logits max diff to the reference forward on the dequantised weights ${toRef} > ${tol}`);
    assert.deepEqual(got.greedy, ref.greedy);
  });
}

test('the q8_0 conversions hold Q8_0 tensors (rows of 32 × k; the converter writes F16 otherwise)', () => {
  assert.ok(q8Files > 0, 'no q8_0 conversion held a Q8_0 tensor: the Q8_0 path was not tested');
});

/** Cases with separate q/k/v and MTP layers: converted with their MTP layers in llama.cpp's `nextn` names. */
const mtpCases = cases.filter((d) => !JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8')).attention_projection_layout);

test('there are MTP cases to convert', () => assert.ok(mtpCases.length > 0));

for (const dir of mtpCases) {
  test(`GGUF f32 with nextn MTP layers of ${path.basename(dir)}: MTP logits and self-speculative greedy equal the goldens`, async () => {
    const g = readGolden(dir);
    const gguf = path.join(tmp, `${path.basename(dir)}-mtp.gguf`);
    execFileSync('python3', [path.join(repoRoot, 'test', 'gguf', 'hf_to_gguf_with_mtp.py'), anchor, dir, gguf], { stdio: ['ignore', 'ignore', 'pipe'] });
    const { model, config, report } = loadModel(gguf);
    assert.deepEqual(report.unusedTensors, []);
    const K = [...g.tensors.keys()].filter((n) => n.startsWith('mtp_logits_')).length;
    assert.equal(model.numMtpLayers, K);
    const ids = Array.from(g.tensors.get('input_ids')!.data);
    const T = ids.length;
    const D = config.hiddenSize;
    const hidden = model.forward(ids, model.newCache());
    for (let k = 0; k < K; k++) {
      const rows = T - k - 1;
      const gk = model.mtpForward(k, hidden.subarray(0, rows * D), ids.slice(k + 1, k + 1 + rows), model.newCache());
      const gl = g.tensors.get(`mtp_logits_${k}`)!.data;
      const d = maxAbsDiff(model.computeLogits(gk, rows), gl);
      assert.ok(d <= 2e-3 * Math.max(1, maxAbs(gl)), `mtp_logits_${k} max diff ${d}`);
    }
    const P = g.tensors.get('prefix_len')!.data[0]!;
    const want = Array.from(g.tensors.get('greedy_ids')!.data);
    const gen = new Generator(model, null);
    const r = await gen.generate(ids.slice(0, P), { temperature: 0, maxTokens: want.length, mtp: K, stopTokenIds: [] });
    assert.deepEqual(r.tokenIds, want);
  });
}
