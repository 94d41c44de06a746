/**
 * Disk tier of the prefix cache (`--cache-dir DIR`, bounded by `--cache-disk BYTES`): entries evicted from RAM, and
 * every entry at shutdown, are written as one self-contained file each, and read back on a hit, so a restarted
 * server resumes a long session without prefilling it again.
 *
 * File layout (little-endian): magic `MIMOPC\0\1` (8 bytes); u32 header length; header JSON (format version, model
 * fingerprint, KV dtype, salt, token ids, row counts); payload float32 rows: every full-attention layer's keys then
 * values for positions 0 … p−1, every sliding-window layer's keys then values of its last rows, the hidden rows;
 * SHA-256 of everything before it (32 bytes). Files are written to a temporary name and renamed (atomic on POSIX).
 * A file that is truncated, corrupt, from another model, format version or KV dtype is ignored with one warning
 * (never used); a full or read-only directory gives one warning and serving goes on from RAM.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DiskStore, KvRows, StoredEntry } from './prefix-cache.js';

const MAGIC = Buffer.from('MIMOPC\u0000\u0001', 'latin1');
const VERSION = 1;
const SUFFIX = '.mpc';

interface Header {
  version: number;
  fingerprint: string;
  kvDtype: string;
  salt: string;
  tokens: number[];
  /** Floats of each array of the payload, in order: full layers (keys, values)…, SWA layers (keys, values)…, hidden. */
  sizes: number[];
  fullLayers: number;
  swaLayers: number;
}

interface IndexEntry {
  file: string;
  salt: string;
  tokens: number[];
  sizeBytes: number;
  lastUsed: number;
}

/** Counters of the disk tier (for /metrics). */
export interface DiskTierStats {
  bytes: number;
  entries: number;
  reads: number;
  writes: number;
  /** Files ignored (truncated, corrupt, another model, version or dtype). */
  ignored: number;
}

export class DiskTier implements DiskStore {
  private readonly index = new Map<string, IndexEntry>();
  private bytes = 0;
  private reads = 0;
  private writes = 0;
  private ignored = 0;
  private clock = 0;
  /** Write failures already warned about, by error code. */
  private readonly warnedWrite = new Set<string>();

