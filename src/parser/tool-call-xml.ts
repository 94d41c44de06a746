/**
 * Incremental reader of one XML tool call (spec §5.2, Qwen3-Coder style), from just after its `<tool_call>` up to
 * and including `</tool_call>`:
 * ```
 * <tool_call>\n<function=NAME>\n<parameter=ARG>VALUE</parameter>\n … </function>\n</tool_call>
 * ```
 * Whitespace between the tags is free. NAME and ARG are trimmed, non-empty, at most 256 characters, with no `<`,
 * `>` or newline; NAME must also be accepted by {@link ToolCallRules.acceptFunction}. A VALUE has one leading and
 * one trailing newline stripped, then XML entities decoded ({@link parameterValue}), as vLLM's `qwen3_xml` /
 * `qwen3_coder` parsers do.
 *
 * Where a value ends follows vLLM's `qwen3_coder` parser (its `_find_true_param_end`), so that a value may hold tag
 * text (a file that itself contains `</parameter>`, `<parameter=path>` or a whole `<tool_call>…</tool_call>`):
 * - a `</parameter>` ends the value only when, after whitespace, `<parameter=NAME>` with NAME a parameter of the
 *   tool (any name when the tool's schema lists none), `</function>` or `</tool_call>` follows, or the text ends;
 * - `<parameter=…>` and `<function=…>` opened inside the value are counted, and the `</parameter>` /
 *   `</function>` that close them are value text;
 * - a value never closed (`<parameter=city>Dallas\n<parameter=state>TX</parameter>…`) ends at the first
 *   `<parameter=NAME>` inside it that names a parameter of the tool not yet written in this call, else at the
 *   `</function>` (not opened inside the value) that `</tool_call>` or the end of the text follows; both peers do so.
 *   A `</parameter>` right before that `</function>` is then the value's own close (the value held a
 *   `<parameter=…>` it never closed, e.g. code that writes the tag), not value text.
 *
 * The call is *committed* once `<function=NAME>` is followed by `<parameter=ARG>` or `</function>`: before that,
 * anything unexpected makes the call malformed (the caller keeps its text); after it, the call always completes.
 * When the text ends inside a committed call (output cut off, e.g. by `max_tokens`), the call completes with the
 * parameters whose values were ended; a value cut before its end is left out (it may be partial: `12` of `1234`).
 * A missing `</tool_call>` after `</function>` also completes the call; the text after it is the caller's again.
 */
import { matchAt, nameAt, skipWhitespace } from './tag-text.js';
import { decodeXmlEntities } from './xml-entities.js';

/** The tag that opens a call; the reader starts right after it. */
export const TOOL_CALL_OPEN = '<tool_call>';
const TOOL_CALL_CLOSE = '</tool_call>';
const FUNCTION_OPEN = '<function=';
const FUNCTION_CLOSE = '</function>';
const PARAMETER_OPEN = '<parameter=';
const PARAMETER_CLOSE = '</parameter>';

/** What the reader needs to know about the offered tools. */
export interface ToolCallRules {
  /** Whether `<function=NAME>` (NAME trimmed) starts a call; false: the block is text. */
  acceptFunction(name: string): boolean;
  /** The parameter names of function NAME, or undefined when any name counts as one of its parameters. */
  parameterNames(name: string): ReadonlySet<string> | undefined;
}

/** What the reader found, in text order. `value` of a parameter is already stripped and entity-decoded. */
export type ToolCallEvent =
  | { kind: 'function'; name: string }
  | { kind: 'parameter'; name: string; value: string }
  | { kind: 'functionEnd' };

/** `open`: needs more text; `complete`: the call ended; `malformed`: the text is not a tool call. */
export type ToolCallStatus = 'open' | 'complete' | 'malformed';

/**
 * Text the reader consumed and must read again: the caller replaces its text by `text` + its text from `from` on,
 * and scans again. Comes when an unclosed value ends at a boundary seen earlier inside it.
 */
export interface ToolCallReplay {
  text: string;
  from: number;
}

type Phase = 'beforeFunction' | 'functionName' | 'afterName' | 'parameterName' | 'value' | 'parameters' | 'afterFunction';

/** What one tag inside a value means for the scan of that value. */
type ValueStep =
  | { kind: 'skip'; next: number }
  | { kind: 'wait' }
  | { kind: 'end'; at: number }
  | { kind: 'functionEnd'; at: number };

/**
 * Reads one call from a growing text. Every decision depends only on text already seen and never changes when
 * more arrives (or, for the text's end, on `eof`), so the events and the outcome are the same however the text is
 * split between `scan` calls. Text before `pos` is not read again unless the reader hands it back (see
 * {@link ToolCallReplay}), so the caller may drop it (see {@link shift}); a long value costs O(its length) in all.
 */
