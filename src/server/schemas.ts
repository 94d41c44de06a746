/**
 * Request bodies of the OpenAI (chat completions, completions) and Anthropic (messages) endpoints, validated with
 * zod. Unknown top-level parameters are refused with 400 naming them, as OpenAI does, except a few that clients
 * send and that change nothing here (listed in IGNORED, CHAT_IGNORED and the Messages schema). Every 400 names the
 * parameter and the rule it broke: each union carries its own message (zod's default says only "Invalid input"),
 * and {@link parseBody} words the other issues (limits included). Sources: OpenAI API reference (Chat
 * Completions, Completions), vLLM's extra sampling parameters (top_k, min_p, repetition_penalty, ignore_eos,
 * chat_template_kwargs), Anthropic Messages API reference.
 */
import { z } from 'zod';
import { invalidParam } from './errors.js';

const nonNegInt = z.number().int().min(0);
/** Prefix-cache fields every generating endpoint takes. */
const cacheFields = {
  /** vLLM: prefix-cache entries are shared only between requests with the same salt. */
  cache_salt: z.string().max(256).nullable().optional(),
  /** OpenAI: accepted and ignored (the cache keys entries by token ids; isolation is cache_salt's). */
  prompt_cache_key: z.string().nullable().optional(),
  /** mimo.ts extension: false bypasses the prefix cache for this request. */
  cache: z.boolean().nullable().optional(),
};

const stop = z.union([z.string(), z.array(z.string()).max(16)], { error: 'expected a string or an array of at most 16 strings' }).nullable().optional();

/** Parameters accepted and ignored (no effect on a local model): clients send them routinely. */
const IGNORED = {
  user: z.string().optional(),
  metadata: z.record(z.string(), z.unknown()).nullable().optional(),
  store: z.boolean().nullable().optional(),
  service_tier: z.string().nullable().optional(),
};

const JsonSchemaObject = z.record(z.string(), z.unknown());
/**
 * Output constraints (grammar-constrained decoding, src/grammar): OpenAI `response_format`, vLLM/SGLang
 * `structured_outputs` and `guided_*`, `logit_bias`, and the mimo.ts extension `reasoning_budget` (reasoning tokens
 * before `</think>` is forced when a constrained answer follows thinking). See structured.ts.
 */
const STRUCTURED = {
  response_format: z
    .union(
      [
        z.strictObject({ type: z.literal('text') }),
        z.strictObject({ type: z.literal('json_object') }),
        z.strictObject({
          type: z.literal('json_schema'),
          json_schema: z.strictObject({ name: z.string().min(1).max(64), description: z.string().optional(), schema: JsonSchemaObject.optional(), strict: z.boolean().nullable().optional() }),
        }),
      ],
      { error: 'expected {"type": "text"}, {"type": "json_object"} or {"type": "json_schema", "json_schema": {"name": …, "schema": {…}, "strict": true}}' },
    )
    .nullable()
    .optional(),
  structured_outputs: z
    .strictObject({
      json: z.union([JsonSchemaObject, z.string()], { error: 'expected a JSON schema (object or JSON text)' }).optional(),
      regex: z.string().optional(),
      choice: z.array(z.string()).min(1).optional(),
      grammar: z.string().optional(),
      json_object: z.boolean().optional(),
      structural_tag: z.union([JsonSchemaObject, z.string()], { error: 'expected a structural tag (object or JSON text)' }).optional(),
    })
    .nullable()
    .optional(),
  guided_json: z.union([JsonSchemaObject, z.string()], { error: 'expected a JSON schema (object or JSON text)' }).nullable().optional(),
  guided_regex: z.string().nullable().optional(),
  guided_choice: z.array(z.string()).min(1).nullable().optional(),
  guided_grammar: z.string().nullable().optional(),
  /** Token id (as a string key) → bias in [-100, 100] added to its logit. */
  logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullable().optional(),
  reasoning_budget: z.number().int().min(0).nullable().optional(),
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
  /** vLLM: generate past the end-of-turn / end-of-text tokens (until max_tokens or a stop string). */
  ignore_eos: z.boolean().nullable().optional(),
  ...cacheFields,
  /**
   * vLLM detokenizer switches, accepted and ignored: the output is decoded with special tokens kept (the parser
   * needs `<think>`, `<tool_call>`), and `<|im_end|>` / `<|endoftext|>` end generation rather than appear.
   */
  skip_special_tokens: z.boolean().nullable().optional(),
  spaces_between_special_tokens: z.boolean().nullable().optional(),
  ...STRUCTURED,
  ...IGNORED,
};

