/**
 * What the library's `MiMoEngine.generate` returns, and its errors in the library's own option names. The server
 * names request parameters as the OpenAI API does (`max_tokens`); a library caller wrote `maxTokens`, so errors the
 * shared validation raises are renamed here (issue 14).
 */
import { RequestError } from '../errors.js';
import { MiMoOutputParser, startsInThinking } from '../parser/mimo-output-parser.js';
import type { ToolCall } from '../parser/types.js';
import type { ChatTool } from '../tokenizer/tokenizer.js';
import type { GenerationResult } from './generate.js';

/** `generate()`'s result: the answer parsed as the server parses it, and the raw text. */
export interface EngineResult extends GenerationResult {
  /** The answer: reasoning and tool-call markup removed ('' when the output ended inside thinking). */
  text: string;
  /** Everything the model generated, as decoded (reasoning and `<tool_call>` XML included). */
  rawText: string;
  /** The reasoning (between `<think>` and `</think>`), '' when none. */
  reasoning: string;
  /** Tool calls (parsed only when the input offered tools), OpenAI-shaped; arguments are JSON text. */
  toolCalls: ToolCall[];
  /** True when generation ended before `</think>` closed the reasoning (raise maxTokens or turn thinking off). */
  finishedInThinking: boolean;
}

/** Server parameter name → library option or input field name. */
const LIBRARY_NAMES: Readonly<Record<string, string>> = {
  max_tokens: 'maxTokens',
  cache_salt: 'cacheSalt',
  stop_token_ids: 'stopTokenIds',
  top_logprobs: 'logprobs',
  top_k: 'topK',
  top_p: 'topP',
  min_p: 'minP',
  repetition_penalty: 'repetitionPenalty',
  presence_penalty: 'presencePenalty',
  frequency_penalty: 'frequencyPenalty',
  prompt_ids: 'promptIds',
  enable_thinking: 'enableThinking',
};

/** The same error with the library's name for its parameter (message rewritten too); other errors unchanged. */
export function libraryError(e: unknown): unknown {
  if (!(e instanceof RequestError)) return e;
  const name = LIBRARY_NAMES[e.param];
  if (name === undefined) return e;
  const detail = e.message.slice(e.param.length + 2).replaceAll(e.param, name);
  const renamed = new RequestError(name, detail);
  renamed.stack = e.stack?.replace(e.message, renamed.message);
  return renamed;
}

/**
 * Parse a finished generation as the server does: reasoning and tool calls out of the text.
 * @param promptText the text the model continued (tells whether the output starts inside thinking)
 * @param tools the input's tools, or null: `<tool_call>` text is then left in the answer, as the server does
 */
export function parseResult(result: GenerationResult, promptText: string, tools: readonly ChatTool[] | null): EngineResult {
  const parser = new MiMoOutputParser({ tools, startsInThinking: startsInThinking(promptText), toolCalls: tools !== null });
  parser.push(result.text);
  parser.flush();
  const parsed = parser.finish();
  return { ...result, text: parsed.content, rawText: result.text, reasoning: parsed.reasoningContent, toolCalls: parsed.toolCalls, finishedInThinking: parsed.finishedInThinking };
}
