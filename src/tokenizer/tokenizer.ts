/**
 * MiMo-V2 tokenizer: the checkpoint's `tokenizer.json` (Qwen2/Qwen3-family byte-level BPE, spec §5.1) run by
 * @huggingface/tokenizers, plus its chat template rendered by @huggingface/jinja (spec §5.2). Follows
 * transformers' `PreTrainedTokenizerFast` for encode/decode and `apply_chat_template` for rendering.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { CheckpointError, ConfigError, RequestError } from '../errors.js';

/** Role of a chat message; the template renders exactly these four. */
export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

/** One tool call of an assistant message, OpenAI-shaped; `arguments` is a JSON object or its JSON text. */
export interface ChatToolCall {
  type?: 'function';
  id?: string;
  function: { name: string; arguments: string | Record<string, unknown> };
}

/** One chat message, OpenAI-shaped, with MiMo's `reasoning_content` for the assistant's reasoning. */
export interface ChatMessage {
  role: ChatRole;
  content: string;
  reasoning_content?: string;
  tool_calls?: ChatToolCall[];
}

/** A tool offered to the model, OpenAI-shaped (`{type: 'function', function: {name, description, parameters}}`). */
export interface ChatTool {
  type?: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** Options of {@link MiMoTokenizer.applyChatTemplate}; each maps to the template variable named in brackets. */
export interface ChatTemplateOptions {
  /** Append `<|im_start|>assistant\n` and the thinking marker [add_generation_prompt]; default true. */
  addGenerationPrompt?: boolean;
  /**
   * Open `<think>` (true) or an empty `<think></think>` (false) after the generation prompt [enable_thinking]; default
   * true; null leaves the variable undefined, so the template's own default applies.
   */
  enableThinking?: boolean | null;
  /** Keep reasoning of assistant turns before the last user turn [keep_all_reasoning]; template default true. */
  keepAllReasoning?: boolean;
  /** Tools rendered into the system turn [tools]; omitted or empty renders no tools block. */
  tools?: readonly ChatTool[];
}

/** Options of {@link MiMoTokenizer.encode}. */
export interface EncodeOptions {
  /** Run the post-processor's special-token insertion; Qwen's byte-level post-processor adds none (no BOS). Default false. */
  addSpecialTokens?: boolean;
}

/** Options of {@link MiMoTokenizer.decode}. */
export interface DecodeOptions {
  /** Drop special tokens (`<|im_end|>` etc.; not `<think>`, which is a plain added token). Default false. */
  skipSpecialTokens?: boolean;
}

const ROLES: readonly string[] = ['system', 'user', 'assistant', 'tool'];
/** Stop tokens by name (spec §5.3): turn end, then end of text. */
const STOP_TOKENS = ['<|im_end|>', '<|endoftext|>'] as const;

type JsonObject = Record<string, unknown>;

/**
 * Tokenizer of one checkpoint directory. Created by {@link MiMoTokenizer.load}; immutable afterwards.
 * Token ids are plain numbers in `[0, vocabSize)`; no BOS is ever prepended (spec §5.1).
 */
export class MiMoTokenizer {
  /** Number of tokens including added tokens (transformers' `len(tokenizer)`; 151669 for the Qwen3 file). */
  readonly vocabSize: number;
  /** The chat template source, or undefined when the checkpoint ships none. */
  readonly chatTemplate: string | undefined;
  private readonly template: Template | undefined;
  private readonly stopIds: readonly number[];
  private readonly cleanUpSpaces: boolean;

