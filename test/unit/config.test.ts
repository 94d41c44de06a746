/**
 * Unit tests of src/model/mimo-v2/config.ts: every fixture config.json parses to the plan the reference parsed
 * (golden.json → model), and every contradiction or unsupported value raises a ConfigError naming key and file.
 * Reference: spec §1, fixtures/README §1 "config.json", §1.1.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { loadConfig, parseConfig, type AttentionPlan, type MiMoConfig } from '../../src/model/mimo-v2/config.js';
import { discoverCases } from '../helpers/fixtures.js';

const caseDirs = discoverCases();

type Json = Record<string, unknown>;
const readJson = (p: string): Json => JSON.parse(fs.readFileSync(p, 'utf8')) as Json;

interface GoldenAttention {
  kind: 'full' | 'swa';
  n_heads: number;
  n_kv_heads: number;
  head_dim: number;
  v_head_dim: number;
  rope_dim: number;
  rope_theta: number;
  window: number | null;
  has_sinks: boolean;
  v_scale: number;
}
interface GoldenModel {
  layers: number;
  layer_types: string[];
  mlp_types: string[];
  full_attention: GoldenAttention;
  sliding_attention: GoldenAttention;
  experts: number;
  top_k: number;
  n_group: number;
  topk_group: number;
  norm_topk_prob: boolean;
  routed_scaling_factor: number;
  tie_word_embeddings: boolean;
  vocab_size: number;
  hidden_size: number;
}

function checkAttention(plan: AttentionPlan, g: GoldenAttention, cfg: MiMoConfig, what: string): void {
  assert.equal(plan.kind, g.kind === 'full' ? 'full' : 'sliding', `${what}.kind`);
  assert.equal(plan.numHeads, g.n_heads, `${what}.n_heads`);
  assert.equal(plan.numKvHeads, g.n_kv_heads, `${what}.n_kv_heads`);
  assert.equal(plan.headDim, g.head_dim, `${what}.head_dim`);
  assert.equal(plan.vHeadDim, g.v_head_dim, `${what}.v_head_dim`);
  assert.equal(plan.rotaryDim, g.rope_dim, `${what}.rope_dim`);
  assert.equal(plan.ropeTheta, g.rope_theta, `${what}.rope_theta`);
  assert.equal(plan.window, g.window, `${what}.window`);
  assert.equal(plan.hasSink, g.has_sinks, `${what}.has_sinks`);
  assert.equal(cfg.attentionValueScale, g.v_scale, `${what}.v_scale`);
}

describe('parseConfig on every fixture config.json', { skip: caseDirs.length === 0 ? 'fixtures not found' : false }, () => {
  for (const dir of caseDirs) {
    it(`${path.basename(dir)}: plan matches golden.json → model`, () => {
      const file = path.join(dir, 'config.json');
      const cfg = loadConfig(file);
      const golden = readJson(path.join(dir, 'golden.json'));
      const g = golden['model'] as GoldenModel;
      const raw = readJson(file);

      assert.equal(cfg.source, file);
      assert.equal(cfg.modelType, raw['model_type']);
      assert.equal(cfg.numHiddenLayers, g.layers);
      assert.equal(cfg.layers.length, g.layers);
      assert.deepEqual(
        cfg.layers.map((l) => (l.attention.kind === 'full' ? 'full_attention' : 'sliding_attention')),
        g.layer_types,
      );
      assert.deepEqual(cfg.layers.map((l) => (l.ffn === 'moe' ? 'sparse' : 'dense')), g.mlp_types);
      cfg.layers.forEach((l, i) => {
        assert.equal(l.index, i);
        assert.equal(l.attention, l.attention.kind === 'full' ? cfg.fullPlan : cfg.swaPlan);
      });
      checkAttention(cfg.fullPlan, g.full_attention, cfg, 'full_attention');
      checkAttention(cfg.swaPlan, g.sliding_attention, cfg, 'sliding_attention');
      assert.equal(cfg.nRoutedExperts, g.experts);
      assert.equal(cfg.numExpertsPerTok, g.top_k);
      assert.equal(cfg.nGroup, g.n_group);
      assert.equal(cfg.topkGroup, g.topk_group);
      assert.equal(cfg.normTopkProb, g.norm_topk_prob);
      assert.equal(cfg.routedScalingFactor, g.routed_scaling_factor);
      assert.equal(cfg.tieWordEmbeddings, g.tie_word_embeddings);
      assert.equal(cfg.vocabSize, g.vocab_size);
      assert.equal(cfg.hiddenSize, g.hidden_size);
      // Fields golden.json → model does not list, checked against the raw config / golden checkpoint section.
      assert.equal(cfg.intermediateSize, raw['intermediate_size']);
      assert.equal(cfg.moeIntermediateSize, raw['moe_intermediate_size']);
      assert.equal(cfg.layernormEpsilon, raw['layernorm_epsilon']);
      assert.equal(cfg.partialRotaryFactor, raw['partial_rotary_factor']);
      const ck = golden['checkpoint'] as Json;
      assert.deepEqual(cfg.weightBlockSize, ck['fp8_weight_block_size'] ?? null);
      // Fused layout: golden.json describes it under checkpoint.fused_qkv (chunk count = num_key_value_heads).
      const fused = ck['fused_qkv'] as Json | undefined;
      assert.equal(cfg.fusedQkv, fused !== undefined, 'fused layout detection');
      if (fused) {
        const m = /= (\d+)/.exec(String(fused['chunk_count']));
        assert.ok(m, 'golden chunk_count states a number');
        assert.equal(cfg.numKeyValueHeads, Number(m[1]));
        assert.equal(cfg.modelType, 'mimo_v2');
      }
      assert.deepEqual(cfg.eosTokenIds, []); // eos_token_id is null in every fixture: never stop early
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Error cases, built by editing a valid fixture-like config.

/** A valid Flash-style config (used when the fixtures are not available, and as the base of the error cases). */
const BASE: Json = {
  architectures: ['MiMoV2FlashForCausalLM'],
  model_type: 'mimo_v2_flash',
  add_full_attention_sink_bias: false,
  add_swa_attention_sink_bias: true,
  attention_bias: false,
  attention_chunk_size: 6,
  attention_value_scale: 0.707,
  head_dim: 24,
  hidden_act: 'silu',
  hidden_size: 64,
  hybrid_layer_pattern: [0, 1, 1, 1, 1, 0],
  intermediate_size: 96,
  layernorm_epsilon: 1e-5,
  moe_intermediate_size: 32,
  moe_layer_freq: [0, 1, 1, 1, 1, 1],
  n_group: 2,
  n_routed_experts: 8,
  n_shared_experts: null,
  norm_topk_prob: true,
  num_attention_heads: 4,
  num_experts_per_tok: 2,
  num_hidden_layers: 6,
  num_key_value_heads: 1,
  partial_rotary_factor: 0.334,
  rope_theta: 5000000.0,
  routed_scaling_factor: null,
  scoring_func: 'sigmoid',
  sliding_window: 6,
  sliding_window_size: 6,
  swa_head_dim: 24,
  swa_num_attention_heads: 4,
  swa_num_key_value_heads: 2,
  swa_rope_theta: 10000.0,
  swa_v_head_dim: 16,
  tie_word_embeddings: false,
  topk_group: 1,
  topk_method: 'noaux_tc',
  v_head_dim: 16,
  vocab_size: 320,
};

