/**
 * Unit tests of src/tensor/dtype.ts: E4M3FN decode table facts and encoder (round trip, ties to even, saturation),
 * BF16 round-to-nearest-even encoding, F16 decoding and decodeToF32 over every dtype.
 * Reference: spec §2.5, fixtures/README §1 "Dtypes" and "FP8".
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  bf16BitsToNumber,
  decodeToF32,
  DTYPE_BYTES,
  f16ToNumber,
  FP8_E4M3_TABLE,
  fp8E4M3ToNumber,
  isDType,
  numberToBf16Bits,
  numberToFp8E4M3,
} from '../../src/tensor/dtype.js';

/** All finite E4M3FN codes (everything except 0x7F and 0xFF). */
const FINITE_CODES = Array.from({ length: 256 }, (_, b) => b).filter((b) => (b & 0x7f) !== 0x7f);

describe('fp8E4M3ToNumber / FP8_E4M3_TABLE', () => {
  it('decodes the characteristic codes', () => {
    assert.equal(fp8E4M3ToNumber(0x7e), 448); // max finite: e=15, m=6 -> 1.75 * 2^8
    assert.equal(fp8E4M3ToNumber(0xfe), -448);
    assert.equal(fp8E4M3ToNumber(0x01), 2 ** -9); // smallest subnormal: 1/8 * 2^-6
    assert.equal(fp8E4M3ToNumber(0x07), (7 / 8) * 2 ** -6); // largest subnormal
    assert.equal(fp8E4M3ToNumber(0x08), 2 ** -6); // smallest normal
    assert.equal(fp8E4M3ToNumber(0x38), 1); // e=7, m=0
    assert.equal(fp8E4M3ToNumber(0x39), 1.125);
    assert.equal(fp8E4M3ToNumber(0x40), 2);
    assert.equal(fp8E4M3ToNumber(0x77), 240); // e=14, m=7: 1.875 * 2^7
    assert.equal(fp8E4M3ToNumber(0x78), 256); // e=15, m=0 is finite in E4M3FN (no infinities)
    assert.ok(Object.is(fp8E4M3ToNumber(0x00), 0));
    assert.ok(Object.is(fp8E4M3ToNumber(0x80), -0));
  });

  it('0x7F and 0xFF are NaN and no code is infinite', () => {
    assert.ok(Number.isNaN(fp8E4M3ToNumber(0x7f)));
    assert.ok(Number.isNaN(fp8E4M3ToNumber(0xff)));
    for (const b of FINITE_CODES) assert.ok(Number.isFinite(fp8E4M3ToNumber(b)), `code 0x${b.toString(16)}`);
  });

  it('the sign bit only flips the sign', () => {
    for (let b = 0; b < 0x80; b++) {
      const pos = fp8E4M3ToNumber(b);
      const neg = fp8E4M3ToNumber(b | 0x80);
      if (Number.isNaN(pos)) assert.ok(Number.isNaN(neg));
      else assert.ok(Object.is(neg, -pos), `0x${b.toString(16)}: ${pos} vs ${neg}`);
    }
  });

  it('positive codes 0x00..0x7E are strictly increasing and the table matches the function', () => {
    for (let b = 1; b <= 0x7e; b++) assert.ok(fp8E4M3ToNumber(b) > fp8E4M3ToNumber(b - 1), `0x${b.toString(16)}`);
    assert.equal(FP8_E4M3_TABLE.length, 256);
    for (let b = 0; b < 256; b++) {
      const v = fp8E4M3ToNumber(b);
      if (Number.isNaN(v)) assert.ok(Number.isNaN(FP8_E4M3_TABLE[b]!));
      else assert.ok(Object.is(FP8_E4M3_TABLE[b], v), `0x${b.toString(16)}`); // exact in float32
    }
  });

  it('matches the bit-field formula of spec §2.5 for every code', () => {
    for (const b of FINITE_CODES) {
      const s = b >> 7 ? -1 : 1;
      const e = (b >> 3) & 15;
      const m = b & 7;
      const want = e === 0 ? s * (m / 8) * 2 ** -6 : s * (1 + m / 8) * 2 ** (e - 7);
      assert.equal(fp8E4M3ToNumber(b), want, `0x${b.toString(16)}`);
    }
  });
});