/**
 * Chat parameters accepted and ignored: OpenAI's reasoning and caching hints (`reasoning_effort`, `verbosity`,
 * `prompt_cache_key`) have no effect on a local model (use `thinking` / `chat_template_kwargs.enable_thinking`
 * to switch reasoning); `include_reasoning` (OpenRouter/vLLM) does not remove `reasoning_content`; `modalities`
 * may only ask for text.
 */
const CHAT_IGNORED = {
  reasoning_effort: z.string().nullable().optional(),
  verbosity: z.string().nullable().optional(),
  prompt_cache_key: z.string().nullable().optional(),
  include_reasoning: z.boolean().nullable().optional(),
  modalities: z
    .array(z.string())
    .nullable()
    .optional()
    .refine((m) => !m || m.every((x) => x === 'text'), 'only ["text"] is supported (no audio output)'),
};

const TextPart = z.object({ type: z.literal('text'), text: z.string() }).loose();
const Content = z
  .union([z.string(), z.array(TextPart)], { error: 'expected a string or an array of {"type":"text","text":…} parts (images and audio are not supported)' })
  .nullable()
  .optional();

const ToolCallIn = z
  .object({
    id: z.string().optional(),
    type: z.literal('function').optional(),
    function: z.object({ name: z.string().min(1), arguments: z.union([z.string(), z.record(z.string(), z.unknown())], { error: 'expected a JSON string or an object' }) }).loose(),
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

const ToolChoice = z.union([z.enum(['none', 'auto', 'required']), z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: z.string().min(1) }) })], {
  error: 'expected "none", "auto", "required" or {"type":"function","function":{"name":…}}',
});

export const ChatRequest = z.strictObject({
  ...SAMPLING,
  messages: z.array(Message).min(1),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  tools: z.array(Tool).nullable().optional(),
  tool_choice: ToolChoice.nullable().optional(),
  /** false: at most one tool call (with a forced or strict call, exactly one). */
  parallel_tool_calls: z.boolean().nullable().optional(),
  chat_template_kwargs: z.object({ enable_thinking: z.boolean().optional(), keep_all_reasoning: z.boolean().optional() }).loose().nullable().optional(),
  /** Xiaomi platform switch: `{ type: 'enabled' | 'disabled' }` (spec §5.2). */
  thinking: z.strictObject({ type: z.enum(['enabled', 'disabled']) }).nullable().optional(),
  /** vLLM / transformers: continue the final assistant message instead of starting a new turn. */
  continue_final_message: z.boolean().nullable().optional(),
  /** vLLM / transformers: append the assistant generation prompt (default true). */
  add_generation_prompt: z.boolean().nullable().optional(),
  ...CHAT_IGNORED,
});
export type ChatRequest = z.infer<typeof ChatRequest>;

export const CompletionRequest = z.strictObject({
  ...SAMPLING,
  /** A string, token ids, or a batch of either (as OpenAI and vLLM accept); each prompt gets `n` choices. */
  prompt: z.union([z.string(), z.array(z.number().int().min(0)).min(1), z.array(z.union([z.string(), z.array(z.number().int().min(0))])).min(1)], {
    error: 'expected a string, a non-empty array of token ids (integers ≥ 0), or a non-empty array of strings or of token-id arrays (a batch)',
  }),
  /** 0 only with echo: score the prompt, generate nothing (OpenAI). */
  max_tokens: z.number().int().min(0).nullable().optional(),
  /** Completions API: number of alternatives per token (0 … 5; vLLM allows up to 20). */
  logprobs: z.number().int().min(0).max(20).nullable().optional(),
  /** Return the prompt before the completion (with its log-probabilities when logprobs is set). */
  echo: z.boolean().nullable().optional(),
  suffix: z.null().optional(),
  best_of: z.literal(1).nullable().optional(),
});
export type CompletionRequest = z.infer<typeof CompletionRequest>;

