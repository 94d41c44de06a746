/**
 * Tokenization that does not block the event loop: texts longer than a threshold are encoded on a worker thread
 * holding its own copy of the tokenizer (same tokenizer.json, so the same ids), shorter ones at once. A server
 * tokenizing a multi-megabyte prompt (≈ 2 s for 4 MB on one core) keeps answering `/health` and streaming other
 * requests meanwhile. Source: issue 14.
 */
import { Worker } from 'node:worker_threads';
import type { MiMoTokenizer } from './tokenizer.js';

/** Characters above which a text is encoded on the worker (below it, encoding takes well under a millisecond or so). */
export const WORKER_THRESHOLD_CHARS = 64 * 1024;

/** The ids as a plain array; a counted loop, since Array.from on a 1M-element Int32Array blocks the loop ~6× longer. */
function toArray(ids: Int32Array): number[] {
  const out = new Array<number>(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i]!;
  return out;
}

export class AsyncEncoder {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (ids: number[]) => void; reject: (e: Error) => void }>();

  /**
   * @param tok the tokenizer whose directory the worker loads
   * @param thresholdChars texts of more characters go to the worker
   */
  constructor(
    readonly tok: MiMoTokenizer,
    readonly thresholdChars = WORKER_THRESHOLD_CHARS,
  ) {}

  /**
   * Token ids of `text`, exactly `tok.encode(text)`.
   * @throws Error when the worker fails (its message)
   */
  encode(text: string): Promise<number[]> {
    if (text.length <= this.thresholdChars) return Promise.resolve(this.tok.encode(text));
    const worker = this.start();
    const id = this.nextId++;
    const ids = new Promise<number[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, text });
    });
    // Let requests that queued meanwhile (/health) run before the caller goes on with a million ids.
    return ids.then((list) => new Promise((resolve) => setImmediate(() => resolve(list))));
  }

  /** Stop the worker (pending encodes are rejected). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./encode-worker.js', import.meta.url), { workerData: { dir: this.tok.dir } });
    w.on('message', (msg: { id: number; ids?: Int32Array; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) w.unref(); // an idle worker never keeps the process alive
      if (msg.ids) p.resolve(toArray(msg.ids));
      else p.reject(new Error(`tokenizer worker: ${msg.error}`));
    });
    const fail = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      if (this.worker === w) this.worker = null;
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`tokenizer worker exited with code ${code}`)));
    w.unref();
    this.worker = w;
    return w;
  }
}
