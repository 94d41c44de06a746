/**
 * `precision: 'fast'` (8-bit activations) end to end on a small GGUF (`mimo quantize --type q8_0` of the k256
 * checkpoint with fixed routing): 'exact' and no option give the same bits; 'fast' marks the Q8_0 linear weights, changes the logits
 * slightly (within 5% of the largest; not bitwise), is the same on the native and the TypeScript backends (1e-4) and
 * row invariant (chunked prefill = whole, bitwise) on every dispatch level; it is refused for a safetensors checkpoint
 * and for a GGUF without Q8_0/Q4_0/… weights; an unknown precision is a RequestError (library) or a usage error
 * naming the choices (CLI).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { MiMoEngine } from '../../src/engine/engine.js';
import { RequestError } from '../../src/errors.js';
import type { Backend, Weight } from '../../src/kernels/backend.js';
import { moeExpertsVia } from '../../src/kernels/reference/moe-experts.js';
import { matmulInt8Activations } from '../../src/kernels/reference/q8-activations.js';
import { DISPATCH_LEVELS } from '../../src/kernels/native/addon.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import { loadModel, type LoadedModel } from '../../src/model/load.js';
import { quantizeCheckpoint } from '../../src/model/mimo-v2/gguf-quantize.js';
import { parsePrecision } from '../../src/model/precision.js';
import { maxAbs, maxAbsDiff, repoRoot } from '../helpers/fixtures.js';
import { makeK256Checkpoint } from '../helpers/k256-checkpoint.js';
import { assertBitwise } from '../helpers/kernel-check.js';
import { needNative } from '../helpers/native.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-precision-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ckptDir = path.join(tmp, 'k256');
const q8File = path.join(tmp, 'k256-q8_0.gguf');
const bf16File = path.join(tmp, 'k256-bf16.gguf');
before(async () => {
  // Fixed routing: near-tied random routers would flip experts under any perturbation (fast's or the weights' own).
  makeK256Checkpoint(ckptDir, { fixedRouting: true });
  await quantizeCheckpoint({ input: ckptDir, output: q8File, type: 'q8_0' });
  await quantizeCheckpoint({ input: ckptDir, output: bf16File, type: 'bf16' });
});

const IDS = [1, 17, 300, 42, 511, 7, 99, 256, 3, 128, 64];

/** Linear weights of a loaded model with `activations: 'int8'`. */
function int8Count(obj: unknown): number {
  if (typeof obj !== 'object' || obj === null || ArrayBuffer.isView(obj)) return 0;
  if ('dtype' in obj && 'rows' in obj) return (obj as Weight).activations === 'int8' ? 1 : 0;
  return Object.values(obj).reduce((n: number, v) => n + int8Count(v), 0);
}

function logits(m: LoadedModel, ids = IDS): Float32Array {
  return m.model.computeLogits(m.model.forward(ids, m.model.newCache()), ids.length);
}

