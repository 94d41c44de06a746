/**
 * Anthropic Messages API ↔ the chat pipeline. Requests: `system`, `messages` with string or block content (text,
 * thinking, tool_use, tool_result), `tools`, `tool_choice` and `thinking` become the chat template's messages,
 * OpenAI-shaped tools, tool choice and `enable_thinking`. Results: the MiMo output parser's result becomes content
 * blocks (`thinking`, `text`, `tool_use`) with a `stop_reason`, and its streamed deltas become the Messages
 * streaming events (`content_block_start` / `_delta` / `_stop`). Source: Anthropic API reference "Messages",
 * "Streaming messages", "Tool use"; spec §5.2 (template, reasoning, tool calls).
 */
import { randomBytes } from 'node:crypto';
import type { FinishReason } from '../engine/sequence.js';
import type { ParserDelta, ParseResult, ToolCallDelta } from '../parser/types.js';
import type { ChatMessage, ChatTool, ChatToolCall } from '../tokenizer/tokenizer.js';
import { invalidParam } from './errors.js';
import type { MessagesRequest } from './schemas.js';

/** What the template needs from a Messages request. */
export interface ChatInput {
  messages: ChatMessage[];
  tools: ChatTool[] | undefined;
  toolChoice: 'none' | 'auto' | 'required' | { name: string } | undefined;
  /** undefined when the request has no `thinking` (the template's default applies). */
  enableThinking: boolean | undefined;
}

export type ContentBlock =
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';

/** One server-sent event: its `event:` name and its data (whose `type` is the same name). */
export interface StreamEvent {
  event: string;
  data: { type: string } & Record<string, unknown>;
}

/** Block types each role may send (thinking and tool_use are the assistant's, tool_result the user's). */
const BLOCK_TYPES: Readonly<Record<string, readonly string[]>> = {
  user: ['text', 'tool_result'],
  assistant: ['text', 'thinking', 'redacted_thinking', 'tool_use'],
};

/** Error text prefixed to a tool result sent with `is_error: true`. */
export const TOOL_ERROR_PREFIX = 'Error: ';

/** `msg_` + 24 hex digits. */
export function messageId(): string {
  return `msg_${randomBytes(12).toString('hex')}`;
}

/** The `toolu_…` id of a parsed call (`call_` + hex from the parser): the same string stream and result give. */
export function toolUseId(callId: string): string {
  return `toolu_${callId.startsWith('call_') ? callId.slice(5) : callId}`;
}

/**
 * Checks block types before the schema does, so that an unsupported block (an image, a document) or a block in
 * the wrong role gets a 400 naming it (`messages.1.content.0.type`) rather than a generic union error, and a
 * `system` role points to the top-level `system` parameter. Also, as Anthropic does: a message's content block
 * list must not be empty, except in a final assistant message; and a final assistant message (a prefill the reply
 * continues) cannot hold a tool_use block.
 * @throws ApiError 400 naming the block's `type`, the message's `content` or its `role`
 */
export function checkBlockTypes(body: unknown): void {
  const b = body as { messages?: unknown; system?: unknown } | null;
  if (Array.isArray(b?.system)) {
    b.system.forEach((block: unknown, j) => {
      const type = (block as { type?: unknown } | null)?.type;
      if (type !== 'text') throw invalidParam(`system.${j}.type`, `system.${j}.type: system blocks must be text blocks (got ${JSON.stringify(type)})`);
    });
  }
  if (!Array.isArray(b?.messages)) return;
  const lastIndex = b.messages.length - 1;
  b.messages.forEach((m: unknown, i) => {
    const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
    if (role === 'system') throw invalidParam(`messages.${i}.role`, `messages.${i}.role: must be 'user' or 'assistant' (got 'system'); send the system prompt as the top-level system parameter`);
    const allowed = typeof role === 'string' ? BLOCK_TYPES[role] : undefined;
    if (!allowed || !Array.isArray(content)) return; // the schema names a bad role or content
    const prefill = i === lastIndex && role === 'assistant';
    if (content.length === 0 && !prefill) {
      throw invalidParam(`messages.${i}.content`, `messages.${i}.content: must not be an empty list; send a string or at least one content block (only a final assistant message may be empty)`);
    }
    content.forEach((block: unknown, j) => {
      const type = (block as { type?: unknown } | null)?.type;
      const param = `messages.${i}.content.${j}.type`;
      if (typeof type === 'string' && allowed.includes(type)) {
        if (type === 'tool_result') checkToolResultContent((block as { content?: unknown }).content, `messages.${i}.content.${j}.content`);
        if (type === 'tool_use' && prefill) {
          throw invalidParam(param, `${param}: the final assistant message is continued by the reply (prefill) and cannot hold a tool_use block; send its tool_result in a user message after it`);
        }
        return;
      }
      const known = [...BLOCK_TYPES.user!, ...BLOCK_TYPES.assistant!].includes(type as string);
      const why = known ? `a ${role} message cannot hold a '${type}' block` : `content block type ${JSON.stringify(type)} is not supported`;
      throw invalidParam(param, `${param}: ${why}; ${role} messages may hold ${allowed.join(', ')} blocks`);
    });
  });
}

