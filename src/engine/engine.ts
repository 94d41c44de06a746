/**
 * The library's front door: a loaded checkpoint (model + tokenizer + chat template) that turns a prompt, chat
 * messages or token ids into generated text, streamed or at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RequestError } from '../errors.js';
import type { Backend } from '../kernels/backend.js';
import { loadModel, type LoadedModel } from '../model/load.js';
import type { MiMoConfig } from '../model/mimo-v2/config.js';
import type { MiMoModel } from '../model/mimo-v2/model.js';
import type { LoadReport } from '../model/mimo-v2/weights.js';
import { MiMoTokenizer, type ChatMessage } from '../tokenizer/tokenizer.js';
import { Generator, type GenerateOptions, type GenerationResult, type StreamChunk } from './generate.js';

/** What to generate from: exactly one of `prompt` (text), `messages` (chat) or `promptIds` (token ids). */
export interface PromptInput {
  /** Plain text; the chat template is applied unless `raw` is true. */
  prompt?: string;
  messages?: ChatMessage[];
  promptIds?: number[];
  /** Feed `prompt` as is, without the chat template. */
  raw?: boolean;
  /** Chat template variable `enable_thinking` (default true, as the V2.5 template). */
  enableThinking?: boolean;
}

export class MiMoEngine {
  readonly generator: Generator;

  private constructor(
    readonly loaded: LoadedModel,
    readonly tokenizer: MiMoTokenizer | null,
  ) {
    this.generator = new Generator(loaded.model, tokenizer);
  }

  /**
   * Load a checkpoint directory: config.json, safetensors weights and, when present, tokenizer.json.
   * @throws ConfigError / CheckpointError naming the file and key or tensor
   */
  static load(dir: string, opts: { backend?: Backend } = {}): MiMoEngine {
    const loaded = loadModel(dir, opts);
    const tokenizer = fs.existsSync(path.join(dir, 'tokenizer.json')) ? MiMoTokenizer.load(dir) : null;
    return new MiMoEngine(loaded, tokenizer);
  }

  get model(): MiMoModel {
    return this.loaded.model;
  }
  get config(): MiMoConfig {
    return this.loaded.config;
  }
  get report(): LoadReport {
    return this.loaded.report;
  }

  /**
   * Token ids of a prompt input.
   * @throws RequestError when the input gives none or several of prompt/messages/promptIds, or text needs a
   *   tokenizer the checkpoint lacks
   */
  encode(input: PromptInput): number[] {
    const given = [input.prompt, input.messages, input.promptIds].filter((x) => x !== undefined).length;
    if (given !== 1) throw new RequestError('prompt', 'give exactly one of prompt, messages or promptIds');
    if (input.promptIds) return input.promptIds;
    const tok = this.tokenizer;
    if (!tok) throw new RequestError('prompt', `the model directory ${this.loaded.model.config.source} has no tokenizer.json; pass token ids instead`);
    if (input.messages) return tok.encode(tok.applyChatTemplate(input.messages, { enableThinking: input.enableThinking ?? true }));
    if (input.raw) return tok.encode(input.prompt!);
    return tok.encode(tok.applyChatTemplate([{ role: 'user', content: input.prompt! }], { enableThinking: input.enableThinking ?? true }));
  }

  /** Stream generated text chunk by chunk (see Generator.stream). */
  stream(input: PromptInput, opts: GenerateOptions = {}): AsyncGenerator<StreamChunk> {
    return this.generator.stream(this.encode(input), opts);
  }

  /** Generate to completion (see Generator.generate). */
  generate(input: PromptInput, opts: GenerateOptions = {}): Promise<GenerationResult> {
    return this.generator.generate(this.encode(input), opts);
  }
}
