/**
 * Model arithmetic against hand computation (spec §2.2–§2.7, §3.7) and against the published figures (spec §0,
 * §2.1): Flash 309B / 15B active, V2.5-Pro 1.02T / 42B, checkpoint bytes, KV bytes per token.
 */
import { expectedWeightShapes } from '../../src/model/mimo-v2/stats.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Checkpoint, isTextTensor } from '../../src/loader/checkpoint.js';
import { loadConfig, parseConfig } from '../../src/model/mimo-v2/config.js';
import { loadPreset, PRESET_NUM_MTP_LAYERS } from '../../src/model/mimo-v2/presets.js';
import { countMtpLayers } from '../../src/model/mimo-v2/weights.js';
import { countParameters, kvBytesPerToken, kvCacheBytes, weightBytesByDtype, weightInventory } from '../../src/model/mimo-v2/stats.js';
import { formatInspectReport, inspectJson } from '../../src/model/mimo-v2/inspect-report.js';
import { discoverCases, fixturesDir } from '../helpers/fixtures.js';

const flash = loadPreset('mimo-v2-flash');
const v25 = loadPreset('mimo-v2.5');
const pro = loadPreset('mimo-v2.5-pro');
const MTP = PRESET_NUM_MTP_LAYERS;

const within = (got: number, want: number, relTol: number, what: string): void => {
  assert.ok(Math.abs(got - want) <= relTol * want, `${what}: got ${got}, want ${want} ± ${relTol * 100}%`);
};

describe('countParameters — Flash by hand', () => {
  const D = 4096;
  const p = countParameters(flash.config, MTP);

  it('attention: 9 full + 39 sliding layers', () => {
    const q = 64 * 192 * D; // 50,331,648
    const o = D * 64 * 128; // 33,554,432
    const fullLayer = q + 4 * 192 * D + 4 * 128 * D + o; // k 3,145,728 + v 2,097,152
    const slidingLayer = q + 8 * 192 * D + 8 * 128 * D + o + 64; // k 6,291,456 + v 4,194,304 + 64 sinks
    assert.equal(fullLayer, 89_128_960);
    assert.equal(slidingLayer, 94_371_904);
    assert.equal(p.byComponent.attention, 9 * fullLayer + 39 * slidingLayer);
    assert.equal(p.byComponent.attention, 4_482_664_896);
  });

  it('embedding, LM head, norms, dense MLP, routers, experts', () => {
    assert.equal(p.embedding, 152_576 * D); // 624,951,296
    assert.equal(p.lmHead, 152_576 * D);
    assert.equal(p.byComponent.norms, 48 * 2 * D + D); // 397,312
    assert.equal(p.byComponent.denseMlp, 3 * 16_384 * D); // 201,326,592
    assert.equal(p.byComponent.router, 47 * (256 * D + 256)); // 49,295,104
    const expert = 3 * 2048 * D; // 25,165,824
    assert.equal(p.byComponent.experts, 47 * 256 * expert); // 302,795,194,368
    assert.equal(p.activeByComponent.experts, 47 * 8 * expert); // 9,462,349,824
  });

  it('total 308,778,780,864 ≈ 309B (within 1%), MTP excluded', () => {
    assert.equal(p.total, 624_951_296 * 2 + 4_482_664_896 + 397_312 + 201_326_592 + 49_295_104 + 302_795_194_368);
    assert.equal(p.total, 308_778_780_864);
    within(p.total, 309e9, 0.01, 'Flash total');
  });

  it('active ≈ 15B counting the embedding table and LM head (within 5%)', () => {
    const nonEmbedding = 4_482_664_896 + 397_312 + 201_326_592 + 49_295_104 + 9_462_349_824;
    assert.equal(p.activeNonEmbedding, nonEmbedding); // 14,196,033,728
    assert.equal(p.activePerToken, nonEmbedding + 2 * 624_951_296); // 15,445,936,320
    within(p.activePerToken, 15e9, 0.05, 'Flash active');
  });

  it('one MTP layer = eh_proj + sliding attention + dense FFN + 5 norms = 329.3M (spec §2.2)', () => {
    const layer = D * 2 * D + 94_371_904 + 3 * 16_384 * D + 5 * D;
    assert.equal(layer, 329_273_408);
    assert.equal(p.mtpPerLayer, layer);
    assert.equal(p.mtp, 3 * layer);
    assert.equal(p.totalWithMtp, p.total + 3 * layer);
  });
});

