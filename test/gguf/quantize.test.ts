/**
 * `mimo quantize` end to end (issue 15): a checkpoint whose every row is a multiple of 256 (hidden 256, 4 heads of
 * V 64, widths 256, 4 experts, one MTP layer, vocab 512) quantised to each file type; the tensor types actually in
 * the file are asserted (llama-quantize's choices, no silent fallback); the file loads through `loadModel` and its
 * logits equal our TypeScript reference forward on the file's own dequantised weights (written back as an f32
 * safetensors checkpoint by our decoders), MTP logits included; the distance to the unquantised checkpoint is
 * reported. A V2.6 checkpoint's MXFP4 experts are repacked to GGUF MXFP4 with every value kept, and the tokenizer and
 * chat template travel in the file. The CLI is run once for its output, progress and refusals.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { Checkpoint } from '../../src/loader/checkpoint.js';
import { GgufCheckpoint } from '../../src/loader/gguf-checkpoint.js';
import { GgufModelFiles } from '../../src/loader/gguf.js';
import { writeSafetensors } from '../../src/loader/safetensors.js';
import { loadModel, type LoadedModel } from '../../src/model/load.js';
import { parseConfig } from '../../src/model/mimo-v2/config.js';
import { ggufModelFacts, mapGgufNames } from '../../src/model/mimo-v2/gguf.js';
import { quantizeCheckpoint } from '../../src/model/mimo-v2/gguf-quantize.js';
import { initCheckpoint } from '../../src/model/mimo-v2/init.js';
import { ggmlTypeName } from '../../src/tensor/formats/ggml/types.js';
import { decodeRow } from '../../src/tensor/weight.js';
import { WeightReader } from '../../src/model/mimo-v2/weights.js';
import { ggufTokenizer } from '../../src/tokenizer/gguf-tokenizer.js';
import { MiMoTokenizer } from '../../src/tokenizer/tokenizer.js';
import { argmax, maxAbs, maxAbsDiff, repoRoot } from '../helpers/fixtures.js';
import { makeK256Checkpoint } from '../helpers/k256-checkpoint.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-quantize-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ckptDir = path.join(tmp, 'k256');
before(() => makeK256Checkpoint(ckptDir));

/** Tensor types by GGUF name. */
function typesIn(file: string): Map<string, string> {
  const f = new GgufModelFiles([file]);
  try {
    return new Map([...f.tensors.values()].map((t) => [t.name, ggmlTypeName(t.type)]));
  } finally {
    f.close();
  }
}

/** The GGUF's weights dequantised by our decoders, written as an f32 safetensors checkpoint with the original config. */
function dequantisedCheckpoint(gguf: string, out: string, configFrom = ckptDir): string {
  const files = new GgufModelFiles([gguf]);
  const facts = ggufModelFacts(files);
  const { map, unmapped } = mapGgufNames(files.tensors, facts.numLayers);
  assert.deepEqual(unmapped, []);
  const src = new GgufCheckpoint(files, map, unmapped);
  fs.mkdirSync(out);
  // the weights are f32 and q/k/v separate now: the config without the stored-dtype and fused-qkv keys
  const config = JSON.parse(fs.readFileSync(path.join(configFrom, 'config.json'), 'utf8')) as Record<string, unknown>;
  delete config['quantization_config'];
  delete config['attention_projection_layout'];
  fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(config));
  const names = src.names();
  writeSafetensors(path.join(out, 'model.safetensors'), names.map((name) => {
    const info = src.ggufInfo(name)!;
    const shape = map.get(name)!.expert === undefined ? info.shape : info.shape.slice(1);
    return { name, dtype: 'F32' as const, shape, bytes: () => new Uint8Array(src.readF32(name).data.buffer) };
  }));
  src.close();
  return out;
}

