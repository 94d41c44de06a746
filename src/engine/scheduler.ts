/**
 * Continuous batching (Orca / vLLM style) for one model: requests join and leave between steps; every step runs one
 * batched trunk forward over all active sequences (`runStep`). Prompts are prefilled in fixed chunks of
 * `prefillChunk` tokens, with at most `prefillChunk` prompt tokens per step, so running streams keep flowing while a
 * long prompt is read. A bounded queue holds requests beyond `maxBatch`; a full queue refuses new ones
 * (QueueFullError → HTTP 429). Cancelling a request (client gone) drops its sequence and KV cache before the next
 * step. Chunk boundaries do not depend on the batch, and the forward packs rows so that each sequence's results are
 * bitwise those it gets alone: greedy tokens are the same alone or in a batch.
 */
import { QueueFullError, RequestError } from '../errors.js';
import type { Generator } from './generate.js';
import type { GenerateOptions, Sequence, StreamChunk } from './sequence.js';
import { runStep } from './step.js';
import type { KvPageStats } from './kv-pages.js';
import { plural } from '../util/plural.js';

export interface SchedulerOptions {
  /** Most sequences in one step (default 8). */
  maxBatch?: number;
  /** Most requests waiting for a batch slot (default 64). */
  maxQueue?: number;
}

/** One submitted request: its chunks as an async iterable, and `cancel()` to drop it. */
export class RequestHandle implements AsyncIterable<StreamChunk> {
  private readonly buffer: StreamChunk[] = [];
  private wake: (() => void) | null = null;
  private failure: unknown = null;
  private ended = false;
  /** The chunk with finishReason, once it was produced. */
  finalChunk: StreamChunk | null = null;

  constructor(readonly sequence: Sequence) {}

  /** Stop generating: the sequence and its cache are freed before the next step; the stream ends with 'abort'. */
  cancel(): void {
    if (this.ended) return;
    this.push([this.sequence.abort()]);
  }

  /** @internal */
  push(chunks: StreamChunk[]): void {
    if (chunks.length === 0) return;
    this.buffer.push(...chunks);
    const last = chunks[chunks.length - 1]!;
    if (last.finishReason) {
      this.ended = true;
      this.finalChunk = last;
    }
    this.notify();
  }

  /** @internal */
  fail(error: unknown): void {
    this.sequence.release();
    this.failure = error;
    this.ended = true;
    this.notify();
  }