  /**
   * Index the files already in `dir` (creating it when missing); bad files are ignored with a warning each.
   * @param maxBytes most bytes of files kept (least recently used deleted first)
   * @param fingerprint the model's identity (config and tensor headers), see {@link modelFingerprint}
   * @param kvDtype dtype of the stored K/V rows ('f32')
   */
  constructor(
    readonly dir: string,
    readonly maxBytes: number,
    readonly fingerprint: string,
    readonly kvDtype: string,
    private readonly warn: (message: string) => void,
  ) {
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      this.warnWrite(e, `cannot create --cache-dir ${dir}`);
    }
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir).filter((n) => n.endsWith(SUFFIX));
    } catch (e) {
      this.warn(`prefix cache: cannot read --cache-dir ${dir} (${(e as Error).message}); the disk tier starts empty`);
    }
    for (const name of names.sort()) {
      const file = path.join(dir, name);
      const h = this.readHeader(file);
      if (!h) continue;
      this.index.set(name, { file, salt: h.header.salt, tokens: h.header.tokens, sizeBytes: h.sizeBytes, lastUsed: this.clock++ });
      this.bytes += h.sizeBytes;
    }
  }

  get stats(): DiskTierStats {
    return { bytes: this.bytes, entries: this.index.size, reads: this.reads, writes: this.writes, ignored: this.ignored };
  }

  private ignore(file: string, why: string): null {
    this.ignored++;
    this.warn(`prefix cache: ignoring ${file}: ${why}`);
    return null;
  }

  private warnWrite(e: unknown, what: string): void {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    if (this.warnedWrite.has(code)) return;
    this.warnedWrite.add(code);
    const hint = code === 'ENOSPC' ? 'the disk is full' : code === 'EACCES' || code === 'EROFS' || code === 'EPERM' ? 'the directory is not writable' : (e as Error).message;
    this.warn(`prefix cache: ${what} (${hint}); serving goes on from RAM`);
  }

  /** The header of a file, checked against this model, version and dtype, and the file's size. */
  private readHeader(file: string): { header: Header; headerEnd: number; sizeBytes: number } | null {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      return this.ignore(file, (e as Error).message);
    }
    try {
      const size = fs.fstatSync(fd).size;
      const head = Buffer.alloc(12);
      if (size < 12 + 32 || fs.readSync(fd, head, 0, 12, 0) !== 12) return this.ignore(file, 'truncated (no header)');
      if (!head.subarray(0, 8).equals(MAGIC)) return this.ignore(file, 'not a mimo.ts prefix-cache file (bad magic)');
      const n = head.readUInt32LE(8);
      if (12 + n + 32 > size) return this.ignore(file, 'truncated (header longer than the file)');
      const json = Buffer.alloc(n);
      fs.readSync(fd, json, 0, n, 12);
      let header: Header;
      try {
        header = JSON.parse(json.toString('utf8')) as Header;
      } catch {
        return this.ignore(file, 'corrupt header');
      }
      if (header.version !== VERSION) return this.ignore(file, `format version ${header.version}, this mimo.ts writes ${VERSION}`);
      if (header.fingerprint !== this.fingerprint) return this.ignore(file, 'written for another model (fingerprint differs)');
      if (header.kvDtype !== this.kvDtype) return this.ignore(file, `KV dtype ${header.kvDtype}, this server uses ${this.kvDtype}`);
      if (!Array.isArray(header.tokens) || !Array.isArray(header.sizes) || typeof header.salt !== 'string') return this.ignore(file, 'corrupt header');
      const payload = this.payloadBytes(header.sizes);
      if (size !== 12 + n + payload + 32) return this.ignore(file, `truncated or padded (${size} bytes, expected ${12 + n + payload + 32})`);
      return { header, headerEnd: 12 + n, sizeBytes: size };
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Bytes of the payload arrays: K/V arrays of the KV dtype, then the float32 hidden rows (the last array). */
  private payloadBytes(sizes: readonly number[]): number {
    const kv = this.kvDtype === 'bf16' ? 2 : 4;
    return sizes.reduce((a, n, i) => a + n * (i === sizes.length - 1 ? 4 : kv), 0);
  }

  private nameOf(salt: string, tokens: readonly number[]): string {
    const h = createHash('sha256').update(this.fingerprint).update('\u0000').update(salt).update('\u0000').update(Int32Array.from(tokens)).digest('hex');
    return h.slice(0, 40) + SUFFIX;
  }

  write(e: StoredEntry): boolean {
    const name = this.nameOf(e.salt, e.tokens);
    const known = this.index.get(name);
    if (known) {
      known.lastUsed = this.clock++;
      return true;
    }
    const arrays: Array<Float32Array | Uint16Array> = [...e.full.flatMap((r) => [r.keys, r.values]), ...e.swa.flatMap((r) => [r.keys, r.values]), e.hidden];
    const header: Header = { version: VERSION, fingerprint: this.fingerprint, kvDtype: this.kvDtype, salt: e.salt, tokens: e.tokens, sizes: arrays.map((a) => a.length), fullLayers: e.full.length, swaLayers: e.swa.length };
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length);
    const parts: Buffer[] = [MAGIC, len, json, ...arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))];
    const hash = createHash('sha256');
    for (const p of parts) hash.update(p);
    parts.push(hash.digest());
    const size = parts.reduce((n, p) => n + p.length, 0);
    if (size > this.maxBytes) {
      this.warnWrite({ code: 'EFBIG', message: `an entry of ${size} bytes exceeds --cache-disk ${this.maxBytes}` }, 'an entry does not fit the disk budget');
      return false;
    }
    this.makeRoom(size);
    const file = path.join(this.dir, name);
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const fd = fs.openSync(tmp, 'w');
      try {
        for (const p of parts) fs.writeSync(fd, p);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, file);
    } catch (err) {
      try {
        fs.rmSync(tmp, { force: true });
      } catch {
        // nothing to clean up
      }
      this.warnWrite(err, `cannot write to --cache-dir ${this.dir}`);
      return false;
    }
    this.index.set(name, { file, salt: e.salt, tokens: e.tokens, sizeBytes: size, lastUsed: this.clock++ });
    this.bytes += size;
    this.writes++;
    return true;
  }

  /** Delete least recently used files until `size` more bytes fit the budget. */
  private makeRoom(size: number): void {
    const byAge = [...this.index.entries()].sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [name, ent] of byAge) {
      if (this.bytes + size <= this.maxBytes) return;
      try {
        fs.rmSync(ent.file, { force: true });
      } catch (e) {
        this.warnWrite(e, `cannot delete ${ent.file}`);
      }
      this.index.delete(name);
      this.bytes -= ent.sizeBytes;
    }
  }

  peek(salt: string, ids: readonly number[], maxP: number): number {
    let best = 0;
    for (const e of this.index.values()) if (e.salt === salt && e.tokens.length <= maxP && e.tokens.length > best && e.tokens.every((t, i) => ids[i] === t)) best = e.tokens.length;
    return best;
  }

  find(salt: string, ids: readonly number[], minP: number, maxP: number): StoredEntry | null {
    const candidates = [...this.index.entries()]
      .filter(([, e]) => e.salt === salt && e.tokens.length > minP && e.tokens.length <= maxP && e.tokens.every((t, i) => ids[i] === t))
      .sort((a, b) => b[1].tokens.length - a[1].tokens.length);
    for (const [name, ent] of candidates) {
      const got = this.read(ent.file);
      if (got) {
        ent.lastUsed = this.clock++;
        this.reads++;
        return got;
      }
      this.index.delete(name);
      this.bytes -= ent.sizeBytes;
    }
    return null;
  }

  /** Read and check a whole file. */
  private read(file: string): StoredEntry | null {
    const h = this.readHeader(file);
    if (!h) return null;
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file);
    } catch (e) {
      return this.ignore(file, (e as Error).message);
    }
    if (buf.length !== h.sizeBytes) return this.ignore(file, 'changed while reading');
    const body = buf.subarray(0, buf.length - 32);
    if (!createHash('sha256').update(body).digest().equals(buf.subarray(buf.length - 32))) return this.ignore(file, 'checksum mismatch (corrupt)');
    const { header } = h;
    let off = h.headerEnd;
    const take = (n: number, i: number): Float32Array | Uint16Array => {
      const a = i === header.sizes.length - 1 || this.kvDtype === 'f32' ? new Float32Array(n) : new Uint16Array(n);
      new Uint8Array(a.buffer).set(buf.subarray(off, off + a.byteLength));
      off += a.byteLength;
      return a;
    };
    const arrays = header.sizes.map(take);
    if (!(arrays[arrays.length - 1] instanceof Float32Array)) return this.ignore(file, 'corrupt header (no hidden rows)');
    const pairs = (from: number, count: number): KvRows[] => Array.from({ length: count }, (_, i) => ({ keys: arrays[from + 2 * i]!, values: arrays[from + 2 * i + 1]! }));
    if (arrays.length !== 2 * header.fullLayers + 2 * header.swaLayers + 1) return this.ignore(file, 'corrupt header (array count)');
    return { salt: header.salt, tokens: header.tokens, full: pairs(0, header.fullLayers), swa: pairs(2 * header.fullLayers, header.swaLayers), hidden: arrays[arrays.length - 1] as Float32Array };
  }
}

