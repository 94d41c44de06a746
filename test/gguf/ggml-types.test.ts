/**
 * ggml type table and the F32/F16/BF16/Q8_0 reference decoders: ids and block sizes against @huggingface/gguf's
 * independent table, and hand-computed blocks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GGMLQuantizationType } from '@huggingface/gguf';
import { dequantizeGgmlRow, GGML_TYPE, GGML_TYPES, ggmlRowBytes, ggmlTypeName, isGgmlTypeSupported } from '../../src/tensor/formats/ggml/types.js';

test('type ids agree with @huggingface/gguf; block sizes with ggml-common.h', () => {
  for (const t of GGML_TYPES) assert.equal((GGMLQuantizationType as unknown as Record<string, number>)[t.name], t.id, t.name);
  // bytes per block as sizeof(block_*) in ggml-common.h (static_asserts there), written out by hand
  const sizeof: Record<string, number> = { Q4_0: 18, Q4_1: 20, Q5_0: 22, Q5_1: 24, Q8_0: 34, Q8_1: 36, Q2_K: 84, Q3_K: 110, Q4_K: 144, Q5_K: 176, Q6_K: 210, Q8_K: 292, IQ2_XXS: 66, IQ2_XS: 74, IQ3_XXS: 98, IQ1_S: 50, IQ4_NL: 18, IQ3_S: 110, IQ2_S: 82, IQ4_XS: 136, IQ1_M: 56, TQ1_0: 54, TQ2_0: 66, MXFP4: 17 };
  for (const [name, bytes] of Object.entries(sizeof)) assert.equal(GGML_TYPES.find((t) => t.name === name)?.blockBytes, bytes, name);
  assert.equal(GGML_TYPE['Q8_0'], 8);
  assert.equal(GGML_TYPE['BF16'], 30);
  assert.equal(GGML_TYPE['MXFP4'], 39);
  assert.equal(ggmlTypeName(4), 'unknown type 4');
});

test('row bytes: whole blocks only', () => {
  assert.equal(ggmlRowBytes(8, 64), 68);
  assert.equal(ggmlRowBytes(12, 512), 288);
  assert.throws(() => ggmlRowBytes(8, 48), /not a whole number of Q8_0 blocks/);
  assert.throws(() => ggmlRowBytes(5, 32), /not a known ggml type/);
});

test('F32, F16, BF16 rows decode exactly', () => {
  const f32 = new Uint8Array(new Float32Array([1.5, -2.25, 3e-40]).buffer);
  const out = new Float32Array(3);
  dequantizeGgmlRow(0, f32, 3, out);
  assert.deepEqual(Array.from(out), [1.5, -2.25, Math.fround(3e-40)]);
  // F16: 0x3c00 = 1, 0xc000 = -2, 0x0001 = 2^-24 (subnormal), 0x7bff = 65504
  const f16 = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0xff, 0x7b]);
  const o4 = new Float32Array(4);
  dequantizeGgmlRow(1, f16, 4, o4);
  assert.deepEqual(Array.from(o4), [1, -2, 2 ** -24, 65504]);
  // BF16: 0x3f80 = 1, 0xc040 = -3, 0x4049 = 3.140625
  const bf = new Uint8Array([0x80, 0x3f, 0x40, 0xc0, 0x49, 0x40]);
  dequantizeGgmlRow(30, bf, 3, out);
  assert.deepEqual(Array.from(out), [1, -3, 3.140625]);
});

test('Q8_0: d (F16) · qs (int8), block by block', () => {
  // two blocks: d = 0.5 (0x3800), qs = 0, 1, …, 31 with qs[31] = -128; d = -0.25 (0xb400), qs = 127, -1, 0…
  const bytes = new Uint8Array(68);
  bytes[0] = 0x00;
  bytes[1] = 0x38;
  for (let j = 0; j < 32; j++) bytes[2 + j] = j;
  bytes[2 + 31] = 0x80;
  bytes[34] = 0x00;
  bytes[35] = 0xb4;
  bytes[36] = 127;
  bytes[37] = 0xff;
  const out = new Float32Array(64);
  dequantizeGgmlRow(8, bytes, 64, out);
  const want = [...Array.from({ length: 31 }, (_, j) => j * 0.5), -64, -31.75, 0.25, ...new Array(30).fill(-0)];
  assert.deepEqual(Array.from(out), want);
  assert.throws(() => dequantizeGgmlRow(8, bytes.subarray(0, 67), 64, out), /needs 68 bytes, got 67/);
});

test('types without a decoder are refused by name', () => {
  assert.ok(isGgmlTypeSupported(8));
  assert.ok(!isGgmlTypeSupported(16));
  assert.throws(() => dequantizeGgmlRow(16, new Uint8Array(66), 256, new Float32Array(256)), /IQ2_XXS has no decoder/);
});
