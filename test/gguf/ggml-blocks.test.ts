/**
 * The ggml block decoders (src/tensor/formats/ggml/*) against blocks built byte by byte from the layouts in ggml's
 * ggml-common.h, with the expected values worked out by hand in the comments (and, for 256-element super-blocks,
 * from the per-element rule the block was built with, plus the hand-picked elements that exercise each bit field).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMxfp4Row, encodeMxfp4 } from '../../src/tensor/formats/mxfp4.js';
import { repackMxfp4RowToGgml } from '../../src/tensor/formats/ggml/mxfp4.js';
import { dequantizeGgmlRow, GGML_TYPE, ggmlRowBytes, GGML_TYPES, isGgmlTypeSupported } from '../../src/tensor/formats/ggml/types.js';

const F16 = { one: [0x00, 0x3c], half: [0x00, 0x38], quarter: [0x00, 0x34], minusOne: [0x00, 0xbc], minusEight: [0x00, 0xc8] };
const KV = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

function decode(type: string, bytes: number[] | Uint8Array, n: number): number[] {
  const id = GGML_TYPE[type]!;
  const src = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  assert.equal(src.length, ggmlRowBytes(id, n), `${type}: test block has the wrong size`);
  const out = new Float32Array(n);
  dequantizeGgmlRow(id, src, n, out);
  return Array.from(out);
}

test('every block type of issue 15 has a decoder', () => {
  for (const t of ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_NL', 'IQ4_XS', 'MXFP4']) {
    assert.ok(isGgmlTypeSupported(GGML_TYPE[t]!), t);
  }
  for (const t of ['Q8_1', 'Q8_K', 'IQ2_XXS', 'IQ1_S', 'IQ3_S', 'TQ1_0', 'TQ2_0']) assert.ok(!isGgmlTypeSupported(GGML_TYPE[t]!), t);
  assert.equal(GGML_TYPES.length, 32);
});

test('Q4_0: element j in the low nibble of qs[j], j+16 in the high nibble, d·(q−8)', () => {
  // d = 0.5; qs[j] = j | (15−j) << 4 → element j = (j−8)/2, element j+16 = (7−j)/2
  const qs = Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4));
  assert.deepEqual(decode('Q4_0', [...F16.half, ...qs], 32), [
    -4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5,
    3.5, 3, 2.5, 2, 1.5, 1, 0.5, 0, -0.5, -1, -1.5, -2, -2.5, -3, -3.5, -4,
  ]);
});

test('Q4_1: d·q + m', () => {
  // d = 0.25, m = −1; qs[j] = j | (15−j) << 4 → element j = j/4 − 1, element j+16 = (15−j)/4 − 1
  const qs = Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4));
  assert.deepEqual(decode('Q4_1', [...F16.quarter, ...F16.minusOne, ...qs], 32), [
    -1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75,
    2.75, 2.5, 2.25, 2, 1.75, 1.5, 1.25, 1, 0.75, 0.5, 0.25, 0, -0.25, -0.5, -0.75, -1,
  ]);
});

test('Q5_0: 5th bit of element j is bit j of qh (little-endian uint32), d·(q−16)', () => {
  // block 1: d = 1, qh = 0x0000ffff (elements 0…15 have the 5th bit), qs[j] = j | j << 4
  //   → element j = (16 + j) − 16 = j, element j+16 = j − 16
  // block 2: d = 0.5, qh = 0x80000001 (elements 0 and 31), every nibble 8
  //   → element 0 and 31 = (24 − 16)/2 = 4, the others (8 − 16)/2 = −4
  const b1 = [...F16.one, 0xff, 0xff, 0x00, 0x00, ...Array.from({ length: 16 }, (_, j) => j | (j << 4))];
  const b2 = [...F16.half, 0x01, 0x00, 0x00, 0x80, ...new Array(16).fill(0x88)];
  assert.deepEqual(decode('Q5_0', [...b1, ...b2], 64), [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    -16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1,
    4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4,
    -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, 4,
  ]);
});

test('Q5_1: d·q + m with the 5th bits of the upper half', () => {
  // d = 0.5, m = −8, qh = 0xffff0000 (elements 16…31), qs[j] = (15−j) | j << 4
  //   → element j = (15−j)/2 − 8, element j+16 = (16+j)/2 − 8 = j/2
  const qs = Array.from({ length: 16 }, (_, j) => (15 - j) | (j << 4));
  assert.deepEqual(decode('Q5_1', [...F16.half, ...F16.minusEight, 0x00, 0x00, 0xff, 0xff, ...qs], 32), [
    -0.5, -1, -1.5, -2, -2.5, -3, -3.5, -4, -4.5, -5, -5.5, -6, -6.5, -7, -7.5, -8,
    0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7, 7.5,
  ]);
});

test('Q2_K: scales/min nibbles per 16 elements, 2-bit codes in four planes of each 32-byte half', () => {
  // layout: scales[0..15], qs[16..79], d (F16) [80..81], dmin (F16) [82..83]
  // scales[s] = s | (15 − s) << 4; d = 0.5, dmin = 0.25; every qs byte 0xe4 (plane j holds code j)
  // → element e (s = e>>4, j = (e>>5)&3) = 0.5·s·j − 0.25·(15 − s)
  const b = new Uint8Array(84);
  for (let s = 0; s < 16; s++) b[s] = s | ((15 - s) << 4);
  b.fill(0xe4, 16, 80);
  b[16 + 32 + 5] = 0x1b; // second half, t = 5: planes 0…3 hold codes 3, 2, 1, 0
  b.set([...F16.half, ...F16.quarter], 80);
  const got = decode('Q2_K', b, 256);
  const want = Array.from({ length: 256 }, (_, e) => 0.5 * (e >> 4) * ((e >> 5) & 3) - 0.25 * (15 - (e >> 4)));
  // hand-computed: e=128+5 (s 8, code 3) 12 − 1.75; e=165 (s 10, code 2) 10 − 1.25; e=197 (s 12, code 1) 6 − 0.75;
  // e=229 (s 14, code 0) 0 − 0.25
  want[133] = 10.25;
  want[165] = 8.75;
  want[197] = 5.25;
  want[229] = -0.25;
  assert.deepEqual(got, want);
  assert.deepEqual([got[0], got[40], got[130], got[255]], [-3.75, -2.25, -1.75, 22.5]);
});

test('Q3_K: 6-bit signed scales split over 12 bytes, high bit in hmask (clear = −4)', () => {
  // layout: hmask[0..31], qs[32..95], scales[96..107], d (F16) [108..109]
  // scale codes: 33 (scale +1) everywhere except s5 = 31 (−1), s9 = 0 (−32), s14 = 63 (+31)
  // low nibbles: byte s (s<8) | byte s−8 high nibble (s≥8); high 2 bits: byte 8 + s%4, bits 2·⌊s/4⌋
  const scales = [0x11, 0x01, 0x11, 0x11, 0x11, 0x1f, 0xf1, 0x11, 0xaa, 0x86, 0xea, 0xaa];
  const b = new Uint8Array(110);
  b.fill(0xff, 0, 32); // every high bit set → code = low 2 bits
  b.fill(0xe4, 32, 96); // plane j holds code j
  b[3] = 0xfe; // bit 0 of hmask[3] clear: element e = 3 (h 0, plane 0) gets code 0 − 4
  b[7] = 0x7f; // bit 7 of hmask[7] clear: element e = 128 + 96 + 7 = 231 (h 1, plane 3) gets code 3 − 4
  b.set(scales, 96);
  b.set(F16.half, 108);
  const scale = (s: number) => (s === 5 ? -1 : s === 9 ? -32 : s === 14 ? 31 : 1);
  const want = Array.from({ length: 256 }, (_, e) => 0.5 * scale(e >> 4) * ((e >> 5) & 3));
  want[3] = -2; // 0.5 · 1 · −4
  want[231] = -15.5; // 0.5 · 31 · −1
  const got = decode('Q3_K', b, 256);
  assert.deepEqual(got, want);
  // hand-computed: e=80 (s 5, code 2) −1; e=150 (s 9, code 0) 0; e=160 (s 10, code 1) 0.5; e=230 (s 14, code 3) 46.5
  assert.deepEqual([got[80], Object.is(got[150], -0) ? 0 : got[150], got[160], got[230], got[255]], [-1, 0, 0.5, 46.5, 1.5]);
});

// scale codes [1, 2, 3, 4, 63, 17, 32, 48], min codes [0, 1, 2, 3, 5, 63, 16, 33], packed by hand (get_scale_min_k4)
const K_SCALES = [0xc1, 0x42, 0x83, 0xc4, 0x00, 0xc1, 0x42, 0x83, 0x5f, 0xf1, 0x00, 0x10];
const K_SC = [1, 2, 3, 4, 63, 17, 32, 48];
const K_MIN = [0, 1, 2, 3, 5, 63, 16, 33];

test('Q4_K: 6-bit scale/min pairs, low nibbles = even sub-block, high = odd', () => {
  // layout: d [0..1], dmin [2..3], scales[4..15], qs[16..143]; d = 0.5, dmin = 0.25
  // qs[32c + t] = (t & 15) | (15 − (t & 15)) << 4 → code t&15 in even sub-blocks, 15 − (t&15) in odd ones
  const b = new Uint8Array(144);
  b.set([...F16.half, ...F16.quarter, ...K_SCALES], 0);
  for (let i = 0; i < 128; i++) b[16 + i] = (i & 15) | ((15 - (i & 15)) << 4);
  const got = decode('Q4_K', b, 256);
  const want = Array.from({ length: 256 }, (_, e) => {
    const j = e >> 5;
    const code = j & 1 ? 15 - (e & 15) : e & 15;
    return 0.5 * K_SC[j]! * code - 0.25 * K_MIN[j]!;
  });
  assert.deepEqual(got, want);
  // hand-computed: e=5 0.5·1·5; e=35 0.5·2·12 − 0.25; e=145 0.5·63·1 − 1.25; e=160 0.5·17·15 − 15.75;
  // e=223 0.5·32·15 − 4; e=255 0 − 8.25
  assert.deepEqual([got[0], got[5], got[35], got[145], got[160], got[223], got[255]], [0, 2.5, 11.75, 30.25, 111.75, 236, -8.25]);
});

test('Q5_K: Q4_K plus the 5th bit of sub-block j in bit j of qh[t]', () => {
  // layout: d, dmin, scales[4..15], qh[16..47], qs[48..175]; qh[t] = t even ? 0xaa : 0x55
  // → 5th bit set where (j odd) = (t even)
  const b = new Uint8Array(176);
  b.set([...F16.half, ...F16.quarter, ...K_SCALES], 0);
  for (let t = 0; t < 32; t++) b[16 + t] = t % 2 === 0 ? 0xaa : 0x55;
  for (let i = 0; i < 128; i++) b[48 + i] = (i & 15) | ((15 - (i & 15)) << 4);
  const got = decode('Q5_K', b, 256);
  const want = Array.from({ length: 256 }, (_, e) => {
    const j = e >> 5;
    const t = e & 31;
    const code = (j & 1 ? 15 - (e & 15) : e & 15) + ((j & 1) === (t % 2 === 0 ? 1 : 0) ? 16 : 0);
    return 0.5 * K_SC[j]! * code - 0.25 * K_MIN[j]!;
  });
  assert.deepEqual(got, want);
  // hand-computed: e=4 code 4 → 2; e=5 code 21 → 10.5; e=34 code 29 → 29 − 0.25; e=35 code 12 → 11.75;
  // e=254 code 17 → 408 − 8.25; e=255 code 0 → −8.25
  assert.deepEqual([got[4], got[5], got[34], got[35], got[254], got[255]], [2, 10.5, 28.75, 11.75, 399.75, -8.25]);
});

test('Q6_K: 4+2-bit codes (offset 32), int8 scale per 16 elements', () => {
  // layout: ql[0..127], qh[128..191], scales[192..207] (int8), d [208..209]; scales[s] = s − 8, d = 0.5
  // every ql byte 0x21 (low nibble 1, high 2), every qh byte 0xe4 (plane k holds 2-bit value k)
  // element e = 128h + 32k + t: code = ((k < 2 ? 1 : 2) | k << 4) − 32 = −31, −15, 2, 18 for k = 0…3
  const b = new Uint8Array(210);
  b.fill(0x21, 0, 128);
  b.fill(0xe4, 128, 192);
  for (let s = 0; s < 16; s++) b[192 + s] = (s - 8) & 0xff;
  b.set(F16.half, 208);
  b[64 + 33] = 0x0f; // h 1, t 1: plane 1 low bits 15, plane 3 low bits 0
  b[128 + 32 + 2] = 0x00; // h 1, t 2: every high-bit pair 0
  const code = [-31, -15, 2, 18];
  const want = Array.from({ length: 256 }, (_, e) => 0.5 * ((e >> 4) - 8) * code[(e >> 5) & 3]!);
  want[161] = -1; // s 10, code (15 | 1<<4) − 32 = −1 → 0.5 · 2 · −1
  want[225] = 48; // s 14, code (0 | 3<<4) − 32 = 16 → 0.5 · 6 · 16
  want[130] = 0.5 * 0 * (1 - 32); // s 8 (scale 0)
  want[162] = 0.5 * 2 * (1 - 32); // s 10, plane 1 without its high bits: 1 − 32
  want[194] = -60; // s 12, code 2 − 32 = −30 → 0.5 · 4 · −30
  want[226] = 0.5 * 6 * (2 - 32); // s 14, plane 3: 2 − 32
  const got = decode('Q6_K', b, 256);
  assert.deepEqual(got.map((v) => (Object.is(v, -0) ? 0 : v)), want.map((v) => (Object.is(v, -0) ? 0 : v)));
  // hand-computed: e=0 0.5·−8·−31; e=40 0.5·−6·−15; e=70 0.5·−4·2; e=255 0.5·7·18
  assert.deepEqual([got[0], got[40], got[70], got[255]], [124, 45, -4, 63]);
});

test('IQ4_NL: d · kvalues_iq4nl[index], low nibbles first', () => {
  // d = 0.5, qs[j] = j | (15−j) << 4
  const qs = Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4));
  const half = [-63.5, -52, -41.5, -32.5, -24.5, -17.5, -11, -5, 0.5, 6.5, 12.5, 19, 26.5, 34.5, 44.5, 56.5];
  assert.deepEqual(decode('IQ4_NL', [...F16.half, ...qs], 32), [...half, ...half.slice().reverse()]);
});

test('IQ4_XS: 6-bit sub-block scales (offset 32) from scales_l nibbles and scales_h pairs', () => {
  // layout: d [0..1], scales_h [2..3], scales_l[4..7], qs[8..135]; d = 0.25
  // ls = [32, 33, 31, 0, 63, 40, 24, 34] → scales 0, 1, −1, −32, 31, 8, −8, 2
  // scales_l = 0x10, 0x0f, 0x8f, 0x28; scales_h = 2 | 2<<2 | 1<<4 | 0<<6 | 3<<8 | 2<<10 | 1<<12 | 2<<14 = 0x9b1a
  // every qs byte 0xf8: low nibble index 8 (value 1), high nibble index 15 (value 113)
  const b = new Uint8Array(136);
  b.set([...F16.quarter, 0x1a, 0x9b, 0x10, 0x0f, 0x8f, 0x28], 0);
  b.fill(0xf8, 8);
  const got = decode('IQ4_XS', b, 256);
  const sub = [0, 1, -1, -32, 31, 8, -8, 2];
  const want = Array.from({ length: 256 }, (_, e) => 0.25 * sub[e >> 5]! * ((e & 31) < 16 ? 1 : 113));
  assert.deepEqual(got.map((v) => (Object.is(v, -0) ? 0 : v)), want.map((v) => (Object.is(v, -0) ? 0 : v)));
  // hand-computed: e=48 0.25·1·113; e=112 0.25·−32·113; e=144 0.25·31·113; e=255 0.25·2·113
  assert.deepEqual([got[32], got[48], got[80], got[112], got[144], got[255]], [0.25, 28.25, -28.25, -904, 875.75, 56.5]);
  assert.equal(KV[8], 1);
});

test('GGUF MXFP4: E8M0 byte then nibbles, element j low and j+16 high, kvalues_mxfp4 · 2^(e−128)', () => {
  // block 1: e = 127 (×0.5 on the doubled table = plain FP4), qs[j] = j | (15−j) << 4
  // block 2: e = 0 (2^−128, subnormal), qs[0] = 0x71 → element 0 = 1·2^−128, element 16 = 12·2^−128 = 3·2^−126
  // block 3: e = 254 (2^126), qs[0] = 0x71 → element 0 = 2^126, element 16 = 12·2^126 → +Infinity in float32
  // kvalues_mxfp4 is an int8 table, so code 8 (FP4 −0) decodes to +0 in ggml
  const fp4 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6];
  const b1 = [127, ...Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4))];
  const b2 = [0, 0x71, ...new Array(15).fill(0)];
  const b3 = [254, 0x71, ...new Array(15).fill(0)];
  const got = decode('MXFP4', [...b1, ...b2, ...b3], 96);
  assert.deepEqual(got.slice(0, 32), [...fp4, ...fp4.slice().reverse()]);
  assert.equal(got[32], 2 ** -128);
  assert.equal(got[48], 3 * 2 ** -126);
  assert.equal(got[64], 2 ** 126);
  assert.equal(got[80], Infinity);
  assert.deepEqual([got[33], got[49], got[65], got[81]], [0, 0, 0, 0]);
});

test('MXFP4 repack from the safetensors layout (2j low / 2j+1 high) to ggml blocks keeps every code and exponent', () => {
  // hand-computed: a 32-column row whose column c has code c & 15 → ggml qs[j] = j | j << 4
  const codes = Uint8Array.from({ length: 16 }, (_, k) => ((2 * k) & 15) | (((2 * k + 1) & 15) << 4));
  const dst = new Uint8Array(17);
  repackMxfp4RowToGgml(codes, 0, new Uint8Array([130]), 0, 32, dst, 0);
  assert.deepEqual(Array.from(dst), [130, ...Array.from({ length: 16 }, (_, j) => j | (j << 4))]);
  // every code and the whole exponent range 0…254, several rows: ggml decode = safetensors decode; the one
  // difference is code 8, −0 in the safetensors table and +0 in ggml's int8 table (equal as values)
  const rows = 8;
  const cols = 256;
  const c = Uint8Array.from({ length: (rows * cols) / 2 }, (_, i) => (i * 37 + (i >> 3)) & 0xff);
  const s = Uint8Array.from({ length: (rows * cols) / 32 }, (_, i) => (i * 41) % 255);
  for (let r = 0; r < rows; r++) {
    const g = new Uint8Array((cols / 32) * 17);
    repackMxfp4RowToGgml(c, (r * cols) / 2, s, (r * cols) / 32, cols, g, 0);
    const a = new Float32Array(cols);
    const w = new Float32Array(cols);
    dequantizeGgmlRow(GGML_TYPE['MXFP4']!, g, cols, a);
    decodeMxfp4Row(c, s, cols, r, w);
    for (let i = 0; i < cols; i++) {
      assert.ok(a[i] === w[i], `row ${r} col ${i}: ggml ${a[i]} vs safetensors ${w[i]}`);
      if (Object.is(w[i], -0)) assert.ok(Object.is(a[i], 0));
    }
  }
  // and an encoded weight round-trips through the repack exactly
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 3);
  const enc = encodeMxfp4(x, 1, 64);
  const g = new Uint8Array(34);
  repackMxfp4RowToGgml(enc.codes, 0, enc.scales, 0, 64, g, 0);
  const a = new Float32Array(64);
  const w = new Float32Array(64);
  dequantizeGgmlRow(GGML_TYPE['MXFP4']!, g, 64, a);
  decodeMxfp4Row(enc.codes, enc.scales, 64, 0, w);
  assert.deepEqual(Array.from(a), Array.from(w, (v) => (Object.is(v, -0) ? 0 : v)));
  assert.throws(() => repackMxfp4RowToGgml(c, 0, s, 0, 48, g, 0), /48 columns is not a whole number of 32-column blocks/);
});
