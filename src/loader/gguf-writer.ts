/**
 * Our GGUF writer (@huggingface/gguf only reads): header — magic `GGUF`, version 3, tensor and key/value counts, the
 * key/values, the tensor infos (name, dims in ggml order, type, offset) — padded to `general.alignment`, then each
 * tensor's data at its aligned offset. The header is written first from the planned tensors (names, types, shapes:
 * sizes follow), then the data streams in, tensor by tensor and slice by slice, so nothing larger than a slice is
 * held. A split set (`--split-max-size`) is written as llama.cpp's gguf-split does: parts `NAME-0000i-of-0000N.gguf`
 * at tensor boundaries, every part with `split.no` (u16), `split.count` (u16) and `split.tensors.count` (i32), the
 * first with all other metadata. Everything goes to temporary names first and is renamed when the last byte is
 * written; a failure or an interrupt leaves no partial file.
 * Source: ggml docs/gguf.md (layout, value types), llama.cpp tools/gguf-split (split keys and naming).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ggmlRowBytes, ggmlTypeName } from '../tensor/formats/ggml/types.js';

/** GGUF metadata value types (docs/gguf.md `gguf_metadata_value_type`). */
export const GGUF_TYPE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** One metadata entry: a scalar of `type`, or an array (`type` ARRAY) of `elementType`. */
export interface GgufKv {
  key: string;
  type: number;
  value: unknown;
  elementType?: number;
}

/** A planned tensor: its GGUF name, ggml type and row-major shape (outermost first; written reversed, as ggml dims). */
export interface GgufTensorPlan {
  name: string;
  type: number;
  shape: readonly number[];
}

/** Bytes of a planned tensor. @throws RangeError when its rows are not whole blocks of its type */
export function ggufTensorBytes(t: GgufTensorPlan): number {
  const cols = t.shape[t.shape.length - 1]!;
  const rows = t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  try {
    return rows * ggmlRowBytes(t.type, cols);
  } catch (e) {
    throw new RangeError(`tensor ${t.name}: ${(e as Error).message}`);
  }
}

const DEFAULT_ALIGNMENT = 32;

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u8(v: number): void {
    this.push(Buffer.from([v & 0xff]));
  }
  u16(v: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    this.push(b);
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function writeScalar(s: ByteSink, type: number, v: unknown, key: string): void {
  const num = (): number => {
    if (typeof v === 'number' || typeof v === 'bigint') return Number(v);
    if (typeof v === 'boolean') return v ? 1 : 0;
    throw new TypeError(`GGUF key ${key}: ${String(v)} is not a number`);
  };
  switch (type) {
    case GGUF_TYPE.UINT8:
    case GGUF_TYPE.INT8:
      s.u8(num());
      return;
    case GGUF_TYPE.UINT16:
    case GGUF_TYPE.INT16:
      s.u16(num() & 0xffff);
      return;
    case GGUF_TYPE.UINT32:
      s.u32(num());
      return;
    case GGUF_TYPE.INT32:
      s.i32(num());
      return;
    case GGUF_TYPE.FLOAT32: {
      const b = Buffer.alloc(4);
      b.writeFloatLE(num());
      s.push(b);
      return;
    }
    case GGUF_TYPE.BOOL:
      s.u8(v ? 1 : 0);
      return;
    case GGUF_TYPE.STRING:
      if (typeof v !== 'string') throw new TypeError(`GGUF key ${key}: expected a string`);
      s.str(v);
      return;
    case GGUF_TYPE.UINT64:
    case GGUF_TYPE.INT64: {
      const b = Buffer.alloc(8);
      if (type === GGUF_TYPE.UINT64) b.writeBigUInt64LE(BigInt(v as number));
      else b.writeBigInt64LE(BigInt(v as number));
      s.push(b);
      return;
    }
    case GGUF_TYPE.FLOAT64: {
      const b = Buffer.alloc(8);
      b.writeDoubleLE(num());
      s.push(b);
      return;
    }
    default:
      throw new TypeError(`GGUF key ${key}: unknown value type ${type}`);
  }
}

/** The header bytes (unpadded) of one file: key/values then tensor infos with their data offsets. */
function headerBytes(kvs: readonly GgufKv[], tensors: readonly GgufTensorPlan[], offsets: readonly number[]): Buffer {
  const s = new ByteSink();
  s.push(Buffer.from('GGUF', 'latin1'));
  s.u32(3);
  s.u64(tensors.length);
  s.u64(kvs.length);
  for (const kv of kvs) {
    s.str(kv.key);
    s.u32(kv.type);
    if (kv.type === GGUF_TYPE.ARRAY) {
      if (!Array.isArray(kv.value) || kv.elementType === undefined) throw new TypeError(`GGUF key ${kv.key}: an array needs values and an element type`);
      s.u32(kv.elementType);
      s.u64(kv.value.length);
      for (const v of kv.value) writeScalar(s, kv.elementType, v, kv.key);
    } else {
      writeScalar(s, kv.type, kv.value, kv.key);
    }
  }
  tensors.forEach((t, i) => {
    s.str(t.name);
    s.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) s.u64(t.shape[d]!);
    s.u32(t.type);
    s.u64(offsets[i]!);
  });
  return s.bytes();
}