  get finished(): boolean {
    return this.ended;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamChunk> {
    for (;;) {
      while (this.buffer.length) {
        const c = this.buffer.shift()!;
        yield c;
        if (c.finishReason) return;
      }
      if (this.failure !== null) throw this.failure;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

/** Figures of the scheduler at one moment (for /metrics). */
export interface SchedulerState {
  queued: number;
  active: number;
  /** Bytes held by the active sequences' KV caches (a page two of them share counts in both). */
  kvCacheBytes: number;
  /**
   * The model's full-attention page pools: pages held by running sequences or the prefix cache (each counted once),
   * their holders (refs − pages = copies sharing saved), bytes, and copy-on-write copies.
   */
  kvPages: KvPageStats;
  /** Steps run so far. */
  steps: number;
}

export class Scheduler {
  readonly maxBatch: number;
  readonly maxQueue: number;
  private readonly queue: RequestHandle[] = [];
  private active: RequestHandle[] = [];
  private running = false;
  private steps = 0;
  /** Step at which each prefilling request last got a chunk. */
  private readonly lastPrefill = new WeakMap<RequestHandle, number>();

  /**
   * @param generator the model, tokenizer and prefill chunk size every request uses
   * @throws RequestError when maxBatch or maxQueue is not a positive integer (maxQueue may be 0)
   */
  constructor(
    readonly generator: Generator,
    opts: SchedulerOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 8;
    this.maxQueue = opts.maxQueue ?? 64;
    if (!Number.isSafeInteger(this.maxBatch) || this.maxBatch < 1) throw new RequestError('--max-batch', `must be a positive integer, got ${opts.maxBatch}`);
    if (!Number.isSafeInteger(this.maxQueue) || this.maxQueue < 0) throw new RequestError('--max-queue', `must be an integer ≥ 0, got ${opts.maxQueue}`);
    if (!(generator.prefillChunk >= 1)) throw new RequestError('--prefill-chunk', `must be ≥ 1, got ${generator.prefillChunk}`);
  }

  /**
   * Queue a request; it starts at the next step with a free batch slot. With `shareWith` (another choice of the same
   * prompt and options but the seed, submitted just before and not yet run) it shares that choice's prefill: it
   * waits until that prefill ends, then takes its KV pages by reference and samples its own first token from the
   * same last logits row (tokens are those of its own prefill).
   * @throws RequestError for invalid options or prompt; QueueFullError when maxBatch sequences run and maxQueue wait
   */
  submit(promptIds: number[], opts: GenerateOptions = {}, shareWith?: RequestHandle): RequestHandle {
    const seq = this.generator.newSequence(promptIds, { ...opts, signal: undefined });
    // n > 1: this choice takes the state after the shared prompt from the first choice instead of prefilling it.
    if (shareWith && !shareWith.finished && !opts.recordExperts) seq.follow(shareWith.sequence);
    // Cancelled handles already hold their final chunk; they leave at the next step and do not count.
    if (this.pendingCount() >= this.maxBatch + this.maxQueue) {
      seq.abort(); // frees what the sequence holds (a grammar matcher)
      throw new QueueFullError(`the server is busy: ${plural(this.active.length, 'sequence')} running and ${this.queue.length} queued (--max-batch ${this.maxBatch}, --max-queue ${this.maxQueue}); retry later`);
    }
    const handle = new RequestHandle(seq);
    opts.signal?.addEventListener('abort', () => handle.cancel(), { once: true });
    this.queue.push(handle);
    this.kick();
    return handle;
  }

  private pendingCount(): number {
    let n = 0;
    for (const h of this.active) if (!h.finished) n++;
    for (const h of this.queue) if (!h.finished) n++;
    return n;
  }

  /**
   * End every queued and running request with `error` (server shutdown): their streams throw it, so a cut-off
   * answer is never reported as finished.
   */
  failAll(error: Error): void {
    for (const h of [...this.active, ...this.queue]) if (!h.finished) h.fail(error);
  }

  get state(): SchedulerState {
    let kv = 0;
    for (const h of this.active) kv += h.sequence.cacheBytes;
    return { queued: this.queue.length, active: this.active.length, kvCacheBytes: kv, kvPages: this.generator.model.kvPageStats, steps: this.steps };
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        this.dropFinished();
        while (this.active.length < this.maxBatch && this.queue.length) this.active.push(this.queue.shift()!);
        if (this.active.length === 0) break;
        this.step();
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.running = false;
    }
    if (this.queue.length) this.kick();
  }

  /** Finished handles (done, failed or cancelled) leave the batch and the queue, and their caches with them. */
  private dropFinished(): void {
    this.active = this.active.filter((h) => !h.finished);
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]!.finished) this.queue.splice(i, 1);
  }

  /**
   * Decode sequences all run; prefilling ones take turns, least recently served first (a new arrival first), while
   * the step's prompt tokens stay ≤ one chunk — so a long prompt neither stalls running streams nor starves a short
   * prompt that arrives after it.
   */
  private step(): void {
    const chunk = this.generator.prefillChunk;
    // Choices that took a shared prefill emit their first token now, without a forward.
    for (const h of this.active) {
      if (!h.finished && h.sequence.forkReady) {
        try {
          h.push(h.sequence.takeFork());
        } catch (e) {
          h.fail(e);
        }
      }
    }
    const runnable = this.active.filter((h) => !h.finished && !h.sequence.waiting);
    const decoding = runnable.filter((h) => !h.sequence.prefilling);
    const waiting = runnable.filter((h) => h.sequence.prefilling).sort((a, b) => (this.lastPrefill.get(a) ?? -1) - (this.lastPrefill.get(b) ?? -1));
    let prefillTokens = 0;
    const prefill = waiting.filter((h) => {
      const n = h.sequence.nextPrefillTokens;
      if (prefillTokens > 0 && prefillTokens + n > chunk) return false;
      prefillTokens += n;
      this.lastPrefill.set(h, this.steps);
      return true;
    });
    const batch = [...decoding, ...prefill];
    let results: StreamChunk[][];
    try {
      results = runStep(this.generator.model, batch.map((h) => h.sequence), (seq, e) => batch.find((h) => h.sequence === seq)!.fail(e));
    } catch (e) {
      // A failure of the batched forward itself: fail this step's requests, keep serving the rest.
      for (const h of batch) h.fail(e);
      results = batch.map(() => []);
    }
    this.steps++;
    batch.forEach((h, i) => h.push(results[i]!));
    this.active = this.active.filter((h) => !h.finished);
  }
}
