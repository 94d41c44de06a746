/**
 * Incremental reader of one XML tool call (spec §5.2, Qwen3-Coder style), from just after its `<tool_call>` up to
 * and including `</tool_call>`:
 * ```
 * <tool_call>\n<function=NAME>\n<parameter=ARG>VALUE</parameter>\n … </function>\n</tool_call>
 * ```
 * Whitespace between the tags is free. NAME and ARG are trimmed, non-empty, at most 256 characters, with no `<`,
 * `>` or newline. VALUE is everything up to the first `</parameter>`; as vLLM's `qwen3_xml`/`qwen3_coder` parsers
 * do, exactly one leading and one trailing newline are stripped, then XML entities are decoded
 * ({@link decodeXmlEntities}). Stricter than vLLM: a parameter must be closed by `</parameter>` and the call by
 * `</function>` then `</tool_call>`; anything else makes the call malformed (the caller then keeps its text).
 */
import { decodeXmlEntities } from './xml-entities.js';

/** The tag that opens a call; the reader starts right after it. */
export const TOOL_CALL_OPEN = '<tool_call>';
const TOOL_CALL_CLOSE = '</tool_call>';
const FUNCTION_OPEN = '<function=';
const FUNCTION_CLOSE = '</function>';
const PARAMETER_OPEN = '<parameter=';
const PARAMETER_CLOSE = '</parameter>';
/** Longest function or parameter name read; a longer one makes the call malformed (names are identifiers). */
const MAX_NAME_LENGTH = 256;

/** What the reader found, in text order. `value` of a parameter is already stripped and entity-decoded. */
export type ToolCallEvent =
  | { kind: 'function'; name: string }
  | { kind: 'parameter'; name: string; value: string }
  | { kind: 'functionEnd' };

/** `open`: needs more text; `complete`: `</tool_call>` read; `malformed`: the text is not a tool call. */
export type ToolCallStatus = 'open' | 'complete' | 'malformed';

type Phase = 'beforeFunction' | 'functionName' | 'parameters' | 'parameterName' | 'value' | 'afterFunction';

/** How `text` at `at` compares with `literals`: index of the one it starts with, 'partial', or 'no'. */
function matchLiteral(text: string, at: number, literals: readonly string[], eof: boolean): number | 'partial' | 'no' {
  const rest = text.slice(at, at + Math.max(...literals.map((l) => l.length)));
  for (let i = 0; i < literals.length; i++) if (rest.startsWith(literals[i])) return i;
  if (!eof && literals.some((l) => rest.length < l.length && l.startsWith(rest))) return 'partial';
  return 'no';
}

/**
 * End of the part of `text` from `from` that cannot be the start of `literal`: the rest, if any, is a proper
 * prefix of it (a tag possibly cut between pushes) and must wait for more text.
 */
function safeEnd(text: string, from: number, literal: string): number {
  for (let i = Math.max(from, text.length - literal.length + 1); i < text.length; i++) {
    if (literal.startsWith(text.slice(i))) return i;
  }
  return text.length;
}

function skipWhitespace(text: string, at: number): number {
  while (at < text.length && /\s/.test(text[at])) at++;
  return at;
}

/**
 * Reads one call from a growing text. Every decision depends only on text already seen and never changes when
 * more arrives, so the events and the outcome are the same however the text is split between `scan` calls.
 * Text before `pos` is never read again, so the caller may drop it (see {@link shift}); a long value costs
 * O(its length) in all.
 */
export class ToolCallXmlReader {
  /** Index in the text of the first character not yet consumed. */
  pos: number;
  private phase: Phase = 'beforeFunction';
  private parameterName = '';
  /** While in 'value': the value text already consumed (it cannot hold the start of `</parameter>`). */
  private valueParts: string[] = [];

  /** @param start index in the text right after `<tool_call>` */
  constructor(start: number) {
    this.pos = start;
  }

  /** The caller dropped the first `count` characters (≤ `pos`) of its text: move positions along. */
  shift(count: number): void {
    this.pos -= count;
  }

