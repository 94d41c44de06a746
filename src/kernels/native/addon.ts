/**
 * Loads the compiled native addon (`build/Release/mimo_native.node`, built by node-gyp from binding.gyp and
 * native/src/ at install time) and describes its raw interface. Model code never uses this directly: the native
 * backend (./backend.ts) wraps it behind the `Backend` interface.
 *
 * Environment: `MIMO_NATIVE_DISABLE=1` makes the addon unloadable (to exercise the TypeScript fallback);
 * `MIMO_CPU=avx512bf16|avx512|avx2|scalar` forces the kernels' instruction-set level at first load.
 */
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BackendUnavailableError, RequestError } from '../../errors.js';
import { packageRoot } from '../../util/package-root.js';
import type { Weight, WeightDType } from '../backend.js';

/** Instruction-set level of the native kernels, best first. */
export type DispatchLevel = 'avx512bf16' | 'avx512' | 'avx2' | 'scalar';
export const DISPATCH_LEVELS: readonly DispatchLevel[] = ['avx512bf16', 'avx512', 'avx2', 'scalar'];

/** What the CPU (and OS) support, as detected by the addon. */
export interface CpuFeatures {
  avx512f: boolean;
  avx512bw: boolean;
  avx512vl: boolean;
  avx512dq: boolean;
  avx512bf16: boolean;
  avx512vnni: boolean;
  avx2: boolean;
  fma: boolean;
  f16c: boolean;
}

/**
 * The addon's exports. Outputs are caller-allocated; every function validates lengths and throws TypeError /
 * RangeError naming the op and argument instead of touching memory out of bounds. All activations float32.
 */
