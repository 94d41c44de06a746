/**
 * The MiMo-V2 text model: trunk forward over a chunk of tokens with a KV cache, LM head, and the MTP layers.
 * `forward(tokens, cache)` → hidden `[T, D]` after `model.norm`; `computeLogits(hidden, T)` → `[T, V]`;
 * `mtpForward(k, hidden, tokens, cache)` → MTP layer k's normed state `[T, D]`. Source: spec §3, §4;
 * fixtures/README §2, §2.1.
 */
import { ShapeError } from '../../errors.js';
import type { Backend } from '../../kernels/backend.js';
import { LayerKVCache, ModelKVCache, type KvDtype } from '../../engine/kv-cache.js';
import { KvPagePool, PagedLayerKVCache, sumPageStats, type KvPageStats } from '../../engine/kv-pages.js';
import { attentionBlock, projectKv, type TraceFn } from './attention.js';
import type { MiMoConfig } from './config.js';
import { denseMlp } from './mlp.js';
import { moeForward, routerParams, type RouterParams } from './moe.js';
import { prepareWeights, type ModelWeights } from './weights.js';
import { decodeRow } from '../../tensor/weight.js';

function addInPlace(a: Float32Array, b: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! + b[i]!;
}

/** One sequence's part of a batched forward: its new tokens and its cache. */
export interface ForwardSegment {
  tokens: ArrayLike<number>;
  cache: ModelKVCache;
}

/** A segment's results: hidden `[T, D]` after `model.norm`; expert ids `[numMoeLayers, T, K]` when recorded. */
export interface SegmentOutput {
  hidden: Float32Array;
  experts?: Int32Array;
}

/** Rows offset … offset+T−1 of expert ids `[L, R, K]` → `[L, T, K]`. */
export function sliceExperts(all: Int32Array, R: number, K: number, offset: number, T: number): Int32Array {
  const L = all.length / (R * K);
  const out = new Int32Array(L * T * K);
  for (let l = 0; l < L; l++) out.set(all.subarray((l * R + offset) * K, (l * R + offset + T) * K), l * T * K);
  return out;
}

export class MiMoModel {
  private readonly router: RouterParams;
  /** Trunk layers with a MoE FFN (the rows of recorded expert ids). */
  private readonly numMoeLayers: number;

  readonly weights: ModelWeights;
  /** Storage dtype of the KV caches `newCache` makes (`--kv-dtype`; default f32, exact). */
  kvDtype: KvDtype = 'f32';
  /**
   * Positions per page of the full-attention caches `newCache` makes (default 64; a prefix cache sets its own page
   * size here so that its pages and the sequences' pages are the same objects).
   */
  kvPageSize = 64;
  /** Per trunk layer, the page pool of a full-attention layer (undefined for sliding-window layers). */
  private readonly pagePools: (KvPagePool | undefined)[];

  /**
   * @param weights stored-dtype weights from loadWeights; each linear weight goes through backend.prepareWeight once
   */
  constructor(
    readonly config: MiMoConfig,
    weights: ModelWeights,
    readonly backend: Backend,
  ) {
    this.router = routerParams(config);
    this.numMoeLayers = config.layers.filter((l) => l.ffn === 'moe').length;
    this.weights = prepareWeights(weights, (w) => backend.prepareWeight(w));
    this.pagePools = config.layers.map((l) => (l.attention.window === null ? new KvPagePool() : undefined));
  }

  /** The page pool of full-attention trunk layer i. @throws ShapeError for a sliding-window layer */
  pagePool(i: number): KvPagePool {
    const p = this.pagePools[i];
    if (!p) throw new ShapeError(`layer ${i} is not a full-attention layer: it has no page pool`);
    return p;
  }

  /** Pages of every full-attention layer's pool, summed (for /metrics and tests). */
  get kvPageStats(): KvPageStats {
    return sumPageStats(this.pagePools.filter((p): p is KvPagePool => p !== undefined));
  }

  get numMtpLayers(): number {
    return this.weights.mtp.length;
  }

  /**
   * A fresh cache: full layers are page tables of `kvPageSize` positions per page (pages from the layer's pool),
   * sliding-window layers and MTP layers are rings of `window + extraSlots` positions.
   */
  newCache(extraSlots = 0): ModelKVCache {
    const mk = (p: MiMoConfig['swaPlan']) => new LayerKVCache(p.numKvHeads, p.headDim, p.vHeadDim, p.window, extraSlots, this.kvDtype);
    return new ModelKVCache(
      this.config.layers.map((l, i) => {
        const a = l.attention;
        return a.window === null ? new PagedLayerKVCache(this.pagePool(i), a.numKvHeads, a.headDim, a.vHeadDim, this.kvPageSize, this.kvDtype) : mk(a);
      }),
      this.weights.mtp.map(() => mk(this.config.swaPlan)),
    );
  }