const pad = (n: number, a: number): number => Math.ceil(n / a) * a;

/** The file names of a model written in `parts` parts: OUT itself for one, else `BASE-0000i-of-0000N.gguf`. */
export function ggufPartPaths(out: string, parts: number): string[] {
  if (parts === 1) return [out];
  const base = out.endsWith('.gguf') ? out.slice(0, -5) : out;
  const n = String(parts).padStart(5, '0');
  return Array.from({ length: parts }, (_, i) => `${base}-${String(i + 1).padStart(5, '0')}-of-${n}.gguf`);
}

export interface GgufWriteOptions {
  /** `general.alignment` (default 32, written only when it differs). */
  alignment?: number;
  /** Largest part in bytes (`--split-max-size`): tensors go to a new part when the current one would pass it. */
  splitMaxBytes?: number;
}

/**
 * Streams a GGUF model (one file or a split set) to disk. Construct with every tensor planned, then call
 * {@link write} once per tensor in plan order, each with the whole tensor's bytes in one or more slices, then
 * {@link finish}. {@link abort} removes the temporary files.
 */
export class GgufWriter {
  /** Final paths of the parts. */
  readonly paths: string[];
  private readonly tmp: string[];
  private readonly parts: Array<{ tensors: GgufTensorPlan[]; offsets: number[]; dataStart: number; size: number }> = [];
  /** Each part's key/values and header bytes (written when the part is opened). */
  private readonly partHeaders: Array<{ kv: GgufKv[]; header: Buffer }> = [];
  private readonly alignment: number;
  private fd: number | null = null;
  private part = -1;
  private next = 0;
  private written = 0;
  private pos = 0;
  private readonly partOf: number[] = [];
  private readonly sizes: number[];

