/**
 * `mimo bench --model DIR [--prompt-tokens 512] [--gen-tokens 128] [--runs 3] [--threads N] [--backend auto|ts|native]
 * [--json]`: prefill and decode tokens/s, TTFT and memory of a checkpoint, measured as llama.cpp's anchor script
 * measures llama.cpp (see engine/bench.ts). Progress goes to stderr; with `--json` the last line of stdout is one
 * JSON object (snake_case keys: `prefill_tps` and `decode_tps` are medians, `_min` / `_max` beside them).
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { FOREIGN_WARN_CORES, runBench, type BenchResult, type Spread } from '../../engine/bench.js';
import { BACKEND_CHOICES, type BackendChoice } from '../../kernels/select.js';
import { RequestError } from '../../errors.js';
import { formatBytes } from '../../model/mimo-v2/inspect-report.js';
import { PRECISIONS, type Precision } from '../../model/precision.js';
import { parseChoice, parseIntOption } from '../options.js';

interface BenchFlags {
  model: string;
  promptTokens: number;
  genTokens: number;
  runs: number;
  threads?: number;
  backend?: BackendChoice;
  seed?: number;
  mtp: number;
  json: boolean;
  profile: boolean;
  precision: Precision;
}

/** The `--json` object: flat snake_case keys, medians under the plain names. */
export function benchJson(r: BenchResult): Record<string, unknown> {
  const withSpread = (key: string, s: Spread) => ({ [key]: s.median, [`${key}_min`]: s.min, [`${key}_max`]: s.max });
  return {
    model: r.modelDir,
    model_type: r.modelType,
    backend: r.backend,
    precision: r.precision,
    int8_weights: r.int8Weights,
    ...(r.backendWarning ? { backend_warning: r.backendWarning } : {}),
    threads: r.threads,
    prompt_tokens: r.promptTokens,
    gen_tokens: r.genTokens,
    runs: r.runs,
    seed: r.seed,
    ...withSpread('prefill_tps', r.prefillTokensPerSecond),
    ...withSpread('decode_tps', r.decodeTokensPerSecond),
    ...withSpread('ttft_seconds', r.ttftSeconds),
    load_seconds: r.loadSeconds,
    rss_after_load_bytes: r.rssAfterLoadBytes,
    peak_rss_bytes: r.peakRssBytes,
    decode_weight_bytes: r.decodeWeightBytes.total,
    read_bandwidth_bytes_per_second: r.readBandwidthBytesPerSecond,
    ...(r.profile ? { profile: { tokens: r.profile.tokens, seconds: r.profile.seconds, ops: r.profile.ops } } : {}),
    decode_fraction_of_bound: r.decodeFractionOfBound,
    deterministic_tokens: r.deterministicTokens,
    max_foreign_cores: r.maxForeignCores,
    ...(r.mtp
      ? {
          mtp: r.mtp.numDraft,
          ...withSpread('decode_tps_mtp', r.mtp.decodeTokensPerSecond),
          ...withSpread('mtp_acceptance_length', r.mtp.acceptanceLength),
          mtp_drafts_proposed: r.mtp.draftsProposed,
          mtp_drafts_accepted: r.mtp.draftsAccepted,
          mtp_same_tokens_as_plain: r.mtp.sameTokensAsPlain,
        }
      : {}),
    per_run: r.perRun.map((x) => ({
      prefill_seconds: x.prefillSeconds,
      decode_seconds: x.decodeSeconds,
      prefill_tps: x.prefillTokensPerSecond,
      decode_tps: x.decodeTokensPerSecond,
      foreign_cores: x.foreignCores,
    })),
  };
}

/** The `--profile` table: per op kind, per decoded token: calls, ms, share of the step, MB read, GB/s. */
export function formatProfile(r: BenchResult): string[] {
  const p = r.profile!;
  const step = p.seconds / p.tokens;
  const covered = p.ops.reduce((s, o) => s + o.seconds, 0) / p.tokens;
  const lines = [
    `  profile: ${p.tokens} greedy decode steps, ${(step * 1000).toFixed(2)} ms per token (per token below; GB/s = weight bytes ÷ op time)`,
    `  ${'op'.padEnd(30)}${'calls'.padStart(7)}${'ms'.padStart(9)}${'share'.padStart(8)}${'MB read'.padStart(10)}${'GB/s'.padStart(8)}`,
  ];
  for (const o of p.ops) {
    const s = o.seconds / p.tokens;
    const mb = o.bytes / p.tokens / 1e6;
    lines.push(
      `  ${o.label.padEnd(30)}${(o.calls / p.tokens).toFixed(0).padStart(7)}${(s * 1000).toFixed(2).padStart(9)}${`${((100 * s) / step).toFixed(1)}%`.padStart(8)}` +
        `${mb.toFixed(1).padStart(10)}${(o.bytes > 0 ? (o.bytes / o.seconds / 1e9).toFixed(1) : '').padStart(8)}`,
    );
  }
  lines.push(`  ${'other (sampling, JS glue)'.padEnd(30)}${''.padStart(7)}${((step - covered) * 1000).toFixed(2).padStart(9)}${`${((100 * (step - covered)) / step).toFixed(1)}%`.padStart(8)}`);
  return lines;
}