  /** Rows of the embedding for token ids, `[T, D]`. @throws ShapeError on an id outside [0, V). */
  embed(tokens: ArrayLike<number>): Float32Array {
    const D = this.config.hiddenSize;
    const V = this.config.vocabSize;
    const out = new Float32Array(tokens.length * D);
    for (let t = 0; t < tokens.length; t++) {
      const id = tokens[t]!;
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new ShapeError(`token id ${id} at index ${t} is outside the vocabulary [0, ${V})`);
      decodeRow(this.weights.embed, id, out, t * D);
    }
    return out;
  }

  /**
   * Trunk forward of T tokens at positions cache.length … cache.length+T−1 (prefill chunk or decode step).
   * @returns hidden states after `model.norm`, `[T, D]` float32; the cache grows by T positions
   * @throws ShapeError on no tokens or a token id outside the vocabulary
   */
  forward(tokens: ArrayLike<number>, cache: ModelKVCache, trace?: TraceFn): Float32Array {
    if (tokens.length === 0) throw new ShapeError('forward: no tokens');
    return this.forwardRows([{ tokens, cache }], trace).hidden;
  }

  /**
   * One batched trunk forward over several sequences (continuous batching): segment s appends its T_s tokens to
   * its own cache. Segments are packed into calls of at most `backend.rowInvariantRows()` rows (a longer segment,
   * e.g. a prefill chunk, runs as its own call), so every segment's results are bitwise those of
   * `forward(segment.tokens, segment.cache)` whatever else is in the batch.
   * @param recordExperts also return the router's chosen experts of every MoE layer
   * @returns per segment: hidden `[T_s, D]` after `model.norm`, and with recordExperts the expert ids
   *   `[numMoeLayers, T_s, K]` int32 in router selection order
   * @throws ShapeError on an empty segment or a token id outside the vocabulary
   */
  forwardSegments(segments: readonly ForwardSegment[], opts: { recordExperts?: boolean } = {}): SegmentOutput[] {
    segments.forEach((s, i) => {
      if (s.tokens.length === 0) throw new ShapeError(`forward: segment ${i} has no tokens`);
    });
    const D = this.config.hiddenSize;
    const K = this.config.numExpertsPerTok;
    const out: SegmentOutput[] = new Array(segments.length);
    for (const group of this.packRows(segments.map((seg) => seg.tokens.length))) {
      const r = this.forwardRows(group.map((i) => segments[i]!), undefined, opts.recordExperts);
      const rows = r.hidden.length / D;
      let offset = 0;
      for (const i of group) {
        const T = segments[i]!.tokens.length;
        out[i] = { hidden: r.hidden.slice(offset * D, (offset + T) * D), experts: r.experts && sliceExperts(r.experts, rows, K, offset, T) };
        offset += T;
      }
    }
    return out;
  }

  /** All segments' rows in one pass of every layer; experts `[numMoeLayers, R, K]` when recorded. */
  private forwardRows(segments: readonly ForwardSegment[], trace?: TraceFn, recordExperts = false): { hidden: Float32Array; experts?: Int32Array } {
    const cfg = this.config;
    const be = this.backend;
    const eps = cfg.layernormEpsilon;
    const tokens: number[] = [];
    for (const s of segments) for (let t = 0; t < s.tokens.length; t++) tokens.push(s.tokens[t]!);
    const T = tokens.length;
    const h = this.embed(tokens);
    const K = cfg.numExpertsPerTok;
    const experts = recordExperts ? new Int32Array(this.numMoeLayers * T * K) : undefined;
    let moeIndex = 0;
    cfg.layers.forEach((plan, i) => {
      const w = this.weights.layers[i]!;
      let offset = 0;
      const spans = segments.map((s) => {
        const span = { offset, T: s.tokens.length, cache: s.cache.layers[i]! };
        offset += span.T;
        return span;
      });
      const a = be.rmsNorm(h, T, w.inputNorm, eps);
      trace?.('attn_norm', i, a);
      addInPlace(h, attentionBlock(be, plan.attention, w.attention, a, spans, cfg.attentionValueScale, i, trace));
      const b = be.rmsNorm(h, T, w.postAttentionNorm, eps);
      let f: Float32Array;
      if (w.mlp.kind === 'dense') {
        f = denseMlp(be, w.mlp.dense, b, T);
      } else {
        const record = experts && ((ids: Int32Array) => experts.set(ids, moeIndex * T * K));
        f = moeForward(be, w.mlp.moe, this.router, b, T, trace && ((l) => trace('router_logits', i, l)), record);
        moeIndex++;
      }
      trace?.(w.mlp.kind === 'dense' ? 'ffn_out' : 'moe_out', i, f);
      addInPlace(h, f);
      trace?.('layer_out', i, h);
    });
    return { hidden: be.rmsNorm(h, T, this.weights.norm, eps), experts };
  }

  /**
   * LM head: logits `[rows, V]` for `rows` hidden rows `[rows, D]` (no softcap, no scaling).
   * Rows ≥ the tokenizer length are padding; the sampler masks them.
   */
  computeLogits(hidden: Float32Array, rows: number): Float32Array {
    return this.backend.matmul(hidden, rows, this.weights.lmHead);
  }

