/**
 * Golden suite (fixtures/README §4): for every case under $MIMO_FIXTURES, logits and hidden states of one full
 * forward within the case's tolerance, greedy ids through the KV cache exactly equal to `greedy_ids`, and every
 * `mtp_logits_k`. Fails when no case is found.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { Generator } from '../../src/engine/generate.js';
import { loadModel } from '../../src/model/load.js';
import type { Backend } from '../../src/kernels/backend.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import { referenceBackend } from '../../src/kernels/reference/ops.js';
import { selectBackend, type BackendChoice } from '../../src/kernels/select.js';
import { nativeSkip, needNative } from '../helpers/native.js';
import { argmax, discoverCases, fixturesDir, maxAbs, maxAbsDiff, readGolden } from '../helpers/fixtures.js';

const cases = discoverCases();

test('golden fixtures are present', () => {
  assert.ok(cases.length > 0, `no golden case found under ${fixturesDir()} (set MIMO_FIXTURES)`);
});

/**
 * Backends to check: $MIMO_BACKEND alone when set (`native` must then load), else the TypeScript reference and,
 * when the addon is built, the native backend too.
 */
function backends(): Array<{ name: string; make: () => Backend; skip: string | false }> {
  const env = process.env['MIMO_BACKEND'] as BackendChoice | undefined;
  if (env) return [{ name: env, make: () => selectBackend(env).backend, skip: false }];
  // Without the addon nativeSkip says why, except under CI, where the case runs and createNativeBackend's error fails it.
  return [
    { name: 'ts', make: () => referenceBackend, skip: false },
    { name: 'native', make: () => createNativeBackend(), skip: nativeSkip },
  ];
}

for (const dir of cases) for (const b of backends()) {
  const name = path.basename(dir);
  test(`golden case ${name} (${b.name} backend)`, { skip: b.skip }, async (t) => {
    const g = readGolden(dir);
    const { model, config, report } = loadModel(dir, { backend: b.make() });
    const ids = Array.from(g.tensors.get('input_ids')!.data);
    const T = ids.length;
    const V = config.vocabSize;
    const D = config.hiddenSize;
    const logitTol = (golden: Float32Array) => 2e-3 * Math.max(1, maxAbs(golden));

    await t.test('loads every text tensor', () => {
      assert.deepEqual(report.unusedTensors, []);
    });

    let hidden: Float32Array;
    await t.test('full forward: hidden states and logits', () => {
      hidden = model.forward(ids, model.newCache());
      const gh = g.tensors.get('hidden_states')!.data;
      const dh = maxAbsDiff(hidden, gh);
      assert.ok(dh <= g.json.tolerance.hidden_states_max_abs_diff, `hidden max diff ${dh}`);
      const logits = model.computeLogits(hidden, T);
      const gl = g.tensors.get('logits')!.data;
      const d = maxAbsDiff(logits, gl);
      assert.ok(d <= logitTol(gl), `logits max diff ${d} > ${logitTol(gl)}`);
    });

    await t.test('greedy decode with the KV cache equals greedy_ids', () => {
      const P = g.tensors.get('prefix_len')!.data[0]!;
      const want = Array.from(g.tensors.get('greedy_ids')!.data);
      const cache = model.newCache();
      let h = model.forward(ids.slice(0, P), cache);
      let logits = model.computeLogits(h.subarray((P - 1) * D), 1);
      const got: number[] = [];
      for (let j = 0; j < want.length; j++) {
        const next = argmax(logits);
        got.push(next);
        if (j + 1 < want.length) {
          h = model.forward([next], cache);
          logits = model.computeLogits(h, 1);
        }
      }
      assert.deepEqual(got, want);
    });

    await t.test('greedy decode with MTP self-speculation equals greedy_ids', async () => {
      const P = g.tensors.get('prefix_len')!.data[0]!;
      const want = Array.from(g.tensors.get('greedy_ids')!.data);
      const gen = new Generator(model, null);
      for (let k = 1; k <= model.numMtpLayers; k++) {
        const r = await gen.generate(ids.slice(0, P), { temperature: 0, maxTokens: want.length, mtp: k, stopTokenIds: [] });
        assert.deepEqual(r.tokenIds, want, `mtp ${k}`);
      }
    });

    await t.test('MTP logits', () => {
      const K = model.numMtpLayers;
      assert.equal(K, [...g.tensors.keys()].filter((n) => n.startsWith('mtp_logits_')).length);
      for (let k = 0; k < K; k++) {
        const rows = T - k - 1;
        const cache = model.newCache();
        const gk = model.mtpForward(k, hidden!.subarray(0, rows * D), ids.slice(k + 1, k + 1 + rows), cache);
        const logits = model.computeLogits(gk, rows);
        const gl = g.tensors.get(`mtp_logits_${k}`)!;
        assert.deepEqual(gl.shape, [rows, V]);
        const d = maxAbsDiff(logits, gl.data);
        assert.ok(d <= logitTol(gl.data), `mtp_logits_${k} max diff ${d} > ${logitTol(gl.data)}`);
      }
    });
  });
}

test('the native backend implements every op itself (no per-op fallback to the reference)', (t) => {
  if (!needNative(t)) return;
  const native = createNativeBackend();
  for (const [op, fn] of Object.entries(referenceBackend)) {
    if (typeof fn !== 'function') continue;
    const own = (native as unknown as Record<string, unknown>)[op];
    assert.equal(typeof own, 'function', `native backend lacks ${op}`);
    assert.notEqual(own, fn, `native backend's ${op} is the reference implementation`);
  }
});
