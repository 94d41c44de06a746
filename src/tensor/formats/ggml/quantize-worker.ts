/**
 * Worker side of {@link QuantizePool}: quantises the rows it is sent with quantizeGgmlRows and sends the blocks back.
 */
import { parentPort } from 'node:worker_threads';
import { quantizeGgmlRows } from './quantize.js';

parentPort!.on('message', (m: { id: number; type: number; rows: number; cols: number; data: Float32Array }) => {
  try {
    const out = quantizeGgmlRows(m.type, m.data, m.rows, m.cols);
    parentPort!.postMessage({ id: m.id, ok: true, out }, [out.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id: m.id, ok: false, message: e instanceof Error ? e.message : String(e) });
  }
});