/** A valid V2.5-style fused config (n = num_key_value_heads = 2 chunks). */
const FUSED: Json = {
  ...BASE,
  architectures: ['MiMoV2ForCausalLM'],
  model_type: 'mimo_v2',
  attention_projection_layout: 'fused_qkv',
  num_attention_heads: 8,
  num_key_value_heads: 2,
  swa_num_attention_heads: 8,
  swa_num_key_value_heads: 4,
  rope_scaling: { rope_type: 'default', type: 'default' },
  hybrid_block_size: null,
  quantization_config: { activation_scheme: 'dynamic', fmt: 'e4m3', quant_method: 'fp8', weight_block_size: [16, 16], store_dtype: 'fp8' },
};

const SRC = '/models/x/config.json';

function edit(base: Json, changes: Json, remove: string[] = []): Json {
  const c: Json = structuredClone({ ...base, ...changes });
  for (const k of remove) delete c[k];
  return c;
}

/** Assert a ConfigError naming `key` and the source file, with a message matching `re`. */
function throwsConfig(raw: unknown, key: string | undefined, re: RegExp, source = SRC): void {
  assert.throws(
    () => parseConfig(raw, source),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      assert.equal(e.file, source);
      assert.equal(e.key, key);
      assert.ok(e.message.includes(source), `message does not name the file: ${e.message}`);
      if (key) assert.ok(e.message.includes(key), `message does not name the key: ${e.message}`);
      assert.match(e.message, re);
      return true;
    },
  );
}

