/**
 * Grammar-constrained generation on random weights at temperature 1 (the model would write anything): for every
 * bounded schema, 8 seeded samples with thinking off and 8 with thinking on (a reasoning budget, so reasoning plus
 * the longest valid answer fit in 512 tokens) all finish with `stop` and validate with ajv, an independent
 * validator; the same for regex, choice and EBNF grammars; an unbounded schema ends cleanly with `length` and the
 * partial output; MTP under a grammar gives the tokens of no MTP. All requests of a test go through one
 * continuous-batching scheduler at once (batched), so the file stays within about a minute.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { MiMoEngine } from '../../src/engine/engine.js';
import { Scheduler } from '../../src/engine/scheduler.js';
import type { GenerateOptions, StreamChunk } from '../../src/engine/sequence.js';
import { tinyCheckpoint } from '../helpers/server.js';
import { BOUNDED_SCHEMAS } from './schemas.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const SAMPLES = 8;
const MAX_TOKENS = 512;
const REASONING_BUDGET = 12;

let engine: MiMoEngine;
let scheduler: Scheduler;
let thinkEnd: number;

before(async () => {
  engine = MiMoEngine.load(await tinyCheckpoint());
  scheduler = new Scheduler(engine.generator, { maxBatch: 16, maxQueue: 4096 });
  thinkEnd = engine.tokenizer!.tokenId('</think>')!;
});

interface Sample {
  label: string;
  tokenIds: number[];
  finishReason: string;
  /** Text after the reasoning (all of it with thinking off). */
  answer: string;
}

/** Run every request at once through the scheduler; each answer is the text after `</think>` (by token id). */
async function runAll(requests: Array<{ label: string; thinking: boolean; opts: GenerateOptions; prompt?: string }>): Promise<Sample[]> {
  const tok = engine.tokenizer!;
  const handles = await Promise.all(
    requests.map(async (r) => {
      const promptIds = engine.encode({ prompt: r.prompt ?? `Answer in JSON (${r.label}).`, enableThinking: r.thinking });
      const { opts } = await engine.generator.prepare(promptIds, { maxTokens: MAX_TOKENS, temperature: 1, ...r.opts });
      return { r, handle: scheduler.submit(promptIds, opts) };
    }),
  );
  return Promise.all(
    handles.map(async ({ r, handle }) => {
      const ids: number[] = [];
      let last: StreamChunk | undefined;
      for await (const c of handle) {
        if (c.tokenId !== null) ids.push(c.tokenId);
        last = c;
      }
      const cut = r.thinking ? ids.indexOf(thinkEnd) : -1;
      if (r.thinking) assert.ok(cut >= 0 && cut <= REASONING_BUDGET, `${r.label}: </think> at ${cut}, expected within the budget ${REASONING_BUDGET}`);
      return { label: r.label, tokenIds: ids, finishReason: last!.finishReason!, answer: tok.decode(ids.slice(cut + 1)) };
    }),
  );
}

function seeds<T>(make: (seed: number, thinking: boolean) => T): T[] {
  const out: T[] = [];
  for (const thinking of [false, true]) for (let seed = 0; seed < SAMPLES; seed++) out.push(make(seed, thinking));
  return out;
}

