/**
 * The native ggml encoders (native/src/quantize.cc, `quantizeGgml`) against the TypeScript reference encoders
 * (src/tensor/formats/ggml/, the definition): the same bytes for every type the addon writes, on rows of several
 * distributions (Gaussian at several scales, uniform, all zeros, one huge outlier, tiny and subnormal values,
 * negative-only, exact rounding ties, constant rows, FP8-like grids), odd row counts and rows of 1–3 (K-quants) or
 * 1–11 (32-element blocks) blocks; and the same RangeError for a non-finite value. quantizeGgmlRows goes through
 * the native encoders when the addon loads, and not with MIMO_BACKEND=ts or MIMO_NATIVE_DISABLE=1.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { nativeQuantizeAvailable, quantizeGgmlRows, quantizeGgmlRowsReference } from '../../src/tensor/formats/ggml/quantize.js';
import { GGML_TYPE, ggmlRowBytes, ggmlTypeInfo, ggmlTypeName } from '../../src/tensor/formats/ggml/types.js';
import { rng } from '../helpers/kernel-check.js';
import { needNative, nativeSkip } from '../helpers/native.js';

const NATIVE_TYPES = ['F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_NL', 'IQ4_XS', 'MXFP4'];

/** Asserts a and b are the same bytes, naming the first differing offset with its row and block. */
function assertSameBytes(got: Uint8Array, want: Uint8Array, type: number, cols: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const rb = ggmlRowBytes(type, cols);
  const bb = ggmlTypeInfo(type)!.blockBytes;
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      const r = Math.floor(i / rb);
      assert.fail(`${what}: native byte ${i} (row ${r}, block ${Math.floor((i % rb) / bb)}, byte ${(i % rb) % bb} of it) is ${got[i]}, TypeScript ${want[i]}`);
    }
  }
}

/** Standard normal draws (Box–Muller on mulberry32). */
function gaussian(u: () => number): number {
  return Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u());
}

/** FP8 E4M3 grid values (what an FP8 checkpoint dequantises to before a block scale): s · 2^e · (1 + m/8). */
function e4m3(u: () => number): number {
  const e = Math.floor(u() * 15) - 7;
  const m = Math.floor(u() * 8);
  return (u() < 0.5 ? -1 : 1) * 2 ** e * (1 + m / 8);
}

/** One row of `cols` values of distribution `kind`. */
function row(kind: string, cols: number, u: () => number): Float32Array {
  const x = new Float32Array(cols);
  for (let c = 0; c < cols; c++) {
    switch (kind) {
      case 'gaussian':
        x[c] = gaussian(u);
        break;
      case 'gaussian·0.02':
        x[c] = 0.02 * gaussian(u);
        break;
      case 'gaussian·40':
        x[c] = 40 * gaussian(u);
        break;
      case 'uniform':
        x[c] = u() * 2 - 1;
        break;
      case 'zeros':
        break;
      case 'outlier':
      case 'outlier 1e30':
      case 'outlier 3e38':
        x[c] = 0.05 * gaussian(u);
        break;
      case 'tiny 1e-30':
        x[c] = 1e-30 * gaussian(u);
        break;
      case 'subnormal':
        x[c] = 1e-40 * gaussian(u);
        break;
      case 'denormal min':
        x[c] = [0, 1.4e-45, -1.4e-45, 2.8e-45][Math.floor(u() * 4)]!;
        break;
      case 'negative':
        x[c] = -Math.abs(gaussian(u)) - 0.01;
        break;
      case 'ties':
        // multiples of 1/16 around a block max of 8 or 16: many codes land exactly on .5
        x[c] = (Math.floor(u() * 33) - 16) / 2 + (u() < 0.3 ? 0.25 : 0);
        break;
      case 'constant':
        x[c] = 0.375;
        break;
      case 'sparse':
        x[c] = u() < 0.9 ? 0 : gaussian(u);
        break;
      case 'fp8':
        x[c] = e4m3(u) * 2 ** -9;
        break;
      case 'huge':
        x[c] = 1e37 * gaussian(u);
        break;
      default:
        throw new Error(kind);
    }
  }
  if (kind === 'outlier') x[Math.floor(u() * cols)] = 1e4;
  if (kind === 'outlier 1e30') x[Math.floor(u() * cols)] = -1e30;
  if (kind === 'outlier 3e38') x[Math.floor(u() * cols)] = 3e38;
  return x;
}

const KINDS = ['gaussian', 'gaussian·0.02', 'gaussian·40', 'uniform', 'zeros', 'outlier', 'outlier 1e30', 'outlier 3e38', 'tiny 1e-30', 'subnormal', 'denormal min', 'negative', 'ties', 'constant', 'sparse', 'fp8', 'huge'];

test('the addon writes every type the brief lists, and quantizeGgmlRows uses it', { skip: nativeSkip }, (t) => {
  const addon = needNative(t);
  if (!addon) return;
  const ids = NATIVE_TYPES.map((n) => GGML_TYPE[n]!).sort((a, b) => a - b);
  assert.deepEqual(addon.ggmlQuantizeTypes(), ids);
  for (const id of ids) assert.ok(nativeQuantizeAvailable(id), ggmlTypeName(id));
  assert.ok(!nativeQuantizeAvailable(GGML_TYPE['F32']!));
});