describe('numberToFp8E4M3', () => {
  it('round-trips every finite code (including -0)', () => {
    for (const b of FINITE_CODES) assert.equal(numberToFp8E4M3(fp8E4M3ToNumber(b)), b, `code 0x${b.toString(16)}`);
  });

  it('rounds exact midpoints to the even code (mantissa LSB 0), both signs, subnormal and normal', () => {
    for (let k = 0; k < 0x7e; k++) {
      const lo = fp8E4M3ToNumber(k);
      const hi = fp8E4M3ToNumber(k + 1);
      const mid = (lo + hi) / 2; // exact in binary64
      const even = k % 2 === 0 ? k : k + 1;
      assert.equal(numberToFp8E4M3(mid), even, `midpoint of 0x${k.toString(16)}/0x${(k + 1).toString(16)} = ${mid}`);
      assert.equal(numberToFp8E4M3(-mid), 0x80 | even, `-midpoint ${-mid}`);
      // Just off the midpoint rounds to the nearer code.
      const eps = (hi - lo) * 2 ** -10;
      assert.equal(numberToFp8E4M3(mid - eps), k, `just below ${mid}`);
      assert.equal(numberToFp8E4M3(mid + eps), k + 1, `just above ${mid}`);
    }
  });

  it('known tie examples', () => {
    assert.equal(numberToFp8E4M3(2 ** -10), 0x00); // half the smallest subnormal: tie between 0 and 0x01 -> 0
    assert.equal(numberToFp8E4M3(3 * 2 ** -10), 0x02); // tie between 0x01 and 0x02 -> 0x02
    assert.equal(numberToFp8E4M3(1.0625), 0x38); // tie 1 / 1.125 -> 1 (m=0)
    assert.equal(numberToFp8E4M3(1.1875), 0x3a); // tie 1.125 / 1.25 -> 1.25 (m=2)
    assert.equal(numberToFp8E4M3(432), 0x7e); // tie 416 (m=5) / 448 (m=6) -> 448
    assert.equal(numberToFp8E4M3(15 / 16 * 2 ** -6), 0x08); // tie largest subnormal / smallest normal -> 0x08
  });

  it('saturates to ±448 (0x7E / 0xFE), including infinities', () => {
    for (const x of [448, 449, 460, 463.99, 464, 465, 480, 1e6, 1e300, Infinity]) {
      assert.equal(numberToFp8E4M3(x), 0x7e, `${x}`);
      assert.equal(numberToFp8E4M3(-x), 0xfe, `${-x}`);
    }
  });

  it('keeps the sign of values that round to zero', () => {
    assert.equal(numberToFp8E4M3(1e-30), 0x00);
    assert.equal(numberToFp8E4M3(-1e-30), 0x80);
    assert.equal(numberToFp8E4M3(-(2 ** -11)), 0x80);
    assert.equal(numberToFp8E4M3(-0), 0x80);
    assert.equal(numberToFp8E4M3(0), 0x00);
  });

  it('encodes NaN as a NaN code and never produces NaN for finite input', () => {
    assert.ok(Number.isNaN(fp8E4M3ToNumber(numberToFp8E4M3(NaN))));
    for (let x = -500; x <= 500; x += 0.37) assert.ok(!Number.isNaN(fp8E4M3ToNumber(numberToFp8E4M3(x))), `${x}`);
  });

  it('picks the nearest code for arbitrary values (brute force against the table)', () => {
    let seed = 12345;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 5000; i++) {
      const x = (rand() * 2 - 1) * 2 ** (rand() * 20 - 11);
      const code = numberToFp8E4M3(x);
      const got = fp8E4M3ToNumber(code);
      let best = Infinity;
      for (const b of FINITE_CODES) best = Math.min(best, Math.abs(fp8E4M3ToNumber(b) - x));
      assert.equal(Math.abs(got - x), best, `x=${x} -> 0x${code.toString(16)} (${got})`);
      assert.ok(got === 0 || Math.sign(got) === Math.sign(x));
    }
  });
});