test("precision 'exact' is the default path bitwise; 'fast' changes the logits slightly, its kernels = the definition in the model", (t) => {
  const addon = needNative(t);
  if (!addon) return;
  const native = createNativeBackend();
  const plain = loadModel(q8File, { backend: native });
  const exact = loadModel(q8File, { backend: native, precision: 'exact' });
  const fast = loadModel(q8File, { backend: native, precision: 'fast' });
  assert.equal(int8Count(exact.model.weights), 0);
  assert.equal(exact.int8Weights, 0);
  assert.ok(fast.int8Weights > 0 && int8Count(fast.model.weights) === fast.int8Weights, `${fast.int8Weights} weights marked`);
  const lp = logits(plain);
  assertBitwise(logits(exact), lp, "'exact' = no option");
  const lf = logits(fast);
  const d = maxAbsDiff(lf, lp);
  t.diagnostic(`max |logit fast − exact| ${d.toExponential(2)} of max |logit| ${maxAbs(lp).toFixed(3)}`);
  assert.ok(d > 0, "'fast' gives other bits than 'exact'");
  assert.ok(d <= 0.05 * maxAbs(lp), `'fast' moved the logits by ${d}`);
  // Of the order of the Q8_0 weights' own error (this file against its BF16 twin, both exact).
  const weightsError = maxAbsDiff(lp, logits(loadModel(bf16File, { backend: native })));
  t.diagnostic(`Q8_0 weights vs BF16, both exact: ${weightsError.toExponential(2)}`);
  assert.ok(d <= 2 * weightsError, `'fast' moved the logits by ${d}, more than twice the Q8_0 weights' ${weightsError}`);
  // The native backend with its int8 matmuls replaced by the TypeScript definition (matmul and, through
  // moeExpertsVia, the experts; every other op native): the same bits as the native int8 kernels, in the whole model.
  const hybridBackend: Backend = {
    ...native,
    name: 'native',
    matmul: (x, T, w) => (w.activations === 'int8' ? matmulInt8Activations(x, T, w) : native.matmul(x, T, w)),
    moeExperts: (x, T, experts, ids, weights) => moeExpertsVia({ matmul: hybridBackend.matmul, swiglu: native.swiglu }, x, T, experts, ids, weights),
  };
  const hybrid = loadModel(q8File, { backend: hybridBackend, precision: 'fast' });
  // The TypeScript backend end to end: other ops round differently, and a last-bit change of an activation can move
  // its int8 code by one, so only close.
  const ts = logits(loadModel(q8File, { precision: 'fast', onNote: () => {} }));
  const before = addon.getDispatch();
  try {
    for (const level of DISPATCH_LEVELS.slice(DISPATCH_LEVELS.indexOf(addon.bestDispatch()))) {
      addon.setDispatch(level);
      const got = logits(fast);
      assertBitwise(got, logits(hybrid), `${level}: native int8 kernels = the TypeScript definition inside the model`);
      const dt = maxAbsDiff(got, ts);
      t.diagnostic(`${level}: max |fast native − fast TypeScript backend| ${dt.toExponential(2)}`);
      assert.ok(dt <= 0.05 * maxAbs(ts), `${level}: fast native vs fast TypeScript ${dt}`);
      const D = fast.config.hiddenSize;
      const whole = fast.model.forward(IDS, fast.model.newCache());
      const cache = fast.model.newCache();
      const parts = new Float32Array(IDS.length * D);
      for (let s = 0; s < IDS.length; s += 3) parts.set(fast.model.forward(IDS.slice(s, s + 3), cache), s * D);
      assertBitwise(parts, whole, `${level}: chunks of 3 = whole prefill`);
    }
  } finally {
    addon.setDispatch(before);
  }
});

test("'fast' is refused for a safetensors checkpoint and for a GGUF without Q8_0/Q4_0/… weights", () => {
  assert.throws(() => loadModel(ckptDir, { precision: 'fast' }), (e: unknown) => e instanceof RequestError && /safetensors checkpoint directory .*mimo quantize/.test(e.message));
  assert.throws(() => loadModel(bf16File, { precision: 'fast', onNote: () => {} }), (e: unknown) => e instanceof RequestError && /GGUF without weights of those types/.test(e.message));
  assert.throws(() => MiMoEngine.load(ckptDir, { backend: 'ts', precision: 'fast' }), /precision: 'fast' \(8-bit activations\) needs a GGUF model/);
});

test('an unknown precision is a RequestError naming the choices (library) and a usage error (CLI)', () => {
  assert.equal(parsePrecision(undefined), 'exact');
  assert.throws(() => parsePrecision('int8'), (e: unknown) => e instanceof RequestError && e.param === 'precision' && /'exact' .* or 'fast'/.test(e.message));
  assert.throws(() => MiMoEngine.load(q8File, { backend: 'ts', precision: 'half' as never }), /precision: must be 'exact'/);
  const main = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  for (const cmd of ['run', 'serve', 'bench']) {
    const r = spawnSync(process.execPath, [main, cmd, '--precision', 'half', '--model', q8File], { encoding: 'utf8', timeout: 60_000 });
    assert.notEqual(r.status, 0, `${cmd} exits non-zero`);
    assert.match(r.stderr, /--precision: expected one of exact, fast, got "half"/, `${cmd}: ${r.stderr}`);
  }
});