/**
 * Identity of a checkpoint for the disk tier: SHA-256 of config.json and of every safetensors file's name and
 * header (tensor names, dtypes, shapes, offsets); other weight files by name, size and first MiB.
 * @throws nothing: unreadable files are hashed by name only
 */
export function modelFingerprint(dir: string): string {
  const h = createHash('sha256').update('mimo.ts prefix cache v1\u0000');
  const read = (file: string, from: number, n: number): Buffer => {
    const fd = fs.openSync(file, 'r');
    try {
      const b = Buffer.alloc(n);
      const got = fs.readSync(fd, b, 0, n, from);
      return b.subarray(0, got);
    } finally {
      fs.closeSync(fd);
    }
  };
  try {
    h.update(fs.readFileSync(path.join(dir, 'config.json')));
  } catch {
    h.update('no config.json');
  }
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    // hashed as an empty directory
  }
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      if (name.endsWith('.safetensors')) {
        const n = Number(read(file, 0, 8).readBigUInt64LE(0));
        h.update(name).update(read(file, 8, Math.min(n, 64 * 2 ** 20)));
      } else if (name.endsWith('.gguf') || name.endsWith('.bin')) {
        h.update(name).update(String(fs.statSync(file).size)).update(read(file, 0, 2 ** 20));
      }
    } catch {
      h.update(name);
    }
  }
  return h.digest('hex');
}
