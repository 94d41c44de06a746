/**
 * `mimo plan (--preset NAME | --model DIR) --gpu h200|h100|a100-80g|b200|l40s|rtx4090 [--gpus N] [--nodes N]
 * [--context T] [--concurrency C] [--weights fp8|bf16|int4] [--kv-dtype fp8|bf16] [--cpu-bandwidth GB/s] [--json]`:
 * will it fit, on how many GPUs, with which layout, how many sequences of T tokens beside the weights, the SGLang
 * and vLLM commands for that layout, and what our engine needs on a CPU (src/plan/). Reads config.json and
 * safetensors headers only. With `--json` stdout is one JSON object on one line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { RequestError } from '../../errors.js';
import { loadNativeAddon } from '../../kernels/native/addon.js';
import { Checkpoint } from '../../loader/checkpoint.js';
import { loadConfig } from '../../model/mimo-v2/config.js';
import { loadPreset, PRESET_NUM_MTP_LAYERS } from '../../model/mimo-v2/presets.js';
import { countMtpLayers } from '../../model/mimo-v2/weights.js';
import { findGpu, gpuIds } from '../../plan/gpus.js';
import { hfRepoOf } from '../../plan/launch-commands.js';
import { FALLBACK_CPU_BANDWIDTH } from '../../plan/cpu.js';
import { PLAN_KV_DTYPES, planDeployment, type PlanInput, type PlanKvDtype } from '../../plan/planner.js';
import { formatPlanReport, planJson } from '../../plan/report.js';
import { checkpointWeightBytes, presetWeightBytes, WEIGHTS_FORMATS, type WeightBytes, type WeightsFormat } from '../../plan/weights.js';

interface PlanFlags {
  model?: string;
  preset?: string;
  gpu?: string;
  gpus?: string;
  nodes?: string;
  context?: string;
  concurrency?: string;
  weights?: string;
  kvDtype: string;
  cpuBandwidth?: string;
  memFraction?: string;
  json: boolean;
}

/** Buffer of the bandwidth probe (bytes) and passes over it: large enough to leave the caches, quick to run. */
const PROBE_BYTES = 256 * 2 ** 20;
const PROBE_REPEATS = 3;

/**
 * A positive whole number; `k`/`m` suffixes multiply by 1024 / 1024² (for token counts: `32k`, `1m`).
 * @throws RequestError naming the option otherwise
 */