function logitsOf(m: LoadedModel, ids: number[]): { logits: Float32Array; greedy: number[]; mtp: Float32Array } {
  const { model, config } = m;
  const cache = model.newCache();
  const h = model.forward(ids, cache);
  const logits = model.computeLogits(h, ids.length);
  const greedy: number[] = [];
  let last = logits.subarray((ids.length - 1) * config.vocabSize);
  let hh = h;
  for (let j = 0; j < 3; j++) {
    greedy.push(argmax(last));
    hh = model.forward([greedy[j]!], cache);
    last = model.computeLogits(hh, 1);
  }
  const T = ids.length - 1;
  const mtp = model.numMtpLayers > 0 ? model.computeLogits(model.mtpForward(0, h.subarray(0, T * config.hiddenSize), ids.slice(1), model.newCache()), T) : new Float32Array(0);
  return { logits, greedy, mtp };
}

const IDS = [1, 17, 300, 42, 511, 7, 99, 256];

/** Expected types of q4_k_m on this model (11 blocks incl. MTP → use_more_bits: layers 0, 4, 7, 10 …). */
function expectQ4KM(types: Map<string, string>): void {
  // llama.cpp use_more_bits(i, n): i < n/8 || i >= 7n/8 || (i − n/8) % 3 == 2, n = block_count = 7
  const more = (i: number, n: number) => i < Math.floor(n / 8) || i >= Math.floor((7 * n) / 8) || (i - Math.floor(n / 8)) % 3 === 2;
  assert.equal(types.get('token_embd.weight'), 'Q4_K');
  assert.equal(types.get('output.weight'), 'Q6_K');
  assert.equal(types.get('output_norm.weight'), 'F32');
  for (let i = 0; i < 7; i++) {
    assert.equal(types.get(`blk.${i}.attn_v.weight`), more(i, 7) ? 'Q6_K' : 'Q4_K', `blk.${i}.attn_v`);
    assert.equal(types.get(`blk.${i}.attn_q.weight`), 'Q4_K');
    assert.equal(types.get(`blk.${i}.attn_norm.weight`), 'F32');
    const down = i === 0 || i === 6 ? `blk.${i}.ffn_down.weight` : `blk.${i}.ffn_down_exps.weight`;
    assert.equal(types.get(down), more(i, 7) ? 'Q6_K' : 'Q4_K', down);
  }
  assert.equal(types.get('blk.1.ffn_gate_inp.weight'), 'F32');
  assert.equal(types.get('blk.1.ffn_gate_exps.weight'), 'Q4_K');
  assert.equal(types.get('blk.1.exp_probs_b.bias'), 'F32');
  assert.equal(types.get('blk.6.nextn.eh_proj.weight'), 'Q4_K');
  assert.equal(types.get('blk.1.attn_sinks.weight'), 'F32');
}

const EXPECT: Record<string, (t: Map<string, string>) => void> = {
  q4_k_m: expectQ4KM,
  q6_k: (t) => {
    for (const [name, type] of t) assert.equal(type, /norm|gate_inp|sinks|bias/.test(name) ? 'F32' : 'Q6_K', name);
  },
  iq4_xs: (t) => {
    // n_gqa of layer 0 = 4 → attn_v Q5_K; ffn_down of layers < 7/8 = 0 → none; output Q6_K
    assert.equal(t.get('blk.0.attn_v.weight'), 'Q5_K');
    assert.equal(t.get('blk.3.attn_v.weight'), 'Q5_K');
    assert.equal(t.get('output.weight'), 'Q6_K');
    assert.equal(t.get('blk.2.ffn_up_exps.weight'), 'IQ4_XS');
    assert.equal(t.get('token_embd.weight'), 'IQ4_XS');
  },
  mxfp4: (t) => {
    assert.equal(t.get('blk.1.ffn_down_exps.weight'), 'MXFP4');
    assert.equal(t.get('blk.1.ffn_gate_exps.weight'), 'MXFP4');
    assert.equal(t.get('blk.0.ffn_down.weight'), 'Q8_0');
    assert.equal(t.get('output.weight'), 'Q8_0');
    assert.equal(t.get('token_embd.weight'), 'Q8_0');
  },
};