describe('parseConfig: the base configs are valid', () => {
  it('Flash-style base parses', () => {
    const c = parseConfig(structuredClone(BASE), SRC);
    assert.equal(c.modelType, 'mimo_v2_flash');
    assert.equal(c.fusedQkv, false);
    assert.equal(c.weightBlockSize, null);
    assert.equal(c.slidingWindow, 6);
    assert.equal(c.swaPlan.window, 6);
    assert.equal(c.fullPlan.window, null);
    assert.equal(c.fullPlan.rotaryDim, 8); // int(24 × 0.334) = int(8.016)
    assert.equal(c.fullPlan.ropeTheta, 5e6);
    assert.equal(c.swaPlan.ropeTheta, 1e4);
    assert.equal(c.swaPlan.hasSink, true);
    assert.equal(c.fullPlan.hasSink, false);
  });
  it('V2.5-style fused base parses', () => {
    const c = parseConfig(structuredClone(FUSED), SRC);
    assert.equal(c.modelType, 'mimo_v2');
    assert.equal(c.fusedQkv, true);
    assert.deepEqual(c.weightBlockSize, [16, 16]);
  });
});

describe('parseConfig: defaults', () => {
  it('attention_value_scale absent or null ⇒ 1.0', () => {
    assert.equal(parseConfig(edit(BASE, {}, ['attention_value_scale']), SRC).attentionValueScale, 1.0);
    assert.equal(parseConfig(edit(BASE, { attention_value_scale: null }), SRC).attentionValueScale, 1.0);
    assert.equal(parseConfig(edit(BASE, { attention_value_scale: 0.612 }), SRC).attentionValueScale, 0.612);
  });
  it('routed_scaling_factor null or absent ⇒ 1.0; a number is kept', () => {
    assert.equal(parseConfig(edit(BASE, { routed_scaling_factor: null }), SRC).routedScalingFactor, 1.0);
    assert.equal(parseConfig(edit(BASE, {}, ['routed_scaling_factor']), SRC).routedScalingFactor, 1.0);
    assert.equal(parseConfig(edit(BASE, { routed_scaling_factor: 2.5 }), SRC).routedScalingFactor, 2.5);
  });
  it('sink flags default to false; tie_word_embeddings defaults to false', () => {
    const c = parseConfig(edit(BASE, {}, ['add_swa_attention_sink_bias', 'add_full_attention_sink_bias', 'tie_word_embeddings']), SRC);
    assert.equal(c.swaPlan.hasSink, false);
    assert.equal(c.fullPlan.hasSink, false);
    assert.equal(c.tieWordEmbeddings, false);
  });
  it('both sink flags are honoured independently', () => {
    const c = parseConfig(edit(BASE, { add_full_attention_sink_bias: true, add_swa_attention_sink_bias: false }), SRC);
    assert.equal(c.fullPlan.hasSink, true);
    assert.equal(c.swaPlan.hasSink, false);
  });
  it('either window key alone is enough', () => {
    assert.equal(parseConfig(edit(BASE, {}, ['sliding_window']), SRC).slidingWindow, 6);
    assert.equal(parseConfig(edit(BASE, {}, ['sliding_window_size']), SRC).slidingWindow, 6);
    assert.equal(parseConfig(edit(BASE, { sliding_window: null }), SRC).slidingWindow, 6);
  });
  it('SWA kv heads are read, not derived (V2.5-Pro: 8 → 8)', () => {
    const c = parseConfig(edit(BASE, { num_key_value_heads: 2, swa_num_key_value_heads: 2 }), SRC);
    assert.equal(c.fullPlan.numKvHeads, 2);
    assert.equal(c.swaPlan.numKvHeads, 2);
  });
  it('rotary dim is int(head_dim × partial_rotary_factor) for the release numbers (192 × 0.334 → 64)', () => {
    const c = parseConfig(edit(BASE, { head_dim: 192, swa_head_dim: 192 }), SRC);
    assert.equal(c.fullPlan.rotaryDim, 64);
    assert.equal(c.swaPlan.rotaryDim, 64);
  });
  it('eos/pad ids: null ⇒ none, a single id or a list are accepted', () => {
    assert.deepEqual(parseConfig(edit(BASE, { eos_token_id: null }), SRC).eosTokenIds, []);
    assert.deepEqual(parseConfig(edit(BASE, { eos_token_id: 300 }), SRC).eosTokenIds, [300]);
    assert.throws(() => parseConfig(edit(BASE, { eos_token_id: 151645 }), SRC), (e) => e instanceof ConfigError && e.key === 'eos_token_id' && /outside the vocabulary/.test(e.message));
    assert.deepEqual(parseConfig(edit(BASE, { eos_token_id: [1, 2] }), SRC).eosTokenIds, [1, 2]);
    assert.equal(parseConfig(edit(BASE, { pad_token_id: 319 }), SRC).padTokenId, 319);
    assert.equal(parseConfig(edit(BASE, { pad_token_id: null }), SRC).padTokenId, null);
  });
});

