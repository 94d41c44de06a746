/**
 * The native addon's I/O and measurement helpers (mmapFile, memReadBandwidth) and backend selection, including the
 * fallback to the TypeScript backend when the addon is made unloadable with MIMO_NATIVE_DISABLE=1.
 */
import { DISPATCH_LEVELS } from '../../src/kernels/native/addon.js';
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
import { MAP_WINDOW_MAX, SafetensorsFile } from '../../src/loader/safetensors.js';


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

describe('mmapFile windows and files over 4 GiB', () => {
  it('maps a page-aligned window with its exact bytes and refuses misaligned or out-of-file windows', (t) => {
    const a = needNative(t);
    if (!a) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-mmap-win-'));
    try {
      const bytes = Uint8Array.from({ length: 3 * 4096 + 100 }, (_, i) => (i * 13 + 1) & 255);
      const file = path.join(dir, 'f.bin');
      fs.writeFileSync(file, bytes);
      assert.deepEqual(new Uint8Array(a.mmapFile(file, 4096, 5000)), bytes.subarray(4096, 9096));
      assert.throws(() => a.mmapFile(file, 100, 10), /not page-aligned or not inside/);
      assert.throws(() => a.mmapFile(file, 8192, 9000), /not page-aligned or not inside/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a safetensors file over 4 GiB (sparse) is mapped in windows: tensors near its end are views with the right bytes', (t) => {
    const a = needNative(t);
    if (!a) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-mmap-big-'));
    try {
      const file = path.join(dir, 'big.safetensors');
      // Tensor "pad" spans 4.5 GiB of holes; "tail" holds 4096 known bytes after it; "mid" straddles 2^32.
      const pad = 4.5 * 2 ** 30;
      const header: Record<string, unknown> = {
        pad: { dtype: 'U8', shape: [pad], data_offsets: [0, pad] },
        tail: { dtype: 'U8', shape: [4096], data_offsets: [pad, pad + 4096] },
      };
      let json = JSON.stringify(header);
      json += ' '.repeat((8 - (json.length % 8)) % 8);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      const fd = fs.openSync(file, 'w');
      fs.writeSync(fd, len);
      fs.writeSync(fd, json);
      const tail = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) & 255);
      const tailAt = 8 + json.length + pad;
      fs.writeSync(fd, tail, 0, tail.length, tailAt);
      fs.closeSync(fd);
      assert.throws(() => a.mmapFile(file), /more than one mapping may hold \(4 GiB − 1\); map it in windows/);
      const f = new SafetensorsFile(file, (p, o, l) => a.mmapFile(p, o, l));
      const v = f.view('tail');
      assert.deepEqual(v, tail);
      assert.ok(v.byteOffset > 0 && v.buffer.byteLength <= MAP_WINDOW_MAX, 'a view into one window, not a copy of the file');
      f.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
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
    const best = DISPATCH_LEVELS.indexOf(a.bestDispatch());
    for (const level of DISPATCH_LEVELS.slice(best)) {
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