for (const type of ['q4_k_m', 'q6_k', 'iq4_xs', 'mxfp4'] as const) {
  test(`mimo quantize --type ${type}: llama-quantize's types in the file; logits = reference forward on the dequantised weights`, async (t) => {
    const out = path.join(tmp, `k256-${type}.gguf`);
    const res = await quantizeCheckpoint({ input: ckptDir, output: out, type });
    assert.deepEqual(res.paths, [out]);
    const types = typesIn(out);
    EXPECT[type]!(types);
    if (type === 'q4_k_m') {
      const out2 = path.join(tmp, 'k256-q4_k_m-2threads.gguf');
      await quantizeCheckpoint({ input: ckptDir, output: out2, type, threads: 2 });
      assert.ok(fs.readFileSync(out2).equals(fs.readFileSync(out)), 'two worker threads write the same bytes as one');
      fs.rmSync(out2);
    }
    t.diagnostic(`types: ${JSON.stringify(res.typeCounts)}`);
    const gguf = loadModel(out, { onNote: () => {} });
    assert.deepEqual(gguf.report.unusedTensors, []);
    assert.equal(gguf.model.numMtpLayers, 1);
    const ref = loadModel(dequantisedCheckpoint(out, path.join(tmp, `k256-${type}-dequantised`)));
    const a = logitsOf(gguf, IDS);
    const b = logitsOf(ref, IDS);
    const tol = 1e-4 * Math.max(1, maxAbs(b.logits));
    const d = maxAbsDiff(a.logits, b.logits);
    assert.ok(d <= tol, `logits differ from the reference forward on the dequantised weights by ${d} > ${tol}`);
    assert.deepEqual(a.greedy, b.greedy);
    if (a.mtp.length) assert.ok(maxAbsDiff(a.mtp, b.mtp) <= tol, 'MTP logits');
    // every tensor of the file, dequantised, is the checkpoint's within the type's error (names and layouts map right)
    const ours = new Checkpoint(path.join(tmp, `k256-${type}-dequantised`));
    const theirs = new Checkpoint(ckptDir);
    let worstTensor = ['', 0] as [string, number];
    for (const name of ours.names()) {
      const a = ours.readF32(name).data;
      const b = theirs.readF32(name).data;
      let e = 0;
      let s = 0;
      for (let i = 0; i < a.length; i++) {
        e += (a[i]! - b[i]!) ** 2;
        s += b[i]! ** 2;
      }
      const rel = Math.sqrt(e / Math.max(s, 1e-30));
      if (rel > worstTensor[1]) worstTensor = [name, rel];
    }
    ours.close();
    theirs.close();
    assert.ok(worstTensor[1] < 0.15, `${worstTensor[0]}: relative RMS error ${worstTensor[1]} of the dequantised weight`);
    const orig = logitsOf(loadModel(ckptDir), IDS);
    t.diagnostic(`worst tensor ${worstTensor[0]}: relative RMS error ${worstTensor[1].toExponential(2)}; max |logit − reference on dequantised| ${d.toExponential(2)}; max |logit − unquantised checkpoint| ${maxAbsDiff(a.logits, orig.logits).toExponential(2)} (logits up to ${maxAbs(orig.logits).toFixed(2)}); greedy ${JSON.stringify(a.greedy)} vs unquantised ${JSON.stringify(orig.greedy)}`);
  });
}