  /**
   * Plan the parts and write the first header.
   * @param out the output path (`OUT.gguf`; a split set is named after it)
   * @param kvs metadata in write order (`general.architecture` first, as llama.cpp writes it)
   * @throws RangeError for a tensor whose rows are not whole blocks of its type, or a tensor larger than the split size
   */
  constructor(
    out: string,
    private readonly kvs: readonly GgufKv[],
    private readonly tensors: readonly GgufTensorPlan[],
    opts: GgufWriteOptions = {},
  ) {
    this.alignment = opts.alignment ?? DEFAULT_ALIGNMENT;
    this.sizes = tensors.map(ggufTensorBytes);
    const max = opts.splitMaxBytes ?? Infinity;
    let cur: GgufTensorPlan[] = [];
    let curBytes = 0;
    const groups: GgufTensorPlan[][] = [];
    tensors.forEach((t, i) => {
      const b = pad(this.sizes[i]!, this.alignment);
      if (b > max) throw new RangeError(`tensor ${t.name} (${ggmlTypeName(t.type)}, ${b} bytes) is larger than --split-max-size ${max} bytes`);
      if (cur.length > 0 && curBytes + b > max) {
        groups.push(cur);
        cur = [];
        curBytes = 0;
      }
      cur.push(t);
      curBytes += b;
      this.partOf.push(groups.length);
    });
    groups.push(cur);
    this.paths = ggufPartPaths(out, groups.length);
    this.tmp = this.paths.map((p) => path.join(path.dirname(p), `.${path.basename(p)}.tmp-${process.pid}`));
    const split = groups.length > 1;
    for (const [i, g] of groups.entries()) {
      const kv: GgufKv[] = [];
      if (i === 0) kv.push(...kvs);
      if (this.alignment !== DEFAULT_ALIGNMENT && i === 0) kv.push({ key: 'general.alignment', type: GGUF_TYPE.UINT32, value: this.alignment });
      if (split) {
        kv.push({ key: 'split.no', type: GGUF_TYPE.UINT16, value: i }, { key: 'split.count', type: GGUF_TYPE.UINT16, value: groups.length }, { key: 'split.tensors.count', type: GGUF_TYPE.INT32, value: tensors.length });
      }
      const offsets: number[] = [];
      let off = 0;
      for (const t of g) {
        offsets.push(off);
        off += pad(ggufTensorBytes(t), this.alignment);
      }
      const header = headerBytes(kv, g, offsets);
      this.parts.push({ tensors: g, offsets, dataStart: pad(header.length, this.alignment), size: 0 });
      this.partHeaders.push({ kv, header });
    }
    this.openPart(0);
  }

  private openPart(i: number): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.part = i;
    this.fd = fs.openSync(this.tmp[i]!, 'w');
    const { header } = this.partHeaders[i]!;
    fs.writeSync(this.fd, header, 0, header.length, 0);
    this.pos = this.parts[i]!.dataStart;
  }

  /** The tensor the next {@link write} belongs to, or undefined when all are written. */
  get current(): GgufTensorPlan | undefined {
    return this.tensors[this.next];
  }

  /**
   * Append bytes of the current tensor. When its last byte arrives the writer pads to the alignment and moves on.
   * @throws RangeError when more bytes arrive than the tensor holds, or after the last tensor
   */
  write(bytes: Uint8Array): void {
    const t = this.tensors[this.next];
    if (!t) throw new RangeError('GGUF writer: every planned tensor is already written');
    if (this.partOf[this.next] !== this.part) this.openPart(this.partOf[this.next]!);
    const size = this.sizes[this.next]!;
    if (this.written + bytes.length > size) throw new RangeError(`tensor ${t.name}: ${this.written + bytes.length} bytes written, it holds ${size}`);
    for (let done = 0; done < bytes.length; ) done += fs.writeSync(this.fd!, bytes, done, bytes.length - done, this.pos + done);
    this.pos += bytes.length;
    this.written += bytes.length;
    if (this.written === size) {
      const padded = pad(this.pos, this.alignment);
      if (padded > this.pos) fs.writeSync(this.fd!, Buffer.alloc(padded - this.pos), 0, padded - this.pos, this.pos);
      this.pos = padded;
      this.written = 0;
      this.next++;
    }
  }

  /**
   * Close the files and rename them to their final names.
   * @throws RangeError when a planned tensor was not (completely) written
   */
  finish(): string[] {
    if (this.next < this.tensors.length) throw new RangeError(`GGUF writer: tensor ${this.tensors[this.next]!.name} was not written (${this.written} bytes of it)`);
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    for (let i = this.part + 1; i < this.parts.length; i++) this.openPart(i); // parts without tensors (none in practice)
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    this.tmp.forEach((t, i) => fs.renameSync(t, this.paths[i]!));
    return this.paths;
  }

  /** Remove the temporary files (after a failure). Safe to call more than once. */
  abort(): void {
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
    }
    this.fd = null;
    for (const t of this.tmp) fs.rmSync(t, { force: true });
  }
}
