/**
 * `POST /v1/completions` (OpenAI legacy Completions): a raw prompt (text, or token ids) continued as is — no chat
 * template, no reasoning or tool-call parsing; `logprobs: N` in the completions shape (tokens, token_logprobs,
 * top_logprobs, text_offset). Streaming and not, `n` choices. Source: OpenAI API reference (Completions).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StreamChunk } from '../../engine/sequence.js';
import type { MiMoTokenizer } from '../../tokenizer/tokenizer.js';
import { cancelOnDisconnect, checkChoiceCount, runChoice, streamOpenAiChoices } from '../choice.js';
import type { ServerContext } from '../context.js';
import { invalidParam } from '../errors.js';
import { CompletionRequest, parseBody } from '../schemas.js';
import { requestedGrammar } from '../structured.js';
import { statsJson, tokenTrace } from './chat.js';

/** Accumulates the completions-API logprobs of one choice. */
class CompletionLogprobs {
  tokens: string[] = [];
  token_logprobs: number[] = [];
  top_logprobs: Array<Record<string, number>> = [];
  text_offset: number[] = [];
  private offset = 0;

  constructor(private readonly tok: MiMoTokenizer | null) {}

  /** The API fields only (never the tokenizer or the running offset). */
  toJSON() {
    return { tokens: this.tokens, token_logprobs: this.token_logprobs, top_logprobs: this.top_logprobs, text_offset: this.text_offset };
  }

  /** The newest entry alone (one streamed token), its text_offset counted from the start of the completion. */
  last() {
    const i = this.tokens.length - 1;
    return { tokens: this.tokens.slice(i), token_logprobs: this.token_logprobs.slice(i), top_logprobs: this.top_logprobs.slice(i), text_offset: this.text_offset.slice(i) };
  }

  add(c: StreamChunk): this {
    const text = (id: number) => (this.tok ? this.tok.decode([id]) : String(id));
    const lp = c.logprob!;
    const t = text(lp.tokenId);
    this.tokens.push(t);
    this.token_logprobs.push(lp.logprob);
    this.top_logprobs.push(Object.fromEntries(lp.top.map((x) => [text(x.tokenId), x.logprob])));
    this.text_offset.push(this.offset);
    this.offset += t.length;
    return this;
  }
}

export async function completions(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const body = parseBody(CompletionRequest, req.body);
  const model = ctx.local(body.model);
  const tok = model.engine.tokenizer;
  let promptIds: number[];
  if (Array.isArray(body.prompt) && typeof body.prompt[0] === 'number') {
    promptIds = body.prompt as number[];
  } else {
    const text = Array.isArray(body.prompt) ? (body.prompt[0] as string) : (body.prompt as string);
    if (!tok) throw invalidParam('prompt', `model '${model.name}' has no tokenizer.json; send the prompt as a list of token ids`);
    if (text.length === 0) throw invalidParam('prompt', 'prompt is empty');
    promptIds = tok.encode(text);
  }
  const base = model.generateOptions(body, body.max_tokens ?? 16, body.logprobs ?? undefined);
  const { opts, report } = await model.constrain(promptIds, base, requestedGrammar(body), body);
  checkChoiceCount(body.n ?? 1, model.scheduler);
  const handles = model.submit(promptIds, opts, body.n ?? 1);
  const id = `cmpl-${randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  const usage = (completion: number) => ({ prompt_tokens: promptIds.length, completion_tokens: completion, total_tokens: promptIds.length + completion });
  // Completions never parse: the raw reader passes the text through as content.
  const choices = handles.map((h) => runChoice(h, model.rawReader(), ctx.metrics, model.name));

  if (!body.stream) {
    cancelOnDisconnect(reply, handles);
    const results = await Promise.all(
      choices.map(async (events, index) => {
        let text = '';
        const lp = new CompletionLogprobs(tok);
        for await (const ev of events) {
          if (ev.kind === 'token') {
            text += ev.chunk.text;
            if (ev.chunk.logprob) lp.add(ev.chunk);
            continue;
          }
          text += ev.delta.content ?? '';
          return { choice: { index, text, logprobs: body.logprobs != null ? lp : null, finish_reason: ev.finishReason === 'length' ? 'length' : 'stop' }, stats: ev.stats };
        }
        throw new Error('generation ended without a final chunk');
      }),
    );
    const completion = results.reduce((n, r) => n + r.stats.generatedTokens, 0);
    return { id, object: 'text_completion', created, model: model.name, choices: results.map((r) => r.choice), usage: usage(completion), mimo: { stats: results.map((r) => statsJson(r.stats)), ...(report ? { grammar: report } : {}) } };
  }

  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({ id, object: 'text_completion', created, model: model.name, choices, ...extra });
  let completion = 0;
  return streamOpenAiChoices(
    reply,
    handles,
    async (index, sse) => {
      const acc = new CompletionLogprobs(tok);
      for await (const ev of choices[index]!) {
        if (sse.closed) return;
        if (ev.kind === 'token') {
          const lp = ev.chunk.logprob ? acc.add(ev.chunk).last() : null;
          const trace = ev.chunk.experts ? { mimo: { token: tokenTrace(model, ev.chunk) } } : {};
          if (ev.chunk.text || lp || ev.chunk.experts) sse.send(chunk([{ index, text: ev.chunk.text, logprobs: lp, finish_reason: null }], trace));
          continue;
        }
        completion += ev.stats.generatedTokens;
        sse.send(chunk([{ index, text: ev.delta.content ?? '', logprobs: null, finish_reason: ev.finishReason === 'length' ? 'length' : 'stop' }], { mimo: { stats: statsJson(ev.stats) } }));
      }
    },
    (sse) => {
      if (body.stream_options?.include_usage) sse.send(chunk([], { usage: usage(completion) }));
    },
  );
}
