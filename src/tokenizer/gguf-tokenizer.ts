/**
 * The tokenizer a GGUF carries (`tokenizer.ggml.*`, as llama.cpp's converter writes a Hugging Face BPE tokenizer)
 * rebuilt as a tokenizer.json for @huggingface/tokenizers: `tokens` by id, `token_type` (1 normal, 3 control,
 * 4 user-defined; control and user-defined tokens become added tokens, control ones `special`), `merges`
 * ("a b"), and the pre-tokenizer named by `tokenizer.ggml.pre` (`qwen2` for MiMo-V2: Qwen2's split regex, NFC,
 * byte-level). `tokenizer.chat_template` is the chat template. A file without a tokenizer, or with the anchor
 * converter's placeholder (a byte alphabet and no merges), gives no tokenizer: the model still runs on token ids.
 * Source: llama.cpp gguf-py constants (token types), src/llama-vocab.cpp (pre-tokenizer regexes per `pre`).
 */
import type { GgufValue } from '../loader/gguf.js';
import { MiMoTokenizer } from './tokenizer.js';

/** Qwen2's pre-tokenizer split (tokenizer.json of Qwen2/Qwen3/MiMo). */
const QWEN2_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** GPT-2's split. */
const GPT2_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const PRE: Readonly<Record<string, { split: string; nfc: boolean }>> = {
  qwen2: { split: QWEN2_SPLIT, nfc: true },
  'gpt-2': { split: GPT2_SPLIT, nfc: false },
  default: { split: GPT2_SPLIT, nfc: false },
};

/** Why a GGUF's tokenizer cannot encode text, or null when it can. */
export function ggufTokenizerProblem(md: Readonly<Record<string, GgufValue>>): string | null {
  const model = md['tokenizer.ggml.model']?.value;
  if (model === undefined || model === 'none' || model === 'no_vocab') return 'the file has no tokenizer (tokenizer.ggml.model absent)';
  if (model !== 'gpt2') return `tokenizer.ggml.model "${String(model)}" is not supported (only "gpt2", byte-level BPE)`;
  const tokens = md['tokenizer.ggml.tokens']?.value;
  const merges = md['tokenizer.ggml.merges']?.value;
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string')) return 'tokenizer.ggml.tokens is missing or not a list of strings';
  if (!Array.isArray(merges) || merges.length === 0) return 'tokenizer.ggml.merges is empty: a placeholder tokenizer (token ids only)';
  const pre = String(md['tokenizer.ggml.pre']?.value ?? 'default');
  if (!PRE[pre]) return `tokenizer.ggml.pre "${pre}" is not supported (supported: ${Object.keys(PRE).join(', ')})`;
  return null;
}

/**
 * The tokenizer of a GGUF, or null with the reason when it has none that can encode text.
 * @param source the GGUF file (for errors)
 * @throws CheckpointError when the tokenizer library rejects the rebuilt tokenizer; ConfigError when the chat
 *   template does not parse
 */
export function ggufTokenizer(md: Readonly<Record<string, GgufValue>>, source: string): { tokenizer: MiMoTokenizer | null; problem: string | null } {
  const problem = ggufTokenizerProblem(md);
  if (problem) return { tokenizer: null, problem };
  const tokens = md['tokenizer.ggml.tokens']!.value as string[];
  const types = (md['tokenizer.ggml.token_type']?.value as number[] | undefined) ?? [];
  const merges = md['tokenizer.ggml.merges']!.value as string[];
  const pre = PRE[String(md['tokenizer.ggml.pre']?.value ?? 'default')]!;
  const vocab: Record<string, number> = {};
  const added: Array<Record<string, unknown>> = [];
  for (let id = 0; id < tokens.length; id++) {
    const type = types[id] ?? 1;
    if (type === 3 || type === 4) added.push({ id, content: tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: type === 3 });
    else if (type !== 5 && !(tokens[id]! in vocab)) vocab[tokens[id]!] = id;
  }
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: pre.nfc ? { type: 'NFC' } : null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: pre.split }, behavior: 'Isolated', invert: false }, byteLevel] },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  const eos = md['tokenizer.ggml.eos_token_id']?.value;
  const config: Record<string, unknown> = { clean_up_tokenization_spaces: false };
  if (typeof eos === 'number' && tokens[eos] !== undefined) config['eos_token'] = tokens[eos];
  const template = md['tokenizer.chat_template']?.value;
  return { tokenizer: MiMoTokenizer.fromObjects(source, json, config, typeof template === 'string' ? template : undefined), problem: null };
}
