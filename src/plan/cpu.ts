/**
 * Our own engine on a CPU: RAM for the weights and f32 KV caches (our KV cache stores float32, full-attention rows
 * in pages of 64 positions; src/engine/kv-pages.ts), and the memory-bandwidth upper bound on decode tokens/s = read
 * bandwidth ÷ bytes one decode step reads (active weights, spec §3.7 / README "decode ÷ bandwidth bound", plus the
 * sequence's KV cache at the context length).
 */
import { kvCacheBytes, KV_DTYPE_BYTES } from '../model/mimo-v2/stats.js';
import type { PlanInput } from './planner.js';

/** Memory bandwidth assumed for the CPU bound when neither given nor measurable: 50 GB/s (bytes/s). */
export const FALLBACK_CPU_BANDWIDTH = 50e9;

export interface CpuPlan {
  /** Weights + `concurrency` KV caches, f32 KV as our engine stores it. */
  ramBytes: number;
  kvBytesPerSequence: number;
  /** Bytes one decode step of one sequence at the context length reads: active weights + its KV cache. */
  bytesPerDecodedToken: number;
  bandwidthBytesPerSecond: number;
  bandwidthSource: string;
  /** bandwidth / bytesPerDecodedToken, tokens/s; an upper bound (memory-bound decode). */
  decodeTokensPerSecondBound: number;
  /** bandwidth / active weight bytes, tokens/s: the bound at a short context. */
  decodeTokensPerSecondBoundShortContext: number;
}

/** Our engine on a CPU: RAM and the memory-bandwidth bound on decode (f32 KV cache, spec §3.7). */
export function cpuPlan(input: PlanInput): CpuPlan {
  const kv = kvCacheBytes(input.config, input.contextTokens, KV_DTYPE_BYTES.f32, input.numMtpLayers).total;
  const bytesPerDecodedToken = input.weights.activePerToken + kv;
  const bw = input.cpuBandwidth.bytesPerSecond;
  return {
    ramBytes: input.weights.total + input.concurrency * kv,
    kvBytesPerSequence: kv,
    bytesPerDecodedToken,
    bandwidthBytesPerSecond: bw,
    bandwidthSource: input.cpuBandwidth.source,
    decodeTokensPerSecondBound: bw / bytesPerDecodedToken,
    decodeTokensPerSecondBoundShortContext: bw / input.weights.activePerToken,
  };
}
