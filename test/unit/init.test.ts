/**
 * `mimo init` checkpoints (src/model/mimo-v2/init.ts, scale.ts): for every member at tiny scale, in BF16 and FP8,
 * the files follow the official layout (spec §2 inventories computed here from the parsed config), FP8 blocks
 * decode through Checkpoint.readWeight to the BF16 checkpoint's values of the same seed, every block's amax code is
 * ≈ 448 on the per-chunk grid, fused qkv_proj de-chunks by the spec's row rule into the q/k/v streams, and the
 * same seed gives byte-identical files.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Rng } from '../../src/engine/rng.js';
import { RequestError, ConfigError } from '../../src/errors.js';
import { Checkpoint, INDEX_FILE } from '../../src/loader/checkpoint.js';
import { numel } from '../../src/loader/safetensors.js';
import { bf16BitsToNumber, numberToBf16Bits } from '../../src/tensor/dtype.js';
import { loadConfig, parseConfig, type AttentionPlan, type MiMoConfig } from '../../src/model/mimo-v2/config.js';
import { initCheckpoint, planCheckpoint, tensorSeed } from '../../src/model/mimo-v2/init.js';
import { loadPreset } from '../../src/model/mimo-v2/presets.js';
import { scaledConfig } from '../../src/model/mimo-v2/scale.js';
import { PRESET_NAMES } from '../../src/model/mimo-v2/presets.js';

const SEED = 7;
const MTP = 3;
const BLOCK = 128;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-init-test-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

interface Expected {
  shape: number[];
  dtype: string;
  /** FP8 weights: chunk count of the scale grid. */
  chunks?: number;
}

/** The tensor inventory of spec §2.2–§2.4 / fixtures README §1 for a parsed config. */
function expectedTensors(cfg: MiMoConfig, numMtp: number, fp8: boolean): Map<string, Expected> {
  const D = cfg.hiddenSize;
  const m = new Map<string, Expected>();
  const put = (name: string, shape: number[], dtype: string): void => void m.set(name, { shape, dtype });
  const quantized = (name: string, shape: [number, number], chunks = 1): void => {
    if (!fp8) return put(name, shape, 'BF16');
    m.set(name, { shape, dtype: 'F8_E4M3', chunks });
    put(`${name}_scale_inv`, [chunks * Math.ceil(shape[0] / chunks / BLOCK), Math.ceil(shape[1] / BLOCK)], 'F32');
  };
  const attention = (p: string, plan: AttentionPlan): void => {
    const { numHeads: h, numKvHeads: kv, headDim: d, vHeadDim: dv } = plan;
    if (cfg.fusedQkv) {
      const n = cfg.numKeyValueHeads;
      quantized(`${p}.qkv_proj.weight`, [h * d + kv * d + kv * dv, D], n);
    } else {
      quantized(`${p}.q_proj.weight`, [h * d, D]);
      quantized(`${p}.k_proj.weight`, [kv * d, D], plan.kind === 'full' ? cfg.numKeyValueHeads : 1);
      quantized(`${p}.v_proj.weight`, [kv * dv, D]);
    }
    put(`${p}.o_proj.weight`, [D, h * dv], 'BF16');
    if (plan.kind === 'sliding') put(`${p}.attention_sink_bias`, [h], 'BF16');
  };
  const mlp = (p: string, inter: number): void => {
    quantized(`${p}.gate_proj.weight`, [inter, D]);
    quantized(`${p}.up_proj.weight`, [inter, D]);
    quantized(`${p}.down_proj.weight`, [D, inter]);
  };
  put('model.embed_tokens.weight', [cfg.vocabSize, D], 'BF16');
  put('lm_head.weight', [cfg.vocabSize, D], 'BF16');
  put('model.norm.weight', [D], 'BF16');
  cfg.layers.forEach((layer, i) => {
    const p = `model.layers.${i}`;
    put(`${p}.input_layernorm.weight`, [D], 'BF16');
    put(`${p}.post_attention_layernorm.weight`, [D], 'BF16');
    attention(`${p}.self_attn`, layer.attention);
    if (i === 0) {
      assert.equal(layer.ffn, 'dense');
      mlp(`${p}.mlp`, cfg.intermediateSize);
    } else {
      put(`${p}.mlp.gate.weight`, [cfg.nRoutedExperts, D], 'F32');
      put(`${p}.mlp.gate.e_score_correction_bias`, [cfg.nRoutedExperts], 'F32');
      for (let e = 0; e < cfg.nRoutedExperts; e++) mlp(`${p}.mlp.experts.${e}`, cfg.moeIntermediateSize);
    }
  });
  for (let k = 0; k < numMtp; k++) {
    const p = `model.mtp.layers.${k}`;
    for (const n of ['enorm', 'hnorm', 'input_layernorm', 'pre_mlp_layernorm', 'final_layernorm']) put(`${p}.${n}.weight`, [D], 'BF16');
    put(`${p}.eh_proj.weight`, [D, 2 * D], 'BF16');
    attention(`${p}.self_attn`, cfg.swaPlan);
    mlp(`${p}.mlp`, cfg.intermediateSize);
  }
  return m;
}

