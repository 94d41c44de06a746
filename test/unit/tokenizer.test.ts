/**
 * MiMoTokenizer on the Qwen3 byte-level BPE that MiMo-V2 shares (spec §5.1): tables of text → ids → text, special
 * tokens as single ids, stop ids by name, and load errors that name the file.
 */
import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeTokenizerFiles } from '../../src/tokenizer/files.js';
import { MiMoTokenizer } from '../../src/tokenizer/tokenizer.js';
import { CheckpointError, ConfigError, RequestError } from '../../src/errors.js';

let tmp: string;
let tok: MiMoTokenizer;

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-tokenizer-'));
  writeTokenizerFiles(path.join(tmp, 'ckpt'));
  tok = MiMoTokenizer.load(path.join(tmp, 'ckpt'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** text → ids (Qwen3 vocabulary) → the same text. */
const ROUND_TRIPS: { text: string; ids: number[] }[] = [
  { text: 'Hello world', ids: [9707, 1879] },
  { text: '12345', ids: [16, 17, 18, 19, 20] }, // digits one per token (\p{N} pre-tokenisation)
  { text: '<|im_start|>user\nhi<|im_end|>', ids: [151644, 872, 198, 6023, 151645] },
  { text: '你好，世界 😀👍🏽', ids: [108386, 3837, 99489, 90316, 144349, 145375] },
  { text: '<think>x</think>', ids: [151667, 87, 151668] },
  { text: 'system', ids: [8948] },
  { text: 'assistant', ids: [77091] },
];

/** Special and added tokens with the ids of spec §5.1. */
const SPECIAL_TOKENS: [string, number][] = [
  ['<|endoftext|>', 151643],
  ['<|im_start|>', 151644],
  ['<|im_end|>', 151645],
  ['<|vision_start|>', 151652],
  ['<|vision_end|>', 151653],
  ['<|image_pad|>', 151655],
  ['<|video_pad|>', 151656],
  ['<tool_call>', 151657],
  ['</tool_call>', 151658],
  ['<tool_response>', 151665],
  ['</tool_response>', 151666],
  ['<think>', 151667],
  ['</think>', 151668],
];

describe('MiMoTokenizer encode/decode', () => {
  for (const { text, ids } of ROUND_TRIPS) {
    it(`round-trips ${JSON.stringify(text)}`, () => {
      assert.deepEqual(tok.encode(text), ids);
      assert.equal(tok.decode(ids), text);
    });
  }

  it('round-trips mixed scripts, emoji sequences and whitespace', () => {
    for (const text of ['👨‍👩‍👧‍👦 family 🏳️‍🌈', '鱻龘齉靐 𠀀𠀁𪚥', 'हिन्दी ภาษาไทย 한국어', '  tabs\tand\n\nnewlines  ', 'x = f(3.14159)\n']) {
      assert.equal(tok.decode(tok.encode(text)), text);
    }
  });

  it('maps every special token in text to its single id, and back', () => {
    for (const [token, id] of SPECIAL_TOKENS) {
      assert.deepEqual(tok.encode(token), [id], token);
      assert.equal(tok.tokenId(token), id, token);
      assert.equal(tok.decode([id]), token);
    }
    assert.equal(tok.tokenId('<|no_such_token|>'), undefined);
  });

  it('prepends no BOS, with or without addSpecialTokens', () => {
    assert.deepEqual(tok.encode('Hello'), [9707]);
    assert.deepEqual(tok.encode('Hello', { addSpecialTokens: true }), [9707]);
  });

  it('skipSpecialTokens drops <|im_end|> but keeps <think> (a plain added token)', () => {
    assert.equal(tok.decode([151667, 87, 151668, 9707, 151645], { skipSpecialTokens: true }), '<think>x</think>Hello');
  });

  it('decodes an empty list to "" and skips ids past the tokenizer length', () => {
    assert.equal(tok.decode([]), '');
    assert.equal(tok.decode([9707, 152_000, 1879]), 'Hello world');
  });

  it('reports the tokenizer length and stop ids by name', () => {
    assert.equal(tok.vocabSize, 151_669);
    assert.deepEqual(tok.stopTokenIds(), [151645, 151643]);
  });
});

describe('writeTokenizerFiles', () => {
  it('writes a MiMo tokenizer_config.json: eos <|im_end|>, pad <|endoftext|>, no bos, no chat_template', () => {
    const config = JSON.parse(fs.readFileSync(path.join(tmp, 'ckpt', 'tokenizer_config.json'), 'utf8'));
    assert.equal(config.eos_token, '<|im_end|>');
    assert.equal(config.pad_token, '<|endoftext|>');
    assert.equal(config.bos_token, null);
    assert.equal(config.add_bos_token, false);
    assert.equal('chat_template' in config, false);
    assert.ok(fs.existsSync(path.join(tmp, 'ckpt', 'chat_template.jinja')));
  });

  it('takes eos_token from eosTokenId and rejects an id that is no added token', () => {
    const dir = path.join(tmp, 'eos');
    writeTokenizerFiles(dir, { eosTokenId: 151643 });
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')).eos_token, '<|endoftext|>');
    assert.throws(() => writeTokenizerFiles(dir, { eosTokenId: 42 }), (e: unknown) => e instanceof RequestError && e.param === 'eosTokenId');
  });
});

describe('MiMoTokenizer.load errors', () => {
  it('names tokenizer.json when it is missing', () => {
    const dir = path.join(tmp, 'empty');
    fs.mkdirSync(dir);
    assert.throws(() => MiMoTokenizer.load(dir), (e: unknown) => e instanceof CheckpointError && e.file === path.join(dir, 'tokenizer.json'));
  });

  it('names tokenizer.json when it is not JSON', () => {
    const dir = path.join(tmp, 'bad-tokenizer');
    writeTokenizerFiles(dir);
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": ');
    assert.throws(() => MiMoTokenizer.load(dir), (e: unknown) => e instanceof CheckpointError && /tokenizer\.json: not valid JSON/.test(e.message));
  });

  it('names tokenizer_config.json when it is missing or not JSON', () => {
    const dir = path.join(tmp, 'bad-config');
    writeTokenizerFiles(dir);
    const configFile = path.join(dir, 'tokenizer_config.json');
    fs.writeFileSync(configFile, '[1, 2');
    assert.throws(() => MiMoTokenizer.load(dir), (e: unknown) => e instanceof ConfigError && e.file === configFile);
    fs.rmSync(configFile);
    assert.throws(() => MiMoTokenizer.load(dir), (e: unknown) => e instanceof CheckpointError && e.file === configFile);
  });
});
