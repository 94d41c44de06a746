/**
 * Per-op profile of a forward pass (`mimo bench --profile`): a Backend wrapper that times every op and counts the
 * weight bytes each op reads, grouped by what the op is — each projection kind (by the checkpoint tensor name the
 * weight carries), the router, the routed experts (the bytes of the experts actually selected), the LM head,
 * attention, norms / RoPE / SwiGLU — so each op's achieved GB/s is visible. Wall time measured around each call on
 * the calling thread (the native ops are synchronous: a call's time includes its thread-pool waits); what the
 * profiled ops do not cover (sampling, JS glue between ops) is the remainder of the step.
 */
import type { AttentionInput, Backend, MlpWeightSet, Weight } from '../kernels/backend.js';
import { weightBytes } from '../tensor/weight.js';

/** Accumulated figures of one op kind. */
export interface OpStat {
  label: string;
  calls: number;
  seconds: number;
  /** Weight bytes read (0 for ops without weights). */
  bytes: number;
}

/** What a weight is, from its checkpoint tensor name. */
export function weightLabel(w: Weight): string {
  const n = w.name ?? '';
  if (n.startsWith('model.mtp.')) return 'MTP layers (all matmuls)';
  if (/\.self_attn\.(qkv|q|k|v)_proj\./.test(n)) return 'attention q/k/v projection';
  if (/\.self_attn\.o_proj\./.test(n)) return 'attention o_proj';
  if (/\.mlp\.gate\.weight$/.test(n)) return 'router';
  if (/^model\.layers\.\d+\.mlp\.(gate|up|down)_proj\./.test(n)) return 'dense MLP (layer 0)';
  if (n.startsWith('lm_head.') || n === 'model.embed_tokens.weight') return 'LM head';
  return n === '' ? 'matmul (unnamed weight)' : `matmul ${n}`;
}

/** A profiling wrapper of `inner`; figures accumulate while `enabled` is set. */
export class OpProfiler {
  enabled = false;
  private readonly stats = new Map<string, OpStat>();

  constructor(readonly inner: Backend) {}

  reset(): void {
    this.stats.clear();
  }

  /** The op kinds, most time first. */
  entries(): OpStat[] {
    return [...this.stats.values()].sort((a, b) => b.seconds - a.seconds);
  }

  private time<T>(label: string | (() => string), bytes: number | (() => number), fn: () => T): T {
    if (!this.enabled) return fn();
    const t0 = process.hrtime.bigint();
    const out = fn();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const key = typeof label === 'string' ? label : label();
    const s = this.stats.get(key) ?? { label: key, calls: 0, seconds: 0, bytes: 0 };
    s.calls++;
    s.seconds += dt;
    s.bytes += typeof bytes === 'number' ? bytes : bytes();
    this.stats.set(key, s);
    return out;
  }

  /** The Backend to run the model on. */
  backend(): Backend {
    const b = this.inner;
    return {
      name: b.name,
      rowInvariantRows: () => b.rowInvariantRows(),
      prepareWeight: (w) => b.prepareWeight(w),
      matmul: (x, T, w) => this.time(() => weightLabel(w), () => weightBytes(w), () => b.matmul(x, T, w)),
      rmsNorm: (x, T, w, eps) => this.time('RMSNorm', 0, () => b.rmsNorm(x, T, w, eps)),
      rope: (x, T, h, d, r, th, st) => this.time('RoPE', 0, () => b.rope(x, T, h, d, r, th, st)),
      swiglu: (g, u) => this.time('SwiGLU', 0, () => b.swiglu(g, u)),
      attention: (a: AttentionInput) => this.time(a.window === null ? 'attention (full)' : 'attention (sliding window)', 0, () => b.attention(a)),
      moeExperts: (x, T, experts: readonly MlpWeightSet[], ids, wts) => {
        const bytes = (): number => {
          let n = 0;
          for (const e of new Set<number>(ids)) n += weightBytes(experts[e]!.gate) + weightBytes(experts[e]!.up) + weightBytes(experts[e]!.down);
          return n;
        };
        return this.time('routed experts', bytes, () => b.moeExperts(x, T, experts, ids, wts));
      },
    };
  }
}