describe('countParameters — V2.5 and V2.5-Pro', () => {
  it('V2.5 text + MTP + 729M ViT + 261M audio ≈ 310,775,040,000 in the released checkpoint (spec §2.1)', () => {
    const p = countParameters(v25.config, MTP);
    assert.equal(p.total, countParameters(flash.config, MTP).total); // same geometry, fused layout
    within(p.totalWithMtp + 729e6 + 261e6, 310_775_040_000, 0.0005, 'V2.5 params');
  });

  it('V2.5-Pro ≈ 1.02T total, ≈ 42B active', () => {
    const p = countParameters(pro.config, MTP);
    const D = 6144;
    const attentionLayer = 128 * 192 * D + 8 * 192 * D + 8 * 128 * D + D * 128 * 128; // 267,386,880
    assert.equal(p.byComponent.attention, 70 * attentionLayer + 60 * 128);
    assert.equal(p.byComponent.experts, 69 * 384 * 3 * 2048 * D);
    assert.equal(p.total, 1_021_248_126_336);
    within(p.total, 1.02e12, 0.01, 'Pro total');
    within(p.activePerToken, 42e9, 0.05, 'Pro active');
  });

  it('tied embeddings drop the LM head', () => {
    const tied = parseConfig({ ...flash.raw, tie_word_embeddings: true }, 'tied');
    const p = countParameters(tied, 0);
    assert.equal(p.lmHead, 0);
    assert.equal(p.total, 308_778_780_864 - 624_951_296);
    assert.equal(p.mtp, 0);
  });
});

describe('weightInventory scale grids (spec §2.2–§2.6)', () => {
  const scale = (cfg: typeof flash.config, name: string): [number, number] | undefined =>
    weightInventory(cfg, MTP).find((g) => g.name === name)?.scaleShape;

  it('Flash split q/k/v: per-KV-head grid for the full-attention k_proj', () => {
    assert.deepEqual(scale(flash.config, 'model.layers.0.self_attn.q_proj.weight'), [96, 32]);
    assert.deepEqual(scale(flash.config, 'model.layers.0.self_attn.k_proj.weight'), [8, 32]);
    assert.deepEqual(scale(flash.config, 'model.layers.0.self_attn.v_proj.weight'), [4, 32]);
    assert.deepEqual(scale(flash.config, 'model.layers.1.self_attn.k_proj.weight'), [12, 32]);
    assert.deepEqual(scale(flash.config, 'model.layers.1.self_attn.v_proj.weight'), [8, 32]);
    assert.deepEqual(scale(flash.config, 'model.layers.1.mlp.experts.{e}.down_proj.weight'), [32, 16]);
    assert.deepEqual(scale(flash.config, 'model.layers.0.mlp.down_proj.weight'), [32, 128]);
    assert.equal(scale(flash.config, 'model.layers.0.self_attn.o_proj.weight'), undefined);
  });

  it('fused qkv: per-chunk grids 108 / 116 (V2.5) and 216 (Pro)', () => {
    assert.deepEqual(scale(v25.config, 'model.layers.0.self_attn.qkv_proj.weight'), [108, 32]);
    assert.deepEqual(scale(v25.config, 'model.layers.1.self_attn.qkv_proj.weight'), [116, 32]);
    assert.deepEqual(scale(v25.config, 'model.mtp.layers.2.self_attn.qkv_proj.weight'), [116, 32]);
    assert.deepEqual(scale(pro.config, 'model.layers.69.self_attn.qkv_proj.weight'), [216, 48]);
    const qkv = weightInventory(v25.config, MTP).find((g) => g.name === 'model.layers.0.self_attn.qkv_proj.weight');
    assert.deepEqual(qkv?.shape, [13_568, 4096]);
  });
});

describe('weightBytesByDtype (official FP8 policy)', () => {
  it('Flash FP8 checkpoint ≈ 310 GB', () => {
    const b = weightBytesByDtype(flash.config, MTP);
    const p = countParameters(flash.config, MTP);
    // BF16: embedding + LM head + norms + o_proj + sinks; MTP eh_proj + o_proj + norms + sinks.
    const bf16Trunk = 2 * 624_951_296 + 397_312 + 48 * 33_554_432 + 39 * 64;
    const bf16Mtp = 3 * (4096 * 8192 + 33_554_432 + 5 * 4096 + 64);
    assert.equal(b['BF16'], 2 * (bf16Trunk + bf16Mtp));
    // FP8: everything else except the F32 router.
    assert.equal(b['F8_E4M3'], p.totalWithMtp - bf16Trunk - bf16Mtp - 49_295_104);
    const total = Object.values(b).reduce((x, y) => x + y, 0);
    assert.equal(total, 313_051_659_008);
    within(total, 310e9, 0.02, 'Flash checkpoint bytes');
  });

  it('V2.5-Pro matches the released 962.4 GiB (spec §2.1)', () => {
    const total = Object.values(weightBytesByDtype(pro.config, MTP)).reduce((x, y) => x + y, 0);
    assert.ok(Math.abs(total / 2 ** 30 - 962.4) < 0.05, `got ${total / 2 ** 30} GiB`);
  });

  it('without quantization_config the FP8 matrices are BF16 and there are no scales', () => {
    const { quantization_config: _, ...raw } = flash.raw;
    const cfg = parseConfig(raw, 'bf16');
    const b = weightBytesByDtype(cfg, MTP);
    const p = countParameters(cfg, MTP);
    assert.equal(b['F8_E4M3'], undefined);
    assert.equal(b['F32'], 4 * 49_295_104);
    assert.equal(b['BF16'], 2 * (p.totalWithMtp - 49_295_104));
  });
});