test('mimo quantize on a V2.6 checkpoint: MXFP4 experts repacked (every value kept), tokenizer and chat template embedded', async () => {
  const v26 = path.join(tmp, 'v26');
  await initCheckpoint({ preset: 'mimo-v2.6-flash', scale: 'tiny', outDir: v26, numMtpLayers: 1 });
  const out = path.join(tmp, 'v26-mxfp4.gguf');
  const notes: string[] = [];
  await quantizeCheckpoint({ input: v26, output: out, type: 'mxfp4', onNote: (m) => notes.push(m) });
  const files = new GgufModelFiles([out]);
  const facts = ggufModelFacts(files);
  const { map } = mapGgufNames(files.tensors, facts.numLayers);
  const src = new GgufCheckpoint(files, map, []);
  const ck = new Checkpoint(v26);
  const cfg = parseConfig(JSON.parse(fs.readFileSync(path.join(v26, 'config.json'), 'utf8')) as Record<string, unknown>, 'v26');
  let checked = 0;
  for (const name of src.names().filter((n) => /experts\.\d+\./.test(n))) {
    assert.equal(ggmlTypeName(src.ggufInfo(name)!.type), 'MXFP4', name);
    const shape = src.ggufInfo(name)!.shape.slice(1) as [number, number];
    const w = ck.readMxfp4Weight(name, shape);
    const got = src.readF32(name).data;
    const row = new Float32Array(shape[1]);
    for (let r = 0; r < shape[0]; r++) {
      decodeRow(w, r, row);
      for (let c = 0; c < shape[1]; c++) assert.ok(got[r * shape[1] + c] === row[c], `${name} [${r}, ${c}]: ${got[r * shape[1] + c]} vs ${row[c]}`);
    }
    checked++;
  }
  assert.equal(checked, cfg.layers.filter((l) => l.ffn === 'moe').length * cfg.nRoutedExperts * 3);
  // the BF16 router stays BF16 (every value kept) and the file implies V2.6's router: input rounded to BF16
  for (const l of cfg.layers.filter((l) => l.ffn === 'moe')) assert.equal(ggmlTypeName(files.tensors.get(`blk.${l.index}.ffn_gate_inp.weight`)!.type), 'BF16');
  assert.equal(facts.config.moeRouterDtype, 'bfloat16');
  // logits = the reference forward (V2.6 config) on the file's dequantised weights, the router's BF16 input included
  const gguf = loadModel(out, { onNote: () => {} });
  assert.equal(gguf.config.moeRouterDtype, 'bfloat16');
  const ref = loadModel(dequantisedCheckpoint(out, path.join(tmp, 'v26-mxfp4-dequantised'), v26));
  const a = logitsOf(gguf, IDS);
  const b = logitsOf(ref, IDS);
  const tol = 1e-4 * Math.max(1, maxAbs(b.logits));
  assert.ok(maxAbsDiff(a.logits, b.logits) <= tol, `logits differ from the reference forward on the dequantised weights by ${maxAbsDiff(a.logits, b.logits)} > ${tol}`);
  assert.deepEqual(a.greedy, b.greedy);
  // tokenizer: the file's gives the Hugging Face ids, and the chat template renders the same prompt
  const { tokenizer, problem } = ggufTokenizer(files.metadata, out);
  assert.equal(problem, null);
  const hf = MiMoTokenizer.load(v26);
  for (const text of ['Hello, world!', '你好，世界 <|im_end|>', 'def f(x):\n    return x\n']) assert.deepEqual(tokenizer!.encode(text), hf.encode(text), text);
  const chat = [{ role: 'user' as const, content: 'Hi' }];
  assert.equal(tokenizer!.applyChatTemplate(chat), hf.applyChatTemplate(chat));
  src.close();
  ck.close();
});

test('mimo quantize on an FP8 V2.5 checkpoint (fused qkv_proj, per-chunk scale grids): q/k/v and every weight as the checkpoint decodes them', async () => {
  const v25 = path.join(tmp, 'v25-fp8');
  await initCheckpoint({ preset: 'mimo-v2.5', scale: 'tiny', outDir: v25, fp8: true, numMtpLayers: 1 });
  const out = path.join(tmp, 'v25-bf16.gguf');
  await quantizeCheckpoint({ input: v25, output: out, type: 'bf16' });
  const files = new GgufModelFiles([out]);
  const facts = ggufModelFacts(files);
  const { map } = mapGgufNames(files.tensors, facts.numLayers);
  const src = new GgufCheckpoint(files, map, []);
  const ck = new Checkpoint(v25);
  const cfg = parseConfig(JSON.parse(fs.readFileSync(path.join(v25, 'config.json'), 'utf8')) as Record<string, unknown>, 'v25');
  const reader = new WeightReader(ck, cfg);
  let worst = 0;
  const compare = (name: string, w: import('../../src/kernels/backend.js').Weight) => {
    const got = src.readF32(name).data;
    const row = new Float32Array(w.cols);
    let e = 0;
    let s2 = 0;
    for (let r = 0; r < w.rows; r++) {
      decodeRow(w, r, row);
      for (let c = 0; c < w.cols; c++) {
        e += (got[r * w.cols + c]! - row[c]!) ** 2;
        s2 += row[c]! ** 2;
      }
    }
    worst = Math.max(worst, Math.sqrt(e / s2));
  };
  for (const layer of cfg.layers) {
    const p = `model.layers.${layer.index}.self_attn`;
    const a = reader.attention(p, layer.attention);
    compare(`${p}.q_proj.weight`, a.q);
    compare(`${p}.k_proj.weight`, a.k);
    compare(`${p}.v_proj.weight`, a.v);
    compare(`${p}.o_proj.weight`, a.o);
  }
  const mtp = reader.attention('model.mtp.layers.0.self_attn', cfg.swaPlan);
  compare('model.mtp.layers.0.self_attn.q_proj.weight', mtp.q);
  compare('model.mtp.layers.0.self_attn.v_proj.weight', mtp.v);
  // BF16 keeps 8 significant bits: relative RMS about 2^−9 / √3
  assert.ok(worst < 3e-3, `worst relative RMS error ${worst}`);
  src.close();
  ck.close();
  const a = logitsOf(loadModel(out, { onNote: () => {} }), IDS.map((i) => i % 1000));
  const b = logitsOf(loadModel(v25), IDS.map((i) => i % 1000));
  assert.ok(maxAbsDiff(a.logits, b.logits) < 0.05 * Math.max(1, maxAbs(b.logits)), `logits ${maxAbsDiff(a.logits, b.logits)}`);
});

