/**
 * Our GGUF writer (src/loader/gguf-writer.ts) read back by our reader, whose header parser is @huggingface/gguf:
 * metadata of every value type, tensors of several ggml types streamed in slices at aligned offsets, a split set
 * with llama.cpp's split keys, and no file left behind by an aborted write.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { GgufModelFiles, resolveGgufPaths } from '../../src/loader/gguf.js';
import { GGUF_TYPE, GgufWriter, type GgufKv } from '../../src/loader/gguf-writer.js';
import { quantizeGgmlRows } from '../../src/tensor/formats/ggml/quantize.js';
import { GGML_TYPE } from '../../src/tensor/formats/ggml/types.js';

const KVS: GgufKv[] = [
  { key: 'general.architecture', type: GGUF_TYPE.STRING, value: 'mimo2' },
  { key: 'a.u32', type: GGUF_TYPE.UINT32, value: 4000000000 },
  { key: 'a.i32', type: GGUF_TYPE.INT32, value: -5 },
  { key: 'a.f32', type: GGUF_TYPE.FLOAT32, value: 0.5 },
  { key: 'a.bool', type: GGUF_TYPE.BOOL, value: true },
  { key: 'a.u16', type: GGUF_TYPE.UINT16, value: 513 },
  { key: 'a.u64', type: GGUF_TYPE.UINT64, value: 2 ** 40 },
  { key: 'a.f64', type: GGUF_TYPE.FLOAT64, value: 1e-300 },
  { key: 'a.str', type: GGUF_TYPE.STRING, value: 'héllo ✓' },
  { key: 'a.arr', type: GGUF_TYPE.ARRAY, elementType: GGUF_TYPE.UINT32, value: [1, 0, 1] },
  { key: 'a.strs', type: GGUF_TYPE.ARRAY, elementType: GGUF_TYPE.STRING, value: ['x', 'y z', ''] },
];

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-gguf-writer-'));
}

test('metadata and tensors (F32, Q8_0, Q4_K, 3-D) read back; offsets aligned; data streamed in slices', () => {
  const dir = tmpDir();
  try {
    const out = path.join(dir, 'm.gguf');
    const x = Float32Array.from({ length: 2 * 256 }, (_, i) => Math.sin(i));
    const q8 = quantizeGgmlRows(GGML_TYPE['Q8_0']!, x, 2, 256);
    const q4k = quantizeGgmlRows(GGML_TYPE['Q4_K']!, x, 2, 256);
    const f32 = new Uint8Array(Float32Array.from([1, 2, 3]).buffer);
    const w = new GgufWriter(out, KVS, [
      { name: 'v', type: 0, shape: [3] },
      { name: 'q8', type: 8, shape: [2, 256] },
      { name: 'exps', type: 12, shape: [2, 1, 256] },
    ]);
    w.write(f32);
    w.write(q8.subarray(0, 100));
    w.write(q8.subarray(100));
    w.write(q4k.subarray(0, 144));
    w.write(q4k.subarray(144));
    assert.throws(() => w.write(new Uint8Array(1)), /already written/);
    assert.deepEqual(w.finish(), [out]);
    const g = new GgufModelFiles([out]);
    try {
      assert.equal(g.get('general.architecture'), 'mimo2');
      assert.equal(g.get('a.u32'), 4000000000);
      assert.equal(g.get('a.i32'), -5);
      assert.equal(g.get('a.f32'), 0.5);
      assert.equal(g.get('a.bool'), true);
      assert.equal(g.get('a.u16'), 513);
      assert.equal(Number(g.get('a.u64')), 2 ** 40);
      assert.equal(g.get('a.f64'), 1e-300);
      assert.equal(g.get('a.str'), 'héllo ✓');
      assert.deepEqual(g.get('a.arr'), [1, 0, 1]);
      assert.deepEqual(g.get('a.strs'), ['x', 'y z', '']);
      const t = g.tensors.get('exps')!;
      assert.deepEqual([t.type, t.shape, t.dims], [12, [2, 1, 256], [256, 1, 2]]);
      for (const info of g.tensors.values()) assert.equal((info.start - g.tensors.get('v')!.start) % 32, 0, info.name);
      assert.deepEqual(Array.from(g.view('v')), Array.from(f32));
      assert.deepEqual(Array.from(g.view('q8')), Array.from(q8));
      assert.deepEqual(Array.from(g.view('exps')), Array.from(q4k));
    } finally {
      g.close();
    }
    assert.deepEqual(fs.readdirSync(dir), ['m.gguf'], 'no temporary file left');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a split set: parts at tensor boundaries, split.* keys, read back as one model', () => {
  const dir = tmpDir();
  try {
    const out = path.join(dir, 'm.gguf');
    const tensors = Array.from({ length: 5 }, (_, i) => ({ name: `t${i}`, type: 0, shape: [64] }));
    const w = new GgufWriter(out, KVS, tensors, { splitMaxBytes: 600 });
    for (let i = 0; i < 5; i++) w.write(new Uint8Array(new Float32Array(64).fill(i).buffer));
    const paths = w.finish();
    assert.deepEqual(paths.map((p) => path.basename(p)), ['m-00001-of-00003.gguf', 'm-00002-of-00003.gguf', 'm-00003-of-00003.gguf']);
    const g = new GgufModelFiles(resolveGgufPaths(paths[0]!)!);
    try {
      assert.equal(g.tensors.size, 5);
      assert.equal(g.get('a.str'), 'héllo ✓');
      assert.equal(g.files[1]!.get('split.no'), 1);
      assert.equal(g.files[1]!.get('a.str'), undefined, 'later parts hold only the split keys');
      assert.equal(g.files[2]!.get('split.count'), 3);
      assert.equal(new Float32Array(g.view('t4').slice().buffer)[63], 4);
    } finally {
      g.close();
    }
    assert.throws(() => new GgufWriter(out, KVS, [{ name: 'big', type: 0, shape: [1000] }], { splitMaxBytes: 600 }), /big .* larger than --split-max-size 600/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an incomplete write is refused at finish; abort leaves no file', () => {
  const dir = tmpDir();
  try {
    const out = path.join(dir, 'm.gguf');
    const w = new GgufWriter(out, KVS, [{ name: 'q', type: 8, shape: [1, 64] }]);
    w.write(new Uint8Array(30));
    assert.throws(() => w.finish(), /tensor q was not written \(30 bytes of it\)/);
    w.abort();
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.throws(() => new GgufWriter(out, KVS, [{ name: 'bad', type: 12, shape: [2, 100] }]), /tensor bad: 100 elements are not a whole number of Q4_K blocks/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
