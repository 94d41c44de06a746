/**
 * `mimo quantize IN OUT.gguf --type q8_0|q4_k_m|q5_k_m|q6_k|iq4_xs|mxfp4|bf16 [--no-mtp] [--threads N] [--split-max-size SIZE]`:
 * an official checkpoint directory (FP8, MXFP4 or BF16) to a GGUF that llama.cpp and mimo.ts load, streamed tensor
 * by tensor with a progress bar (model/mimo-v2/gguf-quantize.ts); the per-tensor types are llama-quantize's.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { GGUF_FILE_TYPES } from '../../loader/gguf-quant-policy.js';
import { quantizeCheckpoint } from '../../model/mimo-v2/gguf-quantize.js';
import { formatBytes } from '../../model/mimo-v2/inspect-report.js';
import * as os from 'node:os';
import { parseChoice, parseIntOption, parseSizeOption } from '../options.js';

const TYPES = GGUF_FILE_TYPES.map((f) => f.name);

interface QuantizeFlags {
  type: string;
  mtp: boolean;
  splitMaxSize?: number;
  threads?: number;
}

export function registerQuantize(program: Command): void {
  program
    .command('quantize')
    .description('write a GGUF (llama.cpp architecture mimo2) of an official checkpoint, with llama-quantize\'s per-tensor types')
    .argument('<in>', 'checkpoint directory (config.json, *.safetensors, tokenizer files)')
    .argument('<out>', 'output .gguf file (a split set is named OUT-00001-of-0000N.gguf)')
    .requiredOption('--type <type>', `file type: ${TYPES.join(', ')}`, parseChoice(TYPES))
    .option('--no-mtp', 'leave out the MTP layers (for llama.cpp builds that do not load mimo2 nextn blocks)')
    .option('--threads <n>', 'worker threads quantising rows (default: every core; the output does not depend on it)', parseIntOption(1, 1024))
    .option('--split-max-size <size>', 'largest part, e.g. 40gb (binary units); default one file', parseSizeOption)
    .action(async (input: string, output: string, flags: QuantizeFlags) => {
      const bar = new cliProgress.SingleBar({ format: 'quantizing [{bar}] {percentage}% | {value}/{total} M weights | {tensor}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
      let started = false;
      const t0 = performance.now();
      const res = await quantizeCheckpoint({
        input,
        output,
        type: flags.type,
        mtp: flags.mtp,
        threads: flags.threads ?? os.availableParallelism(),
        ...(flags.splitMaxSize !== undefined ? { splitMaxBytes: flags.splitMaxSize } : {}),
        onNote: (m) => process.stderr.write(`mimo: ${m}\n`),
        onProgress: (done, total, tensor) => {
          if (!started) {
            bar.start(Math.round(total / 1e6), 0, { tensor });
            started = true;
          }
          bar.update(Math.round(done / 1e6), { tensor });
        },
      });
      if (started) bar.stop();
      const counts = Object.entries(res.typeCounts).map(([t, n]) => `${n} ${t}`).join(', ');
      process.stdout.write(`wrote ${res.paths.join(', ')}: ${formatBytes(res.bytes)} of tensor data (${counts}) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    });
}
