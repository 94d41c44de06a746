/**
 * The SGLang and vLLM launch commands: every flag and environment variable they use is listed in
 * data/launch-flags.json with its engine, meaning and a source (parsed from the command strings, over every preset
 * and single-node, data-parallel and multi-node layouts, bf16 and fp8 KV); the layout sizes appear as the engines
 * spell them; every GPU in data/gpus.json has its figures and sources.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadPreset, PRESET_NAMES, PRESET_NUM_MTP_LAYERS } from '../../src/model/mimo-v2/presets.js';
import { findGpu, gpuIds, loadGpuTable } from '../../src/plan/gpus.js';
import { hfRepoOf, loadLaunchData, shellQuote, shellWords, wrapCommand, type Engine } from '../../src/plan/launch-commands.js';
import { planDeployment, type PlanInput } from '../../src/plan/planner.js';
import { planCommands } from '../../src/plan/report.js';
import { presetWeightBytes } from '../../src/plan/weights.js';

function plan(preset: string, gpu: string, extra: Partial<PlanInput> = {}) {
  const { raw, config } = loadPreset(preset);
  return planDeployment({
    title: preset,
    modelPath: hfRepoOf(preset) ?? preset,
    config,
    multimodal: Object.keys(raw).some((k) => /^(vision|audio)_/.test(k)),
    numMtpLayers: PRESET_NUM_MTP_LAYERS,
    weights: presetWeightBytes(config, PRESET_NUM_MTP_LAYERS),
    gpu: findGpu(gpu),
    contextTokens: 65536,
    concurrency: 1,
    kvDtype: 'bf16',
    cpuBandwidth: { bytesPerSecond: 50e9, source: 'test' },
    ...extra,
  });
}

/** Flags (words starting with --) and leading NAME=value environment words of a command. */
function parse(command: string): { env: string[]; exe: string[]; flags: Map<string, string | true> } {
  const words = shellWords(command);
  const env: string[] = [];
  while (/^[A-Z_][A-Z0-9_]*=/.test(words[0]!)) env.push(words.shift()!.split('=')[0]!);
  const first = words.findIndex((w) => w.startsWith('--'));
  const flags = new Map<string, string | true>();
  for (let i = first; i < words.length; i++) {
    if (!words[i]!.startsWith('--')) continue;
    const next = words[i + 1];
    flags.set(words[i]!, next !== undefined && !next.startsWith('--') ? next : true);
  }
  return { env, exe: words.slice(0, first), flags };
}

const data = loadLaunchData();
const cases: [string, string, Partial<PlanInput>][] = [];
for (const preset of PRESET_NAMES) {
  cases.push([preset, 'h200', {}], [preset, 'h100', { kvDtype: 'fp8' }], [preset, 'h200', { nodes: 4 }], [preset, 'b200', { gpus: 8 }]);
}

