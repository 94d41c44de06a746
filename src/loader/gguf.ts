/**
 * GGUF files (llama.cpp's format): the header — magic `GGUF`, version, metadata key/values, tensor infos — parsed by
 * @huggingface/gguf, then validated here (known ggml types, whole blocks, offsets aligned, inside the file, not
 * overlapping); tensor data read lazily or, with a {@link FileMapper}, as views of the mapped file (no copy).
 * A split set (`NAME-00001-of-0000N.gguf`, llama.cpp's gguf-split with `split.no` / `split.count`) opens as one.
 * Source: ggml docs/gguf.md; ggml.h (types), ggml-common.h (blocks).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { workerExecArgv } from '../util/worker-exec-argv.js';
import { CheckpointError } from '../errors.js';
import { ggmlTypeInfo, ggmlTypeName } from '../tensor/formats/ggml/types.js';
import { MAP_WINDOW_MAX, MAP_WINDOW_STRIDE, type FileMapper } from './safetensors.js';

/** One metadata value with its GGUF value type (GGUFValueType: 4 = UINT32, 8 = STRING, 9 = ARRAY, …). */
export interface GgufValue {
  value: unknown;
  type: number;
  subType?: number;
}

/** One tensor of a GGUF file. `dims` in ggml order (dims[0] = ne0, the contiguous one); `shape` is reversed. */
export interface GgufTensorInfo {
  name: string;
  /** ggml type id (ggml.h). */
  type: number;
  dims: number[];
  /** Row-major logical shape, outermost first (PyTorch order): dims reversed. */
  shape: number[];
  /** Byte offset of the data from the start of the file. */
  start: number;
  sizeBytes: number;
  /** The file holding the tensor. */
  file: string;
}

/** Longest time the header parse may take before the file is called unreadable (ms). */
const HEADER_TIMEOUT_MS = 60_000;

/**
 * Parse a GGUF header synchronously: @huggingface/gguf's parser is async, so it runs on a worker thread while this
 * thread waits (Atomics.wait), and the result is taken off the port with receiveMessageOnPort.
 * @throws CheckpointError naming the file when the parser fails or takes longer than a minute
 */
export function parseGgufHeaderSync(file: string): { metadata: Record<string, GgufValue>; tensorInfos: Array<{ name: string; n_dims: number; shape: bigint[]; dtype: number; offset: bigint }>; tensorDataOffset: bigint; littleEndian: boolean } {
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./gguf-header-worker.js', import.meta.url), { workerData: { file, port: port2, signal }, transferList: [port2], execArgv: workerExecArgv() });
  try {
    const r = Atomics.wait(signal, 0, 0, HEADER_TIMEOUT_MS);
    if (r === 'timed-out') throw new CheckpointError(file, `GGUF header: not parsed within ${HEADER_TIMEOUT_MS / 1000} s`);
    const msg = receiveMessageOnPort(port1)?.message as { ok: true; metadata: Record<string, GgufValue>; tensorInfos: never; tensorDataOffset: bigint; littleEndian: boolean } | { ok: false; message: string } | undefined;
    if (!msg) throw new CheckpointError(file, 'GGUF header: the parser ended without a result');
    if (!msg.ok) throw new CheckpointError(file, `GGUF header: ${msg.message}`);
    return msg;
  } finally {
    void worker.terminate();
    port1.close();
  }
}

