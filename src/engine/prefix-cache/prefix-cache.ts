/**
 * SWA-aware prefix cache shared by every request of an engine or server: the longest cached prefix of a new
 * prompt's token ids is restored into the sequence's KV cache and only the rest is prefilled.
 *
 * - Full-attention layers: K/V in fixed-size pages of `pageSize` positions, indexed by token-id prefix as a radix
 *   tree of pages (a page's key is its parent page plus its `pageSize` token ids, compared exactly, never hashed).
 * - Sliding-window layers hold only their last W positions, so a hit at position p needs their state exactly at p:
 *   a *snapshot* at p holds the last min(p, W − 1) rows of every sliding-window layer, the full-attention rows after the
 *   last whole page, and the last trunk hidden rows (after `model.norm`) that the MTP proposer reads to rebuild its
 *   layers' rows (the proposer recomputes every MTP row from those hidden rows after each prefill, so they are all
 *   the MTP state a restore needs).
 * - A hit uses the largest p (below the prompt's length, so at least its last token is computed for the logits)
 *   that has both pages and a snapshot. Entries are shared only between requests with the same salt.
 * - Pages are shared by reference with running sequences (kv-pages.ts): a hit puts the entry's pages into the
 *   sequence's page table (nothing copied but the rows after the last whole page), and a snapshot of a running
 *   sequence takes its whole pages as they are. Every holder counts in the page's references.
 * - Budget: bytes of pages + snapshots ≤ `ramBytes`; the least recently used snapshot goes first, and with it
 *   every page no other snapshot reaches — but never a snapshot whose freed pages a running sequence still holds
 *   (they stay pinned until it ends; then the budget is enforced again). A running sequence keeps its own
 *   references, so an eviction never frees memory it reads.
 * Positions run through the trunk are bitwise the same whether they were restored or computed (the kernels are
 * row-invariant and attention is the same per row whatever the chunking), so output equals a fresh prefill.
 */
import type { MiMoModel } from '../../model/mimo-v2/model.js';
import type { KvArray, ModelKVCache } from '../kv-cache.js';
import { PagedLayerKVCache, type KvPage } from '../kv-pages.js';

/** K/V rows `[n, Hkv, Dqk]` / `[n, Hkv, Dv]` float32 of one layer. */
export interface KvRows {
  keys: KvArray;
  values: KvArray;
}

/** `pageSize` positions of every full-attention layer, a node of the radix tree. */
export interface Page {
  readonly parent: Page | null;
  /** Token ids of this page's positions (empty for a salt's root). */
  readonly tokens: readonly number[];
  /** Index of the page: it holds positions depth·pageSize … (depth+1)·pageSize − 1 (root: −1). */
  readonly depth: number;
  /** Per full-attention layer (trunk order), the page's rows (held: one reference each). Empty for a root. */
  readonly kv: KvPage[];
  readonly children: Map<string, Page>;
  /** Snapshots whose last whole page is this one, by their tail's token ids. */
  readonly snapshots: Map<string, Snapshot>;
  readonly salt: string;
  readonly sizeBytes: number;
}

/** Sliding-window state (and the partial page) at position p. */
export interface Snapshot {
  readonly page: Page;
  /** Token ids after the last whole page (fewer than pageSize). */
  readonly tail: readonly number[];
  /** Position of the snapshot: tokens 0 … p−1 are in it. */
  readonly p: number;
  /** Per full-attention layer, rows of the tail positions. */
  readonly tailKv: KvRows[];
  /** Per sliding-window layer (trunk order), rows of positions p − n … p−1, n = min(p, W − 1). */
  readonly swa: KvRows[];
  /** Trunk hidden rows `[m, D]` of positions p − m … p−1 after `model.norm`. */
  readonly hidden: Float32Array;
  readonly sizeBytes: number;
}

/** Where a new snapshot's rows come from (a sequence's KV cache, or a file of the disk tier). */
export interface EntrySource {
  /** Full-attention layer f's rows of positions from … to−1. */
  fullRows(f: number, from: number, to: number): KvRows;
  /** Full-attention layer f's page b by reference (not yet retained), or null when the rows must be copied. */
  fullPage?(f: number, b: number): KvPage | null;
  /** Per sliding-window layer, rows of positions p − min(p, W − 1) … p−1. */
  swa(): KvRows[];
  /** Trunk hidden rows `[min(p, hiddenRows), D]` of the last positions. */
  hidden: Float32Array;
}

