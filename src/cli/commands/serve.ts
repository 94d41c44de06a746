/**
 * `mimo serve [--model DIR|none] [--upstream NAME=URL[#REMOTE_ID][,key=ENV]]… [--host 127.0.0.1] [--port 8080]
 * [--api-key KEY] [--max-batch 8] [--max-queue 64] [--max-body 4mb] [--mtp N] [--no-parse]`: the
 * OpenAI/Anthropic-compatible server with the web playground; `--upstream` (repeatable) fronts other engines'
 * models, `--model none` serves upstreams only. Binds to loopback unless told otherwise; stops cleanly on
 * SIGINT/SIGTERM.
 */
import type { Command } from 'commander';
import { RequestError } from '../../errors.js';
import { BACKEND_CHOICES, type BackendChoice } from '../../kernels/select.js';
import { createRouter, createServer, type MimoRouter, type RouterOptions } from '../../server/app.js';
import { parseUpstreamFlag, refuseOwnAddress, type UpstreamOptions } from '../../server/upstream.js';
import { ensureDefaultModel } from '../default-model.js';
import { PRECISIONS, type Precision } from '../../model/precision.js';
import { parseChoice, parseIntOption, parseSizeOption } from '../options.js';
import { LOG_FORMATS, type LogFormat } from '../../server/request-log.js';

interface ServeFlags {
  model?: string;
  servedModelName?: string;
  host: string;
  port: number;
  apiKey?: string;
  corsOrigin?: string;
  maxBatch: number;
  maxQueue: number;
  maxBody?: number;
  mtp: number;
  parse: boolean;
  toolCallsInThinking: boolean;
  unknownToolCalls: 'text' | 'call';
  prefillChunk: number;
  defaultMaxTokens: number;
  backend?: BackendChoice;
  threads?: number;
  upstream?: UpstreamOptions[];
  logFormat: LogFormat;
  requestLog: boolean;
  prefixCache: boolean;
  cacheRam?: number;
  cacheCheckpointEvery: number;
  cacheDir?: string;
  cacheDisk?: number;
  kvDtype: 'f32' | 'bf16';
  precision: Precision;
  grammarCompileTimeout: number;
}

