/**
 * Safetensors files: header parsing with full validation, lazy reads of one tensor at a time, and a streaming
 * writer. Format: u64 little-endian header length N, N bytes of JSON header (`dtype`, `shape`, `data_offsets`
 * relative to the end of the header, optional `__metadata__`), then the raw little-endian tensor bytes.
 * Source: the safetensors format description; fixtures/README §1 "Sharding".
 */
import * as fs from 'node:fs';
import { CheckpointError } from '../errors.js';
import { DTYPE_BYTES, type DType, isDType } from '../tensor/dtype.js';

/** Header entry of one tensor. `dtype` is null for a dtype this engine cannot decode (read fails, listing works). */
export interface TensorInfo {
  name: string;
  dtype: DType | null;
  rawDtype: string;
  shape: number[];
  /** Byte offset of the tensor's data from the start of the file. */
  start: number;
  /** Size of the tensor's data in bytes. */
  sizeBytes: number;
}

/** Largest header we accept (bytes); real checkpoints have headers of a few MB. */
const MAX_HEADER_BYTES = 256 * 1024 * 1024;

/** Product of a shape's dims (1 for a scalar `[]`). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * One open safetensors file. The header is parsed and validated on open; tensor bytes are read only on demand.
 * @throws CheckpointError naming the file when the header length exceeds the file, the JSON is malformed, an entry
 *   has a bad shape, offsets lie outside the data area or overlap, or bytes do not match dtype × shape.
 */
export class SafetensorsFile {
  readonly tensors = new Map<string, TensorInfo>();
  readonly metadata: Record<string, string> = {};
  /** Total file size in bytes. */
  readonly sizeBytes: number;
  /** Bytes of the 8-byte length prefix plus the JSON header. */
  readonly headerBytes: number;
  private fd: number | null;

  private mapped: ArrayBuffer | null = null;
  /** Windows of a file too large for one mapping, by index k (window k starts at k · MAP_WINDOW_STRIDE). */
  private readonly windows = new Map<number, ArrayBuffer>();

  /**
   * @param map optional read-only mapper of a whole file, or of a window [offset, offset + length) of it; when given,
   *   {@link view} returns views into the mapping (files over {@link MAP_WINDOW_MAX} bytes are mapped in windows)
   */
  constructor(
    readonly path: string,
    private readonly map?: FileMapper,
  ) {
    try {
      this.fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new CheckpointError(path, `cannot open: ${(e as Error).message}`);
    }
    try {
      this.sizeBytes = fs.fstatSync(this.fd).size;
      if (this.sizeBytes < 8) throw this.fail(`file is ${this.sizeBytes} bytes, shorter than the 8-byte header length`);
      const lenBuf = Buffer.alloc(8);
      fs.readSync(this.fd, lenBuf, 0, 8, 0);
      const headerLen = lenBuf.readBigUInt64LE(0);
      if (headerLen > BigInt(this.sizeBytes - 8)) {
        throw this.fail(`header length ${headerLen} exceeds the file (${this.sizeBytes - 8} bytes after the length prefix)`);
      }
      if (headerLen > BigInt(MAX_HEADER_BYTES)) throw this.fail(`header length ${headerLen} exceeds ${MAX_HEADER_BYTES} bytes`);
      const n = Number(headerLen);
      this.headerBytes = 8 + n;
      const headerBuf = Buffer.alloc(n);
      for (let done = 0; done < n; ) {
        const got = fs.readSync(this.fd, headerBuf, done, n - done, 8 + done);
        if (got <= 0) throw this.fail('unexpected end of file in the header');
        done += got;
      }
      this.parseHeader(headerBuf.toString('utf8'));
    } catch (e) {
      this.close();
      throw e instanceof CheckpointError ? e : this.fail(`cannot read: ${(e as Error).message}`);
    }
  }

  private fail(detail: string): CheckpointError {
    return new CheckpointError(this.path, detail);
  }