/** A self-contained entry: every full-attention row of positions 0 … p−1, as the disk tier stores it. */
export interface StoredEntry {
  salt: string;
  tokens: number[];
  /** Per full-attention layer, rows 0 … p−1. */
  full: KvRows[];
  swa: KvRows[];
  hidden: Float32Array;
}

/** The disk tier as the RAM cache uses it (see disk-tier.ts). */
export interface DiskStore {
  /** Write an entry (atomically); false when it could not be written (a warning was given). */
  write(e: StoredEntry): boolean;
  /** The longest stored prefix of ids with this salt, of at most maxP and more than minP tokens, read and checked. */
  find(salt: string, ids: readonly number[], minP: number, maxP: number): StoredEntry | null;
  /** Length of the longest stored prefix of ids with this salt of at most maxP tokens (0: none); reads no file. */
  peek(salt: string, ids: readonly number[], maxP: number): number;
  readonly stats: { bytes: number; entries: number; reads: number; writes: number; ignored: number };
}

export interface PrefixCacheOptions {
  /** Most bytes of pages + snapshots held in RAM (least recently used evicted first). */
  ramBytes: number;
  /** Positions per page (default 64). */
  pageSize?: number;
  /** A snapshot every this many tokens inside long prompts and generations (default 512; 0 = none). */
  checkpointEvery?: number;
  /**
   * Token ids that open the generation prompt (`<|im_start|>assistant`): a snapshot is taken just before their last
   * occurrence in a prompt. Null without a tokenizer.
   */
  generationMarker?: readonly number[] | null;
}

/** Counters of a prefix cache (for /metrics and tests). */
export interface PrefixCacheStats {
  /** Entries read back from the disk tier into RAM. */
  diskHits: number;
  diskBytes: number;
  diskEntries: number;
  diskReads: number;
  diskWrites: number;
  hitTokens: number;
  missTokens: number;
  ramBytes: number;
  pages: number;
  entries: number;
  evictions: number;
  /** Times eviction stopped over budget because the candidates' pages were held by running sequences. */
  pinnedOverBudget: number;
  pageBytes: number;
  snapshotBytes: number;
}

/** A restored prefix: the number of positions reused. */
export interface Restored {
  p: number;
  /** Trunk hidden rows by position (for the MTP proposer). */
  hidden: Map<number, Float32Array>;
}

const key = (ids: readonly number[]): string => ids.join(',');

export class PrefixCache {
  readonly ramBytes: number;
  readonly pageSize: number;
  readonly checkpointEvery: number;
  readonly generationMarker: readonly number[] | null;
  private readonly roots = new Map<string, Page>();
  /** Snapshots in least-recently-used order (oldest first). */
  private readonly lru = new Set<Snapshot>();
  private bytes = 0;
  private pageCount = 0;
  private pageBytes = 0;
  private snapshotBytes = 0;
  private hitTokens = 0;
  private missTokens = 0;
  private evictions = 0;
  /** Times eviction stopped over budget because every candidate's pages were held by running sequences. */
  private pinnedOverBudget = 0;
  private readonly fullLayers: number[];
  /** The disk tier, when `--cache-dir` is given. */
  disk: DiskStore | null = null;
  private diskHits = 0;
  private readonly swaLayers: number[];
  /** Hidden rows a snapshot keeps: W + MTP layers + 2 (what the proposer may read after a restore). */
  readonly hiddenRows: number;