describe('parseConfig: fused layout detection', () => {
  it('attention_projection_layout "fused_qkv" ⇒ fused; absent ⇒ split (also for model_type mimo_v2)', () => {
    assert.equal(parseConfig(structuredClone(FUSED), SRC).fusedQkv, true);
    assert.equal(parseConfig(edit(FUSED, {}, ['attention_projection_layout']), SRC).fusedQkv, false);
    assert.equal(parseConfig(structuredClone(BASE), SRC).fusedQkv, false);
  });
  it('an unknown attention_projection_layout is refused', () => {
    throwsConfig(edit(FUSED, { attention_projection_layout: 'qkv_concat' }), 'attention_projection_layout', /unsupported value "qkv_concat"/);
  });
});

describe('parseConfig: ConfigError naming key and file', () => {
  it('not an object', () => {
    for (const raw of [null, [], 'x', 3]) throwsConfig(raw, undefined, /not a JSON object/);
  });

  it('unknown model_type', () => {
    throwsConfig(edit(BASE, { model_type: 'qwen3_moe' }), 'model_type', /unknown model type "qwen3_moe" \(supported: mimo_v2_flash, mimo_v2\)/);
    throwsConfig(edit(BASE, {}, ['model_type']), 'model_type', /unknown model type undefined/);
    throwsConfig(edit(BASE, { model_type: 5 }), 'model_type', /unknown model type 5/);
  });

  it('model_type naming an Object.prototype member is not a known type', () => {
    for (const t of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      throwsConfig(edit(BASE, { model_type: t }), 'model_type', /unknown model type/);
    }
  });

  it('missing required keys', () => {
    for (const key of [
      'hidden_size',
      'vocab_size',
      'num_hidden_layers',
      'intermediate_size',
      'moe_intermediate_size',
      'num_attention_heads',
      'num_key_value_heads',
      'head_dim',
      'v_head_dim',
      'swa_num_attention_heads',
      'swa_num_key_value_heads',
      'swa_head_dim',
      'swa_v_head_dim',
      'rope_theta',
      'swa_rope_theta',
      'partial_rotary_factor',
      'layernorm_epsilon',
      'n_routed_experts',
      'num_experts_per_tok',
      'n_group',
      'topk_group',
      'norm_topk_prob',
      'hybrid_layer_pattern',
      'moe_layer_freq',
    ]) {
      throwsConfig(edit(BASE, {}, [key]), key, /required key is missing/);
    }
    throwsConfig(edit(BASE, { hidden_size: null }), 'hidden_size', /required key is missing/);
    throwsConfig(edit(BASE, {}, ['sliding_window', 'sliding_window_size']), 'sliding_window', /required key is missing/);
  });

  it('wrongly typed values', () => {
    throwsConfig(edit(BASE, { hidden_size: '64' }), 'hidden_size', /expected an integer ≥ 1, got "64"/);
    throwsConfig(edit(BASE, { hidden_size: 64.5 }), 'hidden_size', /expected an integer/);
    throwsConfig(edit(BASE, { num_key_value_heads: 0 }), 'num_key_value_heads', /expected an integer ≥ 1, got 0/);
    throwsConfig(edit(BASE, { rope_theta: 'big' }), 'rope_theta', /expected a finite number/);
    throwsConfig(edit(BASE, { norm_topk_prob: 1 }), 'norm_topk_prob', /expected true or false/);
    throwsConfig(edit(BASE, { hybrid_layer_pattern: [0, 1, 2, 1, 1, 0] }), 'hybrid_layer_pattern', /expected a list of 0\/1 values/);
    throwsConfig(edit(BASE, { layernorm_epsilon: 0 }), 'layernorm_epsilon', /must be > 0/);
    throwsConfig(edit(BASE, { rope_theta: -1 }), 'rope_theta', /must be > 0/);
  });

  it('hybrid_layer_pattern / moe_layer_freq length ≠ num_hidden_layers', () => {
    throwsConfig(edit(BASE, { hybrid_layer_pattern: [0, 1, 1, 1, 1] }), 'hybrid_layer_pattern', /has 5 entries but num_hidden_layers is 6/);
    throwsConfig(edit(BASE, { num_hidden_layers: 7 }), 'hybrid_layer_pattern', /has 6 entries but num_hidden_layers is 7/);
    throwsConfig(edit(BASE, { moe_layer_freq: [0, 1, 1, 1, 1, 1, 1] }), 'moe_layer_freq', /has 7 entries but num_hidden_layers is 6/);
  });

  it('heads not a multiple of kv heads (full and SWA)', () => {
    throwsConfig(edit(BASE, { num_attention_heads: 4, num_key_value_heads: 3 }), 'num_attention_heads', /4 is not a multiple of num_key_value_heads 3/);
    throwsConfig(edit(BASE, { swa_num_attention_heads: 4, swa_num_key_value_heads: 3 }), 'swa_num_attention_heads', /4 is not a multiple of swa_num_key_value_heads 3/);
  });

  it('sliding_window ≠ sliding_window_size', () => {
    throwsConfig(edit(BASE, { sliding_window: 8, sliding_window_size: 6 }), 'sliding_window', /is 8 but sliding_window_size is 6/);
  });

  it('topk_group > n_group, and other router contradictions', () => {
    throwsConfig(edit(BASE, { n_group: 2, topk_group: 3 }), 'topk_group', /3 exceeds n_group 2/);
    throwsConfig(edit(BASE, { n_group: 3 }), 'n_group', /3 does not divide n_routed_experts 8/);
    throwsConfig(edit(BASE, { n_group: 2, topk_group: 1, num_experts_per_tok: 5 }), 'num_experts_per_tok', /5 exceeds the 4 experts/);
    throwsConfig(edit(BASE, { n_group: 8, topk_group: 2, num_experts_per_tok: 2 }), 'n_group', /each group needs at least 2 experts/);
  });

  it('unsupported scoring_func / topk_method / hidden_act / shared experts / attention bias / rope scaling', () => {
    throwsConfig(edit(BASE, { scoring_func: 'softmax' }), 'scoring_func', /unsupported value "softmax" \(supported: "sigmoid"\)/);
    throwsConfig(edit(BASE, { topk_method: 'greedy' }), 'topk_method', /unsupported value "greedy"/);
    throwsConfig(edit(BASE, { hidden_act: 'gelu' }), 'hidden_act', /unsupported value "gelu"/);
    throwsConfig(edit(BASE, { n_shared_experts: 1 }), 'n_shared_experts', /unsupported value 1/);
    throwsConfig(edit(BASE, { attention_bias: true }), 'attention_bias', /unsupported value true/);
    throwsConfig(edit(BASE, { rope_scaling: { rope_type: 'yarn', factor: 4 } }), 'rope_scaling', /unsupported rope scaling/);
    // Absent or null fixed keys are fine.
    parseConfig(edit(BASE, { rope_scaling: null }, ['scoring_func', 'topk_method', 'hidden_act', 'n_shared_experts']), SRC);
  });

  it('odd (or zero) rotary dim', () => {
    // int(24 × 0.125) = 3
    throwsConfig(edit(BASE, { partial_rotary_factor: 0.125 }), 'partial_rotary_factor', /odd or zero rotary dim int\(24 × 0\.125\) = 3/);
    // int(24 × 0.02) = 0
    throwsConfig(edit(BASE, { partial_rotary_factor: 0.02 }), 'partial_rotary_factor', /odd or zero rotary dim/);
    // Only the SWA head dim gives an odd rotary dim: int(30 × 0.334) = 10 full, int(21 × 0.334) = 7 SWA.
    throwsConfig(edit(BASE, { head_dim: 30, swa_head_dim: 21 }), 'partial_rotary_factor', /int\(21 × 0\.334\) = 7/);
    throwsConfig(edit(BASE, { partial_rotary_factor: 1.5 }), 'partial_rotary_factor', /must be in \(0, 1\]/);
    throwsConfig(edit(BASE, { partial_rotary_factor: 0 }), 'partial_rotary_factor', /must be in \(0, 1\]/);
  });

  it('fused_qkv with kv heads not a multiple of the chunk count num_key_value_heads', () => {
    // SWA: 8 heads / 1 kv head is consistent by itself, but 1 kv head cannot be split into 2 chunks.
    throwsConfig(edit(FUSED, { swa_num_key_value_heads: 1 }), 'swa_num_key_value_heads', /fused qkv_proj needs .* multiples of the chunk count num_key_value_heads = 2/);
    // SWA: 6 heads / 3 kv heads: 3 kv heads are not a multiple of n = 2.
    throwsConfig(edit(FUSED, { swa_num_attention_heads: 6, swa_num_key_value_heads: 3 }), 'swa_num_key_value_heads', /chunk count num_key_value_heads = 2/);
    // SWA heads not a multiple of n (kv = 1 divides them, n = 2 does not).
    throwsConfig(
      edit(FUSED, { num_key_value_heads: 2, swa_num_attention_heads: 3, swa_num_key_value_heads: 1 }),
      'swa_num_key_value_heads',
      /swa_num_attention_heads \(3\)/,
    );
    // The same geometry without the fused layout is fine.
    parseConfig(edit(FUSED, { swa_num_key_value_heads: 1 }, ['attention_projection_layout']), SRC);
  });

  it('bad quantization_config', () => {
    throwsConfig(edit(FUSED, { quantization_config: { quant_method: 'fp8', fmt: 'e4m3', weight_block_size: [16] } }), 'quantization_config.weight_block_size', /expected \[b0, b1\]/);
    throwsConfig(edit(FUSED, { quantization_config: { quant_method: 'fp8', fmt: 'e4m3', weight_block_size: [0, 16] } }), 'quantization_config.weight_block_size', /expected \[b0, b1\]/);
    throwsConfig(edit(FUSED, { quantization_config: { quant_method: 'fp8', fmt: 'e4m3' } }), 'quantization_config.weight_block_size', /expected \[b0, b1\]/);
    // Nested keys are reported through a Reader whose "file" is `<source> quantization_config`; the message still
    // names the file and the key.
    for (const [q, key, re] of [
      [{ quant_method: 'awq', fmt: 'e4m3', weight_block_size: [16, 16] }, 'quant_method', /unsupported value "awq"/],
      [{ quant_method: 'fp8', fmt: 'e5m2', weight_block_size: [16, 16] }, 'fmt', /unsupported value "e5m2"/],
    ] as Array<[Json, string, RegExp]>) {
      assert.throws(
        () => parseConfig(edit(FUSED, { quantization_config: q }), SRC),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError, String(e));
          assert.ok(e.message.includes(SRC), e.message);
          assert.match(e.message, new RegExp(`quantization_config.*${key}`));
          assert.match(e.message, re);
          return true;
        },
      );
    }
  });
});

describe('loadConfig', () => {
  let tmp = '';
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-config-test-'));
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('names the file when it is missing or not JSON, and errors name the file path', () => {
    const missing = path.join(tmp, 'nope.json');
    assert.throws(() => loadConfig(missing), (e: unknown) => e instanceof ConfigError && e.file === missing && /cannot read \(ENOENT\)/.test(e.message));
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, '{"model_type": ');
    assert.throws(() => loadConfig(bad), (e: unknown) => e instanceof ConfigError && e.file === bad && /not valid JSON/.test(e.message));
    const noHidden = path.join(tmp, 'config.json');
    fs.writeFileSync(noHidden, JSON.stringify(edit(BASE, {}, ['hidden_size'])));
    assert.throws(
      () => loadConfig(noHidden),
      (e: unknown) => e instanceof ConfigError && e.file === noHidden && e.key === 'hidden_size' && e.message === `${noHidden}: hidden_size: required key is missing`,
    );
  });
});
