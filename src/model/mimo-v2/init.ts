/**
 * Random-weight checkpoints in the exact official layout (`mimo init`): config.json from {@link scaledConfig},
 * safetensors shards with the official tensor names, `model.safetensors.index.json`, tokenizer files. BF16 by
 * default (round to nearest even); with `fp8`, the tensors the release stores as F8_E4M3 get 128×128 block scales
 * `weight_scale_inv` (F32, scale = bf16_round(block amax / 448)), on a per-chunk grid for fused `qkv_proj`
 * (n = num_key_value_heads) and for Flash full-attention `k_proj` (one chunk per KV head).
 * Values: every tensor is `mean + std · N(0, 1)` drawn row-major from its own stream, seeded by (seed, name), so the
 * same seed gives byte-identical files and a BF16 and an FP8 checkpoint of one seed hold the same underlying values.
 * A fused `qkv_proj` is assembled from the streams of the `q_proj`, `k_proj`, `v_proj` it replaces. Std is
 * 1/sqrt(fan_in) for projections (activations stay O(1)), 1 for embeddings, norms 1 ± 0.02, router bias ± 0.01.
 * Source: spec §2.1–§2.7, fixtures/README §1 and §1.1.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RequestError } from '../../errors.js';
import { Rng } from '../../engine/rng.js';
import { INDEX_FILE } from '../../loader/checkpoint.js';
import { numel, writeSafetensors } from '../../loader/safetensors.js';
import { bf16BitsToNumber, DTYPE_BYTES, type DType, numberToBf16Bits, numberToFp8E4M3 } from '../../tensor/dtype.js';
import { encodeMxfp4 } from '../../tensor/formats/mxfp4.js';
import { writeTokenizerFiles } from '../../tokenizer/files.js';
import { parseConfig, type AttentionPlan, type MiMoConfig } from './config.js';
import { loadPreset } from './presets.js';
import { fp8QuantizationConfig, scaledConfig, SCALES, type Scale } from './scale.js';

export interface InitOptions {
  /** Preset name (`mimo-v2-flash`, `mimo-v2-flash-base`, `mimo-v2.5`, `mimo-v2.5-pro`). */
  preset: string;
  scale: Scale;
  /** Checkpoint directory to create; must not exist or be empty. */
  outDir: string;
  /** Store the release's FP8 tensors as F8_E4M3 + 128×128 block scales (default false: BF16). */
  fp8?: boolean;
  /** Any safe integer (default 0). */
  seed?: number;
  /** MTP layers `model.mtp.layers.{k}` to write (default 3, as released). */
  numMtpLayers?: number;
  /** Called after each tensor with tensor bytes written so far and in total. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface InitResult {
  /** Absolute path of the written checkpoint. */
  dir: string;
  /** Parameters of every tensor except FP8 scales, MTP layers included. */
  paramCount: number;
  /** Tensor bytes of all shards (the index's `total_size`). */
  bytes: number;
}

/** One tensor of a planned checkpoint. */
export interface PlannedTensor {
  name: string;
  shape: number[];
  dtype: DType;
  /** Shard file name. */
  file: string;
  /** Values are mean + std · N(0, 1). */
  mean: number;
  std: number;
  /** FP8 weights: chunks with their own block grid (1 = one uniform grid). */
  chunks: number;
  /** Fused qkv_proj: the split tensor names and row counts per chunk it is assembled from. */
  fusedFrom?: { q: string; k: string; v: string; rq: number; rk: number; rv: number };
  /** A `weight_scale_inv` (FP8) or `weight_scale` (MXFP4): the name of the weight it scales. */
  scaleOf?: string;
  /** An MXFP4 routed expert (V2.6): its logical shape [out, in] (stored as U8 [out, in/2] + U8 [out, in/32] scales). */
  mxfp4?: [number, number];
}

/** FP8 block size of the release (spec §2.5). */
export const FP8_BLOCK = 128;
const FP8_MAX = 448;