export class ToolCallXmlReader {
  /** Index in the text of the first character still needed. */
  pos: number;
  private phase: Phase = 'beforeFunction';
  private functionName = '';
  private knownParameters: ReadonlySet<string> | undefined;
  /** Parameter names written so far in this call, the one being read included. */
  private readonly seen = new Set<string>();
  private parameterName = '';
  /** While in 'value': its text before `pos`. */
  private valueParts: string[] = [];
  /** While in 'value': where the scan goes on, and the literal `<parameter=` / `<function=` opens counted in it. */
  private cursor = 0;
  private parameterDepth = 0;
  private functionDepth = 0;
  /** A `<parameter=NAME>` seen in the value could end it if it is never closed; `held` is the text from there to `pos`. */
  private hasBoundary = false;
  private held: string[] = [];
  private replay: ToolCallReplay | undefined;
  /** After an unclosed value was ended at a boundary: where the function's body ends ('function') or the text does. */
  private limit = -1;
  private limitKind: 'function' | 'eof' = 'function';

  /**
   * @param start index in the text right after `<tool_call>`
   * @param commitAtName commit as soon as the function name is read, whatever follows (a call the caller forced by
   *   writing its start into the prompt); text where a parameter should be then ends the call, as text after it
   */
  constructor(start: number, private readonly rules: ToolCallRules, private readonly commitAtName = false) {
    this.pos = start;
  }

  /** The caller dropped the first `count` characters (≤ `pos`) of its text: move positions along. */
  shift(count: number): void {
    this.pos -= count;
    this.cursor -= count;
    if (this.limit >= 0) this.limit -= count;
  }

  /**
   * Consumes as much of `text` as can be decided. Between calls the text may only grow at the end, or lose
   * text before `pos` at the front (announced with {@link shift}).
   * @param eof true when no more text will come: an uncommitted call is then malformed, a committed one completes.
   * @returns the events found by this call, and the status after it. After 'complete' or 'malformed', do not call
   *   again; on 'complete', `pos` is where the caller's text goes on (after `</tool_call>` when there was one). With
   *   `replay` (status 'open'), the caller puts that text back (see {@link ToolCallReplay}) and scans again.
   */
  scan(text: string, eof: boolean): { events: ToolCallEvent[]; status: ToolCallStatus; replay?: ToolCallReplay } {
    const events: ToolCallEvent[] = [];
    for (;;) {
      const step = this.step(text, eof, events);
      const replay = this.replay;
      this.replay = undefined;
      if (replay !== undefined) return { events, status: 'open', replay };
      if (step !== 'progress') return { events, status: step };
    }
  }

  private step(text: string, eof: boolean, events: ToolCallEvent[]): ToolCallStatus | 'progress' {
    switch (this.phase) {
      case 'beforeFunction': {
        const at = (this.pos = skipWhitespace(text, this.pos));
        const match = matchAt(text, at, FUNCTION_OPEN, eof);
        if (match === 'no' || (at === text.length && eof)) return 'malformed';
        if (match === 'partial' || at === text.length) return 'open';
        this.pos = at + FUNCTION_OPEN.length;
        this.phase = 'functionName';
        return 'progress';
      }
      case 'functionName': {
        const name = nameAt(text, this.pos, eof);
        if (name === 'open' || name === 'malformed') return name;
        if (!this.rules.acceptFunction(name.name)) return 'malformed';
        this.functionName = name.name;
        this.knownParameters = this.rules.parameterNames(name.name);
        this.pos = name.end;
        if (this.commitAtName) {
          events.push({ kind: 'function', name: name.name });
          this.phase = 'parameters';
        } else {
          this.phase = 'afterName';
        }
        return 'progress';
      }
      case 'afterName':
        return this.readAfterName(text, eof, events);
      case 'parameterName': {
        const name = nameAt(text, this.pos, eof);
        if (name === 'open' && !eof) return 'open';
        if (name === 'open' || name === 'malformed') return this.end(events); // unreachable: names are checked first
        this.parameterName = name.name;
        this.seen.add(name.name);
        this.pos = this.cursor = name.end;
        this.valueParts = [];
        this.held = [];
        this.parameterDepth = this.functionDepth = 0;
        this.hasBoundary = false;
        this.phase = 'value';
        return 'progress';
      }
      case 'value':
        return this.scanValue(text, eof, events);
      case 'parameters': {
        const at = (this.pos = skipWhitespace(text, this.pos));
        if (at === text.length) return eof ? this.end(events) : 'open';
        for (const [literal, next] of [[PARAMETER_OPEN, 'parameterName'], [FUNCTION_CLOSE, 'afterFunction'], [TOOL_CALL_CLOSE, 'done']] as const) {
          const match = matchAt(text, at, literal, eof);
          if (match === 'partial') return 'open';
          if (match === 'no') continue;
          if (next === 'parameterName') {
            // Only after a forced name can a `<parameter=` here lack a valid name; it then ends the call, as text.
            const name = nameAt(text, at + literal.length, eof);
            if (name === 'open') return 'open';
            if (name === 'malformed') return this.end(events);
          }
          this.pos = at + literal.length;
          if (next === 'parameterName') {
            this.phase = next;
            return 'progress';
          }
          events.push({ kind: 'functionEnd' });
          this.limit = -1;
          this.phase = 'afterFunction';
          return next === 'done' ? 'complete' : 'progress';
        }
        return this.end(events); // a value ends only before one of the three; so does a forced name, or not
      }
      case 'afterFunction': {
        // `pos` stays before the whitespace: without `</tool_call>`, it belongs to the text that follows.
        const at = skipWhitespace(text, this.pos);
        if (at === text.length && !eof) return 'open';
        const match = matchAt(text, at, TOOL_CALL_CLOSE, eof);
        if (match === 'partial') return 'open';
        // Without `</tool_call>` the call is still complete; what follows is the caller's text.
        if (match === 'yes') this.pos = at + TOOL_CALL_CLOSE.length;
        return 'complete';
      }
    }
  }

