/**
 * A checkpoint directory in the official Hugging Face layout: `model.safetensors`, or shards listed by
 * `model.safetensors.index.json` (`weight_map`: tensor name → file). Tensors are resolved through the index
 * (a weight and its scale may sit in different shards), read lazily one at a time, and every read is recorded so
 * that loading can report tensors nobody used. File names in the index must stay inside the directory (no absolute
 * paths, no `..`); symbolic links placed in the directory are followed, as the Hugging Face cache layout needs
 * (`snapshots/<rev>/file` → `../../blobs/<sha>`). Source: spec §2.1, fixtures/README §1 "Sharding".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from '../errors.js';
import type { Weight } from '../kernels/backend.js';
import { decodeToF32, DTYPE_BYTES } from '../tensor/dtype.js';
import { dequantize } from '../tensor/weight.js';
import { numel, SafetensorsFile, type FileMapper, type TensorInfo } from './safetensors.js';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/** A decoded tensor: float32 data in row-major order with its shape. */
export interface F32Tensor {
  shape: number[];
  data: Float32Array;
}

/** Prefixes of the text model; anything else (`visual.*`, `audio_encoder.*`, `speech_embeddings.*`) is skipped. */
export const TEXT_PREFIXES = ['model.', 'lm_head.'] as const;

/** True when the tensor belongs to the text model (by prefix, never by substring). */
export function isTextTensor(name: string): boolean {
  return TEXT_PREFIXES.some((p) => name.startsWith(p));
}

/** A typed view of `bytes` when aligned for the element size, else a typed copy. */
function typedView<T extends Float32Array | Uint16Array>(bytes: Uint8Array, Ctor: { new (b: ArrayBufferLike, o: number, n: number): T; new (n: number): T; BYTES_PER_ELEMENT: number }): T {
  const n = bytes.byteLength / Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(bytes.buffer, bytes.byteOffset, n);
  const copy = new Ctor(n);
  new Uint8Array(copy.buffer).set(bytes);
  return copy;
}

/** True when `p` lies inside directory `dir` (both resolved; `..foo` names are fine, `../foo` is not). */
function isInside(dir: string, p: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(p));
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

/** Open checkpoint directory. Call {@link Checkpoint.close} when done. */
/** A weight `[rows, cols]` of a plain stored dtype (F32, BF16 or F16) over its bytes (no copy). */
function plainWeight(dtype: 'F32' | 'BF16' | 'F16', rows: number, cols: number, bytes: Uint8Array, name: string, file: string): Weight {
  if (dtype === 'F32') return { rows, cols, dtype: 'f32', data: typedView(bytes, Float32Array), name, file };
  return { rows, cols, dtype: dtype === 'BF16' ? 'bf16' : 'f16', data: typedView(bytes, Uint16Array), name, file };
}

export class Checkpoint {
  private readonly files = new Map<string, SafetensorsFile>();
  private readonly where = new Map<string, SafetensorsFile>();
  private readonly used = new Set<string>();

