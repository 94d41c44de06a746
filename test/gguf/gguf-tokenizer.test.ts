/**
 * Tokenizer from a GGUF's tokenizer.ggml.*: the Qwen3/MiMo tokenizer.json written into GGUF metadata as llama.cpp's
 * converter does (tokens by id, token types 1 / 3 control / 4 user-defined, merges "a b", pre "qwen2") gives the
 * same ids as the Hugging Face tokenizer on a table of texts; placeholders and missing tokenizers give none.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { buildGgufHeader, gguf, GGUFValueType, type GGUFTypedMetadata } from '@huggingface/gguf';
import { GgufModelFiles, type GgufValue } from '../../src/loader/gguf.js';
import { AsyncEncoder } from '../../src/tokenizer/async-encoder.js';
import { discoverCases, repoRoot } from '../helpers/fixtures.js';
import { writeTokenizerFiles } from '../../src/tokenizer/files.js';
import { ggufTokenizer } from '../../src/tokenizer/gguf-tokenizer.js';
import { MiMoTokenizer } from '../../src/tokenizer/tokenizer.js';

const TEXTS = [
  'Hello, world!',
  '  leading spaces and trailing   ',
  "It's 2026; we'll see 12345 tokens.",
  '你好，世界！小米 MiMo 模型。',
  'Привет, мир! Ça va? Grüße, naïve café.',
  'こんにちは世界 🌍🚀 emoji 👩‍💻',
  'def f(x):\n    return x ** 2  # square\n\n\tif x != 0: pass\r\n',
  'const a = [1, 2, 3].map((v) => v * 2); // JS',
  '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nOK<|im_end|>',
  '<tool_call>{"name": "get", "arguments": {}}</tool_call><|endoftext|>',
  'ÀÉÎÕÜ \u00e9 vs e\u0301 (NFC)',
  '',
];

function ggufMetadataFrom(dir: string): Record<string, GgufValue> {
  const tj = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number>; merges: Array<string | string[]> }; added_tokens: Array<{ id: number; content: string; special: boolean }> };
  let n = 0;
  for (const id of Object.values(tj.model.vocab)) n = Math.max(n, id + 1);
  for (const t of tj.added_tokens) n = Math.max(n, t.id + 1);
  const tokens = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const types = new Array<number>(n).fill(5); // UNUSED, as llama.cpp pads holes
  for (const [tok, id] of Object.entries(tj.model.vocab)) {
    tokens[id] = tok;
    types[id] = 1;
  }
  for (const t of tj.added_tokens) {
    tokens[t.id] = t.content;
    types[t.id] = t.special ? 3 : 4;
  }
  const merges = tj.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  return {
    'tokenizer.ggml.model': { value: 'gpt2', type: 8 },
    'tokenizer.ggml.pre': { value: 'qwen2', type: 8 },
    'tokenizer.ggml.tokens': { value: tokens, type: 9, subType: 8 },
    'tokenizer.ggml.token_type': { value: types, type: 9, subType: 5 },
    'tokenizer.ggml.merges': { value: merges, type: 9, subType: 8 },
    'tokenizer.ggml.eos_token_id': { value: tokens.indexOf('<|im_end|>'), type: 4 },
    'tokenizer.chat_template': { value: fs.readFileSync(path.join(dir, 'chat_template.jinja'), 'utf8'), type: 8 },
  };
}

test('a GGUF-embedded Qwen/MiMo tokenizer gives the Hugging Face ids on a table of texts', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-gguf-tok-'));
  try {
    writeTokenizerFiles(dir);
    const hf = MiMoTokenizer.load(dir);
    const { tokenizer, problem } = ggufTokenizer(ggufMetadataFrom(dir), 'test.gguf');
    assert.equal(problem, null);
    assert.ok(tokenizer);
    for (const text of TEXTS) {
      const want = hf.encode(text);
      assert.deepEqual(tokenizer.encode(text), want, JSON.stringify(text));
      assert.equal(tokenizer.decode(want), hf.decode(want), JSON.stringify(text));
    }
    assert.deepEqual(tokenizer.stopTokenIds(), hf.stopTokenIds());
    const chat = [{ role: 'user' as const, content: 'Hi' }];
    assert.equal(tokenizer.applyChatTemplate(chat), hf.applyChatTemplate(chat));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('missing or placeholder tokenizers: no tokenizer, with the reason', () => {
  assert.match(ggufTokenizer({}, 'x.gguf').problem!, /no tokenizer/);
  const placeholder: Record<string, GgufValue> = {
    'tokenizer.ggml.model': { value: 'gpt2', type: 8 },
    'tokenizer.ggml.tokens': { value: ['a', 'b'], type: 9, subType: 8 },
    'tokenizer.ggml.merges': { value: [], type: 9, subType: 8 },
  };
  const r = ggufTokenizer(placeholder, 'x.gguf');
  assert.equal(r.tokenizer, null);
  assert.match(r.problem!, /placeholder/);
  assert.match(ggufTokenizer({ ...placeholder, 'tokenizer.ggml.model': { value: 'llama', type: 8 } }, 'x.gguf').problem!, /"llama" is not supported/);
});

test('a GGUF file with the tokenizer embedded: read back from the file, and the off-thread encoder gives the same ids', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-gguf-tokfile-'));
  try {
    writeTokenizerFiles(dir);
    const base = path.join(dir, 'base.gguf');
    const anchor = path.resolve(repoRoot, '..', 'shared', 'tools', 'llamacpp-anchor');
    execFileSync('python3', [path.join(anchor, 'hf_to_gguf.py'), discoverCases()[0]!, base, '--type', 'f32', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
    // Replace the placeholder tokenizer keys with the real ones (header rebuilt by @huggingface/gguf; data unchanged).
    const parsed = await gguf(base, { allowLocalFile: true, typedMetadata: true });
    const md = { ...parsed.typedMetadata } as Record<string, unknown>;
    for (const [k, v] of Object.entries(ggufMetadataFrom(dir))) {
      md[k] = v.subType === undefined ? { value: v.value, type: v.type as GGUFValueType } : { value: v.value, type: GGUFValueType.ARRAY, subType: v.subType as GGUFValueType };
    }
    const blob = new Blob([fs.readFileSync(base)]);
    const header = await buildGgufHeader(blob, md as GGUFTypedMetadata, { littleEndian: true, tensorInfoByteRange: parsed.tensorInfoByteRange });
    const file = path.join(dir, 'with-tokenizer.gguf');
    fs.writeFileSync(file, Buffer.concat([Buffer.from(await header.arrayBuffer()), fs.readFileSync(base).subarray(Number(parsed.tensorDataOffset))]));
    const files = new GgufModelFiles([file]);
    const { tokenizer } = ggufTokenizer(files.metadata, file);
    files.close();
    assert.ok(tokenizer);
    const hf = MiMoTokenizer.load(dir);
    const text = TEXTS.join('\n').repeat(20);
    assert.deepEqual(tokenizer.encode(text), hf.encode(text));
    assert.equal(tokenizer.dir, file);
    const enc = new AsyncEncoder(tokenizer, 0); // every text on the worker, which reads the tokenizer from the GGUF
    try {
      assert.deepEqual(await enc.encode(text), hf.encode(text));
    } finally {
      await enc.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
