/**
 * Request bodies of the OpenAI (chat completions, completions) and Anthropic (messages) endpoints, validated with
 * zod. Unknown top-level parameters are refused with 400 naming them, as OpenAI does, except a few that clients
 * send and that change nothing here (listed in IGNORED). Sources: OpenAI API reference (Chat Completions,
 * Completions), vLLM's extra sampling parameters (top_k, min_p, repetition_penalty, chat_template_kwargs),
 * Anthropic Messages API reference.
 */
import { z } from 'zod';
import { invalidParam } from './errors.js';

const nonNegInt = z.number().int().min(0);
const stop = z.union([z.string(), z.array(z.string()).max(16)]).nullable().optional();

/** Parameters accepted and ignored (no effect on a local model): clients send them routinely. */
const IGNORED = {
  user: z.string().optional(),
  metadata: z.record(z.string(), z.unknown()).nullable().optional(),
  store: z.boolean().nullable().optional(),
  service_tier: z.string().nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  /** Only an empty bias is accepted (biasing is not implemented). */
  logit_bias: z.record(z.string(), z.number()).nullable().optional().refine((b) => !b || Object.keys(b).length === 0, 'logit_bias is not supported; send null or {}'),
};

/** Sampling parameters shared by both OpenAI endpoints. */
const SAMPLING = {
  model: z.string().min(1),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  /** vLLM: -1 or 0 = off. */
  top_k: z.number().int().min(-1).nullable().optional(),
  min_p: z.number().min(0).max(1).nullable().optional(),
  repetition_penalty: z.number().gt(0).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  max_tokens: z.number().int().min(1).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  n: z.number().int().min(1).max(16).nullable().optional(),
  stop,
  stream: z.boolean().nullable().optional(),
  stream_options: z.strictObject({ include_usage: z.boolean().optional(), continuous_usage_stats: z.boolean().optional() }).nullable().optional(),
  /** mimo.ts extension: MTP drafts per step for this request (0 … the server's --mtp). */
  mtp: nonNegInt.nullable().optional(),
  /** mimo.ts extension: per-token router selections in stream chunks (the playground's heat map). */
  mimo_expert_trace: z.boolean().optional(),
  ...IGNORED,
};

const TextPart = z.object({ type: z.literal('text'), text: z.string() }).loose();
const Content = z.union([z.string(), z.array(TextPart)]).nullable().optional();

const ToolCallIn = z
  .object({
    id: z.string().optional(),
    type: z.literal('function').optional(),
    function: z.object({ name: z.string().min(1), arguments: z.union([z.string(), z.record(z.string(), z.unknown())]) }).loose(),
  })
  .loose();

const Message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: Content,
    reasoning_content: z.string().nullable().optional(),
    tool_calls: z.array(ToolCallIn).nullable().optional(),
    tool_call_id: z.string().optional(),
    name: z.string().optional(),
  })
  .loose();

const Tool = z.strictObject({
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1).max(64), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional(), strict: z.boolean().nullable().optional() }).loose(),
});

const ToolChoice = z.union([z.enum(['none', 'auto', 'required']), z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: z.string().min(1) }) })]);

export const ChatRequest = z.strictObject({
  ...SAMPLING,
  messages: z.array(Message).min(1),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  response_format: z.object({ type: z.string() }).loose().nullable().optional().refine((f) => !f || f.type === 'text', 'only {"type": "text"} is supported (no JSON mode / structured outputs)'),
  tools: z.array(Tool).nullable().optional(),
  tool_choice: ToolChoice.nullable().optional(),
  chat_template_kwargs: z.object({ enable_thinking: z.boolean().optional(), keep_all_reasoning: z.boolean().optional() }).loose().nullable().optional(),
  /** Xiaomi platform switch: `{ type: 'enabled' | 'disabled' }` (spec §5.2). */
  thinking: z.strictObject({ type: z.enum(['enabled', 'disabled']) }).nullable().optional(),
});
export type ChatRequest = z.infer<typeof ChatRequest>;

export const CompletionRequest = z.strictObject({
  ...SAMPLING,
  prompt: z.union([z.string(), z.array(z.number().int().min(0)).min(1), z.array(z.string()).length(1)]),
  /** Completions API: number of alternatives per token (0 … 5; vLLM allows up to 20). */
  logprobs: z.number().int().min(0).max(20).nullable().optional(),
  echo: z.literal(false).nullable().optional(),
  suffix: z.null().optional(),
  best_of: z.literal(1).nullable().optional(),
});
export type CompletionRequest = z.infer<typeof CompletionRequest>;

const AnthropicText = z.object({ type: z.literal('text'), text: z.string() }).loose();
const AnthropicBlock = z.discriminatedUnion('type', [
  AnthropicText,
  z.object({ type: z.literal('thinking'), thinking: z.string(), signature: z.string().optional() }).loose(),
  z.object({ type: z.literal('redacted_thinking') }).loose(),
  z.object({ type: z.literal('tool_use'), id: z.string(), name: z.string(), input: z.record(z.string(), z.unknown()) }).loose(),
  z
    .object({
      type: z.literal('tool_result'),
      tool_use_id: z.string(),
      content: z.union([z.string(), z.array(AnthropicText)]).optional(),
      is_error: z.boolean().optional(),
    })
    .loose(),
]);

export const MessagesRequest = z.strictObject({
  model: z.string().min(1),
  max_tokens: z.number().int().min(1),
  messages: z.array(z.strictObject({ role: z.enum(['user', 'assistant']), content: z.union([z.string(), z.array(AnthropicBlock)]) })).min(1),
  system: z.union([z.string(), z.array(AnthropicText)]).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  stop_sequences: z.array(z.string()).max(16).optional(),
  stream: z.boolean().optional(),
  tools: z.array(z.object({ name: z.string().min(1), description: z.string().optional(), input_schema: z.record(z.string(), z.unknown()) }).loose()).optional(),
  tool_choice: z
    .union([z.object({ type: z.enum(['auto', 'any', 'none']) }).loose(), z.object({ type: z.literal('tool'), name: z.string() }).loose()])
    .optional(),
  thinking: z.union([z.object({ type: z.literal('enabled'), budget_tokens: z.number().int().min(1).optional() }).loose(), z.object({ type: z.literal('disabled') }).loose()]).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  service_tier: z.string().optional(),
});
export type MessagesRequest = z.infer<typeof MessagesRequest>;

/**
 * Validate a body. @throws ApiError 400 naming the first invalid parameter (dotted path, e.g. `messages.0.role`)
 * or the unknown one.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidParam('body', 'the request body must be a JSON object');
  }
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? `${issue.path.join('.')}.` : '';
    const key = `${where}${issue.keys[0]}`;
    throw invalidParam(key, `unknown parameter '${key}'${issue.keys.length > 1 ? ` (and ${issue.keys.slice(1).join(', ')})` : ''}`);
  }
  const param = issue.path.join('.') || 'body';
  const received = issue.path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined), body);
  throw invalidParam(param, `${param}: ${issue.message}${received !== undefined && issue.code !== 'invalid_type' ? ` (got ${JSON.stringify(received)?.slice(0, 80)})` : ''}`);
}
