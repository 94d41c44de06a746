/**
 * The `tokenizer.ggml.*` metadata of a Hugging Face byte-level BPE tokenizer, as llama.cpp's converter writes it
 * (convert_hf_to_gguf.py `get_vocab_base` / `_set_vocab_gpt2`): `model` "gpt2", `pre` "qwen2" (MiMo-V2 uses Qwen2's
 * split), `tokens` by id up to the model's vocab size (holes `[PADi]`, type 5 UNUSED), `token_type` (1 normal,
 * 3 control for special added tokens, 4 user-defined for other added tokens), `merges` as "a b", eos / padding ids
 * from tokenizer_config.json, no BOS; `tokenizer.chat_template` from chat_template.jinja or tokenizer_config.json.
 * A checkpoint without tokenizer files (the bench model) gets the anchor converter's placeholder: a byte alphabet,
 * no merges, the last id as a control EOS — enough for llama.cpp to load it and for token-id use.
 * The reverse of tokenizer/gguf-tokenizer.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from '../errors.js';
import { GGUF_TYPE, type GgufKv } from '../loader/gguf-writer.js';

type Json = Record<string, unknown>;

function readJson(file: string): Json {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
  } catch (e) {
    throw new CheckpointError(file, `cannot read: ${(e as Error).message}`);
  }
}

/** GPT-2's byte-to-unicode alphabet: printable latin-1 bytes map to themselves, the rest to U+0100 onwards. */
export function byteAlphabet(): string[] {
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => (keep(b) ? String.fromCharCode(b) : String.fromCharCode(0x100 + extra++)));
}

const str = (key: string, value: string): GgufKv => ({ key, type: GGUF_TYPE.STRING, value });
const u32 = (key: string, value: number): GgufKv => ({ key, type: GGUF_TYPE.UINT32, value });
const bool = (key: string, value: boolean): GgufKv => ({ key, type: GGUF_TYPE.BOOL, value });

/** Content of a tokenizer_config.json token field (a string, or an AddedToken object). */
function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json)['content'] === 'string') return (v as Json)['content'] as string;
  return null;
}

/**
 * Tokenizer metadata for a checkpoint directory.
 * @param vocabSize rows of the embedding (tokens are padded to it, as llama.cpp requires)
 * @param eosTokenIds config.json's eos ids (the first one is written when tokenizer_config.json names none)
 * @returns the key/values and whether they are a placeholder (no tokenizer.json in the directory)
 * @throws CheckpointError when tokenizer.json is unreadable, not a BPE model, or holds an id ≥ vocabSize
 */
export function tokenizerGgufMetadata(dir: string, vocabSize: number, eosTokenIds: readonly number[]): { kvs: GgufKv[]; placeholder: boolean } {
  const tjFile = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(tjFile)) {
    const alpha = byteAlphabet();
    const tokens = Array.from({ length: vocabSize }, (_, i) => (i < 256 ? alpha[i]! : `<t${i}>`));
    const types = new Array<number>(vocabSize).fill(1);
    tokens[vocabSize - 1] = '<|eos|>';
    types[vocabSize - 1] = 3;
    return {
      placeholder: true,
      kvs: [
        str('tokenizer.ggml.model', 'gpt2'),
        str('tokenizer.ggml.pre', 'gpt-2'),
        { key: 'tokenizer.ggml.tokens', type: GGUF_TYPE.ARRAY, elementType: GGUF_TYPE.STRING, value: tokens },
        { key: 'tokenizer.ggml.token_type', type: GGUF_TYPE.ARRAY, elementType: GGUF_TYPE.INT32, value: types },
        { key: 'tokenizer.ggml.merges', type: GGUF_TYPE.ARRAY, elementType: GGUF_TYPE.STRING, value: [] },
        u32('tokenizer.ggml.bos_token_id', vocabSize - 1),
        u32('tokenizer.ggml.eos_token_id', vocabSize - 1),
        bool('tokenizer.ggml.add_bos_token', false),
        bool('tokenizer.ggml.add_eos_token', false),
      ],
    };
  }
  const tj = readJson(tjFile) as { model?: { type?: string; vocab?: Record<string, number>; merges?: Array<string | string[]> }; added_tokens?: Array<{ id: number; content: string; special: boolean }> };
  if (tj.model?.type !== 'BPE' || !tj.model.vocab || !tj.model.merges) throw new CheckpointError(tjFile, `model is ${JSON.stringify(tj.model?.type)}; mimo quantize embeds byte-level BPE tokenizers only`);
  const tokens = Array.from({ length: vocabSize }, (_, i) => `[PAD${i}]`);
  const types = new Array<number>(vocabSize).fill(5);
  const place = (id: number, tok: string, type: number) => {
    if (!Number.isSafeInteger(id) || id < 0 || id >= vocabSize) throw new CheckpointError(tjFile, `token ${JSON.stringify(tok)} has id ${id}, outside the model's vocab_size ${vocabSize}`);
    tokens[id] = tok;
    types[id] = type;
  };
  for (const [tok, id] of Object.entries(tj.model.vocab)) place(id, tok, 1);
  for (const t of tj.added_tokens ?? []) place(t.id, t.content, t.special ? 3 : 4);
  const merges = tj.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const kvs: GgufKv[] = [
    str('tokenizer.ggml.model', 'gpt2'),
    str('tokenizer.ggml.pre', 'qwen2'),
    { key: 'tokenizer.ggml.tokens', type: GGUF_TYPE.ARRAY, elementType: GGUF_TYPE.STRING, value: tokens },
    { key: 'tokenizer.ggml.token_type', type: GGUF_TYPE.ARRAY, elementType: GGUF_TYPE.INT32, value: types },
    { key: 'tokenizer.ggml.merges', type: GGUF_TYPE.ARRAY, elementType: GGUF_TYPE.STRING, value: merges },
  ];
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const cfg = fs.existsSync(cfgFile) ? readJson(cfgFile) : {};
  const idOf = (v: unknown): number | null => {
    const c = tokenContent(v);
    if (c === null) return null;
    const i = tokens.indexOf(c);
    return i >= 0 ? i : null;
  };
  const eos = idOf(cfg['eos_token']) ?? eosTokenIds[0] ?? null;
  if (eos !== null) kvs.push(u32('tokenizer.ggml.eos_token_id', eos));
  const pad = idOf(cfg['pad_token']);
  if (pad !== null) kvs.push(u32('tokenizer.ggml.padding_token_id', pad));
  const bos = idOf(cfg['bos_token']);
  if (bos !== null) kvs.push(u32('tokenizer.ggml.bos_token_id', bos));
  kvs.push(bool('tokenizer.ggml.add_bos_token', cfg['add_bos_token'] === true));
  const jinja = path.join(dir, 'chat_template.jinja');
  const template = fs.existsSync(jinja) ? fs.readFileSync(jinja, 'utf8') : typeof cfg['chat_template'] === 'string' ? (cfg['chat_template'] as string) : null;
  if (template !== null) kvs.push(str('tokenizer.chat_template', template));
  return { kvs, placeholder: false };
}
