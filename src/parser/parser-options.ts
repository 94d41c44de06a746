/**
 * Options of {@link MiMoOutputParser} and their check: a JavaScript caller may pass anything, and a wrong option is a
 * RequestError naming it.
 */
import { RequestError } from '../errors.js';
import type { ChatTool } from '../tokenizer/tokenizer.js';

/** Options of {@link MiMoOutputParser}. */
export interface MiMoOutputParserOptions {
  /**
   * The request's tools; their parameter schemas type argument values and tell real `<parameter=NAME>` tags from
   * tag text inside a value. undefined, null or []: none (values stay strings, any tool name is read as a call).
   */
  tools?: readonly ChatTool[] | null;
  /**
   * A `<function=NAME>` whose NAME is none of the offered tools' names, when tools are offered: 'text' (default) keeps
   * the whole block as text of its section, as SGLang drops such calls; 'call' returns it as a call, as vLLM does.
   * A NAME that is not a plausible identifier (empty, or holding whitespace, quotes, `{`, `}`, `<`, `>`, e.g. echoed
   * template text `{{ tc.name }}`) is always text.
   */
  unknownTools?: 'text' | 'call';
  /** True when the prompt left reasoning open: `startsInThinking(renderedPrompt)` (starts-in-thinking.ts). */
  startsInThinking: boolean;
  /**
   * Read `<tool_call>` blocks as tool calls; default true. false: they are ordinary text of their section, as vLLM
   * does when the request offered no tools or set tool_choice "none" (its tool parser is not run then).
   */
  toolCalls?: boolean;
  /** Return complete `<tool_call>` blocks written inside the reasoning as tool calls; default true. */
  toolCallsInThinking?: boolean;
  /**
   * The text starts with a call the caller forced (it ended the prompt with `<tool_call>\n` or
   * `<tool_call>\n<function=NAME>\n`, as for `tool_choice`, and pushes that first): this first call is read as soon
   * as its name is, whatever follows; text where a parameter should be ends it (and is content). Default false.
   */
  forcedToolCall?: boolean;
  /** Id of the call at `index` (0-based, in stream order); default `call_` + 24 random hex digits. */
  toolCallId?: (index: number) => string;
}

const OPTION_KEYS: readonly string[] = ['tools', 'startsInThinking', 'toolCalls', 'toolCallsInThinking', 'toolCallId', 'unknownTools', 'forcedToolCall'];

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

/**
 * Checks the options of {@link MiMoOutputParser} as a JavaScript caller may pass anything.
 * @throws RequestError naming the option (`options`, `tools`, `startsInThinking`, …, or the unknown key)
 */
export function checkOptions(options: unknown): asserts options is MiMoOutputParserOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new RequestError('options', `MiMoOutputParser needs an options object such as {startsInThinking: false}, got ${typeName(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.includes(key)) throw new RequestError(key, `unknown MiMoOutputParser option '${key}'; the options are ${OPTION_KEYS.join(', ')}`);
  }
  if (typeof o.startsInThinking !== 'boolean') {
    throw new RequestError('startsInThinking', `must be a boolean (startsInThinking(renderedPrompt) gives it), got ${typeName(o.startsInThinking)}`);
  }
  if (o.tools !== undefined && o.tools !== null && !Array.isArray(o.tools)) {
    throw new RequestError('tools', `must be an array of tools ({type: 'function', function: {name, parameters}}), undefined or null, got ${typeName(o.tools)}`);
  }
  for (const key of ['toolCalls', 'toolCallsInThinking', 'forcedToolCall']) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') throw new RequestError(key, `must be a boolean or undefined, got ${typeName(o[key])}`);
  }
  if (o.unknownTools !== undefined && o.unknownTools !== 'text' && o.unknownTools !== 'call') {
    throw new RequestError('unknownTools', `must be 'text', 'call' or undefined, got ${typeof o.unknownTools === 'string' ? JSON.stringify(o.unknownTools) : typeName(o.unknownTools)}`);
  }
  if (o.toolCallId !== undefined && typeof o.toolCallId !== 'function') {
    throw new RequestError('toolCallId', `must be a function (index) => string or undefined, got ${typeName(o.toolCallId)}`);
  }
}
