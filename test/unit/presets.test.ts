/** Presets: every shipped config.json parses, carries the published values (spec §1.1), unknown names fail. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { countMtpLayers } from '../../src/model/mimo-v2/weights.js';
import { CheckpointError } from '../../src/errors.js';
import { loadPreset, PRESET_NAMES, PRESET_NUM_MTP_LAYERS, presetsDir } from '../../src/model/mimo-v2/presets.js';
import { packageRoot } from '../../src/util/package-root.js';
import { countParameters, weightBytesByDtype } from '../../src/model/mimo-v2/stats.js';

const fullLayers = (cfg: ReturnType<typeof loadPreset>['config']): number[] =>
  cfg.layers.filter((l) => l.attention.kind === 'full').map((l) => l.index);

describe('presets', () => {
  it('lists the published members', () => {
    assert.deepEqual([...PRESET_NAMES], ['mimo-v2-flash', 'mimo-v2-flash-base', 'mimo-v2.5', 'mimo-v2.5-pro', 'mimo-v2.6-flash', 'mimo-v2.6-pro']);
    assert.equal(PRESET_NUM_MTP_LAYERS, 3);
  });

  it('finds the package root and presets directory', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { name: string };
    assert.equal(manifest.name, 'mimo-ts');
    assert.equal(presetsDir(), path.join(packageRoot(), 'presets'));
  });

  for (const name of PRESET_NAMES) {
    it(`${name} parses with FP8 128×128 blocks and o_proj left in BF16`, () => {
      const { raw, config } = loadPreset(name);
      assert.deepEqual(config.weightBlockSize, [128, 128]);
      const quant = raw['quantization_config'] as { ignored_layers: string[]; fmt: string };
      assert.equal(quant.fmt, 'e4m3');
      for (let i = 0; i < config.numHiddenLayers; i++) assert.ok(quant.ignored_layers.includes(`model.layers.${i}.self_attn.o_proj`));
      assert.deepEqual(config.eosTokenIds, [151_645]);
      assert.equal(config.padTokenId, 151_643);
      assert.equal(config.layers[0]!.ffn, 'dense');
      assert.ok(config.layers.slice(1).every((l) => l.ffn === 'moe'));
      assert.equal(config.slidingWindow, 128);
      assert.equal(config.swaPlan.rotaryDim, 64);
    });
  }

  it('Flash: split q/k/v, GA at 0,5,…,47, θ 5e6 / 1e4, 256K context', () => {
    const { raw, config } = loadPreset('mimo-v2-flash');
    assert.equal(config.modelType, 'mimo_v2_flash');
    assert.equal(config.fusedQkv, false);
    assert.deepEqual(fullLayers(config), [0, 5, 11, 17, 23, 29, 35, 41, 47]);
    assert.deepEqual([config.fullPlan.numKvHeads, config.swaPlan.numKvHeads], [4, 8]);
    assert.deepEqual([config.ropeTheta, config.swaRopeTheta], [5_000_000, 10_000]);
    assert.equal(raw['max_position_embeddings'], 262_144);
    assert.equal(raw['rope_scaling'], null);
    assert.equal(raw['torch_dtype'], 'bfloat16');
    assert.deepEqual(loadPreset('mimo-v2-flash-base').raw, raw);
  });

  for (const [name, total, active] of [['mimo-v2.6-flash', 309e9, 15e9], ['mimo-v2.6-pro', 1.02e12, 42e9]] as const) {
    it(`${name}: MXFP4 experts, BF16 router, ${total / 1e9}B / ${active / 1e9}B parameters, each value's source beside the file`, () => {
      const { raw, config } = loadPreset(name);
      assert.equal(config.expertStorage, 'mxfp4');
      assert.equal(config.moeRouterDtype, 'bfloat16');
      assert.equal(config.fusedQkv, true);
      assert.equal((raw['quantization_config'] as Record<string, unknown>)['mxfp4_block_size'], 32);
      const p = countParameters(config, PRESET_NUM_MTP_LAYERS);
      // The published figures are rounded: 309B / 15B and 1.02T / 42B.
      const step = total > 1e12 ? 1e10 : 1e9;
      assert.equal(Math.round(p.total / step) * step, total, `total ${p.total}`);
      assert.equal(Math.round(p.activePerToken / 1e9) * 1e9, active, `active ${p.activePerToken}`);
      const sources = fs.readFileSync(path.join(presetsDir(), `${name}.sources.md`), 'utf8');
      assert.match(sources, /spec §2\.8/);
      if (name === 'mimo-v2.6-pro') assert.match(sources, /\[assumed\]/);
      // U8 bytes = experts at ½ byte + 1/32 byte (E8M0) per weight.
      const experts = config.layers.filter((l) => l.ffn === 'moe').length * config.nRoutedExperts * 3 * config.moeIntermediateSize * config.hiddenSize;
      assert.equal(weightBytesByDtype(config, PRESET_NUM_MTP_LAYERS)['U8'], experts * (0.5 + 1 / 32));
    });
  }

  it('V2.5: mimo_v2, fused qkv, θ 1e7, 1M context, default rope_scaling', () => {
    const { raw, config } = loadPreset('mimo-v2.5');
    assert.equal(config.modelType, 'mimo_v2');
    assert.equal(config.fusedQkv, true);
    assert.deepEqual(fullLayers(config), [0, 5, 11, 17, 23, 29, 35, 41, 47]);
    assert.equal(config.ropeTheta, 10_000_000);
    assert.equal(raw['max_position_embeddings'], 1_048_576);
    assert.deepEqual(raw['rope_scaling'], { rope_type: 'default', type: 'default' });
    assert.equal(raw['dtype'], 'bfloat16');
    assert.ok((raw['quantization_config'] as { ignored_layers: string[] }).ignored_layers.includes('model.decoder.self_attn.o_proj'));
  });

  it('V2.5-Pro: 70 layers, GA at 0,7,15,…,62,69, 384 experts, 128/8 heads, value scale 0.612', () => {
    const { config } = loadPreset('mimo-v2.5-pro');
    assert.equal(config.numHiddenLayers, 70);
    assert.deepEqual(fullLayers(config), [0, 7, 15, 23, 31, 39, 47, 55, 62, 69]);
    assert.equal(config.nRoutedExperts, 384);
    assert.deepEqual([config.fullPlan.numHeads, config.fullPlan.numKvHeads, config.swaPlan.numKvHeads], [128, 8, 8]);
    assert.equal(config.attentionValueScale, 0.612);
    assert.equal(config.hiddenSize, 6144);
  });

  it('unknown preset → ConfigError listing the valid names', () => {
    assert.throws(
      () => loadPreset('mimo-v3'),
      (e: unknown) => e instanceof ConfigError && e.file === 'preset' && /mimo-v3/.test(e.message) && PRESET_NAMES.every((n) => e.message.includes(n)),
    );
  });
});

describe('countMtpLayers', () => {
  it('counts distinct model.mtp.layers.{k}', () => {
    const names = [
      'model.embed_tokens.weight',
      'model.layers.0.self_attn.q_proj.weight',
      'model.mtp.layers.0.enorm.weight',
      'model.mtp.layers.0.eh_proj.weight',
      'model.mtp.layers.1.mlp.up_proj.weight',
      'model.mtp.layers.2.self_attn.qkv_proj.weight_scale_inv',
      'visual.blocks.0.mtp.layers.7.weight',
    ];
    assert.equal(countMtpLayers(names, 'test'), 3);
    assert.throws(() => countMtpLayers(['model.mtp.layers.10.enorm.weight'], 'test'), CheckpointError);
    assert.equal(countMtpLayers(['model.norm.weight', 'lm_head.weight'], 'test'), 0);
    assert.equal(countMtpLayers([], 'test'), 0);
  });
});
