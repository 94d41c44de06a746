/**
 * Cost of grammar-constrained decoding (issue 12, Measure): per-token mask cost (xgrammar's bitmask + our copy and
 * apply on the logits row) p50 / p99, alone and for a batch of 8 sequences, against one decode step of the model;
 * vocabulary preprocessing (TokenizerInfo) at load; compile time per grammar, cold and cached. Two vocabularies:
 * the small model's 152,576 ids (MiMo tokenizer) and the bench checkpoint's 32,000 (the tokenizer's first 32,000
 * ids). Two grammars: a JSON schema and a tool-call structural tag. The tokens walked are a valid output of each
 * grammar (tokenised by longest match over the vocabulary), so every step is a real state.
 *
 *   npm run build && node dist/bench/grammar-mask.js [--small DIR] [--bench DIR] [--steps-reps 5]
 *
 * Creates the default small model and the bench checkpoint when missing. Run on an idle machine.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheDir, ensureDefaultModel } from '../src/cli/default-model.js';
import { OutputConstraint } from '../src/grammar/output-constraint.js';
import { GrammarRuntime } from '../src/grammar/runtime.js';
import { toolCallGrammar, type GrammarSpec } from '../src/grammar/spec.js';
import { loadNativeAddon } from '../src/kernels/native/addon.js';
import { selectBackend } from '../src/kernels/select.js';
import { loadModel } from '../src/model/load.js';
import { initCheckpoint } from '../src/model/mimo-v2/init.js';
import { MiMoTokenizer } from '../src/tokenizer/tokenizer.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : dflt;
};
const reps = Number(arg('--reps', '5'));
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

const smallDir = args.includes('--small') ? arg('--small', '') : await ensureDefaultModel((l) => console.error(l));
const benchDir = arg('--bench', path.join(cacheDir(), 'bench', 'mimo-v2-flash-bench'));
if (!fs.existsSync(path.join(benchDir, 'config.json'))) {
  console.error(`creating the bench checkpoint at ${benchDir} …`);
  await initCheckpoint({ preset: 'mimo-v2-flash', scale: 'bench', outDir: benchDir });
}
const tok = MiMoTokenizer.load(smallDir);
const { tokens: rawTokens, special } = tok.rawVocabulary();

/** One decode step (1 token, cache of 256 positions, with the LM head) of a checkpoint, median ms. */
function decodeStepMs(dir: string): number {
  const { backend } = selectBackend('native');
  const { model, config } = loadModel(dir, { backend, map: (f: string) => loadNativeAddon().mmapFile(f) });
  const prompt = Array.from({ length: 256 }, (_, i) => (i * 7919 + 13) % (config.vocabSize - 1));
  const cache = model.newCache(1);
  model.forward(prompt, cache);
  const xs: number[] = [];
  for (let r = 0; r < 21; r++) {
    const t0 = performance.now();
    model.computeLogits(model.forward([prompt[r]!], cache), 1);
    xs.push(performance.now() - t0);
    cache.trim(1);
  }
  return quantile(xs, 0.5);
}

const schema = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 24 }, age: { type: 'integer', minimum: 0, maximum: 150 }, tags: { type: 'array', items: { type: 'string', enum: ['admin', 'user', 'guest'] }, maxItems: 3 }, active: { type: 'boolean' } },
  required: ['name', 'age', 'tags', 'active'],
  additionalProperties: false,
};
const tool = { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 20 }, days: { type: 'integer', minimum: 1, maximum: 7 }, unit: { type: 'string', enum: ['c', 'f'] } }, required: ['city', 'days'] } };
const GRAMMARS: Array<{ name: string; spec: GrammarSpec; text: string }> = [
  { name: 'JSON schema', spec: { type: 'json_schema', schema }, text: '{"name":"Ada Lovelace","age":36,"tags":["admin","user"],"active":true}' },
  { name: 'tool call', spec: toolCallGrammar([tool], { kind: 'required' }, false)!, text: '<tool_call>\n<function=get_weather>\n<parameter=city>Paris</parameter>\n<parameter=days>3</parameter>\n<parameter=unit>c</parameter>\n</function>\n</tool_call>' },
];

