/**
 * `POST /v1/chat/completions` (OpenAI Chat Completions), streaming and not: the chat template renders the
 * messages (tools, thinking), the continuous-batching scheduler generates `n` choices, and the MiMo output parser
 * turns the text into `reasoning_content`, `content` (never null) and `tool_calls`. Extensions: `mimo_expert_trace`
 * adds `mimo.token` (id, text, experts per MoE layer) to each token's stream chunk; finish and usage chunks carry
 * `mimo.stats`. Source: OpenAI API reference (Chat Completions, streaming); vLLM reasoning outputs; issue 5.
 */
import { openAiUsage } from '../cache-usage.js';
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GenerationStats, StreamChunk } from '../../engine/sequence.js';
import type { ParserDelta } from '../../parser/types.js';
import type { MiMoTokenizer } from '../../tokenizer/tokenizer.js';
import { toChatMessages } from '../chat-messages.js';
import { cancelOnDisconnect, checkChoiceCount, runChoice, streamOpenAiChoices, type ChoiceEvent } from '../choice.js';
import type { ServerContext } from '../context.js';
import { invalidParam } from '../errors.js';
import type { LocalModel } from '../local-model.js';
import { ChatRequest, parseBody } from '../schemas.js';
import { requestedGrammar, toolGrammar } from '../structured.js';

/** The playground's figures of one finished choice. */
export function statsJson(s: GenerationStats) {
  return {
    ttft_s: s.ttftSeconds,
    decode_tokens_per_s: s.decodeTokensPerSecond,
    prompt_tokens: s.promptTokens,
    generated_tokens: s.generatedTokens,
    drafts_proposed: s.draftsProposed,
    drafts_accepted: s.draftsAccepted,
    acceptance_length: s.acceptanceLength,
    cached_tokens: s.cachedTokens ?? 0,
    prefilled_tokens: s.prefilledTokens ?? s.promptTokens,
    ...(s.forcedTokens ? { forced_tokens: s.forcedTokens, jump_forward_tokens: s.jumpForwardTokens ?? 0 } : {}),
  };
}

/** OpenAI `delta` of a parser delta (only non-empty fields). */
function openAiDelta(d: ParserDelta): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (d.reasoningContent) out.reasoning_content = d.reasoningContent;
  if (d.content) out.content = d.content;
  if (d.toolCallDeltas?.length) out.tool_calls = d.toolCallDeltas;
  return out;
}

/** A chat `logprobs.content` entry. */
export function chatLogprob(tok: MiMoTokenizer | null, c: StreamChunk) {
  const text = (id: number) => (tok ? tok.decode([id]) : String(id));
  const entry = (id: number, logprob: number) => ({ token: text(id), logprob, bytes: [...Buffer.from(text(id), 'utf8')] });
  const lp = c.logprob!;
  return { ...entry(lp.tokenId, lp.logprob), top_logprobs: lp.top.map((t) => entry(t.tokenId, t.logprob)) };
}

/** Per-token trace for the playground: experts `[moeLayer][k]`. */
export function tokenTrace(model: LocalModel, c: StreamChunk) {
  const K = model.engine.config.numExpertsPerTok;
  const e = c.experts!;
  return { id: c.tokenId, text: c.text, experts: Array.from({ length: e.length / K }, (_, l) => Array.from(e.subarray(l * K, (l + 1) * K))) };
}

/** `length` wins: output cut off inside a tool call still returns that call (its ended parameters); this says it was cut. */
function finishReason(ev: Extract<ChoiceEvent, { kind: 'end' }>): string {
  if (ev.finishReason === 'length') return 'length';
  return ev.result.toolCalls.length ? 'tool_calls' : 'stop';
}

/**
 * vLLM's `continue_final_message` / `add_generation_prompt`: continue a final assistant message (either switch
 * asks for it when the last message is the assistant's), or render without the generation prompt.
 * @throws ApiError 400 naming the parameter when both are true, or continuing without a final assistant message
 */
function continuation(body: ChatRequest, lastRole: string | undefined): { continueFinalMessage: boolean; addGenerationPrompt: boolean } {
  if (body.continue_final_message && body.add_generation_prompt === true) {
    throw invalidParam('continue_final_message', 'continue_final_message: cannot be combined with add_generation_prompt: true (continuing the final message adds no new turn); leave add_generation_prompt out or set it false');
  }
  if (body.continue_final_message && lastRole !== 'assistant') {
    throw invalidParam('continue_final_message', `continue_final_message: the final message must be the assistant's to continue, got role '${lastRole}'`);
  }
  const continueFinalMessage = body.continue_final_message === true || (body.add_generation_prompt === false && lastRole === 'assistant');
  return { continueFinalMessage, addGenerationPrompt: continueFinalMessage || body.add_generation_prompt !== false };
}

