/**
 * KV cache of one attention layer and of a whole model. Sliding-window layers keep a ring buffer of
 * `window + extraSlots` positions, so their memory stops growing past the window (extra slots let speculative
 * decoding trim rejected drafts without losing keys that later queries still see). Full-attention layers of a model
 * cache are paged (kv-pages.ts: pages shared by reference with other sequences and the prefix cache); a standalone
 * `LayerKVCache` with window null keeps every position in one buffer grown by doubling. Keys are stored after RoPE,
 * values after `attention_value_scale`. Source: spec §3.7.
 */
import { ShapeError } from '../errors.js';
import { numberToBf16Bits } from '../tensor/dtype.js';
import type { PagedLayerKVCache, PastPages } from './kv-pages.js';

/** Storage dtype of cached keys and values: float32 (exact) or BF16 bits (half the bytes). */
export type KvDtype = 'f32' | 'bf16';
/** Keys or values as stored: float32, or BF16 bits in a Uint16Array. */
export type KvArray = Float32Array | Uint16Array;

/** A zeroed array of n elements of the dtype. */
export function kvArray(dtype: KvDtype, n: number): KvArray {
  return dtype === 'bf16' ? new Uint16Array(n) : new Float32Array(n);
}

export class LayerKVCache {
  /** Number of positions appended so far (= the next position). */
  length = 0;
  /** Oldest position whose keys/values are still held. */
  first = 0;
  /** Allocated rows; position p sits in row p mod rows. */
  rows = 0;
  /** `[rows, Hkv, Dqk]` and `[rows, Hkv, Dv]`, float32 or BF16 bits (`dtype`). */
  keys: KvArray;
  values: KvArray;

  /**
   * @param window visible keys per query (sliding window) or null for full attention
   * @param extraSlots ring rows beyond the window (≥ the most positions ever trimmed at once)
   */
  constructor(
    readonly numKvHeads: number,
    readonly headDim: number,
    readonly vHeadDim: number,
    readonly window: number | null,
    readonly extraSlots = 0,
    readonly dtype: KvDtype = 'f32',
  ) {
    this.keys = kvArray(dtype, 0);
    this.values = kvArray(dtype, 0);
  }

  /** Maximum rows a ring may hold, or Infinity for a full layer. */
  get maxRows(): number {
    return this.window === null ? Infinity : this.window + this.extraSlots;
  }

  /** Row of position p in keys/values. */
  slot(p: number): number {
    return this.rows === 0 ? 0 : p % this.rows;
  }

  private grow(needRows: number): void {
    if (needRows <= this.rows) return;
    const newRows = Math.min(this.maxRows, Math.max(needRows, this.rows * 2, 16));
    const kr = this.numKvHeads * this.headDim;
    const vr = this.numKvHeads * this.vHeadDim;
    const keys = kvArray(this.dtype, newRows * kr);
    const values = kvArray(this.dtype, newRows * vr);
    // Growth happens only before a ring wraps, so every stored position p sits at row p.
    keys.set(this.keys.subarray(0, this.length * kr));
    values.set(this.values.subarray(0, this.length * vr));
    this.keys = keys;
    this.values = values;
    this.rows = newRows;
  }

  /**
   * Append T positions: k `[T, Hkv, Dqk]`, v `[T, Hkv, Dv]` float32 (rounded to BF16, nearest-even, when the dtype
   * is bf16). A ring keeps only the newest `maxRows` of them.
   * @throws ShapeError when k or v has the wrong size
   */
  append(k: Float32Array, v: Float32Array, T: number): void {
    const kr = this.numKvHeads * this.headDim;
    const vr = this.numKvHeads * this.vHeadDim;
    if (k.length !== T * kr || v.length !== T * vr) throw new ShapeError(`kv-cache append: got k ${k.length}, v ${v.length} for ${T} positions of [${this.numKvHeads}, ${this.headDim}|${this.vHeadDim}]`);
    const end = this.length + T;
    if (this.rows < this.maxRows) this.grow(Math.min(end, this.maxRows));
    const from = Math.max(0, T - this.rows);
    for (let t = from; t < T; t++) {
      const s = this.slot(this.length + t);
      if (this.dtype === 'f32') {
        this.keys.set(k.subarray(t * kr, (t + 1) * kr), s * kr);
        this.values.set(v.subarray(t * vr, (t + 1) * vr), s * vr);
      } else {
        for (let j = 0; j < kr; j++) this.keys[s * kr + j] = numberToBf16Bits(k[t * kr + j]!);
        for (let j = 0; j < vr; j++) this.values[s * vr + j] = numberToBf16Bits(v[t * vr + j]!);
      }
    }
    this.length = end;
    this.first = Math.max(this.first, end - this.rows);
  }

