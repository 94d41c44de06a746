/**
 * `mimo serve --upstream NAME=URL[#REMOTE_ID][,key=ENV]`: requests whose `model` is NAME go to another
 * OpenAI-compatible engine (SGLang, vLLM, llama-server, another `mimo serve`) at URL. The body is forwarded as
 * sent, `model` replaced by the upstream's own id; answers come back with `model` = NAME, streams relayed event by
 * event (a client that goes away aborts the upstream request at once). Raw MiMo text in chat completions is parsed
 * into reasoning / content / tool calls (upstream-parse.ts) unless `--no-parse`.
 * Errors: an upstream 4xx keeps its status in OpenAI's shape (message prefixed with the upstream's name), except
 * 401/403 (our key for the upstream is wrong: not the client's fault) which, like 5xx, unreachable and timed-out
 * upstreams, become 502 naming the upstream and its URL. Health: `GET URL/v1/models` at start and every
 * `healthIntervalMs` marks the upstream up or down (also a failed connection on a request marks it down), shown in
 * `/health`, `/v1/models` and the `mimo_upstream_up` metric.
 * An upstream whose `/v1/models` does not list the id sent stays up (it may accept it anyway): `/health` says
 * `remote_model_listed: false` and one line is logged when that is found. On `/v1/messages`, an upstream that
 * answers 404 (it speaks only OpenAI's API) or with something that is not an Anthropic message gives a 502 saying
 * so and pointing at `/v1/chat/completions`.
 * The id sent upstream: REMOTE_ID when given; else, when the upstream's last `/v1/models` listed exactly one model
 * and not NAME, that one (so `flash=http://gpu-node:30000` works whatever SGLang's served name); else NAME.
 * Loops (an upstream that is this server, or servers pointing at each other): every server has a random instance
 * id; a proxied request carries `x-mimo-via: ID1,ID2,…` (the ids of the servers it passed through, each proxy
 * appending its own), and a server that finds its own id there (or more than {@link MAX_HOPS} ids) refuses it at
 * once with 508 Loop Detected naming the chain; a proxy maps an upstream 508 (or a 502 that is itself a loop) to
 * 502 "upstream loop: …" and marks that upstream down until a request through it succeeds. {@link refuseOwnAddress}
 * refuses at start-up an `--upstream` that is the server's own listen address.
 * Source: issue 6; OpenAI API reference (errors, streaming); WHATWG "Server-sent events"; RFC 5842 §7.2 (508).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import { RequestError } from '../errors.js';
import { ApiError } from './errors.js';
import { hintsOf, parseRawChatCompletion, RawChatStream, type RawChatHints } from './upstream-parse.js';

type Json = Record<string, unknown>;

/** The proxied endpoints, as paths under the upstream's `/v1`. */
export type UpstreamEndpoint = 'chat/completions' | 'completions' | 'messages';

/** One `--upstream`. */
export interface UpstreamOptions {
  /** Model name clients send. */
  name: string;
  /** Base URL (`http://host:port` or `…/v1`); normalised to end with `/v1`. */
  url: string;
  /** Sent as `Authorization: Bearer KEY`. */
  apiKey?: string;
  /** The upstream's own model id (default: see the module comment). */
  remoteModel?: string;
}

/** Settings shared by all upstreams of a server. */
export interface UpstreamSettings {
  /** Parse raw MiMo text of chat completions (false = `--no-parse`). */
  parse: boolean;
  healthIntervalMs: number;
  healthTimeoutMs: number;
  /** Limit until an answer's headers (streaming) or its whole body (non-streaming) arrive. */
  requestTimeoutMs: number;
  /** Where notices go (one line each, no newline): default stderr. */
  log: (line: string) => void;
}

export const DEFAULT_UPSTREAM_SETTINGS: Readonly<UpstreamSettings> = {
  parse: true,
  healthIntervalMs: 10_000,
  healthTimeoutMs: 5_000,
  requestTimeoutMs: 600_000,
  log: (line) => process.stderr.write(`${line}\n`),
};

/** Header carrying the instance ids of the `mimo serve`s a proxied request passed through, oldest first. */
export const VIA_HEADER = 'x-mimo-via';
/** Most servers a request may pass through; a longer chain is refused like a loop. */
export const MAX_HOPS = 16;
const INSTANCE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** A fresh random instance id of a server (12 hex digits). */
export function newInstanceId(): string {
  return randomBytes(6).toString('hex');
}

