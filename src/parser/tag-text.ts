/**
 * Small readers of tag text shared by the tool-call reader: literal matches that may be cut at the end of the text
 * seen so far, whitespace, and tag names (`<function=NAME>`, `<parameter=NAME>`).
 */

/** Longest function or parameter name read; a longer one is not a name (names are identifiers). */
const MAX_NAME_LENGTH = 256;

/** How `text` at `at` compares with `literal`: 'yes', 'partial' (text ends inside it; never with eof), or 'no'. */
export function matchAt(text: string, at: number, literal: string, eof: boolean): 'yes' | 'partial' | 'no' {
  if (text.startsWith(literal, at)) return 'yes';
  const rest = text.length - at;
  return !eof && rest < literal.length && literal.startsWith(text.slice(at)) ? 'partial' : 'no';
}

/** Index of the first non-whitespace character from `at` (text.length when there is none). */
export function skipWhitespace(text: string, at: number): number {
  while (at < text.length && /\s/.test(text[at])) at++;
  return at;
}

/** A name from `at` up to `>`: the trimmed name and the index after `>`, 'open' (needs more text) or 'malformed'. */
export function nameAt(text: string, at: number, eof: boolean): { name: string; end: number } | 'open' | 'malformed' {
  const limit = Math.min(text.length, at + MAX_NAME_LENGTH + 1);
  for (let i = at; i < limit; i++) {
    const ch = text[i];
    if (ch === '<' || ch === '\n') return 'malformed';
    if (ch === '>') {
      const name = text.slice(at, i).trim();
      return name === '' ? 'malformed' : { name, end: i + 1 };
    }
  }
  return eof || limit - at > MAX_NAME_LENGTH ? 'malformed' : 'open';
}