export interface NativeAddon {
  /**
   * y `[T, rows]` = x `[T, cols]` · Wᵀ with W `[rows, cols]` in its stored dtype (`data`: Float32Array for f32,
   * Uint16Array bit patterns for bf16/f16, Uint8Array E4M3 codes for fp8 with `scales [scaleRows, scaleCols]`,
   * `blockCols` and `rowScale [rows]`; mxfp4: Uint8Array packed codes `[rows, cols/2]`, `scales` a Uint8Array of
   * E8M0 bytes `[rows, cols/32]`, scaleCols = cols/32, blockCols = 32, rowScale null; pass null/0 for the
   * scale arguments otherwise); ggml (a GGUF block-quantised weight): Uint8Array of `rows` rows of whole blocks of
   * ggml type `ggmlType` (one of {@link NativeAddon.ggmlTypes}; cols a multiple of its block), scale arguments null/0.
   * Float32 accumulation; block weights are dequantised in registers to the reference's f32 values.
   * `activations` 'int8' (a ggml weight of Q4_0, Q5_0, Q8_0, IQ4_NL or MXFP4 only): the 8-bit-activation path, bitwise
   * kernels/reference/q8-activations.ts (a Weight passed to moeExperts carries it as `activations`).
   * @throws RangeError naming the type when a ggml type has no kernel, cols is not whole blocks or data is short, or
   *   'int8' activations are asked for another dtype or type
   */
  matmul(
    y: Float32Array,
    x: Float32Array,
    T: number,
    dtype: WeightDType,
    data: Float32Array | Uint16Array | Uint8Array,
    rows: number,
    cols: number,
    scales: Float32Array | Uint8Array | null,
    scaleCols: number,
    blockCols: number,
    rowScale: Int32Array | null,
    ggmlType?: number,
    activations?: 'int8',
  ): void;
  /** ggml type ids (ggml.h `enum ggml_type`) whose blocks matmul and moeExperts run as stored, ascending. */
  ggmlTypes(): number[];
  /**
   * Quantise a float32 matrix src `[rows, cols]` (row-major) to ggml type `type` (one of
   * {@link NativeAddon.ggmlQuantizeTypes}; cols a multiple of its block) into dst (rows · ggmlRowBytes(type, cols)
   * bytes, the rows back to back): bitwise the bytes of the TypeScript encoders (src/tensor/formats/ggml/), scalar
   * on the calling thread. Block types check each row for a non-finite value before encoding it.
   * @returns −1, or the flat index r · cols + c of the first non-finite value (the rows before it are written)
   * @throws RangeError for a type without a native encoder, cols not whole blocks, or src / dst too short
   */
  quantizeGgml(type: number, src: Float32Array, rows: number, cols: number, dst: Uint8Array): number;
  /** ggml type ids quantizeGgml writes, ascending. */
  ggmlQuantizeTypes(): number[];
  /** Largest T for which a matmul's row results do not depend on the call's other rows (see Backend.rowInvariantRows). */
  rowInvariantRows(): number;
  /** y `[T, D]` = weight ⊙ x / sqrt(mean(x²) + eps), D = weight.length (bitwise equal to the reference). */
  rmsNorm(y: Float32Array, x: Float32Array, T: number, weight: Float32Array, eps: number): void;
  /** Partial rotate-half RoPE in place on x `[T, heads, headDim]`, positions start … start+T−1. */
  rope(x: Float32Array, T: number, heads: number, headDim: number, rotaryDim: number, theta: number, start: number): void;
  /** y = silu(gate) ⊙ up. */
  swiglu(y: Float32Array, gate: Float32Array, up: Float32Array): void;
  /** out `[T, Hq, Dv]`; arguments as in `AttentionInput` (window null = full causal; sinks `[Hq]` or null). */
  attention(
    out: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    start: number,
    T: number,
    numHeads: number,
    numKvHeads: number,
    headDim: number,
    vHeadDim: number,
    window: number | null,
    sinks: Float32Array | null,
    pastKeys: Float32Array | Uint16Array,
    pastValues: Float32Array | Uint16Array,
    pastRows: number,
  ): void;
  /**
   * Full causal attention over a page table: out `[T, Hq, Dv]`; cached position p in row p mod pageSize of
   * pageKeys[⌊p / pageSize⌋] `[pageSize, Hkv, Dqk]` / pageValues (all Float32Array or all Uint16Array BF16 bits).
   * Bitwise `attention` over the same rows in one buffer. Throws RangeError / TypeError on missing or short pages.
   */
  attentionPaged(
    out: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    start: number,
    T: number,
    numHeads: number,
    numKvHeads: number,
    headDim: number,
    vHeadDim: number,
    sinks: Float32Array | null,
    pageKeys: readonly (Float32Array | Uint16Array)[],
    pageValues: readonly (Float32Array | Uint16Array)[],
    pageSize: number,
  ): void;
  /**
   * The routed experts of a MoE layer in one call: out `[T, D]` (D = x.length / T; zeroed by the call) = Σ over
   * selected experts j in the given order and their rows i ∈ [rowStart[j], rowStart[j+1]) of
   * rowWeights[i] · down_j(silu(gate_j·x[rows[i]]) ⊙ up_j·x[rows[i]]), each expert's rows run as one batch in the given
   * order. `weights` `[3·nSel]`: gate `[I, D]`, up `[I, D]`, down `[D, I]` of each selected expert (any stored dtype;
   * an mxfp4 weight carries its E8M0 bytes as `e8m0`, a ggml weight its type as `ggmlType`);
   * rowStart `[nSel + 1]` strictly increasing from 0 to rows.length; rows, rowWeights `[nRouted]`, rows in [0, T).
   * Float64 accumulation of the terms into float32, bitwise equal to matmul → swiglu → matmul per expert plus that sum.
   */
  moeExperts(out: Float32Array, x: Float32Array, T: number, weights: readonly Weight[], rowStart: Int32Array, rows: Int32Array, rowWeights: Float32Array): void;
  /** Threads used by the kernels, the calling thread included (default: hardware concurrency). */
  setThreads(n: number): void;
  getThreads(): number;
  cpuFeatures(): CpuFeatures;
  /** Forces an instruction-set level; throws an Error naming the missing feature when this CPU cannot run it. */
  setDispatch(level: DispatchLevel): void;
  getDispatch(): DispatchLevel;
  /** The best level this CPU supports (the default). */
  bestDispatch(): DispatchLevel;
  /**
   * Read-only private mapping of a whole file, or of the window [offset, offset + length) (offset page-aligned), as
   * an ArrayBuffer (unmapped when collected); Error names the path. One mapping holds at most 4 GiB − 1 bytes (Node's
   * limit for external buffers): a larger whole file is an Error, map it in windows.
   */
  mmapFile(path: string, offset?: number, length?: number): ArrayBuffer;
  /**
   * Unmaps a buffer of `mmapFile` now and detaches it (its views then have length 0); TypeError for any other buffer
   * or one already released. An empty buffer (of an empty file) is left as is.
   */
  unmapFile(buffer: ArrayBuffer): void;
  /**
   * Bytes per second read by `threads` threads summing a freshly touched buffer of `bytes` (best of `repeats`), with
   * ordinary 4 KiB pages like weights in JS memory or a mapped file, or transparent huge pages when `hugePages`.
   */
  memReadBandwidth(bytes: number, threads: number, repeats: number, hugePages?: boolean): number;
  /** Microseconds per empty parallel op (one task per thread), median of 5 batches of `iterations`. */
  dispatchOverheadUs(iterations: number): number;
}

