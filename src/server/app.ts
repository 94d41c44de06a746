/**
 * `mimo serve`: the OpenAI- and Anthropic-compatible HTTP server on fastify. Routes: `GET /v1/models`,
 * `POST /v1/chat/completions`, `POST /v1/completions`, `POST /v1/messages`, `GET /health`, `GET /metrics`, and the
 * web playground at `/`. Every error leaves in OpenAI's JSON shape (Anthropic's on /v1/messages) with the right
 * status; a bad request never takes the server down. A POST whose `model` names an upstream (`--upstream`) is
 * proxied to that engine before any local handler runs (upstream.ts); `/v1/models` and `/health` list both kinds.
 * Source: issue 5, issue 6; OpenAI and Anthropic API references.
 */
import type { Precision } from '../model/precision.js';
import { defaultCacheRamBytes } from '../engine/prefix-cache/for-engine.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import cors from '@fastify/cors';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { MiMoEngine } from '../engine/engine.js';
import type { BackendChoice } from '../kernels/select.js';
import { RequestError, ServiceUnavailableError } from '../errors.js';
import { packageRoot } from '../util/package-root.js';
import { bodyTooLarge, registerJsonBody } from './body.js';
import { ServerContext } from './context.js';
import { ApiError, toApiError } from './errors.js';
import { LocalModel } from './local-model.js';
import { ServerMetrics } from './metrics.js';
import { formatRequestLog, RequestRecord, withRequestRecord, type LogFormat } from './request-log.js';
import { chatCompletions } from './routes/chat.js';
import { completions } from './routes/completions.js';
import { countTokens } from './routes/count-tokens.js';
import { messages } from './routes/messages.js';
import { DEFAULT_UPSTREAM_SETTINGS, Upstream, UpstreamMetrics, type UpstreamEndpoint, type UpstreamOptions, type UpstreamSettings } from './upstream.js';

/** Settings of the HTTP layer and the upstreams: all a server without a local model takes ({@link createRouter}). */
export interface RouterOptions {
  /** Require `Authorization: Bearer KEY` (or `x-api-key: KEY`) on /v1 routes. */
  apiKey?: string;
  /** Largest request body, bytes (default 4 MiB); larger get 413. */
  maxBody?: number;
  /** Parse reasoning and tool calls, of the local model and of upstreams' raw text (default true; false = `--no-parse`). */
  parse?: boolean;
  /** Access-Control-Allow-Origin for browser clients (default `*`). */
  corsOrigin?: string;
  /** Return well-formed tool calls the model wrote inside its reasoning as tool calls (default true). */
  toolCallsInThinking?: boolean;
  /** A call of a tool the request did not offer: 'text' (default) keeps it as text, 'call' returns it as a call. */
  unknownToolCalls?: 'text' | 'call';
  /** Other engines whose models this server fronts (`--upstream`, see upstream.ts). */
  upstreams?: UpstreamOptions[];
  /** Print one line per request (method, path, status, tokens, TTFT, duration) to `log` in this format; default none. */
  requestLog?: { format: LogFormat; log: (line: string) => void };
  /** Health-check period and timeout, request timeout of the upstreams (defaults: 10 s, 5 s, 600 s). */
  upstreamSettings?: Partial<Omit<UpstreamSettings, 'parse'>>;
}

