/**
 * Paged KV cache of a full-attention layer: positions live in fixed-size pages of `pageSize` rows, found through the
 * sequence's page table (position p in row p mod pageSize of page ⌊p / pageSize⌋). A page is shared by reference
 * between running sequences and prefix-cache entries and counts its references; a page with more than one reference
 * is never written: a write into it (only ever the partially filled last page: a forked choice's first token, or
 * a verify step after a trim) copies it first. Keys are stored after RoPE, values after `attention_value_scale`, as
 * in kv-cache.ts. Source: vLLM's paged attention (block table per sequence, reference-counted blocks).
 */
import { ShapeError } from '../errors.js';
import { numberToBf16Bits } from '../tensor/dtype.js';
import { kvArray, type AttentionPast, type KvArray, type KvDtype, type LayerCache } from './kv-cache.js';

/** `pageSize` rows of one full-attention layer: keys `[pageSize, Hkv, Dqk]`, values `[pageSize, Hkv, Dv]`. */
export interface KvPage {
  readonly keys: KvArray;
  readonly values: KvArray;
  /** Holders of this page (page tables and prefix-cache entries); 0 once released by all. */
  refs: number;
  readonly pool: KvPagePool;
}

/** Counters of the pages of one layer (or summed over layers). */
export interface KvPageStats {
  /** Pages with at least one holder. */
  pages: number;
  /** Holders of those pages in all; refs − pages = page copies that sharing saved. */
  refs: number;
  /** Bytes of those pages (each counted once, however many hold it). */
  bytes: number;
  /** Copies made on a write into a shared page (copy-on-write of a partially filled last page). */
  copies: number;
}

/**
 * Allocates the pages of one full-attention layer and counts them. Pages are not recycled: a page with no holder is
 * left to the garbage collector, so a missed release can only leave a count high, never hand a page to two owners.
 */
export class KvPagePool {
  pages = 0;
  refs = 0;
  bytes = 0;
  copies = 0;

  /** A new zeroed page of `rows` rows with one holder. */
  allocate(rows: number, keyWidth: number, valueWidth: number, dtype: KvDtype): KvPage {
    return this.adopt(kvArray(dtype, rows * keyWidth), kvArray(dtype, rows * valueWidth));
  }

  /** Wrap existing rows (e.g. read from the disk tier) as a page with one holder. */
  adopt(keys: KvArray, values: KvArray): KvPage {
    this.pages++;
    this.refs++;
    this.bytes += keys.byteLength + values.byteLength;
    return { keys, values, refs: 1, pool: this };
  }

  /** One more holder of `p`. @throws ShapeError when p was already released by every holder */
  retain(p: KvPage): KvPage {
    if (p.refs <= 0) throw new ShapeError('kv page: retain of a released page');
    p.refs++;
    this.refs++;
    return p;
  }

  /** One holder fewer. @throws ShapeError when p has no holder left */
  release(p: KvPage): void {
    if (p.refs <= 0) throw new ShapeError('kv page: release of a page with no holder');
    p.refs--;
    this.refs--;
    if (p.refs === 0) {
      this.pages--;
      this.bytes -= p.keys.byteLength + p.values.byteLength;
    }
  }

  get stats(): KvPageStats {
    return { pages: this.pages, refs: this.refs, bytes: this.bytes, copies: this.copies };
  }
}

/** Sum of several pools' counters. */
export function sumPageStats(pools: Iterable<KvPagePool>): KvPageStats {
  const s: KvPageStats = { pages: 0, refs: 0, bytes: 0, copies: 0 };
  for (const p of pools) {
    s.pages += p.pages;
    s.refs += p.refs;
    s.bytes += p.bytes;
    s.copies += p.copies;
  }
  return s;
}

const EMPTY = new Float32Array(0);

/** Cached keys and values as attention reads them from a page table (see AttentionInput.pastPages). */
export interface PastPages {
  readonly keys: readonly KvArray[];
  readonly values: readonly KvArray[];
  readonly pageSize: number;
}

/** A full-attention layer's KV cache as a page table. Same contract as LayerKVCache (window null). */
export class PagedLayerKVCache {
  /** Number of positions appended so far (= the next position). */
  length = 0;
  /** A full layer holds every position. */
  readonly first = 0;
  readonly window = null;
  /** Page table: page i holds positions i·pageSize … (i+1)·pageSize − 1. */
  private pages: KvPage[] = [];
  /** The table as attention reads it, kept until the table changes (most decode steps write into the same page). */
  private past: PastPages | null = null;

  /** @throws ShapeError when pageSize is not a positive integer */
  constructor(
    readonly pool: KvPagePool,
    readonly numKvHeads: number,
    readonly headDim: number,
    readonly vHeadDim: number,
    readonly pageSize: number,
    readonly dtype: KvDtype = 'f32',
  ) {
    if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new ShapeError(`kv pages: page size must be a positive integer, got ${pageSize}`);
  }