/** Rows of a fused qkv_proj by the spec §2.6 rule: fused row r → ['q'|'k'|'v', row in that projection]. */
function dechunkRow(r: number, plan: AttentionPlan, n: number): ['q' | 'k' | 'v', number] {
  const rq = (plan.numHeads / n) * plan.headDim;
  const rk = (plan.numKvHeads / n) * plan.headDim;
  const rv = (plan.numKvHeads / n) * plan.vHeadDim;
  const c = Math.floor(r / (rq + rk + rv));
  const rr = r % (rq + rk + rv);
  if (rr < rq) return ['q', c * rq + rr];
  if (rr < rq + rk) return ['k', c * rk + (rr - rq)];
  return ['v', c * rv + (rr - rq - rk)];
}

/** The values init draws for a tensor name, rounded to BF16 (its stream: mean 0, std 1/sqrt(cols)). */
function drawnBf16(name: string, rows: number, cols: number): Float32Array {
  const x = Rng.fromSeed(tensorSeed(SEED, name)).fillNormal(new Float32Array(rows * cols), 1 / Math.sqrt(cols));
  return x.map((v) => bf16BitsToNumber(numberToBf16Bits(v)));
}

function filesOf(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

const PRESETS = ['mimo-v2-flash', 'mimo-v2.5', 'mimo-v2.5-pro'] as const;

for (const preset of PRESETS) {
  describe(`init ${preset} tiny`, () => {
    const dirs = { bf16: path.join(root, `${preset}-bf16`), fp8: path.join(root, `${preset}-fp8`) };
    const results: Record<string, Awaited<ReturnType<typeof initCheckpoint>>> = {};
    before(async () => {
      results['bf16'] = await initCheckpoint({ preset, scale: 'tiny', outDir: dirs.bf16, seed: SEED });
      results['fp8'] = await initCheckpoint({ preset, scale: 'tiny', outDir: dirs.fp8, seed: SEED, fp8: true });
    });

    for (const kind of ['bf16', 'fp8'] as const) {
      test(`${kind}: config keeps the member's character and every inventory tensor has its shape and dtype`, () => {
        const dir = dirs[kind];
        const cfg = loadConfig(path.join(dir, 'config.json'));
        const member = loadPreset(preset).config;
        assert.equal(cfg.modelType, member.modelType);
        assert.equal(cfg.fusedQkv, member.fusedQkv);
        assert.equal(cfg.vocabSize, 152576);
        assert.deepEqual(cfg.eosTokenIds, [151645]);
        assert.equal(cfg.padTokenId, 151643);
        assert.equal(cfg.hiddenSize, 64);
        assert.equal(cfg.nRoutedExperts, 8);
        assert.equal(cfg.numExpertsPerTok, 2);
        assert.equal(cfg.slidingWindow, 16);
        assert.equal(cfg.attentionValueScale, member.attentionValueScale);
        assert.equal(cfg.ropeTheta, member.ropeTheta);
        assert.equal(cfg.swaRopeTheta, member.swaRopeTheta);
        assert.equal(cfg.partialRotaryFactor, member.partialRotaryFactor);
        assert.equal(cfg.swaNumKeyValueHeads / cfg.numKeyValueHeads, member.swaNumKeyValueHeads / member.numKeyValueHeads);
        assert.equal(cfg.headDim * 2, cfg.vHeadDim * 3);
        const period = preset === 'mimo-v2.5-pro' ? 8 : 6;
        assert.deepEqual(cfg.layers.map((l) => (l.attention.kind === 'full' ? 0 : 1)), [0, ...Array(period - 2).fill(1), 0]);
        assert.deepEqual(cfg.layers.map((l) => l.ffn), ['dense', ...Array(period - 1).fill('moe')]);
        if (cfg.fusedQkv) assert.ok(cfg.numKeyValueHeads >= 2, 'fused layout is exercised with at least 2 chunks');
        assert.deepEqual(cfg.weightBlockSize, kind === 'fp8' ? [128, 128] : null);
        if (kind === 'fp8') {
          const q = (JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { quantization_config: { ignored_layers: string[] } }).quantization_config;
          for (let i = 0; i < cfg.numHiddenLayers; i++) assert.ok(q.ignored_layers.includes(`model.layers.${i}.self_attn.o_proj`));
        }

        const expected = expectedTensors(cfg, MTP, kind === 'fp8');
        const ckpt = new Checkpoint(dir);
        try {
          assert.deepEqual(ckpt.names().slice().sort(), [...expected.keys()].sort());
          let params = 0;
          for (const [name, want] of expected) {
            const info = ckpt.info(name)!;
            assert.deepEqual(info.shape, want.shape, name);
            assert.equal(info.rawDtype, want.dtype, name);
            if (!name.endsWith('_scale_inv')) params += numel(want.shape);
          }
          assert.equal(results[kind]!.paramCount, params);
          const index = JSON.parse(fs.readFileSync(path.join(dir, INDEX_FILE), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
          const total = ckpt.names().reduce((s, n) => s + ckpt.info(n)!.sizeBytes, 0);
          assert.equal(index.metadata.total_size, total);
          assert.equal(results[kind]!.bytes, total);
          const shards = new Set(Object.values(index.weight_map));
          if (cfg.modelType === 'mimo_v2_flash') {
            for (const f of shards) assert.match(f, /^model-\d{5}-of-\d{5}\.safetensors$/);
          } else {
            for (const f of shards) assert.match(f, /^(model_pp0_ep\d+_shard\d+|model_mtp)\.safetensors$/);
            for (const [n, f] of Object.entries(index.weight_map)) assert.equal(f === 'model_mtp.safetensors', n.startsWith('model.mtp.'), n);
          }
          assert.ok(shards.size >= 3, 'split into a few shards');
        } finally {
          ckpt.close();
        }
        for (const f of ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja']) assert.ok(fs.existsSync(path.join(dir, f)), f);
      });
    }

    test('fp8: blocks decode to the bf16 checkpoint of the same seed, and each block amax code is ≈ 448 on its per-chunk grid', () => {
      const cfg = loadConfig(path.join(dirs.fp8, 'config.json'));
      const expected = expectedTensors(cfg, MTP, true);
      const f8 = new Checkpoint(dirs.fp8);
      const bf = new Checkpoint(dirs.bf16);
      try {
        let checked = 0;
        for (const [name, want] of expected) {
          if (want.dtype !== 'F8_E4M3') continue;
          const [R, C] = want.shape as [number, number];
          const n = want.chunks!;
          const deq = f8.readWeight(name, [R, C], [BLOCK, BLOCK], [n]).data;
          const ref = bf.readF32(name, [R, C]).data;
          const codes = f8.readF32(name).data; // the e4m3 values without scales
          const scaleInfo = f8.info(`${name}_scale_inv`)!;
          const scales = f8.readF32(`${name}_scale_inv`).data;
          const scaleCols = scaleInfo.shape[1]!;
          const blockAmax = new Float32Array(scales.length);
          const chunkRows = R / n;
          for (let r = 0; r < R; r++) {
            const c = Math.floor(r / chunkRows);
            const sRow = c * Math.ceil(chunkRows / BLOCK) + Math.floor((r % chunkRows) / BLOCK);
            for (let col = 0; col < C; col++) {
              const i = r * C + col;
              const s = scales[sRow * scaleCols + Math.floor(col / BLOCK)]!;
              const err = Math.abs(deq[i]! - ref[i]!);
              // e4m3 keeps 3 mantissa bits (relative error ≤ 2^-4), subnormal steps are 2^-9·scale; bf16 adds 2^-8.
              if (!(err <= Math.abs(ref[i]!) * (2 ** -4 + 2 ** -8) + s * 2 ** -9)) assert.fail(`${name}[${r}, ${col}]: ${deq[i]} vs ${ref[i]}`);
              const b = sRow * scaleCols + Math.floor(col / BLOCK);
              blockAmax[b] = Math.max(blockAmax[b]!, Math.abs(codes[i]!));
            }
          }
          for (let b = 0; b < blockAmax.length; b++) assert.ok(blockAmax[b]! >= 416, `${name} block ${b}: amax code ${blockAmax[b]}`);
          checked++;
        }
        assert.ok(checked > 50);
      } finally {
        f8.close();
        bf.close();
      }
    });

    test('bf16: projections hold their own seeded streams; a fused qkv_proj de-chunks by the §2.6 row rule into them', () => {
      const cfg = loadConfig(path.join(dirs.bf16, 'config.json'));
      const ckpt = new Checkpoint(dirs.bf16);
      const D = cfg.hiddenSize;
      try {
        const prefixes: Array<[string, AttentionPlan]> = [
          ['model.layers.0.self_attn', cfg.fullPlan],
          ['model.layers.1.self_attn', cfg.swaPlan],
          ['model.mtp.layers.2.self_attn', cfg.swaPlan],
        ];
        for (const [p, plan] of prefixes) {
          const want = {
            q: drawnBf16(`${p}.q_proj.weight`, plan.numHeads * plan.headDim, D),
            k: drawnBf16(`${p}.k_proj.weight`, plan.numKvHeads * plan.headDim, D),
            v: drawnBf16(`${p}.v_proj.weight`, plan.numKvHeads * plan.vHeadDim, D),
          };
          if (!cfg.fusedQkv) {
            for (const x of ['q', 'k', 'v'] as const) assert.deepEqual(ckpt.readF32(`${p}.${x}_proj.weight`).data, want[x], `${p}.${x}_proj`);
            continue;
          }
          const n = cfg.numKeyValueHeads;
          const fused = ckpt.readF32(`${p}.qkv_proj.weight`).data;
          const rows = fused.length / D;
          const seen = { q: 0, k: 0, v: 0 };
          for (let r = 0; r < rows; r++) {
            const [x, row] = dechunkRow(r, plan, n);
            seen[x]++;
            assert.deepEqual(fused.subarray(r * D, (r + 1) * D), want[x].subarray(row * D, (row + 1) * D), `${p} fused row ${r} → ${x}[${row}]`);
          }
          assert.deepEqual(seen, { q: want.q.length / D, k: want.k.length / D, v: want.v.length / D });
          // The flat [Q | K | V] reading is wrong (row Rq of chunk 0 is K head 0, not Q head h/n).
          assert.notDeepEqual(fused.subarray(0, want.q.length), want.q);
        }
      } finally {
        ckpt.close();
      }
    });
  });
}

describe('init: files and errors', () => {
  test('same seed → byte-identical files', async () => {
    const a = path.join(root, 'mimo-v2.5-fp8');
    const b = path.join(root, 'again');
    if (!fs.existsSync(a)) await initCheckpoint({ preset: 'mimo-v2.5', scale: 'tiny', outDir: a, seed: SEED, fp8: true });
    await initCheckpoint({ preset: 'mimo-v2.5', scale: 'tiny', outDir: b, seed: SEED, fp8: true });
    assert.deepEqual(filesOf(a), filesOf(b));
    for (const f of filesOf(a)) assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), f);
    assert.notEqual(tensorSeed(SEED, 'lm_head.weight'), tensorSeed(SEED + 1, 'lm_head.weight'));
    fs.rmSync(b, { recursive: true });
  });

  test('refuses a non-empty --out and leaves no temporary directory', async () => {
    const dir = path.join(root, 'busy');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'keep.txt'), 'x');
    const rootListing = filesOf(root);
    await assert.rejects(initCheckpoint({ preset: 'mimo-v2-flash', scale: 'tiny', outDir: dir }), (e: unknown) => e instanceof RequestError && e.param === '--out');
    assert.deepEqual(filesOf(dir), ['keep.txt']);
    assert.deepEqual(filesOf(root), rootListing);
    await assert.rejects(initCheckpoint({ preset: 'mimo-v2.5', scale: 'bench', outDir: path.join(root, 'bench') }), ConfigError);
    assert.deepEqual(filesOf(root), rootListing);
  });
});