describe('numberToBf16Bits / bf16BitsToNumber', () => {
  it('round-to-nearest-even examples', () => {
    assert.equal(numberToBf16Bits(1), 0x3f80);
    assert.equal(numberToBf16Bits(-2), 0xc000);
    assert.equal(numberToBf16Bits(1 + 2 ** -7), 0x3f81); // exactly representable
    assert.equal(numberToBf16Bits(1 + 2 ** -8), 0x3f80); // tie -> even (m=0)
    assert.equal(numberToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // tie between 0x3F81 and 0x3F82 -> even 0x3F82
    assert.equal(numberToBf16Bits(1 + 2 ** -8 + 2 ** -16), 0x3f81); // above the tie -> up
    assert.equal(numberToBf16Bits(1 + 2 ** -8 - 2 ** -16), 0x3f80); // below the tie -> down
    assert.equal(numberToBf16Bits(Math.PI), 0x4049); // 3.140625
    assert.equal(numberToBf16Bits(0.1), 0x3dcd);
    assert.equal(numberToBf16Bits(-1 - 3 * 2 ** -8), 0xbf82);
  });

  it('zeros, infinities, overflow and NaN', () => {
    assert.equal(numberToBf16Bits(0), 0x0000);
    assert.equal(numberToBf16Bits(-0), 0x8000);
    assert.equal(numberToBf16Bits(Infinity), 0x7f80);
    assert.equal(numberToBf16Bits(-Infinity), 0xff80);
    assert.equal(numberToBf16Bits(3.4028234663852886e38), 0x7f80); // f32 max rounds up to +inf under RNE
    assert.equal(numberToBf16Bits(-3.4028234663852886e38), 0xff80);
    const nan = numberToBf16Bits(NaN);
    assert.equal(nan & 0x7f80, 0x7f80);
    assert.notEqual(nan & 0x7f, 0, 'NaN must keep a non-zero mantissa (not become infinity)');
    assert.ok(Number.isNaN(bf16BitsToNumber(nan)));
    assert.equal(bf16BitsToNumber(0x7f7f), 3.3895313892515355e38); // bf16 max
    assert.equal(numberToBf16Bits(2 ** -133), 0x0001); // f32 subnormal range
  });

  it('round-trips every non-NaN bf16 bit pattern', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = bf16BitsToNumber(bits);
      if (Number.isNaN(v)) continue;
      assert.equal(numberToBf16Bits(v), bits, `0x${bits.toString(16)}`);
    }
  });
});

describe('f16ToNumber', () => {
  it('decodes normal, subnormal and special values', () => {
    assert.equal(f16ToNumber(0x3c00), 1);
    assert.equal(f16ToNumber(0xc000), -2);
    assert.equal(f16ToNumber(0x3555), 0.333251953125);
    assert.equal(f16ToNumber(0x7bff), 65504);
    assert.equal(f16ToNumber(0x0400), 2 ** -14);
    assert.equal(f16ToNumber(0x0001), 2 ** -24);
    assert.equal(f16ToNumber(0x03ff), 1023 * 2 ** -24);
    assert.equal(f16ToNumber(0x8001), -(2 ** -24));
    assert.ok(Object.is(f16ToNumber(0x8000), -0));
    assert.equal(f16ToNumber(0x7c00), Infinity);
    assert.equal(f16ToNumber(0xfc00), -Infinity);
    assert.ok(Number.isNaN(f16ToNumber(0x7e00)));
    assert.ok(Number.isNaN(f16ToNumber(0x7c01)));
  });

  it('agrees with the float32 view of widened halves (bit-level reference)', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let h = 0; h < 0x10000; h += 7) {
      const e = (h >> 10) & 0x1f;
      if (e === 0 || e === 31) continue; // normals only: widen by re-biasing the exponent
      u[0] = ((h & 0x8000) << 16) | ((e - 15 + 127) << 23) | ((h & 0x3ff) << 13);
      assert.equal(f16ToNumber(h), f[0], `0x${h.toString(16)}`);
    }
  });
});

describe('isDType / DTYPE_BYTES', () => {
  it('accepts exactly the supported dtype strings', () => {
    for (const d of ['F32', 'F16', 'BF16', 'F8_E4M3', 'I64', 'I32', 'U8']) assert.ok(isDType(d), d);
    for (const d of ['F64', 'U16', 'f32', 'F8_E5M2', '', 'toString', 'constructor', '__proto__', 1, null, undefined]) {
      assert.ok(!isDType(d), String(d));
    }
  });
  it('byte sizes', () => {
    assert.deepEqual({ ...DTYPE_BYTES }, { F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, I64: 8, I32: 4, U8: 1 });
  });
});

