/**
 * A model served from this process: the engine (model, tokenizer, chat template) behind a continuous-batching
 * scheduler. Turns validated API requests into prompt ids and generation options, and generation into the API's
 * pieces (parsed reasoning / content / tool calls, log-probabilities, expert traces). Shared by the OpenAI and
 * Anthropic routes. Source: spec §5.2 (template, thinking), issue 5.
 */
import { RequestError } from '../errors.js';
import type { MiMoEngine } from '../engine/engine.js';
import { Generator } from '../engine/generate.js';
import { generationDefaults } from '../engine/generation-config.js';
import type { GenerateOptions } from '../engine/sequence.js';
import { Scheduler, type RequestHandle } from '../engine/scheduler.js';
import { MiMoOutputParser } from '../parser/mimo-output-parser.js';
import { startsInThinking } from '../parser/starts-in-thinking.js';
import type { ParserDelta, ParseResult } from '../parser/types.js';
import { AsyncEncoder } from '../tokenizer/async-encoder.js';
import type { ChatMessage, ChatTool } from '../tokenizer/tokenizer.js';
import { prepareConstraint } from '../grammar/prepare.js';
import { newPrefixCache } from '../engine/prefix-cache/for-engine.js';
import type { PrefixCache } from '../engine/prefix-cache/prefix-cache.js';
import { invalidParam } from './errors.js';
import type { RequestedGrammar } from './structured.js';

/** Settings of a served model. */
export interface LocalModelOptions {
  maxBatch: number;
  maxQueue: number;
  /** MTP drafts per step (0 = off). */
  mtp: number;
  /** Parse reasoning and tool calls (false = `--no-parse`: raw model text as content). */
  parse: boolean;
  /** Return well-formed tool calls written inside the reasoning as tool calls (default true). */
  toolCallsInThinking?: boolean;
  /** A call of a tool the request did not offer: 'text' (default) or 'call' (MiMoOutputParser's `unknownTools`). */
  unknownToolCalls?: 'text' | 'call';
  /** max_tokens when a request gives none. */
  defaultMaxTokens: number;
  /** Prompt tokens per prefill chunk (and most prompt tokens per step). */
  prefillChunk: number;
  /** The prefix cache's RAM budget and checkpoint interval, or null for none (`--no-prefix-cache`). */
  prefixCache?: { ramBytes: number; checkpointEvery: number; dir?: string; diskBytes?: number; onWarning?: (message: string) => void } | null;
}

/** A chat request after the template: what to generate from and how to read the output. */
export interface PreparedChat {
  promptIds: number[];
  /** The rendered prompt ended inside an open `<think>`. */
  startsInThinking: boolean;
  /**
   * Text appended after the generation prompt to start a tool call; '' (forced calls are written by the model
   * under the tool-call grammar, which admits nothing else).
   */
  forcedPrefix: string;
  /** tool_choice forces a call (required / named): the tool-call grammar makes the reply start with it. */
  forcedCall?: boolean;
  tools: ChatTool[] | undefined;
}

/** The OpenAI-side sampling fields both endpoints share. */
export interface SamplingFields {
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  repetition_penalty?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  mtp?: number | null;
  mimo_expert_trace?: boolean;
  /** vLLM: keep generating past the end-of-turn / end-of-text tokens (only max_tokens and stop strings end it). */
  ignore_eos?: boolean | null;
  /** Prefix-cache salt (entries are shared only within one salt). */
  cache_salt?: string | null;
  /** false: bypass the prefix cache. */
  cache?: boolean | null;
}

/** Output reader of one choice: the parser, or raw text under `--no-parse`. */
export interface OutputReader {
  push(text: string): ParserDelta;
  /** Deltas still held back at the end, then the whole result. */
  end(): { delta: ParserDelta; result: ParseResult };
}

/** Does the checkpoint's chat template, with enable_thinking left undefined, open `<think>`? false without a template. */
function templateThinkingDefault(engine: MiMoEngine): boolean {
  try {
    return engine.tokenizer ? startsInThinking(engine.tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }], { enableThinking: null })) : false;
  } catch {
    return false; // no chat template: chat requests are refused anyway
  }
}

