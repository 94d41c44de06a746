/**
 * Opening a checkpoint reads only its headers (issue 6). A MiMo-V2-Flash at bench scale with 56 experts per MoE
 * layer and one MTP layer — 2.28 GB of BF16 tensors in the official three-shard layout — is written for real (every
 * byte, a repeating non-zero pattern, no sparse files), then a child process (clean figures: nothing else in it)
 * opens it as `mimo inspect --model` does (config.json, `new Checkpoint(dir)`, MTP layer count, every tensor's shape
 * checked against the config, bytes by dtype) and as `mimo plan --model` does (its weight pricing from the headers),
 * reading `/proc/self/io` rchar (bytes the process asked read(2) for, page cache or not) and RSS around each.
 * Asserts: rchar grows by less than 1 MB plus the shards' header bytes, and peak RSS stays under 200 MB, until a
 * tensor is used; reading one tensor then shows up in rchar byte for byte (so the instrument does see reads).
 * Linux only (/proc/self/io); needs the checkpoint's size free in the temp directory; deletes it at the end.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INDEX_FILE } from '../../src/loader/checkpoint.js';
import { numel, writeSafetensors } from '../../src/loader/safetensors.js';
import { parseConfig } from '../../src/model/mimo-v2/config.js';
import { planCheckpoint } from '../../src/model/mimo-v2/init.js';
import { loadPreset } from '../../src/model/mimo-v2/presets.js';
import { scaledConfig } from '../../src/model/mimo-v2/scale.js';
import { DTYPE_BYTES } from '../../src/tensor/dtype.js';

const MIN_CHECKPOINT_BYTES = 2 * 1024 ** 3;
const EXPERTS = 56;
const PIECE_BYTES = 64 * 1024 * 1024;
const RSS_LIMIT_BYTES = 200e6;
const SLACK_BYTES = 1e6;
/** A tensor the last step reads (BF16 [32000, 1024] = 65.5 MB). */
const USED_TENSOR = 'lm_head.weight';

const moduleUrl = (rel: string) => new URL(rel, import.meta.url).href;

/**
 * The child: imports first (module files count as reads), then measures each step. Prints one JSON line.
 * `mimo plan --model`'s pricing lives in src/plan/weights.ts; if that module is absent the step is reported skipped.
 */
const CHILD = `
import * as fs from 'node:fs';
import * as path from 'node:path';
const [dir, urls] = [process.argv[1], JSON.parse(process.argv[2])];
const { Checkpoint } = await import(urls.checkpoint);
const { loadConfig } = await import(urls.config);
const { countMtpLayers } = await import(urls.weights);
const { expectedWeightShapes } = await import(urls.stats);
let plan = null, planError = null;
try { plan = await import(urls.plan); } catch (e) { planError = String(e?.message ?? e); }
const rchar = () => Number(/^rchar:\\s*(\\d+)/m.exec(fs.readFileSync('/proc/self/io', 'utf8'))[1]);
const measure = (fn) => {
  const before = rchar();
  const extra = fn();
  const after = rchar();
  return { rcharBytes: after - before, rssBytes: process.memoryUsage().rss, peakRssBytes: process.resourceUsage().maxRSS * 1024, ...extra };
};
rchar();
const out = { baseline: { rssBytes: process.memoryUsage().rss, peakRssBytes: process.resourceUsage().maxRSS * 1024 } };
out.inspect = measure(() => {
  const config = loadConfig(path.join(dir, 'config.json'));
  const ckpt = new Checkpoint(dir);
  try {
    const mtp = countMtpLayers(ckpt.names(), dir);
    let checked = 0;
    for (const [name, shape] of expectedWeightShapes(config, mtp)) {
      const info = ckpt.info(name);
      if (!info || info.shape.join() !== shape.join()) throw new Error(name + ' does not match config.json');
      checked++;
    }
    const bytes = Object.values(ckpt.bytesByDtype()).reduce((a, b) => a + b, 0);
    return { tensors: ckpt.names().length, checked, mtpLayers: mtp, tensorBytes: bytes };
  } finally {
    ckpt.close();
  }
});
out.plan = plan?.checkpointWeightBytes
  ? measure(() => {
      const config = loadConfig(path.join(dir, 'config.json'));
      const ckpt = new Checkpoint(dir);
      try {
        return { total: plan.checkpointWeightBytes(ckpt, config, countMtpLayers(ckpt.names(), dir)).total };
      } finally {
        ckpt.close();
      }
    })
  : { skipped: planError ?? 'checkpointWeightBytes not exported' };
out.use = measure(() => {
  const ckpt = new Checkpoint(dir);
  try {
    const info = ckpt.require(urls.used);
    const w = ckpt.readStoredWeight(urls.used, info.shape, null);
    return { tensorBytes: w.data.byteLength };
  } finally {
    ckpt.close();
  }
});
process.stdout.write(JSON.stringify(out) + '\\n');
`;

