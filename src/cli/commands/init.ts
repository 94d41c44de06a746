/**
 * `mimo init --preset NAME --scale tiny|small|wide --out DIR [--fp8] [--seed N]`: a random-weight checkpoint of a
 * family member scaled down, in the exact official layout (config, safetensors, tokenizer files, chat template).
 * `--preset bench` is the llama.cpp comparison model: MiMo-V2-Flash at the `bench` scale (`--scale` is ignored).
 * `--scale wide` keeps the member's real matrix shapes with 6 (Pro: 8) layers and 64 experts. The V2.6 presets are
 * always written in their released layout (FP8 + MXFP4 routed experts + BF16 router).
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { initCheckpoint } from '../../model/mimo-v2/init.js';
import { loadPreset } from '../../model/mimo-v2/presets.js';
import { SCALES, type Scale } from '../../model/mimo-v2/scale.js';
import { parseChoice, parseIntOption } from '../options.js';
import { formatBytes, formatCount } from '../../model/mimo-v2/inspect-report.js';

/** `--preset bench`: MiMo-V2-Flash at the bench scale (tools/llamacpp-anchor/README.md). */
const BENCH_PRESET = 'bench';

interface InitFlags {
  preset: string;
  scale: Scale;
  out: string;
  fp8: boolean;
  seed: number;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a random-weight, scaled-down checkpoint of a family member in the official layout')
    .requiredOption('--preset <name>', 'mimo-v2-flash, mimo-v2-flash-base, mimo-v2.5, mimo-v2.5-pro, mimo-v2.6-flash, mimo-v2.6-pro, or bench (= mimo-v2-flash at --scale bench, the llama.cpp comparison model)')
    .requiredOption('--out <dir>', 'output directory (must not exist or be empty)')
    .option('--scale <scale>', `size: ${SCALES.join(', ')} (wide: the member's real matrix shapes, 6 or 8 layers, 64 experts)`, parseChoice(SCALES), 'tiny')
    .option('--fp8', 'store FP8 e4m3 weights with 128×128 block scales, as the release (always on for the MXFP4 V2.6 presets)', false)
    .option('--seed <n>', 'random seed', parseIntOption(0), 0)
    .action(async (flags: InitFlags) => {
      const isBench = flags.preset === BENCH_PRESET;
      const preset = isBench ? 'mimo-v2-flash' : flags.preset;
      loadPreset(preset); // fails early with the list of valid names
      const bar = new cliProgress.SingleBar({ format: 'writing [{bar}] {percentage}% | {value}/{total} MB', stream: process.stderr }, cliProgress.Presets.shades_classic);
      let started = false;
      const res = await initCheckpoint({
        preset,
        scale: isBench ? 'bench' : flags.scale,
        outDir: flags.out,
        fp8: flags.fp8,
        seed: flags.seed,
        onProgress: (done, total) => {
          if (!started) {
            bar.start(Math.round(total / 1e6), 0);
            started = true;
          }
          bar.update(Math.round(done / 1e6));
        },
      });
      if (started) bar.stop();
      process.stdout.write(`wrote ${res.dir}: ${formatCount(res.paramCount)} parameters, ${formatBytes(res.bytes)} (random weights)\n`);
    });
}