  private parseHeader(text: string): void {
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch (e) {
      throw this.fail(`header is not valid JSON (${(e as Error).message})`);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) throw this.fail('header is not a JSON object');
    const dataSize = this.sizeBytes - this.headerBytes;
    const spans: Array<[number, number, string]> = [];
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (raw && typeof raw === 'object') {
          for (const [k, v] of Object.entries(raw)) {
            if (typeof v === 'string') Object.defineProperty(this.metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
          }
        }
        continue;
      }
      const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (!entry || typeof entry !== 'object') throw this.fail(`tensor ${name}: header entry is not an object`);
      if (typeof entry.dtype !== 'string') throw this.fail(`tensor ${name}: missing dtype`);
      const shape = entry.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        throw this.fail(`tensor ${name}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
      }
      const offs = entry.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
        throw this.fail(`tensor ${name}: data_offsets ${JSON.stringify(offs)} is not [begin, end]`);
      }
      const [begin, end] = offs as [number, number];
      if (begin > end || end > dataSize) {
        throw this.fail(`tensor ${name}: data_offsets [${begin}, ${end}] lie outside the data area of ${dataSize} bytes`);
      }
      const dtype = isDType(entry.dtype) ? entry.dtype : null;
      if (dtype) {
        const expected = numel(shape as number[]) * DTYPE_BYTES[dtype];
        if (end - begin !== expected) {
          throw this.fail(
            `tensor ${name}: ${end - begin} bytes do not match ${entry.dtype} × ${JSON.stringify(shape)} = ${expected} bytes`,
          );
        }
      }
      spans.push([begin, end, name]);
      this.tensors.set(name, {
        name,
        dtype,
        rawDtype: entry.dtype,
        shape: shape as number[],
        start: this.headerBytes + begin,
        sizeBytes: end - begin,
      });
    }
    spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (let i = 1; i < spans.length; i++) {
      const [b, , nm] = spans[i]!;
      const [, pe, pnm] = spans[i - 1]!;
      if (b < pe) throw this.fail(`tensors ${pnm} and ${nm} overlap (data_offsets)`);
    }
  }

  /**
   * Read one tensor's raw bytes from disk (a fresh buffer, 8-byte aligned).
   * @throws CheckpointError when the tensor is absent, its dtype unsupported, or the file was closed.
   */
  readBytes(name: string): Uint8Array {
    const info = this.tensors.get(name);
    if (!info) throw this.fail(`tensor ${name} not found`);
    if (!info.dtype) throw this.fail(`tensor ${name}: dtype ${info.rawDtype} is not supported (F32, F16, BF16, F8_E4M3, I64, I32)`);
    return this.readRange(name, 0, info.sizeBytes);
  }

  /**
   * Bytes [offset, offset + length) of one tensor's data, read from disk (a fresh buffer, 8-byte aligned): part of a
   * tensor without holding all of it (`mimo quantize` reads a 1.25 GB embedding a few rows at a time).
   * @throws CheckpointError when the tensor is absent, the range lies outside its data, or the file was closed
   */
  readRange(name: string, offset: number, length: number): Uint8Array {
    const info = this.tensors.get(name);
    if (!info) throw this.fail(`tensor ${name} not found`);
    if (offset < 0 || length < 0 || offset + length > info.sizeBytes) throw this.fail(`tensor ${name}: bytes [${offset}, ${offset + length}) lie outside its ${info.sizeBytes} bytes`);
    if (this.fd === null) throw this.fail('file was closed');
    const buf = new Uint8Array(new ArrayBuffer(Math.ceil(length / 8) * 8), 0, length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, info.start + offset + done);
      if (n <= 0) throw this.fail(`tensor ${name}: unexpected end of file`);
      done += n;
    }
    return buf;
  }

  /**
   * A tensor's bytes: a view into the mapped file when a mapper was given (no copy), else {@link readBytes}.
   * @throws CheckpointError as readBytes, or when the mapping fails or is shorter than the file
   */
  view(name: string): Uint8Array {
    if (!this.map) return this.readBytes(name);
    const info = this.tensors.get(name);
    if (!info) throw this.fail(`tensor ${name} not found`);
    if (this.sizeBytes > MAP_WINDOW_MAX) {
      // Window k covers [k·S, k·S + MAP_WINDOW_MAX): windows overlap by MAP_WINDOW_MAX − S, so every tensor up to that
      // size lies inside the window of its first byte. A larger tensor is read (copied) instead.
      const k = Math.floor(info.start / MAP_WINDOW_STRIDE);
      const base = k * MAP_WINDOW_STRIDE;
      if (info.start + info.sizeBytes > base + MAP_WINDOW_MAX) return this.readBytes(name);
      let w = this.windows.get(k);
      if (!w) {
        const length = Math.min(MAP_WINDOW_MAX, this.sizeBytes - base);
        try {
          w = this.map(this.path, base, length);
        } catch (e) {
          throw this.fail(`cannot map bytes [${base}, ${base + length}): ${(e as Error).message}`);
        }
        if (w.byteLength < length) throw this.fail(`mapping of [${base}, ${base + length}) has ${w.byteLength} bytes`);
        this.windows.set(k, w);
      }
      return new Uint8Array(w, info.start - base, info.sizeBytes);
    }
    if (!this.mapped) {
      try {
        this.mapped = this.map(this.path);
      } catch (e) {
        throw this.fail(`cannot map: ${(e as Error).message}`);
      }
      if (this.mapped.byteLength < this.sizeBytes) throw this.fail(`mapping has ${this.mapped.byteLength} bytes, file has ${this.sizeBytes}`);
    }
    return new Uint8Array(this.mapped, info.start, info.sizeBytes);
  }

  /** Close the file descriptor; later reads fail (views into a mapping stay valid). Safe to call twice. */
  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Maps a file read-only: the whole file (no offset/length), or the window [offset, offset + length), offset a
 * multiple of the page size (the native addon's mmapFile).
 */
export type FileMapper = (file: string, offset?: number, length?: number) => ArrayBuffer;

/** Largest mapping one ArrayBuffer of the native addon holds (Node's external-buffer limit, 4 GiB − 1), page-aligned down. */
export const MAP_WINDOW_MAX = 2 ** 32 - 2 ** 16;
/** Distance between the windows of a file larger than {@link MAP_WINDOW_MAX}: tensors up to 2 GiB − 64 KiB stay views. */
export const MAP_WINDOW_STRIDE = 2 ** 31;

/** A tensor to write: its name, dtype, shape and a function producing its bytes when the writer reaches it. */
export interface TensorToWrite {
  name: string;
  dtype: DType;
  shape: number[];
  bytes: () => Uint8Array;
}

/**
 * Write a safetensors file, streaming one tensor at a time (peak memory ≈ the largest tensor).
 * The header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
 * @throws ShapeError-like CheckpointError when a producer returns the wrong number of bytes.
 */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata: Record<string, string> = { format: 'pt' }): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const size = numel(t.shape) * DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const jsonBuf = Buffer.from(json, 'utf8');
  const fd = fs.openSync(path, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(jsonBuf.length));
    fs.writeSync(fd, len);
    fs.writeSync(fd, jsonBuf);
    for (const t of tensors) {
      const b = t.bytes();
      const size = numel(t.shape) * DTYPE_BYTES[t.dtype];
      if (b.byteLength !== size) throw new CheckpointError(path, `tensor ${t.name}: producer gave ${b.byteLength} bytes, expected ${size}`);
      fs.writeSync(fd, b);
    }
  } finally {
    fs.closeSync(fd);
  }
}
