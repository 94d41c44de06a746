/**
 * GGUF's plain float types, little-endian: F32 (IEEE binary32), F16 (IEEE binary16, `ggml_fp16_t`) and BF16 (the
 * top 16 bits of a binary32, `ggml_bf16_t`). Each element decodes exactly to float32. Source: ggml.h.
 */
import { f16ToNumber } from '../../dtype.js';

const F16_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f16ToNumber(h);
  return t;
})();

/** Float32 value of every F16 bit pattern. */
export function f16Value(bits: number): number {
  return F16_TABLE[bits & 0xffff]!;
}

/** F32 row: n little-endian binary32 values. */
export function decodeF32Row(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  const dv = new DataView(src.buffer, src.byteOffset, n * 4);
  for (let i = 0; i < n; i++) out[outOffset + i] = dv.getFloat32(i * 4, true);
}

/** F16 row: n little-endian binary16 values. */
export function decodeF16Row(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  for (let i = 0; i < n; i++) out[outOffset + i] = F16_TABLE[src[2 * i]! | (src[2 * i + 1]! << 8)]!;
}

/** BF16 row: n little-endian bfloat16 values (value = bits << 16 as binary32). */
export function decodeBf16Row(src: Uint8Array, n: number, out: Float32Array, outOffset: number): void {
  const u = new Uint32Array(1);
  const f = new Float32Array(u.buffer);
  for (let i = 0; i < n; i++) {
    u[0] = (src[2 * i]! | (src[2 * i + 1]! << 8)) << 16;
    out[outOffset + i] = f[0]!;
  }
}

const f32Bits = new Float32Array(1);
const u32Bits = new Uint32Array(f32Bits.buffer);

/**
 * The F16 bits of x rounded first to float32 and then to binary16, round to nearest, ties to even, as ggml's
 * `GGML_FP32_TO_FP16` (subnormals kept, overflow to ±Infinity, NaN stays NaN).
 */
export function f32ToF16Bits(x: number): number {
  f32Bits[0] = x;
  const u = u32Bits[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++;
  return sign | r;
}

/** Write the F16 bits of x (see {@link f32ToF16Bits}) little-endian at dst[p], return the float32 value they hold. */
export function putF16(dst: Uint8Array, p: number, x: number): number {
  const h = f32ToF16Bits(x);
  dst[p] = h & 0xff;
  dst[p + 1] = h >> 8;
  return F16_TABLE[h]!;
}