  /**
   * LM head over several sequences' rows in calls of at most `backend.rowInvariantRows()` rows, so each part's
   * logits are bitwise those of `computeLogits(part, rows)` alone.
   * @param parts hidden rows `[n_i, D]` per sequence (n_i may be 0)
   * @returns logits `[n_i, V]` per part
   */
  computeLogitsBatched(parts: readonly Float32Array[]): Float32Array[] {
    const D = this.config.hiddenSize;
    const V = this.config.vocabSize;
    const out: Float32Array[] = parts.map(() => new Float32Array(0));
    for (const group of this.packRows(parts.map((p) => p.length / D))) {
      const rows = group.reduce((n, i) => n + parts[i]!.length / D, 0);
      const x = new Float32Array(rows * D);
      let r = 0;
      for (const i of group) {
        x.set(parts[i]!, r * D);
        r += parts[i]!.length / D;
      }
      const y = this.computeLogits(x, rows);
      r = 0;
      for (const i of group) {
        const n = parts[i]!.length / D;
        out[i] = y.subarray(r * V, (r + n) * V);
        r += n;
      }
    }
    return out;
  }

  /**
   * Groups of item indices (in order) whose row counts sum to at most `backend.rowInvariantRows()`; an item larger
   * than that is a group of its own, items of 0 rows are left out.
   */
  private packRows(sizes: readonly number[]): number[][] {
    const limit = Math.max(1, this.backend.rowInvariantRows());
    const groups: number[][] = [];
    let rows = Infinity;
    sizes.forEach((n, i) => {
      if (n === 0) return;
      if (rows + n > limit) {
        groups.push([]);
        rows = 0;
      }
      groups[groups.length - 1]!.push(i);
      rows += n;
    });
    return groups;
  }

  /**
   * MTP layer k over T rows (fixtures/README §2.1): row p combines the trunk hidden state after `model.norm`
   * `hidden[p]` with the embedding of `tokens[p]` (= input_ids[p+k+1] when teacher-forced, a draft while drafting)
   * at position cache.mtp[k].length + p.
   * @returns MTP state after `final_layernorm`, `[T, D]`; logits come from {@link computeLogits}
   */
  mtpForward(k: number, hidden: Float32Array, tokens: ArrayLike<number>, cache: ModelKVCache): Float32Array {
    const { w, x, T } = this.mtpInput(k, hidden, tokens);
    const cfg = this.config;
    const be = this.backend;
    const eps = cfg.layernormEpsilon;
    const a = be.rmsNorm(x, T, w.inputNorm, eps);
    addInPlace(x, attentionBlock(be, cfg.swaPlan, w.attention, a, [{ offset: 0, T, cache: cache.mtp[k]! }], cfg.attentionValueScale));
    addInPlace(x, denseMlp(be, w.mlp, be.rmsNorm(x, T, w.preMlpNorm, eps), T));
    return be.rmsNorm(x, T, w.finalNorm, eps);
  }

  /**
   * Append MTP layer k's keys and values for T rows (inputs as {@link mtpForward}) without computing their
   * outputs: the rows a later query attends to but whose own predictions are not needed (drafting).
   */
  mtpAppendKv(k: number, hidden: Float32Array, tokens: ArrayLike<number>, cache: ModelKVCache): void {
    const { w, x, T } = this.mtpInput(k, hidden, tokens);
    const c = cache.mtp[k]!;
    const a = this.backend.rmsNorm(x, T, w.inputNorm, this.config.layernormEpsilon);
    const { k: keys, v } = projectKv(this.backend, this.config.swaPlan, w.attention, a, T, c.length, this.config.attentionValueScale);
    c.append(keys, v, T);
  }

  /** eh_proj(concat(RMSNorm(embed(tokens); enorm), RMSNorm(hidden; hnorm))) `[T, D]` of MTP layer k. */
  private mtpInput(k: number, hidden: Float32Array, tokens: ArrayLike<number>) {
    const w = this.weights.mtp[k];
    if (!w) throw new ShapeError(`MTP layer ${k} does not exist (the checkpoint has ${this.numMtpLayers})`);
    const be = this.backend;
    const D = this.config.hiddenSize;
    const T = tokens.length;
    if (hidden.length !== T * D) throw new ShapeError(`MTP layer ${k}: hidden has ${hidden.length} elements, expected [${T}, ${D}]`);
    const eps = this.config.layernormEpsilon;
    const e = be.rmsNorm(this.embed(tokens), T, w.enorm, eps);
    const hn = be.rmsNorm(hidden, T, w.hnorm, eps);
    const cat = new Float32Array(T * 2 * D);
    for (let t = 0; t < T; t++) {
      cat.set(e.subarray(t * D, (t + 1) * D), t * 2 * D);
      cat.set(hn.subarray(t * D, (t + 1) * D), t * 2 * D + D);
    }
    return { w, x: be.matmul(cat, T, w.ehProj), T };
  }
}
