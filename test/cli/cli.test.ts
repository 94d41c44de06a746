/**
 * The `mimo` command line as a user runs it: init then run in a temporary directory produces text and the
 * figures line; inspect reports the published round figures; every user mistake gives one clear line on stderr,
 * a non-zero exit code and no stack trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/fixtures.js';

const bin = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-cli-'));

function mimo(...args: string[]) {
  return mimoEnv({}, ...args);
}

function mimoEnv(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, MIMO_CACHE_DIR: path.join(tmp, 'cache'), ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A user mistake: non-zero exit, a short message naming `what`, no stack trace. */
function assertUserError(r: ReturnType<typeof mimo>, what: RegExp): void {
  assert.notEqual(r.code, 0, r.stderr);
  assert.match(r.stderr, what);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'stack trace printed');
  assert.ok(r.stderr.trim().split('\n').length <= 2, `more than one line of error:\n${r.stderr}`);
}

test('mimo init then mimo run produces text and prints speed figures', () => {
  const dir = path.join(tmp, 'tiny');
  const init = mimo('init', '--preset', 'mimo-v2-flash', '--scale', 'tiny', '--out', dir);
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /parameters/);
  const run = mimo('run', '--model', dir, '--max-tokens', '8', '--seed', '3', 'Hello there');
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.stdout.trim().length > 0, 'no text generated');
  assert.match(run.stderr, /prefill: \d+ tokens, [\d.]+ tokens\/s \| TTFT \d+ ms \| decode: 8 tokens, [\d.]+ tokens\/s \| peak memory/);
  const again = mimo('run', '--model', dir, '--max-tokens', '8', '--seed', '3', 'Hello there');
  assert.equal(again.stdout, run.stdout, 'same seed, same text');
  const raw = mimo('run', '--model', dir, '--max-tokens', '4', '--temperature', '0', '--raw', '--no-think', 'Once upon a time');
  assert.equal(raw.code, 0, raw.stderr);
});

test('without the native addon mimo run still works and says why it is slower; backends agree on greedy text', () => {
  const dir = path.join(tmp, 'tiny');
  const fallback = mimoEnv({ MIMO_NATIVE_DISABLE: '1' }, 'run', '--model', dir, '--max-tokens', '6', '--temperature', '0', 'Hello');
  assert.equal(fallback.code, 0, fallback.stderr);
  assert.match(fallback.stderr, /warning: using the TypeScript backend, which is much slower.*MIMO_NATIVE_DISABLE/);
  assert.match(fallback.stderr, /backend ts/);
  const forced = mimoEnv({ MIMO_NATIVE_DISABLE: '1' }, 'run', '--model', dir, '--backend', 'native', 'Hello');
  assert.notEqual(forced.code, 0);
  assert.match(forced.stderr, /^mimo: native addon disabled by MIMO_NATIVE_DISABLE=1/);
  const native = mimo('run', '--model', dir, '--max-tokens', '6', '--temperature', '0', '--backend', 'native', 'Hello');
  assert.equal(native.code, 0, native.stderr);
  assert.match(native.stderr, /backend native/);
  assert.equal(native.stdout, fallback.stdout, 'greedy text differs between the native and TypeScript backends');
  for (const level of ['avx2', 'scalar']) {
    const forcedLevel = mimoEnv({ MIMO_CPU: level }, 'run', '--model', dir, '--max-tokens', '6', '--temperature', '0', '--backend', 'native', 'Hello');
    assert.equal(forcedLevel.code, 0, forcedLevel.stderr);
    assert.equal(forcedLevel.stdout, native.stdout, `MIMO_CPU=${level} changes the greedy text`);
  }
  assertUserError(mimoEnv({ MIMO_CPU: 'sse9' }, 'run', '--model', dir, '--backend', 'native', 'Hello'), /MIMO_CPU/);
});

