/**
 * `POST /v1/completions` (OpenAI legacy Completions): raw prompts (text, token ids, or a batch of either) continued
 * as is — no chat template, no reasoning or tool-call parsing; `logprobs: N` in the completions shape (tokens,
 * token_logprobs, top_logprobs with the sampled token among up to N + 1 entries, text_offset); `echo: true` puts the
 * prompt before the completion (with the prompt's log-probabilities when `logprobs` is set; `max_tokens: 0` then
 * only scores the prompt). Streaming and not; prompt p's choice i has index p·n + i. Source: OpenAI API reference
 * (Completions); vLLM's batched prompts; issue 14.
 */
import type { GenerationStats } from '../../engine/sequence.js';
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TokenLogprob } from '../../engine/logprobs.js';
import type { RequestHandle } from '../../engine/scheduler.js';
import { validateRequest } from '../../engine/sequence.js';
import type { MiMoTokenizer } from '../../tokenizer/tokenizer.js';
import { cancelOnDisconnect, checkChoiceCount, runChoice, streamOpenAiChoices } from '../choice.js';
import type { ServerContext } from '../context.js';
import { invalidParam } from '../errors.js';
import type { LocalModel } from '../local-model.js';
import { promptLogprobs } from '../prompt-logprobs.js';
import { CompletionRequest, parseBody } from '../schemas.js';
import { requestedGrammar } from '../structured.js';
import { statsJson, tokenTrace } from './chat.js';

/** Accumulates the completions-API logprobs of one choice. */
class CompletionLogprobs {
  tokens: string[] = [];
  token_logprobs: Array<number | null> = [];
  top_logprobs: Array<Record<string, number> | null> = [];
  text_offset: number[] = [];
  private offset = 0;

  constructor(private readonly tok: MiMoTokenizer | null) {}

  /** The API fields only (never the tokenizer or the running offset). */
  toJSON() {
    return { tokens: this.tokens, token_logprobs: this.token_logprobs, top_logprobs: this.top_logprobs, text_offset: this.text_offset };
  }

  /** The entries from `from` on (one streamed piece), text_offset counted from the start of the choice's text. */
  since(from: number) {
    return { tokens: this.tokens.slice(from), token_logprobs: this.token_logprobs.slice(from), top_logprobs: this.top_logprobs.slice(from), text_offset: this.text_offset.slice(from) };
  }

  private text(id: number): string {
    return this.tok ? this.tok.decode([id]) : String(id);
  }

  /**
   * One token: its log-probability and the top alternatives, the token itself always among them (OpenAI returns up
   * to logprobs + 1 entries); null for a prompt's first token, which has no context.
   */
  add(tokenId: number, lp: TokenLogprob | null): this {
    const t = this.text(tokenId);
    this.tokens.push(t);
    this.token_logprobs.push(lp ? lp.logprob : null);
    if (lp) {
      const top = Object.fromEntries(lp.top.map((x) => [this.text(x.tokenId), x.logprob]));
      if (!Object.hasOwn(top, t)) top[t] = lp.logprob;
      this.top_logprobs.push(top);
    } else {
      this.top_logprobs.push(null);
    }
    this.text_offset.push(this.offset);
    this.offset += t.length;
    return this;
  }
}

/** One prompt of the request: its token ids and its text (what `echo` returns). */
interface Prompt {
  ids: number[];
  text: string;
}

/**
 * The request's prompts: a string, a list of token ids, or a list of either (a batch).
 * @throws ApiError 400 naming `prompt` (or `prompt.i`) for an empty prompt or text without a tokenizer
 */
async function prompts(body: CompletionRequest, model: LocalModel): Promise<Prompt[]> {
  const tok = model.engine.tokenizer;
  const p = body.prompt;
  const single = typeof p === 'string' || p.every((x) => typeof x === 'number');
  const items: Array<{ item: string | number[]; param: string; what: string }> = single
    ? [{ item: p as string | number[], param: 'prompt', what: 'prompt' }]
    : (p as Array<string | number[]>).map((item, i) => ({ item, param: `prompt.${i}`, what: `prompt ${i}` }));
  return Promise.all(items.map(async ({ item, param, what }) => {
    if (typeof item !== 'string') {
      if (item.length === 0) throw invalidParam(param, `${param}: ${what} is an empty list of token ids`);
      return { ids: item, text: tok ? tok.decode(item) : '' };
    }
    if (!tok) throw invalidParam(param, `model '${model.name}' has no tokenizer.json; send the prompt as a list of token ids`);
    if (item.length === 0) throw invalidParam(param, `${param}: ${what} is empty`);
    return { ids: await model.encode(item), text: item };
  }));
}