const AnthropicText = z.object({ type: z.literal('text'), text: z.string() }).loose();
const AnthropicBlock = z.discriminatedUnion(
  'type',
  [
  AnthropicText,
  z.object({ type: z.literal('thinking'), thinking: z.string(), signature: z.string().optional() }).loose(),
  z.object({ type: z.literal('redacted_thinking') }).loose(),
  z.object({ type: z.literal('tool_use'), id: z.string(), name: z.string(), input: z.record(z.string(), z.unknown()) }).loose(),
  z
    .object({
      type: z.literal('tool_result'),
      tool_use_id: z.string(),
      content: z.union([z.string(), z.array(AnthropicText)], { error: 'expected a string or an array of {"type":"text","text":…} blocks' }).optional(),
      is_error: z.boolean().optional(),
    })
    .loose(),
  ],
  { error: 'expected a content block of type "text", "thinking", "redacted_thinking", "tool_use" or "tool_result"' },
);

export const MessagesRequest = z.strictObject({
  ...cacheFields,
  model: z.string().min(1),
  max_tokens: z.number().int().min(1),
  messages: z
    .array(z.strictObject({ role: z.enum(['user', 'assistant']), content: z.union([z.string(), z.array(AnthropicBlock)], { error: 'expected a string or an array of content blocks' }) }))
    .min(1),
  system: z.union([z.string(), z.array(AnthropicText)], { error: 'expected a string or an array of {"type":"text","text":…} blocks' }).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  stop_sequences: z.array(z.string()).max(16).optional(),
  stream: z.boolean().optional(),
  tools: z.array(z.object({ name: z.string().min(1), description: z.string().optional(), input_schema: z.record(z.string(), z.unknown()), strict: z.boolean().optional() }).loose()).optional(),
  /** Structured outputs: the text answer is JSON valid under `schema`. */
  output_format: z.strictObject({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) }).optional(),
  tool_choice: z
    .union([z.object({ type: z.enum(['auto', 'any', 'none']), disable_parallel_tool_use: z.boolean().optional() }).loose(), z.object({ type: z.literal('tool'), name: z.string(), disable_parallel_tool_use: z.boolean().optional() }).loose()], {
      error: 'expected {"type":"auto"}, {"type":"any"}, {"type":"none"} or {"type":"tool","name":…}',
    })
    .optional(),
  /** `adaptive` (the model decides how much to think) is thinking on here. */
  thinking: z
    .union(
      [
        z.object({ type: z.literal('enabled'), budget_tokens: z.number().int().min(1).optional() }).loose(),
        z.object({ type: z.literal('adaptive') }).loose(),
        z.object({ type: z.literal('disabled') }).loose(),
      ],
      { error: 'expected {"type":"enabled","budget_tokens":…}, {"type":"adaptive"} or {"type":"disabled"}' },
    )
    .optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  service_tier: z.string().optional(),
  /** Accepted and ignored: Anthropic-hosted features (code-execution container, remote MCP servers, context editing). */
  container: z.unknown().optional(),
  mcp_servers: z.array(z.unknown()).optional(),
  context_management: z.unknown().optional(),
});
export type MessagesRequest = z.infer<typeof MessagesRequest>;

/** Top-level parameters of another endpoint: refused with a message that says where they belong. */
const OTHER_ENDPOINT: Readonly<Record<string, string>> = {
  echo: 'is a completions-only parameter (POST /v1/completions); it is not supported here',
  best_of: 'is a completions-only parameter (POST /v1/completions); it is not supported here',
  suffix: 'is a completions-only parameter (POST /v1/completions); it is not supported here',
  prompt: 'is a completions parameter (POST /v1/completions); chat requests send messages',
};

type Issue = z.core.$ZodIssue;

/** A value's kind in words: 'a string', 'an array', 'null', … */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const t = typeof value;
  return t === 'object' ? 'an object' : t === 'undefined' ? 'nothing' : t === 'number' && !Number.isInteger(value) ? 'a non-integer number' : `a ${t}`;
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string', number: 'a number', int: 'an integer', boolean: 'a boolean', array: 'an array', object: 'an object',
  record: 'an object', null: 'null', bigint: 'an integer', nan: 'NaN', undefined: 'nothing',
};

function plural(n: number | bigint, word: string): string {
  return `${n} ${word}${n === 1 || n === 1n ? '' : 's'}`;
}