describe('launch commands', () => {
  it('use only flags and environment variables listed in data/launch-flags.json, each with a source', () => {
    let checked = 0;
    for (const [preset, gpu, extra] of cases) {
      const p = plan(preset, gpu, extra);
      const commands = planCommands(p);
      for (const engine of ['sglang', 'vllm'] as Engine[]) {
        for (const command of commands[engine]) {
          const { env, exe, flags } = parse(command);
          assert.equal(exe.slice(0, engine === 'sglang' ? 3 : 2).join(' '), data.engines[engine].executable, command);
          for (const name of env) {
            const entry = data.env.find((e) => e.engine === engine && e.name === name);
            assert.ok(entry && entry.source.trim() && entry.meaning.trim(), `${engine} env ${name} is not in data/launch-flags.json with a source`);
          }
          for (const flag of flags.keys()) {
            const entry = data.flags.find((f) => f.engine === engine && f.flag === flag);
            assert.ok(entry, `${engine} flag ${flag} (in: ${command}) is not in data/launch-flags.json`);
            assert.ok(entry.source.trim().length > 0 && entry.meaning.trim().length > 0, `${engine} ${flag} has no source or meaning`);
            // A source is a key of `sources` (which holds the URL / repo + path) or a URL itself.
            assert.ok(data.sources[entry.source] !== undefined || /^https?:\/\//.test(entry.source), `${flag}: unknown source ${entry.source}`);
            checked++;
          }
        }
      }
    }
    assert.ok(checked > 200);
  });

  it('spell the layout as each engine documents it', () => {
    // Flash on 4 H200: one tensor-parallel group of 4.
    let c = planCommands(plan('mimo-v2-flash', 'h200'));
    let s = parse(c.sglang[0]!).flags;
    let v = parse(c.vllm[0]!);
    assert.equal(s.get('--tp-size'), '4');
    assert.equal(s.has('--dp-size'), false);
    assert.equal(v.exe.at(-1), 'XiaomiMiMo/MiMo-V2-Flash');
    assert.equal(v.flags.get('--tensor-parallel-size'), '4');
    assert.equal(s.get('--reasoning-parser'), 'qwen3');
    assert.equal(s.get('--tool-call-parser'), 'mimo');
    assert.equal(v.flags.get('--tool-call-parser'), 'qwen3_xml');
    assert.deepEqual(JSON.parse(v.flags.get('--speculative-config') as string), { method: 'mtp', num_speculative_tokens: 3 });
    assert.equal(s.get('--speculative-num-steps'), '3');
    assert.equal(s.get('--speculative-num-draft-tokens'), '4');
    // V2.5-Pro on H200: 2 nodes; SGLang --tp-size 16 --dp-size 2 --enable-dp-attention, vLLM TP 8 × DP 2 + EP.
    c = planCommands(plan('mimo-v2.5-pro', 'h200'));
    assert.equal(c.sglang.length, 2);
    s = parse(c.sglang[1]!).flags;
    assert.equal(s.get('--tp-size'), '16');
    assert.equal(s.get('--dp-size'), '2');
    assert.equal(s.get('--enable-dp-attention'), true);
    assert.equal(s.get('--nnodes'), '2');
    assert.equal(s.get('--node-rank'), '1');
    assert.equal(s.get('--dist-init-addr'), '$HEAD_IP:20000');
    v = parse(c.vllm[1]!);
    assert.equal(v.flags.get('--tensor-parallel-size'), '8');
    assert.equal(v.flags.get('--data-parallel-size'), '2');
    assert.equal(v.flags.get('--enable-expert-parallel'), true);
    assert.equal(v.flags.get('--headless'), true);
    assert.equal(v.flags.get('--data-parallel-start-rank'), '1');
    assert.equal(parse(c.vllm[0]!).flags.has('--headless'), false);
    // fp8 KV cache.
    c = planCommands(plan('mimo-v2-flash', 'h200', { kvDtype: 'fp8' }));
    assert.equal(parse(c.sglang[0]!).flags.get('--kv-cache-dtype'), 'fp8_e4m3');
    assert.equal(parse(c.vllm[0]!).flags.get('--kv-cache-dtype'), 'fp8');
    // V2.5 (vision/audio towers) with data-parallel attention needs the DP LM head and encoder flags.
    s = parse(planCommands(plan('mimo-v2.5', 'h100')).sglang[0]!).flags;
    assert.equal(s.get('--enable-dp-lm-head'), true);
    assert.equal(s.get('--mm-enable-dp-encoder'), true);
  });

  it('quote shell words so that the command parses back', () => {
    for (const w of ['plain', '/path/with space', "it's", '{"a":1}']) assert.deepEqual(shellWords(`x ${shellQuote(w)} y`), ['x', w, 'y']);
    // The report's wrapped form (backslash-newline at each flag) is the same command.
    for (const c of Object.values(planCommands(plan('mimo-v2.5-pro', 'h200')))) assert.deepEqual(shellWords(wrapCommand(c[0]!)), shellWords(c[0]!));
  });
});

describe('data/gpus.json', () => {
  it('lists the six GPUs of the issue with figures and sources', () => {
    assert.deepEqual(gpuIds().sort(), ['a100-80g', 'b200', 'h100', 'h200', 'l40s', 'rtx4090']);
    assert.equal(loadGpuTable().reservedFraction, 0.1);
    for (const id of gpuIds()) {
      const g = findGpu(id);
      assert.ok(g.memoryBytes >= 24e9 && g.memoryBandwidthBytesPerSecond > 5e11 && g.gpusPerNode >= 1, id);
      assert.ok(g.sources.length > 0 && g.sources.every((s) => /https?:\/\//.test(s)), `${id} needs source URLs`);
    }
    assert.equal(findGpu('h200').memoryBytes, 141e9);
    assert.equal(findGpu('b200').memoryBytes, 180e9);
  });
});

describe('MiMo-V2.6 launch commands (MXFP4 experts, DFlash drafter)', () => {
  for (const preset of ['mimo-v2.6-flash', 'mimo-v2.6-pro']) {
    it(`${preset}: the recipe's MoE backends and the dflash/ drafter, the published repo, MXFP4 expert bytes`, () => {
      const p = plan(preset, 'h200');
      const repo = hfRepoOf(preset)!;
      assert.match(repo, /^XiaomiMiMo\/MiMo-V2\.6-(Flash|Pro)-RL$/);
      const { sglang, vllm } = planCommands(p);
      const s = parse(sglang[0]!).flags;
      assert.equal(s.get('--model-path'), repo);
      assert.equal(s.get('--moe-runner-backend'), 'deep_gemm');
      assert.equal(s.get('--moe-a2a-backend'), 'deepep');
      assert.equal(s.get('--speculative-algorithm'), 'DFLASH');
      assert.equal(s.get('--speculative-draft-model-path'), `${repo}/dflash`);
      assert.ok(!s.has('--enable-multi-layer-eagle'), 'EAGLE settings must not be copied to V2.6');
      const v = parse(vllm[0]!).flags;
      assert.equal(v.get('--moe-backend'), 'marlin');
      const spec = JSON.parse(v.get('--speculative-config') as string);
      assert.equal(spec.method, 'dflash');
      assert.equal(spec.model, `${repo}/dflash`);
      assert.equal(spec.draft_tensor_parallel_size, p.chosen.layout.tp);
      // Routed experts are U8 MXFP4 (½ byte + 1/32 byte of E8M0 per weight).
      const { config } = loadPreset(preset);
      const perWeight = p.input.weights.experts / (3 * config.layers.filter((l) => l.ffn === 'moe').length * config.nRoutedExperts * config.moeIntermediateSize * config.hiddenSize);
      assert.ok(Math.abs(perWeight - (0.5 + 1 / 32)) < 1e-9, `expert bytes per weight ${perWeight}`);
    });
  }
});
