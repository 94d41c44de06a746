/**
 * Unit tests of src/loader/safetensors.ts: writer/reader round trip and every hostile header the reader must
 * reject with its own CheckpointError naming the file (no crash, no hang, no huge allocation).
 * Format: fixtures/README §1 "Sharding" (u64 LE header length, JSON header, data_offsets relative to the data area).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CheckpointError } from '../../src/errors.js';
import { numel, SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../src/loader/safetensors.js';
import { bf16BitsToNumber, decodeToF32 } from '../../src/tensor/dtype.js';

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-safetensors-test-'));
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

let counter = 0;
function tmpFile(stem: string): string {
  return path.join(tmp, `${stem}-${counter++}.safetensors`);
}

/** Write a raw safetensors-like file: 8-byte LE length (or `lenOverride`), header text, data bytes. */
function writeRaw(file: string, header: string | object, data: Uint8Array = new Uint8Array(0), lenOverride?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lenOverride ?? BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, data]));
  return file;
}

/** Assert that `fn` throws a CheckpointError whose message names `file` and matches `re`. */
function throwsCheckpoint(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.equal(e.file, file);
    assert.ok(e.message.includes(file), `message does not name the file: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

function openFds(): number | null {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

describe('numel', () => {
  it('multiplies dims; a scalar has one element', () => {
    assert.equal(numel([]), 1);
    assert.equal(numel([3, 4, 5]), 60);
    assert.equal(numel([7, 0]), 0);
  });
});

describe('writeSafetensors + SafetensorsFile round trip', () => {
  it('writes a padded header and reads every dtype back bit-exactly', () => {
    const f32 = new Float32Array([1.5, -2.25, 3e-39, Math.fround(Math.PI), -0, 65504]);
    const bf16 = new Uint16Array([0x3f80, 0xc000, 0x4049, 0x0001, 0x7f7f, 0x8000]);
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7bff]);
    const i64 = new BigInt64Array([0n, -1n, 151645n, 9007199254740991n]);
    const i32 = new Int32Array([1, -2, 3]);
    const f8 = new Uint8Array([0x38, 0x7e, 0xfe, 0x01, 0x00]);
    const scalar = new Float32Array([42]);
    const tensors: TensorToWrite[] = [
      { name: 'a.f32', dtype: 'F32', shape: [2, 3], bytes: () => bytesOf(f32) },
      { name: 'b.bf16', dtype: 'BF16', shape: [3, 2], bytes: () => bytesOf(bf16) },
      { name: 'c.f16', dtype: 'F16', shape: [4], bytes: () => bytesOf(f16) },
      { name: 'd.i64', dtype: 'I64', shape: [2, 2], bytes: () => bytesOf(i64) },
      { name: 'e.i32', dtype: 'I32', shape: [3], bytes: () => bytesOf(i32) },
      { name: 'f.fp8', dtype: 'F8_E4M3', shape: [5], bytes: () => f8 },
      { name: 'g.scalar', dtype: 'F32', shape: [], bytes: () => bytesOf(scalar) },
      { name: 'h.empty', dtype: 'F32', shape: [0, 4], bytes: () => new Uint8Array(0) },
    ];
    const file = tmpFile('roundtrip');
    writeSafetensors(file, tensors, { format: 'pt', note: 'x' });
    const st = new SafetensorsFile(file);
    try {
      assert.equal(st.sizeBytes, fs.statSync(file).size);
      assert.equal((st.headerBytes - 8) % 8, 0, 'header padded to a multiple of 8');
      assert.deepEqual(st.metadata, { format: 'pt', note: 'x' });
      assert.deepEqual([...st.tensors.keys()], tensors.map((t) => t.name));
      let expectStart = st.headerBytes;
      for (const t of tensors) {
        const info = st.tensors.get(t.name)!;
        assert.equal(info.dtype, t.dtype);
        assert.equal(info.rawDtype, t.dtype);
        assert.deepEqual(info.shape, t.shape);
        assert.equal(info.start, expectStart, `${t.name} start`);
        expectStart += info.sizeBytes;
        const got = st.readBytes(t.name);
        assert.deepEqual([...got], [...t.bytes()], `${t.name} bytes`);
        assert.equal(got.byteOffset, 0);
        assert.equal(got.buffer.byteLength % 8, 0, 'read buffer is 8-byte aligned/sized so typed views fit');
      }
      assert.equal(expectStart, st.sizeBytes, 'tensors fill the data area');
      // Values decode exactly.
      assert.deepEqual(decodeToF32(st.readBytes('a.f32'), 'F32', 6), f32);
      assert.deepEqual([...decodeToF32(st.readBytes('b.bf16'), 'BF16', 6)], [...bf16].map(bf16BitsToNumber));
      assert.deepEqual([...new BigInt64Array(st.readBytes('d.i64').buffer, 0, 4)], [...i64]);
      assert.deepEqual([...decodeToF32(st.readBytes('g.scalar'), 'F32', 1)], [42]);
      assert.equal(st.readBytes('h.empty').byteLength, 0);
    } finally {
      st.close();
    }
  });

  it('writes an empty file (header only) that reads back with no tensors', () => {
    const file = tmpFile('empty');
    writeSafetensors(file, []);
    const st = new SafetensorsFile(file);
    assert.equal(st.tensors.size, 0);
    assert.deepEqual(st.metadata, { format: 'pt' });
    st.close();
  });

  it('writer rejects a producer giving the wrong number of bytes', () => {
    const file = tmpFile('badproducer');
    throwsCheckpoint(
      () => writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [4], bytes: () => new Uint8Array(12) }]),
      file,
      /tensor w: producer gave 12 bytes, expected 16/,
    );
  });

  it('close() is idempotent and later reads fail clearly', () => {
    const file = tmpFile('closed');
    writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [1], bytes: () => new Uint8Array(4) }]);
    const st = new SafetensorsFile(file);
    st.close();
    st.close();
    throwsCheckpoint(() => st.readBytes('w'), file, /closed/);
  });

  it('readBytes of an absent tensor names it', () => {
    const file = tmpFile('absent');
    writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [1], bytes: () => new Uint8Array(4) }]);
    const st = new SafetensorsFile(file);
    try {
      throwsCheckpoint(() => st.readBytes('model.nope'), file, /tensor model\.nope not found/);
    } finally {
      st.close();
    }
  });
});

describe('SafetensorsFile rejects hostile files', () => {
  const f32x4 = { dtype: 'F32', shape: [4], data_offsets: [0, 16] };

  it('missing file', () => {
    const file = path.join(tmp, 'does-not-exist.safetensors');
    throwsCheckpoint(() => new SafetensorsFile(file), file, /cannot open/);
  });

  it('file shorter than 8 bytes (including empty)', () => {
    for (const n of [0, 1, 7]) {
      const file = tmpFile(`short${n}`);
      fs.writeFileSync(file, Buffer.alloc(n, 0x41));
      throwsCheckpoint(() => new SafetensorsFile(file), file, new RegExp(`file is ${n} bytes, shorter than the 8-byte header length`));
    }
  });

  it('header length beyond the end of the file', () => {
    const file = writeRaw(tmpFile('hdrlen'), { w: f32x4 }, new Uint8Array(16), 1000n);
    throwsCheckpoint(() => new SafetensorsFile(file), file, /header length 1000 exceeds the file/);
    // Off by one: the header length claims one byte more than the file holds.
    const json = JSON.stringify({});
    const file2 = writeRaw(tmpFile('hdrlen1'), json, new Uint8Array(0), BigInt(json.length + 1));
    throwsCheckpoint(() => new SafetensorsFile(file2), file2, /header length \d+ exceeds the file/);
  });

  it('header length absurdly large (2^63, 2^64-1) fails fast without allocating', () => {
    for (const len of [2n ** 63n, 2n ** 64n - 1n]) {
      const file = writeRaw(tmpFile('hdrhuge'), '{}', new Uint8Array(0), len);
      const t0 = Date.now();
      throwsCheckpoint(() => new SafetensorsFile(file), file, new RegExp(`header length ${len} exceeds`));
      assert.ok(Date.now() - t0 < 2000, 'rejected quickly');
    }
  });

  it('header is not JSON / not an object', () => {
    const file = writeRaw(tmpFile('notjson'), '{"w": {"dtype": "F32", ');
    throwsCheckpoint(() => new SafetensorsFile(file), file, /header is not valid JSON/);
    const bin = tmpFile('binary');
    const junk = Buffer.from([0xff, 0xfe, 0x00, 0x12, 0x80, 0x81, 0x82, 0x83]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(junk.length));
    fs.writeFileSync(bin, Buffer.concat([len, junk]));
    throwsCheckpoint(() => new SafetensorsFile(bin), bin, /header is not valid JSON/);
    for (const text of ['[1,2]', 'null', '42', '"str"']) {
      const f = writeRaw(tmpFile('notobj'), text);
      throwsCheckpoint(() => new SafetensorsFile(f), f, /header is not a JSON object/);
    }
  });

  it('data_offsets outside the data area', () => {
    const file = writeRaw(tmpFile('offsets'), { w: { dtype: 'F32', shape: [16], data_offsets: [0, 64] } }, new Uint8Array(16));
    throwsCheckpoint(() => new SafetensorsFile(file), file, /tensor w: data_offsets \[0, 64\] lie outside the data area of 16 bytes/);
    // Second tensor runs past the end.
    const file2 = writeRaw(
      tmpFile('offsets2'),
      { a: f32x4, b: { dtype: 'F32', shape: [4], data_offsets: [16, 32] } },
      new Uint8Array(20),
    );
    throwsCheckpoint(() => new SafetensorsFile(file2), file2, /tensor b: data_offsets \[16, 32\] lie outside the data area of 20 bytes/);
    // begin > end.
    const file3 = writeRaw(tmpFile('offsets3'), { w: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, new Uint8Array(16));
    throwsCheckpoint(() => new SafetensorsFile(file3), file3, /tensor w: data_offsets \[8, 4\] lie outside/);
  });

  it('data_offsets malformed (not two non-negative integers)', () => {
    for (const offs of [[0], [0, 16, 32], [-4, 12], [0, 16.5], ['0', '16'], null, 'x', [0, 2 ** 60]]) {
      const file = writeRaw(tmpFile('badoffs'), { w: { dtype: 'F32', shape: [4], data_offsets: offs } }, new Uint8Array(16));
      throwsCheckpoint(() => new SafetensorsFile(file), file, /tensor w: data_offsets .* (is not \[begin, end\]|lie outside)/);
    }
  });

  it('overlapping tensors', () => {
    const file = writeRaw(
      tmpFile('overlap'),
      { a: f32x4, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } },
      new Uint8Array(24),
    );
    throwsCheckpoint(() => new SafetensorsFile(file), file, /tensors a and b overlap/);
    // Two names on the same bytes (aliasing) is an overlap too.
    const file2 = writeRaw(tmpFile('alias'), { a: f32x4, b: f32x4 }, new Uint8Array(16));
    throwsCheckpoint(() => new SafetensorsFile(file2), file2, /tensors [ab] and [ab] overlap/);
    // Overlap detected regardless of header order.
    const file3 = writeRaw(
      tmpFile('overlap3'),
      { z: { dtype: 'F32', shape: [2], data_offsets: [12, 20] }, y: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } },
      new Uint8Array(20),
    );
    throwsCheckpoint(() => new SafetensorsFile(file3), file3, /tensors y and z overlap/);
  });

  it('bytes not matching dtype × shape', () => {
    const file = writeRaw(tmpFile('size'), { w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8));
    throwsCheckpoint(() => new SafetensorsFile(file), file, /tensor w: 8 bytes do not match F32 × \[3\] = 12 bytes/);
    const file2 = writeRaw(tmpFile('size2'), { w: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 24] } }, new Uint8Array(24));
    throwsCheckpoint(() => new SafetensorsFile(file2), file2, /tensor w: 24 bytes do not match BF16 × \[2,3\] = 12 bytes/);
    // A shape whose element count overflows cannot match any real byte count.
    const file3 = writeRaw(tmpFile('size3'), { w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 16] } }, new Uint8Array(16));
    throwsCheckpoint(() => new SafetensorsFile(file3), file3, /tensor w: 16 bytes do not match F32/);
  });

  it('shape with negative, non-integer or non-numeric dims, or missing', () => {
    for (const shape of [[-1, 4], [2.5], ['4'], [4, null], 4, null, [Infinity], [2 ** 60]]) {
      const file = writeRaw(tmpFile('shape'), { w: { dtype: 'F32', shape, data_offsets: [0, 16] } }, new Uint8Array(16));
      throwsCheckpoint(() => new SafetensorsFile(file), file, /tensor w: shape .* is not a list of non-negative integers/);
    }
    const file = writeRaw(tmpFile('noshape'), { w: { dtype: 'F32', data_offsets: [0, 16] } }, new Uint8Array(16));
    throwsCheckpoint(() => new SafetensorsFile(file), file, /tensor w: shape undefined is not a list/);
  });

  it('entry not an object, or without dtype', () => {
    const file = writeRaw(tmpFile('entry'), { w: 5 }, new Uint8Array(0));
    throwsCheckpoint(() => new SafetensorsFile(file), file, /tensor w: header entry is not an object/);
    const file2 = writeRaw(tmpFile('entry2'), { w: null }, new Uint8Array(0));
    throwsCheckpoint(() => new SafetensorsFile(file2), file2, /tensor w: header entry is not an object/);
    const file3 = writeRaw(tmpFile('nodtype'), { w: { shape: [4], data_offsets: [0, 16] } }, new Uint8Array(16));
    throwsCheckpoint(() => new SafetensorsFile(file3), file3, /tensor w: missing dtype/);
  });

  it('unsupported dtype: listed, but reading it fails clearly', () => {
    const file = writeRaw(
      tmpFile('f64'),
      { w: { dtype: 'F64', shape: [2], data_offsets: [0, 16] }, ok: { dtype: 'F32', shape: [1], data_offsets: [16, 20] } },
      new Uint8Array(20),
    );
    const st = new SafetensorsFile(file);
    try {
      const info = st.tensors.get('w')!;
      assert.equal(info.dtype, null);
      assert.equal(info.rawDtype, 'F64');
      assert.equal(info.sizeBytes, 16);
      throwsCheckpoint(() => st.readBytes('w'), file, /tensor w: dtype F64 is not supported/);
      assert.equal(st.readBytes('ok').byteLength, 4);
    } finally {
      st.close();
    }
  });

  it('an unsupported-dtype tensor still gets bounds and overlap checks', () => {
    const file = writeRaw(tmpFile('f64oob'), { w: { dtype: 'F64', shape: [4], data_offsets: [0, 32] } }, new Uint8Array(16));
    throwsCheckpoint(() => new SafetensorsFile(file), file, /tensor w: data_offsets \[0, 32\] lie outside/);
  });

  it('__metadata__ of a non-object kind is tolerated and not taken as a tensor', () => {
    const file = writeRaw(tmpFile('meta'), { __metadata__: 'weird', w: f32x4 }, new Uint8Array(16));
    const st = new SafetensorsFile(file);
    assert.deepEqual([...st.tensors.keys()], ['w']);
    st.close();
  });

  it('a "__proto__" key inside __metadata__ cannot change the metadata object\'s prototype', () => {
    const file = writeRaw(tmpFile('protometa'), '{"__metadata__": {"__proto__": {"format": "evil"}, "a": "b"}}');
    const st = new SafetensorsFile(file);
    try {
      assert.equal(Object.getPrototypeOf(st.metadata), Object.prototype);
      assert.equal(st.metadata['format'], undefined, 'no inherited metadata from a hostile header');
      assert.equal(st.metadata['a'], 'b');
    } finally {
      st.close();
    }
  });

  it('does not leak file descriptors when rejecting files', () => {
    const before = openFds();
    if (before === null) return; // no /proc on this platform
    const file = writeRaw(tmpFile('leak'), '{not json');
    for (let i = 0; i < 50; i++) assert.throws(() => new SafetensorsFile(file), CheckpointError);
    assert.equal(openFds(), before);
  });
});