/** True when `file` begins with the GGUF magic. */
export function isGgufFile(file: string): boolean {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const b = Buffer.alloc(4);
      return fs.readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === 'GGUF';
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

const SPLIT_RE = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

/**
 * The GGUF file(s) a model path names: a `.gguf` file (the first of a split set brings the whole set), or a
 * directory holding exactly one GGUF model (one file, or one split set). Returns null when `p` does not exist or
 * is a directory without any `.gguf` file (a safetensors checkpoint: its loader reports what is missing).
 * @throws CheckpointError when the path is missing, a directory holds several GGUF models, a split set misses a
 *   part, or a later part of a set is given instead of the first
 */
export function resolveGgufPaths(p: string): string[] | null {
  if (!fs.existsSync(p)) return null;
  let file = p;
  if (!fs.statSync(p).isDirectory()) {
    if (!p.endsWith('.gguf') && !isGgufFile(p)) throw new CheckpointError(p, 'is a file but not a GGUF file; a model is a GGUF file or a checkpoint directory (config.json + safetensors)');
  } else {
    const ggufs = fs.readdirSync(p).filter((n) => n.endsWith('.gguf')).sort();
    if (ggufs.length === 0) return null;
    const firsts = ggufs.filter((n) => !SPLIT_RE.test(n) || SPLIT_RE.exec(n)![2] === '00001');
    if (firsts.length !== 1) throw new CheckpointError(p, `holds ${firsts.length} GGUF models (${firsts.join(', ')}); name one file with --model`);
    file = path.join(p, firsts[0]!);
  }
  const m = SPLIT_RE.exec(path.basename(file));
  if (!m) return [file];
  const total = Number(m[3]);
  if (m[2] !== '00001') throw new CheckpointError(file, `is part ${Number(m[2])} of a split GGUF; open the first part (${m[1]}-00001-of-${m[3]}.gguf)`);
  if (total < 1) throw new CheckpointError(file, 'split count 00000 in the file name');
  const parts = Array.from({ length: total }, (_, i) => path.join(path.dirname(file), `${m[1]}-${String(i + 1).padStart(5, '0')}-of-${m[3]}.gguf`));
  for (const part of parts) if (!fs.existsSync(part)) throw new CheckpointError(part, `missing: split GGUF ${path.basename(file)} has ${total} parts and this one is absent`);
  return parts;
}

/** One open GGUF file. Call {@link close} when done. */
export class GgufFile {
  readonly metadata: Record<string, GgufValue>;
  readonly tensors = new Map<string, GgufTensorInfo>();
  readonly sizeBytes: number;
  readonly alignment: number;
  private fd: number | null = null;
  private mapped: ArrayBuffer | null = null;
  private readonly windows = new Map<number, ArrayBuffer>();

  /**
   * @param map optional read-only mapper; {@link view} then returns views into the mapping
   * @throws CheckpointError naming the file (and tensor) for a file that is not GGUF, a header the parser rejects,
   *   an unknown ggml type, a row that is not whole blocks, an unaligned offset, data past the end of the file
   *   (truncated), or overlapping tensors
   */
  constructor(
    readonly path: string,
    private readonly map?: FileMapper,
  ) {
    try {
      this.fd = fs.openSync(path, 'r');
      this.sizeBytes = fs.fstatSync(this.fd).size;
    } catch (e) {
      throw new CheckpointError(path, `cannot open: ${(e as Error).message}`);
    }
    try {
      const magic = Buffer.alloc(4);
      if (fs.readSync(this.fd, magic, 0, 4, 0) !== 4 || magic.toString('latin1') !== 'GGUF') throw this.fail('not a GGUF file (the first 4 bytes are not "GGUF")');
      const h = parseGgufHeaderSync(path);
      if (!h.littleEndian) throw this.fail('big-endian GGUF is not supported');
      this.metadata = h.metadata;
      const al = h.metadata['general.alignment']?.value;
      this.alignment = al === undefined ? 32 : Number(al);
      const dataStart = Number(h.tensorDataOffset);
      if (!(dataStart <= this.sizeBytes)) throw this.fail(`tensor data would start at byte ${dataStart}, past the end of the file (${this.sizeBytes} bytes): the file is truncated`);
      const spans: Array<[number, number, string]> = [];
      for (const t of h.tensorInfos) {
        const name = t.name;
        if (this.tensors.has(name)) throw this.fail(`tensor ${name} appears twice`);
        const info = ggmlTypeInfo(t.dtype);
        if (!info) throw this.fail(`tensor ${name}: ${ggmlTypeName(t.dtype)} is not a ggml type`);
        const dims = t.shape.map(Number);
        if (dims.length < 1 || dims.length > 4 || !dims.every((d) => Number.isSafeInteger(d) && d >= 1)) throw this.fail(`tensor ${name}: dimensions [${t.shape.join(', ')}] are not 1 to 4 positive sizes`);
        if (dims[0]! % info.blockElements !== 0) throw this.fail(`tensor ${name}: row length ${dims[0]} is not a multiple of the ${info.name} block of ${info.blockElements}`);
        let rows = 1;
        for (let i = 1; i < dims.length; i++) rows *= dims[i]!;
        const sizeBytes = (dims[0]! / info.blockElements) * info.blockBytes * rows;
        const offset = Number(t.offset);
        if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(sizeBytes)) throw this.fail(`tensor ${name}: offset ${t.offset} or size is too large`);
        if (offset % this.alignment !== 0) throw this.fail(`tensor ${name}: offset ${offset} is not a multiple of general.alignment ${this.alignment}`);
        const start = dataStart + offset;
        if (start + sizeBytes > this.sizeBytes) {
          throw this.fail(`tensor ${name}: data [${start}, ${start + sizeBytes}) (${info.name} [${dims.join(', ')}]) lies past the end of the file (${this.sizeBytes} bytes): the file is truncated or the offset is wrong`);
        }
        spans.push([start, start + sizeBytes, name]);
        this.tensors.set(name, { name, type: t.dtype, dims, shape: dims.slice().reverse(), start, sizeBytes, file: path });
      }
      spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      for (let i = 1; i < spans.length; i++) {
        if (spans[i]![0] < spans[i - 1]![1]) throw this.fail(`tensors ${spans[i - 1]![2]} and ${spans[i]![2]} overlap`);
      }
    } catch (e) {
      this.close();
      throw e instanceof CheckpointError ? e : this.fail(`cannot read: ${(e as Error).message}`);
    }
  }

  private fail(detail: string): CheckpointError {
    return new CheckpointError(this.path, detail);
  }

  /** A metadata value, or undefined. */
  get(key: string): unknown {
    return this.metadata[key]?.value;
  }

  /**
   * Read one tensor's bytes (a fresh 8-byte-aligned buffer).
   * @throws CheckpointError when absent, the file was closed or is shorter than its header says
   */
  readBytes(name: string): Uint8Array {
    const info = this.tensors.get(name);
    if (!info) throw this.fail(`tensor ${name} not found`);
    if (this.fd === null) throw this.fail('file was closed');
    const buf = new Uint8Array(new ArrayBuffer(Math.ceil(info.sizeBytes / 8) * 8), 0, info.sizeBytes);
    for (let done = 0; done < info.sizeBytes; ) {
      const n = fs.readSync(this.fd, buf, done, info.sizeBytes - done, info.start + done);
      if (n <= 0) throw this.fail(`tensor ${name}: unexpected end of file`);
      done += n;
    }
    return buf;
  }

  /** A tensor's bytes: a view of the mapping when a mapper was given (no copy), else {@link readBytes}. */
  view(name: string): Uint8Array {
    if (!this.map) return this.readBytes(name);
    const info = this.tensors.get(name);
    if (!info) throw this.fail(`tensor ${name} not found`);
    if (this.sizeBytes > MAP_WINDOW_MAX) {
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

  /** Close the descriptor (views of a mapping stay valid). Safe to call twice. */
  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * A GGUF model of one file or a split set, as one: metadata from the first part, tensors from every part.
 * @throws CheckpointError as GgufFile, or when a part's `split.no` / `split.count` contradict its name, or a
 *   tensor appears in two parts
 */
export class GgufModelFiles {
  readonly files: GgufFile[] = [];
  readonly tensors = new Map<string, GgufTensorInfo>();
  private readonly owner = new Map<string, GgufFile>();

  constructor(
    readonly paths: string[],
    map?: FileMapper,
  ) {
    try {
      for (const [i, p] of paths.entries()) {
        const f = new GgufFile(p, map);
        this.files.push(f);
        if (paths.length > 1) {
          const no = f.get('split.no');
          const count = f.get('split.count');
          if (count !== undefined && Number(count) !== paths.length) throw new CheckpointError(p, `split.count is ${count}, but the file name says ${paths.length} parts`);
          if (no !== undefined && Number(no) !== i) throw new CheckpointError(p, `split.no is ${no}, expected ${i} for part ${i + 1}`);
        }
        for (const [name, info] of f.tensors) {
          if (this.owner.has(name)) throw new CheckpointError(p, `tensor ${name} is also in ${this.owner.get(name)!.path}`);
          this.owner.set(name, f);
          this.tensors.set(name, info);
        }
      }
      const want = this.files[0]!.get('split.tensors.count');
      if (paths.length > 1 && want !== undefined && Number(want) !== this.tensors.size) {
        throw new CheckpointError(paths[0]!, `split.tensors.count is ${want}, but the ${paths.length} parts hold ${this.tensors.size} tensors`);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Metadata of the model (the first part's). */
  get metadata(): Record<string, GgufValue> {
    return this.files[0]!.metadata;
  }

  get(key: string): unknown {
    return this.files[0]!.get(key);
  }

  view(name: string): Uint8Array {
    const f = this.owner.get(name);
    if (!f) throw new CheckpointError(this.paths[0]!, `tensor ${name} not found`);
    return f.view(name);
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}
