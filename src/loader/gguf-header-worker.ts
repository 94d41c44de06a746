/**
 * Worker side of {@link parseGgufHeaderSync}: parses one GGUF file's header with @huggingface/gguf (async) and
 * posts the result on the given port, then wakes the waiting thread.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { gguf } from '@huggingface/gguf';

const { file, port, signal } = workerData as { file: string; port: MessagePort; signal: Int32Array };
try {
  const r = await gguf(file, { allowLocalFile: true, typedMetadata: true });
  const metadata: Record<string, { value: unknown; type: number; subType?: number }> = {};
  for (const [k, v] of Object.entries(r.typedMetadata)) metadata[k] = v as { value: unknown; type: number; subType?: number };
  port.postMessage({ ok: true, metadata, tensorInfos: r.tensorInfos, tensorDataOffset: r.tensorDataOffset, littleEndian: r.littleEndian });
} catch (e) {
  port.postMessage({ ok: false, message: e instanceof Error ? e.message : String(e) });
} finally {
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}