/** Seed of one tensor's stream: a 53-bit FNV-1a hash of `${seed}/${name}` (two 32-bit lanes, 21 + 32 bits). */
export function tensorSeed(seed: number, name: string): number {
  const s = `${seed}/${name}`;
  let lo = 0x811c9dc5;
  let hi = 0xcbf29ce4;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    lo = Math.imul(lo ^ c, 0x01000193) >>> 0;
    hi = Math.imul(hi ^ c, 0x5bd1e995) >>> 0;
  }
  return (hi & 0x1fffff) * 4294967296 + lo;
}

/** Shard file of a tensor: Flash `model-0000i-of-00003`, V2.5 / Pro `model_pp0_ep{0,1}_shard*` + `model_mtp`. */
function shardOf(cfg: MiMoConfig, name: string): string {
  const layer = /^model\.layers\.(\d+)\./.exec(name);
  const secondHalf = layer !== null && Number(layer[1]) >= Math.ceil(cfg.numHiddenLayers / 2);
  if (cfg.modelType === 'mimo_v2_flash') {
    if (name.startsWith('model.mtp.') || name.startsWith('lm_head.')) return 'model-00003-of-00003.safetensors';
    return secondHalf || name === 'model.norm.weight' ? 'model-00002-of-00003.safetensors' : 'model-00001-of-00003.safetensors';
  }
  if (name.startsWith('model.mtp.')) return 'model_mtp.safetensors';
  const expert = /\.mlp\.experts\.(\d+)\./.exec(name);
  if (expert && Number(expert[1]) >= cfg.nRoutedExperts / 2) return 'model_pp0_ep1_shard0.safetensors';
  const last = secondHalf || name === 'model.norm.weight' || name.startsWith('lm_head.');
  return last ? 'model_pp0_ep0_shard1.safetensors' : 'model_pp0_ep0_shard0.safetensors';
}

/**
 * Every tensor of the checkpoint in write order (trunk, then MTP; a scale right after its weight), with shapes
 * from the config (spec §2.2–§2.4 inventories). Sinks are BF16, router weight and bias F32 (spec §2.7).
 */
