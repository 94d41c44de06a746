/**
 * ggml tensor types as GGUF files store them: the type id (ggml's `enum ggml_type`, ggml/include/ggml.h), the
 * elements per block and the bytes per block (ggml/src/ggml-common.h; ids 4, 5 and 31–33, 36–38 were removed from
 * ggml and are unknown here), and the reference row decoder of each format this project implements.
 * `dequantizeGgmlRow` is the one dispatch every reader and kernel test goes through; each format's decoder lives in
 * its own file in this folder and is registered in {@link GGML_ROW_DECODERS} (one line per format).
 */
import { decodeBf16Row, decodeF16Row, decodeF32Row } from './float.js';
import { decodeIq4NlRow, decodeIq4XsRow } from './iq4.js';
import { decodeGgmlMxfp4Row } from './mxfp4.js';
import { decodeQ2_KRow } from './q2_k.js';
import { decodeQ3_KRow } from './q3_k.js';
import { decodeQ4_0Row, decodeQ4_1Row } from './q4_0.js';
import { decodeQ4_KRow } from './q4_k.js';
import { decodeQ5_0Row, decodeQ5_1Row } from './q5_0.js';
import { decodeQ5_KRow } from './q5_k.js';
import { decodeQ6_KRow } from './q6_k.js';
import { decodeQ8_0Row } from './q8_0.js';

/** One ggml type: name as ggml spells it, elements per block, bytes per block. */
export interface GgmlTypeInfo {
  id: number;
  name: string;
  blockElements: number;
  blockBytes: number;
}

const QK_K = 256;

/** Every ggml type id known to ggml (ggml.h `enum ggml_type`), with its block geometry (ggml-common.h). */
export const GGML_TYPES: readonly GgmlTypeInfo[] = [
  { id: 0, name: 'F32', blockElements: 1, blockBytes: 4 },
  { id: 1, name: 'F16', blockElements: 1, blockBytes: 2 },
  { id: 2, name: 'Q4_0', blockElements: 32, blockBytes: 2 + 16 },
  { id: 3, name: 'Q4_1', blockElements: 32, blockBytes: 2 + 2 + 16 },
  { id: 6, name: 'Q5_0', blockElements: 32, blockBytes: 2 + 4 + 16 },
  { id: 7, name: 'Q5_1', blockElements: 32, blockBytes: 2 + 2 + 4 + 16 },
  { id: 8, name: 'Q8_0', blockElements: 32, blockBytes: 2 + 32 },
  { id: 9, name: 'Q8_1', blockElements: 32, blockBytes: 4 + 32 },
  { id: 10, name: 'Q2_K', blockElements: QK_K, blockBytes: QK_K / 16 + QK_K / 4 + 2 + 2 },
  { id: 11, name: 'Q3_K', blockElements: QK_K, blockBytes: QK_K / 8 + QK_K / 4 + 12 + 2 },
  { id: 12, name: 'Q4_K', blockElements: QK_K, blockBytes: 2 + 2 + 12 + QK_K / 2 },
  { id: 13, name: 'Q5_K', blockElements: QK_K, blockBytes: 2 + 2 + 12 + QK_K / 8 + QK_K / 2 },
  { id: 14, name: 'Q6_K', blockElements: QK_K, blockBytes: QK_K / 2 + QK_K / 4 + QK_K / 16 + 2 },
  { id: 15, name: 'Q8_K', blockElements: QK_K, blockBytes: 4 + QK_K + (QK_K / 16) * 2 },
  { id: 16, name: 'IQ2_XXS', blockElements: QK_K, blockBytes: 2 + QK_K / 4 },
  { id: 17, name: 'IQ2_XS', blockElements: QK_K, blockBytes: 2 + QK_K / 4 + QK_K / 32 },
  { id: 18, name: 'IQ3_XXS', blockElements: QK_K, blockBytes: 2 + (3 * QK_K) / 8 },
  { id: 19, name: 'IQ1_S', blockElements: QK_K, blockBytes: 2 + QK_K / 8 + QK_K / 16 },
  { id: 20, name: 'IQ4_NL', blockElements: 32, blockBytes: 2 + 16 },
  { id: 21, name: 'IQ3_S', blockElements: QK_K, blockBytes: 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4 },
  { id: 22, name: 'IQ2_S', blockElements: QK_K, blockBytes: 2 + QK_K / 4 + QK_K / 16 },
  { id: 23, name: 'IQ4_XS', blockElements: QK_K, blockBytes: 2 + 2 + QK_K / 64 + QK_K / 2 },
  { id: 24, name: 'I8', blockElements: 1, blockBytes: 1 },
  { id: 25, name: 'I16', blockElements: 1, blockBytes: 2 },
  { id: 26, name: 'I32', blockElements: 1, blockBytes: 4 },
  { id: 27, name: 'I64', blockElements: 1, blockBytes: 8 },
  { id: 28, name: 'F64', blockElements: 1, blockBytes: 8 },
  { id: 29, name: 'IQ1_M', blockElements: QK_K, blockBytes: QK_K / 8 + QK_K / 16 + QK_K / 32 },
  { id: 30, name: 'BF16', blockElements: 1, blockBytes: 2 },
  { id: 34, name: 'TQ1_0', blockElements: QK_K, blockBytes: 2 + 4 * 13 },
  { id: 35, name: 'TQ2_0', blockElements: QK_K, blockBytes: 2 + QK_K / 4 },
  { id: 39, name: 'MXFP4', blockElements: 32, blockBytes: 1 + 16 },
];

