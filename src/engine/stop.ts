/**
 * Stop strings over streamed text: text is emitted as soon as it cannot be the start of a stop string; a tail that
 * could still become one is held back; at the first complete stop string the stream ends and neither the stop
 * string nor anything after it is emitted (OpenAI `stop` semantics, as vLLM's detokenizer applies them).
 */
import { RequestError } from '../errors.js';

/** Most stop strings one request may give. */
export const MAX_STOP_STRINGS = 16;

/**
 * The request's `stop` value as a list: absent → [], a string → [it], an array of non-empty strings → a copy.
 * @throws RequestError('stop', …) when not a string or array of strings, a string is empty, or there are > 16
 */
export function validateStopStrings(stop: unknown): string[] {
  if (stop === undefined || stop === null) return [];
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list)) throw new RequestError('stop', `must be a string or an array of strings, got ${typeof stop}`);
  if (list.length > MAX_STOP_STRINGS) {
    throw new RequestError('stop', `at most ${MAX_STOP_STRINGS} stop strings, got ${list.length}`);
  }
  return list.map((s: unknown, i) => {
    if (typeof s !== 'string') throw new RequestError('stop', `stop[${i}] must be a string, got ${typeof s}`);
    if (s.length === 0) throw new RequestError('stop', `stop[${i}] must not be empty`);
    return s;
  });
}

/** What one `push` releases: text safe to show, and whether a stop string has ended the stream. */
export interface StopResult {
  emit: string;
  stopped: boolean;
}

/**
 * Matcher for one sequence's output text. Held-back text is shorter than the longest stop string; each push costs
 * O((held + delta) × stop strings). With no stop strings every delta passes through unchanged.
 */
export class StopMatcher {
  readonly stopStrings: readonly string[];
  private held = '';
  private matchedStop: string | undefined;
  private maxLength: number;

  /** @throws RequestError('stop', …) as `validateStopStrings` */
  constructor(stop: unknown = []) {
    this.stopStrings = Object.freeze(validateStopStrings(stop));
    this.maxLength = Math.max(0, ...this.stopStrings.map((s) => s.length));
  }

  /** True once a stop string has been seen; later pushes emit nothing. */
  get stopped(): boolean {
    return this.matchedStop !== undefined;
  }

  /** The stop string that ended the stream (the one occurring earliest in the text), once `stopped`. */
  get matched(): string | undefined {
    return this.matchedStop;
  }

  /** Add the next piece of decoded text; returns the text that is now safe to emit. */
  push(textDelta: string): StopResult {
    if (this.stopped) return { emit: '', stopped: true };
    if (this.maxLength === 0) return { emit: textDelta, stopped: false };
    const text = this.held + textDelta;
    let at = -1;
    for (const s of this.stopStrings) {
      const i = text.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        this.matchedStop = s;
      }
    }
    if (at >= 0) {
      this.held = '';
      return { emit: text.slice(0, at), stopped: true };
    }
    const keep = this.partialMatchLength(text);
    this.held = text.slice(text.length - keep);
    return { emit: text.slice(0, text.length - keep), stopped: false };
  }

  /** End of stream: the held-back text (no stop string completed), or '' after a stop. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
  private partialMatchLength(text: string): number {
    for (let k = Math.min(this.maxLength - 1, text.length); k > 0; k--) {
      const tail = text.slice(text.length - k);
      if (this.stopStrings.some((s) => s.startsWith(tail))) return k;
    }
    return 0;
  }
}
