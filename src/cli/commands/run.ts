/**
 * `mimo run [--model DIR] [...] "prompt" | -`: chat template applied (or `--raw`), text streamed as generated —
 * thinking shown apart from the answer (labelled, dim on a terminal) —, then prefill tokens/s, decode tokens/s, TTFT
 * and peak memory. The prompt is read from stdin when it is `-`, or when none is given and stdin is not a terminal.
 */
import * as fs from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { generationDefaults } from '../../engine/generation-config.js';
import { MiMoEngine } from '../../engine/engine.js';
import { BACKEND_CHOICES, type BackendChoice } from '../../kernels/select.js';
import { RequestError } from '../../errors.js';
import { ensureDefaultModel } from '../default-model.js';
import { grammarFromFlags, type GrammarFlags } from '../grammar-flags.js';
import { PRECISIONS, type Precision } from '../../model/precision.js';
import { parseChoice, parseFloatOption, parseIntOption } from '../options.js';
import { formatBytes } from '../../model/mimo-v2/inspect-report.js';
import { MiMoOutputParser, startsInThinking } from '../../parser/mimo-output-parser.js';
import { plural } from '../../util/plural.js';

/** Labels around the reasoning, as chat CLIs print it (ollama's words); dim when stdout is a terminal. */
const THINKING_START = 'Thinking...\n';
const THINKING_END = '\n...done thinking.\n\n';

/** The whole of stdin as UTF-8 text, without the one line end a shell's `echo` or a file's last line adds. */
async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * Writes the model's text with its reasoning set apart: `Thinking...`, the reasoning, `...done thinking.`, then the
 * answer (ANSI dim for the reasoning when `dim`).
 */
class ThinkingPrinter {
  private inThinking = false;
  constructor(
    private readonly write: (s: string) => void,
    private readonly dim: boolean,
  ) {}
  reasoning(text: string): void {
    if (!text) return;
    if (!this.inThinking) this.write(THINKING_START + (this.dim ? '\x1b[2m' : ''));
    this.inThinking = true;
    this.write(text);
  }
  answer(text: string): void {
    if (!text) return;
    this.close();
    this.write(text);
  }
  close(): void {
    if (this.inThinking) this.write((this.dim ? '\x1b[0m' : '') + THINKING_END);
    this.inThinking = false;
  }
}

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
  precision: Precision;
}

function collectStop(value: string, previous: string[]): string[] {
  if (value === '') throw new InvalidArgumentError('a stop string must not be empty');
  return [...previous, value];
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('generate text from a prompt (chat template applied unless --raw)')
    .argument('[prompt]', "the prompt text; '-' (or none, with stdin piped) reads it from stdin")
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
    .option('--precision <mode>', "exact (float32 activations) or fast (8-bit activations for a GGUF's Q8_0/Q4_0/Q5_0/IQ4_NL/MXFP4 weights; not for safetensors checkpoints)", parseChoice(PRECISIONS), 'exact')
    .option('--json-schema <file>', 'constrain the answer to JSON valid under this JSON schema file')
    .option('--grammar <file>', 'constrain the answer to this EBNF grammar file (xgrammar dialect, rule root)')
    .option('--regex <re>', 'constrain the answer to match this regular expression')
    .option('--reasoning-budget <n>', 'with a constraint and thinking on: reasoning tokens before </think> is forced (default: half of --max-tokens)', parseIntOption(0))
    .action(async (promptArg: string | undefined, flags: RunFlags) => {
      const log = (line: string) => process.stderr.write(`${line}\n`);
      if (promptArg === undefined && process.stdin.isTTY) throw new RequestError('prompt', "missing: give the prompt text, or '-' to read it from stdin");
      const fromStdin = promptArg === '-' || promptArg === undefined;
      const prompt = fromStdin ? await readStdin() : promptArg;
      if (prompt.trim().length === 0) throw new RequestError('prompt', fromStdin ? 'is empty (nothing was read from stdin)' : 'is empty');
      const grammar = grammarFromFlags(flags);
      if (flags.model !== undefined && (flags.model === '' || !fs.existsSync(flags.model))) throw new RequestError('--model', `${JSON.stringify(flags.model)} does not exist`);
      const dir = flags.model ?? (await ensureDefaultModel(log));
      const dflt = generationDefaults(dir);
      const engine = MiMoEngine.load(dir, { backend: flags.backend, threads: flags.threads, precision: flags.precision, onWarning: (w) => log(`mimo: warning: ${w}`) });
      const { report, loadSeconds } = engine.loaded;
      log(`mimo: loaded ${dir} (${engine.config.modelType}, ${engine.config.numHiddenLayers} layers, ${report.numMtpLayers} MTP) in ${loadSeconds.toFixed(1)} s, backend ${engine.model.backend.name}`);
      if (report.unusedTensors.length > 0) log(`mimo: warning: ${plural(report.unusedTensors.length, 'tensor')} ${report.unusedTensors.length === 1 ? 'was' : 'were'} not used: ${report.unusedTensors.slice(0, 5).join(', ')}${report.unusedTensors.length > 5 ? ', …' : ''}`);
      if (report.skippedTensors.length > 0) log(`mimo: skipped ${plural(report.skippedTensors.length, 'tensor')} of other modalities (vision/audio)`);
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
      // Reasoning apart from the answer, read from the rendered prompt as the server does (not with --raw).
      const parser = flags.raw || !engine.tokenizer ? null : new MiMoOutputParser({ startsInThinking: startsInThinking(engine.tokenizer.applyChatTemplate([{ role: 'user', content: prompt }], { enableThinking: flags.think })), toolCalls: false });
      const out = new ThinkingPrinter((t) => process.stdout.write(t), process.stdout.isTTY === true);
      const show = (d: { content?: string; reasoningContent?: string }) => {
        out.reasoning(d.reasoningContent ?? '');
        out.answer(d.content ?? '');
      };
      for await (const chunk of stream) {
        if (parser) show(parser.push(chunk.text));
        else process.stdout.write(chunk.text);
        if (chunk.stats) {
          const s = chunk.stats;
          if (parser) show(parser.flush());
          out.close();
          process.stdout.write('\n');
          log(
            `\nprefill: ${plural(s.promptTokens, 'token')}, ${s.prefillTokensPerSecond.toFixed(1)} tokens/s | TTFT ${(s.ttftSeconds * 1000).toFixed(0)} ms | ` +
              `decode: ${plural(s.generatedTokens, 'token')}, ${s.decodeTokensPerSecond.toFixed(2)} tokens/s | peak memory ${formatBytes(s.peakRssBytes)} | finish: ${chunk.finishReason}`,
          );
          if (grammar) log(`grammar: ${s.forcedTokens ?? 0} tokens forced by the grammar, ${s.jumpForwardTokens ?? 0} appended by jump-forward`);
          if (flags.mtp > 0) {
            log(`MTP: ${s.draftsAccepted}/${s.draftsProposed} drafts accepted, acceptance length ${s.acceptanceLength.toFixed(2)} tokens per trunk forward (${plural(s.decodeSteps, 'forward')})`);
          }
        }
      }
    });
}
