/**
 * Synthetic checkpoints for tests, in the official layout: the tensor list of `mimo init` (planCheckpoint) for a
 * tiny MiMo-V2-Flash with a chosen vocabulary, written as F32 with values from a callback (or seeded noise).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../src/engine/rng.js';
import { writeSafetensors } from '../../src/loader/safetensors.js';
import { parseConfig, type MiMoConfig } from '../../src/model/mimo-v2/config.js';
import { planCheckpoint, type PlannedTensor } from '../../src/model/mimo-v2/init.js';
import { loadPreset } from '../../src/model/mimo-v2/presets.js';
import { scaledConfig } from '../../src/model/mimo-v2/scale.js';

/** Values of one tensor `[numel]`, or null for seeded noise with the plan's mean and std. */
export type TensorValues = (t: PlannedTensor, cfg: MiMoConfig) => Float32Array | null;

/**
 * Write a tiny Flash-layout checkpoint (single model.safetensors, F32) into a fresh temp dir and return it.
 * @param overrides config.json keys to change (e.g. vocab_size)
 */
export function writeSyntheticCheckpoint(opts: { overrides?: Record<string, unknown>; numMtpLayers?: number; seed?: number; values?: TensorValues }): string {
  const raw = { ...scaledConfig(loadPreset('mimo-v2-flash').raw, 'tiny'), eos_token_id: null, pad_token_id: null, ...opts.overrides };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-synthetic-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(raw, null, 2));
  const cfg = parseConfig(raw, path.join(dir, 'config.json'));
  const rng = Rng.fromSeed(opts.seed ?? 1);
  const plan = planCheckpoint(cfg, { fp8: false, numMtpLayers: opts.numMtpLayers ?? 3 });
  writeSafetensors(
    path.join(dir, 'model.safetensors'),
    plan.map((t) => ({
      name: t.name,
      dtype: 'F32' as const,
      shape: t.shape,
      bytes: () => {
        let v = opts.values?.(t, cfg) ?? null;
        if (!v) {
          v = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
          rng.fillNormal(v, t.std, t.mean);
        }
        return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      },
    })),
  );
  return dir;
}

/**
 * A model whose trunk and every MTP layer predict next = (token + 1) mod V exactly: one-hot embeddings, an LM head
 * that maps token t to t + 1, every o_proj and down_proj zero (attention and MLPs add nothing to the residual), and
 * eh_proj = [I | 0] so MTP layers read only the token embedding. Needs hidden_size ≥ vocab_size.
 */
export const successorValues: TensorValues = (t, cfg) => {
  const V = cfg.vocabSize;
  const D = cfg.hiddenSize;
  const n = t.shape.reduce((a, b) => a * b, 1);
  const name = t.name;
  if (name === 'model.embed_tokens.weight') {
    const v = new Float32Array(n);
    for (let i = 0; i < V; i++) v[i * D + i] = 1;
    return v;
  }
  if (name === 'lm_head.weight') {
    const v = new Float32Array(n);
    for (let j = 0; j < V; j++) v[j * D + ((j - 1 + V) % V)] = 1;
    return v;
  }
  if (name.endsWith('eh_proj.weight')) {
    const v = new Float32Array(n);
    for (let i = 0; i < D; i++) v[i * 2 * D + i] = 1;
    return v;
  }
  if (/(norm|layernorm)\.weight$/.test(name)) return new Float32Array(n).fill(1);
  if (name.endsWith('o_proj.weight') || name.endsWith('down_proj.weight')) return new Float32Array(n);
  return null;
};
