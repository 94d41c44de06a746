/**
 * Quantisation spread over worker threads: the K-quant and IQ4 searches cost ~100× a decode per weight, so
 * `mimo quantize` hands each chunk of rows to the next free worker and writes the results in order. With 1 thread
 * the rows are quantised on the calling thread. Results are the same bytes either way (each row is independent).
 */
import { Worker } from 'node:worker_threads';
import { quantizeGgmlRows } from './quantize.js';

interface Pending {
  resolve: (b: Uint8Array) => void;
  reject: (e: Error) => void;
}

export class QuantizePool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Array<() => void> = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  /** @param threads worker threads (≥ 1; 1 = no workers) */
  constructor(readonly threads: number) {
    if (threads <= 1) return;
    for (let i = 0; i < threads; i++) {
      const w = new Worker(new URL('./quantize-worker.js', import.meta.url));
      w.on('message', (m: { id: number; ok: boolean; out?: Uint8Array; message?: string }) => {
        const p = this.pending.get(m.id)!;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m.out!);
        else p.reject(new RangeError(m.message));
        this.release(w);
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  private release(w: Worker): void {
    const next = this.queue.shift();
    this.idle.push(w);
    if (next) next();
  }

  /**
   * Quantise `rows` rows of `cols` values (the array is transferred to the worker: do not use it afterwards).
   * @returns rows · ggmlRowBytes(type, cols) bytes
   */
  encode(type: number, data: Float32Array, rows: number, cols: number): Promise<Uint8Array> {
    if (this.workers.length === 0) {
      try {
        return Promise.resolve(quantizeGgmlRows(type, data, rows, cols));
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    return new Promise((resolve, reject) => {
      const send = () => {
        const w = this.idle.pop()!;
        const id = this.nextId++;
        this.pending.set(id, { resolve, reject });
        w.postMessage({ id, type, rows, cols, data }, [data.buffer as ArrayBuffer]);
      };
      if (this.idle.length > 0) send();
      else this.queue.push(send);
    });
  }

  /** Stop the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
