/**
 * MiMo-V2.6 checkpoints (spec §2.8, fixtures/README §1.2): `mimo init --preset mimo-v2.6-flash` writes the released
 * layout (U8 MXFP4 experts + U8 `weight_scale`, BF16 router, FP8 fused qkv and dense MLP) and it loads, header-only,
 * with the experts kept packed; hostile V2.6 files — each error the loader promises — give a short clear error naming
 * the tensor (library and CLI, no stack trace); an E8M0 NaN scale byte is caught at first use and by
 * `mimo inspect --verify`, not at load; and a checkpoint with nibbles swapped or the scale bias off by one is caught
 * by every golden case in the V2.6 layout.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckpointError } from '../../src/errors.js';
import { Checkpoint, INDEX_FILE } from '../../src/loader/checkpoint.js';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../src/loader/safetensors.js';
import { loadModel } from '../../src/model/load.js';
import { initCheckpoint } from '../../src/model/mimo-v2/init.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import type { DType } from '../../src/tensor/dtype.js';
import { discoverCases, maxAbs, maxAbsDiff, readGolden, repoRoot } from '../helpers/fixtures.js';
import { nativeAddon } from '../helpers/native.js';

const bin = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
let tmp = '';
let base = '';
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-v26-'));
  base = (await initCheckpoint({ preset: 'mimo-v2.6-flash', scale: 'tiny', outDir: path.join(tmp, 'base'), seed: 5 })).dir;
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
/** A copy of `src` (whole directory). */
function copyOf(src: string): string {
  const d = path.join(tmp, `copy-${n++}`);
  fs.cpSync(src, d, { recursive: true });
  return d;
}

interface Edited {
  name: string;
  dtype: DType;
  shape: number[];
  bytes: Uint8Array;
}

/** Rewrite every shard of `dir`: `edit` may change, drop (return null) or keep each tensor; the index follows. */
function rewrite(dir: string, edit: (t: Edited) => Edited | null): void {
  const index = JSON.parse(fs.readFileSync(path.join(dir, INDEX_FILE), 'utf8')) as { weight_map: Record<string, string> };
  for (const file of new Set(Object.values(index.weight_map))) {
    const p = path.join(dir, file);
    const f = new SafetensorsFile(p);
    const out: TensorToWrite[] = [];
    for (const [name, info] of f.tensors) {
      const e = edit({ name, dtype: info.dtype!, shape: info.shape.slice(), bytes: new Uint8Array(f.readBytes(name)) });
      if (e === null) {
        delete index.weight_map[name];
        continue;
      }
      out.push({ name: e.name, dtype: e.dtype, shape: e.shape, bytes: () => e.bytes });
    }
    f.close();
    writeSafetensors(p, out);
  }
  fs.writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify(index));
}

const EXPERT = 'model.layers.1.mlp.experts.3.up_proj.weight';

/** Expect loadModel to throw a CheckpointError matching `re`, and `mimo inspect`/`run` to print it as one line. */
function refused(dir: string, re: RegExp): void {
  assert.throws(
    () => loadModel(dir),
    (e: unknown) => e instanceof CheckpointError && re.test(e.message),
  );
  const r = spawnSync(process.execPath, [bin, 'run', '--model', dir, '--max-tokens', '1', 'hi'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, re);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'stack trace printed');
}

