/**
 * Server-sent events on a hijacked fastify reply: `data: {json}\n\n` lines (OpenAI), optionally with an
 * `event:` name (Anthropic), `data: [DONE]` at the end (OpenAI). Notices the client going away so the caller can
 * cancel generation at once. Source: WHATWG HTML "Server-sent events"; OpenAI streaming; Anthropic streaming.
 */
import type { FastifyReply } from 'fastify';

export class SseStream {
  private ended = false;
  private readonly closeHandlers: Array<() => void> = [];

  constructor(private readonly reply: FastifyReply) {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    raw.on('close', () => {
      const wasOpen = !this.ended;
      this.ended = true;
      if (wasOpen) for (const h of this.closeHandlers) h();
    });
  }

  /** True once the stream was ended by us or the client went away. */
  get closed(): boolean {
    return this.ended || this.reply.raw.destroyed;
  }

  /** Called once if the client disconnects before `end()`. */
  onClientGone(handler: () => void): void {
    this.closeHandlers.push(handler);
  }

  send(data: unknown, event?: string): void {
    if (this.closed) return;
    this.reply.raw.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
  }

  /** OpenAI's terminator. */
  done(): void {
    if (!this.closed) this.reply.raw.write('data: [DONE]\n\n');
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.reply.raw.end();
  }
}