  /**
   * @throws RangeError when ramBytes is negative or pageSize / checkpointEvery are not positive integers
   */
  constructor(
    readonly model: MiMoModel,
    opts: PrefixCacheOptions,
  ) {
    this.ramBytes = opts.ramBytes;
    this.pageSize = opts.pageSize ?? 64;
    this.checkpointEvery = opts.checkpointEvery ?? 512;
    this.generationMarker = opts.generationMarker?.length ? opts.generationMarker : null;
    if (!(this.ramBytes >= 0)) throw new RangeError(`--cache-ram must be ≥ 0 bytes, got ${opts.ramBytes}`);
    if (!Number.isSafeInteger(this.pageSize) || this.pageSize < 1) throw new RangeError(`prefix cache page size must be a positive integer, got ${opts.pageSize}`);
    if (!Number.isSafeInteger(this.checkpointEvery) || this.checkpointEvery < 0) throw new RangeError(`--cache-checkpoint-every must be an integer ≥ 0, got ${opts.checkpointEvery}`);
    const layers = model.config.layers;
    this.fullLayers = layers.flatMap((l, i) => (l.attention.window === null ? [i] : []));
    this.swaLayers = layers.flatMap((l, i) => (l.attention.window !== null ? [i] : []));
    this.hiddenRows = model.config.slidingWindow + model.numMtpLayers + 2;
    // Sequences' pages and this cache's pages are then the same size, so they are shared instead of copied.
    model.kvPageSize = this.pageSize;
  }

  /** True when every full-attention layer of `cache` is a page table of this cache's page size. */
  private sharesPages(cache: ModelKVCache): boolean {
    return this.fullLayers.every((li) => {
      const l = cache.layers[li]!;
      return l instanceof PagedLayerKVCache && l.pageSize === this.pageSize && l.dtype === this.model.kvDtype;
    });
  }

  /**
   * Positions inside a prompt of `ids` where a snapshot is taken (ascending, each in 1 … ids.length): just before
   * the last generation marker, every `checkpointEvery` tokens, and the end of the prompt.
   */
  snapshotPositions(ids: readonly number[]): number[] {
    const out = new Set<number>();
    const m = this.generationMarker;
    if (m) {
      for (let i = ids.length - m.length; i > 0; i--) {
        let ok = true;
        for (let j = 0; j < m.length && ok; j++) ok = ids[i + j] === m[j];
        if (ok) {
          out.add(i);
          break;
        }
      }
    }
    const N = this.checkpointEvery;
    if (N > 0) for (let p = N; p < ids.length; p += N) out.add(p);
    out.add(ids.length);
    return [...out].sort((a, b) => a - b);
  }

  private root(salt: string): Page {
    let r = this.roots.get(salt);
    if (!r) {
      r = { parent: null, tokens: [], depth: -1, kv: [], children: new Map(), snapshots: new Map(), salt, sizeBytes: 0 };
      this.roots.set(salt, r);
    }
    return r;
  }

  /**
   * The longest cached prefix of `ids` shorter than `maxP + 1` positions with the same salt, restored into an
   * empty `cache` (full layers: the pages by reference when `cache` is a page table of this page size, else copied,
   * then the snapshot's tail copied; sliding-window layers copied from the snapshot).
   * Counts hit and miss tokens against `ids.length`. With a disk tier, a longer prefix stored on disk is read back
   * into RAM first (`fromDisk` marks that second look).
   * @returns what was restored, or null on a miss (the cache is left empty)
   */
  restore(salt: string, ids: readonly number[], maxP: number, cache: ModelKVCache, fromDisk = false): Restored | null {
    const { best, path } = this.lookup(salt, ids, maxP);
    if (this.disk && !fromDisk) {
      const e = this.disk.find(salt, ids, best?.p ?? 0, maxP);
      if (e && this.insertEntry(e)) {
        this.diskHits++;
        return this.restore(salt, ids, maxP, cache, true);
      }
    }
    if (!best) {
      this.missTokens += ids.length;
      return null;
    }
    const snap = best;
    const pages = path.slice(0, snap.page.depth + 1);
    if (this.sharesPages(cache)) this.fullLayers.forEach((li, f) => (cache.layers[li] as PagedLayerKVCache).restorePages(pages.map((pg) => pg.kv[f]!), snap.tailKv[f]!));
    else this.fullLayers.forEach((li, f) => cache.layers[li]!.restore(0, [...pages.map((pg) => pg.kv[f]!), snap.tailKv[f]!]));
    const W = this.model.config.slidingWindow;
    this.swaLayers.forEach((li, s) => cache.layers[li]!.restore(snap.p - Math.min(snap.p, W - 1), [snap.swa[s]!]));
    const D = this.model.config.hiddenSize;
    const m = snap.hidden.length / D;
    const hidden = new Map<number, Float32Array>();
    for (let i = 0; i < m; i++) hidden.set(snap.p - m + i, snap.hidden.slice(i * D, (i + 1) * D));
    this.touch(snap);
    this.hitTokens += snap.p;
    this.missTokens += ids.length - snap.p;
    return { p: snap.p, hidden };
  }

