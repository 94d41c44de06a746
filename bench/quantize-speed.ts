/**
 * Throughput of the ggml encoders on one thread: the TypeScript reference (quantizeGgmlRowsReference) against the
 * native addon's (quantizeGgml, the same bytes — checked here too), on a [rows, 4096] matrix of N(0, 0.02²) weights;
 * prints M weights/s per type and the speed-up. Best of `--repeats` runs each.
 *
 *   npm run build:native && npx tsc -p . && node dist/bench/quantize-speed.js [--rows 32] [--repeats 3] [--types Q4_K,Q8_0]
 */
import { Command } from 'commander';
import { parseIntOption } from '../src/cli/options.js';
import { loadNativeAddon } from '../src/kernels/native/addon.js';
import { quantizeGgmlRowsReference } from '../src/tensor/formats/ggml/quantize.js';
import { GGML_TYPE, ggmlRowBytes, ggmlTypeName } from '../src/tensor/formats/ggml/types.js';

const opts = new Command()
  .option('--rows <n>', 'rows of 4096 weights', parseIntOption(1), 32)
  .option('--repeats <n>', 'runs per encoder (best kept)', parseIntOption(1), 3)
  .option('--types <list>', 'comma-separated ggml type names (default: every type the addon writes)')
  .parse()
  .opts<{ rows: number; repeats: number; types?: string }>();

const addon = loadNativeAddon();
const rows = opts.rows;
const cols = 4096;
let seed = 5;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const x = Float32Array.from({ length: rows * cols }, () => 0.02 * Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand()));
const types = opts.types ? opts.types.split(',').map((n) => GGML_TYPE[n.trim().toUpperCase()]!) : addon.ggmlQuantizeTypes();

/** Best seconds of `repeats` runs of fn. */
function best(fn: () => void): number {
  let b = Infinity;
  for (let i = 0; i < opts.repeats; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    b = Math.min(b, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return b;
}

console.log(`${rows}×${cols} weights, one thread, best of ${opts.repeats}; M weights/s`);
console.log(`${'type'.padEnd(8)} ${'TypeScript'.padStart(10)} ${'native'.padStart(10)} ${'speed-up'.padStart(9)}`);
for (const type of types) {
  if (type === undefined) throw new Error(`unknown type in --types ${opts.types}`);
  let ref: Uint8Array = new Uint8Array(0);
  const tTs = best(() => (ref = quantizeGgmlRowsReference(type, x, rows, cols)));
  const out = new Uint8Array(rows * ggmlRowBytes(type, cols));
  const tNative = best(() => addon.quantizeGgml(type, x, rows, cols, out));
  if (Buffer.compare(Buffer.from(out), Buffer.from(ref)) !== 0) throw new Error(`${ggmlTypeName(type)}: native bytes differ from the TypeScript bytes`);
  const n = (rows * cols) / 1e6;
  console.log(`${ggmlTypeName(type).padEnd(8)} ${(n / tTs).toFixed(1).padStart(10)} ${(n / tNative).toFixed(1).padStart(10)} ${(tTs / tNative).toFixed(1).padStart(8)}×`);
}
