/**
 * The native addon's I/O and measurement helpers (mmapFile, memReadBandwidth) and backend selection, including the
 * fallback to the TypeScript backend when the addon is made unloadable with MIMO_NATIVE_DISABLE=1.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BackendUnavailableError, RequestError } from '../../src/errors.js';
import { loadNativeAddon } from '../../src/kernels/native/addon.js';
import { selectBackend } from '../../src/kernels/select.js';
import { needNative } from '../helpers/native.js';


/** Runs fn with MIMO_NATIVE_DISABLE=1, restoring the environment after. */
function withNativeDisabled<T>(fn: () => T): T {
  const saved = process.env.MIMO_NATIVE_DISABLE;
  process.env.MIMO_NATIVE_DISABLE = '1';
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.MIMO_NATIVE_DISABLE;
    else process.env.MIMO_NATIVE_DISABLE = saved;
  }
}

describe('mmapFile', () => {
  it('maps a file read-only with its exact bytes; empty files give an empty buffer', (t) => {
    const a = needNative(t);
    if (!a) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-mmap-'));
    try {
      const bytes = Uint8Array.from({ length: 10007 }, (_, i) => (i * 31 + 7) & 255);
      const file = path.join(dir, 'shard.safetensors');
      fs.writeFileSync(file, bytes);
      const buf = a.mmapFile(file);
      assert.equal(buf.byteLength, bytes.length);
      assert.deepEqual(new Uint8Array(buf), bytes);
      const empty = path.join(dir, 'empty');
      fs.writeFileSync(empty, '');
      assert.equal(a.mmapFile(empty).byteLength, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('throws an Error naming the path when the file cannot be mapped', (t) => {
    const a = needNative(t);
    if (!a) return;
    const missing = path.join(os.tmpdir(), 'mimo-no-such-file.safetensors');
    assert.throws(() => a.mmapFile(missing), (e: Error) => e.message.includes(missing) && /cannot open/.test(e.message));
    assert.throws(() => a.mmapFile(os.tmpdir()), /not a regular file/);
  });
});

describe('memReadBandwidth', () => {
  it('returns a positive bytes/second figure', (t) => {
    const a = needNative(t);
    if (!a) return;
    const bw = a.memReadBandwidth(32 << 20, 2, 2);
    assert.ok(bw > 1e8 && bw < 1e13, `implausible bandwidth ${bw}`);
  });
});

/** Runs a snippet in a fresh Node process (so the addon loads anew) with extra environment; returns its stdout. */
function runFresh(code: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('MIMO_CPU', () => {
  const addonUrl = new URL('../../src/kernels/native/addon.js', import.meta.url).href;
  const snippet = `const m = await import(${JSON.stringify(addonUrl)});
try { console.log(m.loadNativeAddon().getDispatch()); } catch (e) { console.log(e.name + ': ' + e.message); }`;

  it('forces each supported level at load', (t) => {
    const a = needNative(t);
    if (!a) return;
    const best = ['avx512', 'avx2', 'scalar'].indexOf(a.bestDispatch());
    for (const level of ['avx512', 'avx2', 'scalar'].slice(best)) {
      assert.equal(runFresh(snippet, { MIMO_CPU: level }).stdout.trim(), level);
    }
  });

  it('rejects an unknown level with RequestError naming MIMO_CPU', (t) => {
    if (!needNative(t)) return;
    assert.match(runFresh(snippet, { MIMO_CPU: 'avx9000' }).stdout, /^RequestError: MIMO_CPU: must be one of/);
  });
});

describe('selectBackend', () => {
  it('ts → the reference backend; invalid choice → RequestError(--backend)', () => {
    assert.equal(selectBackend('ts').backend.name, 'ts');
    assert.throws(() => selectBackend('cuda'), (e: unknown) => e instanceof RequestError && e.param === '--backend');
  });

  it('native and auto pick the native backend when the addon loads', (t) => {
    if (!needNative(t)) return;
    assert.equal(selectBackend('native').backend.name, 'native');
    const auto = selectBackend('auto');
    assert.equal(auto.backend.name, 'native');
    assert.equal(auto.warning, undefined);
  });

  it('MIMO_NATIVE_DISABLE=1: loadNativeAddon throws, auto falls back to TypeScript with a one-line warning', () => {
    withNativeDisabled(() => {
      assert.throws(() => loadNativeAddon(), (e: unknown) => e instanceof BackendUnavailableError && /MIMO_NATIVE_DISABLE/.test((e as Error).message));
      assert.throws(() => selectBackend('native'), BackendUnavailableError);
      const auto = selectBackend('auto');
      assert.equal(auto.backend.name, 'ts');
      assert.ok(auto.warning);
      assert.match(auto.warning, /slower/);
      assert.match(auto.warning, /MIMO_NATIVE_DISABLE/);
      assert.ok(!auto.warning.includes('\n'));
    });
  });
});