/** `--model none`: no local model, upstreams only. */
const NO_MODEL = 'none';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve a model over the OpenAI and Anthropic HTTP APIs, with a web playground at /')
    .option('--model <dir>', `checkpoint directory (default: a random-weight small MiMo-V2-Flash, created once); '${NO_MODEL}' serves --upstream models only`)
    .option(
      '--upstream <spec>',
      'NAME=URL[#REMOTE_ID][,key=ENV] (repeatable): requests for model NAME go to the OpenAI-compatible engine at URL (SGLang, vLLM, llama-server, mimo serve), with Authorization: Bearer $ENV; #REMOTE_ID is its model id',
      (value: string, list: UpstreamOptions[] | undefined) => [...(list ?? []), parseUpstreamFlag(value)],
    )
    .option('--served-model-name <name>', 'model name clients send (default: the directory name)')
    .option('--host <addr>', 'address to bind (loopback by default; 0.0.0.0 exposes the server to the network)', '127.0.0.1')
    .option('--port <n>', 'TCP port (0 = any free port)', parseIntOption(0, 65535), 8080)
    .option('--api-key <key>', 'require this key (Authorization: Bearer KEY or x-api-key) on /v1 routes')
    .option('--max-batch <n>', 'sequences decoded together in one batched step', parseIntOption(1), 8)
    .option('--max-queue <n>', 'requests waiting for a batch slot; beyond this the server answers 429', parseIntOption(0), 64)
    .option('--max-body <size>', 'largest request body (default 4mb); larger requests get 413', parseSizeOption)
    .option('--mtp <n>', 'MTP drafts per step for self-speculative decoding (0 = off)', parseIntOption(0), 0)
    .option('--no-parse', "return the model's raw text: no reasoning or tool-call parsing")
    .option('--cors-origin <origin>', "Access-Control-Allow-Origin for browser clients on other origins (default '*')")
    .option('--no-tool-calls-in-thinking', 'leave tool calls the model writes inside its reasoning as reasoning text')
    .option('--unknown-tool-calls <mode>', 'a call of a tool the request did not offer: text (kept as text) or call (returned as a call)', parseChoice(['text', 'call'] as const), 'text')
    .option('--prefill-chunk <n>', 'prompt tokens per prefill chunk (and per step), so running streams keep flowing', parseIntOption(1), 256)
    .option('--no-prefix-cache', 'prefill every prompt from scratch (no reuse of earlier requests\' KV)')
    .option('--cache-ram <size>', 'prefix-cache RAM budget, e.g. 4gb (default: a quarter of the memory, at most 8gb)', parseSizeOption)
    .option('--cache-checkpoint-every <n>', 'prefix-cache snapshot every N tokens inside long prompts and generations (0 = none)', parseIntOption(0), 512)
    .option('--cache-dir <dir>', 'prefix-cache disk tier: evicted entries and, on shutdown, all entries are kept here, so a restart resumes without re-prefill')
    .option('--cache-disk <size>', 'most bytes of prefix-cache files in --cache-dir (default 16gb)', parseSizeOption)
    .option('--kv-dtype <dtype>', 'KV cache and prefix-cache dtype: f32 (exact) or bf16 (half the memory)', parseChoice(['f32', 'bf16'] as const), 'f32')
    .option('--grammar-compile-timeout <ms>', 'longest a request\'s grammar (response_format, guided_*, strict tools) may take to compile; slower ones get a 400', parseIntOption(1), 10000)
    .option('--default-max-tokens <n>', 'max_tokens of chat requests that give none', parseIntOption(1), 4096)
    .option('--backend <name>', 'compute backend: auto (native if built, else ts), ts or native', parseChoice(BACKEND_CHOICES))
    .option('--threads <n>', 'native backend worker threads (default: all cores)', parseIntOption(1))
    .option('--precision <mode>', "exact (float32 activations) or fast (8-bit activations for a GGUF's Q8_0/Q4_0/Q5_0/IQ4_NL/MXFP4 weights; not for safetensors checkpoints)", parseChoice(PRECISIONS), 'exact')
    .option('--log-format <format>', `per-request log lines on stderr: ${LOG_FORMATS.join(' or ')} (one JSON object per line)`, parseChoice(LOG_FORMATS), 'text')
    .option('--no-request-log', 'print no per-request log lines')
    .action(async (flags: ServeFlags) => {
      const log = (s: string) => process.stderr.write(`${s}\n`);
      if (flags.apiKey !== undefined && flags.apiKey.trim() === '') throw new RequestError('--api-key', 'is empty; give a key, or leave the flag out to serve without one');
      if (flags.servedModelName !== undefined && flags.servedModelName.trim() === '') throw new RequestError('--served-model-name', 'is empty');
      if (flags.corsOrigin !== undefined && flags.corsOrigin.trim() === '') throw new RequestError('--cors-origin', 'is empty');
      const common: RouterOptions = { apiKey: flags.apiKey, maxBody: flags.maxBody, parse: flags.parse, upstreams: flags.upstream ?? [], corsOrigin: flags.corsOrigin, ...(flags.requestLog ? { requestLog: { format: flags.logFormat, log: (line: string) => process.stderr.write(`${line}\n`) } } : {}) };
      refuseOwnAddress(common.upstreams ?? [], flags.host, flags.port);
      let server: MimoRouter;
      let engineLine = 'no local model';
      if (flags.model === NO_MODEL) {
        server = await createRouter(common);
      } else {
        const dir = flags.model ?? (await ensureDefaultModel(log));
        const withModel = await createServer({
          ...common,
          modelDir: dir,
          servedModelName: flags.servedModelName,
          backend: flags.backend,
          threads: flags.threads,
          maxBatch: flags.maxBatch,
          maxQueue: flags.maxQueue,
          mtp: flags.mtp,
          toolCallsInThinking: flags.toolCallsInThinking,
          unknownToolCalls: flags.unknownToolCalls,
          prefillChunk: flags.prefillChunk,
          defaultMaxTokens: flags.defaultMaxTokens,
          prefixCache: flags.prefixCache,
          kvDtype: flags.kvDtype,
          precision: flags.precision,
          grammarCompileTimeoutMs: flags.grammarCompileTimeout,
          ...(flags.cacheRam !== undefined ? { cacheRamBytes: flags.cacheRam } : {}),
          cacheCheckpointEvery: flags.cacheCheckpointEvery,
          ...(flags.cacheDir !== undefined ? { cacheDir: flags.cacheDir, cacheDiskBytes: flags.cacheDisk } : {}),
          onWarning: (w) => log(`mimo serve: warning: ${w}`),
        });
        if (!withModel.engine.tokenizer) log(`mimo serve: warning: ${dir} has no tokenizer.json — chat requests will be refused; /v1/completions takes token-id prompts only`);
        engineLine = `backend ${withModel.engine.model.backend.name}, batch ${flags.maxBatch}, MTP ${flags.mtp || 'off'}`;
        server = withModel;
      }
      for (const u of server.context.upstreams.values()) {
        log(`mimo serve: upstream ${u.name} → ${u.url} (model ${u.remoteModelId()}): ${u.up ? 'up' : `down (${u.lastError}); requests get 502 until it answers`}`);
      }
      const address = await server.app.listen({ host: flags.host, port: flags.port });
      log(`mimo serve: ${server.context.names().join(', ')} on ${address} (${engineLine})`);
      log(`mimo serve: OpenAI base URL ${address}/v1 · playground ${address}/`);
      const stop = () => {
        log('mimo serve: shutting down');
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