  private constructor(
    /** Checkpoint directory the files were read from. */
    readonly dir: string,
    private readonly tokenizer: Tokenizer,
    private readonly config: JsonObject,
    chatTemplate: { source: string; file: string; key: string | undefined } | undefined,
    /** Ids of the added tokens marked `special` in tokenizer.json (`<|im_end|>` …; not `<think>`, `<tool_call>`). */
    private readonly specialIds: ReadonlySet<number> = new Set(),
  ) {
    this.vocabSize = tokenizer.get_vocab(true).size;
    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true;
    this.chatTemplate = chatTemplate?.source;
    if (chatTemplate) {
      try {
        this.template = new Template(chatTemplate.source);
      } catch (e) {
        throw new ConfigError(chatTemplate.file, chatTemplate.key, `chat template does not parse: ${errorText(e)}`);
      }
    }
    const ids = new Set<number>();
    const eos = tokenContent(config.eos_token);
    for (const name of eos === undefined ? STOP_TOKENS : [...STOP_TOKENS, eos]) {
      const id = tokenizer.token_to_id(name);
      if (id !== undefined) ids.add(id);
    }
    if (ids.size === 0) {
      throw new CheckpointError(path.join(dir, 'tokenizer.json'), `has none of the stop tokens ${STOP_TOKENS.join(', ')}; not a Qwen-family tokenizer`);
    }
    this.stopIds = [...ids];
  }