function checkToolResultContent(content: unknown, param: string): void {
  if (!Array.isArray(content)) return;
  content.forEach((block: unknown, k) => {
    const type = (block as { type?: unknown } | null)?.type;
    if (type !== 'text') throw invalidParam(`${param}.${k}.type`, `${param}.${k}.type: tool results may hold text blocks only (got ${JSON.stringify(type)})`);
  });
}

type Block = Exclude<MessagesRequest['messages'][number]['content'], string>[number];

/** Text of a tool result: a string or text blocks joined; marked as an error when `is_error`. */
function toolResultText(block: Extract<Block, { type: 'tool_result' }>): string {
  const c = block.content;
  const text = c === undefined ? '' : typeof c === 'string' ? c : c.map((t) => t.text).join('');
  return block.is_error ? `${TOOL_ERROR_PREFIX}${text}` : text;
}

/**
 * Messages request → template input. A user message becomes, in block order, `tool` messages (one per
 * tool_result, with its `tool_call_id`) and `user` messages (consecutive text blocks joined by newlines); an
 * assistant message becomes one message with its text blocks concatenated as content, thinking as
 * `reasoning_content` and tool_use blocks as `tool_calls` (`arguments` = `input`). `redacted_thinking` is dropped
 * (it cannot be read). `thinking` `enabled` and `adaptive` turn thinking on, `disabled` off; `budget_tokens` is not
 * enforced: `max_tokens` bounds reasoning and answer together. A final assistant message stays last: the route
 * renders it as a prefill to continue (`continueFinalMessage` of LocalModel.prepareChat).
 * Expects a body that passed {@link checkBlockTypes} and the schema.
 */
export function toChatInput(body: MessagesRequest): ChatInput {
  const messages: ChatMessage[] = [];
  if (body.system !== undefined) {
    const system = typeof body.system === 'string' ? body.system : body.system.map((b) => b.text).join('\n');
    messages.push({ role: 'system', content: system });
  }
  for (const m of body.messages) {
    if (typeof m.content === 'string') {
      messages.push({ role: m.role, content: m.content });
    } else if (m.role === 'user') {
      let text: string[] | null = null;
      for (const block of m.content) {
        if (block.type === 'text') {
          (text ??= []).push(block.text);
        } else if (block.type === 'tool_result') {
          if (text) messages.push({ role: 'user', content: text.join('\n') });
          text = null;
          const result: ChatMessage & Record<string, unknown> = { role: 'tool', content: toolResultText(block), tool_call_id: block.tool_use_id };
          messages.push(result);
        }
      }
      if (text || m.content.length === 0) messages.push({ role: 'user', content: (text ?? []).join('\n') });
    } else {
      const text: string[] = [];
      const reasoning: string[] = [];
      const calls: ChatToolCall[] = [];
      for (const block of m.content) {
        if (block.type === 'text') text.push(block.text);
        else if (block.type === 'thinking') reasoning.push(block.thinking);
        else if (block.type === 'tool_use') calls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: block.input } });
      }
      const out: ChatMessage = { role: 'assistant', content: text.join('') };
      if (reasoning.some((r) => r)) out.reasoning_content = reasoning.join('');
      if (calls.length) out.tool_calls = calls;
      messages.push(out);
    }
  }
  const tools = body.tools?.map((t): ChatTool => ({ type: 'function', function: { name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), parameters: t.input_schema } }));
  const c = body.tool_choice;
  const toolChoice = c === undefined ? undefined : c.type === 'tool' ? { name: (c as { name: string }).name } : c.type === 'any' ? ('required' as const) : (c.type as 'auto' | 'none');
  const enableThinking = body.thinking === undefined ? undefined : body.thinking.type !== 'disabled';
  return { messages, tools: tools?.length ? tools : undefined, toolChoice, enableThinking };
}

/**
 * A parsed call's `arguments` (JSON text of an object, from the parser) as the `input` object.
 * @throws Error when it is not a JSON object (the parser promises one: a bug)
 */
export function toolInput(args: string): Record<string, unknown> {
  const v: unknown = JSON.parse(args);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`tool-call arguments are not a JSON object: ${args.slice(0, 80)}`);
  return v as Record<string, unknown>;
}

/**
 * Content blocks of a parsed result: a thinking block (signature '') when there is reasoning, a text block when
 * there is content (or when there is nothing else, so content is never empty), then one tool_use block per call.
 */