test('mimo inspect --preset reports the published round figures', () => {
  const flash = mimo('inspect', '--preset', 'mimo-v2-flash', '--json');
  assert.equal(flash.code, 0, flash.stderr);
  const f = JSON.parse(flash.stdout);
  const total = (j: { parameters: { total: number } }) => j.parameters.total;
  const active = (j: { parameters: { activePerToken: number } }) => j.parameters.activePerToken;
  assert.ok(Math.abs(total(f) / 309e9 - 1) < 0.01, `Flash total ${total(f)}`);
  assert.ok(Math.abs(active(f) / 15e9 - 1) < 0.05, `Flash active ${active(f)}`);
  const pro = JSON.parse(mimo('inspect', '--preset', 'mimo-v2.5-pro', '--json').stdout);
  assert.ok(Math.abs(total(pro) / 1.02e12 - 1) < 0.01, `Pro total ${total(pro)}`);
  assert.ok(Math.abs(active(pro) / 42e9 - 1) < 0.05, `Pro active ${active(pro)}`);
  const text = mimo('inspect', '--preset', 'mimo-v2-flash');
  assert.match(text.stdout, /308\.8B/);
  assert.match(text.stdout, /sliding window/);
});

test('mimo inspect --model reads a checkpoint directory', () => {
  const fixtures = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'mimo-v2');
  const cases = fs.existsSync(fixtures) ? fs.readdirSync(fixtures) : [];
  assert.ok(cases.length > 0);
  const r = mimo('inspect', '--model', path.join(fixtures, cases[0]!));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Layer map/i);
});

test('user mistakes give one clear line and a non-zero exit', () => {
  assertUserError(mimo('run', '--model', path.join(tmp, 'nope'), 'hi'), /nope/);
  const notModel = path.join(tmp, 'not-a-model');
  fs.mkdirSync(notModel);
  fs.writeFileSync(path.join(notModel, 'config.json'), '{"model_type": "llama"}');
  assertUserError(mimo('run', '--model', notModel, 'hi'), /model_type/);
  fs.writeFileSync(path.join(notModel, 'config.json'), '{not json');
  assertUserError(mimo('inspect', '--model', notModel), /config\.json.*not valid JSON/);
  assertUserError(mimo('run', '--max-tokens', 'lots', 'hi'), /--max-tokens/);
  assertUserError(mimo('run', '--top-p', '2', 'hi'), /--top-p/);
  assertUserError(mimo('run', '--bogus', 'hi'), /unknown option/);
  assertUserError(mimo('inspect', '--preset', 'gpt-5'), /unknown preset.*mimo-v2-flash/);
  assertUserError(mimo('inspect'), /--model|--preset/);
  assertUserError(mimo('init', '--preset', 'mimo-v2-flash', '--scale', 'huge', '--out', path.join(tmp, 'x')), /--scale/);
  assertUserError(mimo('frobnicate'), /unknown command/);
  assertUserError(mimo('run', '--top-p', '0', 'hi'), /--top-p.*\(0, 1\]/);
  assertUserError(mimo('run', '--stop', '', 'hi'), /stop string must not be empty/);
  assertUserError(mimo('run', '--max-tokens', '1e9', 'hi'), /decimal digits/);
});

test('a stop string before the prompt, generation_config.json, and inspect against mismatched weights', () => {
  const dir = path.join(tmp, 'tiny');
  const r = mimo('run', '--model', dir, '--stop', 'zzzz', '--max-tokens', '2', 'Hello');
  assert.equal(r.code, 0, r.stderr);
  const bad = path.join(tmp, 'tiny-genconfig');
  fs.cpSync(dir, bad, { recursive: true });
  fs.writeFileSync(path.join(bad, 'generation_config.json'), '{"temperature": -1}');
  assertUserError(mimo('run', '--model', bad, 'hi'), /generation_config\.json: temperature/);
  fs.writeFileSync(path.join(bad, 'generation_config.json'), '{not json');
  assertUserError(mimo('run', '--model', bad, 'hi'), /generation_config\.json.*not valid JSON/);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  fs.rmSync(path.join(bad, 'generation_config.json'));
  fs.writeFileSync(path.join(bad, 'config.json'), JSON.stringify({ ...cfg, hidden_size: 32 }));
  assertUserError(mimo('inspect', '--model', bad), /do not match config\.json/);
});
