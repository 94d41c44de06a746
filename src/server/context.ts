/**
 * What every route handler needs: the served models by name, metrics, and settings. Upstream (remote engine)
 * models register here too, so routing by `model` is one lookup.
 */
import type { ServerMetrics } from './metrics.js';
import type { LocalModel } from './local-model.js';
import { ApiError } from './errors.js';
import type { Upstream } from './upstream.js';

export class ServerContext {
  readonly locals = new Map<string, LocalModel>();
  /** Models served by other engines (`--upstream`), by the name clients send. */
  readonly upstreams = new Map<string, Upstream>();

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
   * The local model a request names.
   * @throws ApiError 404 naming the model and listing the served ones
   */
  local(name: string): LocalModel {
    const m = this.locals.get(name);
    if (m) return m;
    throw new ApiError(404, `The model '${name}' does not exist; this server serves: ${this.names().join(', ') || '(none)'}`, 'invalid_request_error', 'model', 'model_not_found');
  }
}