  private get keyWidth(): number {
    return this.numKvHeads * this.headDim;
  }

  private get valueWidth(): number {
    return this.numKvHeads * this.vHeadDim;
  }

  /** Page i, made writable: allocated when new, copied first when another holder shares it. */
  private writablePage(i: number): KvPage {
    const p = this.pages[i];
    if (p === undefined) {
      const fresh = this.pool.allocate(this.pageSize, this.keyWidth, this.valueWidth, this.dtype);
      this.pages.push(fresh);
      this.past = null;
      return fresh;
    }
    if (p.refs === 1) return p;
    const copy = this.pool.adopt(p.keys.slice(), p.values.slice());
    this.pool.copies++;
    this.pool.release(p);
    this.pages[i] = copy;
    this.past = null;
    return copy;
  }

  /**
   * Write rows of T positions from `this.length` on: keys `[T, Hkv, Dqk]`, values `[T, Hkv, Dv]`, already in the
   * stored dtype (`stored`) or float32 to round (BF16 dtype, nearest-even).
   */
  private write(k: KvArray, v: KvArray, T: number, stored: boolean): void {
    const kr = this.keyWidth;
    const vr = this.valueWidth;
    const S = this.pageSize;
    const base = this.length;
    let t = 0;
    while (t < T) {
      const pos = base + t;
      const row = pos % S;
      const n = Math.min(T - t, S - row);
      const page = this.writablePage(Math.floor(pos / S));
      if (stored || this.dtype === 'f32') {
        page.keys.set(k.subarray(t * kr, (t + n) * kr), row * kr);
        page.values.set(v.subarray(t * vr, (t + n) * vr), row * vr);
      } else {
        for (let j = 0; j < n * kr; j++) page.keys[row * kr + j] = numberToBf16Bits(k[t * kr + j]!);
        for (let j = 0; j < n * vr; j++) page.values[row * vr + j] = numberToBf16Bits(v[t * vr + j]!);
      }
      t += n;
      this.length = pos + n;
    }
  }

  /**
   * Append T positions: k `[T, Hkv, Dqk]`, v `[T, Hkv, Dv]` float32 (rounded to BF16 when the dtype is bf16).
   * @throws ShapeError when k or v has the wrong size
   */
  append(k: Float32Array, v: Float32Array, T: number): void {
    if (k.length !== T * this.keyWidth || v.length !== T * this.valueWidth) throw new ShapeError(`kv-cache append: got k ${k.length}, v ${v.length} for ${T} positions of [${this.numKvHeads}, ${this.headDim}|${this.vHeadDim}]`);
    this.write(k, v, T, false);
  }

  /** Drop the newest n positions (rejected drafts); pages past the new end are released. */
  trim(n: number): void {
    if (n < 0 || n > this.length) throw new ShapeError(`kv-cache trim: cannot drop ${n} of ${this.length} positions`);
    this.length -= n;
    const keep = Math.ceil(this.length / this.pageSize);
    for (const p of this.pages.splice(keep)) this.pool.release(p);
    this.past = null;
  }

  /** @throws ShapeError always: a full-attention cache must hold every position */
  skipTo(_pos: number): void {
    throw new ShapeError('kv-cache skipTo: a full-attention cache must hold every position');
  }

  /**
   * Copy positions from … to−1: keys `[to−from, Hkv, Dqk]`, values `[to−from, Hkv, Dv]` in the stored dtype.
   * @throws ShapeError when a position is not held
   */
  copyRows(from: number, to: number): { keys: KvArray; values: KvArray } {
    if (from < 0 || to > this.length || from > to) throw new ShapeError(`kv-cache copyRows: positions ${from}…${to - 1} are not all held (held 0…${this.length - 1})`);
    const kr = this.keyWidth;
    const vr = this.valueWidth;
    const S = this.pageSize;
    const keys = kvArray(this.dtype, (to - from) * kr);
    const values = kvArray(this.dtype, (to - from) * vr);
    for (let q = from; q < to; ) {
      const row = q % S;
      const n = Math.min(to - q, S - row);
      const p = this.pages[Math.floor(q / S)]!;
      keys.set(p.keys.subarray(row * kr, (row + n) * kr), (q - from) * kr);
      values.set(p.values.subarray(row * vr, (row + n) * vr), (q - from) * vr);
      q += n;
    }
    return { keys, values };
  }

  /**
   * Make an empty layer hold positions 0 … n−1 copied from `parts` (`{ keys [n_i, Hkv, Dqk], values [n_i, Hkv, Dv] }`
   * in position order, the layer's dtype).
   * @throws ShapeError when the layer is not empty, from is not 0, or dtypes / sizes do not match
   */
  restore(from: number, parts: ReadonlyArray<{ keys: KvArray; values: KvArray }>): void {
    if (this.length !== 0) throw new ShapeError(`kv-cache restore: the layer already holds ${this.length} positions`);
    if (from !== 0) throw new ShapeError(`kv-cache restore: a full-attention layer must start at position 0, got ${from}`);
    for (const p of parts) this.appendStored(p);
  }