export function planCheckpoint(cfg: MiMoConfig, opts: { fp8: boolean; numMtpLayers: number }): PlannedTensor[] {
  const D = cfg.hiddenSize;
  const out: PlannedTensor[] = [];
  const add = (name: string, shape: number[], dtype: DType, mean: number, std: number, extra: Partial<PlannedTensor> = {}): void => {
    out.push({ name, shape, dtype, file: shardOf(cfg, name), mean, std, chunks: 1, ...extra });
  };
  const norm = (name: string): void => add(name, [D], 'BF16', 1, 0.02);
  /** A projection [rows, cols]; FP8 when `quantized` and the checkpoint is FP8. */
  const linear = (name: string, rows: number, cols: number, quantized: boolean, extra: Partial<PlannedTensor> = {}): void => {
    const chunks = extra.chunks ?? 1;
    if (!(opts.fp8 && quantized)) return add(name, [rows, cols], 'BF16', 0, 1 / Math.sqrt(cols), extra);
    add(name, [rows, cols], 'F8_E4M3', 0, 1 / Math.sqrt(cols), extra);
    add(`${name}_scale_inv`, [chunks * Math.ceil(rows / chunks / FP8_BLOCK), Math.ceil(cols / FP8_BLOCK)], 'F32', 0, 0, { scaleOf: name });
  };
  const attention = (prefix: string, plan: AttentionPlan): void => {
    const { numHeads: Hq, numKvHeads: Hkv, headDim: Dqk, vHeadDim: Dv } = plan;
    if (cfg.fusedQkv) {
      const n = cfg.numKeyValueHeads;
      const [rq, rk, rv] = [(Hq / n) * Dqk, (Hkv / n) * Dqk, (Hkv / n) * Dv];
      const fusedFrom = { q: `${prefix}.q_proj.weight`, k: `${prefix}.k_proj.weight`, v: `${prefix}.v_proj.weight`, rq, rk, rv };
      linear(`${prefix}.qkv_proj.weight`, n * (rq + rk + rv), D, true, { chunks: n, fusedFrom });
    } else {
      linear(`${prefix}.q_proj.weight`, Hq * Dqk, D, true);
      // Flash full-attention k_proj was exported per TP rank: one grid per KV head (spec §2.5 rule 2).
      linear(`${prefix}.k_proj.weight`, Hkv * Dqk, D, true, { chunks: plan.kind === 'full' ? cfg.numKeyValueHeads : 1 });
      linear(`${prefix}.v_proj.weight`, Hkv * Dv, D, true);
    }
    linear(`${prefix}.o_proj.weight`, D, Hq * Dv, false);
    if (plan.hasSink) add(`${prefix}.attention_sink_bias`, [Hq], 'BF16', 0, 1);
  };
  const mlp = (prefix: string, inter: number): void => {
    linear(`${prefix}.gate_proj.weight`, inter, D, true);
    linear(`${prefix}.up_proj.weight`, inter, D, true);
    linear(`${prefix}.down_proj.weight`, D, inter, true);
  };
  /** A routed expert's projection: MXFP4 (U8 codes + U8 E8M0 `weight_scale`) in the V2.6 layout, else as {@link linear}. */
  const expertLinear = (name: string, rows: number, cols: number): void => {
    if (!(opts.fp8 && cfg.expertStorage === 'mxfp4')) return linear(name, rows, cols, true);
    add(name, [rows, cols / 2], 'U8', 0, 1 / Math.sqrt(cols), { mxfp4: [rows, cols] });
    add(`${name}_scale`, [rows, cols / 32], 'U8', 0, 0, { scaleOf: name });
  };

  add('model.embed_tokens.weight', [cfg.vocabSize, D], 'BF16', 0, 1);
  for (const layer of cfg.layers) {
    const p = `model.layers.${layer.index}`;
    norm(`${p}.input_layernorm.weight`);
    attention(`${p}.self_attn`, layer.attention);
    norm(`${p}.post_attention_layernorm.weight`);
    if (layer.ffn === 'dense') {
      mlp(`${p}.mlp`, cfg.intermediateSize);
    } else {
      // V2.6 stores the router weight in BF16 (moe_router_dtype "bfloat16", spec §2.8); earlier members in F32.
      add(`${p}.mlp.gate.weight`, [cfg.nRoutedExperts, D], cfg.moeRouterDtype === 'bfloat16' ? 'BF16' : 'F32', 0, 1 / Math.sqrt(D));
      add(`${p}.mlp.gate.e_score_correction_bias`, [cfg.nRoutedExperts], 'F32', 0, 0.01);
      for (let e = 0; e < cfg.nRoutedExperts; e++) {
        const q = `${p}.mlp.experts.${e}`;
        const I = cfg.moeIntermediateSize;
        expertLinear(`${q}.gate_proj.weight`, I, D);
        expertLinear(`${q}.up_proj.weight`, I, D);
        expertLinear(`${q}.down_proj.weight`, D, I);
      }
    }
  }
  norm('model.norm.weight');
  if (!cfg.tieWordEmbeddings) add('lm_head.weight', [cfg.vocabSize, D], 'BF16', 0, 1 / Math.sqrt(D));
  for (let k = 0; k < opts.numMtpLayers; k++) {
    const p = `model.mtp.layers.${k}`;
    norm(`${p}.enorm.weight`);
    norm(`${p}.hnorm.weight`);
    linear(`${p}.eh_proj.weight`, D, 2 * D, false);
    norm(`${p}.input_layernorm.weight`);
    attention(`${p}.self_attn`, cfg.swaPlan);
    norm(`${p}.pre_mlp_layernorm.weight`);
    mlp(`${p}.mlp`, cfg.intermediateSize);
    norm(`${p}.final_layernorm.weight`);
  }
  return out;
}

