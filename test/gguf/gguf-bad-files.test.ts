/**
 * Bad GGUF files (issue 15): truncated data, offsets past the end / overlapping / unaligned, unknown and unsupported
 * types, wrong architecture, missing tensors, metadata contradicting shapes, split sets with a missing part, not a
 * GGUF — each a CheckpointError or ConfigError naming the file and the tensor or key. And a fuzz of the header
 * reader: random byte flips and truncations of a small valid file give our error or load, never a crash or hang.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { CheckpointError, ConfigError, MimoError } from '../../src/errors.js';
import { GgufModelFiles } from '../../src/loader/gguf.js';
import { loadModel } from '../../src/model/load.js';
import { discoverCases, repoRoot } from '../helpers/fixtures.js';

const anchor = path.resolve(repoRoot, '..', 'shared', 'tools', 'llamacpp-anchor');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-gguf-bad-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const caseDir = discoverCases().find((d) => path.basename(d) === 'bf16_untied_1group') ?? discoverCases()[0]!;
const good = path.join(tmp, 'good.gguf');
execFileSync('python3', [path.join(anchor, 'hf_to_gguf.py'), caseDir, good, '--type', 'f32', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
const bytes = fs.readFileSync(good);

let n = 0;
function variant(edit: (b: Buffer) => Buffer | void, name = `bad-${n++}.gguf`): string {
  const b = Buffer.from(bytes);
  const out = edit(b) ?? b;
  const file = path.join(tmp, name);
  fs.writeFileSync(file, out);
  return file;
}
/** Byte offset just after a GGUF string (u64 length + bytes) equal to `s`. */
function after_(b: Buffer, s: string): number {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(s)));
  const at = b.indexOf(Buffer.concat([len, Buffer.from(s)]));
  assert.ok(at >= 0, `${s} not in the file`);
  return at + 8 + Buffer.byteLength(s);
}
/** Tensor info fields of `name`: where its type and offset are. */
function tensorInfo(b: Buffer, name: string): { typeAt: number; offsetAt: number; offset: bigint } {
  const p = after_(b, name);
  const nd = b.readUInt32LE(p);
  const typeAt = p + 4 + 8 * nd;
  return { typeAt, offsetAt: typeAt + 4, offset: b.readBigUInt64LE(typeAt + 4) };
}