  /**
   * @param dir checkpoint directory
   * @throws CheckpointError when the directory or its weights are missing, the index is malformed or names a file
   *   outside the directory, a file is hostile (see SafetensorsFile), or a tensor listed by the index is absent.
   */
  /**
   * @param opts.map maps a whole file read-only (e.g. the native addon's mmap); tensors are then views into the
   *   mapping instead of fresh reads, so weights never pass through the JS heap
   */
  constructor(
    readonly dir: string,
    private readonly opts: { map?: FileMapper } = {},
  ) {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CheckpointError(dir, 'not a directory');
    try {
      const indexPath = path.join(dir, INDEX_FILE);
      if (fs.existsSync(indexPath)) this.openIndex(indexPath);
      else if (fs.existsSync(path.join(dir, SINGLE_FILE))) this.openSingle(path.join(dir, SINGLE_FILE));
      else throw new CheckpointError(dir, `neither ${SINGLE_FILE} nor ${INDEX_FILE} found`);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private openSingle(file: string): void {
    const f = new SafetensorsFile(file, this.opts.map);
    this.files.set(file, f);
    for (const name of f.tensors.keys()) this.where.set(name, f);
  }

  private openIndex(indexPath: string): void {
    let index: unknown;
    try {
      index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
    } catch (e) {
      throw new CheckpointError(indexPath, `not valid JSON (${(e as Error).message})`);
    }
    const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
    if (!weightMap || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
      throw new CheckpointError(indexPath, 'weight_map: missing or not an object');
    }
    for (const [name, fileName] of Object.entries(weightMap as Record<string, unknown>)) {
      if (typeof fileName !== 'string' || fileName.length === 0) {
        throw new CheckpointError(indexPath, `weight_map.${name}: file name is not a string`);
      }
      const full = path.resolve(this.dir, fileName);
      let f = this.files.get(full);
      if (!f) {
        if (path.isAbsolute(fileName) || !isInside(this.dir, full)) {
          throw new CheckpointError(indexPath, `weight_map.${name}: file ${JSON.stringify(fileName)} lies outside the model directory`);
        }
        if (!fs.existsSync(full)) throw new CheckpointError(indexPath, `weight_map.${name}: file ${fileName} does not exist`);
        if (!fs.statSync(full).isFile()) throw new CheckpointError(indexPath, `weight_map.${name}: ${fileName} is not a regular file`);
        f = new SafetensorsFile(full, this.opts.map);
        this.files.set(full, f);
      }
      if (!f.tensors.has(name)) throw new CheckpointError(f.path, `tensor ${name} is listed in ${INDEX_FILE} but not in this file`);
      this.where.set(name, f);
    }
  }

  /** Every tensor name of the checkpoint (index order / header order). */
  names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  /** Header entry of a tensor, or undefined. Does not mark the tensor used. */
  info(name: string): TensorInfo | undefined {
    return this.where.get(name)?.tensors.get(name);
  }

  /**
   * The raw stored bytes of a tensor (a view of the mapping when the checkpoint maps its files, else a fresh read);
   * does not mark the tensor used.
   * @throws CheckpointError when the tensor is absent
   */
  tensorBytes(name: string): Uint8Array {
    const f = this.where.get(name);
    if (!f) throw new CheckpointError(this.dir, `${name} not found in any shard`);
    return f.view(name);
  }

  /** Path of the file holding a tensor (for error messages). */
  fileOf(name: string): string {
    return this.where.get(name)?.path ?? this.dir;
  }

  /**
   * Header entry of a tensor the model needs; marks it used.
   * @throws CheckpointError naming the tensor, the directory and the expected shape when absent or mis-shaped.
   */
  require(name: string, expectedShape?: readonly number[]): TensorInfo {
    const info = this.info(name);
    if (!info) {
      const want = expectedShape ? `; expected shape [${expectedShape.join(', ')}] from config.json` : '';
      throw new CheckpointError(this.dir, `${name} not found in any shard${want}`);
    }
    if (expectedShape && (info.shape.length !== expectedShape.length || info.shape.some((d, i) => d !== expectedShape[i]))) {
      throw new CheckpointError(
        this.fileOf(name),
        `tensor ${name} has shape [${info.shape.join(', ')}], expected [${expectedShape.join(', ')}] from config.json`,
      );
    }
    this.used.add(name);
    return info;
  }

  /** Read and decode one tensor to float32 (BF16/F16/F32/FP8 codes without scales/I64); marks it used. */
  readF32(name: string, expectedShape?: readonly number[]): F32Tensor {
    const info = this.require(name, expectedShape);
    const bytes = this.where.get(name)!.readBytes(name);
    return { shape: info.shape.slice(), data: decodeToF32(bytes, info.dtype!, numel(info.shape)) };
  }

  /**
   * Rows [r0, r0 + n) of a 2-D F32 / BF16 / F16 weight `[R, C]` as a weight `[n, C]` in its stored dtype, read from
   * disk without the rest of the tensor; null for other dtypes (FP8's block scales span rows: read it whole). Marks
   * the tensor used.
   * @throws CheckpointError naming the tensor when it is absent, mis-shaped, or the rows lie outside it
   */
  readStoredRows(name: string, expectedShape: readonly [number, number], r0: number, n: number): Weight | null {
    const info = this.require(name, expectedShape);
    const [R, C] = expectedShape;
    if (r0 < 0 || n < 0 || r0 + n > R) throw new CheckpointError(this.fileOf(name), `tensor ${name}: rows [${r0}, ${r0 + n}) lie outside its ${R} rows`);
    const dtype = info.dtype;
    if (dtype !== 'F32' && dtype !== 'BF16' && dtype !== 'F16') return null;
    const size = DTYPE_BYTES[dtype];
    return plainWeight(dtype, n, C, this.where.get(name)!.readRange(name, r0 * C * size, n * C * size), name, this.fileOf(name));
  }

  /**
   * Read a 2-D weight in its stored dtype (F32, BF16, F16, or F8_E4M3 with its `weight_scale_inv` sibling), without
   * converting it (spec §2.5). The FP8 scale grid is per chunk: with `chunks` = n, row r lies in chunk
   * c = ⌊r / (R/n)⌋ and uses scale row c·⌈(R/n)/b0⌉ + ⌊(r mod R/n)/b0⌋ (recorded in `rowScale`). `chunks` may list
   * several candidate counts (tried in order; the first whose grid shape matches is used) for split projections
   * whose exporter used a per-rank grid (Flash full-attention k_proj); fused qkv passes exactly one (from config).
   * @param blockSize `quantization_config.weight_block_size` [b0, b1]; required when the tensor is FP8
   * @throws CheckpointError when the dtype is not a weight dtype, the scale is missing, its grid matches no
   *   candidate, or a scale is not finite.
   */
  readStoredWeight(name: string, expectedShape: readonly [number, number], blockSize: readonly [number, number] | null, chunks: readonly number[] = [1]): Weight {
    const pre = this.info(name);
    if (pre?.dtype === 'U8') {
      const expert = /\.mlp\.experts\.\d+\./.test(name);
      throw new CheckpointError(
        this.fileOf(name),
        expert
          ? `tensor ${name} is U8 (packed MXFP4), but config.json's quantization_config has no store_dtype "mxfp4"`
          : `tensor ${name} is U8, but only routed experts may be stored as MXFP4 (U8); this tensor must be F32, BF16, F16 or F8_E4M3`,
      );
    }
    const info = this.require(name, expectedShape);
    const [R, C] = expectedShape;
    const file = this.fileOf(name);
    const bytes = () => this.where.get(name)!.view(name);
    switch (info.dtype) {
      case 'F32':
      case 'BF16':
      case 'F16':
        return plainWeight(info.dtype, R, C, bytes(), name, file);
      case 'F8_E4M3':
        break;
      default:
        throw new CheckpointError(file, `tensor ${name}: dtype ${info.rawDtype} is not supported for a weight (F32, BF16, F16, F8_E4M3)`);
    }
    const scaleName = `${name}_scale_inv`;
    if (!blockSize) throw new CheckpointError(file, `tensor ${name} is F8_E4M3 but config.json has no quantization_config.weight_block_size`);
    if (!this.has(scaleName)) throw new CheckpointError(this.dir, `${scaleName} not found in any shard (FP8 tensor ${name} needs its block scales)`);
    const [b0, b1] = blockSize;
    const scaleInfo = this.require(scaleName);
    if (scaleInfo.dtype !== 'F32' && scaleInfo.dtype !== 'BF16' && scaleInfo.dtype !== 'F16') {
      throw new CheckpointError(this.fileOf(scaleName), `tensor ${scaleName} has dtype ${scaleInfo.rawDtype}; block scales must be floating point (F32)`);
    }
    const scaleCols = Math.ceil(C / b1);
    const candidates = chunks.filter((n) => n >= 1 && R % n === 0);
    if (candidates.length === 0) throw new CheckpointError(file, `tensor ${name}: no chunk count among ${chunks.join(', ')} divides its ${R} rows`);
    const n = candidates.find((k) => scaleInfo.shape.length === 2 && scaleInfo.shape[0] === k * Math.ceil(R / k / b0) && scaleInfo.shape[1] === scaleCols);
    if (n === undefined) {
      const want = candidates.map((k) => `[${k * Math.ceil(R / k / b0)}, ${scaleCols}]${k > 1 ? ` (${k} chunks)` : ''}`).join(' or ');
      throw new CheckpointError(this.fileOf(scaleName), `tensor ${scaleName} has shape [${scaleInfo.shape.join(', ')}], expected ${want} for a [${R}, ${C}] weight with blocks [${b0}, ${b1}]`);
    }
    const scales = this.readF32(scaleName).data;
    for (let i = 0; i < scales.length; i++) {
      if (!Number.isFinite(scales[i]!)) throw new CheckpointError(this.fileOf(scaleName), `tensor ${scaleName}: scale ${i} is ${scales[i]} (not finite)`);
    }
    const chunkRows = R / n;
    const blocksPerChunk = Math.ceil(chunkRows / b0);
    const rowScale = new Int32Array(R);
    for (let r = 0; r < R; r++) {
      const c = Math.floor(r / chunkRows);
      rowScale[r] = c * blocksPerChunk + Math.floor((r - c * chunkRows) / b0);
    }
    return { rows: R, cols: C, dtype: 'fp8', data: bytes(), scales, scaleCols, blockCols: b1, rowScale, name, file };
  }

  /**
   * Read a routed expert's MXFP4 weight (MiMo-V2.6, spec §2.8): U8 codes `[R, C/2]` and the U8 E8M0 sibling
   * `<name>_scale` `[R, C/32]`, both as views (no copy, no scan; the scale bytes are checked when the weight is first
   * used, see checkMxfp4Scales).
   * @param expectedShape the logical shape [R, C] from config.json; C must be a multiple of 32
   * @throws CheckpointError naming the tensor for a dtype other than U8, a wrong shape, C not a multiple of 32, a
   *   missing `weight_scale`, or a scale whose dtype or shape is not U8 `[R, C/32]`
   */
  readMxfp4Weight(name: string, expectedShape: readonly [number, number]): Weight {
    const [R, C] = expectedShape;
    const info = this.info(name);
    if (!info) throw new CheckpointError(this.dir, `${name} not found in any shard; expected U8 [${R}, ${C / 2}] (MXFP4) from config.json`);
    const file = this.fileOf(name);
    if (info.dtype !== 'U8') {
      throw new CheckpointError(file, `tensor ${name} has dtype ${info.rawDtype}, but quantization_config.store_dtype "mxfp4" stores routed experts as U8 (packed FP4 e2m1)`);
    }
    if (C % 32 !== 0) throw new CheckpointError(file, `tensor ${name}: its input dimension ${C} is not a multiple of the MXFP4 block of 32 columns`);
    this.require(name, [R, C / 2]);
    const scaleName = `${name}_scale`;
    const sInfo = this.info(scaleName);
    if (!sInfo) {
      const hint = this.has(`${name}_scale_inv`) ? ` (found ${name}_scale_inv, the FP8 scale name: MXFP4 scales are named weight_scale)` : '';
      throw new CheckpointError(this.dir, `${scaleName} not found in any shard (MXFP4 tensor ${name} needs its E8M0 scales)${hint}`);
    }
    if (sInfo.dtype !== 'U8') throw new CheckpointError(this.fileOf(scaleName), `tensor ${scaleName} has dtype ${sInfo.rawDtype}; MXFP4 scales are U8 E8M0 exponents`);
    if (sInfo.shape.length !== 2 || sInfo.shape[0] !== R || sInfo.shape[1] !== C / 32) {
      throw new CheckpointError(this.fileOf(scaleName), `tensor ${scaleName} has shape [${sInfo.shape.join(', ')}], expected [${R}, ${C / 32}] ([out, in/32]) for a logical [${R}, ${C}] MXFP4 weight`);
    }
    this.require(scaleName);
    const data = this.where.get(name)!.view(name);
    const e8m0 = this.where.get(scaleName)!.view(scaleName);
    return { rows: R, cols: C, dtype: 'mxfp4', data, e8m0, name, file };
  }

  /** {@link readStoredWeight} dequantised to float32 (the reference values of the weight). */
  readWeight(name: string, expectedShape: readonly [number, number], blockSize: readonly [number, number] | null, chunks: readonly number[] = [1]): F32Tensor {
    const w = dequantize(this.readStoredWeight(name, expectedShape, blockSize, chunks));
    return { shape: [w.rows, w.cols], data: w.data as Float32Array };
  }

  /** Text-model tensors never read (e.g. a tensor the config does not account for). */
  unusedTextTensors(): string[] {
    return this.names().filter((n) => isTextTensor(n) && !this.used.has(n));
  }

  /** Tensors of other modalities, skipped by prefix. */
  skippedTensors(): string[] {
    return this.names().filter((n) => !isTextTensor(n));
  }

  /** Sum of all tensor bytes, grouped by dtype string. */
  bytesByDtype(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const n of this.names()) {
      const i = this.info(n)!;
      out[i.rawDtype] = (out[i.rawDtype] ?? 0) + i.sizeBytes;
    }
    return out;
  }

  close(): void {
    for (const f of this.files.values()) f.close();
  }
}