/** The readable report: one line of set-up, a min/median/max table, memory. */
export function formatBench(r: BenchResult): string {
  const row = (label: string, s: Spread, digits: number) =>
    `  ${label.padEnd(22)}${[s.min, s.median, s.max].map((v) => v.toFixed(digits).padStart(10)).join('')}`;
  const ms = (s: Spread): Spread => ({ min: s.min * 1000, median: s.median * 1000, max: s.max * 1000 });
  return [
    `mimo bench: ${r.modelDir} (${r.modelType}) on the ${r.backend} backend, ${r.threads} thread${r.threads > 1 ? 's' : ''}, precision ${r.precision}${r.precision === 'fast' ? ` (8-bit activations on ${r.int8Weights} weights)` : ''}`,
    `  prompt ${r.promptTokens} tokens, ${r.genTokens} generated tokens, ${r.runs} run${r.runs > 1 ? 's' : ''} after 1 warm-up, greedy`,
    '',
    `  ${''.padEnd(22)}${['min', 'median', 'max'].map((h) => h.padStart(10)).join('')}`,
    row(`prefill tok/s (${r.promptTokens})`, r.prefillTokensPerSecond, 1),
    row(`decode tok/s (${r.genTokens})`, r.decodeTokensPerSecond, 2),
    row('TTFT ms', ms(r.ttftSeconds), 0),
    ...(r.mtp
      ? [
          row(`decode tok/s, MTP ${r.mtp.numDraft}`, r.mtp.decodeTokensPerSecond, 2),
          row('acceptance length', r.mtp.acceptanceLength, 2),
          `  MTP: ${r.mtp.draftsAccepted}/${r.mtp.draftsProposed} drafts accepted; tokens ${r.mtp.sameTokensAsPlain ? 'identical to' : 'DIFFERENT from'} plain greedy`,
        ]
      : []),
    '',
    `  load ${r.loadSeconds.toFixed(2)} s | RSS after load ${formatBytes(r.rssAfterLoadBytes)} | peak RSS ${formatBytes(r.peakRssBytes)} | ` +
      `weights read per decoded token ${formatBytes(r.decodeWeightBytes.total)}`,
    ...(r.readBandwidthBytesPerSecond
      ? [
          `  read bandwidth ${(r.readBandwidthBytesPerSecond / 1e9).toFixed(1)} GB/s (measured now, ${r.threads} thread${r.threads > 1 ? 's' : ''}) → decode bound ` +
            `${(r.readBandwidthBytesPerSecond / r.decodeWeightBytes.total).toFixed(2)} tok/s; median decode = ${(100 * r.decodeFractionOfBound!).toFixed(1)}% of it`,
        ]
      : []),
    ...(r.profile ? ['', ...formatProfile(r)] : []),
    ...(r.deterministicTokens ? [] : ['  warning: the runs generated different tokens (greedy decoding should be deterministic)']),
    ...(r.maxForeignCores !== null && r.maxForeignCores > FOREIGN_WARN_CORES
      ? [`  warning: other processes kept ${r.maxForeignCores.toFixed(2)} cores busy during a run; the figures are not representative`]
      : []),
  ].join('\n');
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('prefill and decode tokens/s, TTFT and memory of a checkpoint (as llama.cpp is measured)')
    .requiredOption('--model <dir>', 'checkpoint directory (e.g. from `mimo init --preset bench`)')
    .option('--prompt-tokens <n>', 'prompt length in tokens (random ids)', parseIntOption(1), 512)
    .option('--gen-tokens <n>', 'greedy tokens generated after the first', parseIntOption(1), 128)
    .option('--runs <n>', 'timed runs after one warm-up', parseIntOption(1), 3)
    .option('--threads <n>', 'native backend worker threads (default: the backend\'s choice)', parseIntOption(1))
    .option('--backend <name>', 'auto (native when it loads), ts or native (default: $MIMO_BACKEND or auto)', parseChoice(BACKEND_CHOICES))
    .option('--seed <n>', 'seed of the random prompt ids (default 1234, as llama.cpp\'s bench script)', parseIntOption(0))
    .option('--mtp <n>', 'also time greedy decode with n MTP drafts per step (0 = off)', parseIntOption(0), 0)
    .option('--precision <mode>', "exact (float32 activations) or fast (8-bit activations for a GGUF's Q8_0/Q4_0/Q5_0/IQ4_NL/MXFP4 weights; not for safetensors checkpoints)", parseChoice(PRECISIONS), 'exact')
    .option('--json', 'print one JSON object as the last line of stdout', false)
    .option('--profile', 'also run one decode with every op timed: ms and weight bytes per token and GB/s of each op', false)
    .action((flags: BenchFlags) => {
      if (!fs.existsSync(flags.model)) throw new RequestError('--model', `${flags.model} does not exist`);
      const result = runBench({
        modelDir: flags.model,
        promptTokens: flags.promptTokens,
        genTokens: flags.genTokens,
        runs: flags.runs,
        threads: flags.threads,
        backend: flags.backend,
        seed: flags.seed,
        mtp: flags.mtp,
        profile: flags.profile,
        precision: flags.precision,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(flags.json ? `${JSON.stringify(benchJson(result))}\n` : `${formatBench(result)}\n`);
    });
}