/** Type ids by name (`GGML_TYPE.Q8_0` = 8). */
export const GGML_TYPE = Object.fromEntries(GGML_TYPES.map((t) => [t.name, t.id])) as Readonly<Record<string, number>>;

const BY_ID = new Map(GGML_TYPES.map((t) => [t.id, t]));

/** The type with this id, or undefined for an id ggml does not define. */
export function ggmlTypeInfo(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

/** Name of a type id for messages: `Q8_0`, or `unknown type 77`. */
export function ggmlTypeName(id: number): string {
  return BY_ID.get(id)?.name ?? `unknown type ${id}`;
}

/**
 * Bytes of `n` consecutive elements (one row) of a type.
 * @throws RangeError when the id is unknown or n is not a multiple of the block
 */
export function ggmlRowBytes(id: number, n: number): number {
  const t = BY_ID.get(id);
  if (!t) throw new RangeError(`ggml type ${id} is not a known ggml type`);
  if (n % t.blockElements !== 0) throw new RangeError(`${n} elements are not a whole number of ${t.name} blocks of ${t.blockElements}`);
  return (n / t.blockElements) * t.blockBytes;
}

/**
 * Reference decoder of one row: `src` holds exactly the row's blocks (from byte 0), `n` elements (a multiple of
 * the block) are written to out[outOffset … outOffset + n).
 */
export type GgmlRowDecoder = (src: Uint8Array, n: number, out: Float32Array, outOffset: number) => void;

/** The formats this project decodes, by type id. One line per format; add new formats here. */
export const GGML_ROW_DECODERS: Readonly<Partial<Record<number, GgmlRowDecoder>>> = {
  0: decodeF32Row,
  1: decodeF16Row,
  2: decodeQ4_0Row,
  3: decodeQ4_1Row,
  6: decodeQ5_0Row,
  7: decodeQ5_1Row,
  8: decodeQ8_0Row,
  10: decodeQ2_KRow,
  11: decodeQ3_KRow,
  12: decodeQ4_KRow,
  13: decodeQ5_KRow,
  14: decodeQ6_KRow,
  20: decodeIq4NlRow,
  23: decodeIq4XsRow,
  30: decodeBf16Row,
  39: decodeGgmlMxfp4Row,
};

/** True when {@link dequantizeGgmlRow} can decode this type. */
export function isGgmlTypeSupported(id: number): boolean {
  return GGML_ROW_DECODERS[id] !== undefined;
}

/**
 * Dequantise one row of `n` elements of ggml type `type` to float32, exactly as ggml's reference
 * `dequantize_row_*` defines the format.
 * @param bytes the row's stored bytes, starting at its first block; at least ggmlRowBytes(type, n) long
 * @param out destination, float32 `[n]` from outOffset
 * @throws RangeError for a type without a decoder, n not a multiple of the block, or bytes too short
 */
export function dequantizeGgmlRow(type: number, bytes: Uint8Array, n: number, out: Float32Array, outOffset = 0): void {
  const decode = GGML_ROW_DECODERS[type];
  if (!decode) throw new RangeError(`ggml type ${ggmlTypeName(type)} has no decoder in mimo.ts`);
  const need = ggmlRowBytes(type, n);
  if (bytes.byteLength < need) throw new RangeError(`${ggmlTypeName(type)} row of ${n} elements needs ${need} bytes, got ${bytes.byteLength}`);
  if (out.length < outOffset + n) throw new RangeError(`output of ${out.length} values cannot hold ${n} from offset ${outOffset}`);
  decode(bytes, n, out, outOffset);
}