  /**
   * Drop the newest n positions (rejected drafts). On a ring the dropped rows' older contents are gone, so
   * `first` stays where it was: at most `extraSlots` positions can be trimmed without losing visible keys.
   */
  trim(n: number): void {
    if (n < 0 || n > this.length) throw new ShapeError(`kv-cache trim: cannot drop ${n} of ${this.length} positions`);
    this.length -= n;
    if (this.first > this.length) this.first = this.length;
  }

  /**
   * Advance to position `pos` without storing positions length … pos−1 (they will never be attended to, e.g. MTP
   * rows older than the window). Only for sliding-window caches.
   * @throws ShapeError on a full-attention cache or when pos < length
   */
  skipTo(pos: number): void {
    if (this.window === null) throw new ShapeError('kv-cache skipTo: a full-attention cache must hold every position');
    if (pos < this.length) throw new ShapeError(`kv-cache skipTo: position ${pos} is behind the cache length ${this.length}`);
    if (this.rows < this.maxRows) this.grow(this.maxRows);
    this.length = pos;
    this.first = pos;
  }

  /**
   * Copy positions from … to−1 out of this layer: keys `[to−from, Hkv, Dqk]` and values `[to−from, Hkv, Dv]` float32
   * (a prefix-cache page or snapshot). Source: the ring layout above (position q sits in row q mod rows).
   * @throws ShapeError when a position is not held (older than `first` or not yet appended)
   */
  copyRows(from: number, to: number): { keys: KvArray; values: KvArray } {
    if (from < this.first || to > this.length || from > to) throw new ShapeError(`kv-cache copyRows: positions ${from}…${to - 1} are not all held (held ${this.first}…${this.length - 1})`);
    const kr = this.numKvHeads * this.headDim;
    const vr = this.numKvHeads * this.vHeadDim;
    const keys = kvArray(this.dtype, (to - from) * kr);
    const values = kvArray(this.dtype, (to - from) * vr);
    for (let q = from; q < to; q++) {
      const s = this.slot(q);
      keys.set(this.keys.subarray(s * kr, (s + 1) * kr), (q - from) * kr);
      values.set(this.values.subarray(s * vr, (s + 1) * vr), (q - from) * vr);
    }
    return { keys, values };
  }

  /**
   * Make an empty layer hold positions from … from+n−1 (n = rows of the parts) and nothing older: a prefix-cache hit.
   * A full layer must start at 0; a ring keeps at most `maxRows` of them. Each part is `{ keys [n_i, Hkv, Dqk],
   * values [n_i, Hkv, Dv] }`, in position order.
   * @throws ShapeError when the layer is not empty, a full layer does not start at 0, or sizes do not match
   */
  restore(from: number, parts: ReadonlyArray<{ keys: KvArray; values: KvArray }>): void {
    if (this.length !== 0) throw new ShapeError(`kv-cache restore: the layer already holds ${this.length} positions`);
    if (this.window === null && from !== 0) throw new ShapeError(`kv-cache restore: a full-attention layer must start at position 0, got ${from}`);
    const kr = this.numKvHeads * this.headDim;
    const vr = this.numKvHeads * this.vHeadDim;
    let n = 0;
    for (const p of parts) {
      if ((p.keys instanceof Uint16Array) !== (this.dtype === 'bf16') || (p.values instanceof Uint16Array) !== (this.dtype === 'bf16')) throw new ShapeError(`kv-cache restore: rows of another dtype than the layer's ${this.dtype}`);
      if (p.keys.length % kr !== 0 || p.values.length !== (p.keys.length / kr) * vr) throw new ShapeError(`kv-cache restore: part of ${p.keys.length} keys / ${p.values.length} values does not fit [${this.numKvHeads}, ${this.headDim}|${this.vHeadDim}]`);
      n += p.keys.length / kr;
    }
    const end = from + n;
    const rows = this.window === null ? Math.max(16, end) : this.maxRows;
    if (this.window !== null && n > rows) throw new ShapeError(`kv-cache restore: ${n} positions do not fit a ring of ${rows} rows`);
    this.keys = kvArray(this.dtype, rows * kr);
    this.values = kvArray(this.dtype, rows * vr);
    this.rows = rows;
    let q = from;
    for (const p of parts) {
      const m = p.keys.length / kr;
      for (let t = 0; t < m; t++, q++) {
        const s = q % rows;
        this.keys.set(p.keys.subarray(t * kr, (t + 1) * kr), s * kr);
        this.values.set(p.values.subarray(t * vr, (t + 1) * vr), s * vr);
      }
    }
    this.length = end;
    this.first = from;
  }

