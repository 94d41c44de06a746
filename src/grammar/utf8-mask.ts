/**
 * Valid UTF-8 across tokens: which tokens may follow the bytes emitted so far. xgrammar 0.1.27 decodes UTF-8
 * leniently (it admits e.g. the surrogate encoding ED A0 80 as one character), so a constrained string could hold
 * bytes that a strict decoder (TextDecoder, the parser) turns into several U+FFFD — a `maxLength` the grammar
 * counted would then be exceeded. The constraint ANDs the grammar's mask with the tokens valid from the current
 * UTF-8 state (RFC 3629 §4: no overlongs, no surrogates, nothing past U+10FFFF).
 *
 * States: 0 = between characters; 1 = one continuation byte 80–BF due; 2 = two due (80–BF first); 3 = two due,
 * first A0–BF (after E0); 4 = two due, first 80–9F (after ED); 5 = three due (80–BF first); 6 = three due, first
 * 90–BF (after F0); 7 = three due, first 80–8F (after F4).
 */
import { byteAlphabet } from '../tokenizer/gguf-metadata.js';

export const UTF8_STATES = 8;
const ERROR = 255;

/** Next state after byte b in state s, or ERROR. */
function step(s: number, b: number): number {
  switch (s) {
    case 0:
      if (b < 0x80) return 0;
      if (b >= 0xc2 && b <= 0xdf) return 1;
      if (b === 0xe0) return 3;
      if (b === 0xed) return 4;
      if (b >= 0xe1 && b <= 0xef) return 2;
      if (b === 0xf0) return 6;
      if (b >= 0xf1 && b <= 0xf3) return 5;
      if (b === 0xf4) return 7;
      return ERROR;
    case 1:
      return b >= 0x80 && b <= 0xbf ? 0 : ERROR;
    case 2:
      return b >= 0x80 && b <= 0xbf ? 1 : ERROR;
    case 3:
      return b >= 0xa0 && b <= 0xbf ? 1 : ERROR;
    case 4:
      return b >= 0x80 && b <= 0x9f ? 1 : ERROR;
    case 5:
      return b >= 0x80 && b <= 0xbf ? 2 : ERROR;
    case 6:
      return b >= 0x90 && b <= 0xbf ? 2 : ERROR;
    case 7:
      return b >= 0x80 && b <= 0x8f ? 2 : ERROR;
    default:
      return ERROR;
  }
}

/** Per vocabulary: the tokens valid from each state and where each leads. */
export interface Utf8Masks {
  /** `[UTF8_STATES][ceil(V / 32)]` bitmasks of the tokens whose bytes keep the output valid UTF-8 from that state. */
  valid: Int32Array[];
  /** `[UTF8_STATES × V]` the state after the token (meaningless where not valid). */
  next: Uint8Array;
  vocabSize: number;
}

/**
 * Build the masks of a byte-level vocabulary.
 * @param encoded byte-level token strings by id (GPT-2 alphabet); '' (special tokens), and a token with a character
 *   outside that alphabet, is valid from every state and keeps it
 * @param vocabSize logits width V (ids past `encoded` are never valid)
 */
export function utf8Masks(encoded: readonly string[], vocabSize: number): Utf8Masks {
  const byteOf = new Map<number, number>();
  byteAlphabet().forEach((ch, b) => byteOf.set(ch.charCodeAt(0), b));
  const words = Math.ceil(vocabSize / 32);
  const valid = Array.from({ length: UTF8_STATES }, () => new Int32Array(words));
  const next = new Uint8Array(UTF8_STATES * vocabSize);
  const bytes: number[] = [];
  for (let id = 0; id < encoded.length; id++) {
    const t = encoded[id]!;
    bytes.length = 0;
    let ok = true;
    for (let i = 0; i < t.length && ok; i++) {
      const b = byteOf.get(t.charCodeAt(i));
      if (b === undefined) ok = false;
      else bytes.push(b);
    }
    if (!ok) {
      // Not in the byte-level alphabet (a hand-made vocabulary): left to the grammar, state kept.
      for (let s0 = 0; s0 < UTF8_STATES; s0++) {
        valid[s0]![id >>> 5]! |= 1 << (id & 31);
        next[s0 * vocabSize + id] = s0;
      }
      continue;
    }
    for (let s0 = 0; s0 < UTF8_STATES; s0++) {
      let s = s0;
      for (let i = 0; i < bytes.length && s !== ERROR; i++) s = step(s, bytes[i]!);
      if (s === ERROR) continue;
      valid[s0]![id >>> 5]! |= 1 << (id & 31);
      next[s0 * vocabSize + id] = s;
    }
  }
  return { valid, next, vocabSize };
}
