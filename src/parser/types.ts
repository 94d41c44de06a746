/**
 * Shapes of the model-output parser's results, OpenAI-shaped: what one `push` releases (a stream chunk's
 * `delta`), and what `finish` returns (a non-streaming `message`).
 */

/** One streamed fragment of a tool call, as OpenAI's `choices[].delta.tool_calls[]`. */
export interface ToolCallDelta {
  /** Position of the call in this output's tool-call list, 0-based; a stream never reuses an index. */
  index: number;
  /** Present on the first fragment of a call only. */
  id?: string;
  /** Present on the first fragment of a call only. */
  type?: 'function';
  /** `name` on the first fragment only; `arguments` are JSON-text pieces whose concatenation is the final text. */
  function: { name?: string; arguments?: string };
}

/** What one `push` releases; a field is present only when non-empty. */
export interface ParserDelta {
  content?: string;
  reasoningContent?: string;
  toolCallDeltas?: ToolCallDelta[];
}

/** A complete tool call, as OpenAI's `choices[].message.tool_calls[]`. */
export interface ToolCall {
  /** `call_…`, the same string the stream gave in the call's first delta. */
  id: string;
  type: 'function';
  /** `arguments` is the JSON text of an object, parameters in the order the model wrote them. */
  function: { name: string; arguments: string };
}

/** The whole parsed output, identical however the text was split into pushes. */
export interface ParseResult {
  /** Answer text; '' (never null) when there is none, e.g. only tool calls, or the text ended while thinking. */
  content: string;
  /** Reasoning text (between `<think>` and `</think>`), tool calls found there removed; '' when none. */
  reasoningContent: string;
  toolCalls: ToolCall[];
  /** True when the text ended before `</think>` closed the reasoning (content is then ''). */
  finishedInThinking: boolean;
}