/** Longest-match tokenisation of ASCII text over the byte-level vocabulary's first n ids (GPT-2 byte alphabet). */
function tokenise(text: string, n: number): number[] {
  const enc = (s: string) => s.replaceAll(' ', 'Ġ').replaceAll('\n', 'Ċ');
  const byText = new Map<string, number>();
  for (let id = 0; id < n; id++) if (!special[id] && rawTokens[id]) byText.set(rawTokens[id]!, id);
  const e = enc(text);
  const ids: number[] = [];
  for (let i = 0; i < e.length; ) {
    let len = Math.min(24, e.length - i);
    while (len > 1 && !byText.has(e.slice(i, i + len))) len--;
    const id = byText.get(e.slice(i, i + len));
    if (id === undefined) throw new Error(`no token for ${JSON.stringify(e.slice(i, i + 1))}`);
    ids.push(id);
    i += len;
  }
  return ids;
}

const decodeMs = { small: decodeStepMs(smallDir), bench: decodeStepMs(benchDir) };
console.log(`Grammar mask cost (node dist/bench/grammar-mask.js), native decode step: small ${decodeMs.small.toFixed(2)} ms, bench ${decodeMs.bench.toFixed(2)} ms`);
console.log('| vocabulary | grammar | steps | mask p50 ms | mask p99 ms | p50 ÷ decode step | batch 8: mask p50 ms per step | batch 8 p99 |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
const prep: string[] = [];
for (const [label, V, n, stopIds, decode] of [
  ['small (152,576)', 152576, rawTokens.length, tok.stopTokenIds(), decodeMs.small],
  ['bench (32,000)', 32000, 32000, [31999], decodeMs.bench],
] as const) {
  const encoded = rawTokens.slice(0, n).map((t, i) => (special[i] || (V === 32000 && i === 31999) ? '' : t));
  const runtime = new GrammarRuntime({ encoded, vocabSize: V, stopIds: [...stopIds] });
  const t0 = performance.now();
  await runtime.ready();
  prep.push(`${label}: vocabulary preprocessing ${((performance.now() - t0) / 1000).toFixed(3)} s`);
  for (const g of GRAMMARS) {
    const cold = await runtime.compile(g.spec, g.name);
    const t1 = performance.now();
    const warm = await runtime.compile(g.spec, g.name);
    const cachedMs = performance.now() - t1;
    prep.push(`${label}, ${g.name}: compile cold ${(cold.grammar.compileSeconds * 1000).toFixed(1)} ms, cached ${cachedMs.toFixed(3)} ms (hit: ${warm.cached})`);
    const ids = tokenise(g.text, n);
    const row = new Float32Array(V);
    const logits = new Float32Array(V).map((_, i) => Math.sin(i));
    const one: number[] = [];
    const eight: number[] = [];
    for (let r = 0; r < reps; r++) {
      const cs = Array.from({ length: 8 }, () => new OutputConstraint({ grammar: cold.grammar, startsInThinking: false, stopIds: [...stopIds] }, V));
      for (const id of ids) {
        let t = performance.now();
        row.set(logits);
        cs[0]!.apply(row);
        one.push(performance.now() - t);
        t = performance.now();
        for (let b = 1; b < 8; b++) {
          row.set(logits);
          cs[b]!.apply(row);
        }
        eight.push(one[one.length - 1]! + performance.now() - t);
        for (const c of cs) c.accept(id);
      }
      for (const c of cs) c.dispose();
    }
    const p50 = quantile(one, 0.5);
    console.log(`| ${label} | ${g.name} | ${ids.length} × ${reps} | ${p50.toFixed(3)} | ${quantile(one, 0.99).toFixed(3)} | ${((100 * p50) / decode).toFixed(1)} % | ${quantile(eight, 0.5).toFixed(3)} | ${quantile(eight, 0.99).toFixed(3)} |`);
  }
}
for (const line of prep) console.log(`- ${line}`);
console.log('(mask = xgrammar bitmask of the state + copying the logits row + setting refused ids to -Infinity; batch 8 = 8 sequences in the same state, one after another on this thread)');
