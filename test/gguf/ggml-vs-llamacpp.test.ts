/**
 * The block decoders and quantizers against llama.cpp's own ggml: the anchor's prebuilt libggml-base.so (node-llama-cpp,
 * installed on first use in <cache>/bench/llamacpp-anchor, bench/lib/anchor.ts) called through Python ctypes
 * (test/gguf/ggml_dequantize_ref.py, ggml_quantize_ref.py). Decoders: bitwise on random bytes for every type (NaN and
 * infinite scales included). Quantizers: bitwise on Gaussian rows with outliers for every type `mimo quantize` can
 * write, so our files hold the bytes llama-quantize would write (without an importance matrix). An anchor that
 * cannot be installed is a failure saying why, not a skip.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { anchorDir, ensureAnchor } from '../../bench/lib/anchor.js';
import { quantizeGgmlRows } from '../../src/tensor/formats/ggml/quantize.js';
import { dequantizeGgmlRow, GGML_TYPE, ggmlRowBytes } from '../../src/tensor/formats/ggml/types.js';
import { repoRoot } from '../helpers/fixtures.js';

// The anchor is installed on first use (copy of ../shared/tools/llamacpp-anchor + npm ci), as `npm run bench` does.
let anchorProblem = '';
await ensureAnchor().catch((e: Error) => (anchorProblem = e.message));
const lib = path.join(anchorDir(), 'node_modules', '@node-llama-cpp', 'linux-x64', 'bins', 'linux-x64', 'libggml-base.so');
const helpers = path.join(repoRoot, 'test', 'gguf');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-ggml-ref-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const missing = !fs.existsSync(lib) && 'see the installation test';

const TYPES: Array<[string, string]> = [
  ['Q4_0', 'q4_0'], ['Q4_1', 'q4_1'], ['Q5_0', 'q5_0'], ['Q5_1', 'q5_1'], ['Q8_0', 'q8_0'], ['Q2_K', 'q2_K'], ['Q3_K', 'q3_K'],
  ['Q4_K', 'q4_K'], ['Q5_K', 'q5_K'], ['Q6_K', 'q6_K'], ['IQ4_NL', 'iq4_nl'], ['IQ4_XS', 'iq4_xs'], ['MXFP4', 'mxfp4'],
];

test('llama.cpp\'s ggml library is installed for the bitwise checks', () => {
  assert.ok(fs.existsSync(lib), `${lib} not found, and installing the anchor failed: ${anchorProblem}`);
});

test('every block decoder equals llama.cpp\'s dequantize_row_* bit for bit on random bytes', { skip: missing }, () => {
  const n = 4096;
  let s = 99;
  const byte = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s >>> 24;
  };
  for (const [type, fn] of TYPES) {
    const id = GGML_TYPE[type]!;
    const bytes = Uint8Array.from({ length: ggmlRowBytes(id, n) }, byte);
    const inFile = path.join(tmp, `${type}.bin`);
    const outFile = path.join(tmp, `${type}.f32`);
    fs.writeFileSync(inFile, bytes);
    execFileSync('python3', [path.join(helpers, 'ggml_dequantize_ref.py'), lib, inFile, outFile, fn, String(n)]);
    const want = new Float32Array(fs.readFileSync(outFile).buffer.slice(0));
    const got = new Float32Array(n);
    dequantizeGgmlRow(id, bytes, n, got);
    for (let i = 0; i < n; i++) assert.ok(Object.is(got[i], want[i]), `${type} element ${i}: ${got[i]} vs llama.cpp ${want[i]}`);
  }
});

test('the quantizers equal llama.cpp\'s (ggml_quantize_chunk, no importance matrix) bit for bit', { skip: missing }, (t) => {
  const rows = 8;
  const cols = 512;
  let s = 12345;
  const u = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
  const x = Float32Array.from({ length: rows * cols }, (_, i) => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u()) * (i % 97 === 0 ? 5 : 1));
  const inFile = path.join(tmp, 'x.f32');
  fs.writeFileSync(inFile, new Uint8Array(x.buffer));
  const relErr = (id: number, q: Uint8Array): number => {
    const y = new Float32Array(rows * cols);
    const rb = ggmlRowBytes(id, cols);
    for (let r = 0; r < rows; r++) dequantizeGgmlRow(id, q.subarray(r * rb), cols, y, r * cols);
    let e = 0;
    let n = 0;
    for (let i = 0; i < y.length; i++) {
      e += (y[i]! - x[i]!) ** 2;
      n += x[i]! ** 2;
    }
    return Math.sqrt(e / n);
  };
  const report: string[] = [];
  for (const [type] of [...TYPES, ['F16', ''], ['BF16', '']] as Array<[string, string]>) {
    const id = GGML_TYPE[type]!;
    const outFile = path.join(tmp, `${type}.q`);
    execFileSync('python3', [path.join(helpers, 'ggml_quantize_ref.py'), lib, inFile, outFile, String(id), String(rows), String(cols)]);
    const want = new Uint8Array(fs.readFileSync(outFile));
    const got = quantizeGgmlRows(id, x, rows, cols);
    assert.equal(got.length, want.length, type);
    let differ = 0;
    for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) differ++;
    report.push(`${type} ${relErr(id, got).toExponential(2)}`);
    assert.equal(differ, 0, `${type}: ${differ} of ${got.length} bytes differ from llama.cpp's quantisation`);
  }
  t.diagnostic(`bitwise equal; relative RMS error: ${report.join(', ')}`);
});
