/**
 * Precision of the native backend against the TypeScript reference on a checkpoint (meant for the `--scale wide`
 * ones: the real matrix shapes): the same prompt through both backends, every layer's traced tensors (q/k/v,
 * attention output, MoE/FFN output, layer output) and the final logits compared as max |native − ref| / max |ref|
 * per tensor (errors compound from layer to layer: layer i's figure includes every earlier layer's). Prints the worst
 * per layer and for the logits, and the dispatch level that ran. Not a test: the reference forward of a wide
 * checkpoint takes minutes.
 *
 *   node dist/bench/precision.js --model DIR [--tokens 4]
 * Source: issue 16 (precision rule: within 1e-4 relative on a real-width layer).
 */
import { Command } from 'commander';
import { parseIntOption } from '../src/cli/options.js';
import { loadNativeAddon } from '../src/kernels/native/addon.js';
import { createNativeBackend } from '../src/kernels/native/backend.js';
import { loadModel } from '../src/model/load.js';

const program = new Command()
  .requiredOption('--model <dir>', 'checkpoint directory')
  .option('--tokens <n>', 'prompt tokens', parseIntOption(1), 4)
  .parse();
const opts = program.opts<{ model: string; tokens: number }>();

const addon = loadNativeAddon();
const map = (file: string, offset?: number, length?: number) => addon.mmapFile(file, offset, length);
type Traced = Map<string, Float32Array>;

function run(backend: 'ts' | 'native'): { traced: Traced; logits: Float32Array; seconds: number } {
  const { model, config } = loadModel(opts.model, { backend: backend === 'native' ? createNativeBackend() : undefined, map });
  const ids = Array.from({ length: opts.tokens }, (_, i) => (i * 7919 + 11) % config.vocabSize);
  const traced: Traced = new Map();
  const t0 = performance.now();
  const hidden = model.forward(ids, model.newCache(), (name, layer, data) => traced.set(`${layer}/${name}`, Float32Array.from(data)));
  const logits = model.computeLogits(hidden, ids.length);
  return { traced, logits, seconds: (performance.now() - t0) / 1000 };
}

/** max |a − b| / max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return m === 0 ? d : d / m;
}

console.log(`# node ${process.argv.slice(1).join(' ')}`);
console.log(`# native dispatch ${addon.getDispatch()}, ${opts.tokens} prompt tokens`);
const nat = run('native');
const ref = run('ts');
console.log(`forward: native ${nat.seconds.toFixed(2)} s, reference ${ref.seconds.toFixed(2)} s`);
const perLayer = new Map<number, { worst: number; name: string }>();
for (const [key, r] of ref.traced) {
  const n = nat.traced.get(key);
  if (!n) continue;
  const [layerText, name] = key.split('/') as [string, string];
  const layer = Number(layerText);
  const e = relErr(n, r);
  const cur = perLayer.get(layer);
  if (!cur || e > cur.worst) perLayer.set(layer, { worst: e, name });
}
for (const [layer, { worst, name }] of [...perLayer].sort((a, b) => a[0] - b[0])) {
  console.log(`layer ${layer}: worst ${worst.toExponential(2)} relative (${name})`);
}
console.log(`logits: ${relErr(nat.logits, ref.logits).toExponential(2)} relative`);