/** The instance ids a request's `x-mimo-via` lists (entries that are not ids are dropped). */
export function viaOf(headers: IncomingHttpHeaders): string[] {
  const v = headers[VIA_HEADER];
  const s = Array.isArray(v) ? v.join(',') : (v ?? '');
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => INSTANCE_ID.test(x));
}

/**
 * The 508 (Loop Detected) for a request that reached server `instanceId` having passed through `via`, or null when
 * it may go on: refused when `via` lists this server already or has {@link MAX_HOPS} ids.
 */
export function loopError(instanceId: string, via: readonly string[]): ApiError | null {
  const chain = [...via, instanceId].join(' → ');
  if (via.includes(instanceId)) {
    return new ApiError(508, `loop detected: this request already passed through this server (mimo serve instance ${instanceId}); servers it passed through: ${chain}. An --upstream of one of them points back at a server before it, or at itself`, 'server_error', null, 'loop_detected');
  }
  if (via.length >= MAX_HOPS) return new ApiError(508, `loop detected: this request passed through ${via.length} servers (${chain}); at most ${MAX_HOPS} are allowed`, 'server_error', null, 'loop_detected');
  return null;
}

const LOOPBACK_NAMES = new Set(['localhost', '::1']);
const isLoopback = (host: string) => LOOPBACK_NAMES.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host) || host.endsWith('.localhost');
const isWildcard = (host: string) => host === '' || host === '0.0.0.0' || host === '::';

/** The `--upstream` whose URL is this server's own listen address `host`:`port` (port 0: unknown, none), if any. */
export function upstreamAtOwnAddress(upstreams: readonly UpstreamOptions[], host: string, port: number): UpstreamOptions | undefined {
  if (!port) return undefined;
  const listen = host.toLowerCase().replace(/^\[|\]$/g, '');
  const local = () => {
    const names = new Set([hostname().toLowerCase()]);
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(a.address.toLowerCase());
    return names;
  };
  return upstreams.find((u) => {
    const url = new URL(normaliseUpstreamUrl(u.url));
    if (Number(url.port || (url.protocol === 'https:' ? 443 : 80)) !== port) return false;
    const h = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
    if (h === listen) return true;
    if (isWildcard(listen)) return isLoopback(h) || isWildcard(h) || local().has(h);
    return (h === 'localhost' && isLoopback(listen)) || (listen === 'localhost' && isLoopback(h));
  });
}

/**
 * Refuse an `--upstream` that is this server's own listen address (call before listening).
 * @throws RequestError('--upstream') naming it
 */
export function refuseOwnAddress(upstreams: readonly UpstreamOptions[], host: string, port: number): void {
  const u = upstreamAtOwnAddress(upstreams, host, port);
  if (u) throw new RequestError(FLAG, `'${u.name}' points at this server itself (${normaliseUpstreamUrl(u.url)}, and it listens on ${host}:${port}): every request for it would come back here. Give the URL of another engine`);
}

const FLAG = '--upstream';
const FORMAT = 'NAME=URL[#REMOTE_ID][,key=ENV]';

/**
 * `http://host:port`, `http://host:port/` or `http://host:port/v1/` → `http://host:port/v1`.
 * @throws RequestError('--upstream') for a non-http(s) URL, credentials, a query or a fragment in it
 */
export function normaliseUpstreamUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new RequestError(FLAG, `${JSON.stringify(raw)} is not a URL; expected a base URL such as http://127.0.0.1:30000 or http://host:8000/v1`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RequestError(FLAG, `${JSON.stringify(raw)}: only http:// and https:// upstreams are supported`);
  if (u.username || u.password) throw new RequestError(FLAG, `${JSON.stringify(raw)}: do not put credentials in the URL; use ,key=ENV (the name of an environment variable holding the key)`);
  if (u.search || u.hash) throw new RequestError(FLAG, `${JSON.stringify(raw)}: a base URL has no query or fragment`);
  const p = u.pathname.replace(/\/+$/, '');
  return `${u.origin}${p.endsWith('/v1') ? p : `${p}/v1`}`;
}

/**
 * Parse one `--upstream NAME=URL[#REMOTE_ID][,key=ENV]`; the key is read from `env` now, so a missing variable
 * stops the server at start-up.
 * @throws RequestError('--upstream') naming what is wrong (format, name, URL, option, unset variable)
 */