/**
 * Row-major values of a planned tensor, delivered in consecutive slices (each a whole number of rows). Rows have an
 * even length here, so slicing never splits a Box–Muller pair and the values equal one whole fillNormal.
 */
type RowStream = (out: Float32Array) => void;

function rowStream(t: PlannedTensor, seed: number): RowStream {
  if (!t.fusedFrom) {
    const rng = Rng.fromSeed(tensorSeed(seed, t.name));
    return (out) => void rng.fillNormal(out, t.std, t.mean);
  }
  // Fused qkv: n chunks, each [Q_c | K_c | V_c] (spec §2.6), from the split tensors' own streams.
  const { q, k, v, rq, rk, rv } = t.fusedFrom;
  const cols = t.shape[1]!;
  const n = t.chunks;
  const draw = (name: string, rows: number): Float32Array => Rng.fromSeed(tensorSeed(seed, name)).fillNormal(new Float32Array(rows * cols), t.std, t.mean);
  const [Q, K, V] = [draw(q, n * rq), draw(k, n * rk), draw(v, n * rv)];
  const fused = new Float32Array(numel(t.shape));
  let at = 0;
  for (let c = 0; c < n; c++) {
    for (const [src, r] of [[Q, rq], [K, rk], [V, rv]] as const) {
      fused.set(src.subarray(c * r * cols, (c + 1) * r * cols), at);
      at += r * cols;
    }
  }
  let pos = 0;
  return (out) => {
    out.set(fused.subarray(pos, pos + out.length));
    pos += out.length;
  };
}

/** Elements per slice when streaming a BF16/F32 tensor (bounds scratch memory for the embedding and LM head). */
const SLICE_ELEMENTS = 1 << 20;

function encodePlain(t: PlannedTensor, seed: number): Uint8Array {
  const cols = t.shape.length > 1 ? t.shape[t.shape.length - 1]! : numel(t.shape);
  const rows = numel(t.shape) / Math.max(cols, 1);
  const next = rowStream(t, seed);
  if (t.dtype === 'F32') {
    const out = new Float32Array(numel(t.shape));
    next(out);
    return new Uint8Array(out.buffer);
  }
  const out = new Uint16Array(numel(t.shape));
  const rowsPerSlice = Math.max(1, Math.floor(SLICE_ELEMENTS / Math.max(cols, 1)));
  const scratch = new Float32Array(Math.min(rows, rowsPerSlice) * cols);
  const bits = new Uint32Array(scratch.buffer);
  for (let r = 0; r < rows; r += rowsPerSlice) {
    const slice = scratch.subarray(0, Math.min(rowsPerSlice, rows - r) * cols);
    next(slice);
    const base = r * cols;
    // numberToBf16Bits inlined on the f32 bits (round to nearest even; the draws are finite): 2× faster on 20 M rows.
    for (let i = 0; i < slice.length; i++) {
      const u = bits[i]!;
      out[base + i] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
    }
  }
  return new Uint8Array(out.buffer);
}

/**
 * Quantise a planned FP8 weight: per chunk of rows/chunks rows, blocks of 128×128 (the chunk's last block row may
 * be partial); scale = bf16_round(amax / 448), code = e4m3(w / scale), saturating (fixtures/README §1 "FP8").
 */