  /** After `<function=NAME>`: commit on `<parameter=ARG>` or `</function>`; anything else is malformed. */
  private readAfterName(text: string, eof: boolean, events: ToolCallEvent[]): ToolCallStatus | 'progress' {
    const at = (this.pos = skipWhitespace(text, this.pos));
    if (at === text.length) return eof ? 'malformed' : 'open';
    const close = matchAt(text, at, FUNCTION_CLOSE, eof);
    const open = matchAt(text, at, PARAMETER_OPEN, eof);
    if (close === 'yes') {
      events.push({ kind: 'function', name: this.functionName }, { kind: 'functionEnd' });
      this.pos = at + FUNCTION_CLOSE.length;
      this.phase = 'afterFunction';
      return 'progress';
    }
    if (open === 'yes') {
      const name = nameAt(text, at + PARAMETER_OPEN.length, eof);
      if (name === 'open') return 'open';
      if (name === 'malformed') return 'malformed';
      events.push({ kind: 'function', name: this.functionName });
      this.pos = at + PARAMETER_OPEN.length;
      this.phase = 'parameterName';
      return 'progress';
    }
    return close === 'partial' || open === 'partial' ? 'open' : 'malformed';
  }

  /** The committed call ends here without its closing tags (text cut off, or a tag where none may be). */
  private end(events: ToolCallEvent[]): 'complete' {
    events.push({ kind: 'functionEnd' });
    this.phase = 'afterFunction';
    return 'complete';
  }

  /** Scans the value from `cursor` for its end (see the module comment). */
  private scanValue(text: string, eof: boolean, events: ToolCallEvent[]): ToolCallStatus | 'progress' {
    const stop = this.limit >= 0 ? this.limit : text.length;
    for (;;) {
      const lt = text.indexOf('<', this.cursor);
      if (lt < 0 || lt >= stop) {
        this.cursor = stop;
        break;
      }
      const step = this.valueStep(text, lt, eof);
      if (step.kind === 'wait') {
        this.cursor = lt;
        this.consumeValue(text);
        return 'open';
      }
      if (step.kind === 'skip') {
        this.cursor = step.next;
        continue;
      }
      if (step.kind === 'functionEnd') return this.endUnclosedValue(text, step.at, 'function', events);
      this.addParameter(this.valueText(text, step.at), events);
      this.pos = step.at + PARAMETER_CLOSE.length;
      this.phase = 'parameters';
      return 'progress';
    }
    if (this.limit >= 0) return this.endUnclosedValue(text, this.limit, this.limitKind, events);
    if (eof) return this.endUnclosedValue(text, text.length, 'eof', events);
    this.consumeValue(text);
    return 'open';
  }

