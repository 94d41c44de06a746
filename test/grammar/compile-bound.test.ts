/**
 * Compile time is bounded: every new grammar compiles first on a worker thread under `compileTimeoutMs`; a slower
 * one is refused with a RequestError naming the parameter while the event loop keeps running, grammars compiled
 * before keep working, and the next compile (on a fresh worker) succeeds. A schema that crashes xgrammar
 * ("memory access out of bounds" on a 60-deep nesting) is refused by the worker and never reaches the runtime's
 * own instance.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MiMoEngine } from '../../src/engine/engine.js';
import { RequestError } from '../../src/errors.js';
import type { GrammarRuntime } from '../../src/grammar/runtime.js';
import type { GrammarSpec } from '../../src/grammar/spec.js';
import { tinyCheckpoint } from '../helpers/server.js';

let engine: MiMoEngine;
let rt: GrammarRuntime;

before(async () => {
  engine = MiMoEngine.load(await tinyCheckpoint());
  rt = engine.generator.grammar()!;
});
after(() => engine.close());

/** An object of `n` required bounded strings: compile time grows with n (≈ 0.7 s for 300 on this VM). */
function manyProps(n: number, tag: string): GrammarSpec {
  const names = Array.from({ length: n }, (_, i) => `${tag}${i}`);
  return { type: 'json_schema', schema: { type: 'object', properties: Object.fromEntries(names.map((k) => [k, { type: 'string', maxLength: 20 }])), required: names, additionalProperties: false } };
}

/** The ids the matcher allows now. */
function allowed(m: ReturnType<import('../../src/grammar/runtime.js').CompiledGrammar['newMatcher']>): number[] {
  const v = m.handle.GetNextTokenBitmask(engine.model.config.vocabSize);
  const bits = m.binding.vecIntToView(v).slice();
  v.delete();
  const out: number[] = [];
  for (let id = 0; id < engine.model.config.vocabSize; id++) if ((bits[id >>> 5]! >>> (id & 31)) & 1) out.push(id);
  return out;
}

test('a compile past the limit is a RequestError naming the parameter; the event loop runs meanwhile; earlier grammars keep working', async () => {
  rt.compileTimeoutMs = 10_000;
  const small = await rt.compile({ type: 'choice', choices: ['yes', 'no'] }, 'guided_choice');
  assert.equal(small.cached, false);
  const m = small.grammar.newMatcher();
  const before = allowed(m);
  assert.ok(before.length > 0);

  rt.compileTimeoutMs = 100;
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  const t0 = performance.now();
  await assert.rejects(rt.compile(manyProps(800, 'slow'), 'response_format'), (e: unknown) => {
    assert.ok(e instanceof RequestError);
    assert.equal(e.param, 'response_format');
    assert.match(e.message, /did not compile it within 100 ms/);
    return true;
  });
  clearInterval(timer);
  const waited = performance.now() - t0;
  assert.ok(waited < 5_000, `refused after ${waited.toFixed(0)} ms`);
  // A compile on the main thread would block the loop until it ends: no tick could run before the rejection.
  assert.ok(ticks >= 1, `the event loop ran ${ticks} timer ticks during the compile`);

  assert.deepEqual(allowed(m), before, 'a grammar compiled before the time-out still masks');
  m.handle.delete();

  rt.compileTimeoutMs = 60_000;
  const again = await rt.compile(manyProps(800, 'slow'), 'response_format');
  assert.equal(again.cached, false);
  assert.ok(again.grammar.compileSeconds > 0);
  assert.equal((await rt.compile(manyProps(800, 'slow'), 'response_format')).cached, true);
});

test('a schema that crashes xgrammar is refused by the worker; the runtime instance keeps compiling', async () => {
  rt.compileTimeoutMs = 10_000;
  const first = await rt.compile({ type: 'regex', pattern: '[0-9]{1,3}' }, 'guided_regex');
  let s: Record<string, unknown> = { type: 'integer' };
  for (let i = 0; i < 60; i++) s = { type: 'object', properties: { a: s, b: { type: 'string', maxLength: 10 } }, required: ['a', 'b'], additionalProperties: false };
  await assert.rejects(rt.compile({ type: 'json_schema', schema: s }, 'response_format'), /response_format: xgrammar cannot compile it: /);
  const m = first.grammar.newMatcher();
  assert.ok(allowed(m).length > 0);
  m.handle.delete();
  const next = await rt.compile({ type: 'regex', pattern: '[a-c]{2}' }, 'guided_regex');
  assert.equal(next.cached, false);
});

test('grammarCompileTimeoutMs is checked at load', async () => {
  const dir = await tinyCheckpoint();
  for (const bad of [0, -5, 1.5, '10']) {
    assert.throws(() => MiMoEngine.load(dir, { grammarCompileTimeoutMs: bad as number }), /grammarCompileTimeoutMs: must be an integer number of ms ≥ 1/);
  }
  const e = MiMoEngine.load(dir, { grammarCompileTimeoutMs: 1234 });
  assert.equal(e.generator.grammar()!.compileTimeoutMs, 1234);
  e.close();
});

test('an idle compile worker does not keep the process alive (a runtime never closed still exits)', async () => {
  const { spawnSync } = await import('node:child_process');
  const runtimeUrl = new URL('../../src/grammar/runtime.js', import.meta.url).href;
  const script = `import { GrammarRuntime } from ${JSON.stringify(runtimeUrl)};
const rt = new GrammarRuntime({ encoded: ['a', 'b', 'c'], vocabSize: 4, stopIds: [3] });
const r = await rt.compile({ type: 'regex', pattern: '[ab]c' }, 'guided_regex');
console.log('compiled', r.cached);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.signal, null, 'the process was killed by the time-out: it did not exit by itself');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /compiled false/);
});