/** Constant-time key comparison (no timing hint of how many leading characters matched). */
function sameKey(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Metrics label of a request: its route, or `unmatched` for unknown paths (also those the playground's catch-all refused). */
function endpointLabel(route: string | undefined, status: number): string {
  if (route === undefined || (route === '/*' && status === 404)) return 'unmatched';
  return route === '/*' ? 'playground' : route;
}

export interface ServerOptions extends RouterOptions {
  /** Checkpoint directory of the local model. */
  modelDir: string;
  /** Name clients use in `model` (default: the directory's base name). */
  servedModelName?: string;
  backend?: BackendChoice;
  threads?: number;
  /** Sequences per batched step (default 8). */
  maxBatch?: number;
  /** Requests waiting beyond the batch (default 64); more get 429. */
  maxQueue?: number;
  /** MTP drafts per step for every request (default 0 = off). */
  mtp?: number;
  /** Prompt tokens per prefill chunk (default 256). */
  prefillChunk?: number;
  /** max_tokens when a chat request gives none (default 4096). */
  defaultMaxTokens?: number;
  /** Share earlier requests' KV through the prefix cache (default true; false = `--no-prefix-cache`). */
  prefixCache?: boolean;
  /** Prefix-cache RAM budget in bytes (default: a quarter of the machine's memory, at most 8 GiB). */
  cacheRamBytes?: number;
  /** A prefix-cache snapshot every this many tokens inside long prompts and generations (default 512). */
  cacheCheckpointEvery?: number;
  /** Storage dtype of KV caches and prefix-cache pages (`--kv-dtype`, default f32). */
  kvDtype?: 'f32' | 'bf16';
  /** 'exact' (default) or 'fast': 8-bit activations for a GGUF's Q8_0/Q4_0/… weights (MiMoEngine.load `precision`). */
  precision?: Precision;
  /** Disk tier of the prefix cache (`--cache-dir`): evicted entries and, at close, every entry are written there. */
  cacheDir?: string;
  /** The disk tier's budget in bytes (default 16 GiB). */
  cacheDiskBytes?: number;
  /** Longest a request's grammar may take to compile, ms (`--grammar-compile-timeout`, default 10 000). */
  grammarCompileTimeoutMs?: number;
  /** Load warnings (backend fallback), as MiMoEngine.load's onWarning; default: one process warning. */
  onWarning?: (message: string) => void;
}

/** A server without a local model: upstreams only. */
export interface MimoRouter {
  app: FastifyInstance;
  context: ServerContext;
  /** Stop health checks and generation, close the listener. */
  close(): Promise<void>;
}

export interface MimoServer extends MimoRouter {
  engine: MiMoEngine;
}

/** Playground files are served by path, and only names like these: lower-case kebab-case, in folders, no `..` or `%`. */
const PLAYGROUND_NAME = /^[a-z0-9-]+(\/[a-z0-9-]+)*\.(js|css|html)$/;
const CONTENT_TYPES: Readonly<Record<string, string>> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/**
 * Load the model and build the server (not listening yet: call `app.listen`).
 * @throws ConfigError / CheckpointError for a bad checkpoint; RequestError naming the option for bad settings
 */
export async function createServer(opts: ServerOptions): Promise<MimoServer> {
  const name = opts.servedModelName ?? path.basename(path.resolve(opts.modelDir));
  checkUpstreamNames(opts.upstreams ?? [], name);
  const engine = MiMoEngine.load(opts.modelDir, { backend: opts.backend, threads: opts.threads, ...(opts.kvDtype ? { kvDtype: opts.kvDtype } : {}), ...(opts.precision ? { precision: opts.precision } : {}), ...(opts.grammarCompileTimeoutMs !== undefined ? { grammarCompileTimeoutMs: opts.grammarCompileTimeoutMs } : {}), ...(opts.onWarning ? { onWarning: opts.onWarning } : {}) });
  const metrics = new ServerMetrics();
  const ctx = new ServerContext(metrics);
  const local = new LocalModel(name, engine, {
    maxBatch: opts.maxBatch ?? 8,
    maxQueue: opts.maxQueue ?? 64,
    mtp: opts.mtp ?? 0,
    parse: opts.parse ?? true,
    toolCallsInThinking: opts.toolCallsInThinking ?? true,
    unknownToolCalls: opts.unknownToolCalls ?? 'text',
    defaultMaxTokens: opts.defaultMaxTokens ?? 4096,
    prefillChunk: opts.prefillChunk ?? 256,
    prefixCache: opts.prefixCache === false ? null : {
            ramBytes: opts.cacheRamBytes ?? defaultCacheRamBytes(),
            checkpointEvery: opts.cacheCheckpointEvery ?? 512,
            ...(opts.cacheDir !== undefined ? { dir: opts.cacheDir, diskBytes: opts.cacheDiskBytes } : {}),
            ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
          },
  });
  ctx.locals.set(name, local);
  metrics.watch(name, () => local.scheduler.state);
  if (local.prefixCache) metrics.watchPrefixCache(name, local.prefixCache);
  return { ...(await buildServer(ctx, opts)), engine };
}

/**
 * A server with no local model that fronts upstream engines only (`mimo serve --model none --upstream …`).
 * @throws RequestError('--upstream') when none is given or names repeat
 */
export async function createRouter(opts: RouterOptions): Promise<MimoRouter> {
  if (!opts.upstreams?.length) throw new RequestError('--upstream', 'a server without a local model (--model none) needs at least one --upstream NAME=URL');
  checkUpstreamNames(opts.upstreams, null);
  return buildServer(new ServerContext(new ServerMetrics()), opts);
}

/** @throws RequestError('--upstream') for a name given twice or equal to the local model's */
function checkUpstreamNames(upstreams: readonly UpstreamOptions[], localName: string | null): void {
  const seen = new Set<string>();
  for (const u of upstreams) {
    if (u.name === localName) throw new RequestError('--upstream', `'${u.name}' is also the local model's name; give the upstream another NAME (or the local model --served-model-name)`);
    if (seen.has(u.name)) throw new RequestError('--upstream', `'${u.name}' is given twice`);
    seen.add(u.name);
  }
}

/**
 * The file a playground URL path names (`name`: the path without its leading `/`, still percent-encoded), or null
 * when it matches no file: the name must match PLAYGROUND_NAME, resolve (symlinks followed) inside `dir` and be a
 * regular file. Nothing is decoded, so `%2e%2e` or `..%2F` never get past the name check.
 */
async function playgroundFile(dir: string, name: string): Promise<string | null> {
  if (!PLAYGROUND_NAME.test(name)) return null;
  try {
    const root = await fs.promises.realpath(dir);
    const file = await fs.promises.realpath(path.join(root, name));
    if (!file.startsWith(root + path.sep) || !(await fs.promises.stat(file)).isFile()) return null;
    return CONTENT_TYPES[path.extname(file)] === undefined ? null : file;
  } catch {
    return null;
  }
}

/** Routes, hooks and upstreams around a context whose local models are registered already. */
async function buildServer(ctx: ServerContext, opts: RouterOptions): Promise<MimoRouter> {
  const metrics = ctx.metrics;
  const settings: UpstreamSettings = { ...DEFAULT_UPSTREAM_SETTINGS, ...opts.upstreamSettings, parse: opts.parse ?? true };
  const upstreamMetrics = new UpstreamMetrics(metrics.registry);
  for (const u of opts.upstreams ?? []) ctx.upstreams.set(u.name, new Upstream(u, settings, upstreamMetrics));

  const bodyLimit = opts.maxBody ?? 4 * 1024 * 1024;
  const app = Fastify({ bodyLimit, logger: false, return503OnClosing: true });
  registerJsonBody(app);
  const isAnthropic = (req: FastifyRequest) => req.url.startsWith('/v1/messages');
  const sendError = (req: FastifyRequest, reply: FastifyReply, e: unknown) => {
    const err = (e as { code?: unknown })?.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? bodyTooLarge(bodyLimit) : toApiError(e);
    // A 500 is our bug (stack); a 502 is an upstream's failure (one line).
    if (err.status >= 500) process.stderr.write(`mimo serve: ${req.method} ${req.url}: ${err.status === 502 ? err.message : ((e as Error)?.stack ?? String(e))}\n`);
    if (reply.sent || reply.raw.headersSent) return;
    if (err.status === 429 || err.status === 503) void reply.header('retry-after', '1');
    void reply.status(err.status).send(isAnthropic(req) ? err.toAnthropic() : err.toJSON());
  };

  // Browser clients on other origins (chat UIs), as vLLM and llama-server allow; `--cors-origin` narrows it.
  await app.register(cors, { origin: opts.corsOrigin ?? '*', allowedHeaders: ['authorization', 'content-type', 'x-api-key', 'anthropic-version', 'anthropic-beta', 'openai-organization'] });
  const records = new WeakMap<FastifyRequest, RequestRecord>();
  app.addHook('onRequest', async (req, reply) => {
    const record = new RequestRecord();
    records.set(req, record);
    reply.raw.on('close', () => {
      metrics.requests.inc({ endpoint: endpointLabel(req.routeOptions.url, reply.raw.statusCode), status: String(reply.raw.statusCode) });
      const rl = opts.requestLog;
      if (rl) rl.log(formatRequestLog(rl.format, { method: req.method, path: req.url.split('?')[0]!, status: reply.raw.statusCode, durationMs: performance.now() - record.startMs, record }));
    });
    if (opts.apiKey === undefined || req.method === 'OPTIONS' || !req.url.startsWith('/v1/')) return;
    const auth = req.headers.authorization;
    const bearer = auth && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '') : undefined;
    const key = bearer ?? req.headers['x-api-key'];
    const how = isAnthropic(req) ? 'send x-api-key: <key> (or Authorization: Bearer <key>)' : 'send Authorization: Bearer <key> or x-api-key: <key>';
    if (key === undefined) throw new ApiError(401, `missing API key: ${how}`, 'invalid_request_error', null, 'invalid_api_key');
    if (!sameKey(String(key), opts.apiKey)) throw new ApiError(401, 'incorrect API key provided (checked the x-api-key or Authorization: Bearer header)', 'invalid_request_error', null, 'invalid_api_key');
  });
  app.setErrorHandler((e, req, reply) => sendError(req, reply, e));
  app.setNotFoundHandler((req, reply) => sendError(req, reply, new ApiError(404, `no route ${req.method} ${req.url.split('?')[0]}`, 'invalid_request_error', null, 'not_found')));

  const upstreams = [...ctx.upstreams.values()];
  app.get('/health', async (_req, reply) => {
    const health = ctx.health();
    return reply.status(health.httpStatus).send(health.body);
  });
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get('/v1/models', async () => ({ object: 'list', data: [...[...ctx.locals.values()].map((m) => m.card()), ...upstreams.map((u) => u.card())] }));
  app.get('/v1/models/:id', async (req) => {
    const id = (req.params as { id: string }).id;
    return ctx.upstreams.get(id)?.card() ?? ctx.local(id).card();
  });
  // Routing by `model`: an upstream's name is proxied before the local handler (and its validation) runs; a request
  // that looped back to this server (x-mimo-via) is refused with 508 first.
  type Handler = (ctx: ServerContext, req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
  const byModel = (endpoint: UpstreamEndpoint, local: Handler) => (req: FastifyRequest, reply: FastifyReply) =>
    ctx.route(endpoint, req, reply) ?? withRequestRecord(records.get(req) ?? new RequestRecord(), () => local(ctx, req, reply));
  app.post('/v1/chat/completions', byModel('chat/completions', chatCompletions));
  app.post('/v1/completions', byModel('completions', completions));
  app.post('/v1/messages', byModel('messages', messages));
  app.post('/v1/messages/count_tokens', (req, reply) => countTokens(ctx, req, reply));
  // Empty every local model's prefix cache (behind the API key like every /v1 route).
  app.post('/v1/cache/reset', async () => {
    const models: string[] = [];
    for (const m of ctx.locals.values()) {
      if (!m.prefixCache) continue;
      m.prefixCache.reset();
      models.push(m.name);
    }
    return { object: 'cache.reset', models };
  });
  // The playground: `/` is its index.html; any other GET that no route above takes is the path of a file under playground/.
  const playgroundDir = path.join(packageRoot(), 'playground');
  app.get('/', async (_req, reply) => {
    const file = await playgroundFile(playgroundDir, 'index.html');
    if (file === null) throw new ApiError(404, `playground file index.html is missing from ${playgroundDir}`, 'invalid_request_error', null, 'not_found');
    return reply.type(CONTENT_TYPES['.html']!).send(await fs.promises.readFile(file));
  });
  app.get('/*', async (req, reply) => {
    const urlPath = req.url.split('?')[0]!;
    const file = await playgroundFile(playgroundDir, urlPath.slice(1));
    if (file === null) throw new ApiError(404, `no route ${req.method} ${urlPath}`, 'invalid_request_error', null, 'not_found');
    return reply.type(CONTENT_TYPES[path.extname(file)]!).send(await fs.promises.readFile(file));
  });

  await Promise.all(upstreams.map((u) => u.start()));
  return {
    app,
    context: ctx,
    async close() {
      for (const u of upstreams) u.stop();
      for (const m of ctx.locals.values()) m.scheduler.failAll(new ServiceUnavailableError('the server is shutting down; this request was cut off before it finished — retry it'));
      await app.close();
      for (const m of ctx.locals.values()) await m.encoder?.close();
      // Every prefix-cache entry goes to the disk tier, so a restart resumes without prefilling again.
      for (const m of ctx.locals.values()) m.prefixCache?.flushToDisk();
    },
  };
}