/** Absolute path of the compiled addon inside the package. */
export function nativeAddonPath(): string {
  return path.join(packageRoot(), 'build', 'Release', 'mimo_native.node');
}

let loaded: NativeAddon | undefined;

/** `: <cause>` of the last failed build (scripts/build-native.mjs writes build/native-build-failure.txt), or ''. */
function lastBuildFailure(): string {
  try {
    return `: the build failed: ${fs.readFileSync(path.join(packageRoot(), 'build', 'native-build-failure.txt'), 'utf8').trim()}`;
  } catch {
    return '';
  }
}

/**
 * The native addon, loaded once; `MIMO_CPU` is applied at the first load.
 * @throws BackendUnavailableError with the reason when `MIMO_NATIVE_DISABLE=1`, the addon was not built, it fails to
 *   load, or `MIMO_CPU` names a level this CPU cannot run.
 * @throws RequestError('MIMO_CPU') when `MIMO_CPU` is not avx512bf16, avx512, avx2 or scalar.
 */
export function loadNativeAddon(): NativeAddon {
  if (process.env.MIMO_NATIVE_DISABLE === '1') {
    throw new BackendUnavailableError('native addon disabled by MIMO_NATIVE_DISABLE=1');
  }
  if (loaded) return loaded;
  const file = nativeAddonPath();
  if (!fs.existsSync(file)) {
    throw new BackendUnavailableError(`native addon not built: ${file} is missing${lastBuildFailure()} (run \`npm run build:native\`; it needs g++, make and Node's C headers, which it takes from the Node install when present)`);
  }
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(file) as NativeAddon;
  } catch (e) {
    throw new BackendUnavailableError(`native addon ${file} failed to load: ${(e as Error).message} (rebuild with \`npm run build:native\`)`);
  }
  const cpu = process.env.MIMO_CPU;
  if (cpu !== undefined && cpu !== '') {
    if (!(DISPATCH_LEVELS as readonly string[]).includes(cpu)) {
      throw new RequestError('MIMO_CPU', `must be one of ${DISPATCH_LEVELS.join(', ')}, got '${cpu}'`);
    }
    try {
      addon.setDispatch(cpu as DispatchLevel);
    } catch (e) {
      throw new BackendUnavailableError(`MIMO_CPU=${cpu}: ${(e as Error).message}`);
    }
  }
  loaded = addon;
  return addon;
}
