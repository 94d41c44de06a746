/**
 * MiMo-V2 output parser: splits generated text into reasoning, content and tool calls, streaming or not. Reasoning
 * follows vLLM's/SGLang's Qwen3 reasoning parsers (MiMo's `--reasoning-parser qwen3|mimo`), tool calls SGLang's
 * `mimo` / vLLM's `qwen3_xml` tool parsers (spec §5.2).
 */
import { randomBytes } from 'node:crypto';
import { checkOptions, type MiMoOutputParserOptions } from './parser-options.js';
import { ToolParameterTypes } from './tool-arguments.js';
import { TOOL_CALL_OPEN, ToolCallXmlReader, type ToolCallEvent, type ToolCallRules } from './tool-call-xml.js';
import type { ParseResult, ParserDelta, ToolCall, ToolCallDelta } from './types.js';

export { startsInThinking } from './starts-in-thinking.js';
export type { MiMoOutputParserOptions } from './parser-options.js';

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';
/** Tags that end a stretch of text, by section. */
const CONTENT_TAGS = [TOOL_CALL_OPEN];
const REASONING_TAGS = [THINK_CLOSE, TOOL_CALL_OPEN];

/** Characters no tool name holds (vLLM's `_is_valid_function_name`): template text and free text are not calls. */
const NOT_IN_NAMES = /[\s{}<>"']/;

type Section = 'reasoning' | 'content';

/** The call being read: its reader, its raw text, and what has been streamed of it. */
interface OpenCall {
  reader: ToolCallXmlReader;
  /** Index of its `<tool_call>` in `text`, or 0 once that part of the text went to `rawParts`. */
  start: number;
  /** Its text consumed so far and dropped from `text` (from `<tool_call>` on); read again if it is malformed. */
  rawParts: string[];
  /** Content whitespace held before the call: dropped if the call completes, restored if it is malformed. */
  heldWhitespace: string;
  index?: number;
  id?: string;
  name?: string;
  /** The arguments text streamed so far: one piece per parameter, in the order written. */
  arguments: string;
  /** JSON text of each parameter's value by name, in first-written order; a repeated name keeps its last value. */
  parameters: Map<string, string>;
  /** A parameter name was written more than once. */
  repeated: boolean;
}

/**
 * Parser of one generation's text. Feed it with {@link push} as text arrives (any split: bytes of a tag may come in
 * different pushes); streaming, send each returned delta and then {@link flush}'s; then call {@link finish} for the
 * whole result. Semantics:
 * - Reasoning: with `startsInThinking`, everything up to `</think>` is reasoning; otherwise a `<think>` at the very
 *   start (after whitespace only) opens it. A redundant `<think>` at the start of already-open reasoning is
 *   dropped. Reasoning is kept verbatim; whitespace right after `</think>` is dropped.
 * - Tool calls (grammar: {@link ToolCallXmlReader}; value typing: `typedValueJson` in tool-arguments.ts) are read
 *   in the content, and inside the reasoning when `toolCallsInThinking`. Whitespace before a call, between calls and
 *   after the last call is not content; text after a call is content (with the whitespace before it).
 * - A call is read once `<function=NAME>` is followed by `<parameter=` or `</function>` (NAME a plausible
 *   identifier and, with tools offered, one of theirs unless `unknownTools: 'call'`); before that, a malformed block
 *   is text of its section (`<tool_call>` and all), read again for tags after it (`forcedToolCall`: the first call
 *   is read at its name, for a call the caller started in the prompt). After that the call is always
 *   returned: if the text ends inside it (cut off by `max_tokens`), with the parameters whose values ended; a value
 *   cut off is left out (see tool-call-xml.ts for where a value ends, tag text inside values included).
 * - With `toolCalls: false` no calls are read: `<tool_call>` blocks are text of their section (reasoning or
 *   content), like any other text.
 * - A parameter name written twice in one call (`<parameter=city>A</parameter><parameter=city>B</parameter>`):
 *   the result's `arguments` hold the name once, at its first position, with the last value (`{"city":"B"}`), as
 *   `JSON.parse` reads duplicate keys.
 * - Streaming: text that could still be the start of a tag (`<too`, a trailing `</thi`) or content whitespace that
 *   may precede a call is held back until decided. A call's first delta (`{index, id, type, function: {name,
 *   arguments: ''}}`) comes once the call is read (above); then one arguments piece per parameter whose end is
 *   decided (`{"city":"Paris"`, `,"days":3`: a `</parameter>` is decided by what follows it) and the closing `}`
 *   (or `{}`) at `</function>` or the end of the text.
 * - The result of {@link finish} is identical however the text was split, and the concatenated deltas (of every
 *   push and the {@link flush}) equal it, except for a call that repeats a parameter name, because deltas cannot be
 *   taken back: the streamed arguments hold every occurrence in order (`{"city":"A","city":"B"}`), the result only
 *   the last; `JSON.parse` gives the same object for both.
 */
export class MiMoOutputParser {
  private readonly parameterTypes: ToolParameterTypes;
  private readonly rules: ToolCallRules;
  /** The next `<tool_call>` read is the forced one (`forcedToolCall`, before any call was read). */
  private forcedPending: boolean;
  private readonly toolCalls: boolean;
  private readonly toolCallsInThinking: boolean;
  private readonly toolCallId: (index: number) => string;

  /** Text not yet dropped: `pos` indexes the next character to read; an open call's text starts at its `start`. */
  private text = '';
  private pos = 0;
  private section: Section;
  /** Nothing but whitespace read yet, so a `<think>` here opens reasoning. */
  private atStart = true;
  /** Content right after `</think>`: leading whitespace is dropped. */
  private dropLeadingWhitespace = false;
  /** Trailing whitespace of the content so far, not yet emitted (it is dropped before a tool call). */
  private heldWhitespace = '';
  /** No content text since the last complete call: whitespace held at the end is dropped. */
  private afterCall = false;
  private call: OpenCall | undefined;
  private nextIndex = 0;

  private content = '';
  private reasoning = '';
  private readonly calls: ToolCall[] = [];
  private delta: ParserDelta = {};
  private ended = false;
  private result: ParseResult | undefined;

  /**
   * @param options see {@link MiMoOutputParserOptions}
   * @throws RequestError naming the option when `options` is not an object, holds an unknown key, or an option
   *   has the wrong type (`startsInThinking` is required)
   */
  constructor(options: MiMoOutputParserOptions) {
    checkOptions(options);
    const types = (this.parameterTypes = new ToolParameterTypes(options.tools ?? undefined));
    const anyTool = types.toolCount === 0 || options.unknownTools === 'call';
    this.rules = {
      acceptFunction: (name) => !NOT_IN_NAMES.test(name) && (anyTool || types.hasTool(name)),
      parameterNames: (name) => types.parameterNames(name),
    };
    this.section = options.startsInThinking ? 'reasoning' : 'content';
    this.toolCalls = options.toolCalls ?? true;
    this.toolCallsInThinking = options.toolCallsInThinking ?? true;
    this.toolCallId = options.toolCallId ?? (() => `call_${randomBytes(12).toString('hex')}`);
    this.forcedPending = options.forcedToolCall ?? false;
  }

  /**
   * Adds the next piece of generated text and returns what can now be decided (fields present only when non-empty).
   * @throws Error after {@link flush} or {@link finish} (a programming error).
   */
  push(textDelta: string): ParserDelta {
    if (this.ended) throw new Error('MiMoOutputParser.push called after flush() or finish()');
    this.text += textDelta;
    this.advance(false);
    this.dropConsumedText();
    return this.takeDelta();
  }

  /**
   * Ends the text and returns the last delta: held-back text that never became a tag, and unfinished calls as
   * text. A stream sends it as its last chunk, so that all deltas together equal {@link finish}'s result. Later
   * calls return {}.
   */
  flush(): ParserDelta {
    if (this.ended) return {};
    this.ended = true;
    this.advance(true);
    if (this.section === 'content' && !this.afterCall && this.heldWhitespace !== '') {
      this.content += this.heldWhitespace;
      this.delta.content = (this.delta.content ?? '') + this.heldWhitespace;
    }
    this.heldWhitespace = '';
    return this.takeDelta();
  }

  /**
   * Ends the text (as {@link flush}, if not done yet) and returns the whole result, identical however the text was
   * split into pushes. Calling it again returns the same object.
   */
  finish(): ParseResult {
    this.flush();
    this.result ??= {
      content: this.content,
      reasoningContent: this.reasoning,
      toolCalls: this.calls,
      finishedInThinking: this.section === 'reasoning',
    };
    return this.result;
  }

  /** Consumes the text from `pos` as far as it can be decided; with `eof`, all of it. */
  private advance(eof: boolean): void {
    for (;;) {
      if (this.call !== undefined) {
        if (!this.readCall(eof)) return;
      } else if (this.atStart) {
        if (!this.readStart(eof)) return;
      } else if (!this.readText(eof)) {
        return;
      }
    }
  }

  /** At the start of the output: whitespace then `<think>`? Returns false while undecided. */
  private readStart(eof: boolean): boolean {
    let at = this.pos;
    while (at < this.text.length && /\s/.test(this.text[at])) at++;
    const rest = this.text.slice(at, at + THINK_OPEN.length);
    if (rest === THINK_OPEN) {
      this.section = 'reasoning';
      this.pos = at + THINK_OPEN.length;
    } else if (!eof && THINK_OPEN.startsWith(rest)) {
      return false;
    }
    this.atStart = false;
    return true;
  }

  /** Emits section text up to the next tag, then acts on the tag. Returns false when it must wait for more text. */
  private readText(eof: boolean): boolean {
    const tags = this.section === 'content' ? (this.toolCalls ? CONTENT_TAGS : []) : this.toolCalls && this.toolCallsInThinking ? REASONING_TAGS : [THINK_CLOSE];
    let found = -1;
    let tag = '';
    for (const t of tags) {
      const i = this.text.indexOf(t, this.pos);
      if (i >= 0 && (found < 0 || i < found)) [found, tag] = [i, t];
    }
    if (found < 0) {
      const end = eof ? this.text.length : this.safeEnd(tags);
      this.emitText(this.text.slice(this.pos, end));
      this.pos = end;
      return false;
    }
    this.emitText(this.text.slice(this.pos, found));
    this.pos = found + tag.length;
    if (tag === THINK_CLOSE) {
      this.section = 'content';
      this.dropLeadingWhitespace = true;
    } else {
      const heldWhitespace = this.section === 'content' ? this.heldWhitespace : '';
      this.heldWhitespace = '';
      const reader = new ToolCallXmlReader(this.pos, this.rules, this.forcedPending);
      this.forcedPending = false;
      this.call = { reader, start: found, rawParts: [], heldWhitespace, arguments: '', parameters: new Map(), repeated: false };
    }
    return true;
  }

  /**
   * Drops the text before the first character still needed (the held-back tail, or the open call's unread text),
   * moving an open call's consumed text to its `rawParts`, so that each push costs O(its length + held text).
   */
  private dropConsumedText(): void {
    const call = this.call;
    const cut = call === undefined ? this.pos : call.reader.pos;
    if (cut === 0) return;
    if (call !== undefined) {
      // Once the call's first delta is out it cannot turn into text again, so its raw text is no longer kept.
      if (call.index === undefined) call.rawParts.push(this.text.slice(call.start, cut));
      call.start = 0;
      call.reader.shift(cut);
    }
    this.text = this.text.slice(cut);
    this.pos = Math.max(0, this.pos - cut);
  }

  /** End of the text that cannot be the start of one of `tags`: the rest is a proper prefix of a tag. */
  private safeEnd(tags: readonly string[]): number {
    if (tags.length === 0) return this.text.length;
    const longest = Math.max(...tags.map((t) => t.length));
    for (let i = Math.max(this.pos, this.text.length - longest + 1); i < this.text.length; i++) {
      const rest = this.text.slice(i);
      if (tags.some((t) => t.startsWith(rest))) return i;
    }
    return this.text.length;
  }

  /** Advances the open call. Returns false when it must wait for more text. */
  private readCall(eof: boolean): boolean {
    const call = this.call as OpenCall;
    const { events, status, replay } = call.reader.scan(this.text, eof);
    for (const event of events) this.onCallEvent(call, event);
    if (replay !== undefined) {
      this.text = replay.text + this.text.slice(replay.from);
      return true;
    }
    if (status === 'open') return false;
    this.call = undefined;
    if (status === 'complete') {
      const name = call.name as string;
      this.calls.push({ id: call.id as string, type: 'function', function: { name, arguments: call.repeated ? objectJson(call.parameters) : call.arguments } });
      this.pos = call.reader.pos;
      if (this.section === 'content') this.afterCall = true;
    } else {
      // Not a call: its opening tag is text, and the text after the tag is read again.
      this.text = call.rawParts.join('') + this.text.slice(call.start);
      this.heldWhitespace = call.heldWhitespace;
      this.emitText(TOOL_CALL_OPEN);
      this.pos = TOOL_CALL_OPEN.length;
    }
    return true;
  }

  private onCallEvent(call: OpenCall, event: ToolCallEvent): void {
    if (event.kind === 'function') {
      call.index = this.nextIndex++;
      call.id = this.toolCallId(call.index);
      call.name = event.name;
      const name = event.name;
      this.addToolCallDelta({ index: call.index, id: call.id, type: 'function', function: { name, arguments: '' } });
      return;
    }
    let piece: string;
    const first = call.arguments === '';
    if (event.kind === 'parameter') {
      const valueJson = this.parameterTypes.valueJson(call.name as string, event.name, event.value);
      piece = `${first ? '{' : ','}${JSON.stringify(event.name)}:${valueJson}`;
      if (call.parameters.has(event.name)) call.repeated = true;
      call.parameters.set(event.name, valueJson);
    } else {
      piece = first ? '{}' : '}';
    }
    call.arguments += piece;
    this.addToolCallDelta({ index: call.index as number, function: { arguments: piece } });
  }

  private emitText(text: string): void {
    if (this.section === 'reasoning') {
      this.reasoning += text;
      if (text !== '') this.delta.reasoningContent = (this.delta.reasoningContent ?? '') + text;
    } else {
      this.emitContent(text);
    }
  }

  /** Content text, minus leading whitespace after `</think>`; trailing whitespace is held back. */
  private emitContent(text: string): void {
    if (this.dropLeadingWhitespace) {
      text = text.replace(/^\s+/, '');
      if (text === '') return;
      this.dropLeadingWhitespace = false;
    }
    let bodyEnd = text.length;
    while (bodyEnd > 0 && /\s/.test(text[bodyEnd - 1])) bodyEnd--;
    const body = text.slice(0, bodyEnd);
    if (body === '') {
      this.heldWhitespace += text;
      return;
    }
    const out = this.heldWhitespace + body;
    this.heldWhitespace = text.slice(body.length);
    this.afterCall = false;
    this.content += out;
    this.delta.content = (this.delta.content ?? '') + out;
  }

  /** Adds a tool-call delta, merged into the previous one of this push when it is for the same call. */
  private addToolCallDelta(delta: ToolCallDelta): void {
    const list = (this.delta.toolCallDeltas ??= []);
    const last = list[list.length - 1];
    if (last !== undefined && last.index === delta.index) {
      last.function.arguments = (last.function.arguments ?? '') + (delta.function.arguments ?? '');
    } else {
      list.push(delta);
    }
  }

  private takeDelta(): ParserDelta {
    const delta = this.delta;
    this.delta = {};
    return delta;
  }
}

/** JSON text of an object from its keys and their values' JSON text, in the map's order. */
function objectJson(parameters: ReadonlyMap<string, string>): string {
  return `{${[...parameters].map(([name, valueJson]) => `${JSON.stringify(name)}:${valueJson}`).join(',')}}`;
}