export class LocalModel {
  readonly scheduler: Scheduler;
  /** Sampling defaults from the checkpoint's generation_config.json, for parameters a request leaves out. */
  readonly samplingDefaults: { temperature?: number; topP?: number; topK?: number };
  readonly created = Math.floor(Date.now() / 1000);
  /** Whether the chat template, left to its own default, starts the reply inside `<think>` (the playground's default). */
  readonly thinkingDefault: boolean;
  /** Tokenizes long prompts on a worker thread, so the event loop keeps serving meanwhile (null: no tokenizer). */
  readonly encoder: AsyncEncoder | null;
  /** The prefix cache shared by this model's requests (null: `--no-prefix-cache`). */
  readonly prefixCache: PrefixCache | null;

  constructor(
    readonly name: string,
    readonly engine: MiMoEngine,
    readonly options: LocalModelOptions,
  ) {
    const mtpLayers = engine.model.numMtpLayers;
    if (!Number.isSafeInteger(options.mtp) || options.mtp < 0 || options.mtp > mtpLayers) throw new RequestError('--mtp', `must be an integer in [0, ${mtpLayers}] (the checkpoint's MTP layers), got ${options.mtp}`);
    if (!Number.isSafeInteger(options.defaultMaxTokens) || options.defaultMaxTokens < 1) throw new RequestError('--default-max-tokens', `must be a positive integer, got ${options.defaultMaxTokens}`);
    if (!Number.isSafeInteger(options.prefillChunk) || options.prefillChunk < 1) throw new RequestError('--prefill-chunk', `must be a positive integer, got ${options.prefillChunk}`);
    this.samplingDefaults = generationDefaults(engine.dir);
    this.encoder = engine.tokenizer ? new AsyncEncoder(engine.tokenizer) : null;
    this.thinkingDefault = templateThinkingDefault(engine);
    this.prefixCache = options.prefixCache ? newPrefixCache(engine, options.prefixCache) : null;
    this.scheduler = new Scheduler(new Generator(engine.model, engine.tokenizer, options.prefillChunk, options.defaultMaxTokens, this.prefixCache), { maxBatch: options.maxBatch, maxQueue: options.maxQueue });
  }

