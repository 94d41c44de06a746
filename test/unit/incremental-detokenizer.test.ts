/**
 * IncrementalDetokenizer: deltas concatenate to the full decode, no delta carries U+FFFD from a split character, the
 * decoded window stays small. Checked on a toy byte decoder (analytic cases) and on the Qwen3 tokenizer of MiMo-V2.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeTokenizerFiles } from '../../src/tokenizer/files.js';
import { MiMoTokenizer } from '../../src/tokenizer/tokenizer.js';
import { IncrementalDetokenizer, type TokenTextDecoder } from '../../src/tokenizer/incremental-detokenizer.js';

/** Runs ids through a fresh detokenizer: the delta of every push, then flush's. */
function stream(decoder: TokenTextDecoder, ids: readonly number[], skipSpecialTokens = false): { deltas: string[]; tail: string } {
  const detok = new IncrementalDetokenizer(decoder, { skipSpecialTokens });
  const deltas = ids.map((id) => detok.push(id));
  return { deltas, tail: detok.flush() };
}

/** A byte-level decoder whose token i is BYTES[i]; UTF-8 decoding as the real ByteLevel decoder does it. */
const BYTES: number[][] = [
  [0xe4, 0xbd], // 0: first two bytes of 你 (E4 BD A0)
  [0xa0, 0xe5], // 1: end of 你, start of 好 (E5 A5 BD)
  [0xa5, 0xbd], // 2: end of 好
  [0x41], // 3: 'A'
  [0x80], // 4: a lone continuation byte (never valid)
  [0xf0, 0x9f], // 5: first half of 😀 (F0 9F 98 80)
  [0x98, 0x80], // 6: second half of 😀
];
const toyDecoder: TokenTextDecoder = {
  decode: (ids) => new TextDecoder('utf-8').decode(Uint8Array.from(ids.flatMap((id) => BYTES[id]!))),
};

describe('IncrementalDetokenizer on a toy byte decoder', () => {
  const cases: { name: string; ids: number[]; deltas: string[]; tail: string }[] = [
    { name: 'a character completed by the next token is held, then emitted whole', ids: [5, 6, 3], deltas: ['', '😀', 'A'], tail: '' },
    { name: 'tokens straddling characters emit each character once it is complete', ids: [0, 1, 2], deltas: ['', '你', '好'], tail: '' },
    { name: 'an invalid byte is emitted as U+FFFD once followed by text', ids: [4, 3], deltas: ['', '\uFFFDA'], tail: '' },
    { name: 'an unfinished character at the end comes out of flush as U+FFFD', ids: [3, 5], deltas: ['A', ''], tail: '\uFFFD' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { deltas, tail } = stream(toyDecoder, c.ids);
      assert.deepEqual(deltas, c.deltas);
      assert.equal(tail, c.tail);
      assert.equal(deltas.join('') + tail, toyDecoder.decode(c.ids));
    });
  }

  it('is reusable after flush', () => {
    const detok = new IncrementalDetokenizer(toyDecoder);
    detok.push(5);
    assert.equal(detok.flush(), '\uFFFD');
    assert.equal(detok.push(3), 'A');
  });
});

describe('IncrementalDetokenizer on the MiMo-V2 (Qwen3) tokenizer', () => {
  let tmp: string;
  let tok: MiMoTokenizer;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-detok-'));
    writeTokenizerFiles(tmp);
    tok = MiMoTokenizer.load(tmp);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const TEXTS = [
    'Hello world, 12345!',
    '👨‍👩‍👧‍👦 family 🏳️‍🌈 flag',
    '🫠🥹🪿 new emoji',
    '鱻龘齉靐 rare CJK, 你好，世界',
    '𠀀𠀁𪚥 supplementary plane',
    '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and ᚠᛇᚻ᛫ᛒᛦᚦ',
    'हिन्दी 한국어 ภาษาไทย',
    '<|im_start|>assistant\n<think>思考🤔</think>答案<|im_end|>',
  ];

  it('the texts include tokens that end inside a UTF-8 character (so the test bites)', () => {
    const splitTokens = TEXTS.flatMap((text) => tok.encode(text)).filter((id) => tok.decode([id]).includes('\uFFFD'));
    assert.ok(splitTokens.length >= 20, `only ${splitTokens.length} split tokens`);
  });

  for (const text of TEXTS) {
    it(`streams ${JSON.stringify(text)} token by token: deltas join to the decode, none holds U+FFFD`, () => {
      const ids = tok.encode(text);
      const { deltas, tail } = stream(tok, ids);
      assert.equal(deltas.join('') + tail, tok.decode(ids));
      assert.equal(deltas.join('') + tail, text);
      assert.equal(tail, '');
      for (const delta of deltas) assert.ok(!delta.includes('\uFFFD'), `delta ${JSON.stringify(delta)}`);
    });
  }

  it('skipSpecialTokens: deltas join to decode(ids, {skipSpecialTokens})', () => {
    const ids = tok.encode(TEXTS[TEXTS.length - 1]!);
    const { deltas, tail } = stream(tok, ids, true);
    assert.equal(deltas.join('') + tail, 'assistant\n<think>思考🤔</think>答案');
  });

  it('random id sequences (any bytes, unknown ids): deltas join to the decode', () => {
    let seed = 12345;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let run = 0; run < 20; run++) {
      const ids = Array.from({ length: 150 }, () => next() % (tok.vocabSize + 50));
      for (const skip of [false, true]) {
        const { deltas, tail } = stream(tok, ids, skip);
        assert.equal(deltas.join('') + tail, tok.decode(ids, { skipSpecialTokens: skip }), `run ${run} skip ${skip}`);
      }
    }
  });

  it('decodes only a short trailing window per token, not the whole sequence', () => {
    let longest = 0;
    const counting: TokenTextDecoder = {
      decode: (ids, opts) => {
        longest = Math.max(longest, ids.length);
        return tok.decode(ids, opts);
      },
    };
    const ids = tok.encode(TEXTS.join(' ').repeat(20));
    assert.ok(ids.length > 1000);
    const { deltas, tail } = stream(counting, ids);
    assert.equal(deltas.join('') + tail, tok.decode(ids));
    assert.ok(longest <= 8, `decoded a window of ${longest} ids`);
  });
});
