/**
 * API errors in OpenAI's JSON shape (`{ error: { message, type, param, code } }`) with the HTTP status a client
 * expects: 400 invalid parameter (named in `param`), 401 bad or missing API key, 404 unknown model or route,
 * 413 body too large, 429 queue full, 502 upstream failure, 500 only for our own bugs. Anthropic-style routes wrap
 * the same information as `{ type: 'error', error: { type, message } }`.
 * Source: OpenAI API reference "Error codes"; Anthropic Messages API "Errors".
 */
import { MimoError, QueueFullError, RequestError, ServiceUnavailableError } from '../errors.js';

export class ApiError extends MimoError {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  /** OpenAI error body. */
  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  /** Anthropic error body (type names from the Messages API). */
  toAnthropic(): { type: 'error'; error: { type: string; message: string } } {
    const type =
      this.status === 401 ? 'authentication_error' : this.status === 404 ? 'not_found_error' : this.status === 413 ? 'request_too_large' : this.status === 429 ? 'rate_limit_error' : this.status >= 500 ? 'api_error' : 'invalid_request_error';
    return { type: 'error', error: { type, message: this.message } };
  }
}

/** 400 naming the parameter. */
export function invalidParam(param: string, message: string): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, 'invalid_parameter');
}

/**
 * Map any error to an ApiError: our RequestError → 400 naming its parameter, QueueFullError → 429, fastify's
 * body-size and JSON-syntax errors → 413 / 400, anything else → 500 (a bug: the message says so).
 */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof RequestError) return invalidParam(e.param, e.message);
  if (e instanceof QueueFullError) return new ApiError(429, e.message, 'rate_limit_exceeded', null, 'queue_full');
  if (e instanceof ServiceUnavailableError) return new ApiError(503, e.message, 'server_error', null, 'service_unavailable');
  const fe = e as { code?: string; statusCode?: number; message?: string };
  if (fe?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new ApiError(413, `request body too large: ${fe.message}`, 'invalid_request_error', null, 'request_too_large');
  if (fe?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new ApiError(415, `${fe.message}; send Content-Type: application/json`, 'invalid_request_error', null, 'unsupported_media_type');
  if (fe?.statusCode === 400 || fe?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || e instanceof SyntaxError) {
    return new ApiError(400, `request body is not valid JSON: ${fe.message}`, 'invalid_request_error', null, 'invalid_json');
  }
  if (fe?.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return new ApiError(fe.statusCode, fe.message ?? 'bad request', 'invalid_request_error');
  if (e instanceof MimoError) return new ApiError(500, `${e.name}: ${e.message}`, 'server_error');
  return new ApiError(500, `internal error: ${(e as Error)?.message ?? String(e)}`, 'server_error');
}
