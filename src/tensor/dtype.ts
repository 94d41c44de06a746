/**
 * Element types found in MiMo-V2 checkpoints and their exact decoding to float32.
 * Source: spec §2.5 (E4M3FN, BF16), fixtures/README §1 "Dtypes".
 */

/** Safetensors dtype strings this engine reads. */
export type DType = 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'I64' | 'I32' | 'U8';

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  I64: 8,
  I32: 4,
  U8: 1,
};

/** True when `s` is a dtype string this engine can read. */
export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

/** Decode one E4M3FN byte (`s eeee mmm`, bias 7, no infinities, 0x7F/0xFF = NaN) to a number. */
export function fp8E4M3ToNumber(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const e = (b >> 3) & 15;
  const m = b & 7;
  if (e === 15 && m === 7) return NaN;
  if (e === 0) return sign * (m / 8) * 2 ** -6;
  return sign * (1 + m / 8) * 2 ** (e - 7);
}

/** Lookup table of all 256 E4M3FN codes as float32. */
export const FP8_E4M3_TABLE: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) t[b] = fp8E4M3ToNumber(b);
  return t;
})();

/** Decode one IEEE half-precision value given as its 16 bits. */
export function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Round the float32 value of x to BF16 (round to nearest, ties to even; NaN stays NaN) and return its 16 bits. */
export function numberToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The value of 16 BF16 bits as a number (exact: the bits become the upper half of an f32). */
export function bf16BitsToNumber(bits: number): number {
  u32Scratch[0] = (bits & 0xffff) << 16;
  return f32Scratch[0]!;
}

/**
 * Encode a number to E4M3FN: round to nearest, ties to even mantissa, saturating to ±448 (0x7E/0xFE), sign of
 * values that round to zero kept. The inverse of {@link fp8E4M3ToNumber} on every finite code.
 */
export function numberToFp8E4M3(x: number): number {
  if (Number.isNaN(x)) return 0x7f;
  const sign = x < 0 || Object.is(x, -0) ? 0x80 : 0;
  const a = Math.abs(x);
  if (a >= 464) return sign | 0x7e; // 464 is the midpoint between 448 and the (nonexistent) 480
  if (a < 2 ** -6) return sign | roundHalfEven(a * 512); // subnormal codes, spaced 2^-9 (exact in float64)
  // Normal: from the float64 bits keep 3 mantissa bits and round the other 49 to nearest, ties to even.
  f64Scratch[0] = a;
  const hi = u32OfF64[1]!;
  const lo = u32OfF64[0]!;
  let e = ((hi >>> 20) & 0x7ff) - 1016; // E4M3 exponent field (bias 7) of a float64 (bias 1023)
  let m = (hi >>> 17) & 7;
  const rest = hi & 0x1ffff;
  if (rest > 0x10000 || (rest === 0x10000 && (lo !== 0 || (m & 1) === 1))) {
    m++;
    if (m === 8) {
      m = 0;
      e++;
    }
  }
  return sign | Math.min((e << 3) | m, 0x7e);
}

const f64Scratch = new Float64Array(1);
const u32OfF64 = new Uint32Array(f64Scratch.buffer); // little-endian: [low word, high word]

/** Round to the nearest integer, ties to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v); // ties go up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Decode `count` elements of `dtype` from little-endian `bytes` into a new Float32Array.
 * I64/I32 are converted to float32 too (token ids in golden files are far below 2^24).
 * @throws RangeError when `bytes` is shorter than `count` elements.
 */
export function decodeToF32(bytes: Uint8Array, dtype: DType, count: number): Float32Array {
  const need = count * DTYPE_BYTES[dtype];
  if (bytes.byteLength < need) throw new RangeError(`need ${need} bytes for ${count} ${dtype}, got ${bytes.byteLength}`);
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case 'BF16': {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) u[i] = dv.getUint16(i * 2, true) << 16;
      break;
    }
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = f16ToNumber(dv.getUint16(i * 2, true));
      break;
    case 'F8_E4M3':
      for (let i = 0; i < count; i++) out[i] = FP8_E4M3_TABLE[bytes[i]!]!;
      break;
    case 'I64':
      for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
      break;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = dv.getInt32(i * 4, true);
      break;
    case 'U8':
      for (let i = 0; i < count; i++) out[i] = bytes[i]!;
      break;
  }
  return out;
}
