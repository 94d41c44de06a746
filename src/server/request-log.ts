/**
 * One log line per HTTP request (`mimo serve` prints them; `--log-format json` for one JSON object per line): method,
 * path, status, the request's prompt and generated tokens, TTFT and duration. A request's generations are found
 * through an AsyncLocalStorage entered around its route handler, so the routes need not pass anything along: the
 * metrics' `finished` adds each choice's stats to the current request. Source: issue 14.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { GenerationStats } from '../engine/sequence.js';

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/** What one request generated (all its choices). */
export class RequestRecord {
  readonly startMs = performance.now();
  model: string | null = null;
  promptTokens = 0;
  completionTokens = 0;
  /** Time to the first token of its first choice, seconds (null: none generated). */
  ttftSeconds: number | null = null;
  private sawPrompt = false;

  /** Account one finished choice (`n` choices share one prompt: counted once). */
  add(model: string, stats: GenerationStats): void {
    this.model = model;
    if (!this.sawPrompt) this.promptTokens = stats.promptTokens;
    this.sawPrompt = true;
    this.completionTokens += stats.generatedTokens;
    if (stats.generatedTokens > 0 && (this.ttftSeconds === null || stats.ttftSeconds < this.ttftSeconds)) this.ttftSeconds = stats.ttftSeconds;
  }
}

const current = new AsyncLocalStorage<RequestRecord>();

/** Run a route handler with `record` as the current request's. */
export function withRequestRecord<T>(record: RequestRecord, fn: () => T): T {
  return current.run(record, fn);
}

/** The record of the request whose handler is running, if any. */
export function currentRequestRecord(): RequestRecord | undefined {
  return current.getStore();
}

/**
 * The log line of a finished request.
 * @param durationMs from arrival to the response's end (or the client going away)
 */
export function formatRequestLog(format: LogFormat, r: { method: string; path: string; status: number; durationMs: number; record: RequestRecord }): string {
  const { record } = r;
  const generated = record.model !== null;
  if (format === 'json') {
    return JSON.stringify({
      time: new Date().toISOString(),
      method: r.method,
      path: r.path,
      status: r.status,
      ...(generated ? { model: record.model, prompt_tokens: record.promptTokens, completion_tokens: record.completionTokens, ttft_ms: record.ttftSeconds === null ? null : round(record.ttftSeconds * 1000) } : {}),
      duration_ms: round(r.durationMs),
    });
  }
  const tokens = generated ? ` ${record.model} prompt ${record.promptTokens} tok, completion ${record.completionTokens} tok, TTFT ${record.ttftSeconds === null ? '-' : `${round(record.ttftSeconds * 1000)} ms`},` : '';
  return `mimo serve: ${r.method} ${r.path} ${r.status}${tokens} ${round(r.durationMs)} ms`;
}

const round = (x: number) => Math.round(x * 10) / 10;
