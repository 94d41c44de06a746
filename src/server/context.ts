/**
 * What every route handler needs: the served models by name, metrics, and settings. Upstream (remote engine)
 * models register here too, so routing by `model` is one lookup. The context also holds the server's random
 * instance id, which proxied requests carry in `x-mimo-via` so that a loop through upstreams is refused at once
 * (upstream.ts), and makes the `/health` answer.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerMetrics } from './metrics.js';
import type { LocalModel } from './local-model.js';
import { ApiError } from './errors.js';
import { loopError, newInstanceId, viaOf, type Upstream, type UpstreamEndpoint } from './upstream.js';

/** `/health`: `ok` when all is up; `degraded` when something can be served but an upstream is down;
 * `unavailable` (HTTP 503) when nothing can be served (no local model, no upstream up). */
export interface HealthAnswer {
  httpStatus: 200 | 503;
  body: { status: 'ok' | 'degraded' | 'unavailable'; models: string[]; upstreams: Record<string, ReturnType<Upstream['health']>> };
}

export class ServerContext {
  readonly locals = new Map<string, LocalModel>();
  /** Models served by other engines (`--upstream`), by the name clients send. */
  readonly upstreams = new Map<string, Upstream>();
  /** This server's id in `x-mimo-via` (random per server). */
  readonly instanceId = newInstanceId();

  constructor(readonly metrics: ServerMetrics) {}

  /** All served model names, local first, then upstream ones. */
  names(): string[] {
    return [...this.locals.keys(), ...this.upstreams.keys()];
  }

  /** The upstream a request body's `model` names, if it names one (checked before the local routes run). */
  upstreamFor(body: unknown): Upstream | undefined {
    const model = (body as { model?: unknown } | null | undefined)?.model;
    return typeof model === 'string' ? this.upstreams.get(model) : undefined;
  }

  /**
   * Route a POST by its `model` before any local handler: the proxied answer when it names an upstream, undefined
   * when a local handler should take it. A request that already passed through this server (its `x-mimo-via` lists
   * our id) is answered here with 508 Loop Detected, in OpenAI's error shape (Anthropic's on /v1/messages), and not
   * logged: the proxy that sent it logs the loop as its 502.
   */
  route(endpoint: UpstreamEndpoint, req: FastifyRequest, reply: FastifyReply): Promise<unknown> | undefined {
    const via = viaOf(req.headers);
    const loop = loopError(this.instanceId, via);
    if (loop) return Promise.resolve(reply.status(loop.status).send(endpoint === 'messages' ? loop.toAnthropic() : loop.toJSON()));
    return this.upstreamFor(req.body)?.proxy(endpoint, req, reply, [...via, this.instanceId]);
  }

  /** The `/health` answer (see {@link HealthAnswer}). */
  health(): HealthAnswer {
    const upstreams = [...this.upstreams.values()];
    const up = upstreams.filter((u) => u.up).length;
    const status = this.locals.size === 0 && up === 0 ? 'unavailable' : up === upstreams.length ? 'ok' : 'degraded';
    return {
      httpStatus: status === 'unavailable' ? 503 : 200,
      body: { status, models: this.names(), upstreams: Object.fromEntries(upstreams.map((u) => [u.name, u.health()])) },
    };
  }

  /**
   * The local model a request names.
   * @throws ApiError 404 naming the model and listing the served ones
   */
  local(name: string): LocalModel {
    const m = this.locals.get(name);
    if (m) return m;
    throw new ApiError(404, `The model '${name}' does not exist; this server serves: ${this.names().join(', ') || '(none)'}`, 'invalid_request_error', 'model', 'model_not_found');
  }
}
