/**
 * `mimo plan` as a user runs it (the built CLI, dist/src/cli/main.js): the JSON contract of issue 6 for
 * MiMo-V2.5-Pro on H200, the text report for Flash, and one clear line naming the option for each bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint } from '../../src/model/mimo-v2/init.js';
import { repoRoot } from '../helpers/fixtures.js';

const bin = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

function mimo(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, 'plan', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('mimo plan --preset mimo-v2.5-pro --gpu h200 --json: last line is the plan as JSON, ≥ 8 GPUs, both engines', () => {
  const r = mimo('--preset', 'mimo-v2.5-pro', '--gpu', 'h200', '--json');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const j = JSON.parse(lines[lines.length - 1]!) as Record<string, any>;
  for (const key of ['min_gpus', 'layout', 'kv_bytes_per_token', 'max_concurrent_sequences', 'commands']) assert.ok(key in j, `missing ${key}`);
  assert.equal(typeof j.min_gpus, 'number');
  assert.ok(j.min_gpus >= 8);
  assert.deepEqual(Object.keys(j.layout).sort(), ['dp', 'ep', 'nodes', 'pp', 'tp']);
  assert.equal(j.layout.tp * j.layout.dp * j.layout.pp, j.min_gpus);
  assert.deepEqual(Object.keys(j.kv_bytes_per_token).sort(), ['full', 'mtp', 'sliding_window']);
  assert.deepEqual(j.kv_bytes_per_token, { full: 51_200, sliding_window: 307_200, mtp: 15_360 });
  assert.ok(Number.isInteger(j.max_concurrent_sequences) && j.max_concurrent_sequences >= 1);
  assert.match(j.commands.sglang, /sglang\.launch_server .*--model-path XiaomiMiMo\/MiMo-V2\.5-Pro/);
  assert.match(j.commands.vllm, /^vllm serve XiaomiMiMo\/MiMo-V2\.5-Pro /);
  for (const c of [j.commands.sglang, j.commands.vllm]) assert.ok(typeof c === 'string' && !c.includes('\n'), 'one shell command each');
  assert.ok(j.cpu.decode_tokens_per_second_bound > 0 && j.cpu.ram_bytes > j.weights.total_bytes);
});

test('mimo plan --preset mimo-v2-flash --gpu h200 prints the report', () => {
  const r = mimo('--preset', 'mimo-v2-flash', '--gpu', 'h200', '--cpu-bandwidth', '50');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Smallest fit \(min_gpus 4\): 4 × h200 — layout tp 4, dp 1, ep 1, pp 1, 1 node/);
  assert.match(r.stdout, /sliding window {2}199,680 B\/token, ring of 128 tokens = 25\.56 MB per sequence \(bounded\)/);
  assert.match(r.stdout, /5\.33× the full-attention layers/);
  assert.match(r.stdout, /SGLANG_ENABLE_SPEC_V2=1 python3 -m sglang\.launch_server/);
  assert.match(r.stdout, /vllm serve XiaomiMiMo\/MiMo-V2-Flash/);
  assert.match(r.stdout, /decode ≤ [\d.]+ tokens\/s/);
});

test('mimo plan --model DIR reads the checkpoint headers and loads the directory in the commands', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-plan cli-'));
  try {
    await initCheckpoint({ preset: 'mimo-v2-flash', scale: 'tiny', outDir: dir, seed: 3, fp8: true });
    const r = mimo('--model', dir, '--gpu', 'l40s', '--json', '--cpu-bandwidth', '20');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, any>;
    assert.match(j.weights.method, /safetensors headers/);
    assert.ok(j.commands.sglang.includes(`--model-path '${dir}'`), j.commands.sglang);
    assert.ok(j.commands.vllm.startsWith(`vllm serve '${dir}' `), j.commands.vllm);
    const missing = mimo('--model', path.join(dir, 'nope'), '--gpu', 'l40s', '--cpu-bandwidth', '20');
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim().split('\n').filter((l) => !l.startsWith("(run 'mimo")).length, 1, missing.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input: exit code 1 and one line naming the option', () => {
  const cases: [string[], RegExp][] = [
    [['--preset', 'mimo-v2-flash', '--gpu', 'h300'], /--gpu: unknown GPU "h300"; known GPUs: h200/],
    [['--preset', 'mimo-v2-flash'], /--gpu: is required/],
    [['--gpu', 'h200'], /--model\/--preset: give exactly one/],
    [['--preset', 'mimo-v2-flash', '--model', '/tmp', '--gpu', 'h200'], /--model\/--preset: give exactly one/],
    [['--preset', 'mimo-v2-flash', '--gpu', 'h200', '--gpus', '0'], /--gpus: must be a positive whole number, got "0"/],
    [['--preset', 'mimo-v2-flash', '--gpu', 'h200', '--gpus', '2.5'], /--gpus: must be a positive whole number/],
    [['--preset', 'mimo-v2-flash', '--gpu', 'h200', '--gpus', '2'], /--gpus: 2 × h200 do not fit mimo-v2-flash.*smallest count that fits is 4/],
    [['--preset', 'mimo-v2.5-pro', '--gpu', 'h200', '--gpus', '8', '--mem-fraction', '0.85'], /--gpus: 8 × h200 do not fit.*at --mem-fraction 0\.85/],
    [['--preset', 'mimo-v2.5', '--gpu', 'h200', '--gpus', '2'], /--gpus: 2 GPUs: the fused qkv_proj is pre-sharded for attention TP 4/],
    [['--preset', 'mimo-v2-flash', '--gpu', 'h200', '--gpus', '16', '--nodes', '3'], /--nodes: 16 GPUs cannot be spread evenly over 3/],
    [['--preset', 'mimo-v2-flash', '--gpu', 'h200', '--gpus', '12'], /--gpus: 12 GPUs span more than one node/],
    [['--preset', 'mimo-v2-flash', '--gpu', 'h200', '--context', '1m'], /--context: 1048576 tokens exceed the model's max_position_embeddings 262144/],
    [['--preset', 'mimo-v2-flash', '--gpu', 'h200', '--concurrency', 'many'], /--concurrency: must be a positive whole number/],
    [['--preset', 'mimo-v2-flash', '--gpu', 'h200', '--weights', 'fp4'], /--weights: expected one of fp8, bf16, int4/],
    [['--preset', 'mimo-v2-flash', '--gpu', 'h200', '--kv-dtype', 'f32'], /--kv-dtype: expected one of bf16, fp8/],
    [['--preset', 'mimo-v2-flash', '--gpu', 'h200', '--cpu-bandwidth=-3'], /--cpu-bandwidth: must be a positive number/],
  ];
  for (const [args, message] of cases) {
    const r = mimo(...args, ...(args.some((a) => a.startsWith('--cpu-bandwidth')) ? [] : ['--cpu-bandwidth', '50']));
    assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.equal(r.stdout, '', args.join(' '));
    // One line of error; a bad flag adds the --help hint as a second.
    const lines = r.stderr.trim().split('\n').filter((l) => l !== "(run 'mimo plan --help' for usage)");
    assert.equal(lines.length, 1, `${args.join(' ')}: more than one line:\n${r.stderr}`);
    assert.match(lines[0]!, message, args.join(' '));
  }
});
