/**
 * MiMo reasoning and tool-call parsing of chat completions that an upstream engine returned as raw model text
 * (an SGLang / vLLM / llama-server launched without `--reasoning-parser` / `--tool-call-parser`, or a
 * `mimo serve --no-parse`). A choice is left untouched when the upstream already split it (its message or delta
 * carries `reasoning_content`, `reasoning` or `tool_calls`); otherwise its `content` runs through
 * {@link MiMoOutputParser}, giving `reasoning_content` / `content` / `tool_calls` exactly as a local model does.
 *
 * Where the reasoning starts (the rule, the same streaming and not, decided by {@link decideStart}):
 * 1. content that starts (after whitespace) with `<think>`: the model opened the reasoning itself;
 * 2. the request turned thinking off (`chat_template_kwargs.enable_thinking: false`, `thinking: {type: 'disabled'}`):
 *    plain content (tool calls are still parsed);
 * 3. content with a `</think>` and no `<think>` before it: it started inside reasoning (MiMo's template ends the
 *    prompt with an open `<think>` when thinking is on);
 * 4. otherwise plain content.
 * Non-streaming, a choice is parsed only when its content has `<think>`, `</think>` or `<tool_call>` markup.
 * Streaming, the content is held back until the rule can tell: until 7 characters show whether it opens with
 * `<think>`, then until `</think>` arrives, the stream ends, or — when the request did not turn thinking on
 * explicitly — {@link DECIDE_WINDOW_CHARS} characters passed without `</think>` (→ plain content, streamed from
 * then on). So a stream equals the non-streaming result except when a request that did not say
 * `enable_thinking: true` gets reasoning longer than the window from a non-parsing upstream (it stays content).
 * Source: issue 6; spec §5.2 (template, thinking marker).
 */
import { MiMoOutputParser } from '../parser/mimo-output-parser.js';
import type { ParserDelta, ToolCall } from '../parser/types.js';
import type { ChatTool } from '../tokenizer/tokenizer.js';
import { mergeDeltas } from './choice.js';

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';
const MARKUP = ['<think>', '</think>', '<tool_call>'];

/** Characters of content a stream holds back, waiting for `</think>`, when the request gave no thinking switch. */
export const DECIDE_WINDOW_CHARS = 64;

/** What the request tells about parsing its output: its tools, and its thinking switch if it set one. */
export interface RawChatHints {
  tools?: ChatTool[];
  /** true / false when the request turned thinking on / off explicitly; undefined when it did not say. */
  thinking?: boolean;
}

/** Hints from a chat-completions request body (not validated here: the upstream validates it). */
export function hintsOf(body: Record<string, unknown>): RawChatHints {
  const out: RawChatHints = {};
  if (Array.isArray(body.tools)) {
    out.tools = body.tools.filter((t): t is ChatTool => typeof (t as ChatTool)?.function?.name === 'string');
  }
  const kwargs = body.chat_template_kwargs as { enable_thinking?: unknown } | null | undefined;
  const thinking = body.thinking as { type?: unknown } | null | undefined;
  if (typeof kwargs?.enable_thinking === 'boolean') out.thinking = kwargs.enable_thinking;
  else if (thinking?.type === 'enabled' || thinking?.type === 'disabled') out.thinking = thinking.type === 'enabled';
  return out;
}

/** How to read a choice's raw text: not yet known, or parse it starting in reasoning or in content. */
export type RawStart = 'wait' | 'thinking' | 'content';

/**
 * Apply the module's rule to the content of one choice so far.
 * @param text the content from its first character (possibly only a prefix of it)
 * @param ended true when no more text comes
 */
export function decideStart(text: string, ended: boolean, thinking: boolean | undefined): RawStart {
  const t = text.trimStart();
  if (t.startsWith(THINK_OPEN)) return 'content'; // the parser opens the reasoning at a leading <think>
  if (!ended && THINK_OPEN.startsWith(t)) return 'wait';
  if (thinking === false) return 'content';
  const close = text.indexOf(THINK_CLOSE);
  if (close >= 0) return text.lastIndexOf(THINK_OPEN, close) < 0 ? 'thinking' : 'content';
  if (ended) return 'content';
  return thinking === true || text.length < DECIDE_WINDOW_CHARS ? 'wait' : 'content';
}

type Json = Record<string, unknown>;

/** Fields of a chunk that carry nothing once its choices are gone. */
const CHUNK_FIELDS = new Set(['id', 'object', 'created', 'model', 'system_fingerprint', 'service_tier', 'choices']);

/** True when the upstream already split this message or delta into reasoning / tool calls. */
function alreadyParsed(m: Json): boolean {
  return Boolean(m.reasoning_content) || Boolean(m.reasoning) || (Array.isArray(m.tool_calls) && m.tool_calls.length > 0);
}

/**
 * Parse the raw-text choices of a non-streaming chat completion in place (see the module comment).
 * @returns the same object
 */