  /**
   * Consumes as much of `text` as can be decided. Between calls the text may only grow at the end, or lose
   * consumed text at the front (announced with {@link shift}).
   * @param eof true when no more text will come: anything still open is then malformed.
   * @returns the events found by this call, and the status after it. After 'complete' or 'malformed', do not call
   *   again; on 'complete', `pos` is just after `</tool_call>`.
   */
  scan(text: string, eof: boolean): { events: ToolCallEvent[]; status: ToolCallStatus } {
    const events: ToolCallEvent[] = [];
    for (;;) {
      const step = this.step(text, eof, events);
      if (step !== 'progress') return { events, status: step };
    }
  }

  private step(text: string, eof: boolean, events: ToolCallEvent[]): ToolCallStatus | 'progress' {
    switch (this.phase) {
      case 'beforeFunction':
      case 'afterFunction': {
        const at = (this.pos = skipWhitespace(text, this.pos));
        const literal = this.phase === 'beforeFunction' ? FUNCTION_OPEN : TOOL_CALL_CLOSE;
        const match = matchLiteral(text, at, [literal], eof);
        if (match === 'no') return 'malformed';
        if (match === 'partial' || at === text.length) return eof ? 'malformed' : 'open';
        this.pos = at + literal.length;
        if (this.phase === 'afterFunction') return 'complete';
        this.phase = 'functionName';
        return 'progress';
      }
      case 'functionName':
      case 'parameterName': {
        const name = this.readName(text, eof);
        if (name === 'open' || name === 'malformed') return name;
        if (this.phase === 'functionName') {
          events.push({ kind: 'function', name });
          this.phase = 'parameters';
        } else {
          this.parameterName = name;
          this.phase = 'value';
        }
        return 'progress';
      }
      case 'parameters': {
        const at = (this.pos = skipWhitespace(text, this.pos));
        const match = matchLiteral(text, at, [PARAMETER_OPEN, FUNCTION_CLOSE], eof);
        if (match === 'no') return 'malformed';
        if (match === 'partial' || at === text.length) return eof ? 'malformed' : 'open';
        if (match === 0) {
          this.pos = at + PARAMETER_OPEN.length;
          this.phase = 'parameterName';
        } else {
          this.pos = at + FUNCTION_CLOSE.length;
          events.push({ kind: 'functionEnd' });
          this.phase = 'afterFunction';
        }
        return 'progress';
      }
      case 'value': {
        const end = text.indexOf(PARAMETER_CLOSE, this.pos);
        if (end < 0) {
          if (eof) return 'malformed';
          const safe = safeEnd(text, this.pos, PARAMETER_CLOSE);
          this.valueParts.push(text.slice(this.pos, safe));
          this.pos = safe;
          return 'open';
        }
        const raw = this.valueParts.join('') + text.slice(this.pos, end);
        this.valueParts = [];
        events.push({ kind: 'parameter', name: this.parameterName, value: parameterValue(raw) });
        this.pos = end + PARAMETER_CLOSE.length;
        this.phase = 'parameters';
        return 'progress';
      }
    }
  }

  /** Reads a name up to `>` from `pos`; on success moves `pos` past the `>` and returns the trimmed name. */
  private readName(text: string, eof: boolean): string | 'open' | 'malformed' {
    const limit = Math.min(text.length, this.pos + MAX_NAME_LENGTH + 1);
    for (let i = this.pos; i < limit; i++) {
      const ch = text[i];
      if (ch === '<' || ch === '\n') return 'malformed';
      if (ch === '>') {
        const name = text.slice(this.pos, i).trim();
        if (name === '') return 'malformed';
        this.pos = i + 1;
        return name;
      }
    }
    return eof || limit - this.pos > MAX_NAME_LENGTH ? 'malformed' : 'open';
  }
}

/**
 * A parameter value as written between `<parameter=…>` and `</parameter>` → its text: one leading and one
 * trailing `\n` stripped (before decoding, so `&#10;` keeps an intended newline), then XML entities decoded.
 */
export function parameterValue(raw: string): string {
  let value = raw.startsWith('\n') ? raw.slice(1) : raw;
  if (value.endsWith('\n')) value = value.slice(0, -1);
  return decodeXmlEntities(value);
}
