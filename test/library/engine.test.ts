/**
 * The library front door as a new user meets it (issue 14): a TypeScript fallback is announced (onWarning, or one
 * process warning), `engine.backend` names the backend, `generate()` returns the answer parsed as the server does
 * ({ text, reasoning, toolCalls } and the raw text), errors name the library's options, and `close()` unmaps the
 * checkpoint files and releases the kernels' threads.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { MiMoEngine } from '../../src/engine/engine.js';
import { parseResult } from '../../src/engine/library-result.js';
import type { GenerationResult } from '../../src/engine/generate.js';
import { RequestError } from '../../src/errors.js';
import { nativeSkip, needNative } from '../helpers/native.js';
import { tinyCheckpoint } from '../helpers/server.js';

let dir = '';
before(async () => {
  dir = await tinyCheckpoint();
});

/** Run `fn` with the native addon made unloadable. */
function withoutNative<T>(fn: () => T): T {
  const was = process.env['MIMO_NATIVE_DISABLE'];
  process.env['MIMO_NATIVE_DISABLE'] = '1';
  try {
    return fn();
  } finally {
    if (was === undefined) delete process.env['MIMO_NATIVE_DISABLE'];
    else process.env['MIMO_NATIVE_DISABLE'] = was;
  }
}

describe('MiMoEngine.load backend warning', () => {
  it('reports the TypeScript fallback to onWarning and names the backend', () => {
    const seen: string[] = [];
    const engine = withoutNative(() => MiMoEngine.load(dir, { backend: 'auto', onWarning: (m) => seen.push(m) }));
    assert.equal(engine.backend, 'ts');
    assert.equal(seen.length, 1);
    assert.match(seen[0]!, /TypeScript backend, which is much slower .*MIMO_NATIVE_DISABLE=1/);
    assert.equal(engine.backendWarning, seen[0]);
  });

  it('without onWarning emits one process warning, once per process', async () => {
    const warnings: Error[] = [];
    const listener = (w: Error) => warnings.push(w);
    process.on('warning', listener);
    try {
      withoutNative(() => MiMoEngine.load(dir, { backend: 'auto' }));
      withoutNative(() => MiMoEngine.load(dir, { backend: 'auto' }));
      await new Promise((r) => setImmediate(r)); // warnings are delivered on the next tick
    } finally {
      process.off('warning', listener);
    }
    const ours = warnings.filter((w) => w.name === 'MimoWarning');
    assert.equal(ours.length, 1);
    assert.match(ours[0]!.message, /TypeScript backend/);
  });

  it('refuses an unknown load option by name', () => {
    assert.throws(() => MiMoEngine.load(dir, { backnd: 'ts' } as never), (e: unknown) => e instanceof RequestError && e.param === 'backnd' && /valid: backend, threads, onWarning/.test(e.message));
  });
});

describe('generate() result', () => {
  let engine: MiMoEngine;
  before(() => {
    engine = MiMoEngine.load(dir, { backend: 'ts' });
  });

  it('separates reasoning from the answer and keeps the raw text', async () => {
    const r = await engine.generate({ prompt: 'hi' }, { maxTokens: 6, temperature: 0 });
    const raw = await engine.generator.generate(engine.encode({ prompt: 'hi' }), { maxTokens: 6, temperature: 0 });
    assert.equal(r.rawText, raw.text);
    assert.deepEqual(r.tokenIds, raw.tokenIds);
    // Thinking is on: the prompt ends inside <think>, so random text stays reasoning.
    assert.equal(r.finishedInThinking, !raw.text.includes('</think>'));
    if (r.finishedInThinking) {
      assert.equal(r.text, '');
      assert.equal(r.reasoning, raw.text);
    }
    assert.deepEqual(r.toolCalls, []);
    const off = await engine.generate({ prompt: 'hi', enableThinking: false }, { maxTokens: 6, temperature: 0 });
    assert.equal(off.reasoning, '');
    assert.equal(off.text, off.rawText);
  });

  it('parses reasoning and tool calls as the server does', () => {
    const base: GenerationResult = { tokenIds: [], text: '', finishReason: 'stop', stats: {} as GenerationResult['stats'] };
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } } } }];
    const raw = 'check the tool</think>Let me look.<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>';
    const r = parseResult({ ...base, text: raw }, '<|im_start|>assistant\n<think>', tools);
    assert.equal(r.reasoning, 'check the tool');
    assert.equal(r.text, 'Let me look.');
    assert.equal(r.rawText, raw);
    assert.equal(r.toolCalls.length, 1);
    assert.equal(r.toolCalls[0]!.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(r.toolCalls[0]!.function.arguments), { city: 'Paris', days: 3 });
    // Without tools the XML stays text, as on the server.
    const plain = parseResult({ ...base, text: raw }, '<|im_start|>assistant\n<think>', null);
    assert.deepEqual(plain.toolCalls, []);
    assert.match(plain.text, /<tool_call>/);
  });

  it('names the library option in errors', async () => {
    const check = (param: string) => (e: unknown) => e instanceof RequestError && e.param === param && e.message.startsWith(`${param}: `);
    await assert.rejects(engine.generate({ prompt: 'hi' }, { maxTokens: 0 }), check('maxTokens'));
    await assert.rejects(engine.generate({ prompt: 'hi' }, { topP: 2 }), check('topP'));
    await assert.rejects(engine.generate({ prompt: 'hi' }, { logprobs: 99 }), check('logprobs'));
    await assert.rejects(engine.generate({ promptIds: [1], enableThinking: 3 as never }), check('enableThinking'));
    const it = engine.stream({ prompt: 'hi' }, { repetitionPenalty: -1 });
    await assert.rejects(it.next(), check('repetitionPenalty'));
  });
});

describe('engine.close()', () => {
  it('unmaps the checkpoint files and releases the kernel threads', { skip: nativeSkip }, async (t) => {
    const addon = needNative(t);
    if (!addon) return;
    const mapsOfCheckpoint = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes(dir)).length;
    const engine = MiMoEngine.load(dir, { backend: 'native', threads: 2 });
    assert.equal(engine.backend, 'native');
    await engine.generate({ prompt: 'hi' }, { maxTokens: 2, temperature: 0 });
    assert.ok(mapsOfCheckpoint() > 0, 'the safetensors files are mapped while the engine is open');
    assert.equal(addon.getThreads(), 2);
    engine.close();
    assert.equal(mapsOfCheckpoint(), 0);
    assert.equal(addon.getThreads(), 1);
    await assert.rejects(engine.generate({ prompt: 'hi' }), /is closed/);
    engine.close(); // a second close is a no-op
    // A new engine gets the thread pool back.
    const again = MiMoEngine.load(dir, { backend: 'native' });
    assert.ok(addon.getThreads() >= 1);
    const r = await again.generate({ prompt: 'hi' }, { maxTokens: 2, temperature: 0 });
    assert.equal(r.tokenIds.length, 2);
    again.close();
  });
});