  /** Append rows already in the layer's dtype. @throws ShapeError on another dtype or a size that does not fit */
  private appendStored(p: { keys: KvArray; values: KvArray }): void {
    const kr = this.keyWidth;
    const vr = this.valueWidth;
    if ((p.keys instanceof Uint16Array) !== (this.dtype === 'bf16') || (p.values instanceof Uint16Array) !== (this.dtype === 'bf16')) throw new ShapeError(`kv-cache restore: rows of another dtype than the layer's ${this.dtype}`);
    if (p.keys.length % kr !== 0 || p.values.length !== (p.keys.length / kr) * vr) throw new ShapeError(`kv-cache restore: part of ${p.keys.length} keys / ${p.values.length} values does not fit [${this.numKvHeads}, ${this.headDim}|${this.vHeadDim}]`);
    this.write(p.keys, p.values, p.keys.length / kr, true);
  }

  /**
   * Make an empty layer hold `pages` by reference (positions 0 … pages.length·pageSize − 1, each page retained, none
   * copied), then `tail`'s rows copied after them (the partially filled last page). A prefix-cache hit.
   * @throws ShapeError when the layer is not empty or a page does not have this layer's shape or dtype
   */
  restorePages(pages: readonly KvPage[], tail: { keys: KvArray; values: KvArray }): void {
    if (this.length !== 0) throw new ShapeError(`kv-cache restore: the layer already holds ${this.length} positions`);
    for (const p of pages) {
      if (p.keys.length !== this.pageSize * this.keyWidth || p.values.length !== this.pageSize * this.valueWidth || (p.keys instanceof Uint16Array) !== (this.dtype === 'bf16')) throw new ShapeError(`kv-cache restore: a page of ${p.keys.length} keys is not a ${this.dtype} page of ${this.pageSize} rows of [${this.numKvHeads}, ${this.headDim}|${this.vHeadDim}]`);
    }
    for (const p of pages) this.pages.push(p.pool.retain(p));
    this.past = null;
    this.length = pages.length * this.pageSize;
    this.appendStored(tail);
  }

  /** Page i (whole: i < ⌊length / pageSize⌋), not retained; the caller retains what it keeps. */
  wholePage(i: number): KvPage {
    if (!Number.isInteger(i) || i < 0 || (i + 1) * this.pageSize > this.length) throw new ShapeError(`kv pages: page ${i} is not whole (the layer holds ${this.length} positions of pages of ${this.pageSize})`);
    return this.pages[i]!;
  }

  /**
   * Make this empty table hold `other`'s pages by reference (each retained, none copied): an `n > 1` choice taking
   * the prompt's KV.
   * @throws ShapeError when this table is not empty or the two differ in shape, page size or dtype
   */
  adopt(other: LayerCache): void {
    if (!(other instanceof PagedLayerKVCache)) throw new ShapeError('kv-cache adopt: a page table cannot take a ring\'s state');
    if (this.length !== 0) throw new ShapeError(`kv-cache adopt: the layer already holds ${this.length} positions`);
    if (other.numKvHeads !== this.numKvHeads || other.headDim !== this.headDim || other.vHeadDim !== this.vHeadDim || other.pageSize !== this.pageSize || other.dtype !== this.dtype) throw new ShapeError('kv-cache adopt: the layers differ in shape, page size or dtype');
    for (const p of other.pages) this.pages.push(p.pool.retain(p));
    this.past = null;
    this.length = other.length;
  }

  /** Let go of every page (the sequence ended); the layer is empty afterwards. */
  release(): void {
    for (const p of this.pages) this.pool.release(p);
    this.pages = [];
    this.past = null;
    this.length = 0;
  }

  /** The page table as attention reads it. */
  pastPages(): PastPages {
    this.past ??= { keys: this.pages.map((p) => p.keys), values: this.pages.map((p) => p.values), pageSize: this.pageSize };
    return this.past;
  }

  /** The cached rows as attention reads them (AttentionInput's past fields: the page table, no ring). */
  attentionPast(): AttentionPast {
    return { pastKeys: EMPTY, pastValues: EMPTY, pastRows: 0, pastFirst: 0, pastPages: this.pastPages() };
  }

  /** Pages in the table (shared ones included). */
  get pageCount(): number {
    return this.pages.length;
  }

  /** Bytes of the pages this table holds (a shared page counts in every table that holds it). */
  get sizeBytes(): number {
    let s = 0;
    for (const p of this.pages) s += p.keys.byteLength + p.values.byteLength;
    return s;
  }
}