export function quantizeFp8(t: PlannedTensor, seed: number): { codes: Uint8Array; scales: Float32Array } {
  const [R, C] = t.shape as [number, number];
  const chunkRows = R / t.chunks;
  const blocksPerChunk = Math.ceil(chunkRows / FP8_BLOCK);
  const scaleCols = Math.ceil(C / FP8_BLOCK);
  const codes = new Uint8Array(R * C);
  const scales = new Float32Array(t.chunks * blocksPerChunk * scaleCols);
  const next = rowStream(t, seed);
  const strip = new Float32Array(Math.min(FP8_BLOCK, chunkRows) * C);
  for (let c = 0; c < t.chunks; c++) {
    for (let b = 0; b < blocksPerChunk; b++) {
      const r0 = c * chunkRows + b * FP8_BLOCK;
      const rows = Math.min(FP8_BLOCK, (c + 1) * chunkRows - r0);
      const w = strip.subarray(0, rows * C);
      next(w);
      for (let bc = 0; bc < scaleCols; bc++) {
        const c0 = bc * FP8_BLOCK;
        const c1 = Math.min(C, c0 + FP8_BLOCK);
        let amax = 0;
        for (let i = 0; i < rows; i++) for (let j = c0; j < c1; j++) amax = Math.max(amax, Math.abs(w[i * C + j]!));
        const scale = amax > 0 ? bf16BitsToNumber(numberToBf16Bits(amax / FP8_MAX)) : 1;
        scales[(c * blocksPerChunk + b) * scaleCols + bc] = scale;
        for (let i = 0; i < rows; i++) {
          for (let j = c0; j < c1; j++) codes[(r0 + i) * C + j] = numberToFp8E4M3(w[i * C + j]! / scale);
        }
      }
    }
  }
  return { codes, scales };
}

/** Encode a planned MXFP4 expert from its value stream (encodeMxfp4: scale bytes from each 32-column block's amax). */
export function quantizeMxfp4(t: PlannedTensor, seed: number): { codes: Uint8Array; scales: Uint8Array } {
  const [R, C] = t.mxfp4!;
  const w = new Float32Array(R * C);
  rowStream(t, seed)(w);
  return encodeMxfp4(w, R, C);
}

/** True when the member's release stores its routed experts as MXFP4 (`quantization_config.store_dtype: "mxfp4"`). */
export function isMxfp4Release(rawPreset: Readonly<Record<string, unknown>>): boolean {
  const q = rawPreset['quantization_config'] as Record<string, unknown> | undefined;
  return q?.['store_dtype'] === 'mxfp4';
}

/** Refuse an existing non-empty `--out` (or a file there). */
function checkOutDir(outDir: string): void {
  if (!fs.existsSync(outDir)) return;
  if (!fs.statSync(outDir).isDirectory()) throw new RequestError('--out', `${outDir} exists and is not a directory`);
  if (fs.readdirSync(outDir).length > 0) throw new RequestError('--out', `${outDir} is not empty; give a new directory (init never overwrites)`);
}

/**
 * Write a random-weight checkpoint of `preset` at `scale` into `outDir` (see the module comment). Files are written
 * into a temporary directory beside `outDir` and renamed at the end, so an interrupted init leaves no half checkpoint.
 * Tensors are generated one at a time when the writer reaches them (peak memory ≈ the largest tensor).
 * @throws RequestError('--out') when outDir exists and is not an empty directory; RequestError naming `--scale`,
 *   `--seed` or `--mtp-layers` for a bad option; ConfigError for an unknown preset or a scale the member lacks.
 */
