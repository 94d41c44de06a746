/**
 * The MXFP4 codec (tensor/formats/mxfp4.ts) against the format's definition written out by hand (spec §2.8): every
 * nibble value, nibble order (column 2j = low nibble), every scale byte 0…254, the encoder's rounding (ties to the
 * even code, saturation, −0) and a round trip of the encoder through the decoder.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMxfp4Row, E8M0_TABLE, encodeMxfp4, findE8m0Nan, FP4_E2M1_VALUES, mxfp4Element, nearestFp4Code } from '../../src/tensor/formats/mxfp4.js';

const HAND: number[] = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

describe('MXFP4 decoding', () => {
  it('every FP4 code decodes to its e2m1 value (code 8 is −0)', () => {
    for (let c = 0; c < 16; c++) assert.ok(Object.is(FP4_E2M1_VALUES[c], HAND[c]), `code ${c}`);
  });

  it('every scale byte 0…254 is 2^(byte − 127) exactly; 255 is NaN and is found', () => {
    for (let b = 0; b < 255; b++) assert.equal(E8M0_TABLE[b], Math.fround(2 ** (b - 127)), `byte ${b}`);
    assert.ok(Number.isNaN(E8M0_TABLE[255]!));
    assert.equal(findE8m0Nan(Uint8Array.from([1, 2, 255, 255])), 2);
    assert.equal(findE8m0Nan(Uint8Array.from([0, 254])), -1);
  });

  it('column 2j is the low nibble, 2j+1 the high nibble; the scale covers 32 columns', () => {
    // Row of 64 columns: byte j = (hi code) << 4 | (lo code), scale bytes 127 (×1) and 130 (×8).
    const codes = new Uint8Array(32);
    for (let j = 0; j < 32; j++) codes[j] = ((15 - (j % 16)) << 4) | (j % 16);
    const scales = Uint8Array.from([127, 130]);
    const out = new Float32Array(64);
    decodeMxfp4Row(codes, scales, 64, 0, out);
    for (let c = 0; c < 64; c++) {
      const j = c >> 1;
      const code = c % 2 === 0 ? j % 16 : 15 - (j % 16);
      const want = HAND[code]! * (c < 32 ? 1 : 8);
      assert.ok(Object.is(out[c], want), `column ${c}: ${out[c]} vs ${want}`);
      assert.ok(Object.is(mxfp4Element(codes, scales, 64, 0, c), want));
    }
  });

  it('every (code, scale byte) product is exact in float32, including 2^−127 and the overflow to ±Infinity', () => {
    for (let b = 0; b < 255; b++) {
      for (let c = 0; c < 16; c++) {
        const codes = Uint8Array.from(Array.from({ length: 16 }, () => c | (c << 4)));
        const out = new Float32Array(32);
        decodeMxfp4Row(codes, Uint8Array.from([b]), 32, 0, out);
        const want = Math.fround(HAND[c]! * 2 ** (b - 127));
        for (let i = 0; i < 32; i++) assert.ok(Object.is(out[i], want), `code ${c} byte ${b}`);
      }
    }
  });
});

describe('MXFP4 encoding (as the fixtures were written)', () => {
  it('rounds to the nearest e2m1 value, ties to the even code, saturates at ±6, keeps the sign of zero', () => {
    assert.equal(nearestFp4Code(0.25), 0); // tie between 0 (code 0) and 0.5 (code 1): even
    assert.equal(nearestFp4Code(0.75), 2); // tie between 0.5 (1) and 1 (2)
    assert.equal(nearestFp4Code(2.5), 4); // tie between 2 (4) and 3 (5)
    assert.equal(nearestFp4Code(5), 6); // tie between 4 (6) and 6 (7)
    assert.equal(nearestFp4Code(100), 7);
    assert.equal(nearestFp4Code(-100), 15);
    assert.equal(nearestFp4Code(-0.1), 8);
    assert.equal(nearestFp4Code(-0), 8);
    for (let c = 0; c < 16; c++) assert.equal(nearestFp4Code(HAND[c]!), c);
  });

  it('a block scale comes from the amax (largest |FP4| is 4 or 6), and decode(encode(w)) is within 2 block-scale units of w', () => {
    let s = 12345;
    const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const rows = 5;
    const cols = 96;
    const w = Float32Array.from({ length: rows * cols }, (_, i) => rand() * 2 ** ((i % 7) - 3));
    w.fill(0, 32, 64); // an all-zero block of row 0
    const { codes, scales } = encodeMxfp4(w, rows, cols);
    assert.equal(scales[1], 127);
    const out = new Float32Array(cols);
    for (let r = 0; r < rows; r++) {
      decodeMxfp4Row(codes, scales, cols, r, out);
      for (let b = 0; b < 3; b++) {
        const block = out.subarray(b * 32, b * 32 + 32);
        const step = 2 ** (scales[r * 3 + b]! - 127);
        const amax = Math.max(...block.map(Math.abs));
        if (!(r === 0 && b === 1)) assert.ok(amax / step === 4 || amax / step === 6, `row ${r} block ${b}: largest |FP4| ${amax / step}`);
        for (let i = 0; i < 32; i++) {
          const orig = w[r * cols + b * 32 + i]!;
          const err = Math.abs(block[i]! - orig);
          // |w| / scale < 8: rounding errs by at most 1 unit (the 4…6 step is 2), saturation of (6, 8) at 6 by < 2.
          assert.ok(err <= 2 * step, `row ${r} col ${b * 32 + i}: ${block[i]} vs ${orig}`);
        }
      }
    }
    assert.throws(() => encodeMxfp4(new Float32Array(10), 1, 10), /multiple of 32/);
  });
});
