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