  /**
   * Make this empty layer hold a copy of `other`'s state (its own buffers): an `n > 1` choice taking the prompt's ring.
   * @throws ShapeError when this layer is not empty or the two differ in shape, window, ring size or dtype
   */
  adopt(other: LayerCache): void {
    if (!(other instanceof LayerKVCache)) throw new ShapeError('kv-cache adopt: a ring cannot take a page table\'s state');
    if (this.length !== 0) throw new ShapeError(`kv-cache adopt: the layer already holds ${this.length} positions`);
    if (other.numKvHeads !== this.numKvHeads || other.headDim !== this.headDim || other.vHeadDim !== this.vHeadDim || other.window !== this.window || other.maxRows !== this.maxRows || other.dtype !== this.dtype) throw new ShapeError('kv-cache adopt: the layers differ in shape, window, ring size or dtype');
    this.keys = other.keys.slice();
    this.values = other.values.slice();
    this.rows = other.rows;
    this.length = other.length;
    this.first = other.first;
  }

  /** Nothing to let go of (the buffers are this layer's own); the same call as on a paged layer. */
  release(): void {}

  /** The cached rows as attention reads them (AttentionInput's past fields). */
  attentionPast(): AttentionPast {
    return { pastKeys: this.keys, pastValues: this.values, pastRows: this.rows, pastFirst: this.first, pastPages: null };
  }

  /** Bytes held by this layer's buffers. */
  get sizeBytes(): number {
    return this.keys.byteLength + this.values.byteLength;
  }
}

/** The past fields of an AttentionInput (kernels/backend.ts). */
export interface AttentionPast {
  pastKeys: KvArray;
  pastValues: KvArray;
  pastRows: number;
  pastFirst: number;
  pastPages: PastPages | null;
}

/** A trunk layer's cache: a ring (sliding window) or a page table (full attention). */
export type LayerCache = LayerKVCache | PagedLayerKVCache;

/** One cache per trunk layer and per MTP layer of a sequence. */
export class ModelKVCache {
  constructor(
    readonly layers: LayerCache[],
    readonly mtp: LayerKVCache[],
  ) {}

  /**
   * Make this empty cache hold `other`'s state (an `n > 1` choice taking the prompt's KV): full-attention pages shared
   * by reference (the first write into the partially filled last page copies it), rings and MTP layers copied.
   * @throws ShapeError when this cache is not empty or the two caches differ in layout
   */
  adopt(other: ModelKVCache): void {
    if (other.layers.length !== this.layers.length || other.mtp.length !== this.mtp.length) throw new ShapeError(`kv-cache adopt: ${other.layers.length}+${other.mtp.length} layers into ${this.layers.length}+${this.mtp.length}`);
    this.layers.forEach((l, i) => l.adopt(other.layers[i]!));
    this.mtp.forEach((l, i) => l.adopt(other.mtp[i]!));
  }

  /** Let go of every shared page (the sequence ended); the cache is empty afterwards. */
  release(): void {
    for (const l of this.layers) l.release();
  }

  /** Positions held by the trunk (= next position to compute). */
  get length(): number {
    return this.layers[0]?.length ?? 0;
  }

  trim(n: number): void {
    for (const l of this.layers) l.trim(n);
  }

  get sizeBytes(): number {
    let s = 0;
    for (const l of this.layers) s += l.sizeBytes;
    for (const l of this.mtp) s += l.sizeBytes;
    return s;
  }
}
