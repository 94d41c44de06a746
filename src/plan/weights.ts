/**
 * Weight bytes for the planner: by dtype, split into routed experts and everything else (what tensor, expert and
 * data parallelism shard differently), and the bytes one decoded token reads. From a preset (the official dtype
 * policy, stats.ts) or a checkpoint's safetensors headers (nothing else is read). `--weights bf16|int4|fp8`
 * re-prices the matrices the release stores as FP8 (every q/k/v or fused qkv, dense MLP, routed-expert and MTP MLP
 * matrix, spec §2.7) as if requantised; embeddings, LM head, norms, o_proj, eh_proj, sinks and routers keep their
 * stored dtype. Source: spec §2.2–§2.7, §0 (MXFP4 experts of MiMo-V2.6).
 */
import { CheckpointError } from '../errors.js';
import type { Checkpoint } from '../loader/checkpoint.js';
import type { MiMoConfig } from '../model/mimo-v2/config.js';
import { groupBytesByDtype, weightInventory, type Component, type WeightGroup } from '../model/mimo-v2/stats.js';

/** Weight format to price: as stored, or the FP8-policy matrices requantised to one of these. */
export type WeightsFormat = 'fp8' | 'bf16' | 'int4';
export const WEIGHTS_FORMATS: readonly WeightsFormat[] = ['fp8', 'bf16', 'int4'];

/** Block of the FP8 scale grid assumed when requantising an unquantised checkpoint to FP8 (the release's). */
export const FP8_BLOCK: [number, number] = [128, 128];
/**
 * Bytes per weight of `--weights int4`: 4-bit codes plus one 8-bit shared scale per 32 weights (the MXFP4 layout,
 * `mxfp4_block_size: 32`, that MiMo-V2.6 ships for its experts; spec §0, §1.1) = 0.5 + 1/32.
 */
export const INT4_BYTES_PER_WEIGHT = 0.5 + 1 / 32;
/** Label of int4 bytes in `byDtype`. */
export const INT4_DTYPE = 'INT4 (+E8M0 per 32)';

/** Weight bytes of a model under one format. */
export interface WeightBytes {
  /** 'stored' = exactly as the checkpoint (or the preset's official release) stores them. */
  format: WeightsFormat | 'stored';
  /** Bytes by safetensors dtype (`F8_E4M3`, `BF16`, `F32` incl. FP8 scales) or {@link INT4_DTYPE}. */
  byDtype: Record<string, number>;
  /** All bytes an engine loads: text model, MTP layers and any other-modality tensors. */
  total: number;
  /** Routed-expert matrices (and their scales), all layers. */
  experts: number;
  /** total − experts: attention, dense MLPs, embeddings, LM head, norms, routers, MTP, other modalities. */
  nonExpert: number;
  /** Tensors outside the text model (`visual.*`, `audio_encoder.*`, …), checkpoint only; part of nonExpert. */
  otherModalities: number;
  /** MTP layers (part of nonExpert). */
  mtp: number;
  /**
   * Bytes one decode step reads (one sequence): every trunk tensor except the embedding table and routed experts,
   * K/E of each MoE layer's experts, the LM head and one embedding row. MTP layers and other modalities excluded.
   */
  activePerToken: number;
  /** Elements re-priced by `--weights` (0 when stored). */
  requantisedElements: number;
  /** One sentence saying how the bytes were obtained. */
  method: string;
}

