/**
 * Load a model: a checkpoint directory (config.json → per-layer plan, weights through the safetensors loader) or a
 * GGUF file (config rebuilt from its mimo2.* metadata, weights through the GGUF loader), on the reference or another
 * backend. Source: STYLE.md "registry"; spec §1–2.
 */
import * as path from 'node:path';
import type { Backend } from '../kernels/backend.js';
import { referenceBackend } from '../kernels/reference/ops.js';
import { Checkpoint } from '../loader/checkpoint.js';
import { GgufCheckpoint } from '../loader/gguf-checkpoint.js';
import { GgufModelFiles, resolveGgufPaths, type GgufValue } from '../loader/gguf.js';
import type { FileMapper } from '../loader/safetensors.js';
import { loadConfig, type MiMoConfig } from './mimo-v2/config.js';
import { ggufModelFacts, mapGgufNames } from './mimo-v2/gguf.js';
import { MiMoModel } from './mimo-v2/model.js';
import { loadWeights, type LoadReport } from './mimo-v2/weights.js';
import { GGML_TYPE } from '../tensor/formats/ggml/types.js';
import { fastUnavailable, parsePrecision, withInt8Activations, type Precision } from './precision.js';

export interface LoadedModel {
  model: MiMoModel;
  config: MiMoConfig;
  report: LoadReport;
  /** Wall time of the load, seconds. */
  loadSeconds: number;
  /** The precision it runs at, and how many linear weights use 8-bit activations (0 for 'exact'). */
  precision: Precision;
  int8Weights: number;
  /** For a GGUF model: its file(s) and metadata (tokenizer.ggml.*, tokenizer.chat_template …). */
  gguf?: { files: string[]; metadata: Record<string, GgufValue> };
}

/**
 * ggml block types the native backend runs as stored (its kernels dequantise them in registers, native/src/
 * ggml_blocks.h); a GGUF tensor of another type with a TypeScript decoder is dequantised to f32 at load for it.
 * Equal to the addon's `ggmlTypes()` (test/kernels/ggml-kernels.test.ts checks).
 */
export const NATIVE_GGML_TYPES: ReadonlySet<number> = new Set<number>(
  ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_NL', 'IQ4_XS', 'MXFP4'].map((n) => GGML_TYPE[n]!),
);

export interface LoadModelOptions {
  backend?: Backend;
  map?: FileMapper;
  /**
   * 'exact' (default): float32 activations everywhere. 'fast': 8-bit activations for a GGUF's Q4_0/Q5_0/Q8_0/IQ4_NL/
   * MXFP4 weights (model/precision.ts); refused (RequestError 'precision') for a checkpoint directory or a GGUF
   * with no such weight.
   */
  precision?: Precision;
  /** Where notes about the load go (a GGUF's block tensors dequantised for a backend without their kernel); default stderr. */
  onNote?: (message: string) => void;
}

/**
 * Load a MiMo-V2 model: a checkpoint directory (official layout: config.json + safetensors), or a GGUF of
 * architecture mimo2 (a `.gguf` file, the first part of a split set, or a directory holding one GGUF model).
 * @param opts.backend compute backend (default: the TypeScript reference)
 * @param opts.map whole-file read-only mapper (the native addon's mmap): weights become views of the mapped files
 * @throws ConfigError for config / metadata problems, CheckpointError for file/tensor problems (each names file and
 *   key/tensor)
 */
export function loadModel(dir: string, opts: LoadModelOptions = {}): LoadedModel {
  const t0 = performance.now();
  const precision = parsePrecision(opts.precision);
  const ggufPaths = resolveGgufPaths(dir);
  if (ggufPaths) return loadGgufModel(ggufPaths, opts, t0, precision);
  if (precision === 'fast') throw fastUnavailable(dir, 'a safetensors checkpoint directory (FP8/BF16 weights have no 8-bit-activation path)');
  const config = loadConfig(path.join(dir, 'config.json'));
  const ckpt = new Checkpoint(dir, { map: opts.map });
  try {
    const { weights, report } = loadWeights(ckpt, config);
    const model = new MiMoModel(config, weights, opts.backend ?? referenceBackend);
    return { model, config, report, loadSeconds: (performance.now() - t0) / 1000, precision, int8Weights: 0 };
  } finally {
    ckpt.close();
  }
}

function loadGgufModel(paths: string[], opts: LoadModelOptions, t0: number, precision: Precision): LoadedModel {
  const backend = opts.backend ?? referenceBackend;
  const files = new GgufModelFiles(paths, opts.map);
  try {
    const facts = ggufModelFacts(files);
    const { map, unmapped } = mapGgufNames(files.tensors, facts.numLayers);
    const reference = backend === referenceBackend || backend.name === 'ts';
    const ckpt = new GgufCheckpoint(files, map, unmapped, {
      keepGgml: (t) => reference || NATIVE_GGML_TYPES.has(t),
      onNote: opts.onNote ?? ((m) => process.stderr.write(`${m}\n`)),
    });
    const loaded = loadWeights(ckpt, facts.config);
    const { report } = loaded;
    let weights = loaded.weights;
    let int8Weights = 0;
    if (precision === 'fast') {
      const r = withInt8Activations(weights);
      if (r.marked === 0) throw fastUnavailable(paths[0]!, 'a GGUF without weights of those types');
      weights = r.weights;
      int8Weights = r.marked;
    }
    ckpt.reportDequantised(backend.name);
    const model = new MiMoModel(facts.config, weights, backend);
    return { model, config: facts.config, report, loadSeconds: (performance.now() - t0) / 1000, precision, int8Weights, gguf: { files: paths, metadata: files.metadata } };
  } finally {
    files.close();
  }
}
