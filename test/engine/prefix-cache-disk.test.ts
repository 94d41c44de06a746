/**
 * Disk tier of the prefix cache: a restart resumes from `--cache-dir` without prefilling again (bitwise the same
 * output); entries evicted from RAM are read back; truncated, bit-flipped, wrong-model and wrong-dtype files are
 * ignored with a warning and never used; an unwritable directory and a full disk budget keep serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../../src/model/load.js';
import { Generator } from '../../src/engine/generate.js';
import { Scheduler, type RequestHandle } from '../../src/engine/scheduler.js';
import { PrefixCache } from '../../src/engine/prefix-cache/prefix-cache.js';
import { DiskTier, modelFingerprint } from '../../src/engine/prefix-cache/disk-tier.js';
import { referenceBackend } from '../../src/kernels/reference/ops.js';
import { writeSyntheticCheckpoint } from '../helpers/synthetic.js';

const dir = writeSyntheticCheckpoint({ overrides: { vocab_size: 96 }, seed: 5 });
const { model } = loadModel(dir, { backend: referenceBackend });
const fingerprint = modelFingerprint(dir);
const gen = { temperature: 0, maxTokens: 4, stopTokenIds: [], logprobs: 0 };
const plain = new Scheduler(new Generator(model, null, 7));

function ids(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 29 + seed * 13 + ((i * i) % 5)) % 88);
}

async function run(h: RequestHandle) {
  const out: number[] = [];
  const lps: number[] = [];
  for await (const c of h) {
    if (c.tokenId !== null) out.push(c.tokenId);
    if (c.logprob) lps.push(c.logprob.logprob);
    if (c.finishReason) return { ids: out, lps, stats: c.stats! };
  }
  throw new Error('no final chunk');
}

function tierCache(cacheDir: string, opts: { ramBytes?: number; diskBytes?: number; kvDtype?: string; fingerprint?: string } = {}) {
  const warnings: string[] = [];
  const cache = new PrefixCache(model, { ramBytes: opts.ramBytes ?? 1 << 30, pageSize: 8, checkpointEvery: 0 });
  cache.disk = new DiskTier(cacheDir, opts.diskBytes ?? 1 << 30, opts.fingerprint ?? fingerprint, opts.kvDtype ?? 'f32', (m) => warnings.push(m));
  return { cache, warnings, sched: new Scheduler(new Generator(model, null, 7, 256, cache)) };
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-pc-disk-'));

async function sameAsPlain(sched: Scheduler, prompt: number[]) {
  const a = await run(sched.submit(prompt, gen));
  const b = await run(plain.submit(prompt, gen));
  assert.deepEqual(a.ids, b.ids);
  assert.deepEqual(a.lps, b.lps, 'log-probabilities bitwise');
  return a;
}

test('a restart resumes from --cache-dir: the next turn is restored from disk, output unchanged', async () => {
  const d = tmp();
  const first = tierCache(d);
  const turn1 = ids(37, 1);
  const r1 = await run(first.sched.submit(turn1, gen));
  assert.equal(first.cache.flushToDisk(), first.cache.stats.entries);
  assert.ok(fs.readdirSync(d).some((f) => f.endsWith('.mpc')));
  assert.deepEqual(fs.readdirSync(d).filter((f) => f.includes('.tmp-')), [], 'no temporary files left');
  const second = tierCache(d); // a new process: empty RAM, the same directory
  assert.ok(second.cache.stats.diskEntries > 0);
  const turn2 = [...turn1, ...r1.ids, 3, 4, 5];
  const r2 = await sameAsPlain(second.sched, turn2);
  assert.equal(r2.stats.cachedTokens, turn1.length + r1.ids.length - 1, 'restored the end of the generation from disk');
  assert.equal(r2.stats.prefilledTokens, turn2.length - r2.stats.cachedTokens!);
  assert.equal(second.cache.stats.diskReads, 1);
  assert.deepEqual(second.warnings, []);
});

test('entries evicted from RAM go to disk and are read back on a hit', async () => {
  const d = tmp();
  const probe = tierCache(tmp());
  await run(probe.sched.submit(ids(30, 7), { ...gen, maxTokens: 1 }));
  const t = tierCache(d, { ramBytes: Math.floor(probe.cache.stats.ramBytes * 1.5) });
  const prompts = [0, 1, 2, 3].map((k) => ids(30, 20 + k));
  for (const p of prompts) await run(t.sched.submit(p, gen));
  assert.ok(t.cache.stats.evictions > 0 && t.cache.stats.diskWrites > 0, 'evicted entries were written');
  const r = await sameAsPlain(t.sched, [...prompts[0]!, 9, 9, 9]);
  assert.ok(r.stats.cachedTokens! >= 30, `hit from disk (${r.stats.cachedTokens})`);
  assert.ok(t.cache.stats.diskReads >= 1);
});

test('truncated, bit-flipped, wrong-model and wrong-dtype files are ignored with a warning, never used', async () => {
  const prompt = ids(33, 3);
  const next = [...prompt, 1, 2];
  const make = async (opts: { kvDtype?: string; fingerprint?: string } = {}) => {
    const d = tmp();
    const w = tierCache(d, opts);
    await run(w.sched.submit(prompt, gen));
    w.cache.flushToDisk();
    return { d, files: fs.readdirSync(d).filter((f) => f.endsWith('.mpc')).map((f) => path.join(d, f)) };
  };
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['truncated', async () => {
      const { d, files } = await make();
      for (const f of files) fs.truncateSync(f, fs.statSync(f).size - 100);
      return d;
    }, /truncated/],
    ['bit-flipped', async () => {
      const { d, files } = await make();
      for (const f of files) {
        const b = fs.readFileSync(f);
        b[b.length - 200]! ^= 0x10;
        fs.writeFileSync(f, b);
      }
      return d;
    }, /checksum/],
    ['wrong model', async () => (await make({ fingerprint: 'another-model' })).d, /another model/],
    ['wrong dtype', async () => (await make({ kvDtype: 'bf16' })).d, /KV dtype bf16/],
  ];
  for (const [what, prepare, why] of cases) {
    const d = await prepare();
    const t = tierCache(d);
    const r = await sameAsPlain(t.sched, next);
    assert.equal(r.stats.cachedTokens, 0, `${what}: the file was not used`);
    assert.ok(t.warnings.length >= 1 && t.warnings.every((m) => why.test(m)), `${what}: warned (${t.warnings.join(' | ')})`);
  }
});

test('an unwritable --cache-dir or a full disk budget warns once and keeps serving', async () => {
  const parentFile = path.join(tmp(), 'a-file');
  fs.writeFileSync(parentFile, 'x');
  const bad = tierCache(path.join(parentFile, 'cache')); // a directory under a regular file cannot exist
  for (let k = 0; k < 3; k++) {
    const p = ids(25, 50 + k);
    await sameAsPlain(bad.sched, p);
  }
  bad.cache.flushToDisk();
  assert.ok(bad.warnings.length >= 1 && bad.warnings.length <= 2, `warned once per kind: ${bad.warnings.join(' | ')}`);
  assert.equal(bad.cache.stats.diskWrites, 0);
  const full = tierCache(tmp(), { diskBytes: 1000 });
  await sameAsPlain(full.sched, ids(25, 60));
  await sameAsPlain(full.sched, ids(25, 61));
  full.cache.flushToDisk();
  assert.equal(full.warnings.length, 1, full.warnings.join(' | '));
  assert.match(full.warnings[0]!, /disk budget/);
  assert.ok(full.cache.stats.diskBytes <= 1000);
});
