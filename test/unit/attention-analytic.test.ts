/**
 * Analytic checks of the attention op (spec §3.4 item 7): with every score 0 (q = 0) and V = 1, a sink s gives
 * n/(n + e^s) per head and row; without a sink the output is exactly 1; window and GQA mapping by hand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AttentionInput } from '../../src/kernels/backend.js';
import { referenceBackend as be } from '../../src/kernels/reference/ops.js';
import { parseConfig } from '../../src/model/mimo-v2/config.js';
import { discoverCases } from '../helpers/fixtures.js';
import * as fs from 'node:fs';
import * as path from 'node:path';

function input(T: number, Hq: number, Hkv: number, Dqk: number, Dv: number, window: number | null, sinks: Float32Array | null): AttentionInput {
  return {
    q: new Float32Array(T * Hq * Dqk),
    k: Float32Array.from({ length: T * Hkv * Dqk }, (_, i) => Math.sin(i)),
    v: new Float32Array(T * Hkv * Dv).fill(1),
    start: 0,
    T,
    numHeads: Hq,
    numKvHeads: Hkv,
    headDim: Dqk,
    vHeadDim: Dv,
    window,
    sinks,
    pastKeys: new Float32Array(0),
    pastValues: new Float32Array(0),
    pastRows: 0,
    pastFirst: 0,
  };
}

test('sink s with zero scores and unit values gives n/(n+e^s) per head and row', () => {
  const sinks = Float32Array.from([0, 1.5, -2, 3]);
  const T = 9;
  const W = 4;
  for (const window of [null, W]) {
    const out = be.attention(input(T, 4, 2, 6, 5, window, sinks));
    for (let t = 0; t < T; t++) {
      const n = window === null ? t + 1 : Math.min(t + 1, W);
      for (let h = 0; h < 4; h++) {
        const want = n / (n + Math.exp(sinks[h]!));
        for (let d = 0; d < 5; d++) assert.ok(Math.abs(out[(t * 4 + h) * 5 + d]! - want) < 1e-6, `t ${t} h ${h}: ${out[(t * 4 + h) * 5 + d]} vs ${want}`);
      }
    }
  }
});

test('no sink: attention weights sum to one (output 1 for unit values)', () => {
  const out = be.attention(input(5, 2, 1, 4, 3, null, null));
  for (const x of out) assert.ok(Math.abs(x - 1) < 1e-6);
});

test('full-attention layers get no sink unless add_full_attention_sink_bias is set', () => {
  for (const dir of discoverCases()) {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const cfg = parseConfig(raw, dir);
    assert.equal(cfg.fullPlan.hasSink, raw.add_full_attention_sink_bias === true);
    assert.equal(cfg.swaPlan.hasSink, raw.add_swa_attention_sink_bias === true);
    const flipped = parseConfig({ ...raw, add_full_attention_sink_bias: true }, dir);
    assert.equal(flipped.fullPlan.hasSink, true);
  }
});

test('window and GQA: query sees exactly the last W keys of its kv head', () => {
  // One-hot values per position: the output is the attention-weighted position histogram.
  const T = 7, W = 3, Hq = 4, Hkv = 2, D = 2, Dv = T;
  const a = input(T, Hq, Hkv, D, Dv, W, null);
  a.v = new Float32Array(T * Hkv * Dv);
  for (let t = 0; t < T; t++) for (let h = 0; h < Hkv; h++) a.v[(t * Hkv + h) * Dv + t] = h + 1;
  const out = be.attention(a);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < Hq; h++) {
      const kvh = Math.floor(h / 2);
      for (let j = 0; j < T; j++) {
        const w = out[(t * Hq + h) * Dv + j]!;
        const visible = j <= t && t - j < W;
        if (!visible) assert.equal(w, 0, `t ${t} h ${h} sees ${j}`);
        else assert.ok(Math.abs(w - (kvh + 1) / Math.min(t + 1, W)) < 1e-6);
      }
    }
  }
});