export async function completions(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const body = parseBody(CompletionRequest, req.body);
  const model = ctx.local(body.model);
  const tok = model.engine.tokenizer;
  const list = await prompts(body, model);
  const echo = body.echo === true;
  if (body.max_tokens === 0 && !echo) throw invalidParam('max_tokens', 'max_tokens: 0 only scores the prompt and needs echo: true; otherwise ask for at least 1 token');
  const scoreOnly = body.max_tokens === 0;
  const n = body.n ?? 1;
  const opts = model.generateOptions(body, scoreOnly ? 1 : (body.max_tokens ?? 16), body.logprobs ?? undefined);
  // Each prompt gets its own constraint (the grammar starts after that prompt's open reasoning, if any).
  const grammar = requestedGrammar(body);
  const constrained = scoreOnly ? [] : await Promise.all(list.map((p) => model.constrain(p.ids, opts, grammar, body)));
  const report = constrained[0]?.report;
  checkChoiceCount(scoreOnly ? 0 : list.length * n, model.scheduler);
  // Validate every prompt (ids, context) before any compute, as a submit would; prompt log-probabilities next.
  for (const p of list) validateRequest(p.ids, opts, model.engine.model);
  const allowedVocab = Math.min(model.engine.config.vocabSize, tok?.vocabSize ?? Infinity);
  const promptLps = echo && body.logprobs != null ? list.map((p) => promptLogprobs(model.engine.model, p.ids, allowedVocab, body.logprobs!)) : null;
  const handles: RequestHandle[] = [];
  if (!scoreOnly) {
    try {
      list.forEach((p, i) => handles.push(...model.submit(p.ids, constrained[i]!.opts, n)));
    } catch (e) {
      for (const h of handles) h.cancel();
      throw e;
    }
  }
  const choiceCount = list.length * n;
  const promptOf = (index: number) => Math.floor(index / n);
  const id = `cmpl-${randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  const promptTokens = list.reduce((s, p) => s + p.ids.length, 0);
  /** Prompt tokens restored from the prefix cache, per prompt (its first choice's). */
  const cachedByPrompt = new Array<number>(list.length).fill(0);
  const noteCached = (index: number, stats: GenerationStats) => {
    if (index % n === 0) cachedByPrompt[promptOf(index)] = stats.cachedTokens ?? 0;
  };
  const usage = (completion: number) => ({ prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion, prompt_tokens_details: { cached_tokens: cachedByPrompt.reduce((a, b) => a + b, 0) } });
  /** A choice's logprobs accumulator, holding the echoed prompt's entries first. */
  const newLogprobs = (index: number) => {
    const acc = new CompletionLogprobs(tok);
    const p = promptOf(index);
    if (promptLps) promptLps[p]!.forEach((lp, i) => acc.add(list[p]!.ids[i]!, lp));
    return acc;
  };
  const echoed = (index: number) => (echo ? list[promptOf(index)]!.text : '');
  // Completions never parse: the raw reader passes the text through as content.
  const choices = handles.map((h) => runChoice(h, model.rawReader(), ctx.metrics, model.name));

  if (scoreOnly) {
    const out = Array.from({ length: choiceCount }, (_, index) => ({ index, text: echoed(index), logprobs: body.logprobs != null ? newLogprobs(index) : null, finish_reason: 'length' }));
    if (!body.stream) return { id, object: 'text_completion', created, model: model.name, choices: out, usage: usage(0) };
  }

  if (!body.stream) {
    cancelOnDisconnect(reply, handles);
    const results = await Promise.all(
      choices.map(async (events, index) => {
        let text = echoed(index);
        const lp = newLogprobs(index);
        for await (const ev of events) {
          if (ev.kind === 'token') {
            text += ev.chunk.text;
            if (ev.chunk.logprob) lp.add(ev.chunk.logprob.tokenId, ev.chunk.logprob);
            continue;
          }
          text += ev.delta.content ?? '';
          noteCached(index, ev.stats);
          return { choice: { index, text, logprobs: body.logprobs != null ? lp : null, finish_reason: ev.finishReason === 'length' ? 'length' : 'stop' }, stats: ev.stats };
        }
        throw new Error('generation ended without a final chunk');
      }),
    );
    const completion = results.reduce((s, r) => s + r.stats.generatedTokens, 0);
    return { id, object: 'text_completion', created, model: model.name, choices: results.map((r) => r.choice), usage: usage(completion), mimo: { stats: results.map((r) => statsJson(r.stats)), ...(report ? { grammar: report } : {}) } };
  }

  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({ id, object: 'text_completion', created, model: model.name, choices, ...extra });
  let completion = 0;
  return streamOpenAiChoices(
    reply,
    handles,
    async (index, sse) => {
      const acc = newLogprobs(index);
      if (echo) sse.send(chunk([{ index, text: echoed(index), logprobs: body.logprobs != null ? acc.since(0) : null, finish_reason: scoreOnly ? 'length' : null }]));
      if (scoreOnly) return;
      for await (const ev of choices[index]!) {
        if (sse.closed) return;
        if (ev.kind === 'token') {
          const lp = ev.chunk.logprob ? acc.add(ev.chunk.logprob.tokenId, ev.chunk.logprob).since(acc.tokens.length - 1) : null;
          const trace = ev.chunk.experts ? { mimo: { token: tokenTrace(model, ev.chunk) } } : {};
          if (ev.chunk.text || lp || ev.chunk.experts) sse.send(chunk([{ index, text: ev.chunk.text, logprobs: lp, finish_reason: null }], trace));
          continue;
        }
        completion += ev.stats.generatedTokens;
        noteCached(index, ev.stats);
        sse.send(chunk([{ index, text: ev.delta.content ?? '', logprobs: null, finish_reason: ev.finishReason === 'length' ? 'length' : 'stop' }], { mimo: { stats: statsJson(ev.stats) } }));
      }
    },
    (sse) => {
      if (body.stream_options?.include_usage) sse.send(chunk([], { usage: usage(completion) }));
    },
    choiceCount,
  );
}