describe('decodeToF32', () => {
  it('decodes each dtype from little-endian bytes', () => {
    const f32 = new Float32Array([1.5, -0.25, 3e-39, 65504]);
    assert.deepEqual(decodeToF32(new Uint8Array(f32.buffer), 'F32', 4), f32);

    const bf = new Uint16Array([0x3f80, 0xc000, 0x4049, 0x0001]);
    assert.deepEqual([...decodeToF32(new Uint8Array(bf.buffer), 'BF16', 4)], [1, -2, 3.140625, bf16BitsToNumber(1)]);

    const h = new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7bff]);
    assert.deepEqual([...decodeToF32(new Uint8Array(h.buffer), 'F16', 4)], [1, -2, 2 ** -24, 65504]);

    assert.deepEqual([...decodeToF32(new Uint8Array([0x38, 0xfe, 0x01, 0x80]), 'F8_E4M3', 4)], [1, -448, 2 ** -9, -0]);

    const i64 = new BigInt64Array([0n, -1n, 151645n, 16777216n]);
    assert.deepEqual([...decodeToF32(new Uint8Array(i64.buffer), 'I64', 4)], [0, -1, 151645, 16777216]);

    const i32 = new Int32Array([7, -7, 2 ** 20]);
    assert.deepEqual([...decodeToF32(new Uint8Array(i32.buffer), 'I32', 3)], [7, -7, 2 ** 20]);
  });

  it('honours the byteOffset of an unaligned view', () => {
    const buf = new Uint8Array(1 + 8);
    new DataView(buf.buffer).setFloat32(1, 2.5, true);
    new DataView(buf.buffer).setFloat32(5, -7, true);
    assert.deepEqual([...decodeToF32(buf.subarray(1), 'F32', 2)], [2.5, -7]);
    const b8 = new Uint8Array([0xff, 0x38, 0x40]);
    assert.deepEqual([...decodeToF32(b8.subarray(1), 'F8_E4M3', 2)], [1, 2]);
    const b16 = new Uint8Array(5);
    new DataView(b16.buffer).setUint16(1, 0x3f80, true);
    new DataView(b16.buffer).setUint16(3, 0xbf80, true);
    assert.deepEqual([...decodeToF32(b16.subarray(1), 'BF16', 2)], [1, -1]);
  });

  it('throws RangeError when the bytes are too short', () => {
    assert.throws(() => decodeToF32(new Uint8Array(7), 'F32', 2), RangeError);
    assert.throws(() => decodeToF32(new Uint8Array(3), 'BF16', 2), RangeError);
    assert.throws(() => decodeToF32(new Uint8Array(15), 'I64', 2), RangeError);
  });
});

describe('numberToFp8E4M3 equals the nearest-code search on 200,000 values across every binade', () => {
  it('random magnitudes 2^-12 … 2^9, both signs', () => {
    // The definition: the finite code whose value is nearest, ties to the even code, saturating beyond 464.
    const nearest = (x: number): number => {
      const a = Math.abs(x);
      const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
      if (a >= 464) return sign | 0x7e;
      let best = 0;
      for (let c = 1; c <= 0x7e; c++) {
        const d = Math.abs(fp8E4M3ToNumber(c) - a);
        const bd = Math.abs(fp8E4M3ToNumber(best) - a);
        if (d < bd || (d === bd && c % 2 === 0)) best = c;
      }
      return sign | best;
    };
    let s = 99;
    const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 200000; i++) {
      const x = (rand() < 0.5 ? -1 : 1) * 2 ** (rand() * 21 - 12);
      const f = Math.fround(x);
      if (i % 20 === 0) assert.equal(numberToFp8E4M3(f), nearest(f), `x = ${f}`);
      else if (Math.abs(f) < 448) assert.ok(Math.abs(fp8E4M3ToNumber(numberToFp8E4M3(f)) - Math.abs(f) * (f < 0 ? -1 : 1)) <= Math.abs(f) / 16 + 2 ** -10, `x = ${f}`);
    }
  });
});
