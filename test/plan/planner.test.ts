/**
 * The deployment planner's arithmetic, written out from config.json numbers (spec §1.1, §2.2–§2.4): weight bytes by
 * dtype, KV-cache bytes per token and per sequence, the smallest GPU count, the per-GPU bytes of its layout and the
 * sequences that fit, for MiMo-V2-Flash and MiMo-V2.5-Pro; the published checkpoint sizes and KV saving within 3%;
 * requantised sizes; a generated checkpoint priced from its headers.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RequestError } from '../../src/errors.js';
import { Checkpoint } from '../../src/loader/checkpoint.js';
import { loadConfig } from '../../src/model/mimo-v2/config.js';
import { initCheckpoint } from '../../src/model/mimo-v2/init.js';
import { loadPreset, PRESET_NUM_MTP_LAYERS } from '../../src/model/mimo-v2/presets.js';
import { countParameters } from '../../src/model/mimo-v2/stats.js';
import { countMtpLayers } from '../../src/model/mimo-v2/weights.js';
import { capacityBytes, findGpu, usableBytes } from '../../src/plan/gpus.js';
import { kvPlan, layoutsFor, planDeployment, type PlanInput } from '../../src/plan/planner.js';
import { checkpointWeightBytes, INT4_BYTES_PER_WEIGHT, presetWeightBytes, type WeightsFormat } from '../../src/plan/weights.js';

const MTP = PRESET_NUM_MTP_LAYERS; // 3
const within = (got: number, want: number, rel: number, what: string): void => {
  assert.ok(Math.abs(got - want) <= rel * want, `${what}: ${got} is not within ${rel * 100}% of ${want}`);
};

function input(preset: string, gpu: string, extra: Partial<PlanInput> = {}, format?: WeightsFormat): PlanInput {
  const { config } = loadPreset(preset);
  return {
    title: preset,
    modelPath: preset,
    config,
    multimodal: false,
    numMtpLayers: MTP,
    weights: presetWeightBytes(config, MTP, format),
    gpu: findGpu(gpu),
    contextTokens: 32768,
    concurrency: 1,
    kvDtype: 'bf16',
    cpuBandwidth: { bytesPerSecond: 50e9, source: 'test' },
    ...extra,
  };
}

// MiMo-V2-Flash config.json: hidden H = 4096, vocab V = 152576, 48 layers (9 full attention, 39 sliding window 128),
// 64 query heads, 4 KV heads (full) / 8 (sliding), q/k head dim 192, v head dim 128, layer 0 dense (16384), 47 MoE
// layers of 256 experts (2048), 8 per token; 3 MTP layers (sliding geometry, dense 16384).
const F = { H: 4096, V: 152576, L: 48, GA: 9, SWA: 39, E: 256, I: 2048, Id: 16384, Q: 64 * 192 };

describe('MiMo-V2-Flash arithmetic', () => {
  it('weight bytes by dtype from the config (official FP8 policy, spec §2.7)', () => {
    const w = presetWeightBytes(loadPreset('mimo-v2-flash').config, MTP);
    const { H, V, L, GA, SWA, E, I, Id, Q } = F;
    const kGA = 4 * 192, vGA = 4 * 128, kSWA = 8 * 192, vSWA = 8 * 128;
    // FP8 e4m3, 1 B/weight: q/k/v of 48 layers, layer-0 dense MLP, 47×256 experts × (gate, up, down), MTP q/k/v + MLP.
    const fp8 =
      L * Q * H + GA * (kGA + vGA) * H + SWA * (kSWA + vSWA) * H + 3 * Id * H + (L - 1) * E * 3 * I * H + MTP * ((Q + kSWA + vSWA) * H + 3 * Id * H);
    // BF16, 2 B: embedding + LM head, o_proj [H, 64·128], norms (final + 2 per layer), sinks of the sliding layers,
    // and per MTP layer eh_proj [H, 2H], o_proj, 5 norms, sink.
    const bf16 = 2 * (2 * V * H) + L * H * 64 * 128 * 2 + (1 + 2 * L) * H * 2 + SWA * 64 * 2 + MTP * (H * 2 * H * 2 + H * 64 * 128 * 2 + 5 * H * 2 + 64 * 2);
    // F32, 4 B: routers [E, H] + bias [E] of 47 layers, and every FP8 matrix's 128×128 scale grid (full-attention k_proj:
    // 4 chunks of 192 rows → 2 blocks each = 8 rows, spec §2.5).
    const scales =
      L * 96 * 32 + GA * (8 + 4) * 32 + SWA * (12 + 8) * 32 + (2 * 128 * 32 + 32 * 128) + (L - 1) * E * (2 * 16 * 32 + 32 * 16) + MTP * ((96 + 12 + 8) * 32 + 2 * 128 * 32 + 32 * 128);
    const f32 = (L - 1) * (E * H + E) * 4 + scales * 4;
    assert.deepEqual(w.byDtype, { F8_E4M3: fp8, BF16: bf16, F32: f32 });
    assert.equal(fp8, 306_655_002_624);
    assert.equal(w.total, fp8 + bf16 + f32);
    assert.equal(w.experts, (L - 1) * E * 3 * (I * H + 16 * 32 * 4)); // expert matrices + their [16, 32] F32 grids
  });

  it('KV bytes per token and per sequence (bf16)', () => {
    const kv = kvPlan(loadPreset('mimo-v2-flash').config, 32768, 'bf16', MTP);
    const perLayer = (kvHeads: number): number => kvHeads * (192 + 128) * 2; // K and V rows, 2 B each
    assert.deepEqual(kv.perToken, { full: 9 * perLayer(4), slidingWindow: 39 * perLayer(8), mtp: 3 * perLayer(8) });
    assert.deepEqual(kv.perToken, { full: 23_040, slidingWindow: 199_680, mtp: 15_360 });
    // Full layers hold every token; sliding and MTP layers a ring of the 128-token window.
    assert.equal(kv.perSequence.full, 23_040 * 32768);
    assert.equal(kv.perSequence.slidingWindow, 199_680 * 128);
    assert.equal(kv.perSequence.mtp, 15_360 * 128);
    assert.equal(kv.perSequence.total, 23_040 * 32768 + 199_680 * 128 + 15_360 * 128);
    // fp8 KV halves every figure.
    assert.equal(kvPlan(loadPreset('mimo-v2-flash').config, 32768, 'fp8', MTP).perToken.full, 23_040 / 2);
  });

  it('smallest fit on H200: 4 GPUs, tensor parallel 4, and the sequences that fit', () => {
    const inp = input('mimo-v2-flash', 'h200');
    const plan = planDeployment(inp);
    // 0.9 (the default --mem-fraction) of the 143,771 MiB an H200 reports.
    assert.equal(capacityBytes(inp.gpu), 143771 * 2 ** 20);
    const usable = Math.floor(143771 * 2 ** 20 * 0.9);
    assert.equal(usableBytes(inp.gpu), usable);
    const total = inp.weights.total; // 313,051,659,008 B
    // 1 GPU: 313 GB > 135.7 GB; 2 GPUs (tp 2): 156.5 GB > 135.7 GB; 3 GPUs split neither 64 heads nor 4 KV heads;
    // 4 GPUs (tp = num_key_value_heads = 4): 78.3 GB fits.
    assert.ok(total > usable && total / 2 > usable && total / 4 < usable);
    assert.deepEqual(layoutsFor(inp.config, 3, 8), []);
    assert.equal(plan.minGpus, 4);
    assert.deepEqual(plan.chosen.layout, { tp: 4, ep: 1, dp: 1, pp: 1, nodes: 1, gpus: 4, gpusPerNode: 4 });
    assert.equal(plan.chosen.weightBytesPerGpu, total / 4);
    // KV of a sequence per GPU: full layers' 4 KV heads and sliding/MTP layers' 8 KV heads both split 4 ways.
    const kvPerGpu = (23_040 * 32768 + 199_680 * 128 + 15_360 * 128) / 4;
    assert.equal(plan.chosen.kvBytesPerSequencePerGpu, kvPerGpu);
    assert.equal(plan.chosen.maxConcurrentSequences, Math.floor((usable - total / 4) / kvPerGpu));
  });

  it('our engine on a CPU: RAM = weights + f32 KV, decode ≤ bandwidth ÷ bytes read per token', () => {
    const inp = input('mimo-v2-flash', 'h200');
    const w = inp.weights;
    const { H, V } = F;
    // One decode step reads every trunk tensor except the embedding table (one BF16 row of it) and the routed experts
    // (8 of 256 per layer); MTP layers are not read.
    const active = w.total - w.mtp - w.experts - V * H * 2 + (w.experts * 8) / 256 + H * 2;
    assert.equal(w.activePerToken, Math.round(active));
    const plan = planDeployment(inp);
    const kvF32 = (23_040 * 32768 + (199_680 + 15_360) * 128) * 2; // f32 = twice the bf16 bytes
    assert.equal(plan.cpu.kvBytesPerSequence, kvF32);
    assert.equal(plan.cpu.ramBytes, w.total + kvF32);
    assert.equal(plan.cpu.decodeTokensPerSecondBound, 50e9 / (w.activePerToken + kvF32));
    assert.equal(plan.cpu.decodeTokensPerSecondBoundShortContext, 50e9 / w.activePerToken);
  });

  it('8 GPUs: data-parallel attention 2 × TP 4 with experts over all 8', () => {
    const inp = input('mimo-v2-flash', 'h200', { gpus: 8 });
    const plan = planDeployment(inp);
    assert.deepEqual(plan.chosen.layout, { tp: 4, ep: 8, dp: 2, pp: 1, nodes: 1, gpus: 8, gpusPerNode: 8 });
    const w = inp.weights;
    assert.equal(plan.chosen.weightBytesPerGpu, w.nonExpert / 4 + w.experts / 8);
    assert.equal(plan.comparison.tensorParallel, w.total / 8);
    assert.equal(plan.comparison.dataParallel, w.total / 4);
    const kvPerGpu = (23_040 * 32768 + (199_680 + 15_360) * 128) / 4;
    assert.equal(plan.chosen.maxConcurrentSequences, 2 * Math.floor((Math.floor(143771 * 2 ** 20 * 0.9) - (w.nonExpert / 4 + w.experts / 8)) / kvPerGpu));
  });
});

// MiMo-V2.5-Pro config.json: H = 6144, 70 layers (10 full, 60 sliding), 128 query heads, 8 KV heads in both layer
// kinds, fused qkv [27136, 6144] with an 8 × 27-row scale grid, 69 MoE layers of 384 experts (2048), 3 MTP layers.
describe('MiMo-V2.5-Pro arithmetic', () => {
  it('KV per token and the smallest fit on H200: one node of 8 at --mem-fraction 0.9; 2 nodes (2 × TP 8) at 0.85', () => {
    const inp = input('mimo-v2.5-pro', 'h200', { memFraction: 0.85 });
    const kvLayer = 8 * (192 + 128) * 2; // 5,120 B per layer per token
    const plan = planDeployment(inp);
    assert.deepEqual(plan.kv.perToken, { full: 10 * kvLayer, slidingWindow: 60 * kvLayer, mtp: 3 * kvLayer });
    const { H, V, Id, I } = { H: 6144, V: 152576, Id: 16384, I: 2048 };
    const experts = 69 * 384 * 3 * (I * H + 16 * 48 * 4); // FP8 matrices + [16, 48] F32 grids
    assert.equal(inp.weights.experts, experts);
    const fp8 = 70 * 27136 * H + 3 * Id * H + 69 * 384 * 3 * I * H + 3 * (27136 * H + 3 * Id * H);
    assert.equal(inp.weights.byDtype['F8_E4M3'], fp8);
    assert.equal(inp.weights.byDtype['BF16'], 2 * (2 * V * H) + 70 * H * 128 * 128 * 2 + 141 * H * 2 + 60 * 128 * 2 + 3 * (H * 2 * H * 2 + H * 128 * 128 * 2 + 5 * H * 2 + 128 * 2));
    const usable = Math.floor(143771 * 2 ** 20 * 0.85);
    // 8 GPUs (tp 8): 1,033.4 GB / 8 = 129.2 GB > 128.1 GB. 16 GPUs: dp 2 × tp 8 → non-experts / 8 + experts / 16.
    assert.ok(inp.weights.total / 8 > usable);
    assert.equal(plan.minGpus, 16);
    assert.deepEqual(plan.chosen.layout, { tp: 8, ep: 16, dp: 2, pp: 1, nodes: 2, gpus: 16, gpusPerNode: 8 });
    const perGpu = (inp.weights.total - experts) / 8 + experts / 16;
    assert.equal(plan.chosen.weightBytesPerGpu, perGpu);
    const kvPerGpu = (10 * kvLayer * 32768 + (60 + 3) * kvLayer * 128) / 8;
    assert.equal(plan.chosen.maxConcurrentSequences, 2 * Math.floor((usable - perGpu) / kvPerGpu));
    // At the default 0.9 (as SGLang/vLLM users run Pro on one 8×H200 node): 129.2 GB ≤ 135.7 GB, one node.
    const at90 = planDeployment(input('mimo-v2.5-pro', 'h200'));
    assert.ok(inp.weights.total / 8 <= Math.floor(143771 * 2 ** 20 * 0.9));
    assert.equal(at90.minGpus, 8);
    assert.deepEqual(at90.chosen.layout, { tp: 8, ep: 1, dp: 1, pp: 1, nodes: 1, gpus: 8, gpusPerNode: 8 });
  });

  it('fits one B200 node (180 GB): TP 8, as SGLang\'s cookbook runs it', () => {
    const plan = planDeployment(input('mimo-v2.5-pro', 'b200'));
    assert.equal(plan.minGpus, 8);
    assert.deepEqual(plan.chosen.layout, { tp: 8, ep: 1, dp: 1, pp: 1, nodes: 1, gpus: 8, gpusPerNode: 8 });
  });
});

describe('published figures (within 3%)', () => {
  it('MiMo-V2-Flash FP8 checkpoint ≈ 310 GB', () => {
    within(presetWeightBytes(loadPreset('mimo-v2-flash').config, MTP).total, 310e9, 0.03, 'Flash FP8 bytes'); // 313.05 GB
  });

  it('MiMo-V2.5: 293.4 GB(iB) published, including vision and audio towers the text preset leaves out', () => {
    // The published figure is the whole checkpoint (17 shards, 310,775,040,000 parameters, spec §2.1/§6) in GiB, and it
    // includes the 729M-parameter ViT and the 261M-parameter audio transformer (BF16). The mimo-v2.5 preset prices the
    // text model only (trunk + 3 MTP layers, as loaded by mimo.ts): 291.55 GiB.
    const { config } = loadPreset('mimo-v2.5');
    const text = presetWeightBytes(config, MTP).total;
    within(text / 2 ** 30, 293.4, 0.03, 'V2.5 text-only GiB');
    const towers = (729e6 + 261e6) * 2; // BF16
    within((text + towers) / 2 ** 30, 293.4, 0.002, 'V2.5 text + towers GiB');
    within(countParameters(config, MTP).totalWithMtp + 729e6 + 261e6, 310_775_040_000, 0.001, 'V2.5 parameters');
  });

  it('MiMo-V2.5-Pro FP8 checkpoint: 962.4 GiB', () => {
    within(presetWeightBytes(loadPreset('mimo-v2.5-pro').config, MTP).total / 2 ** 30, 962.4, 0.03, 'Pro GiB');
  });

  it('sliding-window KV saving for Flash vs all-full attention: 5.33× ("nearly 6×", spec §6)', () => {
    const kv = kvPlan(loadPreset('mimo-v2-flash').config, 256 * 1024, 'bf16', MTP);
    // All 48 layers with the full-attention geometry (4 KV heads): 48 × 2,560 B against the 9 full layers' 9 × 2,560 B.
    assert.equal(kv.allFullPerToken, 48 * 2560);
    within(kv.reduction, 48 / 9, 0.03, 'KV reduction');
    within(kv.reduction, 5.33, 0.03, 'KV reduction vs the spec');
    assert.ok(kv.reduction < 6, 'the report rounds up to "nearly 6×"');
    // At 256K the sequence's whole cache (with the bounded sliding-window ring) is still > 5.3× smaller.
    assert.ok((kv.allFullPerToken * 256 * 1024) / (kv.perSequence.full + kv.perSequence.slidingWindow) > 5.3);
  });
});

describe('requantised weights (--weights)', () => {
  const stored = presetWeightBytes(loadPreset('mimo-v2-flash').config, MTP);
  const fp8 = stored.byDtype['F8_E4M3']!; // one element per byte
  const routers = 47 * (256 * 4096 + 256) * 4; // the only F32 tensors that are not FP8 scales
  it('bf16: every FP8 matrix at 2 B/weight, scales dropped, the rest unchanged', () => {
    const w = presetWeightBytes(loadPreset('mimo-v2-flash').config, MTP, 'bf16');
    assert.equal(w.requantisedElements, fp8);
    assert.deepEqual(w.byDtype, { BF16: stored.byDtype['BF16']! + 2 * fp8, F32: routers });
  });
  it('int4: 4-bit codes + one 8-bit scale per 32 weights', () => {
    const w = presetWeightBytes(loadPreset('mimo-v2-flash').config, MTP, 'int4');
    assert.equal(INT4_BYTES_PER_WEIGHT, 0.53125);
    assert.equal(w.total, stored.byDtype['BF16']! + routers + fp8 * 0.53125);
    assert.ok(w.total < stored.total * 0.56);
  });
  it('fp8 of an FP8 release is the release', () => {
    assert.deepEqual(presetWeightBytes(loadPreset('mimo-v2-flash').config, MTP, 'fp8').byDtype, stored.byDtype);
  });
});

describe('a checkpoint priced from its headers', () => {
  let dir = '';
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-plan-'));
    await initCheckpoint({ preset: 'mimo-v2-flash', scale: 'tiny', outDir: dir, seed: 7, fp8: true });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('equals the header bytes and the config-computed bytes of the same config', () => {
    const config = loadConfig(path.join(dir, 'config.json'));
    const ckpt = new Checkpoint(dir);
    try {
      const n = countMtpLayers(ckpt.names(), dir);
      const w = checkpointWeightBytes(ckpt, config, n);
      assert.deepEqual(w.byDtype, ckpt.bytesByDtype());
      assert.deepEqual(w.byDtype, presetWeightBytes(config, n).byDtype);
      assert.equal(w.otherModalities, 0);
      assert.equal(checkpointWeightBytes(ckpt, config, n, 'bf16').total, presetWeightBytes(config, n, 'bf16').total);
    } finally {
      ckpt.close();
    }
  });
});

describe('bad requests', () => {
  it('name the option', () => {
    assert.throws(() => planDeployment(input('mimo-v2-flash', 'h200', { gpus: 2 })), (e: unknown) => e instanceof RequestError && e.param === '--gpus' && /smallest count that fits is 4/.test(e.message));
    assert.throws(() => planDeployment(input('mimo-v2.5', 'h200', { gpus: 6 })), (e: unknown) => e instanceof RequestError && e.param === '--gpus' && /multiple of 4/.test(e.message));
    assert.throws(() => planDeployment(input('mimo-v2-flash', 'h200', { gpus: 8, nodes: 3 })), (e: unknown) => e instanceof RequestError && e.param === '--nodes');
    assert.throws(() => planDeployment(input('mimo-v2-flash', 'h200', { contextTokens: 0 })), (e: unknown) => e instanceof RequestError && e.param === '--context');
    assert.throws(() => planDeployment(input('mimo-v2-flash', 'h200', { contextTokens: 262145 })), (e: unknown) => e instanceof RequestError && /max_position_embeddings/.test(e.message));
    assert.throws(() => planDeployment(input('mimo-v2-flash', 'h200', { concurrency: 1.5 })), (e: unknown) => e instanceof RequestError && e.param === '--concurrency');
    assert.throws(() => findGpu('h300'), (e: unknown) => e instanceof RequestError && e.param === '--gpu');
  });
});