  /** What the tag at `lt` (a `<` inside the value) means. */
  private valueStep(text: string, lt: number, eof: boolean): ValueStep {
    const tags = [PARAMETER_CLOSE, PARAMETER_OPEN, FUNCTION_OPEN, FUNCTION_CLOSE] as const;
    const matches = tags.map((tag) => matchAt(text, lt, tag, eof));
    const found = matches.indexOf('yes');
    if (found < 0) return matches.includes('partial') ? { kind: 'wait' } : { kind: 'skip', next: lt + 1 };
    const tag = tags[found];
    const after = lt + tag.length;
    if (tag === PARAMETER_OPEN || tag === FUNCTION_OPEN) {
      const name = nameAt(text, after, eof);
      if (name === 'open') return { kind: 'wait' };
      if (name === 'malformed') return { kind: 'skip', next: lt + 1 };
      if (tag === FUNCTION_OPEN) {
        this.functionDepth++;
      } else {
        if (this.parameterDepth === 0 && !this.hasBoundary && this.isParameter(name.name) && !this.seen.has(name.name)) {
          this.consumeValue(text, lt);
          this.hasBoundary = true;
        }
        this.parameterDepth++;
      }
      return { kind: 'skip', next: name.end };
    }
    if (tag === PARAMETER_CLOSE) {
      if (this.parameterDepth > 0) {
        this.parameterDepth--;
        return { kind: 'skip', next: after };
      }
      const follows = this.structuralAfter(text, after, eof, true);
      return follows === 'wait' ? { kind: 'wait' } : follows ? { kind: 'end', at: lt } : { kind: 'skip', next: after };
    }
    if (this.functionDepth > 0) {
      this.functionDepth--;
      return { kind: 'skip', next: after };
    }
    const follows = this.structuralAfter(text, after, eof, false);
    return follows === 'wait' ? { kind: 'wait' } : follows ? { kind: 'functionEnd', at: lt } : { kind: 'skip', next: after };
  }

  /**
   * Whether the text after a closing tag at `at` (after whitespace) is structural: the end of the text, or
   * `</tool_call>`, and after `</parameter>` also `</function>` or `<parameter=NAME>` of a parameter of the tool.
   */
  private structuralAfter(text: string, at: number, eof: boolean, afterParameter: boolean): boolean | 'wait' {
    const j = skipWhitespace(text, at);
    if (j === text.length) return eof ? true : 'wait';
    let partial = false;
    const candidates = afterParameter ? [TOOL_CALL_CLOSE, FUNCTION_CLOSE, PARAMETER_OPEN] : [TOOL_CALL_CLOSE];
    for (const literal of candidates) {
      const match = matchAt(text, j, literal, eof);
      if (match === 'partial') partial = true;
      if (match !== 'yes') continue;
      if (literal !== PARAMETER_OPEN) return true;
      const name = nameAt(text, j + literal.length, eof);
      if (name === 'open') return 'wait';
      return name !== 'malformed' && this.isParameter(name.name);
    }
    return partial ? 'wait' : false;
  }

  private isParameter(name: string): boolean {
    return this.knownParameters === undefined || this.knownParameters.has(name);
  }

  /**
   * An unclosed value ends: at its first possible boundary when there is one (the text from there is read again as
   * the next parameter, up to the same end), else at `at` (`</function>`), or, at the end of the text, not at all:
   * the cut value is left out and the call ends.
   */
  private endUnclosedValue(text: string, at: number, kind: 'function' | 'eof', events: ToolCallEvent[]): ToolCallStatus | 'progress' {
    if (this.hasBoundary) {
      this.addParameter(this.valueParts.join(''), events);
      // The text from the boundary was consumed into `held`: the caller puts it back, and it is read from there.
      const replay = { text: this.held.join(''), from: this.pos };
      this.valueParts = [];
      this.held = [];
      this.hasBoundary = false;
      this.limit = replay.text.length + (at - replay.from);
      this.limitKind = kind;
      this.pos = PARAMETER_OPEN.length;
      this.phase = 'parameterName';
      this.replay = replay;
      return 'progress';
    }
    if (kind === 'eof') return this.end(events);
    this.addParameter(this.valueText(text, at).replace(/<\/parameter>\s*$/, ''), events);
    this.pos = at;
    this.phase = 'parameters';
    return 'progress';
  }

  /** Moves the scanned value text (up to `upTo`, default `cursor`) out of the caller's text. */
  private consumeValue(text: string, upTo = this.cursor): void {
    if (upTo <= this.pos) return;
    (this.hasBoundary ? this.held : this.valueParts).push(text.slice(this.pos, upTo));
    this.pos = upTo;
  }

  private valueText(text: string, end: number): string {
    const raw = this.valueParts.join('') + this.held.join('') + text.slice(this.pos, end);
    this.valueParts = [];
    this.held = [];
    this.hasBoundary = false;
    return raw;
  }

  private addParameter(raw: string, events: ToolCallEvent[]): void {
    events.push({ kind: 'parameter', name: this.parameterName, value: parameterValue(raw) });
  }
}

/**
 * A parameter value as written between `<parameter=…>` and its end → its text: one leading and one trailing `\n`
 * stripped (before decoding, so `&#10;` keeps an intended newline), then XML entities decoded.
 */
export function parameterValue(raw: string): string {
  let value = raw.startsWith('\n') ? raw.slice(1) : raw;
  if (value.endsWith('\n')) value = value.slice(0, -1);
  return decodeXmlEntities(value);
}