function throwsNaming(fn: () => unknown, Err: typeof CheckpointError | typeof ConfigError, re: RegExp, file: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Err, `expected ${Err.name}, got ${String(e)}`);
    assert.ok((e as Error).message.includes(file), `message names the file: ${(e as Error).message}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

test('the unmodified file loads', () => {
  assert.equal(loadModel(good).report.unusedTensors.length, 0);
});

test('truncated data names the tensor and says truncated', () => {
  const f = variant((b) => b.subarray(0, b.length - 100));
  throwsNaming(() => loadModel(f), CheckpointError, /tensor blk\.5\.ffn_down_exps\.weight: data .* lies past the end of the file .*truncated/, f);
});

test('a truncated header', () => {
  const f = variant((b) => b.subarray(0, 200));
  throwsNaming(() => loadModel(f), CheckpointError, /GGUF header|truncated/, f);
});

test('an offset past the end, overlapping and unaligned tensors', () => {
  const past = variant((b) => void b.writeBigUInt64LE(1n << 40n, tensorInfo(b, 'output_norm.weight').offsetAt));
  throwsNaming(() => loadModel(past), CheckpointError, /tensor output_norm\.weight: data .* past the end/, past);
  const overlap = variant((b) => void b.writeBigUInt64LE(tensorInfo(b, 'token_embd.weight').offset, tensorInfo(b, 'output_norm.weight').offsetAt));
  throwsNaming(() => loadModel(overlap), CheckpointError, /tensors .*(token_embd|output_norm)\.weight and .*(output_norm|token_embd)\.weight overlap/, overlap);
  const unaligned = variant((b) => {
    const t = tensorInfo(b, 'output_norm.weight');
    b.writeBigUInt64LE(t.offset + 4n, t.offsetAt);
  });
  throwsNaming(() => loadModel(unaligned), CheckpointError, /tensor output_norm\.weight: offset \d+ is not a multiple of general\.alignment 32/, unaligned);
});

test('unknown and unsupported ggml types name the tensor and type', () => {
  const unknown = variant((b) => void b.writeUInt32LE(77, tensorInfo(b, 'blk.0.attn_q.weight').typeAt));
  throwsNaming(() => loadModel(unknown), CheckpointError, /tensor blk\.0\.attn_q\.weight: unknown type 77 is not a ggml type/, unknown);
  const i8 = variant((b) => void b.writeUInt32LE(24, tensorInfo(b, 'blk.0.attn_q.weight').typeAt));
  throwsNaming(() => loadModel(i8), CheckpointError, /tensor blk\.0\.attn_q\.weight \(model\.layers\.0\.self_attn\.q_proj\.weight\) has type I8, which mimo\.ts cannot run/, i8);
});

test('wrong architecture', () => {
  const f = variant((b) => void b.write('llama', after_(b, 'general.architecture') + 4 + 8));
  throwsNaming(() => loadModel(f), ConfigError, /general\.architecture: is "llama"; mimo\.ts runs MiMo-V2 GGUFs of architecture "mimo2"/, f);
});

test('a missing tensor', () => {
  const f = variant((b) => void b.write('blk.0.attn_x.weight', after_(b, 'blk.0.attn_q.weight') - 'blk.0.attn_q.weight'.length));
  throwsNaming(() => loadModel(f), CheckpointError, /no tensor for model\.layers\.0\.self_attn\.q_proj\.weight/, f);
});

test('metadata that contradicts the tensor shapes', () => {
  const heads = variant((b) => void b.writeUInt32LE(8, after_(b, 'mimo2.attention.head_count') + 4));
  throwsNaming(() => loadModel(heads), CheckpointError, /tensor blk\.0\.attn_q\.weight \(model\.layers\.0\.self_attn\.q_proj\.weight\) has shape \[96, 64\], expected \[192, 64\] from the GGUF metadata/, heads);
  const kv = variant((b) => void b.writeUInt32LE(3, after_(b, 'mimo2.attention.head_count_kv') + 4 + 4 + 8 + 4));
  throwsNaming(() => loadModel(kv), ConfigError, /mimo2\.attention\.head_count_kv \(swa_num_key_value_heads\): differs between sliding-window layers|mimo2\.attention\.head_count_kv: differs between sliding-window layers/, kv);
  const embd = variant((b) => void b.writeUInt32LE(65, after_(b, 'mimo2.embedding_length') + 4));
  throwsNaming(() => loadModel(embd), ConfigError, /mimo2\.embedding_length: is 65, but token_embd\.weight has rows of 64/, embd);
});

test('split sets: a missing part, a later part given, a directory of several models', () => {
  const dir = path.join(tmp, 'split');
  fs.mkdirSync(dir);
  fs.copyFileSync(good, path.join(dir, 'm-00001-of-00002.gguf'));
  throwsNaming(() => loadModel(path.join(dir, 'm-00001-of-00002.gguf')), CheckpointError, /m-00002-of-00002\.gguf: missing: split GGUF m-00001-of-00002\.gguf has 2 parts/, dir);
  throwsNaming(() => loadModel(dir), CheckpointError, /missing/, dir);
  fs.copyFileSync(good, path.join(dir, 'm-00002-of-00002.gguf'));
  throwsNaming(() => loadModel(path.join(dir, 'm-00002-of-00002.gguf')), CheckpointError, /is part 2 of a split GGUF; open the first part/, dir);
  // both parts hold every tensor: the second's are duplicates
  throwsNaming(() => loadModel(dir), CheckpointError, /tensor token_embd\.weight is also in/, dir);
  fs.copyFileSync(good, path.join(dir, 'other.gguf'));
  throwsNaming(() => loadModel(dir), CheckpointError, /holds 2 GGUF models/, dir);
});

test('a file that is not GGUF', () => {
  const f = path.join(tmp, 'not.gguf');
  fs.writeFileSync(f, 'hello, this is not a model');
  throwsNaming(() => loadModel(f), CheckpointError, /not a GGUF file/, f);
});

test('fuzz: random byte flips and truncations of the header give our error or load, never a crash', () => {
  let state = 12345;
  const rand = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const headerEnd = Number(tensorInfo(bytes, 'blk.5.ffn_down_exps.weight').offsetAt) + 8;
  let loaded = 0;
  let refused = 0;
  for (let i = 0; i < 40; i++) {
    const f = variant((b) => {
      if (i % 4 === 3) return b.subarray(0, Math.floor(rand() * headerEnd));
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) b[Math.floor(rand() * headerEnd)] ^= 1 << Math.floor(rand() * 8);
    }, 'fuzz.gguf');
    try {
      const files = new GgufModelFiles([f]);
      files.close();
      loadModel(f);
      loaded++;
    } catch (e) {
      assert.ok(e instanceof MimoError, `iteration ${i}: not our error: ${(e as Error)?.stack ?? String(e)}`);
      assert.ok((e as Error).message.includes(f), `iteration ${i}: the message does not name the file: ${(e as Error).message}`);
      refused++;
    }
  }
  assert.equal(loaded + refused, 40);
  assert.ok(refused > 0);
});