/** One group of identical tensors with its stored bytes (per tensor, weight + FP8 scale) and dtype. */
interface PricedGroup {
  group: WeightGroup;
  /** Whether the official release stores these matrices as FP8 (requantisable). */
  fp8Policy: boolean;
  /** Stored bytes of all `count` tensors, by dtype (weight and scale). */
  storedByDtype: Record<string, number>;
  storedBytes: number;
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const add = (r: Record<string, number>, k: string, n: number): void => {
  r[k] = (r[k] ?? 0) + n;
};

/** The inventory under the official FP8 policy (even for an unquantised config), paired with the config's own. */
function policyGroups(cfg: MiMoConfig, numMtpLayers: number): { policy: WeightGroup; stored: WeightGroup }[] {
  const policy = weightInventory({ ...cfg, weightBlockSize: cfg.weightBlockSize ?? FP8_BLOCK }, numMtpLayers);
  const stored = weightInventory(cfg, numMtpLayers);
  return policy.map((p, i) => ({ policy: p, stored: stored[i]! }));
}

/** Matrices the official release quantises (FP8, or MXFP4 for V2.6's experts): those `--weights` re-prices. */
function isQuantisedPolicy(g: WeightGroup): boolean {
  return g.storage === 'fp8' || g.storage === 'mxfp4';
}

/** Stored bytes of a preset: the official release's dtypes (stats.ts), group by group. */
function presetGroups(cfg: MiMoConfig, numMtpLayers: number): PricedGroup[] {
  return policyGroups(cfg, numMtpLayers).map(({ policy, stored }) => {
    const storedByDtype = groupBytesByDtype(stored);
    const storedBytes = Object.values(storedByDtype).reduce((a, b) => a + b, 0);
    return { group: policy, fp8Policy: isQuantisedPolicy(policy), storedByDtype, storedBytes };
  });
}

/**
 * Stored bytes of a checkpoint from its headers: every expected text tensor (and its `_scale_inv`); the rest are other
 * modalities (`visual.*`, `audio_encoder.*`, …), by dtype.
 * @throws CheckpointError naming the first expected tensor the checkpoint lacks
 */
function checkpointGroups(ckpt: Checkpoint, cfg: MiMoConfig, numMtpLayers: number): { groups: PricedGroup[]; other: Record<string, number> } {
  const seen = new Set<string>();
  const groups = policyGroups(cfg, numMtpLayers).map(({ policy }) => {
    const storedByDtype: Record<string, number> = {};
    for (let e = 0; e < policy.count; e++) {
      const name = policy.name.replace('{e}', String(e));
      for (const n of [name, `${name}_scale_inv`, `${name}_scale`]) {
        const info = ckpt.info(n);
        if (!info) {
          if (n === name) throw new CheckpointError(ckpt.dir, `${name} not found in any shard; expected shape [${policy.shape.join(', ')}] from config.json`);
          continue;
        }
        add(storedByDtype, info.rawDtype, info.sizeBytes);
        seen.add(n);
      }
    }
    const storedBytes = Object.values(storedByDtype).reduce((a, b) => a + b, 0);
    return { group: policy, fp8Policy: isQuantisedPolicy(policy), storedByDtype, storedBytes };
  });
  const other: Record<string, number> = {};
  for (const n of ckpt.names()) {
    if (seen.has(n)) continue;
    const info = ckpt.info(n)!;
    add(other, info.rawDtype, info.sizeBytes);
  }
  return { groups, other };
}

/** Bytes of a group of FP8-policy matrices re-priced as `format`, by dtype. */
function requantised(g: WeightGroup, format: WeightsFormat): Record<string, number> {
  const elements = numel(g.shape) * g.count;
  if (format === 'bf16') return { BF16: elements * 2 };
  if (format === 'int4') return { [INT4_DTYPE]: elements * INT4_BYTES_PER_WEIGHT };
  const scales = g.scaleShape ?? [Math.ceil(g.shape[0]! / FP8_BLOCK[0]), Math.ceil(g.shape[1]! / FP8_BLOCK[1])];
  return { F8_E4M3: elements, F32: numel(scales) * g.count * 4 };
}

function summarise(groups: PricedGroup[], other: Record<string, number>, cfg: MiMoConfig, format: WeightsFormat | undefined, source: string): WeightBytes {
  const byDtype: Record<string, number> = {};
  let experts = 0;
  let mtp = 0;
  let activePerToken = 0;
  let requantisedElements = 0;
  for (const p of groups) {
    const bytes = format && p.fp8Policy ? requantised(p.group, format) : p.storedByDtype;
    const sum = Object.values(bytes).reduce((a, b) => a + b, 0);
    for (const [d, n] of Object.entries(bytes)) add(byDtype, d, n);
    if (format && p.fp8Policy) requantisedElements += numel(p.group.shape) * p.group.count;
    const component: Component = p.group.component;
    if (component === 'experts') experts += sum;
    if (component === 'mtp') mtp += sum;
    else if (component === 'embedding') activePerToken += sum / cfg.vocabSize;
    else activePerToken += (sum * p.group.activeCount) / p.group.count;
  }
  let otherModalities = 0;
  for (const [d, n] of Object.entries(other)) {
    add(byDtype, d, n);
    otherModalities += n;
  }
  const total = Object.values(byDtype).reduce((a, b) => a + b, 0);
  const how =
    format === undefined
      ? ''
      : format === 'bf16'
        ? 'FP8-policy matrices (q/k/v or fused qkv, dense and expert MLPs, MTP MLPs) re-priced as BF16, 2 B/weight, scales dropped'
        : format === 'int4'
          ? `FP8-policy matrices re-priced as 4-bit weights + one 8-bit scale per 32 weights (MXFP4 layout), ${INT4_BYTES_PER_WEIGHT} B/weight`
          : `FP8-policy matrices priced as FP8 e4m3, 1 B/weight, + F32 scales on ${FP8_BLOCK[0]}×${FP8_BLOCK[1]} blocks`;
  return {
    format: format ?? 'stored',
    byDtype,
    total,
    experts,
    nonExpert: total - experts,
    otherModalities,
    mtp,
    activePerToken: Math.round(activePerToken),
    requantisedElements,
    method: how === '' ? source : `${source}; ${how}; other tensors as stored`,
  };
}

/**
 * Weight bytes of a preset (official release: FP8 e4m3 matrices + F32 128×128 block scales, BF16 embeddings / LM
 * head / norms / o_proj / eh_proj / sinks, F32 routers), optionally re-priced as `format`.
 * @param numMtpLayers MTP layers to include (3 in the release)
 */
export function presetWeightBytes(cfg: MiMoConfig, numMtpLayers: number, format?: WeightsFormat): WeightBytes {
  return summarise(presetGroups(cfg, numMtpLayers), {}, cfg, format, 'computed from config.json under the official dtype policy (spec §2.7)');
}

/**
 * Weight bytes of an open checkpoint from its safetensors headers (no tensor data is read), optionally re-priced.
 * @throws CheckpointError when an expected text tensor is missing
 */
export function checkpointWeightBytes(ckpt: Checkpoint, cfg: MiMoConfig, numMtpLayers: number, format?: WeightsFormat): WeightBytes {
  const { groups, other } = checkpointGroups(ckpt, cfg, numMtpLayers);
  return summarise(groups, other, cfg, format, `read from the safetensors headers of ${ckpt.dir}`);
}
