/**
 * Worker thread of {@link AsyncEncoder}: loads the checkpoint's tokenizer once (`workerData.dir`) and answers
 * `{ id, text }` messages with `{ id, ids }` (an Int32Array, transferred) or `{ id, error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { MiMoTokenizer } from './tokenizer.js';

const tok = MiMoTokenizer.load((workerData as { dir: string }).dir);
parentPort!.on('message', (msg: { id: number; text: string }) => {
  try {
    const ids = Int32Array.from(tok.encode(msg.text));
    parentPort!.postMessage({ id: msg.id, ids }, [ids.buffer]);
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: (e as Error).message });
  }
});
