/**
 * Unit tests of src/loader/checkpoint.ts: single-file and sharded round trips, index hostility (path escapes,
 * symlinks, missing files/tensors), FP8 block dequantisation on the uniform and the per-chunk grid (spec §2.5,
 * fixtures/README §1 "FP8", §1.1), modality filtering, and a sweep over every fixture checkpoint.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CheckpointError } from '../../src/errors.js';
import { Checkpoint, INDEX_FILE, isTextTensor, SINGLE_FILE } from '../../src/loader/checkpoint.js';
import { writeSafetensors, type TensorToWrite } from '../../src/loader/safetensors.js';
import { bf16BitsToNumber, f16ToNumber, FP8_E4M3_TABLE, numberToFp8E4M3 } from '../../src/tensor/dtype.js';
import { discoverCases } from '../helpers/fixtures.js';

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-checkpoint-test-'));
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

let counter = 0;
/** A fresh empty directory under the test's temp root. */
function freshDir(stem: string): string {
  const d = path.join(tmp, `${stem}-${counter++}`);
  fs.mkdirSync(d);
  return d;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
const F32 = (name: string, shape: number[], values: ArrayLike<number>): TensorToWrite => ({
  name,
  dtype: 'F32',
  shape,
  bytes: () => bytesOf(Float32Array.from(values)),
});
const BF16 = (name: string, shape: number[], bits: ArrayLike<number>): TensorToWrite => ({
  name,
  dtype: 'BF16',
  shape,
  bytes: () => bytesOf(Uint16Array.from(bits)),
});
const F16 = (name: string, shape: number[], bits: ArrayLike<number>): TensorToWrite => ({
  name,
  dtype: 'F16',
  shape,
  bytes: () => bytesOf(Uint16Array.from(bits)),
});
const I64 = (name: string, shape: number[], values: bigint[]): TensorToWrite => ({
  name,
  dtype: 'I64',
  shape,
  bytes: () => bytesOf(BigInt64Array.from(values)),
});
const FP8 = (name: string, shape: number[], codes: Uint8Array): TensorToWrite => ({ name, dtype: 'F8_E4M3', shape, bytes: () => codes });

function writeIndex(dir: string, weightMap: Record<string, unknown>): string {
  const p = path.join(dir, INDEX_FILE);
  fs.writeFileSync(p, JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  return p;
}

/** Assert that `fn` throws a CheckpointError whose `file` is `file`, whose message names it and matches `re`. */
function throwsCheckpoint(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.equal(e.file, file);
    assert.ok(e.message.includes(file), `message does not name the file: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

/** Deterministic uniform [0, 1) generator (LCG) so failures are reproducible. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Quantise a [R, C] float matrix to FP8 with per-block scale = f32(amax / 448) on a uniform [b0, b1] grid. */
function quantise(w: Float64Array, R: number, C: number, b0: number, b1: number): { codes: Uint8Array; scales: Float32Array } {
  const sr = Math.ceil(R / b0);
  const sc = Math.ceil(C / b1);
  const scales = new Float32Array(sr * sc);
  for (let br = 0; br < sr; br++) {
    for (let bc = 0; bc < sc; bc++) {
      let amax = 0;
      for (let r = br * b0; r < Math.min(R, (br + 1) * b0); r++) for (let c = bc * b1; c < Math.min(C, (bc + 1) * b1); c++) amax = Math.max(amax, Math.abs(w[r * C + c]!));
      scales[br * sc + bc] = amax > 0 ? Math.fround(amax / 448) : 1;
    }
  }
  const codes = new Uint8Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) codes[r * C + c] = numberToFp8E4M3(w[r * C + c]! / scales[Math.floor(r / b0) * sc + Math.floor(c / b1)]!);
  return { codes, scales };
}

describe('Checkpoint: directory handling', () => {
  it('rejects a missing directory or a file given as directory', () => {
    const missing = path.join(tmp, 'no-such-dir');
    throwsCheckpoint(() => new Checkpoint(missing), missing, /not a directory/);
    const file = path.join(freshDir('plainfile'), 'x.txt');
    fs.writeFileSync(file, 'x');
    throwsCheckpoint(() => new Checkpoint(file), file, /not a directory/);
  });

  it('rejects a directory with neither model.safetensors nor an index', () => {
    const dir = freshDir('emptydir');
    throwsCheckpoint(() => new Checkpoint(dir), dir, /neither model\.safetensors nor model\.safetensors\.index\.json found/);
  });

  it('a hostile model.safetensors surfaces the SafetensorsFile error naming it', () => {
    const dir = freshDir('shortsingle');
    const file = path.join(dir, SINGLE_FILE);
    fs.writeFileSync(file, Buffer.from([1, 2, 3]));
    throwsCheckpoint(() => new Checkpoint(dir), file, /shorter than the 8-byte header length/);
  });
});

// Values chosen so that each is exactly representable in its dtype.
const F32_VALUES = [1.5, -0.1, 3e-39, 123456.789, -0, 1e30];
const BF16_BITS = [0x3f80, 0xc000, 0x4049, 0x0001, 0x7f7f, 0xbdcd];
const F16_BITS = [0x3c00, 0xc000, 0x0001, 0x7bff, 0x3555, 0x8400];
const I64_VALUES = [0n, -1n, 151645n, 16777216n, -123456n, 42n];

function roundTripTensors(): TensorToWrite[] {
  return [
    F32('model.embed_tokens.weight', [2, 3], F32_VALUES),
    BF16('model.norm.weight', [6], BF16_BITS),
    F16('model.layers.0.input_layernorm.weight', [3, 2], F16_BITS),
    I64('model.position_ids', [6], I64_VALUES),
    BF16('lm_head.weight', [1, 2], [0x3f80, 0x4000]),
  ];
}

function checkRoundTrip(ck: Checkpoint): void {
  const e = ck.readF32('model.embed_tokens.weight', [2, 3]);
  assert.deepEqual(e.shape, [2, 3]);
  assert.deepEqual([...e.data], F32_VALUES.map(Math.fround));
  assert.ok(Object.is(e.data[4], -0), 'F32 -0 preserved');
  assert.deepEqual([...ck.readF32('model.norm.weight').data], BF16_BITS.map(bf16BitsToNumber));
  const h = ck.readF32('model.layers.0.input_layernorm.weight');
  assert.deepEqual(h.shape, [3, 2]);
  assert.deepEqual([...h.data], F16_BITS.map(f16ToNumber));
  assert.deepEqual([...ck.readF32('model.position_ids').data], I64_VALUES.map(Number));
  assert.deepEqual([...ck.readF32('lm_head.weight', [1, 2]).data], [1, 2]);
  assert.deepEqual(ck.unusedTextTensors(), []);
}

describe('Checkpoint: valid round trips', () => {
  it('single model.safetensors: F32 / BF16 / F16 / I64 values exactly', () => {
    const dir = freshDir('single');
    const tensors = roundTripTensors();
    writeSafetensors(path.join(dir, SINGLE_FILE), tensors);
    const ck = new Checkpoint(dir);
    try {
      assert.deepEqual(ck.names(), tensors.map((t) => t.name));
      assert.ok(ck.has('model.norm.weight'));
      assert.ok(!ck.has('model.nope'));
      assert.equal(ck.info('model.norm.weight')!.dtype, 'BF16');
      assert.equal(ck.fileOf('model.norm.weight'), path.join(dir, SINGLE_FILE));
      assert.deepEqual(ck.bytesByDtype(), { F32: 24, BF16: 16, F16: 12, I64: 48 });
      checkRoundTrip(ck);
    } finally {
      ck.close();
    }
  });

  it('2-shard index: same values exactly, each tensor resolved to its shard', () => {
    const dir = freshDir('sharded');
    const tensors = roundTripTensors();
    const s1 = 'model-00001-of-00002.safetensors';
    const s2 = 'model-00002-of-00002.safetensors';
    writeSafetensors(path.join(dir, s1), tensors.slice(0, 2));
    writeSafetensors(path.join(dir, s2), tensors.slice(2));
    const map: Record<string, string> = {};
    tensors.forEach((t, i) => (map[t.name] = i < 2 ? s1 : s2));
    writeIndex(dir, map);
    // A stray model.safetensors must be ignored when the index exists.
    fs.writeFileSync(path.join(dir, SINGLE_FILE), Buffer.from([0]));
    const ck = new Checkpoint(dir);
    try {
      assert.deepEqual(ck.names().sort(), tensors.map((t) => t.name).sort());
      assert.equal(ck.fileOf('model.embed_tokens.weight'), path.join(dir, s1));
      assert.equal(ck.fileOf('lm_head.weight'), path.join(dir, s2));
      checkRoundTrip(ck);
    } finally {
      ck.close();
    }
  });

  it('index entries with ./ prefixes resolve to the same shard', () => {
    const dir = freshDir('dotslash');
    writeSafetensors(path.join(dir, 'a.safetensors'), [F32('model.x', [1], [1]), F32('model.y', [1], [2])]);
    writeIndex(dir, { 'model.x': 'a.safetensors', 'model.y': './a.safetensors' });
    const ck = new Checkpoint(dir);
    try {
      assert.deepEqual([...ck.readF32('model.y').data], [2]);
    } finally {
      ck.close();
    }
  });

  it('a symlinked shard that stays inside the directory is accepted', () => {
    const dir = freshDir('innerlink');
    writeSafetensors(path.join(dir, 'real.safetensors'), [F32('model.x', [2], [3, 4])]);
    fs.symlinkSync('real.safetensors', path.join(dir, 'alias.safetensors'));
    writeIndex(dir, { 'model.x': 'alias.safetensors' });
    const ck = new Checkpoint(dir);
    try {
      assert.deepEqual([...ck.readF32('model.x').data], [3, 4]);
    } finally {
      ck.close();
    }
  });

  it('FP8 weight and its scale in different shards', () => {
    const dir = freshDir('splitscale');
    const codes = new Uint8Array(40 * 24);
    for (let i = 0; i < codes.length; i++) codes[i] = [0x38, 0xb8, 0x7e, 0x01, 0x00, 0x40][i % 6]!;
    const scales = [0.5, 2, 0.25, 8]; // [ceil(40/32), ceil(24/16)] = [2, 2]
    writeSafetensors(path.join(dir, 'w.safetensors'), [FP8('model.layers.0.mlp.up_proj.weight', [40, 24], codes)]);
    writeSafetensors(path.join(dir, 's.safetensors'), [F32('model.layers.0.mlp.up_proj.weight_scale_inv', [2, 2], scales)]);
    writeIndex(dir, { 'model.layers.0.mlp.up_proj.weight': 'w.safetensors', 'model.layers.0.mlp.up_proj.weight_scale_inv': 's.safetensors' });
    const ck = new Checkpoint(dir);
    try {
      const w = ck.readWeight('model.layers.0.mlp.up_proj.weight', [40, 24], [32, 16]);
      assert.deepEqual(w.shape, [40, 24]);
      for (let r = 0; r < 40; r++) {
        for (let c = 0; c < 24; c++) {
          const want = Math.fround(FP8_E4M3_TABLE[codes[r * 24 + c]!]! * scales[Math.floor(r / 32) * 2 + Math.floor(c / 16)]!);
          assert.ok(Object.is(w.data[r * 24 + c], want), `(${r}, ${c}): ${w.data[r * 24 + c]} vs ${want}`);
        }
      }
      // Both the weight and its scale count as used.
      assert.deepEqual(ck.unusedTextTensors(), []);
    } finally {
      ck.close();
    }
  });

  it('readWeight passes non-FP8 weights through unchanged (no scale needed)', () => {
    const dir = freshDir('bf16weight');
    writeSafetensors(path.join(dir, SINGLE_FILE), [BF16('model.layers.0.self_attn.o_proj.weight', [2, 2], [0x3f80, 0x4000, 0xc040, 0x0000])]);
    const ck = new Checkpoint(dir);
    try {
      assert.deepEqual([...ck.readWeight('model.layers.0.self_attn.o_proj.weight', [2, 2], [32, 32]).data], [1, 2, -3, 0]);
      assert.deepEqual([...ck.readWeight('model.layers.0.self_attn.o_proj.weight', [2, 2], null).data], [1, 2, -3, 0]);
    } finally {
      ck.close();
    }
  });
});

describe('Checkpoint: require / shape checks', () => {
  it('names the tensor, the file and both shapes', () => {
    const dir = freshDir('require');
    const file = path.join(dir, SINGLE_FILE);
    writeSafetensors(file, [F32('model.norm.weight', [4], [1, 2, 3, 4])]);
    const ck = new Checkpoint(dir);
    try {
      throwsCheckpoint(() => ck.require('model.norm.weight', [5]), file, /tensor model\.norm\.weight has shape \[4\], expected \[5\]/);
      throwsCheckpoint(() => ck.readF32('model.norm.weight', [4, 1]), file, /has shape \[4\], expected \[4, 1\]/);
      throwsCheckpoint(() => ck.require('lm_head.weight', [8, 4]), dir, /lm_head\.weight not found in any shard; expected shape \[8, 4\]/);
      assert.deepEqual(ck.unusedTextTensors(), ['model.norm.weight'], 'a failed shape check does not mark the tensor used');
      assert.deepEqual(ck.require('model.norm.weight', [4]).shape, [4]);
      assert.deepEqual(ck.unusedTextTensors(), []);
    } finally {
      ck.close();
    }
  });
});

describe('Checkpoint: hostile index files', () => {
  /** A valid shard holding `model.w` placed at `file`. */
  function shard(file: string, name = 'model.w'): void {
    writeSafetensors(file, [F32(name, [2], [1, 2])]);
  }

  it('index is not JSON / has no weight_map / names a non-string file', () => {
    const dir = freshDir('badindex');
    const idx = path.join(dir, INDEX_FILE);
    fs.writeFileSync(idx, '{"weight_map": {');
    throwsCheckpoint(() => new Checkpoint(dir), idx, /not valid JSON/);
    fs.writeFileSync(idx, '{"metadata": {}}');
    throwsCheckpoint(() => new Checkpoint(dir), idx, /weight_map: missing or not an object/);
    fs.writeFileSync(idx, 'null');
    throwsCheckpoint(() => new Checkpoint(dir), idx, /weight_map: missing or not an object/);
    fs.writeFileSync(idx, '{"weight_map": ["a.safetensors"]}');
    throwsCheckpoint(() => new Checkpoint(dir), idx, /weight_map: missing or not an object/);
    writeIndex(dir, { 'model.w': 7 });
    throwsCheckpoint(() => new Checkpoint(dir), idx, /weight_map\.model\.w: file name is not a string/);
    writeIndex(dir, { 'model.w': '' });
    throwsCheckpoint(() => new Checkpoint(dir), idx, /weight_map\.model\.w: file name is not a string/);
  });

  it('weight_map naming ../outside.safetensors (a real, valid file) is refused', () => {
    const dir = freshDir('dotdot');
    shard(path.join(tmp, 'outside.safetensors'));
    const idx = writeIndex(dir, { 'model.w': '../outside.safetensors' });
    throwsCheckpoint(() => new Checkpoint(dir), idx, /weight_map\.model\.w: file "\.\.\/outside\.safetensors" lies outside the model directory/);
    fs.mkdirSync(path.join(dir, 'sub'));
    writeIndex(dir, { 'model.w': 'sub/../../outside.safetensors' });
    throwsCheckpoint(() => new Checkpoint(dir), idx, /lies outside the model directory/);
  });

  it('weight_map naming an absolute path is refused (even one inside the directory)', () => {
    const dir = freshDir('abs');
    const outside = path.join(tmp, `abs-outside-${counter++}.safetensors`);
    shard(outside);
    const idx = writeIndex(dir, { 'model.w': outside });
    throwsCheckpoint(() => new Checkpoint(dir), idx, /weight_map\.model\.w: file ".*" lies outside the model directory/);
    const inside = path.join(dir, 'in.safetensors');
    shard(inside);
    writeIndex(dir, { 'model.w': inside });
    throwsCheckpoint(() => new Checkpoint(dir), idx, /lies outside the model directory/);
  });

  it('symlinked shards are followed, as in the Hugging Face cache layout (snapshots/<rev>/x -> ../../blobs/<sha>)', () => {
    const cache = freshDir('hfcache');
    fs.mkdirSync(path.join(cache, 'blobs'));
    fs.mkdirSync(path.join(cache, 'snapshots', 'abc123'), { recursive: true });
    shard(path.join(cache, 'blobs', 'sha-1'));
    const snap = path.join(cache, 'snapshots', 'abc123');
    fs.symlinkSync('../../blobs/sha-1', path.join(snap, 'model-00001-of-00001.safetensors'));
    writeIndex(snap, { 'model.w': 'model-00001-of-00001.safetensors' });
    const ck = new Checkpoint(snap);
    try {
      assert.deepEqual([...ck.readF32('model.w').data], [1, 2]);
    } finally {
      ck.close();
    }
    // The index's own names are still checked: "../" stays refused even when the target exists.
    writeIndex(snap, { 'model.w': '../../blobs/sha-1' });
    throwsCheckpoint(() => new Checkpoint(snap), path.join(snap, 'model.safetensors.index.json'), /lies outside the model directory/);
  });

  it('the model directory itself may be reached through a symlink', () => {
    const dir = freshDir('realdir');
    shard(path.join(dir, 'a.safetensors'));
    writeIndex(dir, { 'model.w': 'a.safetensors' });
    const link = path.join(tmp, `dirlink-${counter++}`);
    fs.symlinkSync(dir, link);
    const ck = new Checkpoint(link);
    try {
      assert.deepEqual([...ck.readF32('model.w').data], [1, 2]);
    } finally {
      ck.close();
    }
  });

  it('index naming a file that does not exist (or a dangling symlink)', () => {
    const dir = freshDir('nofile');
    const idx = writeIndex(dir, { 'model.w': 'model-00009-of-00009.safetensors' });
    throwsCheckpoint(() => new Checkpoint(dir), idx, /weight_map\.model\.w: file model-00009-of-00009\.safetensors does not exist/);
    fs.symlinkSync(path.join(dir, 'gone.safetensors'), path.join(dir, 'dangling.safetensors'));
    writeIndex(dir, { 'model.w': 'dangling.safetensors' });
    throwsCheckpoint(() => new Checkpoint(dir), idx, /does not exist/);
  });

  it('index naming a directory instead of a file', () => {
    const dir = freshDir('dirshard');
    fs.mkdirSync(path.join(dir, 'shard.safetensors'));
    writeIndex(dir, { 'model.w': 'shard.safetensors' });
    assert.throws(
      () => new Checkpoint(dir),
      (e: unknown) => {
        assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        assert.match(e.message, /shard\.safetensors/);
        return true;
      },
    );
  });

  it('index listing a tensor absent from its shard', () => {
    const dir = freshDir('absent');
    const s = path.join(dir, 'a.safetensors');
    shard(s);
    writeIndex(dir, { 'model.w': 'a.safetensors', 'model.layers.0.mlp.gate.weight': 'a.safetensors' });
    throwsCheckpoint(() => new Checkpoint(dir), s, /tensor model\.layers\.0\.mlp\.gate\.weight is listed in model\.safetensors\.index\.json but not in this file/);
  });

  it('a hostile shard named by the index reports the shard', () => {
    const dir = freshDir('hostileshard');
    shard(path.join(dir, 'a.safetensors'));
    const bad = path.join(dir, 'b.safetensors');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(2n ** 63n);
    fs.writeFileSync(bad, Buffer.concat([len, Buffer.from('{}')]));
    writeIndex(dir, { 'model.w': 'a.safetensors', 'model.v': 'b.safetensors' });
    throwsCheckpoint(() => new Checkpoint(dir), bad, /header length 9223372036854775808 exceeds the file/);
  });
});

describe('Checkpoint: FP8 scale problems', () => {
  const W = 'model.layers.0.self_attn.q_proj.weight';
  const S = `${W}_scale_inv`;
  const codes = new Uint8Array(64 * 48).fill(0x38);

  function fp8Dir(stem: string, scale: TensorToWrite | null, extra: TensorToWrite[] = []): { dir: string; file: string } {
    const dir = freshDir(stem);
    const file = path.join(dir, SINGLE_FILE);
    writeSafetensors(file, [FP8(W, [64, 48], codes), ...(scale ? [scale] : []), ...extra]);
    return { dir, file };
  }

  it('FP8 tensor whose _scale_inv sibling is missing', () => {
    // A scale with a similar but different name must not be picked up.
    const { dir } = fp8Dir('noscale', null, [F32(`${W}.scale_inv`, [2, 2], [1, 1, 1, 1]), F32('model.layers.0.self_attn.q_proj.weight_scale', [2, 2], [1, 1, 1, 1])]);
    const ck = new Checkpoint(dir);
    try {
      throwsCheckpoint(() => ck.readWeight(W, [64, 48], [32, 32]), dir, /model\.layers\.0\.self_attn\.q_proj\.weight_scale_inv not found in any shard \(FP8 tensor .* needs its block scales\)/);
    } finally {
      ck.close();
    }
  });

  it('FP8 tensor without a block size in the config', () => {
    const { dir, file } = fp8Dir('noblock', F32(S, [2, 2], [1, 1, 1, 1]));
    const ck = new Checkpoint(dir);
    try {
      throwsCheckpoint(() => ck.readWeight(W, [64, 48], null), file, /is F8_E4M3 but config\.json has no quantization_config\.weight_block_size/);
    } finally {
      ck.close();
    }
  });

  it('scale grid of the wrong shape', () => {
    for (const [shape, n] of [[[3, 2], 6], [[2, 1], 2], [[2, 2, 1], 4], [[4], 4], [[2, 3], 6]] as Array<[number[], number]>) {
      const { dir, file } = fp8Dir('badgrid', F32(S, shape, new Array(n).fill(1)));
      const ck = new Checkpoint(dir);
      try {
        throwsCheckpoint(
          () => ck.readWeight(W, [64, 48], [32, 32]),
          file,
          new RegExp(`tensor ${S.replace(/\./g, '\\.')} has shape \\[${shape.join(', ')}\\], expected \\[2, 2\\] for a \\[64, 48\\] weight with blocks \\[32, 32\\]`),
        );
      } finally {
        ck.close();
      }
    }
  });

  it('non-finite scales (NaN, +Infinity, -Infinity)', () => {
    for (const [bad, label] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity']] as Array<[number, string]>) {
      const { dir, file } = fp8Dir('nanscale', F32(S, [2, 2], [1, 0.5, bad, 2]));
      const ck = new Checkpoint(dir);
      try {
        throwsCheckpoint(() => ck.readWeight(W, [64, 48], [32, 32]), file, new RegExp(`tensor ${S.replace(/\./g, '\\.')}: scale 2 is ${label} \\(not finite\\)`));
      } finally {
        ck.close();
      }
    }
  });

  it('unsupported dtype read (listed, but readF32/readWeight fail clearly)', () => {
    const dir = freshDir('f64');
    const file = path.join(dir, SINGLE_FILE);
    const len = Buffer.alloc(8);
    const header = Buffer.from(JSON.stringify({ 'model.norm.weight': { dtype: 'F64', shape: [2, 1], data_offsets: [0, 16] } }));
    len.writeBigUInt64LE(BigInt(header.length));
    fs.writeFileSync(file, Buffer.concat([len, header, Buffer.alloc(16)]));
    const ck = new Checkpoint(dir);
    try {
      assert.equal(ck.info('model.norm.weight')!.rawDtype, 'F64');
      assert.deepEqual(ck.bytesByDtype(), { F64: 16 });
      throwsCheckpoint(() => ck.readF32('model.norm.weight'), file, /tensor model\.norm\.weight: dtype F64 is not supported/);
      throwsCheckpoint(() => ck.readWeight('model.norm.weight', [2, 1], [32, 32]), file, /tensor model\.norm\.weight: dtype F64 is not supported/);
    } finally {
      ck.close();
    }
  });
});

describe('Checkpoint: modality filtering', () => {
  it('unusedTextTensors reports never-read text tensors; skippedTensors lists other modalities by prefix only', () => {
    const dir = freshDir('modal');
    const text = ['model.embed_tokens.weight', 'model.visual_thing', 'lm_head.weight', 'model.layers.0.mlp.audio_encoder.weight'];
    const other = [
      'visual.blocks.0.attn.qkv.weight',
      'visual.patch_embed.proj.weight',
      'audio_encoder.input_local_transformer.layers.0.self_attn.q_proj.weight',
      'speech_embeddings.0.weight',
      'speech_embeddings.19.weight',
    ];
    writeSafetensors(path.join(dir, 'a.safetensors'), [...text.slice(0, 2), ...other.slice(0, 2)].map((n) => F32(n, [1], [0])));
    writeSafetensors(path.join(dir, 'b.safetensors'), [...text.slice(2), ...other.slice(2)].map((n) => F32(n, [1], [0])));
    const map: Record<string, string> = {};
    for (const n of [...text.slice(0, 2), ...other.slice(0, 2)]) map[n] = 'a.safetensors';
    for (const n of [...text.slice(2), ...other.slice(2)]) map[n] = 'b.safetensors';
    writeIndex(dir, map);
    const ck = new Checkpoint(dir);
    try {
      assert.deepEqual(ck.skippedTensors().sort(), [...other].sort());
      assert.deepEqual(ck.unusedTextTensors().sort(), [...text].sort());
      ck.readF32('model.embed_tokens.weight');
      ck.require('lm_head.weight');
      ck.readF32('model.layers.0.mlp.audio_encoder.weight');
      assert.deepEqual(ck.unusedTextTensors(), ['model.visual_thing'], 'model.visual_thing is a text tensor never read');
      assert.ok(!ck.skippedTensors().includes('model.visual_thing'));
      // Reading a non-text tensor does not make it a text tensor.
      ck.readF32('visual.patch_embed.proj.weight');
      assert.deepEqual(ck.unusedTextTensors(), ['model.visual_thing']);
    } finally {
      ck.close();
    }
  });

  it('isTextTensor matches by prefix, never by substring', () => {
    for (const n of ['model.x', 'lm_head.weight', 'model.visual.x', 'model.layers.0.speech_embeddings']) assert.ok(isTextTensor(n), n);
    for (const n of ['visual.model.x', 'audio_encoder.lm_head.weight', 'speech_embeddings.0.weight', 'modelx.y', 'xmodel.y', 'lm_headx', 'mtp.model.x'])
      assert.ok(!isTextTensor(n), n);
  });
});

describe('Checkpoint.readWeight: FP8 dequantisation', () => {
  it('200×300 matrix with 32×32 blocks (partial edge blocks on both axes) round-trips within FP8 error', () => {
    const R = 200;
    const C = 300;
    const b = 32;
    const rand = rng(7);
    const sc = Math.ceil(C / b); // 10 (last block 12 columns)
    const w = new Float64Array(R * C);
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) {
        // Each block gets its own magnitude (2^-12 .. 2^4) so every scale is distinct and a wrong block mapping shows.
        const blk = Math.floor(r / b) * sc + Math.floor(c / b);
        const mag = 2 ** ((blk * 7) % 17 - 12);
        const u = rand();
        w[r * C + c] = u < 0.02 ? 0 : Math.fround((rand() * 2 - 1) * mag * (u < 0.1 ? 1e-3 : 1));
      }
    }
    const { codes, scales } = quantise(w, R, C, b, b);
    assert.equal(scales.length, 7 * 10);
    assert.equal(new Set(scales).size, scales.length, 'all block scales distinct');
    const dir = freshDir('fp8big');
    const name = 'model.layers.0.mlp.gate_proj.weight';
    writeSafetensors(path.join(dir, SINGLE_FILE), [FP8(name, [R, C], codes), F32(`${name}_scale_inv`, [7, 10], scales)]);
    const ck = new Checkpoint(dir);
    try {
      const out = ck.readWeight(name, [R, C], [b, b]);
      assert.deepEqual(out.shape, [R, C]);
      assert.equal(out.data.length, R * C);
      const blockAmax = new Float64Array(7 * 10);
      const blockErr = new Float64Array(7 * 10);
      for (let r = 0; r < R; r++) {
        for (let c = 0; c < C; c++) {
          const blk = Math.floor(r / b) * sc + Math.floor(c / b);
          blockAmax[blk] = Math.max(blockAmax[blk]!, Math.abs(w[r * C + c]!));
        }
      }
      for (let r = 0; r < R; r++) {
        for (let c = 0; c < C; c++) {
          const i = r * C + c;
          const blk = Math.floor(r / b) * sc + Math.floor(c / b);
          const s = scales[blk]!;
          // Exact: one f32 multiply of the decoded code by its block's scale.
          const exact = Math.fround(FP8_E4M3_TABLE[codes[i]!]! * s);
          assert.ok(Object.is(out.data[i], exact), `(${r}, ${c}): ${out.data[i]} vs ${exact}`);
          // Error bound. v = w/s has |v| <= 448 (up to f32 rounding of s, absorbed by saturation). RNE to a 3-bit
          // mantissa errs by at most half an ulp: <= 2^-4 |v| for normal |v| >= 2^-6, <= 2^-10 in the subnormal range;
          // times s, plus the final f32 rounding (<= 2^-24 relative, bounded generously by 2^-22 |w|).
          const err = Math.abs(out.data[i]! - w[i]!);
          const bound = 2 ** -4 * Math.abs(w[i]!) + 2 ** -10 * s + 2 ** -22 * Math.abs(w[i]!);
          assert.ok(err <= bound, `(${r}, ${c}): |${out.data[i]} - ${w[i]}| = ${err} > ${bound}`);
          blockErr[blk] = Math.max(blockErr[blk]!, err);
          // Zeros stay zero; signs are kept.
          if (w[i] === 0) assert.equal(out.data[i], 0);
          else if (out.data[i] !== 0) assert.equal(Math.sign(out.data[i]!), Math.sign(w[i]!));
        }
      }
      // Per block: the error never exceeds half an ulp of the top binade relative to the block amax
      // (16 / 448 = 1/28 < 2^-4), and each block's amax element hits code ±448 exactly.
      for (let blk = 0; blk < 70; blk++) assert.ok(blockErr[blk]! <= blockAmax[blk]! * 2 ** -4, `block ${blk}`);
      for (let blk = 0; blk < 70; blk++) {
        let maxCode = 0;
        const br = Math.floor(blk / sc);
        const bc = blk % sc;
        for (let r = br * b; r < Math.min(R, (br + 1) * b); r++) for (let c = bc * b; c < Math.min(C, (bc + 1) * b); c++) maxCode = Math.max(maxCode, Math.abs(FP8_E4M3_TABLE[codes[r * C + c]!]!));
        assert.equal(maxCode, 448, `block ${blk}`);
      }
    } finally {
      ck.close();
    }
  });

  it('per-chunk grid: [768, 256] k_proj-like weight, b = 128, n = 4 chunks (scale rows 8, not 6)', () => {
    const R = 768;
    const C = 256;
    const b = 128;
    const n = 4;
    const chunkRows = R / n; // 192 = 128 + 64 (partial last block of each chunk)
    const perChunk = Math.ceil(chunkRows / b); // 2
    const scaleRows = n * perChunk; // 8
    const scaleCols = Math.ceil(C / b); // 2
    // Every scale row (hence every chunk and every block) has its own distinct scales.
    const scales = new Float32Array(scaleRows * scaleCols);
    for (let i = 0; i < scales.length; i++) scales[i] = 2 ** -(i + 3) * (1 + (i % 3) / 4);
    assert.equal(new Set(scales).size, scales.length);
    const rand = rng(99);
    const codes = new Uint8Array(R * C);
    for (let i = 0; i < codes.length; i++) {
      let code = Math.floor(rand() * 256);
      if ((code & 0x7f) === 0x7f) code ^= 1; // no NaN codes
      codes[i] = code;
    }
    const chunkRule = (r: number): number => {
      const c = Math.floor(r / chunkRows);
      return c * perChunk + Math.floor((r % chunkRows) / b);
    };
    const expected = new Float32Array(R * C);
    const uniform96 = new Float32Array(R * C); // Megatron-Bridge-style reading: 8 uniform blocks of 96 rows
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) {
        const v = FP8_E4M3_TABLE[codes[r * C + c]!]!;
        expected[r * C + c] = v * scales[chunkRule(r) * scaleCols + Math.floor(c / b)]!;
        uniform96[r * C + c] = v * scales[Math.floor(r / 96) * scaleCols + Math.floor(c / b)]!;
      }
    }
    // The test can tell the two readings apart: in each chunk, rows 96..127 use scale row 2c under the chunk rule
    // but 2c + 1 under the uniform 96-row reading (32 of every 192 rows = 1/6 of the matrix; zero codes aside).
    let differ = 0;
    for (let i = 0; i < expected.length; i++) if (expected[i] !== uniform96[i]) differ++;
    assert.ok(differ > (R * C) / 7, `only ${differ} elements tell the grids apart`);
    for (const r of [96, 127, 288, 319, 480, 511, 672, 703]) assert.notEqual(chunkRule(r), Math.floor(r / 96), `row ${r}`);

    const dir = freshDir('perchunk');
    const name = 'model.layers.0.self_attn.k_proj.weight';
    writeSafetensors(path.join(dir, SINGLE_FILE), [FP8(name, [R, C], codes), F32(`${name}_scale_inv`, [scaleRows, scaleCols], scales)]);
    const ck = new Checkpoint(dir);
    try {
      for (const chunks of [[4], [1, 4], [4, 1]]) {
        const out = ck.readWeight(name, [R, C], [b, b], chunks);
        let bad = 0;
        let first = '';
        for (let i = 0; i < expected.length; i++) {
          if (!Object.is(out.data[i], expected[i])) {
            if (!bad) first = `row ${Math.floor(i / C)} col ${i % C}: ${out.data[i]} vs ${expected[i]}`;
            bad++;
          }
        }
        assert.equal(bad, 0, `chunks ${JSON.stringify(chunks)}: ${bad} mismatches, first ${first}`);
      }
      // The uniform grid ([6, 2]) does not fit the [8, 2] scale: refuse rather than misread.
      throwsCheckpoint(() => ck.readWeight(name, [R, C], [b, b]), path.join(dir, SINGLE_FILE), /has shape \[8, 2\], expected \[6, 2\]/);
      throwsCheckpoint(() => ck.readWeight(name, [R, C], [b, b], [1, 2]), path.join(dir, SINGLE_FILE), /expected \[6, 2\] or \[6, 2\] \(2 chunks\)/);
    } finally {
      ck.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Sweep over every fixture checkpoint (directories discovered, never named).

const caseDirs = discoverCases();

describe('Checkpoint: fixture checkpoints', { skip: caseDirs.length === 0 ? 'fixtures not found' : false }, () => {
  for (const dir of caseDirs) {
    it(`${path.basename(dir)}: tensors, dtypes, modalities and FP8 dequantisation`, () => {
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      const golden = JSON.parse(fs.readFileSync(path.join(dir, 'golden.json'), 'utf8')) as {
        checkpoint: {
          tensor_dtype_counts: Record<string, number>;
          fp8_weight_tensors: number;
          fp8_weight_block_size: [number, number] | null;
          num_mtp_layers: number;
          non_text_tensors?: { names: string[] };
        };
      };
      const gk = golden.checkpoint;
      const ck = new Checkpoint(dir);
      try {
        const counts: Record<string, number> = {};
        for (const n of ck.names()) {
          const d = ck.info(n)!.rawDtype;
          counts[d] = (counts[d] ?? 0) + 1;
        }
        assert.deepEqual(counts, gk.tensor_dtype_counts);
        assert.deepEqual(ck.skippedTensors().sort(), [...(gk.non_text_tensors?.names ?? [])].sort());
        const mtp = new Set(ck.names().map((n) => /^model\.mtp\.layers\.(\d+)\./.exec(n)?.[1]).filter((k) => k !== undefined));
        assert.equal(mtp.size, gk.num_mtp_layers);

        const quant = cfg['quantization_config'] as { weight_block_size: [number, number] } | undefined;
        const block = quant?.weight_block_size ?? null;
        assert.deepEqual(block, gk.fp8_weight_block_size);
        const fused = cfg['attention_projection_layout'] === 'fused_qkv';
        const nKv = cfg['num_key_value_heads'] as number;
        let fp8 = 0;
        for (const name of ck.names()) {
          const info = ck.info(name)!;
          if (info.dtype !== 'F8_E4M3') continue;
          fp8++;
          assert.ok(block, `${name} is FP8 but the config has no block size`);
          assert.equal(info.shape.length, 2);
          const [R, C] = info.shape as [number, number];
          const [b0, b1] = block;
          const n = fused && name.endsWith('.qkv_proj.weight') ? nKv : 1;
          const out = ck.readWeight(name, [R, C], block, [n]);
          const codes = ck.readF32(name).data;
          const scale = ck.readF32(`${name}_scale_inv`);
          const sc = scale.shape[1]!;
          const chunkRows = R / n;
          const perChunk = Math.ceil(chunkRows / b0);
          const blockMax = new Map<number, number>();
          for (let r = 0; r < R; r++) {
            const sr = Math.floor(r / chunkRows) * perChunk + Math.floor((r % chunkRows) / b0);
            for (let c = 0; c < C; c++) {
              const k = sr * sc + Math.floor(c / b1);
              const want = Math.fround(codes[r * C + c]! * scale.data[k]!);
              if (!Object.is(out.data[r * C + c], want)) assert.fail(`${name} (${r}, ${c}): ${out.data[r * C + c]} vs ${want}`);
              blockMax.set(k, Math.max(blockMax.get(k) ?? 0, Math.abs(codes[r * C + c]!)));
            }
          }
          // Quantised per block from its amax: with the right grid every non-zero block reaches |code| = 448.
          for (const [k, m] of blockMax) assert.ok(m === 448 || m === 0, `${name}: block ${k} max |code| ${m}`);
        }
        assert.equal(fp8, gk.fp8_weight_tensors);
        // Read every remaining text tensor: the whole text checkpoint is accounted for.
        for (const name of ck.unusedTextTensors()) ck.readF32(name);
        assert.deepEqual(ck.unusedTextTensors(), []);
      } finally {
        ck.close();
      }
    });
  }
});
