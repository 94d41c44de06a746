/**
 * `mimo bench` as a user and bench/side-by-side.ts run it: on a tiny checkpoint the `--json` last line parses and
 * carries every documented figure as a positive number; bad flag values give one clear line; the weight bytes read
 * per decoded token agree with the tensor inventory computed from the config. Speed itself is never asserted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { decodeWeightBytes } from '../../src/engine/bench.js';
import { loadConfig } from '../../src/model/mimo-v2/config.js';
import { weightInventory } from '../../src/model/mimo-v2/stats.js';
import { repoRoot } from '../helpers/fixtures.js';

const bin = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-bench-'));
const tiny = path.join(tmp, 'tiny');

function mimo(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, MIMO_CACHE_DIR: path.join(tmp, 'cache') } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ensureTiny(): string {
  if (!fs.existsSync(path.join(tiny, 'config.json'))) {
    const r = mimo('init', '--preset', 'mimo-v2-flash', '--scale', 'tiny', '--out', tiny);
    assert.equal(r.code, 0, r.stderr);
  }
  return tiny;
}

test('mimo bench --json: the last stdout line is one object with every figure', () => {
  const r = mimo('bench', '--model', ensureTiny(), '--backend', 'ts', '--json', '--prompt-tokens', '8', '--gen-tokens', '4', '--runs', '1');
  assert.equal(r.code, 0, r.stderr);
  const last = r.stdout.trim().split('\n').pop()!;
  const j = JSON.parse(last) as Record<string, unknown>;
  assert.equal(j['backend'], 'ts');
  assert.equal(j['prompt_tokens'], 8);
  assert.equal(j['gen_tokens'], 4);
  assert.equal(j['runs'], 1);
  for (const key of ['prefill_tps', 'decode_tps', 'peak_rss_bytes', 'threads', 'load_seconds', 'rss_after_load_bytes', 'decode_weight_bytes']) {
    assert.ok(typeof j[key] === 'number' && (j[key] as number) > 0, `${key} = ${String(j[key])}`);
  }
  for (const key of ['prefill_tps', 'decode_tps', 'ttft_seconds']) {
    const [lo, mid, hi] = [j[`${key}_min`], j[key], j[`${key}_max`]] as number[];
    assert.ok(lo! > 0 && lo! <= mid! && mid! <= hi!, `${key}: min ${lo} median ${mid} max ${hi}`);
  }
  assert.ok((j['peak_rss_bytes'] as number) >= (j['rss_after_load_bytes'] as number) * 0.5);
  assert.equal(j['deterministic_tokens'], true);
});

test('mimo bench prints a readable table without --json', () => {
  const r = mimo('bench', '--model', ensureTiny(), '--backend', 'ts', '--prompt-tokens', '4', '--gen-tokens', '2', '--runs', '1');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /prefill tok\/s \(4\)/);
  assert.match(r.stdout, /decode tok\/s \(2\)/);
  assert.match(r.stdout, /peak RSS/);
});

test('mimo bench: bad flag values give one clear line and a non-zero exit', () => {
  const cases: [string[], RegExp][] = [
    [['--runs', '0'], /--runs/],
    [['--prompt-tokens', 'lots'], /--prompt-tokens/],
    [['--gen-tokens', '1.5'], /--gen-tokens/],
    [['--threads', '-2'], /--threads/],
    [['--backend', 'gpu'], /--backend.*auto, ts, native/],
  ];
  for (const [args, what] of cases) {
    const r = mimo('bench', '--model', ensureTiny(), ...args);
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, what);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'stack trace printed');
    assert.ok(r.stderr.trim().split('\n').length <= 2, `more than one line of error:\n${r.stderr}`);
  }
  const missing = mimo('bench', '--model', path.join(tmp, 'nope'), '--backend', 'ts');
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /nope/);
});

test('mimo init --help offers the bench preset', () => {
  const r = mimo('init', '--help');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /bench/);
});

test('decode weight bytes = the active tensors of the inventory (one embedding row, K of E experts)', () => {
  const dir = ensureTiny();
  const cfg = loadConfig(path.join(dir, 'config.json'));
  const wb = decodeWeightBytes(dir, cfg);
  const bytesPer = { bf16: 2, f32: 4, fp8: 1, mxfp4: 0.5 + 1 / 32 } as const;
  let expected = 0;
  for (const g of weightInventory(cfg, 0)) {
    const n = g.shape.reduce((a, b) => a * b, 1) * bytesPer[g.storage];
    expected += g.component === 'embedding' ? n / cfg.vocabSize : n * g.activeCount;
  }
  assert.ok(Math.abs(wb.total - expected) <= 1, `decodeWeightBytes ${wb.total}, inventory ${expected}`);
  assert.equal(wb.lmHead, cfg.vocabSize * cfg.hiddenSize * 2);
});

test('bench --profile: per-op figures of a decode, weight bytes per op from the tensors each op read', () => {
  const dir = ensureTiny();
  const cfg = loadConfig(path.join(dir, 'config.json'));
  const r = mimo('bench', '--model', dir, '--json', '--profile', '--prompt-tokens', '8', '--gen-tokens', '3', '--runs', '1');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { profile: { tokens: number; ops: { label: string; calls: number; bytes: number; seconds: number }[] } };
  assert.equal(j.profile.tokens, 3);
  const op = (label: string) => j.profile.ops.find((o) => o.label === label);
  // One LM head matmul per token, reading the whole [V, D] BF16 head.
  assert.equal(op('LM head')!.calls, 3);
  assert.equal(op('LM head')!.bytes, 3 * cfg.vocabSize * cfg.hiddenSize * 2);
  const moeLayers = cfg.layers.filter((l) => l.ffn === 'moe').length;
  assert.equal(op('routed experts')!.calls, 3 * moeLayers);
  assert.ok(op('routed experts')!.bytes > 0);
  assert.ok(op('router') && op('attention q/k/v projection') && op('attention o_proj') && op('RMSNorm'));
  assert.ok(j.profile.ops.every((o) => o.seconds >= 0));
  const text = mimo('bench', '--model', dir, '--profile', '--prompt-tokens', '8', '--gen-tokens', '2', '--runs', '1');
  assert.match(text.stdout, /profile: 2 greedy decode steps/);
  assert.match(text.stdout, /other \(sampling, JS glue\)/);
});