describe('KV-cache bytes (spec §3.7)', () => {
  it('Flash bf16: 23,040 B/token full, 25.6 MB sliding per sequence, 122,880 all-full', () => {
    const kv = kvBytesPerToken(flash.config, 2);
    assert.equal(kv.full, 9 * 4 * (192 + 128) * 2);
    assert.equal(kv.full, 23_040);
    assert.equal(kv.sliding, 39 * 8 * (192 + 128) * 2); // 199,680
    assert.equal(kv.slidingPerSequence, 25_559_040);
    assert.equal(kv.mtpPerLayerPerSequence * 3, 1_966_080);
    assert.equal(kv.allFull, 122_880);
    assert.equal(kv.reduction, 122_880 / 23_040);
  });

  it('V2.5-Pro bf16: 51,200 B/token full, ≈ 39.3 MB sliding per sequence', () => {
    const kv = kvBytesPerToken(pro.config, 2);
    assert.equal(kv.full, 51_200);
    assert.equal(kv.slidingPerSequence, 39_321_600);
  });

  it('kvCacheBytes grows full layers with context and caps rings at the window', () => {
    const long = kvCacheBytes(flash.config, 32_768, 2, 3);
    assert.equal(long.full, 32_768 * 23_040);
    assert.equal(long.sliding, 25_559_040);
    assert.equal(long.mtp, 1_966_080);
    assert.equal(long.total, 32_768 * 23_040 + 25_559_040 + 1_966_080);
    assert.equal(long.allFull, 32_768 * 122_880);
    assert.equal(long.ratio, long.allFull / (long.full + long.sliding));
    const short = kvCacheBytes(flash.config, 100, 1, 0);
    assert.equal(short.sliding, 100 * 199_680 / 2);
    assert.equal(short.mtp, 0);
  });
});

describe('inspect report', () => {
  const input = {
    title: 'mimo-v2-flash',
    config: flash.config,
    numMtpLayers: MTP,
    bytesByDtype: weightBytesByDtype(flash.config, MTP),
    kvDtype: 'bf16' as const,
  };

  it('inspectJson carries the computed numbers and merges layer runs', () => {
    const j = inspectJson(input);
    assert.equal(j.parameters.total, 308_778_780_864);
    assert.equal(j.kv.perToken.full, 23_040);
    assert.deepEqual(j.kv.contexts.map((c) => c.contextTokens), [32_768, 262_144]);
    assert.equal(j.layers.length, 17); // 0 | 1-4 | 5 | 6-10 | … | 47
    assert.deepEqual([j.layers[1]!.first, j.layers[1]!.last, j.layers[1]!.attention], [1, 4, 'sliding']);
    assert.equal(j.mtpLayers?.last, 2);
    assert.equal(j.totalBytes, 313_051_659_008);
  });

  it('the text report states totals, the embedding convention, KV figures and the layer map', () => {
    const text = formatInspectReport(input);
    for (const s of ['308.8B', '308,778,780,864', '15.4B', 'embedding table and LM head', '23,040 B/token', '122,880 B/token', '5.33×', '25.56 MB', '32K', '256K', 'MTP 0-2', '313.05 GB']) {
      assert.ok(text.includes(s), `report lacks ${JSON.stringify(s)}:\n${text}`);
    }
  });

  it('fp8 KV halves the bf16 figures', () => {
    assert.equal(inspectJson({ ...input, kvDtype: 'fp8' }).kv.perToken.full, 11_520);
  });
});

describe('weightInventory against the fixture checkpoints', () => {
  const cases = discoverCases();
  it('every fixture case: same text tensor names, shapes and FP8 scale grids as the checkpoint', { skip: cases.length === 0 ? `no fixtures under ${fixturesDir()}` : false }, () => {
    for (const dir of cases) {
      const ckpt = new Checkpoint(dir);
      try {
        const cfg = loadConfig(path.join(dir, 'config.json'));
        const expected = new Map<string, number[]>(expectedWeightShapes(cfg, countMtpLayers(ckpt.names(), dir)));
        for (const g of weightInventory(cfg, countMtpLayers(ckpt.names(), dir))) {
          for (let e = 0; e < g.count; e++) {
            if (g.scaleShape) expected.set(g.name.replace('{e}', String(e)).replace(/weight$/, 'weight_scale_inv'), g.scaleShape);
          }
        }
        const actual = new Map(ckpt.names().filter(isTextTensor).map((n) => [n, ckpt.info(n)!.shape] as const));
        assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), `${dir}: tensor names`);
        for (const [name, shape] of expected) assert.deepEqual(actual.get(name), shape, `${dir}: ${name}`);
      } finally {
        ckpt.close();
      }
    }
  });
});