  /**
   * Anthropic input usage expected before a request runs (`message_start`): the prefix the cache holds now is read,
   * the rest prefilled and added. The final usage (`message_delta`, non-streaming replies) is the measured one.
   */
  expectedInputUsage(promptIds: readonly number[], opts: GenerateOptions): { input_tokens: number; cache_creation_input_tokens: number; cache_read_input_tokens: number } {
    const P = promptIds.length;
    if (!this.prefixCache || opts.cache === false || P === 0) return { input_tokens: P, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    const read = this.prefixCache.peek(opts.cacheSalt ?? '', promptIds, P - 1);
    return { input_tokens: 0, cache_creation_input_tokens: P - read, cache_read_input_tokens: read };
  }

  /** Token ids of a text, long ones tokenized off the event loop. @throws ApiError 400 without a tokenizer */
  encode(text: string): Promise<number[]> {
    if (!this.encoder) throw invalidParam('prompt', `model '${this.name}' has no tokenizer${this.engine.noTokenizer ? ` (${this.engine.noTokenizer})` : '.json'}; send token ids`);
    return this.encoder.encode(text);
  }

  /** `/v1/models` entry, with the playground's extension fields. */
  card(): Record<string, unknown> {
    const cfg = this.engine.config;
    return {
      id: this.name,
      object: 'model',
      created: this.created,
      owned_by: 'mimo.ts',
      max_model_len: cfg.maxPositionEmbeddings,
      mimo: {
        num_experts: cfg.nRoutedExperts,
        experts_per_token: cfg.numExpertsPerTok,
        moe_layers: cfg.layers.filter((l) => l.ffn === 'moe').map((l) => l.index),
        num_layers: cfg.layers.length,
        mtp_layers: this.engine.model.numMtpLayers,
        mtp: this.options.mtp,
        thinking_default: this.thinkingDefault,
      },
    };
  }

  /**
   * Render chat messages with the checkpoint's template.
   * @param opts.continueFinalMessage (Anthropic "prefill", as transformers' `continue_final_message`) when the last
   *   message is the assistant's, the reply continues it instead of starting a new turn: the messages before it
   *   are rendered with the generation prompt, then its text is appended. Text only: thinking off
   *   (`<think></think>` + text); with reasoning: thinking on (`<think>` + reasoning, then `</think>` + text when
   *   there is text, so a reasoning-only message continues the reasoning). An empty final assistant message is
   *   dropped (a plain new turn). The appended text is not part of the output the parser reads.
   * @throws ApiError 400 naming the parameter (messages, tools, tool_choice)
   */
  async prepareChat(
    messages: ChatMessage[],
    tools: ChatTool[] | undefined,
    toolChoice: 'none' | 'auto' | 'required' | { name: string } | undefined,
    enableThinking: boolean | undefined,
    keepAllReasoning?: boolean,
    opts: { continueFinalMessage?: boolean; addGenerationPrompt?: boolean } = {},
  ): Promise<PreparedChat> {
    const tok = this.engine.tokenizer;
    if (!tok) throw invalidParam('messages', `model '${this.name}' has no tokenizer${this.engine.noTokenizer ? ` (${this.engine.noTokenizer})` : '.json'}, so chat requests cannot be rendered; use /v1/completions with token ids`);
    if (typeof toolChoice === 'object' && !tools?.some((t) => t.function.name === toolChoice.name)) {
      throw invalidParam('tool_choice', `tool_choice names function '${toolChoice.name}', which is not in tools`);
    }
    if (toolChoice === 'required' && !tools?.length) throw invalidParam('tool_choice', "tool_choice 'required' needs tools");
    const offered = toolChoice === 'none' ? undefined : tools?.length ? tools : undefined;
    // A forced call skips the reasoning: render with thinking off; the tool-call grammar then writes the call.
    const forced = toolChoice === 'required' || typeof toolChoice === 'object';
    let thinking = forced ? false : enableThinking;
    let rendered = messages;
    let continuation = '';
    const last = messages[messages.length - 1];
    if (opts.continueFinalMessage && last?.role === 'assistant') {
      if (last.tool_calls?.length) throw invalidParam('messages', 'messages: the final assistant message is continued (prefill), so it cannot hold tool calls; send the tool results in a user message after it');
      const reasoning = last.reasoning_content ?? '';
      rendered = messages.slice(0, -1);
      if (last.content !== '' || reasoning !== '') {
        if (forced) throw invalidParam('tool_choice', 'tool_choice: forcing a tool call cannot be combined with a final assistant message to continue (prefill); use tool_choice auto, or end the messages with a user message');
        thinking = reasoning !== '';
        continuation = reasoning === '' ? last.content : last.content === '' ? reasoning : `${reasoning}</think>${last.content}`;
      }
    }
    const addGenerationPrompt = rendered !== messages || opts.addGenerationPrompt !== false;
    const prompt = tok.applyChatTemplate(rendered, { tools: offered, enableThinking: thinking, keepAllReasoning, addGenerationPrompt }) + continuation;
    // Let other requests (/health) run between rendering and encoding a huge prompt: each step blocks on its own.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const promptIds = await this.encoder!.encode(prompt);
    return { promptIds, startsInThinking: startsInThinking(prompt), forcedPrefix: '', forcedCall: forced, tools: offered };
  }

  /** Generation options of a request (the RequestErrors of invalid values come from the scheduler's validation). */
  generateOptions(f: SamplingFields, maxTokens: number | null | undefined, logprobs: number | undefined): GenerateOptions {
    const d = this.samplingDefaults;
    // No max_tokens: the server's default, cut to the context left; an explicit one must fit (400 otherwise).
    const o: GenerateOptions = maxTokens != null ? { maxTokens } : {};
    if (d.temperature !== undefined) o.temperature = d.temperature;
    if (d.topP !== undefined) o.topP = d.topP;
    if (d.topK !== undefined) o.topK = d.topK;
    if (f.temperature != null) o.temperature = f.temperature;
    if (f.top_p != null) o.topP = f.top_p;
    if (f.top_k != null) o.topK = f.top_k < 0 ? 0 : f.top_k;
    if (f.min_p != null) o.minP = f.min_p;
    if (f.repetition_penalty != null) o.repetitionPenalty = f.repetition_penalty;
    if (f.presence_penalty != null) o.presencePenalty = f.presence_penalty;
    if (f.frequency_penalty != null) o.frequencyPenalty = f.frequency_penalty;
    if (f.seed != null) o.seed = f.seed;
    if (f.stop != null) o.stop = typeof f.stop === 'string' ? [f.stop] : f.stop;
    if (f.ignore_eos) o.stopTokenIds = [];
    const mtp = f.mtp ?? this.options.mtp;
    if (mtp > this.options.mtp) throw invalidParam('mtp', `mtp ${mtp} exceeds the server's --mtp ${this.options.mtp}`);
    if (mtp > 0) o.mtp = mtp;
    if (logprobs !== undefined) o.logprobs = logprobs;
    if (f.mimo_expert_trace) o.recordExperts = true;
    if (f.cache_salt != null) o.cacheSalt = f.cache_salt;
    if (f.cache === false) o.cache = false;
    return o;
  }

  /**
   * Compile a request's output constraint (grammar, logit bias, reasoning budget) into `opts.constraint`.
   * @returns the options to submit, and the grammar's compile figures for the response (`mimo.grammar`)
   * @throws ApiError 400 naming the parameter when the grammar is invalid or does not compile (the server goes on)
   */
  async constrain(
    promptIds: readonly number[],
    opts: GenerateOptions,
    grammar: RequestedGrammar | undefined,
    extra: { logit_bias?: Record<string, number> | null; reasoning_budget?: number | null } = {},
  ): Promise<{ opts: GenerateOptions; report?: { compile_ms: number; cached: boolean } }> {
    const logitBias = extra.logit_bias && Object.keys(extra.logit_bias).length ? (extra.logit_bias as Record<number, number>) : undefined;
    if (!grammar && !logitBias) return { opts };
    const gen = this.scheduler.generator;
    const prepared = await prepareConstraint(
      gen.grammar(),
      this.engine.tokenizer,
      promptIds,
      { ...(grammar ? { grammar: grammar.spec } : {}), ...(logitBias ? { logitBias } : {}), ...(extra.reasoning_budget != null ? { reasoningBudget: extra.reasoning_budget } : {}) },
      gen.defaultStopTokenIds(),
      this.engine.config.vocabSize,
      grammar ? { grammar: grammar.param } : {},
    );
    if (!prepared) return { opts };
    if (prepared.plan.grammar && opts.stopTokenIds !== undefined) throw invalidParam('ignore_eos', 'ignore_eos cannot be combined with an output constraint (the grammar ends on the stop tokens)');
    const compile = prepared.compile;
    return { opts: { ...opts, constraint: prepared.plan }, ...(compile ? { report: { compile_ms: compile.grammar.compileSeconds * 1000, cached: compile.cached } } : {}) };
  }

  /**
   * Start `n` choices (choice i seeded with seed + i when a seed is given); choices 1 … n−1 share choice 0's prefill
   * (its KV pages by reference, the same last logits row), with the tokens each would get prefilling alone.
   * @throws RequestError (→ 400) for invalid options; QueueFullError (→ 429) when the queue is full (no choice
   *   is left running then)
   */
  submit(promptIds: number[], opts: GenerateOptions, n: number): RequestHandle[] {
    const handles: RequestHandle[] = [];
    try {
      for (let i = 0; i < n; i++) handles.push(this.scheduler.submit(promptIds, opts.seed !== undefined ? { ...opts, seed: opts.seed + i } : opts, handles[0]));
    } catch (e) {
      for (const h of handles) h.cancel();
      throw e;
    }
    return handles;
  }

  /** A reader that passes the model's text through as content (completions, `--no-parse`). */
  rawReader(): OutputReader {
    let text = '';
    return {
      push: (t) => {
        text += t;
        return t ? { content: t } : {};
      },
      end: () => ({ delta: {}, result: { content: text, reasoningContent: '', toolCalls: [], finishedInThinking: false } }),
    };
  }

  /**
   * The output reader of one chat choice, and the deltas of a forced tool-call prefix. Tool calls are read only
   * when the request offered tools (and tool_choice is not 'none'), as vLLM runs its tool parser only then;
   * otherwise `<tool_call>` text is ordinary content or reasoning.
   */
  reader(prep: Pick<PreparedChat, 'startsInThinking' | 'forcedPrefix' | 'forcedCall' | 'tools'>): { reader: OutputReader; initial: ParserDelta } {
    if (!this.options.parse) return { reader: this.rawReader(), initial: {} };
    const parser = new MiMoOutputParser({
      tools: prep.tools,
      startsInThinking: prep.startsInThinking,
      toolCalls: prep.tools !== undefined || prep.forcedPrefix !== '',
      toolCallsInThinking: this.options.toolCallsInThinking ?? true,
      forcedToolCall: prep.forcedPrefix !== '' || prep.forcedCall === true,
      unknownTools: this.options.unknownToolCalls ?? 'text',
    });
    const initial = prep.forcedPrefix ? parser.push(prep.forcedPrefix) : {};
    const reader: OutputReader = {
      push: (t) => parser.push(t),
      end: () => {
        const delta = parser.flush();
        return { delta, result: parser.finish() };
      },
    };
    return { reader, initial };
  }
}
