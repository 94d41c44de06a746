/**
 * Worker thread of {@link AsyncEncoder}: loads the checkpoint's tokenizer once (`workerData.dir`) and answers
 * `{ id, text }` messages with `{ id, ids }` (an Int32Array, transferred) or `{ id, error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GgufModelFiles, resolveGgufPaths } from '../loader/gguf.js';
import { ggufTokenizer } from './gguf-tokenizer.js';
import { MiMoTokenizer } from './tokenizer.js';

/** The same tokenizer as the main thread's: tokenizer.json of a directory, or a GGUF's tokenizer.ggml.*. */
function load(dir: string): MiMoTokenizer {
  const gguf = resolveGgufPaths(dir);
  if (!gguf) return MiMoTokenizer.load(dir);
  const files = new GgufModelFiles(gguf);
  try {
    const { tokenizer, problem } = ggufTokenizer(files.metadata, gguf[0]!);
    if (!tokenizer) throw new Error(`${gguf[0]}: ${problem}`);
    return tokenizer;
  } finally {
    files.close();
  }
}

const tok = load((workerData as { dir: string }).dir);
parentPort!.on('message', (msg: { id: number; text: string }) => {
  try {
    const ids = Int32Array.from(tok.encode(msg.text));
    parentPort!.postMessage({ id: msg.id, ids }, [ids.buffer]);
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: (e as Error).message });
  }
});
