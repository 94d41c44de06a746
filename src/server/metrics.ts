/**
 * Prometheus metrics of one server (its own registry, so several servers in one process do not clash), exposed at
 * `GET /metrics` in the text format: requests by endpoint and status, prompt and generated tokens, TTFT and
 * inter-token latency histograms, queue length, active sequences, KV-cache bytes, MTP drafts and acceptance.
 * Names follow vLLM's `vllm:` metrics where one exists (as `mimo_…`). prom-client's default collectors add the
 * process figures (`process_resident_memory_bytes`, `process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`,
 * heap and GC). Library: prom-client.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { GenerationStats } from '../engine/sequence.js';
import type { SchedulerState } from '../engine/scheduler.js';
import { currentRequestRecord } from './request-log.js';
import type { PrefixCache, PrefixCacheStats } from '../engine/prefix-cache/prefix-cache.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'mimo_requests_total', help: 'HTTP API requests by endpoint and status code', labelNames: ['endpoint', 'status'] as const, registers: [this.registry] });
  readonly promptTokens = new Counter({ name: 'mimo_prompt_tokens_total', help: 'Prompt tokens of finished requests (prefilled)', labelNames: ['model'] as const, registers: [this.registry] });
  readonly generationTokens = new Counter({ name: 'mimo_generation_tokens_total', help: 'Tokens generated and served', labelNames: ['model'] as const, registers: [this.registry] });
  readonly ttft = new Histogram({ name: 'mimo_time_to_first_token_seconds', help: 'Time from request arrival (queueing included) to its first token, seconds', labelNames: ['model'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly interTokenLatency = new Histogram({ name: 'mimo_inter_token_latency_seconds', help: 'Time between consecutive tokens of a request as produced by the engine, seconds', labelNames: ['model'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly draftsProposed = new Counter({ name: 'mimo_spec_decode_num_draft_tokens_total', help: 'MTP draft tokens proposed', labelNames: ['model'] as const, registers: [this.registry] });
  readonly draftsAccepted = new Counter({ name: 'mimo_spec_decode_num_accepted_tokens_total', help: 'MTP draft tokens accepted', labelNames: ['model'] as const, registers: [this.registry] });
  readonly decodeSteps = new Counter({ name: 'mimo_decode_steps_total', help: 'Trunk forwards after the first token (decode or verify steps), summed over requests', labelNames: ['model'] as const, registers: [this.registry] });
  private readonly sources = new Map<string, () => SchedulerState>();
  private readonly prefixCaches = new Map<string, PrefixCache>();

  constructor() {
    const self = this;
    collectDefaultMetrics({ register: this.registry });
    const perModel = (name: string, help: string, pick: (s: SchedulerState) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['model'] as const,
        registers: [this.registry],
        collect() {
          for (const [model, state] of self.sources) this.set({ model }, pick(state()));
        },
      });
    perModel('mimo_num_requests_waiting', 'Requests queued for a batch slot', (s) => s.queued);
    perModel('mimo_num_requests_running', 'Sequences in the running batch', (s) => s.active);
    perModel('mimo_kv_cache_bytes', 'Bytes held by the running sequences\' KV caches', (s) => s.kvCacheBytes);
    perModel('mimo_engine_steps_total', 'Batched engine steps run', (s) => s.steps);
    perModel('mimo_kv_pages', 'Full-attention KV pages held by running sequences or the prefix cache, each counted once', (s) => s.kvPages.pages);
    perModel('mimo_kv_page_bytes', 'Bytes of those pages, each counted once', (s) => s.kvPages.bytes);
    perModel('mimo_kv_page_refs', 'Holders of those pages (page tables and prefix-cache entries); refs - pages = page copies saved by sharing', (s) => s.kvPages.refs);
    perModel('mimo_kv_page_copies_total', 'Shared pages copied on a write (copy-on-write of a partially filled last page)', (s) => s.kvPages.copies);
    const perCache = (name: string, help: string, pick: (s: PrefixCacheStats) => number, labels: Record<string, string> = {}) =>
      new Gauge({
        name,
        help,
        labelNames: ['model', ...Object.keys(labels)],
        registers: [this.registry],
        collect() {
          for (const [model, cache] of self.prefixCaches) this.set({ model, ...labels }, pick(cache.stats));
        },
      });
    perCache('mimo_prefix_cache_hit_tokens_total', 'Prompt tokens restored from the prefix cache', (s) => s.hitTokens);
    perCache('mimo_prefix_cache_miss_tokens_total', 'Prompt tokens looked up in the prefix cache and not found (prefilled)', (s) => s.missTokens);
    perCache('mimo_prefix_cache_ram_bytes', 'Bytes of pages and snapshots the prefix cache holds in RAM', (s) => s.ramBytes);
    perCache('mimo_prefix_cache_page_bytes', 'Bytes of full-attention pages in the prefix cache', (s) => s.pageBytes);
    perCache('mimo_prefix_cache_snapshot_bytes', 'Bytes of sliding-window snapshots in the prefix cache', (s) => s.snapshotBytes);
    perCache('mimo_prefix_cache_entries', 'Snapshots (reusable prefixes) in the prefix cache', (s) => s.entries);
    perCache('mimo_prefix_cache_pages', 'Full-attention pages in the prefix cache', (s) => s.pages);
    perCache('mimo_prefix_cache_disk_bytes', 'Bytes of prefix-cache files in --cache-dir', (s) => s.diskBytes);
    perCache('mimo_prefix_cache_disk_entries', 'Prefix-cache files in --cache-dir', (s) => s.diskEntries);
    perCache('mimo_prefix_cache_disk_reads_total', 'Prefix-cache entries read back from --cache-dir', (s) => s.diskReads);
    perCache('mimo_prefix_cache_disk_writes_total', 'Prefix-cache entries written to --cache-dir', (s) => s.diskWrites);
    perCache('mimo_prefix_cache_evictions_total', 'Snapshots evicted from RAM to stay under --cache-ram', (s) => s.evictions);
    new Gauge({
      name: 'mimo_spec_decode_acceptance_length',
      help: 'Mean tokens per decode step over finished requests (1 without MTP)',
      labelNames: ['model'] as const,
      registers: [this.registry],
      async collect() {
        for (const model of self.sources.keys()) {
          // Each decode step yields its accepted drafts plus one trunk token: 1 exactly without MTP.
          const steps = (await self.decodeSteps.get()).values.find((v) => v.labels.model === model)?.value ?? 0;
          const accepted = (await self.draftsAccepted.get()).values.find((v) => v.labels.model === model)?.value ?? 0;
          this.set({ model }, steps > 0 ? 1 + accepted / steps : 0);
        }
      },
    });
  }

  /** Report the live scheduler figures of a model. */
  watch(model: string, state: () => SchedulerState): void {
    this.sources.set(model, state);
  }

  /** Report the figures of a model's prefix cache. */
  watchPrefixCache(model: string, cache: PrefixCache): void {
    this.prefixCaches.set(model, cache);
  }

  /** Account one finished (or aborted) generation. */
  finished(model: string, stats: GenerationStats): void {
    currentRequestRecord()?.add(model, stats);
    this.promptTokens.inc({ model }, stats.promptTokens);
    this.generationTokens.inc({ model }, stats.generatedTokens);
    if (stats.generatedTokens > 0) this.ttft.observe({ model }, stats.ttftSeconds);
    this.draftsProposed.inc({ model }, stats.draftsProposed);
    this.draftsAccepted.inc({ model }, stats.draftsAccepted);
    this.decodeSteps.inc({ model }, stats.decodeSteps);
  }
}