export async function chatCompletions(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const body = parseBody(ChatRequest, req.body);
  const model = ctx.local(body.model);
  if (body.top_logprobs != null && !body.logprobs) throw invalidParam('top_logprobs', 'top_logprobs needs logprobs: true');
  const enableThinking = body.chat_template_kwargs?.enable_thinking ?? (body.thinking ? body.thinking.type === 'enabled' : undefined);
  const toolChoice = body.tool_choice == null ? undefined : typeof body.tool_choice === 'string' ? body.tool_choice : { name: body.tool_choice.function.name };
  const messages = toChatMessages(body.messages);
  const prep = await model.prepareChat(messages, body.tools ?? undefined, toolChoice, enableThinking, body.chat_template_kwargs?.keep_all_reasoning, continuation(body, messages[messages.length - 1]?.role));
  const output = requestedGrammar(body);
  const tools = prep.tools?.map((t, i) => ({ name: t.function.name, ...(t.function.parameters ? { parameters: t.function.parameters } : {}), strict: body.tools?.[i]?.function.strict === true }));
  const grammar = toolGrammar(tools, toolChoice, body.parallel_tool_calls ?? true, output) ?? output;
  const base = model.generateOptions(body, body.max_completion_tokens ?? body.max_tokens, body.logprobs ? (body.top_logprobs ?? 0) : undefined);
  const { opts, report } = await model.constrain(prep.promptIds, base, grammar, body);
  checkChoiceCount(body.n ?? 1, model.scheduler);
  const handles = model.submit(prep.promptIds, opts, body.n ?? 1);
  const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  const tok = model.engine.tokenizer;
  const choices = handles.map((h) => {
    const { reader, initial } = model.reader(prep);
    return { events: runChoice(h, reader, ctx.metrics, model.name), initial };
  });

  if (!body.stream) {
    cancelOnDisconnect(reply, handles);
    const results = await Promise.all(
      choices.map(async ({ events }, index) => {
        const logprobs: unknown[] = [];
        for await (const ev of events) {
          if (ev.kind === 'token') {
            if (ev.chunk.logprob) logprobs.push(chatLogprob(tok, ev.chunk));
            continue;
          }
          const r = ev.result;
          const message: Record<string, unknown> = { role: 'assistant', content: r.content, reasoning_content: r.reasoningContent || null };
          if (r.toolCalls.length) message.tool_calls = r.toolCalls;
          return { choice: { index, message, logprobs: body.logprobs ? { content: logprobs } : null, finish_reason: finishReason(ev) }, stats: ev.stats };
        }
        throw new Error('generation ended without a final chunk');
      }),
    );
    const completion = results.reduce((n, r) => n + r.stats.generatedTokens, 0);
    return {
      id,
      object: 'chat.completion',
      created,
      model: model.name,
      choices: results.map((r) => r.choice),
      usage: openAiUsage(prep.promptIds.length, completion, results[0]?.stats),
      mimo: { stats: results.map((r) => statsJson(r.stats)), ...(report ? { grammar: report } : {}) },
    };
  }

  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({ id, object: 'chat.completion.chunk', created, model: model.name, choices, ...extra });
  let completion = 0;
  const allStats: GenerationStats[] = [];
  return streamOpenAiChoices(
    reply,
    handles,
    async (index, sse) => {
      const { events, initial } = choices[index]!;
      sse.send(chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
      const first = openAiDelta(initial);
      if (Object.keys(first).length) sse.send(chunk([{ index, delta: first, logprobs: null, finish_reason: null }]));
      for await (const ev of events) {
        if (sse.closed) return;
        if (ev.kind === 'token') {
          const delta = openAiDelta(ev.delta);
          const lp = ev.chunk.logprob ? { content: [chatLogprob(tok, ev.chunk)] } : null;
          const trace = ev.chunk.experts ? { mimo: { token: tokenTrace(model, ev.chunk) } } : {};
          if (Object.keys(delta).length || lp || ev.chunk.experts) sse.send(chunk([{ index, delta, logprobs: lp, finish_reason: null }], trace));
          continue;
        }
        completion += ev.stats.generatedTokens;
        allStats[index] = ev.stats;
        const tail = openAiDelta(ev.delta);
        if (Object.keys(tail).length) sse.send(chunk([{ index, delta: tail, logprobs: null, finish_reason: null }]));
        sse.send(chunk([{ index, delta: {}, logprobs: null, finish_reason: finishReason(ev) }], { mimo: { stats: statsJson(ev.stats) } }));
      }
    },
    (sse) => {
      if (!body.stream_options?.include_usage) return;
      const usage = openAiUsage(prep.promptIds.length, completion, allStats[0]);
      sse.send(chunk([], { usage, ...(allStats[0] ? { mimo: { stats: statsJson(allStats[0]) } } : {}) }));
    },
  );
}