export function parseCount(option: string, value: string, suffixes = false): number {
  const m = /^(\d+)([kKmM]?)$/.exec(value.trim());
  const scale = !m || !m[2] ? 1 : m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024;
  const n = m ? Number(m[1]) * scale : NaN;
  if (!m || (m[2] && !suffixes) || !Number.isSafeInteger(n) || n < 1) {
    throw new RequestError(option, `must be a positive whole number${suffixes ? ' (k = 1024, m = 1024²)' : ''}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function choice<T extends string>(option: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw new RequestError(option, `expected one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** CPU read bandwidth: the option (GB/s), else measured by the native addon, else the fallback. */
function cpuBandwidth(option: string | undefined): PlanInput['cpuBandwidth'] {
  if (option !== undefined) {
    const gbps = Number(option);
    if (option.trim() === '' || !Number.isFinite(gbps) || gbps <= 0) throw new RequestError('--cpu-bandwidth', `must be a positive number of GB/s, got ${JSON.stringify(option)}`);
    return { bytesPerSecond: gbps * 1e9, source: `given (--cpu-bandwidth ${option})` };
  }
  const threads = os.availableParallelism();
  try {
    const bytesPerSecond = loadNativeAddon().memReadBandwidth(PROBE_BYTES, threads, PROBE_REPEATS);
    return { bytesPerSecond, source: `measured here (native addon, ${threads} threads, ${PROBE_BYTES / 2 ** 20} MiB, best of ${PROBE_REPEATS})` };
  } catch (e) {
    return { bytesPerSecond: FALLBACK_CPU_BANDWIDTH, source: `assumed ${FALLBACK_CPU_BANDWIDTH / 1e9} GB/s (not measured: ${(e as Error).message.split('\n')[0]}); pass --cpu-bandwidth` };
  }
}

/** Model facts for the planner from a preset or a checkpoint directory (headers only). */
function loadModel(flags: PlanFlags, format: WeightsFormat | undefined): Pick<PlanInput, 'title' | 'modelPath' | 'config' | 'multimodal' | 'numMtpLayers' | 'weights'> {
  const multimodalKeys = (raw: Record<string, unknown>): boolean => Object.keys(raw).some((k) => /^(vision|audio)_/.test(k));
  if (flags.preset !== undefined) {
    const { raw, config } = loadPreset(flags.preset);
    return {
      title: flags.preset,
      modelPath: hfRepoOf(flags.preset) ?? flags.preset,
      config,
      multimodal: multimodalKeys(raw),
      numMtpLayers: PRESET_NUM_MTP_LAYERS,
      weights: presetWeightBytes(config, PRESET_NUM_MTP_LAYERS, format),
    };
  }
  const dir = flags.model!;
  if (dir === '') throw new RequestError('--model', 'is empty');
  const file = path.join(dir, 'config.json');
  const config = loadConfig(file);
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  const ckpt = new Checkpoint(dir);
  let numMtpLayers: number;
  let weights: WeightBytes;
  try {
    numMtpLayers = countMtpLayers(ckpt.names(), dir);
    weights = checkpointWeightBytes(ckpt, config, numMtpLayers, format);
  } finally {
    ckpt.close();
  }
  return { title: dir, modelPath: dir, config, multimodal: multimodalKeys(raw) || weights.otherModalities > 0, numMtpLayers, weights };
}

/** Context each sequence must fit when --context is not given, tokens. */
const DEFAULT_CONTEXT = 32768;

/** `--mem-fraction`: a number in (0, 1]. @throws RequestError('--mem-fraction') otherwise */
function parseFraction(value: string): number {
  const f = Number(value);
  if (value.trim() === '' || !Number.isFinite(f) || f <= 0 || f > 1) throw new RequestError('--mem-fraction', `must be a number in (0, 1] such as 0.9, got ${JSON.stringify(value)}`);
  return f;
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('GPUs, layout, KV capacity and SGLang/vLLM launch commands for serving a model; RAM and decode bound on a CPU')
    .option('--preset <name>', 'a published config: mimo-v2-flash, mimo-v2-flash-base, mimo-v2.5, mimo-v2.5-pro')
    .option('--model <dir>', 'checkpoint directory (config.json and safetensors headers are read)')
    .option('--gpu <id>', 'GPU kind (data/gpus.json): h200, h100, a100-80g, b200, l40s, rtx4090')
    .option('--gpus <n>', 'use exactly this many GPUs in total, over all nodes (default: the smallest count that fits)')
    .option('--nodes <n>', 'spread over this many nodes (default: as few as hold the GPUs)')
    .option('--context <tokens>', 'context length each sequence must fit, tokens; k/m suffixes (default: 32768 or max_position_embeddings if smaller; the launch commands then carry the largest context that fits)')
    .option('--concurrency <n>', 'sequences of --context tokens that must fit at once (default: 1)')
    .option('--weights <format>', 'price the FP8-policy matrices as fp8, bf16 or int4 (default: as stored)')
    .option('--kv-dtype <dtype>', 'KV-cache element type: bf16 or fp8', 'bf16')
    .option('--mem-fraction <f>', "fraction of each GPU's memory for weights + KV cache, as SGLang's --mem-fraction-static / vLLM's --gpu-memory-utilization (default: 0.9, vLLM's default)")
    .option('--cpu-bandwidth <GB/s>', 'CPU memory read bandwidth for the decode bound (default: measured by the native addon)')
    .option('--json', 'print one JSON object', false)
    .action((flags: PlanFlags) => {
      if ((flags.model === undefined) === (flags.preset === undefined)) throw new RequestError('--model/--preset', 'give exactly one of --model DIR or --preset NAME');
      if (flags.gpu === undefined) throw new RequestError('--gpu', `is required: one of ${gpuIds().join(', ')}`);
      const gpu = findGpu(flags.gpu);
      const gpus = flags.gpus === undefined ? undefined : parseCount('--gpus', flags.gpus);
      const nodes = flags.nodes === undefined ? undefined : parseCount('--nodes', flags.nodes);
      const concurrency = parseCount('--concurrency', flags.concurrency ?? '1');
      const format = flags.weights === undefined ? undefined : choice('--weights', flags.weights, WEIGHTS_FORMATS);
      const kvDtype = choice<PlanKvDtype>('--kv-dtype', flags.kvDtype, PLAN_KV_DTYPES);
      const requested = flags.context === undefined ? undefined : parseCount('--context', flags.context, true);
      const memFraction = flags.memFraction === undefined ? undefined : parseFraction(flags.memFraction);
      const model = loadModel(flags, format);
      const maxPos = model.config.maxPositionEmbeddings;
      const plan = planDeployment({
        ...model,
        gpu,
        gpus,
        nodes,
        contextTokens: requested ?? Math.min(DEFAULT_CONTEXT, maxPos ?? DEFAULT_CONTEXT),
        contextRequested: requested !== undefined,
        ...(memFraction !== undefined ? { memFraction } : {}),
        concurrency,
        kvDtype,
        cpuBandwidth: cpuBandwidth(flags.cpuBandwidth),
      });
      process.stdout.write(flags.json ? `${JSON.stringify(planJson(plan))}\n` : formatPlanReport(plan));
    });
}