  /**
   * Positions a request for `ids` would reuse now (RAM or disk), without restoring or counting anything: the
   * Anthropic `message_start` usage, sent before the request runs.
   */
  peek(salt: string, ids: readonly number[], maxP: number): number {
    const ram = this.lookup(salt, ids, maxP).best?.p ?? 0;
    return Math.max(ram, this.disk?.peek(salt, ids, maxP) ?? 0);
  }

  /** The largest snapshot in RAM usable for ids (p ≤ maxP) and the pages on the way. */
  private lookup(salt: string, ids: readonly number[], maxP: number): { best: Snapshot | null; path: Page[] } {
    const S = this.pageSize;
    let node = this.root(salt);
    const path: Page[] = [];
    let best: Snapshot | null = null;
    for (;;) {
      const base = (node.depth + 1) * S;
      for (const s of node.snapshots.values()) {
        if (s.p > maxP || (best && s.p <= best.p)) continue;
        let ok = true;
        for (let j = 0; j < s.tail.length && ok; j++) ok = ids[base + j] === s.tail[j];
        if (ok) best = s;
      }
      if (base + S > maxP) break;
      const next = node.children.get(key(ids.slice(base, base + S)));
      if (!next) break;
      path.push(next);
      node = next;
    }
    return { best, path };
  }


  /** Put a disk entry back into RAM. @returns true when it is held */
  private insertEntry(e: StoredEntry): boolean {
    const rows = (f: number, from: number, to: number): KvRows => {
      const a = this.model.config.layers[this.fullLayers[f]!]!.attention;
      const kr = a.numKvHeads * a.headDim;
      const vr = a.numKvHeads * a.vHeadDim;
      const r = e.full[f]!;
      return { keys: r.keys.slice(from * kr, to * kr), values: r.values.slice(from * vr, to * vr) };
    };
    return this.insertFrom(e.salt, e.tokens, { fullRows: rows, swa: () => e.swa, hidden: e.hidden });
  }

  /** True when a snapshot at exactly `ids` (all of them) is held for this salt. */
  has(salt: string, ids: readonly number[]): boolean {
    const S = this.pageSize;
    let node = this.root(salt);
    const whole = Math.floor(ids.length / S);
    for (let b = 0; b < whole; b++) {
      const next = node.children.get(key(ids.slice(b * S, (b + 1) * S)));
      if (!next) return false;
      node = next;
    }
    return node.snapshots.has(key(ids.slice(whole * S)));
  }

  /**
   * Add a snapshot at p = ids.length: the state of `cache` after exactly the tokens `ids` (cache.length must equal
   * ids.length), with the trunk hidden rows `hiddenAt(q)` `[D]` for the last positions the proposer may need.
   * Pages already held are shared, not copied again. Evicts least-recently-used snapshots to stay under budget.
   * @returns true when the snapshot is held afterwards (false: it does not fit the budget, or the state is
   *   incomplete, e.g. hidden rows were not kept)
   */
  insert(salt: string, ids: readonly number[], cache: ModelKVCache, hiddenAt: (q: number) => Float32Array | undefined): boolean {
    const p = ids.length;
    if (p === 0 || cache.length !== p || this.ramBytes === 0) return false;
    const W = this.model.config.slidingWindow;
    const D = this.model.config.hiddenSize;
    const nSwa = Math.min(p, W - 1); // a query at p or later sees positions ≥ p − W + 1 only
    for (const li of this.swaLayers) if (cache.layers[li]!.first > p - nSwa) return false;
    const m = Math.min(p, this.hiddenRows);
    const hidden = new Float32Array(m * D);
    for (let i = 0; i < m; i++) {
      const h = hiddenAt(p - m + i);
      if (!h) return false;
      hidden.set(h, i * D);
    }
    const shared = this.sharesPages(cache);
    return this.insertFrom(salt, ids, {
      fullRows: (f, from, to) => cache.layers[this.fullLayers[f]!]!.copyRows(from, to),
      fullPage: (f, b) => (shared ? (cache.layers[this.fullLayers[f]!] as PagedLayerKVCache).wholePage(b) : null),
      swa: () => this.swaLayers.map((li) => cache.layers[li]!.copyRows(p - nSwa, p)),
      hidden,
    });
  }