/** Write the checkpoint; returns its total tensor bytes, file bytes and the shards' header bytes. */
function writeCheckpoint(dir: string): { tensorBytes: number; fileBytes: number; headerBytes: number; files: string[] } {
  const raw = scaledConfig(loadPreset('mimo-v2-flash').raw, 'bench');
  raw['n_routed_experts'] = EXPERTS;
  const cfg = parseConfig(raw, 'header-only test config');
  const plan = planCheckpoint(cfg, { fp8: false, numMtpLayers: 1 });
  const size = (t: { shape: number[]; dtype: keyof typeof DTYPE_BYTES }) => numel(t.shape) * DTYPE_BYTES[t.dtype];
  const tensorBytes = plan.reduce((s, t) => s + size(t), 0);
  const largest = Math.max(...plan.map(size));
  assert.ok(largest <= PIECE_BYTES, `the largest tensor (${largest} bytes) fits one ${PIECE_BYTES}-byte piece`);
  // One 64 MiB piece of a repeating non-zero pattern; every tensor's bytes are a prefix of it (written, not holes).
  const piece = new Uint8Array(PIECE_BYTES);
  for (let i = 0; i < piece.length; i++) piece[i] = 1 + ((i * 7) % 251);
  fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(raw, null, 2)}\n`);
  const files = [...new Set(plan.map((t) => t.file))];
  for (const file of files) {
    writeSafetensors(
      path.join(dir, file),
      plan.filter((t) => t.file === file).map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: () => piece.subarray(0, size(t)) })),
    );
  }
  const weightMap = Object.fromEntries(plan.map((t) => [t.name, t.file]));
  fs.writeFileSync(path.join(dir, INDEX_FILE), `${JSON.stringify({ metadata: { total_size: tensorBytes }, weight_map: weightMap }, null, 2)}\n`);
  let fileBytes = 0;
  let headerBytes = 0;
  for (const file of files) {
    const p = path.join(dir, file);
    const st = fs.statSync(p);
    fileBytes += st.size;
    assert.ok(st.blocks * 512 >= st.size, `${file} is not sparse: ${st.blocks * 512} bytes allocated for ${st.size}`);
    const len = Buffer.alloc(8);
    const fd = fs.openSync(p, 'r');
    fs.readSync(fd, len, 0, 8, 0);
    fs.closeSync(fd);
    headerBytes += 8 + Number(len.readBigUInt64LE(0));
  }
  return { tensorBytes, fileBytes, headerBytes, files };
}

test('opening a 2 GB checkpoint reads only its headers; RSS stays under 200 MB until a tensor is used', { timeout: 180_000 }, (t) => {
  if (!fs.existsSync('/proc/self/io')) return t.skip('no /proc/self/io on this system (Linux only)');
  const tmpRoot = os.tmpdir();
  const free = fs.statfsSync(tmpRoot);
  const needed = MIN_CHECKPOINT_BYTES * 1.1 + 256 * 1024 ** 2;
  assert.ok(
    free.bavail * free.bsize >= needed,
    `this test writes a ${(MIN_CHECKPOINT_BYTES * 1.1 / 1e9).toFixed(1)} GB checkpoint into ${tmpRoot}, which has ${(free.bavail * free.bsize / 1e9).toFixed(2)} GB free; free space or point TMPDIR at a larger disk`,
  );
  const dir = fs.mkdtempSync(path.join(tmpRoot, 'mimo-header-only-'));
  try {
    const started = performance.now();
    const ckpt = writeCheckpoint(dir);
    const writeSeconds = (performance.now() - started) / 1000;
    assert.ok(ckpt.tensorBytes >= MIN_CHECKPOINT_BYTES, `checkpoint of ${ckpt.tensorBytes} bytes ≥ 2 GiB`);

    const urls = {
      checkpoint: moduleUrl('../../src/loader/checkpoint.js'),
      config: moduleUrl('../../src/model/mimo-v2/config.js'),
      weights: moduleUrl('../../src/model/mimo-v2/weights.js'),
      stats: moduleUrl('../../src/model/mimo-v2/stats.js'),
      plan: moduleUrl('../../src/plan/weights.js'),
      used: USED_TENSOR,
    };
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, dir, JSON.stringify(urls)], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(child.status, 0, `child failed: ${child.stderr}`);
    const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Record<string, Record<string, number | string>>;
    const configBytes = fs.statSync(path.join(dir, 'config.json')).size;
    const indexBytes = fs.statSync(path.join(dir, INDEX_FILE)).size;
    const limit = SLACK_BYTES + ckpt.headerBytes;
    t.diagnostic(
      `checkpoint ${ckpt.fileBytes} bytes in ${ckpt.files.length} shards (headers ${ckpt.headerBytes} B, index ${indexBytes} B, config ${configBytes} B), written in ${writeSeconds.toFixed(1)} s`,
    );
    t.diagnostic(`child: ${JSON.stringify(r)}`);

    const inspect = r.inspect!;
    assert.equal(inspect.tensorBytes, ckpt.tensorBytes);
    assert.equal(inspect.checked, inspect.tensors, 'every tensor checked against config.json');
    assert.ok((inspect.rcharBytes as number) < limit, `inspect path read ${inspect.rcharBytes} bytes; limit 1 MB + headers = ${limit}`);
    assert.ok((inspect.peakRssBytes as number) < RSS_LIMIT_BYTES, `peak RSS ${inspect.peakRssBytes} bytes while opening (limit 200 MB)`);
    const plan = r.plan!;
    if (plan.skipped === undefined) {
      assert.equal(plan.total, ckpt.tensorBytes);
      assert.ok((plan.rcharBytes as number) < limit, `plan path read ${plan.rcharBytes} bytes; limit ${limit}`);
      assert.ok((plan.peakRssBytes as number) < RSS_LIMIT_BYTES, `peak RSS ${plan.peakRssBytes} bytes (limit 200 MB)`);
    } else {
      t.diagnostic(`plan path skipped: ${plan.skipped}`);
    }
    const use = r.use!;
    assert.ok((use.rcharBytes as number) >= (use.tensorBytes as number), `reading ${USED_TENSOR} (${use.tensorBytes} B) shows in rchar (${use.rcharBytes} B)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