export function parseRawChatCompletion(completion: Json, hints: RawChatHints): Json {
  if (!Array.isArray(completion.choices)) return completion;
  for (const choice of completion.choices as Json[]) {
    const message = choice?.message as Json | undefined;
    if (!message || alreadyParsed(message) || typeof message.content !== 'string') continue;
    const text = message.content;
    if (!MARKUP.some((m) => text.includes(m))) continue;
    const parser = new MiMoOutputParser({ tools: hints.tools, startsInThinking: decideStart(text, true, hints.thinking) === 'thinking' });
    parser.push(text);
    const r = parser.finish();
    message.content = r.content;
    message.reasoning_content = r.reasoningContent || null;
    if (r.toolCalls.length) message.tool_calls = r.toolCalls;
    choice.finish_reason = finishReason(choice.finish_reason, r.toolCalls);
  }
  return completion;
}

function finishReason(upstream: unknown, toolCalls: readonly ToolCall[]): unknown {
  return upstream === 'stop' && toolCalls.length > 0 ? 'tool_calls' : upstream;
}

/** OpenAI delta fields of a parser delta (only non-empty ones). */
function openAiDelta(d: ParserDelta): Json {
  const out: Json = {};
  if (d.reasoningContent) out.reasoning_content = d.reasoningContent;
  if (d.content) out.content = d.content;
  if (d.toolCallDeltas?.length) out.tool_calls = d.toolCallDeltas;
  return out;
}

/** Per-choice state of a stream: deciding (text held), parsing, or passing through (upstream parsed). */
interface StreamChoice {
  mode: 'wait' | 'parse' | 'pass';
  held: string;
  parser?: MiMoOutputParser;
  finished: boolean;
}

/**
 * Parser of one streamed chat completion: feed each upstream chunk (parsed JSON) to {@link chunk}, send what it
 * returns, and at the end of the stream send what {@link end} returns (text still held if the upstream never sent a
 * finish_reason). Chunks are rewritten in place: `delta.content` becomes `reasoning_content` / `content` /
 * `tool_calls` deltas, and a `stop` finish becomes `tool_calls` when calls were parsed.
 */
export class RawChatStream {
  private readonly choices = new Map<number, StreamChoice>();
  private last: Json | null = null;

  constructor(private readonly hints: RawChatHints) {}

  /** The chunks to send for one upstream chunk (none while text is held and nothing else is in it). */
  chunk(chunk: Json): Json[] {
    if (!Array.isArray(chunk.choices)) return [chunk];
    this.last = chunk;
    const kept: Json[] = [];
    for (const choice of chunk.choices as Json[]) {
      const index = typeof choice?.index === 'number' ? choice.index : 0;
      let st = this.choices.get(index);
      if (!st) this.choices.set(index, (st = { mode: 'wait', held: '', finished: false }));
      const delta = { ...((choice.delta as Json | undefined) ?? {}) };
      if (st.mode === 'wait' && alreadyParsed(delta)) {
        // The upstream parses: release what was held as it came, and step aside.
        st.mode = 'pass';
        if (st.held) delta.content = st.held + (typeof delta.content === 'string' ? delta.content : '');
        st.held = '';
      }
      const ended = choice.finish_reason != null;
      if (st.mode !== 'pass') {
        const text = typeof delta.content === 'string' ? delta.content : '';
        delete delta.content;
        Object.assign(delta, openAiDelta(this.push(st, text, ended)));
        if (ended) choice.finish_reason = finishReason(choice.finish_reason, st.parser!.finish().toolCalls);
      }
      if (ended) st.finished = true;
      choice.delta = delta;
      // A choice is dropped only when holding text back emptied it.
      if (st.mode === 'pass' || Object.keys(delta).length > 0 || ended || choice.logprobs != null) kept.push(choice);
    }
    const extras = Object.keys(chunk).some((k) => !CHUNK_FIELDS.has(k) && chunk[k] != null); // usage, mimo.token, …
    if (kept.length === 0 && chunk.choices.length > 0 && !extras) return [];
    chunk.choices = kept;
    return [chunk];
  }

  /** Chunks with the text still held by choices the upstream never finished (none normally). */
  end(): Json[] {
    const out: Json[] = [];
    for (const [index, st] of this.choices) {
      if (st.finished || st.mode === 'pass') continue;
      st.finished = true;
      const delta = openAiDelta(this.push(st, '', true));
      if (Object.keys(delta).length === 0) continue;
      const base = this.last ?? {};
      out.push({ id: base.id, object: base.object ?? 'chat.completion.chunk', created: base.created, model: base.model, choices: [{ index, delta, logprobs: null, finish_reason: null }] });
    }
    return out;
  }

  /** Feed text to a choice; decides its start once the rule can, then parses. */
  private push(st: StreamChoice, text: string, ended: boolean): ParserDelta {
    if (st.mode === 'wait') {
      st.held += text;
      const start = decideStart(st.held, ended, this.hints.thinking);
      if (start === 'wait') return {};
      st.mode = 'parse';
      st.parser = new MiMoOutputParser({ tools: this.hints.tools, startsInThinking: start === 'thinking' });
      text = st.held;
      st.held = '';
    }
    const d = st.parser!.push(text);
    if (!ended) return d;
    return mergeDeltas(d, st.parser!.flush());
  }
}
