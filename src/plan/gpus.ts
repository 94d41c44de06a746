/**
 * GPU facts for the deployment planner, read from `data/gpus.json` (memory in bytes — datasheet and, where sourced,
 * what the device reports —, HBM/GDDR bandwidth in bytes/s, GPU-to-GPU link, GPUs per node, the pages each figure
 * comes from) and the default fraction of memory an engine may use for weights + KV cache (0.9, vLLM's
 * --gpu-memory-utilization default; issue 14). The list of GPUs is the data file, not code.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MimoError, RequestError } from '../errors.js';
import { packageRoot } from '../util/package-root.js';

/** One GPU model (see data/gpus.json for the meaning of each field). */
export interface GpuSpec {
  /** Key on the command line: `h200`, `a100-80g`, … */
  id: string;
  name: string;
  /** Datasheet capacity in bytes (GB read as 10^9 bytes). */
  memoryBytes: number;
  /** Capacity the device reports (nvidia-smi memory.total), bytes, when a source shows it. */
  deviceMemoryBytes?: number;
  deviceMemorySource?: string;
  /** A consumer card (no data-center node design). */
  consumer?: boolean;
  memoryType: string;
  /** Datasheet peak memory bandwidth, bytes/s. */
  memoryBandwidthBytesPerSecond: number;
  interconnect: string;
  /** Per-GPU GPU-to-GPU bandwidth, bytes/s (NVLink total, or the PCIe x16 link). */
  interconnectBytesPerSecond: number;
  gpusPerNode: number;
  node: string;
  /** Whether the GPU has FP8 tensor cores. */
  fp8: boolean;
  note?: string;
  sources: string[];
}

/** The parsed data file. */
export interface GpuTable {
  /** Default fraction of each GPU's memory for weights + KV cache (0.9); the rest is left for activations and runtime. */
  defaultMemFraction: number;
  gpus: Record<string, GpuSpec>;
}

/** Path of the GPU data file: `<package root>/data/gpus.json`. */
export function gpusFile(): string {
  return path.join(packageRoot(), 'data', 'gpus.json');
}

let cached: GpuTable | undefined;

const positive = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;

/**
 * Load and check data/gpus.json once.
 * @throws MimoError naming the file and entry when it is unreadable or an entry lacks a positive memory size,
 *   bandwidth, GPUs per node or a source (a broken install, not a user mistake).
 */
export function loadGpuTable(): GpuTable {
  if (cached) return cached;
  const file = gpusFile();
  let raw: { defaultMemFraction?: unknown; gpus?: Record<string, Record<string, unknown>> };
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MimoError(`${file}: cannot read the GPU table (${(e as Error).message})`);
  }
  const fraction = raw.defaultMemFraction;
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction <= 1)) throw new MimoError(`${file}: defaultMemFraction must be a number in (0, 1]`);
  const gpus: Record<string, GpuSpec> = {};
  for (const [id, g] of Object.entries(raw.gpus ?? {})) {
    const bad = (field: string): MimoError => new MimoError(`${file}: gpus.${id}.${field} is missing or invalid`);
    if (!positive(g['memoryBytes'])) throw bad('memoryBytes');
    if (g['deviceMemoryBytes'] !== undefined && (!positive(g['deviceMemoryBytes']) || typeof g['deviceMemorySource'] !== 'string')) throw bad('deviceMemoryBytes');
    if (!positive(g['memoryBandwidthBytesPerSecond'])) throw bad('memoryBandwidthBytesPerSecond');
    if (!positive(g['interconnectBytesPerSecond'])) throw bad('interconnectBytesPerSecond');
    if (!Number.isSafeInteger(g['gpusPerNode']) || (g['gpusPerNode'] as number) < 1) throw bad('gpusPerNode');
    const sources = g['sources'];
    if (!Array.isArray(sources) || sources.length === 0 || !sources.every((s) => typeof s === 'string' && s.length > 0)) throw bad('sources');
    gpus[id] = { ...(g as unknown as Omit<GpuSpec, 'id'>), id, sources: sources as string[] };
  }
  if (Object.keys(gpus).length === 0) throw new MimoError(`${file}: no GPUs listed`);
  cached = { defaultMemFraction: fraction, gpus };
  return cached;
}

/** GPU keys accepted by `--gpu`, in data-file order. */
export function gpuIds(): string[] {
  return Object.keys(loadGpuTable().gpus);
}

/**
 * The GPU named on the command line.
 * @throws RequestError('--gpu') listing the known GPUs when `id` is not one of them.
 */
export function findGpu(id: string): GpuSpec {
  const gpu = loadGpuTable().gpus[id.trim().toLowerCase()];
  if (!gpu) throw new RequestError('--gpu', `unknown GPU ${JSON.stringify(id)}; known GPUs: ${gpuIds().join(', ')} (data/gpus.json)`);
  return gpu;
}

/** The capacity engines size their memory fraction against: the device-reported bytes when known, else the datasheet's. */
export function capacityBytes(gpu: GpuSpec): number {
  return gpu.deviceMemoryBytes ?? gpu.memoryBytes;
}

/**
 * Bytes of one GPU usable for weights and KV cache: capacity × memory fraction (as SGLang's --mem-fraction-static and
 * vLLM's --gpu-memory-utilization take it).
 * @param memFraction in (0, 1]; default data/gpus.json defaultMemFraction
 */
export function usableBytes(gpu: GpuSpec, memFraction = loadGpuTable().defaultMemFraction): number {
  return Math.floor(capacityBytes(gpu) * memFraction);
}