  /**
   * Add a snapshot at p = ids.length from `src`: full-attention rows by layer and position range, the
   * sliding-window rows of positions p − min(p, W − 1) … p−1, the last min(p, hiddenRows) hidden rows.
   * @returns true when the snapshot is held afterwards
   */
  insertFrom(salt: string, ids: readonly number[], src: EntrySource): boolean {
    const p = ids.length;
    if (p === 0 || this.ramBytes === 0) return false;
    const S = this.pageSize;
    let node = this.root(salt);
    const whole = Math.floor(p / S);
    for (let b = 0; b < whole; b++) {
      const k = key(ids.slice(b * S, (b + 1) * S));
      let next = node.children.get(k);
      if (!next) {
        const kv = this.fullLayers.map((li, f) => {
          const pool = this.model.pagePool(li);
          const page = src.fullPage?.(f, b);
          if (page) return page.pool.retain(page);
          const rows = src.fullRows(f, b * S, (b + 1) * S);
          return pool.adopt(rows.keys, rows.values);
        });
        next = { parent: node, tokens: ids.slice(b * S, (b + 1) * S), depth: b, kv, children: new Map(), snapshots: new Map(), salt, sizeBytes: kvBytes(kv) };
        node.children.set(k, next);
        this.pageCount++;
        this.pageBytes += next.sizeBytes;
        this.bytes += next.sizeBytes;
      }
      node = next;
    }
    const tail = ids.slice(whole * S);
    const tk = key(tail);
    const existing = node.snapshots.get(tk);
    if (existing) {
      this.touch(existing);
      return true;
    }
    const tailKv = this.fullLayers.map((_, f) => src.fullRows(f, whole * S, p));
    const swa = src.swa();
    const snap: Snapshot = { page: node, tail, p, tailKv, swa, hidden: src.hidden, sizeBytes: kvBytes(tailKv) + kvBytes(swa) + src.hidden.byteLength };
    node.snapshots.set(tk, snap);
    this.lru.add(snap);
    this.snapshotBytes += snap.sizeBytes;
    this.bytes += snap.sizeBytes;
    this.evictToBudget(snap);
    return node.snapshots.get(tk) === snap;
  }

  /**
   * Pages that dropping `s` frees: from its page upwards while nothing else reaches them.
   */
  private freedBy(s: Snapshot): Page[] {
    const out: Page[] = [];
    let n: Page | null = s.page;
    let child: Page | null = null;
    while (n && n.parent) {
      const others = n.snapshots.size - (n === s.page ? 1 : 0);
      const kids = n.children.size - (child ? 1 : 0);
      if (others > 0 || kids > 0) break;
      out.push(n);
      child = n;
      n = n.parent;
    }
    return out;
  }

  /** True when a page of the cache is also held by a running sequence (or another holder than the tree). */
  private static pinned(page: Page): boolean {
    return page.kv.some((p) => p.refs > 1);
  }

  /** Token ids 0 … p−1 of a snapshot. */
  tokensOf(s: Snapshot): number[] {
    const pages: Page[] = [];
    for (let n: Page | null = s.page; n && n.parent; n = n.parent) pages.unshift(n);
    return [...pages.flatMap((pg) => pg.tokens), ...s.tail];
  }

  /** A snapshot as one self-contained entry (every full-attention row 0 … p−1), for the disk tier. */
  entryOf(s: Snapshot): StoredEntry {
    const pages: Page[] = [];
    for (let n: Page | null = s.page; n && n.parent; n = n.parent) pages.unshift(n);
    const full = this.fullLayers.map((_, f) => concatRows([...pages.map((pg) => pg.kv[f]!), s.tailKv[f]!]));
    return { salt: s.page.salt, tokens: this.tokensOf(s), full, swa: s.swa, hidden: s.hidden };
  }