for (const name of NATIVE_TYPES) {
  test(`${name}: native bytes = TypeScript bytes on every distribution, 3 seeds, rows of several blocks`, { skip: nativeSkip }, (t) => {
    const addon = needNative(t);
    if (!addon) return;
    const type = GGML_TYPE[name]!;
    const be = ggmlTypeInfo(type)!.blockElements;
    const block = be === 1 ? 32 : be;
    // 32-element blocks: 11 = one run of 8 blocks (IQ4_NL's scale search takes 8 at a time) and 3 more
    const blockCounts = block === 32 ? [1, 3, 11] : [1, 2, 3];
    for (const seed of [1, 2, 3]) {
      const u = rng(1000 * seed + type);
      for (const blocks of blockCounts) {
        const cols = block * blocks;
        // one row of each distribution (an odd count: 17), in an order that changes with the seed
        const kinds = KINDS.map((k, i) => KINDS[(i + seed * 5) % KINDS.length]!);
        const rows = kinds.length;
        const x = new Float32Array(rows * cols);
        kinds.forEach((k, r) => x.set(row(k, cols, u), r * cols));
        const want = quantizeGgmlRowsReference(type, x, rows, cols);
        const got = new Uint8Array(want.length);
        assert.equal(addon.quantizeGgml(type, x, rows, cols, got), -1);
        assertSameBytes(got, want, type, cols, `${name} seed ${seed}, ${cols} columns (rows: ${kinds.join(', ')})`);
        assertSameBytes(quantizeGgmlRows(type, x, rows, cols), want, type, cols, `${name} quantizeGgmlRows`);
      }
    }
    // a larger Gaussian matrix of an odd row count
    const u = rng(77 + type);
    const rows = 9;
    const cols = (block === 32 ? 20 : 4) * block;
    const x = Float32Array.from({ length: rows * cols }, () => gaussian(u) * 0.03);
    assertSameBytes(quantizeGgmlRows(type, x, rows, cols), quantizeGgmlRowsReference(type, x, rows, cols), type, cols, `${name} 9 rows`);
  });
}

test('a non-finite value: the same RangeError (row and column) from the native path as from the reference', { skip: nativeSkip }, (t) => {
  const addon = needNative(t);
  if (!addon) return;
  for (const name of ['Q4_K', 'Q8_0', 'IQ4_XS', 'Q6_K', 'MXFP4']) {
    const type = GGML_TYPE[name]!;
    const cols = 2 * ggmlTypeInfo(type)!.blockElements;
    for (const bad of [NaN, Infinity, -Infinity]) {
      const x = Float32Array.from({ length: 3 * cols }, (_, i) => Math.sin(i));
      x[2 * cols + 37] = bad;
      x[2 * cols + 40] = NaN; // a later one is not the one named
      let want = '';
      assert.throws(() => quantizeGgmlRowsReference(type, x, 3, cols), (e: Error) => {
        want = e.message;
        return e instanceof RangeError;
      });
      assert.match(want, new RegExp(`row 2, column 37 is ${bad}`));
      assert.throws(() => quantizeGgmlRows(type, x, 3, cols), (e: Error) => e instanceof RangeError && e.message === want);
      assert.equal(addon.quantizeGgml(type, x, 3, cols, new Uint8Array(3 * ggmlRowBytes(type, cols))), 2 * cols + 37);
    }
  }
  // F16 and BF16 keep non-finite values, as the reference does
  const x = new Float32Array([1, NaN, Infinity, -Infinity]);
  for (const name of ['F16', 'BF16']) {
    const type = GGML_TYPE[name]!;
    assert.deepEqual(quantizeGgmlRows(type, x, 1, 4), quantizeGgmlRowsReference(type, x, 1, 4));
  }
});

test('quantizeGgml refuses what it cannot write', { skip: nativeSkip }, (t) => {
  const addon = needNative(t);
  if (!addon) return;
  const x = new Float32Array(256);
  assert.throws(() => addon.quantizeGgml(GGML_TYPE['Q4_K']!, x, 1, 128, new Uint8Array(144)), RangeError);
  assert.throws(() => addon.quantizeGgml(GGML_TYPE['Q4_K']!, x, 2, 256, new Uint8Array(144)), RangeError);
  assert.throws(() => addon.quantizeGgml(GGML_TYPE['Q4_K']!, x, 1, 256, new Uint8Array(143)), RangeError);
  assert.throws(() => addon.quantizeGgml(GGML_TYPE['IQ2_XXS']!, x, 1, 256, new Uint8Array(1024)), RangeError);
  assert.throws(() => quantizeGgmlRows(GGML_TYPE['Q4_K']!, x, 1, 100), RangeError);
});

test('MIMO_BACKEND=ts and MIMO_NATIVE_DISABLE=1 keep the TypeScript encoders (the same bytes)', () => {
  const url = new URL('../../src/tensor/formats/ggml/quantize.js', import.meta.url).href;
  const script = `import(${JSON.stringify(url)}).then((m) => { const x = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i));
    const same = Buffer.from(m.quantizeGgmlRows(12, x, 2, 256)).equals(Buffer.from(m.quantizeGgmlRowsReference(12, x, 2, 256)));
    console.log(JSON.stringify([m.nativeQuantizeAvailable(12), same])); })`;
  for (const env of [{ MIMO_BACKEND: 'ts' }, { MIMO_NATIVE_DISABLE: '1' }]) {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), [false, true], JSON.stringify(env));
  }
});
