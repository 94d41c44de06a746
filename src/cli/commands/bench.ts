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
}

/** The `--json` object: flat snake_case keys, medians under the plain names. */
export function benchJson(r: BenchResult): Record<string, unknown> {
  const withSpread = (key: string, s: Spread) => ({ [key]: s.median, [`${key}_min`]: s.min, [`${key}_max`]: s.max });
  return {
    model: r.modelDir,
    model_type: r.modelType,
    backend: r.backend,
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

/** The readable report: one line of set-up, a min/median/max table, memory. */
export function formatBench(r: BenchResult): string {
  const row = (label: string, s: Spread, digits: number) =>
    `  ${label.padEnd(22)}${[s.min, s.median, s.max].map((v) => v.toFixed(digits).padStart(10)).join('')}`;
  const ms = (s: Spread): Spread => ({ min: s.min * 1000, median: s.median * 1000, max: s.max * 1000 });
  return [
    `mimo bench: ${r.modelDir} (${r.modelType}) on the ${r.backend} backend, ${r.threads} thread${r.threads > 1 ? 's' : ''}`,
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
    .option('--json', 'print one JSON object as the last line of stdout', false)
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
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(flags.json ? `${JSON.stringify(benchJson(result))}\n` : `${formatBench(result)}\n`);
    });
}
