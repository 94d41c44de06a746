/**
 * Streaming detokenization: turns generated token ids into text deltas, one push per token, without ever emitting
 * half a UTF-8 character. Follows vLLM's `detokenize_incrementally` (prefix offset / read offset): each push decodes
 * only a short trailing window of ids, never the whole sequence.
 */

/** What the detokenizer needs from a tokenizer: {@link MiMoTokenizer} satisfies it. */
export interface TokenTextDecoder {
  /** Text of `ids`; must return '' for an empty list. */
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
}

/** Options of {@link IncrementalDetokenizer}. */
export interface IncrementalDetokenizerOptions {
  /** Passed to every decode; the deltas then concatenate to `decode(ids, {skipSpecialTokens})`. Default false. */
  skipSpecialTokens?: boolean;
}

const REPLACEMENT = '\uFFFD';

/**
 * Incremental decoder of one generated sequence.
 *
 * The window holds ids from the prefix offset on: `[prefix tokens | pending tokens]`. Prefix tokens were emitted at
 * the last step and are decoded again only as context (so decoders that treat the first token specially, such as
 * SentencePiece's leading space, still agree); pending tokens start at the read offset. When the window's text ends
 * in U+FFFD the last bytes may be an incomplete UTF-8 sequence (a byte-level BPE token can end mid-character), so
 * that final character is held back and only the text before it is emitted. UTF-8 decoding (WHATWG, as
 * TextDecoder does) turns an incomplete tail into exactly one U+FFFD and never revisits earlier characters, so what
 * was emitted stays a prefix of the final text. When the text ends cleanly the pending tokens become the new prefix.
 *
 * Invariant: the concatenation of all deltas from push() and flush() equals `decode(allIds)`.
 * Cost per push: two decodes of the window, which is the previous step's tokens plus the pending ones (normally
 * 1-4 tokens); it grows only while consecutive tokens all end inside a character.
 */
export class IncrementalDetokenizer {
  /** Ids from the prefix offset on. */
  private window: number[] = [];
  /** Index in `window` where pending (not fully emitted) tokens start. */
  private readOffset = 0;
  /** UTF-16 units of the pending text already emitted (stable characters before a held-back tail). */
  private emittedPending = 0;
  private readonly skipSpecialTokens: boolean;

  /** @param tokenizer decodes id lists; called with windows of a few ids, never with the whole sequence. */
  constructor(
    private readonly tokenizer: TokenTextDecoder,
    opts: IncrementalDetokenizerOptions = {},
  ) {
    this.skipSpecialTokens = opts.skipSpecialTokens ?? false;
  }

  /**
   * Adds one generated token.
   * @returns the text that became final with this token; '' while a character is still incomplete or the token
   *   adds no text (e.g. a skipped special token).
   */
  push(tokenId: number): string {
    this.window.push(tokenId);
    const start = this.decodeWindow(0, this.readOffset).length + this.emittedPending;
    const text = this.decodeWindow(0, this.window.length);
    if (text.endsWith(REPLACEMENT)) {
      // Possibly an incomplete character: emit what precedes it, keep the offsets.
      const stableEnd = text.length - 1;
      if (stableEnd <= start) return '';
      this.emittedPending += stableEnd - start;
      return text.slice(start, stableEnd);
    }
    // vLLM keeps the window when nothing new appeared, so a later token is decoded with this one as context.
    if (text.length <= start) return '';
    // Clean end: the pending tokens become the prefix of the next step.
    this.window = this.window.slice(this.readOffset);
    this.readOffset = this.window.length;
    this.emittedPending = 0;
    return text.slice(start);
  }

  /**
   * Ends the sequence: returns the held-back text (a trailing U+FFFD when the last character never completed,
   * exactly as the full decode shows it) and resets the detokenizer for reuse.
   */
  flush(): string {
    let delta = '';
    if (this.window.length > this.readOffset) {
      const start = this.decodeWindow(0, this.readOffset).length + this.emittedPending;
      delta = this.decodeWindow(0, this.window.length).slice(start);
    }
    this.window = [];
    this.readOffset = 0;
    this.emittedPending = 0;
    return delta;
  }

  private decodeWindow(from: number, to: number): string {
    if (to <= from) return '';
    return this.tokenizer.decode(this.window.slice(from, to), { skipSpecialTokens: this.skipSpecialTokens });
  }
}