  /**
   * Reads `tokenizer.json` and `tokenizer_config.json` from a checkpoint directory, and the chat template from
   * `chat_template.jinja` when present, else from the `chat_template` key of `tokenizer_config.json` (a string, or
   * transformers' list of `{name, template}` from which `default` is taken). Synchronous: the files are read once.
   * @throws CheckpointError when `tokenizer.json` or `tokenizer_config.json` is missing, or `tokenizer.json` is
   *   malformed or describes a tokenizer the library cannot build.
   * @throws ConfigError when `tokenizer_config.json` is not a JSON object, or the chat template is of the wrong type
   *   or does not parse.
   */
  static load(dir: string): MiMoTokenizer {
    const tokenizerFile = path.join(dir, 'tokenizer.json');
    const configFile = path.join(dir, 'tokenizer_config.json');
    const tokenizerJson = readJson(tokenizerFile, (detail) => new CheckpointError(tokenizerFile, detail));
    if (!isObject(tokenizerJson.model) || !Array.isArray(tokenizerJson.added_tokens)) {
      throw new CheckpointError(tokenizerFile, 'lacks "model" or "added_tokens"; expected a Hugging Face tokenizers file');
    }
    const config = readJson(configFile, (detail) => new ConfigError(configFile, undefined, detail));
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, config);
    } catch (e) {
      throw new CheckpointError(tokenizerFile, `cannot build the tokenizer: ${errorText(e)}`);
    }
    const specialIds = new Set<number>();
    for (const t of tokenizerJson.added_tokens as unknown[]) if (isObject(t) && t.special === true && typeof t.id === 'number') specialIds.add(t.id);
    return new MiMoTokenizer(dir, tokenizer, config, findChatTemplate(dir, configFile, config), specialIds);
  }

  /**
   * A tokenizer from objects already in memory (a GGUF's `tokenizer.ggml.*` turned into the tokenizer.json layout
   * by tokenizer/gguf-tokenizer.ts): `tokenizerJson` as tokenizer.json, `config` as tokenizer_config.json.
   * @param source the file the objects came from (for errors)
   * @throws CheckpointError when the library cannot build the tokenizer; ConfigError when the template does not parse
   */
  static fromObjects(source: string, tokenizerJson: JsonObject, config: JsonObject, chatTemplate: string | undefined): MiMoTokenizer {
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, config);
    } catch (e) {
      throw new CheckpointError(source, `cannot build the tokenizer from tokenizer.ggml.*: ${errorText(e)}`);
    }
    const specialIds = new Set<number>();
    for (const t of tokenizerJson.added_tokens as unknown[]) if (isObject(t) && t.special === true && typeof t.id === 'number') specialIds.add(t.id);
    return new MiMoTokenizer(source, tokenizer, config, chatTemplate === undefined ? undefined : { source: chatTemplate, file: source, key: 'tokenizer.chat_template' }, specialIds);
  }

  /**
   * Token ids of `text`. Special tokens written in the text (`<|im_start|>`, `<think>`) map to their single ids;
   * digits split one per token; the text is NFC-normalised first, as the tokenizer's normalizer says.
   * @returns ids `[T]`, no BOS prepended.
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
  }

  /**
   * Text of `ids`. Ids without a token (e.g. embedding rows past the tokenizer length) are skipped, as the Rust
   * tokenizers library does; bytes that do not form valid UTF-8 decode to U+FFFD.
   * @param ids token ids `[T]`; an empty list decodes to ''.
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const known = ids.filter((id) => this.tokenizer.id_to_token(id) !== undefined);
    if (known.length === 0) return '';
    return this.tokenizer.decode(known, {
      skip_special_tokens: opts.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: this.cleanUpSpaces,
    });
  }

  /** Id of a token given by its exact string (`'<|im_end|>'` → 151645), or undefined when the vocabulary lacks it. */
  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /**
   * The vocabulary as stored: token strings by id `[vocabSize]` (byte-level BPE alphabet, added tokens verbatim),
   * and which ids are special added tokens. Ids without a token are ''. For xgrammar's TokenizerInfo.
   */
  rawVocabulary(): { tokens: string[]; special: boolean[] } {
    const tokens = new Array<string>(this.vocabSize).fill('');
    for (const [token, id] of this.tokenizer.get_vocab(true)) if (id < tokens.length) tokens[id] = token;
    return { tokens, special: tokens.map((_, id) => this.specialIds.has(id)) };
  }

  /**
   * Ids that end generation: `<|im_end|>` (151645) and `<|endoftext|>` (151643), looked up by name (spec §5.3),
   * plus the config's `eos_token` if it is another token. Present ones only, in that order.
   */
  stopTokenIds(): number[] {
    return [...this.stopIds];
  }

  /**
   * Renders a conversation to the prompt text (spec §5.2): system turn (default system prompt, tools block), turns
   * joined without newlines, assistant reasoning in `<think>…</think>`, tool calls as XML, grouped tool results,
   * then the generation prompt. Tool-call `arguments` given as JSON text are parsed to an object first, as vLLM does.
   * Encode the result with {@link encode}; it contains its own special tokens.
   * @throws RequestError('messages' | 'tools') when a message or tool is malformed or the template fails to render.
   * @throws ConfigError when the checkpoint has no chat template.
   */
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    if (!this.template) {
      throw new ConfigError(path.join(this.dir, 'tokenizer_config.json'), 'chat_template',
        'the checkpoint has no chat template (no chat_template.jinja, no chat_template key); pass a raw prompt instead');
    }
    const context: JsonObject = {
      messages: normaliseMessages(messages),
      add_generation_prompt: opts.addGenerationPrompt ?? true,
    };
    if (opts.enableThinking !== null) context.enable_thinking = opts.enableThinking ?? true;
    if (opts.keepAllReasoning !== undefined) context.keep_all_reasoning = opts.keepAllReasoning;
    if (opts.tools !== undefined) context.tools = normaliseTools(opts.tools);
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
      const content = tokenContent(this.config[key]);
      if (content !== undefined) context[key] = content;
    }
    try {
      return this.template.render(context);
    } catch (e) {
      throw new RequestError('messages', `chat template failed to render: ${errorText(e)}`);
    }
  }
}

/** Chat template source, with the file (and key) it came from for error messages. */
function findChatTemplate(dir: string, configFile: string, config: JsonObject): { source: string; file: string; key: string | undefined } | undefined {
  const jinjaFile = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinjaFile)) return { source: fs.readFileSync(jinjaFile, 'utf8'), file: jinjaFile, key: undefined };
  const value = config.chat_template;
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return { source: value, file: configFile, key: 'chat_template' };
  if (Array.isArray(value)) {
    const named = value.find((t): t is { name: string; template: string } =>
      isObject(t) && t.name === 'default' && typeof t.template === 'string');
    if (named) return { source: named.template, file: configFile, key: 'chat_template' };
    throw new ConfigError(configFile, 'chat_template', 'is a list of templates without one named "default"');
  }
  throw new ConfigError(configFile, 'chat_template', `expected a string or a list of {name, template}, got ${typeof value}`);
}

