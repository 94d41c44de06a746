/**
 * `mimo plan` as issue 14 asks: --mem-fraction (default 0.9) against the capacity the device reports; the context the
 * user asks for is fitted (by default 32K), with the KV room left and the largest context that fits, which the launch
 * commands then carry with the same memory fraction; H20, MI300X and MI325X with sourced figures; an unrealistic
 * layout (24 consumer cards over PCIe) is called so.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { loadPreset, PRESET_NUM_MTP_LAYERS } from '../../src/model/mimo-v2/presets.js';
import { capacityBytes, findGpu, usableBytes } from '../../src/plan/gpus.js';
import { fitLayout, kvPlan, largestContext, planDeployment, type PlanInput } from '../../src/plan/planner.js';
import { planCommands, planJson, unrealisticLayout } from '../../src/plan/report.js';
import { presetWeightBytes } from '../../src/plan/weights.js';
import { repoRoot } from '../helpers/fixtures.js';

function input(preset: string, gpu: string, extra: Partial<PlanInput> = {}): PlanInput {
  const { config } = loadPreset(preset);
  return {
    title: preset,
    modelPath: preset,
    config,
    multimodal: false,
    numMtpLayers: PRESET_NUM_MTP_LAYERS,
    weights: presetWeightBytes(config, PRESET_NUM_MTP_LAYERS),
    gpu: findGpu(gpu),
    contextTokens: 32768,
    concurrency: 1,
    kvDtype: 'bf16',
    cpuBandwidth: { bytesPerSecond: 50e9, source: 'test' },
    ...extra,
  };
}

describe('mimo plan: memory fraction and capacity', () => {
  it('usable = device-reported capacity × --mem-fraction; datasheet bytes where no device figure is sourced', () => {
    const h200 = findGpu('h200');
    assert.equal(capacityBytes(h200), 143771 * 2 ** 20);
    assert.equal(usableBytes(h200, 0.95), Math.floor(143771 * 2 ** 20 * 0.95));
    const b200 = findGpu('b200');
    assert.equal(b200.deviceMemoryBytes, undefined);
    assert.equal(capacityBytes(b200), 180e9);
    const plan = planDeployment(input('mimo-v2-flash', 'h200', { memFraction: 0.95 }));
    assert.equal(plan.capacitySource, 'device');
    assert.equal(plan.memFraction, 0.95);
    assert.throws(() => planDeployment(input('mimo-v2-flash', 'h200', { memFraction: 1.5 })), /--mem-fraction: must be a number in \(0, 1\]/);
  });

  it('the launch commands carry the same fraction', () => {
    for (const f of [0.9, 0.95]) {
      const c = planCommands(planDeployment(input('mimo-v2.5-pro', 'h200', { memFraction: f })));
      assert.match(c.sglang[0]!, new RegExp(`--mem-fraction-static ${f}( |$)`));
      assert.match(c.vllm[0]!, new RegExp(`--gpu-memory-utilization ${f}( |$)`));
    }
  });
});

describe('mimo plan: context, KV room, largest context', () => {
  it('KV room left = free bytes − the required sequences\' KV; the largest context fits and one more token does not', () => {
    const inp = input('mimo-v2.5-pro', 'h200', { concurrency: 2 });
    const plan = planDeployment(inp);
    const f = plan.chosen;
    assert.equal(f.kvRoomLeftBytesPerGpu, f.freeBytesPerGpu - 2 * f.kvBytesPerSequencePerGpu);
    const L = largestContext(inp, f.layout);
    assert.equal(plan.largestContextTokens, L);
    assert.ok(L >= 32768 && L < inp.config.maxPositionEmbeddings!, `largest context ${L}`);
    const at = (t: number) => fitLayout({ ...inp, contextTokens: t }, f.layout, kvPlan(inp.config, t, 'bf16', PRESET_NUM_MTP_LAYERS));
    assert.equal(at(L).fits, true);
    assert.equal(at(L + 1).fits, false);
    // Flash on 8 × H200 holds its whole 262,144-token context: the largest context is capped there.
    const flash = planDeployment(input('mimo-v2-flash', 'h200', { gpus: 8 }));
    assert.equal(flash.largestContextTokens, 262144);
  });

  it('a requested context is what the commands carry; without one, the largest that fits', () => {
    const asked = planDeployment(input('mimo-v2.5-pro', 'h200', { contextTokens: 65536, contextRequested: true }));
    assert.equal(asked.launchContextTokens, 65536);
    assert.match(planCommands(asked).vllm[0]!, /--max-model-len 65536 /);
    const free = planDeployment(input('mimo-v2.5-pro', 'h200', { contextRequested: false }));
    assert.equal(free.launchContextTokens, free.largestContextTokens);
    assert.match(planCommands(free).sglang[0]!, new RegExp(`--context-length ${free.largestContextTokens} `));
    const j = planJson(free) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(j.largest_context_tokens, free.largestContextTokens);
    assert.equal(j.per_gpu.kv_room_left_bytes, Math.round(free.chosen.kvRoomLeftBytesPerGpu));
    assert.equal(j.mem_fraction, 0.9);
  });

  it('the CLI fits 32K by default and prints the KV room and the largest context', () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'plan', '--preset', 'mimo-v2.5-pro', '--gpu', 'h200', '--gpus', '8', '--cpu-bandwidth', '50'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /usable per GPU 135\.68 GB = 150\.75 GB as the device reports it \(143,771 MiB\) × --mem-fraction 0\.9/);
    assert.match(r.stdout, /Smallest fit \(min_gpus 8\): 8 × h200/);
    assert.match(r.stdout, /KV room left per GPU after 1 sequence of 32,768 tokens: [\d.]+ GB/);
    assert.match(r.stdout, /largest context that fits 1 sequence on this layout: [\d,]+ tokens; the commands below use/);
    const tight = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'plan', '--preset', 'mimo-v2.5-pro', '--gpu', 'h200', '--mem-fraction', '0.85', '--cpu-bandwidth', '50', '--json'], { encoding: 'utf8' });
    assert.equal(tight.status, 0, tight.stderr);
    assert.equal(JSON.parse(tight.stdout).min_gpus, 16);
    const bad = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'plan', '--preset', 'mimo-v2.5-pro', '--gpu', 'h200', '--mem-fraction', '90', '--cpu-bandwidth', '50'], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^mimo: --mem-fraction: must be a number in \(0, 1\]/);
  });
});

describe('mimo plan: new GPUs and unrealistic layouts', () => {
  it('H20, MI300X and MI325X carry their datasheet figures and sources', () => {
    const want: Record<string, [number, number]> = { h20: [96e9, 4.0e12], mi300x: [192e9, 5.3e12], mi325x: [256e9, 6.0e12] };
    for (const [id, [bytes, bw]] of Object.entries(want)) {
      const g = findGpu(id);
      assert.equal(g.memoryBytes, bytes, id);
      assert.equal(g.memoryBandwidthBytesPerSecond, bw, id);
      assert.equal(g.gpusPerNode, 8, id);
      assert.ok(g.sources.length >= 2 && g.sources.every((s) => /^https:\/\//.test(s)), id);
    }
    assert.equal(planDeployment(input('mimo-v2.5-pro', 'mi325x')).minGpus, 8); // 1,033 GB / 8 ≤ 230 GB
  });

  it('24 consumer cards over PCIe are called unrealistic; one NVLink node is not', () => {
    const cards = planDeployment(input('mimo-v2-flash', 'rtx4090'));
    assert.equal(cards.chosen.layout.gpus, 24);
    assert.match(unrealisticLayout(cards)!, /^unrealistic layout: 24 × rtx4090 \(consumer cards\) over 3 nodes/);
    assert.match((planJson(cards) as { notes: string[] }).notes[0]!, /^unrealistic layout/);
    assert.equal(unrealisticLayout(planDeployment(input('mimo-v2-flash', 'h200', { gpus: 8 }))), null);
    assert.equal(unrealisticLayout(planDeployment(input('mimo-v2-flash', 'l40s', { gpus: 8 }))), null, 'one PCIe server of 8 is a real deployment');
    assert.match(unrealisticLayout(planDeployment(input('mimo-v2-flash', 'l40s', { gpus: 16 })))!, /PCIe-only cards\) over 2 nodes/);
  });
});