test('sliding layers with a smaller V head dim: V heads zero-padded to one value_length, logits unchanged (bf16 of a BF16 checkpoint is lossless)', async () => {
  const dir = path.join(tmp, 'k256-vpad');
  makeK256Checkpoint(dir, { config: { swa_v_head_dim: 32, routed_scaling_factor: 2 } });
  const out = path.join(tmp, 'k256-vpad-bf16.gguf');
  const notes: string[] = [];
  await quantizeCheckpoint({ input: dir, output: out, type: 'bf16', onNote: (m) => notes.push(m) });
  assert.match(notes.join('\n'), /V heads zero-padded to one value_length in blocks 1, 2, 3, 4, 6 \(exact\)/);
  assert.match(notes.join('\n'), /routed_scaling_factor 2 folded into ffn_down_exps/);
  const g = new GgufModelFiles([out]);
  assert.equal(g.get('mimo2.attention.value_length'), 64);
  assert.deepEqual(g.tensors.get('blk.1.attn_output.weight')!.shape, [256, 4 * 64]);
  g.close();
  const a = logitsOf(loadModel(out, { onNote: () => {} }), IDS);
  const b = logitsOf(loadModel(dir), IDS);
  assert.ok(maxAbsDiff(a.logits, b.logits) <= 1e-4 * Math.max(1, maxAbs(b.logits)), `logits differ by ${maxAbsDiff(a.logits, b.logits)}`);
  assert.deepEqual(a.greedy, b.greedy);
  assert.ok(maxAbsDiff(a.mtp, b.mtp) <= 1e-4 * Math.max(1, maxAbs(b.mtp)), 'MTP logits');
});

test('the CLI: output line, types, --no-mtp, --split-max-size, refusals', () => {
  const main = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const out = path.join(tmp, 'cli-q8.gguf');
  const stdout = execFileSync(process.execPath, [main, 'quantize', ckptDir, out, '--type', 'q8_0', '--no-mtp', '--split-max-size', '1mb'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(stdout, /^wrote .*cli-q8-00001-of-0000\d\.gguf, .*Q8_0.*F32/);
  const parts = fs.readdirSync(tmp).filter((n) => n.startsWith('cli-q8'));
  assert.ok(parts.length > 1 && parts.every((n) => /^cli-q8-\d{5}-of-\d{5}\.gguf$/.test(n)), parts.join(', '));
  const m = loadModel(path.join(tmp, parts.sort()[0]!), { onNote: () => {} });
  assert.equal(m.model.numMtpLayers, 0);
  const bad = spawnSync(process.execPath, [main, 'quantize', ckptDir, out, '--type', 'q3_k_s'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--type: expected one of q8_0, q4_k_m, q5_k_m, q6_k, iq4_xs, mxfp4, bf16, got "q3_k_s"/);
  const missing = spawnSync(process.execPath, [main, 'quantize', path.join(tmp, 'nope'), out, '--type', 'q8_0'], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^mimo: .*nope/);
  assert.ok(!fs.readdirSync(tmp).some((n) => n.includes('.tmp-')), 'no temporary file left');
});
