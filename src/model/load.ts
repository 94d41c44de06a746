/**
 * Load a model directory: config.json → per-layer plan, weights through the checkpoint loader, reference or
 * other backend. Source: STYLE.md "registry"; spec §1–2.
 */
import * as path from 'node:path';
import type { Backend } from '../kernels/backend.js';
import { referenceBackend } from '../kernels/reference/ops.js';
import { Checkpoint } from '../loader/checkpoint.js';
import type { FileMapper } from '../loader/safetensors.js';
import { loadConfig, type MiMoConfig } from './mimo-v2/config.js';
import { MiMoModel } from './mimo-v2/model.js';
import { loadWeights, type LoadReport } from './mimo-v2/weights.js';

export interface LoadedModel {
  model: MiMoModel;
  config: MiMoConfig;
  report: LoadReport;
  /** Wall time of the load, seconds. */
  loadSeconds: number;
}

/**
 * Load a MiMo-V2 checkpoint directory (official layout: config.json + safetensors).
 * @param opts.backend compute backend (default: the TypeScript reference)
 * @param opts.map whole-file read-only mapper (the native addon's mmap): weights become views of the mapped files
 * @throws ConfigError for config problems, CheckpointError for file/tensor problems (each names file and key/tensor)
 */
export function loadModel(dir: string, opts: { backend?: Backend; map?: FileMapper } = {}): LoadedModel {
  const t0 = performance.now();
  const config = loadConfig(path.join(dir, 'config.json'));
  const ckpt = new Checkpoint(dir, { map: opts.map });
  try {
    const { weights, report } = loadWeights(ckpt, config);
    const model = new MiMoModel(config, weights, opts.backend ?? referenceBackend);
    return { model, config, report, loadSeconds: (performance.now() - t0) / 1000 };
  } finally {
    ckpt.close();
  }
}