  /** Every snapshot held in RAM, least recently used first. */
  snapshots(): Snapshot[] {
    return [...this.lru];
  }

  private touch(s: Snapshot): void {
    this.lru.delete(s);
    this.lru.add(s);
  }

  /**
   * Evict least-recently-used snapshots (to the disk tier when there is one) until under budget, skipping those whose
   * freed pages a running sequence holds (pinned). Call again when sequences let go of pages (`sequenceEnded`).
   */
  private evictToBudget(newest: Snapshot | null): void {
    while (this.bytes > this.ramBytes && this.lru.size > 0) {
      let oldest: Snapshot | null = null;
      for (const s of this.lru) {
        if (!this.freedBy(s).some(PrefixCache.pinned)) {
          oldest = s;
          break;
        }
      }
      if (!oldest) {
        this.pinnedOverBudget++;
        return;
      }
      // A snapshot bigger than the whole budget goes straight to disk.
      if (this.disk && (oldest !== newest || this.lru.size === 1)) this.disk.write(this.entryOf(oldest));
      this.drop(oldest);
      this.evictions++;
    }
  }

  /** A sequence let go of its pages: evict what its pins kept over the budget. */
  sequenceEnded(): void {
    if (this.bytes > this.ramBytes) this.evictToBudget(null);
  }

  /** Write every entry held in RAM to the disk tier (shutdown). @returns entries written or already there */
  flushToDisk(): number {
    if (!this.disk) return 0;
    let n = 0;
    for (const s of this.lru) if (this.disk.write(this.entryOf(s))) n++;
    return n;
  }

  private drop(s: Snapshot): void {
    this.lru.delete(s);
    s.page.snapshots.delete(key(s.tail));
    this.snapshotBytes -= s.sizeBytes;
    this.bytes -= s.sizeBytes;
    this.prune(s.page);
  }

  /** Free pages from `page` upwards that no snapshot reaches any more (no snapshots, no children). */
  private prune(page: Page): void {
    let n: Page | null = page;
    while (n && n.parent && n.snapshots.size === 0 && n.children.size === 0) {
      n.parent.children.delete(key(n.tokens));
      for (const p of n.kv) p.pool.release(p);
      this.pageCount--;
      this.pageBytes -= n.sizeBytes;
      this.bytes -= n.sizeBytes;
      n = n.parent;
    }
  }

  /** Drop every entry (POST /v1/cache/reset). Counters of hits, misses and evictions are kept. */
  reset(): void {
    for (const s of [...this.lru]) this.drop(s);
    this.roots.clear();
  }

  get stats(): PrefixCacheStats {
    const d = this.disk?.stats;
    return { diskBytes: d?.bytes ?? 0, diskEntries: d?.entries ?? 0, diskReads: d?.reads ?? 0, diskWrites: d?.writes ?? 0, diskHits: this.diskHits, hitTokens: this.hitTokens, missTokens: this.missTokens, ramBytes: this.bytes, pages: this.pageCount, entries: this.lru.size, evictions: this.evictions, pinnedOverBudget: this.pinnedOverBudget, pageBytes: this.pageBytes, snapshotBytes: this.snapshotBytes };
  }

  /** Bytes a full-size sliding-window cache would take for `positions` (every SWA layer keeping them all). */
  fullSwaBytes(positions: number): number {
    let s = 0;
    for (const li of this.swaLayers) {
      const a = this.model.config.layers[li]!.attention;
      s += positions * a.numKvHeads * (a.headDim + a.vHeadDim) * 4;
    }
    return s;
  }
}

function concatRows(parts: readonly KvRows[]): KvRows {
  const cat = (arrays: KvArray[]): KvArray => {
    const n = arrays.reduce((a, x) => a + x.length, 0);
    const out = arrays[0] instanceof Uint16Array ? new Uint16Array(n) : new Float32Array(n);
    let o = 0;
    for (const x of arrays) {
      out.set(x, o);
      o += x.length;
    }
    return out;
  };
  return { keys: cat(parts.map((p) => p.keys)), values: cat(parts.map((p) => p.values)) };
}

function kvBytes(rows: readonly KvRows[]): number {
  let s = 0;
  for (const r of rows) s += r.keys.byteLength + r.values.byteLength;
  return s;
}