export function parseUpstreamFlag(value: string, env: NodeJS.ProcessEnv = process.env): UpstreamOptions {
  const eq = value.indexOf('=');
  if (eq < 0) throw new RequestError(FLAG, `expected ${FORMAT}, got ${JSON.stringify(value)}`);
  const name = value.slice(0, eq).trim();
  if (!/^[^\s,=#]+$/.test(name)) throw new RequestError(FLAG, `${JSON.stringify(value)}: NAME (the model name clients send) must be non-empty, without spaces, ',', '=' or '#'; expected ${FORMAT}`);
  const [target = '', ...options] = value.slice(eq + 1).split(',');
  const hash = target.indexOf('#');
  const out: UpstreamOptions = { name, url: normaliseUpstreamUrl(hash < 0 ? target : target.slice(0, hash)) };
  if (hash >= 0) {
    const remote = target.slice(hash + 1).trim();
    if (!remote) throw new RequestError(FLAG, `${JSON.stringify(value)}: '#' must be followed by the upstream's model id`);
    out.remoteModel = remote;
  }
  for (const option of options) {
    const m = /^key=([A-Za-z_][A-Za-z0-9_]*)$/.exec(option.trim());
    if (!m) throw new RequestError(FLAG, `${JSON.stringify(value)}: unknown option ${JSON.stringify(option)}; the only option is key=ENV (an environment variable name)`);
    const key = env[m[1]!];
    if (key === undefined || key === '') throw new RequestError(FLAG, `${name}: environment variable ${m[1]} (from key=${m[1]}) is not set`);
    out.apiKey = key;
  }
  return out;
}

/** Prometheus series of the upstreams of one server. */
export class UpstreamMetrics {
  readonly up: Gauge<'upstream' | 'url'>;
  readonly requests: Counter<'upstream' | 'status'>;

  constructor(registry: Registry) {
    this.up = new Gauge({ name: 'mimo_upstream_up', help: 'Whether the upstream answered its last health check or request (1) or not (0)', labelNames: ['upstream', 'url'] as const, registers: [registry] });
    this.requests = new Counter({ name: 'mimo_upstream_requests_total', help: 'Requests proxied to an upstream, by the status returned to the client', labelNames: ['upstream', 'status'] as const, registers: [registry] });
  }
}

/** Status and message of an error body in any of the usual shapes (OpenAI, vLLM/SGLang, Anthropic, FastAPI). */
function errorInfo(text: string): { message: string; type?: string; param?: string; code?: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { message: text.trim().slice(0, 500) || '(empty body)' };
  }
  const b = body as Json;
  const e = (b?.error && typeof b.error === 'object' ? b.error : b) as Json;
  const str = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
  const message = str(e?.message) ?? str(b?.detail) ?? (typeof b?.error === 'string' ? b.error : undefined) ?? text.slice(0, 500);
  return { message, type: str(e?.type), param: str(e?.param), code: str(e?.code) };
}

/** The reason a fetch failed: undici puts the system error (ECONNREFUSED …) in `cause`. */
function describe(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.message ?? (e as Error)?.message ?? String(e);
}

/** Resolve once the response can take more data, or the client went away. */
async function drained(raw: ServerResponse): Promise<void> {
  if (raw.destroyed) return;
  await Promise.race([once(raw, 'drain'), once(raw, 'close')]);
}

/** One upstream engine: its health, its `/v1/models` entry, and the proxy. */
export class Upstream {
  /** Normalised base URL, ending with `/v1`. */
  readonly url: string;
  up = false;
  lastError: string | null = 'not checked yet';
  readonly created = Math.floor(Date.now() / 1000);
  /** The upstream's `/v1/models` entries at the last successful check. */
  private remoteCards: Json[] = [];
  /** Whether that list had the id sent upstream (null: no list seen yet). */
  private listed: boolean | null = null;
  /** Set when a request through this upstream came back to a server it had passed (cleared when one succeeds). */
  private loop: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | null = null;
  private readonly checkAbort = new AbortController();

  constructor(
    private readonly options: UpstreamOptions,
    private readonly settings: UpstreamSettings,
    private readonly metrics: UpstreamMetrics,
  ) {
    this.url = normaliseUpstreamUrl(options.url);
    this.metrics.up.set({ upstream: this.name, url: this.url }, 0);
  }

  get name(): string {
    return this.options.name;
  }

  /** Check once now (resolves when done, never rejects), then every `healthIntervalMs`. */
  start(): Promise<void> {
    this.timer ??= setInterval(() => void this.check(), this.settings.healthIntervalMs).unref();
    return this.check();
  }

  /** Stop the health checks (also one in flight). */
  stop(): void {
    clearInterval(this.timer);
    this.checkAbort.abort();
  }

  /** `GET URL/models`: up on a 2xx answer within `healthTimeoutMs`. */
  check(): Promise<void> {
    this.checking ??= (async () => {
      const signal = AbortSignal.any([this.checkAbort.signal, AbortSignal.timeout(this.settings.healthTimeoutMs)]);
      try {
        const res = await fetch(`${this.url}/models`, { headers: this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}, signal });
        const text = await res.text();
        if (!res.ok) return this.mark(false, `GET ${this.url}/models: HTTP ${res.status}: ${errorInfo(text).message}`);
        const data = (() => {
          try {
            return (JSON.parse(text) as { data?: unknown }).data;
          } catch {
            return undefined;
          }
        })();
        this.remoteCards = Array.isArray(data) ? data.filter((m): m is Json => typeof (m as Json)?.id === 'string') : [];
        this.noteListed(Array.isArray(data));
        this.mark(true, null);
      } catch (e) {
        if (this.checkAbort.signal.aborted) return;
        this.mark(false, `GET ${this.url}/models: ${signal.aborted ? `no answer within ${this.settings.healthTimeoutMs / 1000} s` : describe(e)}`);
      } finally {
        this.checking = null;
      }
    })();
    return this.checking;
  }

  /** Up or down with the reason; an upstream found looping stays down (with the loop as its error) until cleared. */
  private mark(up: boolean, error: string | null): void {
    this.up = up && this.loop === null;
    this.lastError = this.loop ?? error;
    this.metrics.up.set({ upstream: this.name, url: this.url }, this.up ? 1 : 0);
  }

  /** After a `/v1/models` answer (`hasList`: it had a `data` array): is the id we send in it? Logged once when not. */
  private noteListed(hasList: boolean): void {
    const id = this.remoteModelId();
    const listed = hasList ? this.remoteCards.some((c) => c.id === id) : null;
    if (listed === false && this.listed !== false) {
      const ids = this.remoteCards.map((c) => c.id as string);
      this.settings.log(
        `mimo serve: upstream '${this.name}': ${this.url}/models does not list model '${id}' (it lists: ${ids.join(', ') || 'none'}); requests are still sent with model '${id}' and the upstream may accept it; if not, give its id with --upstream ${this.name}=URL#ID`,
      );
    }
    this.listed = listed;
  }

  /** The model id sent upstream (see the module comment). */
  remoteModelId(): string {
    if (this.options.remoteModel) return this.options.remoteModel;
    const ids = this.remoteCards.map((c) => c.id as string);
    return ids.length === 1 && !ids.includes(this.name) ? ids[0]! : this.name;
  }

  /**
   * `/health` entry: `remote_model` is the id sent upstream, `remote_model_listed` whether the upstream's last
   * `/v1/models` listed it (null before a list was seen).
   */
  health(): { url: string; up: boolean; last_error: string | null; remote_model: string; remote_model_listed: boolean | null } {
    return { url: this.url, up: this.up, last_error: this.lastError, remote_model: this.remoteModelId(), remote_model_listed: this.listed };
  }

  /** `/v1/models` entry; `max_model_len` copied from the upstream's own entry when it gives one. */
  card(): Json {
    const remote = this.remoteModelId();
    const own = this.remoteCards.find((c) => c.id === remote);
    return {
      id: this.name,
      object: 'model',
      created: this.created,
      owned_by: `upstream:${this.url}`,
      ...(typeof own?.max_model_len === 'number' ? { max_model_len: own.max_model_len } : {}),
      mimo: { upstream: this.url, up: this.up, remote_model: remote },
    };
  }

  /**
   * Forward one request and answer the client (JSON returned for fastify to send, or a relayed stream).
   * @param via the instance ids for `x-mimo-via`: those the request came with, then this server's
   * @throws ApiError: the upstream's 4xx kept, 502 for everything the client cannot fix (see the module comment)
   */
  async proxy(endpoint: UpstreamEndpoint, req: FastifyRequest, reply: FastifyReply, via: readonly string[]): Promise<unknown> {
    const body = req.body as Json;
    const stream = body.stream === true;
    const hints = endpoint === 'chat/completions' && this.settings.parse ? hintsOf(body) : null;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.settings.requestTimeoutMs);
    const clientGone = () => {
      if (!reply.raw.writableFinished) controller.abort();
    };
    reply.raw.on('close', clientGone);
    const count = (status: number) => this.metrics.requests.inc({ upstream: this.name, status: String(status) });
    try {
      let res: Response;
      try {
        res = await fetch(`${this.url}/${endpoint}`, { method: 'POST', headers: this.headers(req, endpoint, stream, via), body: JSON.stringify({ ...body, model: this.remoteModelId() }), signal: controller.signal });
      } catch (e) {
        throw this.unreachable(e, timedOut);
      }
      if (!res.ok) throw this.httpError(endpoint, res.status, await res.text().catch((e: unknown) => describe(e)));
      this.loop = null;
      this.mark(true, null);
      if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
        let text: string;
        try {
          text = await res.text();
        } catch (e) {
          throw this.unreachable(e, timedOut);
        }
        let json: Json;
        try {
          json = JSON.parse(text) as Json;
        } catch {
          throw new ApiError(502, `upstream '${this.name}' at ${this.url} answered ${endpoint} with something that is not JSON: ${text.slice(0, 200)}`, 'server_error', null, 'upstream_error');
        }
        if (endpoint === 'messages' && json.type !== 'message') throw this.notMessages(`answered with JSON that is not an Anthropic message (no "type": "message"): ${text.slice(0, 200)}`);
        if (typeof json.model === 'string') json.model = this.name;
        count(200);
        return hints ? parseRawChatCompletion(json, hints) : json;
      }
      clearTimeout(timer); // a stream may run as long as it generates
      count(200);
      await this.relay(endpoint, res, reply, hints);
      return reply;
    } catch (e) {
      if (controller.signal.aborted && !timedOut) {
        // The client went away: nothing to answer.
        if (!reply.sent) reply.hijack();
        return reply;
      }
      count(e instanceof ApiError ? e.status : 500);
      throw e;
    } finally {
      clearTimeout(timer);
      reply.raw.off('close', clientGone);
    }
  }

  private headers(req: FastifyRequest, endpoint: UpstreamEndpoint, stream: boolean, via: readonly string[]): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json', [VIA_HEADER]: via.join(',') };
    if (this.options.apiKey) h.authorization = `Bearer ${this.options.apiKey}`;
    if (endpoint === 'messages') {
      for (const k of ['anthropic-version', 'anthropic-beta']) {
        const v = req.headers[k];
        if (typeof v === 'string') h[k] = v;
      }
    }
    return h;
  }

  private unreachable(e: unknown, timedOut: boolean): ApiError {
    if (timedOut) return new ApiError(502, `upstream '${this.name}' at ${this.url} did not answer within ${this.settings.requestTimeoutMs / 1000} s`, 'server_error', null, 'upstream_timeout');
    const reason = describe(e);
    this.mark(false, reason);
    return new ApiError(502, `upstream '${this.name}' at ${this.url} is unreachable: ${reason}`, 'server_error', null, 'upstream_unavailable');
  }

  /** The 502 of a `/v1/messages` request to an upstream that does not speak the Messages API. */
  private notMessages(what: string): ApiError {
    return new ApiError(
      502,
      `upstream '${this.name}' at ${this.url} does not serve the Anthropic Messages API (/v1/messages): it ${what}. Use /v1/chat/completions for model '${this.name}'`,
      'server_error',
      null,
      'upstream_no_messages_api',
    );
  }

  private httpError(endpoint: UpstreamEndpoint, status: number, text: string): ApiError {
    const info = errorInfo(text);
    const LOOP = 'upstream loop: ';
    if (status === 508 || (status === 502 && (info.code === 'upstream_loop' || info.message.startsWith(LOOP)))) {
      // 508: the upstream found itself in x-mimo-via; 502 loop: a server further on did.
      const message =
        status === 508
          ? `${LOOP}upstream '${this.name}' at ${this.url} leads back to a server this request already passed through: ${info.message}`
          : `${LOOP}upstream '${this.name}' at ${this.url} → ${info.message.startsWith(LOOP) ? info.message.slice(LOOP.length) : info.message}`;
      this.loop = message;
      this.mark(false, message);
      return new ApiError(502, message, 'server_error', null, 'upstream_loop');
    }
    // 404/405 on /v1/messages: no such route there (not an unknown model, which a mimo serve also answers with 404).
    if (endpoint === 'messages' && (status === 404 || status === 405) && !/model/i.test(info.message)) return this.notMessages(`answered HTTP ${status}: ${info.message}`);
    if (status === 401 || status === 403) {
      return new ApiError(502, `upstream '${this.name}' at ${this.url} refused this server's credentials (HTTP ${status}: ${info.message}); give its key with --upstream ${this.name}=URL,key=ENV`, 'server_error', null, 'upstream_error');
    }
    if (status >= 400 && status < 500) return new ApiError(status, `upstream '${this.name}': ${info.message}`, info.type ?? 'invalid_request_error', info.param ?? null, info.code ?? null);
    return new ApiError(502, `upstream '${this.name}' at ${this.url} failed: HTTP ${status}: ${info.message}`, 'server_error', null, 'upstream_error');
  }

  /**
   * Relay an SSE answer event by event: `data:` JSON gets `model` = NAME (and, for chat, the raw-text parsing);
   * `event:` names, comments, `[DONE]` and non-JSON data pass as they are. If the upstream breaks off, an error
   * event (OpenAI's `{error}` then `[DONE]`, or Anthropic's `event: error`) ends the stream.
   */
  private async relay(endpoint: UpstreamEndpoint, res: Response, reply: FastifyReply, hints: RawChatHints | null): Promise<void> {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const chat = hints ? new RawChatStream(hints) : null;
    const write = async (s: string) => {
      if (!raw.destroyed && !raw.write(s)) await drained(raw);
    };
    const sendJson = (obj: unknown, event?: string) => write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(obj)}\n\n`);
    let ended = false;
    /** Set when a /v1/messages stream turned out not to be Anthropic events: stop relaying. */
    let refused = false;
    let anthropicSeen = endpoint !== 'messages';
    const finish = async () => {
      if (ended) return;
      ended = true;
      for (const c of chat?.end() ?? []) await sendJson(c);
    };
    const onEvent = async (block: string) => {
      const lines = block.split('\n');
      const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(l.startsWith('data: ') ? 6 : 5));
      const event = lines.find((l) => l.startsWith('event:'))?.slice(6).trim();
      if (data.length === 0) return write(`${block}\n\n`);
      const text = data.join('\n');
      if (text.trim() === '[DONE]') {
        await finish();
        return write('data: [DONE]\n\n');
      }
      let obj: Json;
      try {
        obj = JSON.parse(text) as Json;
      } catch {
        return write(`${block}\n\n`);
      }
      if (!anthropicSeen) {
        if (typeof obj.type !== 'string') {
          refused = true;
          return sendJson(this.notMessages(`streamed events that are not Anthropic Messages API events (no "type"): ${text.slice(0, 200)}`).toAnthropic(), 'error');
        }
        anthropicSeen = true;
      }
      if (typeof obj.model === 'string') obj.model = this.name;
      const message = obj.message as Json | undefined;
      if (obj.type === 'message_start' && typeof message?.model === 'string') message.model = this.name;
      for (const out of chat ? chat.chunk(obj) : [obj]) await sendJson(out, event);
    };
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf = (buf + decoder.decode(piece, { stream: true })).replace(/\r\n/g, '\n');
        for (let sep = buf.indexOf('\n\n'); sep >= 0; sep = buf.indexOf('\n\n')) {
          const block = buf.slice(0, sep);
          buf = buf.slice(sep + 2);
          await onEvent(block);
          if (refused) break;
        }
        if (refused) break; // leaving the loop cancels the upstream's body
      }
      if (refused) return;
      if (buf.trim()) await onEvent(buf.trimEnd());
      await finish();
    } catch (e) {
      if (!raw.destroyed) {
        const reason = describe(e);
        this.mark(false, reason);
        const err = new ApiError(502, `upstream '${this.name}' at ${this.url} broke off the stream: ${reason}`, 'server_error', null, 'upstream_error');
        if (endpoint === 'messages') await sendJson(err.toAnthropic(), 'error');
        else {
          await sendJson(err.toJSON());
          await write('data: [DONE]\n\n');
        }
      }
    } finally {
      raw.end();
    }
  }
}