test(`${BOUNDED_SCHEMAS.length} bounded JSON schemas × ${SAMPLES} seeds × thinking off/on: every sample stops and validates (ajv)`, async () => {
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  const requests = BOUNDED_SCHEMAS.flatMap(({ name, schema }) =>
    seeds((seed, thinking) => ({ label: `${name} seed ${seed} thinking ${thinking ? 'on' : 'off'}`, thinking, opts: { seed, responseFormat: { type: 'json_schema' as const, schema }, reasoningBudget: REASONING_BUDGET } })),
  );
  const samples = await runAll(requests);
  const failures: string[] = [];
  for (const [i, s] of samples.entries()) {
    const schema = BOUNDED_SCHEMAS[Math.floor(i / (2 * SAMPLES))]!.schema;
    if (s.finishReason !== 'stop') {
      failures.push(`${s.label}: finish ${s.finishReason} after ${s.tokenIds.length} tokens: ${JSON.stringify(s.answer.slice(0, 120))}`);
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(s.answer);
    } catch (e) {
      failures.push(`${s.label}: not JSON: ${JSON.stringify(s.answer)} (${(e as Error).message})`);
      continue;
    }
    const validate = ajv.compile(schema);
    if (!validate(value)) failures.push(`${s.label}: ${JSON.stringify(s.answer)} fails the schema: ${ajv.errorsText(validate.errors)}`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${samples.length} samples failed`);
  assert.equal(samples.length, BOUNDED_SCHEMAS.length * 2 * SAMPLES);
});

test('regex, choice and EBNF grammars: every sample stops and matches (JS RegExp as the checker)', async () => {
  const kinds: Array<{ name: string; opts: GenerateOptions; check: (text: string) => boolean }> = [
    { name: 'regex', opts: { grammar: { type: 'regex', pattern: '[a-z]{1,8}@[a-z]{1,6}\\.(com|org)' } }, check: (t) => /^[a-z]{1,8}@[a-z]{1,6}\.(com|org)$/.test(t) },
    { name: 'regex digits', opts: { grammar: { type: 'regex', pattern: '(\\+1 )?[0-9]{3}-[0-9]{4}' } }, check: (t) => /^(\+1 )?[0-9]{3}-[0-9]{4}$/.test(t) },
    { name: 'choice', opts: { grammar: { type: 'choice', choices: ['yes', 'no', 'maybe not'] } }, check: (t) => ['yes', 'no', 'maybe not'].includes(t) },
    { name: 'ebnf', opts: { grammar: { type: 'ebnf', grammar: 'root ::= "(" num (" + " num){0,3} ")"\nnum ::= [1-9] [0-9]{0,2}' } }, check: (t) => /^\([1-9][0-9]{0,2}( \+ [1-9][0-9]{0,2}){0,3}\)$/.test(t) },
  ];
  const requests = kinds.flatMap((k) => seeds((seed, thinking) => ({ label: `${k.name} seed ${seed} thinking ${thinking}`, thinking, opts: { seed, reasoningBudget: REASONING_BUDGET, ...k.opts } })));
  const samples = await runAll(requests);
  const failures = samples.filter((s, i) => s.finishReason !== 'stop' || !kinds[Math.floor(i / (2 * SAMPLES))]!.check(s.answer)).map((s) => `${s.label}: ${s.finishReason} ${JSON.stringify(s.answer.slice(0, 100))}`);
  assert.deepEqual(failures, []);
  assert.equal(samples.length, kinds.length * 2 * SAMPLES);
});

function isObjectJson(t: string): boolean {
  try {
    const v: unknown = JSON.parse(t);
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}

test('unbounded: a schema with a free string and json_object end cleanly with length (partial output) or stop (valid)', async () => {
  const schema = { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] };
  const runs = [0, 1, 2, 3].flatMap((seed) => [
    { label: `unbounded schema ${seed}`, thinking: false, opts: { seed, maxTokens: 40, responseFormat: { type: 'json_schema' as const, schema } } },
    { label: `json_object ${seed}`, thinking: false, opts: { seed, maxTokens: 40, responseFormat: { type: 'json_object' as const } } },
  ]);
  const samples = await runAll(runs);
  let lengths = 0;
  for (const s of samples) {
    assert.ok(s.answer.startsWith('{'), `${s.label}: ${JSON.stringify(s.answer)}`);
    if (s.finishReason === 'length') {
      lengths++;
      assert.equal(s.tokenIds.length, 40, s.label);
      assert.throws(() => JSON.parse(s.answer), `${s.label}: a length finish is cut JSON`);
    } else {
      assert.equal(s.finishReason, 'stop', s.label);
      assert.ok(isObjectJson(s.answer), `${s.label}: ${JSON.stringify(s.answer)}`);
    }
    if (s.label.startsWith('unbounded')) assert.ok(s.answer.startsWith('{"text":"'), s.label);
  }
  assert.ok(lengths > 0, 'at least one sample runs to max_tokens');
});

test('MTP under a grammar: greedy tokens equal no MTP under the same grammar; sampled MTP output validates', async () => {
  const k = engine.model.numMtpLayers;
  assert.ok(k >= 1, 'the tiny checkpoint has MTP layers');
  const schema = BOUNDED_SCHEMAS[3]!.schema;
  const ajv = new Ajv2020({ strict: false });
  const validate = ajv.compile(schema);
  const rf = { type: 'json_schema' as const, schema };
  for (const thinking of [false, true]) {
    const base = { temperature: 0, responseFormat: rf, reasoningBudget: 6, maxTokens: 200 };
    const [plain, spec, noJump] = await runAll([
      { label: 'plain', thinking, opts: base, prompt: 'same prompt' },
      { label: 'mtp', thinking, opts: { ...base, mtp: k }, prompt: 'same prompt' },
      { label: 'no jump-forward', thinking, opts: { ...base, jumpForward: false }, prompt: 'same prompt' },
    ]);
    assert.deepEqual(spec!.tokenIds, plain!.tokenIds, `thinking ${thinking}`);
    assert.deepEqual(noJump!.tokenIds, plain!.tokenIds, 'jump-forward gives the same tokens');
    assert.ok(validate(JSON.parse(plain!.answer)));
  }
  const sampled = await runAll([0, 1, 2, 3].map((seed) => ({ label: `mtp sampled ${seed}`, thinking: false, opts: { seed, mtp: k, responseFormat: rf } })));
  for (const s of sampled) {
    assert.equal(s.finishReason, 'stop', s.label);
    assert.ok(validate(JSON.parse(s.answer)), `${s.label}: ${s.answer}`);
  }
});

test('jump-forward appends the tokens the grammar forces and counts them', async () => {
  const schema = { type: 'object', properties: { a_long_property_name: { type: 'boolean' } }, required: ['a_long_property_name'], additionalProperties: false };
  const promptIds = engine.encode({ prompt: 'x', enableThinking: false });
  const r = await engine.generator.generate(promptIds, { temperature: 1, seed: 1, maxTokens: 64, responseFormat: { type: 'json_schema', schema } });
  assert.equal(r.finishReason, 'stop');
  assert.ok(/^\{"a_long_property_name":(true|false)\}$/.test(r.text), r.text);
  assert.ok(r.stats.jumpForwardTokens! > 0 && r.stats.decodeSteps < r.tokenIds.length, `jump-forward ${r.stats.jumpForwardTokens}, steps ${r.stats.decodeSteps}, tokens ${r.tokenIds.length}`);
  // Opt-in jump-forward string: the forced literal `{"a_long_property_name":` is retokenised and appended at once.
  const s = await engine.generator.generate(promptIds, { temperature: 1, seed: 1, maxTokens: 64, responseFormat: { type: 'json_schema', schema }, jumpForwardString: true });
  assert.equal(s.finishReason, 'stop');
  assert.ok(/^\{"a_long_property_name":(true|false)\}$/.test(s.text), s.text);
  assert.ok(s.stats.decodeSteps < r.stats.decodeSteps, `steps with the string ${s.stats.decodeSteps} < without ${r.stats.decodeSteps}`);
});