describe('MiMo-V2.6 checkpoints written by mimo init', () => {
  it('hold the released dtypes, load header-only with the experts packed, and run on both backends alike', () => {
    const ckpt = new Checkpoint(base);
    const info = ckpt.info(EXPERT)!;
    assert.equal(info.dtype, 'U8');
    assert.deepEqual(info.shape, [32, 32]); // logical [32 = moe_intermediate_size, 64 = hidden]
    assert.equal(ckpt.info(`${EXPERT}_scale`)!.dtype, 'U8');
    assert.deepEqual(ckpt.info(`${EXPERT}_scale`)!.shape, [32, 2]);
    assert.equal(ckpt.info('model.layers.1.mlp.gate.weight')!.dtype, 'BF16');
    assert.equal(ckpt.info('model.layers.1.self_attn.qkv_proj.weight')!.dtype, 'F8_E4M3');
    assert.equal(ckpt.info('model.layers.0.mlp.gate_proj.weight')!.dtype, 'F8_E4M3');
    ckpt.close();
    const { model, report } = loadModel(base);
    assert.deepEqual(report.unusedTensors, []);
    const ids = [1, 50, 900, 151643, 12];
    const ref = model.computeLogits(model.forward(ids, model.newCache()), ids.length);
    assert.ok(ref.every(Number.isFinite));
    if (nativeAddon) {
      const nat = loadModel(base, { backend: createNativeBackend() }).model;
      assert.equal(nat.weights.layers[1]!.mlp.kind, 'moe');
      const w = (nat.weights.layers[1]!.mlp as { moe: { experts: { up: { dtype: string } }[] } }).moe.experts[3]!.up;
      assert.equal(w.dtype, 'mxfp4', 'the native backend keeps MXFP4 packed');
      const got = nat.computeLogits(nat.forward(ids, nat.newCache()), ids.length);
      assert.ok(maxAbsDiff(got, ref) <= 1e-4 * Math.max(1, maxAbs(ref)), `native vs ts ${maxAbsDiff(got, ref)}`);
    }
  });
});

