/**
 * A random-weight MiMo-V2-Flash checkpoint whose every matrix row is a multiple of 256, for K-quant, IQ4 and MXFP4
 * tests that must not pass by fallback: hidden 256, 4 query heads (q/k 96, v 64 → o_proj rows of 256), 1/2 KV heads,
 * widths 256, 4 experts (top 2; not 8, which llama-quantize treats specially), 6 layers + 1 MTP layer, vocab 512
 * (no tokenizer files), BF16 weights.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeSafetensors } from '../../src/loader/safetensors.js';
import { parseConfig } from '../../src/model/mimo-v2/config.js';
import { planCheckpoint } from '../../src/model/mimo-v2/init.js';
import { loadPreset } from '../../src/model/mimo-v2/presets.js';
import { scaledConfig } from '../../src/model/mimo-v2/scale.js';
import { numberToBf16Bits } from '../../src/tensor/dtype.js';
import { rng } from './kernel-check.js';

/** Raw config of the test checkpoint: MiMo-V2-Flash tiny, widened so every matrix row is a multiple of 256. */
export function k256Config(): Record<string, unknown> {
  return {
    ...scaledConfig(loadPreset('mimo-v2-flash').raw, 'tiny'),
    hidden_size: 256,
    head_dim: 96,
    swa_head_dim: 96,
    v_head_dim: 64,
    swa_v_head_dim: 64,
    intermediate_size: 256,
    moe_intermediate_size: 256,
    n_routed_experts: 4,
    num_experts_per_tok: 2,
    vocab_size: 512,
    eos_token_id: 511,
    pad_token_id: 510,
  };
}

/** Deterministic N(mean, std) BF16 bytes. */
function bf16Bytes(n: number, mean: number, std: number, seed: number): Uint8Array {
  const u = rng(seed);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = numberToBf16Bits(mean + std * Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u()));
  return new Uint8Array(out.buffer);
}

/**
 * Write the checkpoint into `dir` (created; must not exist).
 * @param opts.fixedRouting selection biases 2, 1, −1, −2 (scores are in (0, 1)): every token picks experts 0 and 1
 *   whatever rounding an engine applies, so a cross-engine comparison measures the arithmetic, not routing flips of
 *   near-tied random routers
 * @param opts.config config.json keys to override
 */
export function makeK256Checkpoint(dir: string, opts: { fixedRouting?: boolean; config?: Record<string, unknown> } = {}): void {
  const raw = { ...k256Config(), ...opts.config };
  const cfg = parseConfig(raw, 'k256 config');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(raw));
  const plan = planCheckpoint(cfg, { fp8: false, numMtpLayers: 1 });
  writeSafetensors(path.join(dir, 'model.safetensors'), plan.map((t, i) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    bytes: () => (opts.fixedRouting && t.name.endsWith('e_score_correction_bias') ? new Uint8Array(Float32Array.from([2, 1, -1, -2]).buffer) : t.dtype === 'BF16' ? bf16Bytes(t.shape.reduce((a, b) => a * b, 1), t.mean, t.std, i + 1) : new Uint8Array(new Float32Array(t.shape.reduce((a, b) => a * b, 1)).map((_, j) => Math.sin(j + i) * 0.1).buffer)),
  })));
}