describe('scaled configs (no files written)', () => {
  const count = (preset: string, scale: 'small' | 'bench', mtp: number): number => {
    const cfg = parseConfig(scaledConfig(loadPreset(preset).raw, scale), `${preset} ${scale}`);
    return planCheckpoint(cfg, { fp8: false, numMtpLayers: mtp }).reduce((s, t) => s + numel(t.shape), 0);
  };

  test('small ≈ 0.33 B parameters with the member rhythm', () => {
    assert.equal(count('mimo-v2-flash', 'small', 3), 333_091_264);
    assert.equal(count('mimo-v2.5', 'small', 3), 337_514_944);
    assert.equal(count('mimo-v2.5-pro', 'small', 3), 333_582_784);
    const full = (preset: string): number[] => {
      const cfg = parseConfig(scaledConfig(loadPreset(preset).raw, 'small'), preset);
      return cfg.layers.filter((l) => l.attention.kind === 'full').map((l) => l.index);
    };
    assert.deepEqual(full('mimo-v2-flash'), [0, 5, 11]);
    assert.deepEqual(full('mimo-v2.5'), [0, 5, 11]);
    assert.deepEqual(full('mimo-v2.5-pro'), [0, 7, 11]);
  });

  test('bench is the llama.cpp anchor model (0.702 B parameters without MTP)', () => {
    const raw = scaledConfig(loadPreset('mimo-v2-flash').raw, 'bench');
    const cfg = parseConfig(raw, 'bench');
    assert.equal(cfg.hiddenSize, 1024);
    assert.deepEqual(cfg.layers.filter((l) => l.attention.kind === 'full').map((l) => l.index), [0, 5, 11]);
    assert.deepEqual([cfg.fullPlan.numHeads, cfg.fullPlan.numKvHeads, cfg.swaPlan.numKvHeads, cfg.headDim, cfg.vHeadDim], [16, 1, 2, 192, 128]);
    assert.deepEqual([cfg.intermediateSize, cfg.nRoutedExperts, cfg.numExpertsPerTok, cfg.moeIntermediateSize, cfg.vocabSize], [4096, 32, 4, 512, 32000]);
    assert.equal(cfg.fullPlan.rotaryDim, 64);
    assert.equal(cfg.tieWordEmbeddings, false);
    assert.equal(Math.round(count('mimo-v2-flash', 'bench', 0) / 1e6), 702);
    assert.throws(() => scaledConfig(loadPreset('mimo-v2.5-pro').raw, 'bench'), ConfigError);
  });

  test('wide keeps every matrix of each member at its real shape: 6 layers (Pro 8), 64 experts top-8', () => {
    for (const preset of PRESET_NAMES) {
      const real = loadPreset(preset).config;
      const cfg = parseConfig(scaledConfig(loadPreset(preset).raw, 'wide'), `${preset} wide`);
      const pro = real.hiddenSize === 6144;
      assert.equal(cfg.numHiddenLayers, pro ? 8 : 6, preset);
      assert.deepEqual(cfg.layers.filter((l) => l.attention.kind === 'full').map((l) => l.index), pro ? [0, 7] : [0, 5], preset);
      assert.equal(cfg.layers[0]!.ffn, 'dense');
      assert.ok(cfg.layers.slice(1).every((l) => l.ffn === 'moe'));
      assert.deepEqual([cfg.nRoutedExperts, cfg.numExpertsPerTok], [64, 8]);
      for (const k of ['hiddenSize', 'vocabSize', 'intermediateSize', 'moeIntermediateSize', 'slidingWindow', 'moeRouterDtype', 'fusedQkv'] as const) {
        assert.deepEqual(cfg[k], real[k], `${preset} ${k}`);
      }
      assert.deepEqual(cfg.fullPlan, real.fullPlan, `${preset} full-attention geometry`);
      assert.deepEqual(cfg.swaPlan, real.swaPlan, `${preset} sliding-window geometry`);
    }
    // V2-Flash FP8 wide, as the speed issues measure it: ≈ 3.2 GB of weights read per decoded token is in range.
    const flash = parseConfig(scaledConfig(loadPreset('mimo-v2-flash').raw, 'wide'), 'wide');
    const params = planCheckpoint(flash, { fp8: false, numMtpLayers: 3 }).reduce((s, t) => s + numel(t.shape), 0);
    assert.ok(params > 11e9 && params < 12e9, `V2-Flash wide has ${params} parameters`);
  });

  test('flash-base scales like flash', () => {
    assert.deepEqual(scaledConfig(loadPreset('mimo-v2-flash-base').raw, 'tiny')['hybrid_layer_pattern'], [0, 1, 1, 1, 1, 0]);
  });
});
