/**
 * `mimo quantize`: an official MiMo-V2 checkpoint (BF16, FP8 with block scales, or V2.6's MXFP4 experts) to a GGUF
 * of architecture mimo2, streamed tensor by tensor — each weight is read when its turn comes, decoded to float32 a
 * few rows at a time, quantised with the reference quantizers (tensor/formats/ggml/quantize.ts) to the type
 * llama-quantize would choose (loader/gguf-quant-policy.ts), and written; stacked `*_exps` tensors are written expert
 * by expert. V2.6's MXFP4 experts going to MXFP4 are repacked, not requantised (every code and exponent kept).
 * Peak memory is about one stored tensor plus a few MiB of rows, whatever the checkpoint's size.
 */
import * as path from 'node:path';
import { RequestError } from '../../errors.js';
import type { Weight } from '../../kernels/backend.js';
import { Checkpoint } from '../../loader/checkpoint.js';
import { GGUF_FILE_TYPES, QuantPolicy } from '../../loader/gguf-quant-policy.js';
import { GGUF_TYPE, GgufWriter, type GgufKv, type GgufTensorPlan } from '../../loader/gguf-writer.js';
import { repackMxfp4RowToGgml } from '../../tensor/formats/ggml/mxfp4.js';
import { GGML_ROW_ENCODERS } from '../../tensor/formats/ggml/quantize.js';
import { QuantizePool } from '../../tensor/formats/ggml/quantize-pool.js';
import { GGML_TYPE, ggmlRowBytes, ggmlTypeName } from '../../tensor/formats/ggml/types.js';
import { checkMxfp4Scales, decodeRow } from '../../tensor/weight.js';
import { tokenizerGgufMetadata } from '../../tokenizer/gguf-metadata.js';
import { loadConfig } from './config.js';
import { planGgufExport, type ExportTensor } from './gguf-export.js';
import { countMtpLayers } from './weights.js';

export interface QuantizeOptions {
  /** Checkpoint directory (config.json, safetensors, tokenizer files). */
  input: string;
  /** Output `.gguf` (a split set is named after it). */
  output: string;
  /** `q8_0`, `q4_k_m`, `q5_k_m`, `q6_k`, `iq4_xs`, `mxfp4` or `bf16` (see GGUF_FILE_TYPES). */
  type: string;
  /** Write the MTP layers as nextn blocks (default true). */
  mtp?: boolean;
  /** Worker threads quantising rows (default 1: the calling thread). The bytes written do not depend on it. */
  threads?: number;
  /** Largest part in bytes; absent = one file. */
  splitMaxBytes?: number;
  /** Called as elements are written: done and total elements, and the tensor being written. */
  onProgress?: (doneElements: number, totalElements: number, tensor: string) => void;
  /** Notes for the user (fallbacks, folded scale, padded V heads, unused tensors). */
  onNote?: (message: string) => void;
}

export interface QuantizeResult {
  paths: string[];
  /** Tensor-data bytes written (all parts). */
  bytes: number;
  /** Tensors per ggml type name. */
  typeCounts: Record<string, number>;
  /** GGUF tensor name → ggml type name, in file order. */
  types: Array<[string, string]>;
}

/** Rows decoded per step (about 4 Mi floats). */
const CHUNK_ELEMENTS = 1 << 22;

/** Decode rows [r0, r0 + n) of an export tensor's slice into buf `[n, cols]`, applying V padding and the scale. */
function decodeRows(t: ExportTensor, w: Weight, r0: number, n: number, cols: number, buf: Float32Array, tmp: Float32Array): void {
  const vp = t.vPad;
  for (let i = 0; i < n; i++) {
    const r = r0 + i;
    const o = i * cols;
    if (vp?.axis === 0) {
      const h = Math.floor(r / vp.vpad);
      const j = r % vp.vpad;
      if (j < vp.vd) decodeRow(w, h * vp.vd + j, buf, o);
      else buf.fill(0, o, o + cols);
    } else if (vp?.axis === 1) {
      decodeRow(w, r, tmp, 0);
      buf.fill(0, o, o + cols);
      for (let h = 0; h < vp.heads; h++) buf.set(tmp.subarray(h * vp.vd, (h + 1) * vp.vd), o + h * vp.vpad);
    } else {
      decodeRow(w, r, buf, o);
    }
  }
  if (t.scale !== undefined) for (let k = 0; k < n * cols; k++) buf[k] = buf[k]! * t.scale;
}

