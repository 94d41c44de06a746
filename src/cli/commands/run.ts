/**
 * `mimo run [--model DIR] [...] "prompt"`: chat template applied (or `--raw`), text streamed as generated, then
 * prefill tokens/s, decode tokens/s, TTFT and peak memory.
 */
import * as fs from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { generationDefaults } from '../../engine/generation-config.js';
import { MiMoEngine } from '../../engine/engine.js';
import { BACKEND_CHOICES, type BackendChoice } from '../../kernels/select.js';
import { RequestError } from '../../errors.js';
import { ensureDefaultModel } from '../default-model.js';
import { grammarFromFlags, type GrammarFlags } from '../grammar-flags.js';
import { parseChoice, parseFloatOption, parseIntOption } from '../options.js';
import { formatBytes } from '../../model/mimo-v2/inspect-report.js';

interface RunFlags extends GrammarFlags {
  reasoningBudget?: number;
  model?: string;
  maxTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed?: number;
  think: boolean;
  raw: boolean;
  stop?: string[];
  backend?: BackendChoice;
  threads?: number;
  mtp: number;
}

function collectStop(value: string, previous: string[]): string[] {
  if (value === '') throw new InvalidArgumentError('a stop string must not be empty');
  return [...previous, value];
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('generate text from a prompt (chat template applied unless --raw)')
    .argument('<prompt>', 'the prompt text')
    .option('--model <dir>', 'checkpoint directory (default: a random-weight small MiMo-V2-Flash, created once)')
    .option('--max-tokens <n>', 'most tokens to generate', parseIntOption(1), 256)
    .option('--temperature <t>', 'sampling temperature (0 = greedy; default 0.8 or generation_config.json)', parseFloatOption(0, 100))
    .option('--top-p <p>', 'nucleus sampling, in (0, 1] (default 0.95 or generation_config.json)', parseFloatOption(0, 1, { exclusiveMin: true }))
    .option('--top-k <k>', 'keep the k most likely tokens (0 = off)', parseIntOption(0))
    .option('--min-p <m>', 'drop tokens below m × the top probability', parseFloatOption(0, 1))
    .option('--repetition-penalty <r>', 'CTRL-style repetition penalty (1 = off)', parseFloatOption(0.01, 100))
    .option('--presence-penalty <x>', 'OpenAI presence penalty', parseFloatOption(-2, 2))
    .option('--frequency-penalty <x>', 'OpenAI frequency penalty', parseFloatOption(-2, 2))
    .option('--seed <s>', 'random seed (same seed, same tokens)', parseIntOption(0))
    .option('--stop <text>', 'a stop string (repeat the flag for several)', collectStop, [] as string[])
    .option('--no-think', 'start the answer with thinking turned off (enable_thinking=false)')
    .option('--raw', 'plain completion: no chat template', false)
    .option('--backend <name>', 'compute backend: auto (native if built, else ts), ts or native', parseChoice(BACKEND_CHOICES))
    .option('--mtp <n>', 'MTP drafts per step for self-speculative decoding (0 = off)', parseIntOption(0), 0)
    .option('--threads <n>', 'native backend worker threads (default: all cores)', parseIntOption(1))
    .option('--json-schema <file>', 'constrain the answer to JSON valid under this JSON schema file')
    .option('--grammar <file>', 'constrain the answer to this EBNF grammar file (xgrammar dialect, rule root)')
    .option('--regex <re>', 'constrain the answer to match this regular expression')
    .option('--reasoning-budget <n>', 'with a constraint and thinking on: reasoning tokens before </think> is forced (default: half of --max-tokens)', parseIntOption(0))
    .action(async (prompt: string, flags: RunFlags) => {
      const log = (line: string) => process.stderr.write(`${line}\n`);
      if (prompt.length === 0) throw new RequestError('prompt', 'is empty');
      const grammar = grammarFromFlags(flags);
      if (flags.model !== undefined && (flags.model === '' || !fs.existsSync(flags.model))) throw new RequestError('--model', `${JSON.stringify(flags.model)} does not exist`);
      const dir = flags.model ?? (await ensureDefaultModel(log));
      const dflt = generationDefaults(dir);
      const engine = MiMoEngine.load(dir, { backend: flags.backend, threads: flags.threads });
      if (engine.backendWarning) log(`mimo: warning: ${engine.backendWarning}`);
      const { report, loadSeconds } = engine.loaded;
      log(`mimo: loaded ${dir} (${engine.config.modelType}, ${engine.config.numHiddenLayers} layers, ${report.numMtpLayers} MTP) in ${loadSeconds.toFixed(1)} s, backend ${engine.model.backend.name}`);
      if (report.unusedTensors.length > 0) log(`mimo: warning: ${report.unusedTensors.length} tensors were not used: ${report.unusedTensors.slice(0, 5).join(', ')}${report.unusedTensors.length > 5 ? ', …' : ''}`);
      if (report.skippedTensors.length > 0) log(`mimo: skipped ${report.skippedTensors.length} tensors of other modalities (vision/audio)`);
      const stream = engine.stream(
        { prompt, raw: flags.raw, enableThinking: flags.think },
        {
          maxTokens: flags.maxTokens,
          temperature: flags.temperature ?? dflt.temperature ?? 0.8,
          topP: flags.topP ?? dflt.topP ?? 0.95,
          topK: flags.topK ?? dflt.topK ?? 0,
          minP: flags.minP ?? 0,
          repetitionPenalty: flags.repetitionPenalty ?? 1,
          presencePenalty: flags.presencePenalty ?? 0,
          frequencyPenalty: flags.frequencyPenalty ?? 0,
          seed: flags.seed,
          stop: flags.stop?.length ? flags.stop : undefined,
          mtp: flags.mtp,
          ...(grammar ? { grammar } : {}),
          ...(flags.reasoningBudget !== undefined ? { reasoningBudget: flags.reasoningBudget } : {}),
        },
      );
      for await (const chunk of stream) {
        process.stdout.write(chunk.text);
        if (chunk.stats) {
          const s = chunk.stats;
          process.stdout.write('\n');
          log(
            `\nprefill: ${s.promptTokens} tokens, ${s.prefillTokensPerSecond.toFixed(1)} tokens/s | TTFT ${(s.ttftSeconds * 1000).toFixed(0)} ms | ` +
              `decode: ${s.generatedTokens} tokens, ${s.decodeTokensPerSecond.toFixed(2)} tokens/s | peak memory ${formatBytes(s.peakRssBytes)} | finish: ${chunk.finishReason}`,
          );
          if (grammar) log(`grammar: ${s.forcedTokens ?? 0} tokens forced by the grammar, ${s.jumpForwardTokens ?? 0} appended by jump-forward`);
          if (flags.mtp > 0) {
            log(`MTP: ${s.draftsAccepted}/${s.draftsProposed} drafts accepted, acceptance length ${s.acceptanceLength.toFixed(2)} tokens per trunk forward (${s.decodeSteps} forwards)`);
          }
        }
      }
    });
}