/** The value at `path` inside `root` (undefined when absent). */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>((v, k) => (v && typeof v === 'object' && Object.hasOwn(v, k) ? (v as Record<PropertyKey, unknown>)[k] : undefined), root);
}

/** The rule an issue broke, in words, given the value found (undefined when absent). */
function rule(issue: Issue, received: unknown, param: string): string {
  switch (issue.code) {
    case 'invalid_type': {
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      if (received === undefined) return `is required (expected ${expected})`;
      if (issue.expected === 'int') return `must be an integer, got ${JSON.stringify(received)}`;
      return `expected ${expected}, got ${kindOf(received)}`;
    }
    case 'too_big':
    case 'too_small': {
      const big = issue.code === 'too_big';
      const limit = big ? issue.maximum : issue.minimum;
      const n = Number(limit);
      if (issue.origin === 'array' || issue.origin === 'set') {
        if (issue.exact) return `must have exactly ${plural(limit, 'item')}`;
        if (!big && n === 1) return 'must not be empty (at least 1 item)';
        return `must have ${big ? 'at most' : 'at least'} ${plural(limit, 'item')}`;
      }
      if (issue.origin === 'string') {
        if (issue.exact) return `must be exactly ${plural(limit, 'character')} long`;
        if (!big && n === 1) return 'must not be empty';
        return `must be ${big ? 'at most' : 'at least'} ${plural(limit, 'character')} long`;
      }
      const inclusive = issue.inclusive !== false;
      return `must be ${big ? (inclusive ? 'at most' : 'less than') : inclusive ? 'at least' : 'greater than'} ${String(limit)}`;
    }
    case 'invalid_value':
      return issue.values.length === 1 ? `must be ${JSON.stringify(issue.values[0])}` : `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    case 'invalid_union': {
      // When one form alone matched the value's outer type (the others failed on its type, or on a literal or enum
      // value at the top) and its issue lies deeper, the client meant that form: name its issue too. Otherwise
      // (objects told apart by `type`, an array too long for one form and of the wrong items for another) the
      // union's message says it all.
      const shaped = issue.errors.map((branch) => branch[0]).filter((b): b is Issue => b !== undefined && (b.path.length > 0 || (b.code !== 'invalid_type' && b.code !== 'invalid_value')));
      const nested = shaped.length === 1 && shaped[0]!.path.length > 0 ? shaped[0] : undefined;
      const detail = nested ? ` (${param}.${nested.path.join('.')}: ${rule(nested, valueAt(received, nested.path), `${param}.${nested.path.join('.')}`)})` : '';
      if (issue.message && issue.message !== 'Invalid input') return `${issue.message}${detail}`;
      const forms = issue.errors.map((branch) => (branch[0] && branch[0].code === 'invalid_type' && branch[0].path.length === 0 ? EXPECTED[branch[0].expected] ?? branch[0].expected : undefined));
      return forms.every((f) => f !== undefined) ? `expected ${[...new Set(forms)].join(' or ')}, got ${kindOf(received)}` : `does not match any accepted form${detail}`;
    }
    default:
      return issue.message;
  }
}

/**
 * Validate a body.
 * @throws ApiError 400 naming the first invalid parameter (dotted path, e.g. `messages.0.role`) or the unknown one,
 *   with the rule it broke (`stop: expected a string or an array of at most 16 strings`, `temperature: must be at
 *   most 2 (got 5)`, `max_tokens: is required (expected a number)`)
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
    const elsewhere = where === '' ? OTHER_ENDPOINT[issue.keys[0]!] : undefined;
    if (elsewhere !== undefined) throw invalidParam(key, `${key}: '${key}' ${elsewhere}`);
    throw invalidParam(key, `${key}: unknown parameter '${key}'${issue.keys.length > 1 ? ` (and ${issue.keys.slice(1).join(', ')})` : ''}; this endpoint does not accept it`);
  }
  const param = issue.path.join('.') || 'body';
  const received = valueAt(body, issue.path as PropertyKey[]);
  const got = received !== undefined && issue.code !== 'invalid_type' ? ` (got ${JSON.stringify(received)?.slice(0, 80)})` : '';
  throw invalidParam(param, `${param}: ${rule(issue, received, param)}${got}`);
}