/** Checks messages and turns them into plain template input (tool-call arguments parsed to objects). */
function normaliseMessages(messages: readonly ChatMessage[]): JsonObject[] {
  if (!Array.isArray(messages)) throw new RequestError('messages', 'must be an array of messages');
  return messages.map((message: unknown, i) => {
    const where = `messages[${i}]`;
    if (!isObject(message)) throw new RequestError('messages', `${where} must be an object`);
    if (typeof message.role !== 'string' || !ROLES.includes(message.role)) {
      throw new RequestError('messages', `${where}.role must be one of ${ROLES.join(', ')}; got ${JSON.stringify(message.role)}`);
    }
    const content = message.content ?? '';
    if (typeof content !== 'string') throw new RequestError('messages', `${where}.content must be a string`);
    // Keep fields this template ignores (tool_call_id, name): a checkpoint's own template may read them.
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(message)) if (value !== undefined && value !== null) out[key] = value;
    out.content = content;
    if (out.reasoning_content !== undefined && typeof out.reasoning_content !== 'string') {
      throw new RequestError('messages', `${where}.reasoning_content must be a string`);
    }
    if (message.tool_calls !== undefined && message.tool_calls !== null) {
      if (!Array.isArray(message.tool_calls)) throw new RequestError('messages', `${where}.tool_calls must be an array`);
      out.tool_calls = message.tool_calls.map((call: unknown, j) => normaliseToolCall(call, `${where}.tool_calls[${j}]`));
    }
    return out;
  });
}

function normaliseToolCall(call: unknown, where: string): JsonObject {
  const fn = isObject(call) ? call.function : undefined;
  if (!isObject(fn) || typeof fn.name !== 'string' || fn.name.length === 0) {
    throw new RequestError('messages', `${where}.function.name must be a non-empty string`);
  }
  let args: unknown = fn.arguments ?? {};
  if (typeof args === 'string') {
    try {
      args = args.trim() === '' ? {} : JSON.parse(args);
    } catch (e) {
      throw new RequestError('messages', `${where}.function.arguments is not valid JSON: ${errorText(e)}`);
    }
  }
  if (!isObject(args)) throw new RequestError('messages', `${where}.function.arguments must be a JSON object`);
  const out: JsonObject = { type: 'function', function: { name: fn.name, arguments: args } };
  if (isObject(call) && typeof call.id === 'string') out.id = call.id;
  return out;
}

function normaliseTools(tools: readonly ChatTool[]): unknown[] {
  if (!Array.isArray(tools)) throw new RequestError('tools', 'must be an array of tools');
  tools.forEach((tool: unknown, i) => {
    const fn = isObject(tool) && isObject(tool.function) ? tool.function : tool;
    if (!isObject(fn) || typeof fn.name !== 'string' || fn.name.length === 0) {
      throw new RequestError('tools', `tools[${i}].function.name must be a non-empty string`);
    }
  });
  return [...tools];
}

/** Parses a JSON object file; `fail(detail)` builds the error for a missing, unreadable or malformed file. */
function readJson(file: string, fail: (detail: string) => Error): JsonObject {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CheckpointError(file, 'missing; MiMo-V2 checkpoints ship tokenizer.json and tokenizer_config.json (copy them from the model repository)');
    }
    throw fail(`cannot read: ${errorText(e)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw fail(`not valid JSON: ${errorText(e)}`);
  }
  if (!isObject(value)) throw fail('expected a JSON object at the top level');
  return value;
}

/** A special-token field of tokenizer_config.json: a string, or transformers' AddedToken dict `{content}`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
