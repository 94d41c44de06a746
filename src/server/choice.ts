/**
 * One choice of a request as a stream of API-level events: each generated token with the parser's delta for it,
 * then the end (held-back delta, whole parsed result, finish reason, stats). Accounts the choice in the metrics
 * (tokens, TTFT, inter-token latency, MTP) exactly once, also when the client goes away.
 */
import type { FastifyReply } from 'fastify';
import type { FinishReason, GenerationStats, StreamChunk } from '../engine/sequence.js';
import type { RequestHandle } from '../engine/scheduler.js';
import type { ParserDelta, ParseResult } from '../parser/types.js';
import type { OutputReader } from './local-model.js';
import type { ServerMetrics } from './metrics.js';
import { invalidParam, toApiError } from './errors.js';
import { SseStream } from './sse.js';

export type ChoiceEvent =
  | { kind: 'token'; delta: ParserDelta; chunk: StreamChunk }
  | { kind: 'end'; delta: ParserDelta; result: ParseResult; finishReason: FinishReason; stats: GenerationStats; stopString?: string };

/**
 * @throws whatever failed the sequence (e.g. NumericalError); the handle is cancelled when the consumer stops early
 */
export async function* runChoice(handle: RequestHandle, reader: OutputReader, metrics: ServerMetrics, model: string): AsyncGenerator<ChoiceEvent> {
  let last = 0;
  let accounted = false;
  try {
    for await (const chunk of handle) {
      if (chunk.finishReason) {
        const pre = chunk.text ? reader.push(chunk.text) : {};
        const { delta, result } = reader.end();
        accounted = true;
        metrics.finished(model, chunk.stats!);
        yield { kind: 'end', delta: mergeDeltas(pre, delta), result, finishReason: chunk.finishReason, stats: chunk.stats!, ...(chunk.stopString !== undefined ? { stopString: chunk.stopString } : {}) };
        return;
      }
      const now = performance.now();
      if (last > 0) metrics.interTokenLatency.observe({ model }, (now - last) / 1000);
      last = now;
      yield { kind: 'token', delta: reader.push(chunk.text), chunk };
    }
  } finally {
    if (!accounted) {
      handle.cancel();
      const final = handle.finalChunk;
      if (final?.stats) metrics.finished(model, final.stats);
    }
  }
}

/** Concatenate two deltas field by field (tool-call pieces in order). */
export function mergeDeltas(a: ParserDelta, b: ParserDelta): ParserDelta {
  const out: ParserDelta = {};
  const content = (a.content ?? '') + (b.content ?? '');
  const reasoning = (a.reasoningContent ?? '') + (b.reasoningContent ?? '');
  if (content) out.content = content;
  if (reasoning) out.reasoningContent = reasoning;
  const calls = [...(a.toolCallDeltas ?? []), ...(b.toolCallDeltas ?? [])];
  if (calls.length) out.toolCallDeltas = calls;
  return out;
}

/**
 * Cancel every choice if the client goes away before a non-streaming response is sent.
 */
export function cancelOnDisconnect(reply: FastifyReply, handles: readonly RequestHandle[]): void {
  reply.raw.on('close', () => {
    if (!reply.sent) for (const h of handles) h.cancel();
  });
}

/**
 * Stream `n` choices as OpenAI SSE: `run(index, sse)` sends one choice's chunks; the choices run concurrently, are
 * cancelled if the client goes away, an error once headers are out becomes an error chunk (as vLLM does), then
 * `after(sse)` (e.g. the usage chunk) and `data: [DONE]`.
 */
export async function streamOpenAiChoices(
  reply: FastifyReply,
  handles: readonly RequestHandle[],
  run: (index: number, sse: SseStream) => Promise<void>,
  after: (sse: SseStream) => void,
  /** Choices to run (default: one per handle; more when some choices generate nothing, e.g. an echo-only score). */
  count = handles.length,
): Promise<FastifyReply> {
  const sse = new SseStream(reply);
  sse.onClientGone(() => {
    for (const h of handles) h.cancel();
  });
  try {
    await Promise.all(Array.from({ length: count }, (_, index) => run(index, sse)));
    if (!sse.closed) after(sse);
  } catch (e) {
    for (const h of handles) h.cancel();
    sse.send(toApiError(e).toJSON());
  }
  sse.done();
  sse.end();
  return reply;
}

/**
 * @throws ApiError 400 naming `n` when the request asks for more choices than the server can ever hold at once
 *   (they run as separate sequences: at most --max-batch running plus --max-queue waiting)
 */
export function checkChoiceCount(n: number, capacity: { maxBatch: number; maxQueue: number }): void {
  const most = capacity.maxBatch + capacity.maxQueue;
  if (n > most) throw invalidParam('n', `n ${n} exceeds what this server can hold at once (${most} = --max-batch ${capacity.maxBatch} + --max-queue ${capacity.maxQueue})`);
}