describe('hostile MiMo-V2.6 files', () => {
  it('an expert stored as F8_E4M3 instead of U8', () => {
    const d = copyOf(base);
    rewrite(d, (t) => (t.name === EXPERT ? { ...t, dtype: 'F8_E4M3' } : t));
    refused(d, /up_proj\.weight has dtype F8_E4M3, but quantization_config\.store_dtype "mxfp4" stores routed experts as U8/);
  });

  it('a weight_scale whose shape is not [out, in/32]', () => {
    const d = copyOf(base);
    rewrite(d, (t) => (t.name === `${EXPERT}_scale` ? { ...t, shape: [64, 1] } : t));
    refused(d, /up_proj\.weight_scale has shape \[64, 1\], expected \[32, 2\] \(\[out, in\/32\]\)/);
  });

  it('a weight_scale stored as F32', () => {
    const d = copyOf(base);
    rewrite(d, (t) => (t.name === `${EXPERT}_scale` ? { ...t, dtype: 'F32', shape: [32, 2], bytes: new Uint8Array(256) } : t));
    refused(d, /up_proj\.weight_scale has dtype F32; MXFP4 scales are U8 E8M0/);
  });

  it('a missing weight_scale', () => {
    const d = copyOf(base);
    rewrite(d, (t) => (t.name === `${EXPERT}_scale` ? null : t));
    refused(d, /up_proj\.weight_scale not found in any shard \(MXFP4 tensor .*needs its E8M0 scales\)/);
  });

  it('U8 experts in a config without quantization_config.store_dtype "mxfp4"', () => {
    const d = copyOf(base);
    const cfgPath = path.join(d, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    delete cfg.quantization_config.store_dtype;
    fs.writeFileSync(cfgPath, JSON.stringify(cfg));
    refused(d, /experts\.0\.gate_proj\.weight is U8 \(packed MXFP4\), but config\.json's quantization_config has no store_dtype "mxfp4"/);
  });

  it('an input dimension that is not a multiple of 32', () => {
    const d = fs.mkdtempSync(path.join(tmp, 'odd-'));
    writeSafetensors(path.join(d, 'model.safetensors'), [
      { name: 'w.weight', dtype: 'U8', shape: [4, 24], bytes: () => new Uint8Array(96) },
      { name: 'w.weight_scale', dtype: 'U8', shape: [4, 1], bytes: () => new Uint8Array(4) },
    ]);
    const ckpt = new Checkpoint(d);
    assert.throws(() => ckpt.readMxfp4Weight('w.weight', [4, 48]), /w\.weight: its input dimension 48 is not a multiple of the MXFP4 block of 32 columns/);
    ckpt.close();
  });

  it('an E8M0 NaN scale byte loads (no 9 GB scan) but fails at first use and under inspect --verify, naming the tensor', () => {
    const d = copyOf(base);
    rewrite(d, (t) => {
      if (t.name !== `${EXPERT}_scale`) return t;
      const b = t.bytes.slice();
      b[7] = 255;
      return { ...t, bytes: b };
    });
    const backends = [undefined, ...(nativeAddon ? [createNativeBackend()] : [])];
    for (const backend of backends) {
      let loaded: ReturnType<typeof loadModel> | undefined;
      const useFirst = () => {
        loaded = loadModel(d, { backend });
        const m = loaded.model;
        // Route every token through the poisoned expert: feed enough tokens that expert 3 is chosen.
        const ids = Array.from({ length: 64 }, (_, i) => (i * 2311) % 150000);
        m.forward(ids, m.newCache());
      };
      if (backend === undefined) {
        // The TypeScript reference dequantises at load (its prepareWeight is that first use).
        assert.throws(useFirst, /up_proj\.weight_scale: scale \[3, 1\] is byte 255 \(E8M0 NaN\)/);
      } else {
        assert.doesNotThrow(() => loadModel(d, { backend }), 'native load must not scan the scales');
        assert.throws(useFirst, /up_proj\.weight_scale: scale \[3, 1\] is byte 255 \(E8M0 NaN\)/);
      }
    }
    const r = spawnSync(process.execPath, [bin, 'inspect', '--model', d, '--verify'], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--verify found 1 tensor\(s\) with invalid values: .*up_proj\.weight_scale: E8M0 scale byte 255 \(NaN\) at element 7/);
    const ok = spawnSync(process.execPath, [bin, 'inspect', '--model', base, '--verify'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /verified: read all \d+ text tensors/);
  });

  it('inspect mentions a dflash/ drafter and the loader ignores it', () => {
    const d = copyOf(base);
    fs.mkdirSync(path.join(d, 'dflash'));
    fs.writeFileSync(path.join(d, 'dflash', 'config.json'), '{"model_type": "dflash"}');
    const r = spawnSync(process.execPath, [bin, 'inspect', '--model', d], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /dflash\/: a separate DFlash drafter/);
    assert.doesNotThrow(() => loadModel(d));
  });
});

/** Golden cases in the V2.6 layout (by config, not by name). */
const v26Cases = discoverCases().filter((c) => JSON.parse(fs.readFileSync(path.join(c, 'config.json'), 'utf8')).quantization_config?.store_dtype === 'mxfp4');

describe('the golden comparison catches a mis-decoded MXFP4 checkpoint', { skip: v26Cases.length === 0 ? 'no V2.6 golden case found' : false }, () => {
  for (const caseDir of v26Cases) {
    const g = readGolden(caseDir);
    const ids = Array.from(g.tensors.get('input_ids')!.data);
    const golden = g.tensors.get('logits')!.data;
    const tol = 2e-3 * Math.max(1, maxAbs(golden));
    const logitsOf = (dir: string) => {
      const { model } = loadModel(dir);
      return model.computeLogits(model.forward(ids, model.newCache()), ids.length);
    };
    const mutate = (what: string, edit: (t: Edited) => Edited): number => {
      const d = copyOf(caseDir);
      rewrite(d, (t) => (/\.mlp\.experts\.\d+\./.test(t.name) ? edit(t) : t));
      const diff = maxAbsDiff(logitsOf(d), golden);
      assert.ok(diff > tol, `${path.basename(caseDir)} with ${what}: logits within tolerance (${diff} ≤ ${tol}), the mutation went unnoticed`);
      return diff;
    };
    it(`${path.basename(caseDir)}: as stored it matches; nibbles swapped or scale bias off by one does not`, () => {
      assert.ok(maxAbsDiff(logitsOf(caseDir), golden) <= tol);
      mutate('nibbles swapped', (t) => (t.name.endsWith('.weight') ? { ...t, bytes: t.bytes.map((b) => ((b & 15) << 4) | (b >> 4)) } : t));
      mutate('scale bias 126 instead of 127', (t) => (t.name.endsWith('.weight_scale') ? { ...t, bytes: t.bytes.map((b) => Math.min(254, b + 1)) } : t));
    });
  }
});
