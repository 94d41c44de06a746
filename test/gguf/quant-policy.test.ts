/**
 * llama-quantize's per-tensor type choices (src/loader/gguf-quant-policy.ts) written out by hand from
 * llama.cpp src/llama-quant.cpp `llama_tensor_get_type` for MiMo-V2-Flash's shapes (48 blocks, 256 experts, layer 0
 * with 64 query / 4 KV heads) and for rows that are not whole blocks (the fallbacks).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GGUF_FILE_TYPES, QuantPolicy, isQuantisable } from '../../src/loader/gguf-quant-policy.js';
import { ggmlTypeName } from '../../src/tensor/formats/ggml/types.js';

const flash = { numBlocks: 48, numExperts: 256, gqa: 16, hasOutput: true, numAttentionV: 48 };
const policy = (name: string, model = flash) => new QuantPolicy(GGUF_FILE_TYPES.find((f) => f.name === name)!, model);
const typeOf = (p: QuantPolicy, name: string, shape: number[]) => ggmlTypeName(p.typeOf(name, shape));

test('what is quantised at all: 2-D/3-D weights, not norms, not the router', () => {
  assert.ok(isQuantisable('blk.0.attn_q.weight', [12288, 4096]));
  assert.ok(isQuantisable('blk.1.ffn_up_exps.weight', [256, 2048, 4096]));
  assert.ok(!isQuantisable('blk.0.attn_norm.weight', [4096]));
  assert.ok(!isQuantisable('blk.1.ffn_gate_inp.weight', [256, 4096]));
  assert.ok(!isQuantisable('blk.1.exp_probs_b.bias', [256]));
  assert.ok(!isQuantisable('blk.50.nextn.shared_head_norm.weight', [4096]));
});

test('q4_k_m on Flash: Q6_K output, attn_v and ffn_down in the use_more_bits layers', () => {
  // use_more_bits(i, 48): i < 6 || i >= 42 || (i − 6) % 3 == 2 → 0–5, 8, 11, 14, …, 41, 42–47
  const more = [0, 1, 2, 3, 4, 5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 35, 38, 41, 42, 43, 44, 45, 46, 47];
  const p = policy('q4_k_m');
  assert.equal(typeOf(p, 'token_embd.weight', [152576, 4096]), 'Q4_K');
  assert.equal(typeOf(p, 'output.weight', [152576, 4096]), 'Q6_K');
  for (let i = 0; i < 48; i++) {
    assert.equal(typeOf(p, `blk.${i}.attn_v.weight`, [1024, 4096]), more.includes(i) ? 'Q6_K' : 'Q4_K', `attn_v ${i}`);
    const down = i === 0 ? 'ffn_down.weight' : 'ffn_down_exps.weight';
    assert.equal(typeOf(p, `blk.${i}.${down}`, i === 0 ? [4096, 16384] : [256, 4096, 2048]), more.includes(i) ? 'Q6_K' : 'Q4_K', `${down} ${i}`);
    assert.equal(typeOf(p, `blk.${i}.attn_k.weight`, [768, 4096]), 'Q4_K');
    assert.equal(typeOf(p, `blk.${i}.attn_output.weight`, [4096, 8192]), 'Q4_K');
  }
  assert.equal(typeOf(p, 'blk.3.ffn_gate_exps.weight', [256, 2048, 4096]), 'Q4_K');
  assert.equal(typeOf(p, 'blk.3.attn_norm.weight', [4096]), 'F32');
  assert.equal(typeOf(p, 'blk.3.ffn_gate_inp.weight', [256, 4096]), 'F32');
});

test('q5_k_m, q6_k, q8_0, iq4_xs, mxfp4, bf16', () => {
  const q5 = policy('q5_k_m');
  assert.equal(typeOf(q5, 'blk.0.attn_v.weight', [1024, 4096]), 'Q6_K');
  assert.equal(typeOf(q5, 'blk.1.attn_v.weight', [1024, 4096]), 'Q6_K');
  assert.equal(typeOf(q5, 'blk.7.ffn_down_exps.weight', [256, 4096, 2048]), 'Q5_K');
  assert.equal(typeOf(q5, 'blk.8.ffn_down_exps.weight', [256, 4096, 2048]), 'Q6_K');
  assert.equal(typeOf(q5, 'output.weight', [152576, 4096]), 'Q6_K');
  const q6 = policy('q6_k');
  assert.equal(typeOf(q6, 'blk.7.ffn_down_exps.weight', [256, 4096, 2048]), 'Q6_K');
  assert.equal(typeOf(q6, 'output.weight', [152576, 4096]), 'Q6_K');
  const q8 = policy('q8_0');
  assert.equal(typeOf(q8, 'output.weight', [152576, 4096]), 'Q8_0');
  assert.equal(typeOf(q8, 'blk.7.attn_v.weight', [1024, 4096]), 'Q8_0');
  const iq = policy('iq4_xs');
  assert.equal(typeOf(iq, 'blk.9.attn_v.weight', [1024, 4096]), 'Q5_K'); // n_gqa 16 ≥ 4
  assert.equal(typeOf(iq, 'blk.5.ffn_down_exps.weight', [256, 4096, 2048]), 'Q5_K'); // 5 < 48/8
  assert.equal(typeOf(iq, 'blk.6.ffn_down_exps.weight', [256, 4096, 2048]), 'IQ4_XS');
  assert.equal(typeOf(iq, 'output.weight', [152576, 4096]), 'Q6_K');
  assert.equal(typeOf(iq, 'token_embd.weight', [152576, 4096]), 'IQ4_XS');
  const mx = policy('mxfp4');
  assert.equal(typeOf(mx, 'blk.3.ffn_up_exps.weight', [256, 2048, 4096]), 'MXFP4');
  assert.equal(typeOf(mx, 'blk.3.attn_q.weight', [12288, 4096]), 'Q8_0');
  assert.equal(typeOf(mx, 'output.weight', [152576, 4096]), 'Q8_0');
  assert.equal(typeOf(mx, 'token_embd.weight', [152576, 4096]), 'Q8_0');
  const bf = policy('bf16');
  assert.equal(typeOf(bf, 'blk.3.ffn_up_exps.weight', [256, 2048, 4096]), 'BF16');
  assert.equal(typeOf(bf, 'blk.3.ffn_gate_inp.weight', [256, 4096]), 'F32');
});

test('8 experts: attn_v and attn_k Q8_0, attn_output Q5_K for q4_k_m', () => {
  const p = policy('q4_k_m', { ...flash, numExperts: 8 });
  assert.equal(typeOf(p, 'blk.10.attn_v.weight', [1024, 4096]), 'Q8_0');
  assert.equal(typeOf(p, 'blk.10.attn_k.weight', [768, 4096]), 'Q8_0');
  assert.equal(typeOf(p, 'blk.10.attn_output.weight', [4096, 8192]), 'Q5_K');
});

test('rows that are not whole super-blocks fall back as llama-quantize does, and say so', () => {
  const tiny = { numBlocks: 7, numExperts: 4, gqa: 4, hasOutput: true, numAttentionV: 7 };
  const q4 = policy('q4_k_m', tiny);
  assert.equal(typeOf(q4, 'blk.1.attn_q.weight', [192, 64]), 'Q5_0'); // Q4_K → Q5_0
  assert.equal(typeOf(q4, 'blk.0.attn_v.weight', [64, 64]), 'Q5_0'); // first attn_v: use_more_bits(0, 7) is false
  assert.equal(typeOf(q4, 'output.weight', [512, 64]), 'Q8_0'); // nx % 256 ≠ 0 → Q8_0 directly
  assert.equal(typeOf(q4, 'blk.2.attn_q.weight', [192, 48]), 'F16'); // Q5_0 needs 32 too → F16
  assert.deepEqual([...q4.fallbacks.keys()], ['blk.1.attn_q.weight', 'blk.0.attn_v.weight', 'blk.2.attn_q.weight']);
  assert.equal(typeOf(policy('q6_k', tiny), 'blk.1.attn_q.weight', [192, 64]), 'Q8_0'); // Q6_K → Q8_0
  const q5 = policy('q5_k_m', tiny);
  assert.equal(typeOf(q5, 'blk.1.attn_q.weight', [192, 64]), 'Q5_1'); // Q5_K → Q5_1
  const iq = policy('iq4_xs', tiny);
  assert.equal(typeOf(iq, 'blk.1.attn_q.weight', [192, 64]), 'IQ4_NL'); // IQ4_XS → IQ4_NL
  assert.throws(() => policy('mxfp4', tiny).typeOf('blk.1.ffn_up_exps.weight', [4, 32, 48]), /blk\.1\.ffn_up_exps\.weight: rows of 48 are not whole MXFP4 blocks/);
});
