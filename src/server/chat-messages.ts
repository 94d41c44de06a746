/**
 * OpenAI chat messages → the template's messages: text parts joined, `developer` as `system`, `null` content as
 * '', assistant `reasoning_content` and `tool_calls` kept, tool results with their `tool_call_id`.
 * Source: OpenAI Chat Completions "messages"; spec §5.2.
 */
import type { ChatMessage } from '../tokenizer/tokenizer.js';
import type { ChatRequest } from './schemas.js';

export function toChatMessages(messages: ChatRequest['messages']): ChatMessage[] {
  return messages.map((m) => {
    const content = typeof m.content === 'string' ? m.content : Array.isArray(m.content) ? m.content.map((p) => p.text).join('') : '';
    const out: ChatMessage & Record<string, unknown> = { role: m.role === 'developer' ? 'system' : m.role, content };
    if (typeof m.reasoning_content === 'string' && m.reasoning_content) out.reasoning_content = m.reasoning_content;
    if (m.tool_calls?.length) out.tool_calls = m.tool_calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.function.name, arguments: c.function.arguments } }));
    if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
    if (m.name !== undefined) out.name = m.name;
    return out;
  });
}