export async function initCheckpoint(opts: InitOptions): Promise<InitResult> {
  const { preset, scale, seed = 0, numMtpLayers = 3, onProgress } = opts;
  if (!SCALES.includes(scale)) throw new RequestError('--scale', `unknown scale ${JSON.stringify(scale)} (valid: ${SCALES.join(', ')})`);
  if (!Number.isSafeInteger(seed)) throw new RequestError('--seed', `expected an integer, got ${seed}`);
  if (!Number.isSafeInteger(numMtpLayers) || numMtpLayers < 0) throw new RequestError('--mtp-layers', `expected an integer ≥ 0, got ${numMtpLayers}`);
  const outDir = path.resolve(opts.outDir);
  checkOutDir(outDir);

  const presetRaw = loadPreset(preset).raw;
  const raw = scaledConfig(presetRaw, scale);
  // V2.6 is published only in its FP8 + MXFP4 layout: write that layout (spec §2.8), --fp8 or not.
  const fp8 = opts.fp8 === true || isMxfp4Release(presetRaw);
  if (fp8) raw['quantization_config'] = fp8QuantizationConfig(presetRaw, raw['num_hidden_layers'] as number);
  const cfg = parseConfig(raw, `${preset} at scale ${scale}`);
  const plan = planCheckpoint(cfg, { fp8, numMtpLayers });
  const tensorBytes = (t: PlannedTensor): number => numel(t.shape) * DTYPE_BYTES[t.dtype];
  const totalBytes = plan.reduce((s, t) => s + tensorBytes(t), 0);
  const paramCount = plan.reduce((s, t) => s + (t.scaleOf ? 0 : t.mxfp4 ? t.mxfp4[0] * t.mxfp4[1] : numel(t.shape)), 0);

  // A fresh sibling directory (mkdir honours the umask, unlike mkdtemp's 0700), renamed onto outDir at the end.
  const tmp = path.join(path.dirname(outDir), `.${path.basename(outDir)}.init-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    fs.mkdirSync(path.dirname(outDir), { recursive: true });
    removeStaleTempDirs(outDir);
    fs.mkdirSync(tmp);
  } catch (e) {
    throw new RequestError('--out', `cannot create ${outDir}: ${(e as Error).message}`);
  }
  // Ctrl-C or a kill while writing: remove the partial files, then exit as the signal would.
  const onSignal = (signal: NodeJS.Signals) => {
    fs.rmSync(tmp, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    fs.writeFileSync(path.join(tmp, 'config.json'), `${JSON.stringify(raw, null, 2)}\n`);
    const files = [...new Set(plan.map((t) => t.file))];
    const byName = new Map(plan.map((t) => [t.name, t]));
    const pendingScales = new Map<string, Uint8Array>();
    let done = 0;
    const produce = (t: PlannedTensor): Uint8Array => {
      let bytes: Uint8Array;
      if (t.scaleOf) {
        const of = byName.get(t.scaleOf)!;
        const scales = pendingScales.get(t.scaleOf) ?? (of.mxfp4 ? quantizeMxfp4(of, seed).scales : new Uint8Array(quantizeFp8(of, seed).scales.buffer));
        pendingScales.delete(t.scaleOf);
        bytes = scales;
      } else if (t.mxfp4) {
        const q = quantizeMxfp4(t, seed);
        pendingScales.set(t.name, q.scales);
        bytes = q.codes;
      } else if (t.dtype === 'F8_E4M3') {
        const q = quantizeFp8(t, seed);
        pendingScales.set(t.name, new Uint8Array(q.scales.buffer));
        bytes = q.codes;
      } else {
        bytes = encodePlain(t, seed);
      }
      done += bytes.byteLength;
      onProgress?.(done, totalBytes);
      return bytes;
    };
    for (const file of files) {
      const tensors = plan.filter((t) => t.file === file).map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: () => produce(t) }));
      writeSafetensors(path.join(tmp, file), tensors);
      await new Promise((resolve) => setImmediate(resolve)); // let a progress bar repaint between shards
    }
    const weightMap = Object.fromEntries(plan.map((t) => [t.name, t.file]).sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0)));
    fs.writeFileSync(path.join(tmp, INDEX_FILE), `${JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2)}\n`);
    // The bench model's 32000-token vocab cannot hold the MiMo tokenizer's ids; llama.cpp feeds it ids directly.
    if (scale !== 'bench') writeTokenizerFiles(tmp, { eosTokenId: 151645 });
    if (fs.existsSync(outDir)) fs.rmdirSync(outDir); // empty (checked above)
    fs.renameSync(tmp, outDir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') throw new RequestError('--out', `cannot write ${outDir}: ${code} (${(e as Error).message})`);
    throw e;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  return { dir: outDir, paramCount, bytes: totalBytes };
}

/** Remove `.NAME.init-PID-*` siblings of outDir left by an init whose process no longer exists. */
function removeStaleTempDirs(outDir: string): void {
  const prefix = `.${path.basename(outDir)}.init-`;
  for (const entry of fs.readdirSync(path.dirname(outDir))) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(entry.slice(prefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) fs.rmSync(path.join(path.dirname(outDir), entry), { recursive: true, force: true });
  }
}
