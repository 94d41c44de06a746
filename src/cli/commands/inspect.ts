/**
 * `mimo inspect --model DIR | --preset NAME [--kv-dtype bf16|f16|f32|fp8] [--json]`: parameters (total and
 * active, computed from the config), bytes by dtype, KV-cache bytes per token and at 32K/256K, the layer map.
 * Reads only config.json and safetensors headers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { CheckpointError, RequestError } from '../../errors.js';
import { Checkpoint } from '../../loader/checkpoint.js';
import { resolveGgufPaths } from '../../loader/gguf.js';
import { inspectGguf } from './inspect-gguf.js';
import { loadConfig } from '../../model/mimo-v2/config.js';
import { formatInspectReport, inspectJson, type InspectInput } from '../../model/mimo-v2/inspect-report.js';
import { loadPreset, PRESET_NUM_MTP_LAYERS } from '../../model/mimo-v2/presets.js';
import { expectedWeightShapes, KV_DTYPE_BYTES, weightBytesByDtype, type KvDtype } from '../../model/mimo-v2/stats.js';
import { countMtpLayers } from '../../model/mimo-v2/weights.js';
import { verifyCheckpoint } from '../../model/mimo-v2/verify.js';
import { packageRoot } from '../../util/package-root.js';
import { parseChoice } from '../options.js';

interface InspectFlags {
  model?: string;
  preset?: string;
  kvDtype: KvDtype;
  json: boolean;
  verify: boolean;
}

/** Published size of a preset's release (data/published-sizes.json), when listed. */
function publishedSize(preset: string): { published: string; source: string } | undefined {
  const file = path.join(packageRoot(), 'data', 'published-sizes.json');
  if (!fs.existsSync(file)) return undefined;
  const table = JSON.parse(fs.readFileSync(file, 'utf8')) as { presets: Record<string, { published: string; source: string }> };
  return table.presets[preset];
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('parameters, bytes by dtype, KV-cache size and layer map of a checkpoint or preset')
    .option('--model <dir>', 'checkpoint directory or GGUF file')
    .option('--preset <name>', 'a published config: mimo-v2-flash, mimo-v2-flash-base, mimo-v2.5, mimo-v2.5-pro, mimo-v2.6-flash, mimo-v2.6-pro')
    .option('--kv-dtype <dtype>', 'KV-cache element type', parseChoice(Object.keys(KV_DTYPE_BYTES) as KvDtype[]), 'bf16')
    .option('--json', 'print one JSON object', false)
    .option('--verify', 'with --model: read every byte of every text tensor and refuse values no valid checkpoint holds (E8M0 scale 255, FP8 NaN codes, NaN/Inf)', false)
    .action((flags: InspectFlags) => {
      if ((flags.model === undefined) === (flags.preset === undefined)) throw new RequestError('--model/--preset', 'give exactly one of --model DIR or --preset NAME');
      let input: InspectInput;
      if (flags.preset !== undefined) {
        const { config } = loadPreset(flags.preset);
        if (flags.verify) throw new RequestError('--verify', 'reads a checkpoint\'s bytes; use it with --model DIR');
        input = {
          title: flags.preset,
          config,
          numMtpLayers: PRESET_NUM_MTP_LAYERS,
          bytesByDtype: weightBytesByDtype(config, PRESET_NUM_MTP_LAYERS),
          kvDtype: flags.kvDtype,
          bytesNote: `text model with its ${PRESET_NUM_MTP_LAYERS} MTP layers under the official dtype policy; vision/audio towers not included`,
          published: publishedSize(flags.preset),
        };
      } else {
        const dir = flags.model!;
        if (dir === '') throw new RequestError('--model', 'is empty');
        const ggufPaths = resolveGgufPaths(dir);
        if (ggufPaths) {
          if (flags.verify) throw new RequestError('--verify', 'reads safetensors checkpoints; a GGUF is checked when it loads');
          const report = inspectGguf(ggufPaths, flags.kvDtype);
          process.stdout.write(flags.json ? `${JSON.stringify(inspectJson(report))}\n` : `${formatInspectReport(report)}\n`);
          return;
        }
        const config = loadConfig(path.join(dir, 'config.json'));
        const ckpt = new Checkpoint(dir);
        try {
          const numMtpLayers = countMtpLayers(ckpt.names(), dir);
          // The figures are computed from config.json: refuse to print them for weights that do not match it.
          const problems: string[] = [];
          for (const [name, shape] of expectedWeightShapes(config, numMtpLayers)) {
            const info = ckpt.info(name);
            if (!info) problems.push(`${name} is missing`);
            else if (info.shape.join() !== shape.join()) problems.push(`${name} has shape [${info.shape.join(', ')}], config.json implies [${shape.join(', ')}]`);
          }
          if (problems.length > 0) {
            throw new CheckpointError(dir, `the weights do not match config.json (${problems.length} problems): ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; …' : ''}`);
          }
          const notes: string[] = [];
          if (fs.existsSync(path.join(dir, 'dflash'))) {
            notes.push(`  ${path.join(dir, 'dflash')}/: a separate DFlash drafter (block-diffusion draft model); not loaded by mimo.ts and not counted above`);
          }
          if (flags.verify) {
            const v = verifyCheckpoint(ckpt);
            if (v.problems.length > 0) {
              const list = v.problems.slice(0, 5).map((p) => `${p.file}: tensor ${p.tensor}: ${p.detail}`).join('; ');
              throw new CheckpointError(dir, `--verify found ${v.problems.length} tensor(s) with invalid values: ${list}${v.problems.length > 5 ? '; …' : ''}`);
            }
            notes.push(`  verified: read all ${v.tensors} text tensors (${v.bytes.toLocaleString('en-US')} bytes); no E8M0 NaN scale, FP8 NaN code or non-finite value`);
          }
          input = {
            title: dir,
            config,
            numMtpLayers,
            bytesByDtype: ckpt.bytesByDtype(),
            kvDtype: flags.kvDtype,
            bytesNote: 'every tensor in the safetensors files, other modalities included',
            notes,
          };
        } finally {
          ckpt.close();
        }
      }
      process.stdout.write(flags.json ? `${JSON.stringify(inspectJson(input))}\n` : `${formatInspectReport(input)}\n`);
    });
}