export function contentBlocks(result: ParseResult): ContentBlock[] {
  const blocks: ContentBlock[] = [];
  if (result.reasoningContent) blocks.push({ type: 'thinking', thinking: result.reasoningContent, signature: '' });
  if (result.content || (blocks.length === 0 && result.toolCalls.length === 0)) blocks.push({ type: 'text', text: result.content });
  for (const c of result.toolCalls) blocks.push({ type: 'tool_use', id: toolUseId(c.id), name: c.function.name, input: toolInput(c.function.arguments) });
  return blocks;
}

/**
 * Why generation stopped, in Anthropic's words: the token budget → `max_tokens` (also inside thinking, and inside
 * a tool call, whose tool_use block then holds the parameters that ended before the cut); tool calls
 * made → `tool_use`; one of `stop_sequences` matched → `stop_sequence` (named in `stop_sequence`); else `end_turn`.
 */
export function stopReason(finishReason: FinishReason, result: ParseResult, stopString: string | undefined): { stop_reason: StopReason; stop_sequence: string | null } {
  const stop_sequence = stopString ?? null;
  if (finishReason === 'length') return { stop_reason: 'max_tokens', stop_sequence };
  if (result.toolCalls.length) return { stop_reason: 'tool_use', stop_sequence };
  return { stop_reason: stopString !== undefined ? 'stop_sequence' : 'end_turn', stop_sequence };
}

type OpenBlock = { kind: 'thinking' | 'text'; index: number } | { kind: 'tool_use'; index: number; call: number };

/**
 * Parser deltas → `content_block_*` events. Blocks follow the text's order: reasoning opens a thinking block,
 * content a text block, a call's first delta a tool_use block (`input: {}`, then `input_json_delta`s); a change of
 * kind stops the open block. Within one delta the pieces are taken as the text can hold them: reasoning, then the
 * open call's remaining arguments, then content, then new calls. {@link finish} stops the last block (a thinking
 * block after a `signature_delta` of '') and, when no block was sent, sends an empty text block, as
 * {@link contentBlocks} does.
 */
export class ContentBlockStream {
  private open: OpenBlock | undefined;
  private next = 0;
  /** Block index of each call index. */
  private readonly callBlocks = new Map<number, number>();

  push(delta: ParserDelta): StreamEvent[] {
    const out: StreamEvent[] = [];
    if (delta.reasoningContent) this.appendText(out, 'thinking', delta.reasoningContent);
    const calls = delta.toolCallDeltas ?? [];
    const fresh = calls.findIndex((c) => !this.callBlocks.has(c.index));
    const continued = fresh < 0 ? calls : calls.slice(0, fresh);
    for (const c of continued) this.appendCall(out, c);
    if (delta.content) this.appendText(out, 'text', delta.content);
    if (fresh >= 0) for (const c of calls.slice(fresh)) this.appendCall(out, c);
    return out;
  }

  finish(): StreamEvent[] {
    const out: StreamEvent[] = [];
    if (this.next === 0) this.start(out, { kind: 'text', index: 0 }, { type: 'text', text: '' });
    this.stop(out);
    return out;
  }

  private appendText(out: StreamEvent[], kind: 'thinking' | 'text', text: string): void {
    if (this.open?.kind !== kind) this.start(out, { kind, index: this.next }, kind === 'thinking' ? { type: 'thinking', thinking: '', signature: '' } : { type: 'text', text: '' });
    const delta = kind === 'thinking' ? { type: 'thinking_delta', thinking: text } : { type: 'text_delta', text };
    out.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index: this.open!.index, delta } });
  }

  private appendCall(out: StreamEvent[], c: ToolCallDelta): void {
    let index = this.callBlocks.get(c.index);
    if (index === undefined) {
      index = this.next;
      this.callBlocks.set(c.index, index);
      this.start(out, { kind: 'tool_use', index, call: c.index }, { type: 'tool_use', id: toolUseId(c.id ?? `call_${c.index}`), name: c.function.name ?? '', input: {} });
    }
    // A call's pieces arrive while its block is open (the parser reads one call at a time).
    const piece = c.function.arguments;
    if (piece) out.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } } });
  }

  private start(out: StreamEvent[], block: OpenBlock, contentBlock: ContentBlock): void {
    this.stop(out);
    this.open = block;
    this.next = block.index + 1;
    out.push({ event: 'content_block_start', data: { type: 'content_block_start', index: block.index, content_block: contentBlock } });
  }

  private stop(out: StreamEvent[]): void {
    const b = this.open;
    if (!b) return;
    if (b.kind === 'thinking') out.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index: b.index, delta: { type: 'signature_delta', signature: '' } } });
    out.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index: b.index } });
    this.open = undefined;
  }
}