/**
 * Quantise a checkpoint to GGUF.
 * @throws RequestError('--type') for an unknown type; ConfigError / CheckpointError for the checkpoint (naming file
 *   and tensor); RangeError naming the tensor for a row llama-quantize could not quantise either
 */
export async function quantizeCheckpoint(opts: QuantizeOptions): Promise<QuantizeResult> {
  const ft = GGUF_FILE_TYPES.find((f) => f.name === opts.type);
  if (!ft) throw new RequestError('--type', `unknown type ${JSON.stringify(opts.type)} (valid: ${GGUF_FILE_TYPES.map((f) => f.name).join(', ')})`);
  const note = opts.onNote ?? (() => {});
  const cfg = loadConfig(path.join(opts.input, 'config.json'));
  const ckpt = new Checkpoint(opts.input);
  let writer: GgufWriter | null = null;
  let pool = new QuantizePool(1);
  const inFlight: Array<Promise<Uint8Array>> = [];
  const onSignal = (signal: NodeJS.Signals) => {
    writer?.abort();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const numMtp = countMtpLayers(ckpt.names(), opts.input);
    const mtp = opts.mtp ?? true;
    const plan = planGgufExport(ckpt, cfg, numMtp, { mtp, name: path.basename(path.resolve(opts.input)) });
    const layer0 = cfg.layers[0]!.attention;
    const policy = new QuantPolicy(ft, {
      numBlocks: plan.numBlocks,
      numExperts: cfg.nRoutedExperts,
      gqa: layer0.numHeads / layer0.numKvHeads,
      hasOutput: true,
      numAttentionV: plan.tensors.filter((t) => t.name.includes('attn_v.weight')).length,
    });
    const tensors: GgufTensorPlan[] = plan.tensors.map((t) => ({ name: t.name, type: t.type ?? policy.typeOf(t.name, t.shape), shape: t.shape }));
    for (const [name, [want, got]] of policy.fallbacks) note(`${name}: rows of ${tensors.find((t) => t.name === name)!.shape.at(-1)} are not whole ${ggmlTypeName(want)} blocks; using ${ggmlTypeName(got)} (as llama-quantize does)`);
    if (plan.foldedRoutedScale !== null) note(`routed_scaling_factor ${plan.foldedRoutedScale} folded into ffn_down_exps (llama.cpp's mimo2 does not apply it)`);
    if (plan.paddedLayers.length) note(`V heads zero-padded to one value_length in blocks ${plan.paddedLayers.join(', ')} (exact)`);
    const tok = tokenizerGgufMetadata(opts.input, cfg.vocabSize, cfg.eosTokenIds);
    if (tok.placeholder) note(`${opts.input} has no tokenizer.json: a placeholder tokenizer is embedded (token ids only)`);
    const kvs: GgufKv[] = [...plan.kvs.slice(0, 2), { key: 'general.file_type', type: GGUF_TYPE.UINT32, value: ft.ftype }, ...plan.kvs.slice(2), ...tok.kvs];
    pool = new QuantizePool(Math.max(1, opts.threads ?? 1));
    writer = new GgufWriter(opts.output, kvs, tensors, opts.splitMaxBytes !== undefined ? { splitMaxBytes: opts.splitMaxBytes } : {});
    const total = tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    let done = 0;
    let bytes = 0;
    // Chunks in flight (quantised by the pool), written in file order; at most 2 per thread wait at a time.
    const maxInFlight = 2 * Math.max(1, pool.threads);
    const flush = async (keep: number): Promise<void> => {
      while (inFlight.length > keep) {
        const b = await inFlight.shift()!;
        writer!.write(b);
        bytes += b.length;
      }
    };
    for (const [i, t] of plan.tensors.entries()) {
      const type = tensors[i]!.type;
      opts.onProgress?.(done, total, t.name);
      if (t.vector) {
        const v = t.vector();
        const out = new Uint8Array(ggmlRowBytes(type, v.length));
        GGML_ROW_ENCODERS[type]!(v, 0, v.length, out, 0);
        inFlight.push(Promise.resolve(out));
        done += v.length;
        continue;
      }
      const rows = t.shape[t.shape.length - 2]!;
      const cols = t.shape[t.shape.length - 1]!;
      const rb = ggmlRowBytes(type, cols);
      const chunkRows = Math.max(1, Math.min(rows, Math.floor(CHUNK_ELEMENTS / cols)));
      const tmp = new Float32Array(t.vPad?.axis === 1 ? t.vPad.heads * t.vPad.vd : 0);
      // A large plain-dtype matrix is read chunk by chunk (peak memory stays a chunk, not the tensor).
      const byRows = t.slices === 1 && !t.vPad && t.rows !== undefined && t.rows(0, 1) !== null;
      for (let s = 0; s < t.slices!; s++) {
        const w = byRows ? null : t.weight!(s);
        if (w?.dtype === 'mxfp4') checkMxfp4Scales(w);
        const raw = w !== null && type === GGML_TYPE['MXFP4'] && w.dtype === 'mxfp4' && t.scale === undefined && !t.vPad;
        for (let r0 = 0; r0 < rows; r0 += chunkRows) {
          const n = Math.min(chunkRows, rows - r0);
          if (raw) {
            const out = new Uint8Array(n * rb);
            for (let k = 0; k < n; k++) repackMxfp4RowToGgml(w.data as Uint8Array, ((r0 + k) * cols) / 2, w.e8m0!, ((r0 + k) * cols) / 32, cols, out, k * rb);
            inFlight.push(Promise.resolve(out));
          } else {
            const buf = new Float32Array(n * cols);
            if (w === null) decodeRows(t, t.rows!(r0, n)!, 0, n, cols, buf, tmp);
            else decodeRows(t, w, r0, n, cols, buf, tmp);
            for (let c = 0; c < n * cols; c++) {
              if (!Number.isFinite(buf[c]!)) throw new RangeError(`${opts.input}: tensor ${t.name}${t.slices! > 1 ? ` expert ${s}` : ''} row ${r0 + Math.floor(c / cols)} holds ${buf[c]}; only finite weights can be quantised`);
            }
            inFlight.push(pool.encode(type, buf, n, cols));
          }
          done += n * cols;
          await flush(maxInFlight);
        }
        if (t.slices! > 1 && s % 4 === 3) opts.onProgress?.(done, total, t.name);
      }
      await new Promise((resolve) => setImmediate(resolve)); // let a progress bar repaint
    }
    await flush(0);
    opts.onProgress?.(total, total, '');
    const unused = ckpt.unusedTextTensors().filter((n) => mtp || !n.startsWith('model.mtp.'));
    if (unused.length) note(`${unused.length} checkpoint tensors were not written, e.g. ${unused.slice(0, 3).join(', ')}`);
    const paths = writer.finish();
    writer = null;
    const typeCounts: Record<string, number> = {};
    for (const t of tensors) typeCounts[ggmlTypeName(t.type)] = (typeCounts[ggmlTypeName(t.type)] ?? 0) + 1;
    return { paths, bytes, typeCounts, types: tensors.map((t) => [t.name, ggmlTypeName(t.type)]) };
  } catch (e) {
    for (const p of inFlight) p.catch(() => {}); // chunks still quantising: their results are not wanted
    writer?.abort();
    throw e;
  } finally {
    await pool.close();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    ckpt.close();
  }
}
