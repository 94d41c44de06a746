/**
 * `POST /v1/messages/count_tokens` (Anthropic): the number of input tokens a Messages request would use, counted
 * exactly — the request is converted and rendered by the chat template as `POST /v1/messages` renders it (system,
 * tools, thinking, a final assistant message as prefill) and tokenized; nothing is generated. The answer
 * `{ input_tokens }` equals that request's `usage.input_tokens`. Claude Code and the Anthropic SDK call it.
 * Source: Anthropic API reference "Count Message tokens"; issue 14.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { checkBlockTypes, toChatInput } from '../anthropic.js';
import type { ServerContext } from '../context.js';
import { ApiError } from '../errors.js';
import { MessagesRequest, parseBody } from '../schemas.js';

/** A Messages body; `max_tokens` (required by /v1/messages) is optional here, as Anthropic's count_tokens has it. */
const CountTokensRequest = MessagesRequest.extend({ max_tokens: z.number().int().min(1).optional() });

export async function countTokens(ctx: ServerContext, req: FastifyRequest, _reply: FastifyReply): Promise<unknown> {
  const upstream = ctx.upstreamFor(req.body);
  if (upstream) throw new ApiError(400, `model '${upstream.name}' is served by an upstream engine; count_tokens counts with local models' tokenizers only`, 'invalid_request_error', 'model', 'invalid_parameter');
  checkBlockTypes(req.body);
  const body = parseBody(CountTokensRequest, req.body);
  const model = ctx.local(body.model);
  const input = toChatInput({ ...body, max_tokens: body.max_tokens ?? 1 });
  const prep = await model.prepareChat(input.messages, input.tools, input.toolChoice, input.enableThinking, undefined, { continueFinalMessage: true });
  return { input_tokens: prep.promptIds.length };
}
