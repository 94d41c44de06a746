/**
 * Whether a rendered MiMo-V2 prompt leaves the model inside its reasoning (spec §5.2 item 6: the generation prompt
 * ends `<think>` with thinking on, `<think></think>` with it off).
 */

import { RequestError } from '../errors.js';

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';
const TURN_START = '<|im_start|>';

/**
 * Whether generation continues inside reasoning, decided from the end of the rendered prompt only: the text
 * after the last `<|im_start|>` (the turn being generated; the whole prompt if there is none) must hold a
 * `<think>` with no later `</think>`. So thinking on (`…assistant\n<think>`) → true, thinking off
 * (`<think></think>`) → false, and tags elsewhere — the tools block's instructions mention `</think>`, earlier
 * assistant turns hold reasoning — never decide it (spec §7 item 10: Qwen3 reasoning parsers that search the
 * whole prompt get this wrong). Also exported from mimo-output-parser.ts.
 * @throws RequestError (param `renderedPrompt`) when the prompt is not a string (e.g. undefined)
 */
export function startsInThinking(renderedPrompt: string): boolean {
  if (typeof renderedPrompt !== 'string') {
    const got = renderedPrompt === null ? 'null' : Array.isArray(renderedPrompt) ? 'an array' : typeof renderedPrompt;
    throw new RequestError('renderedPrompt', `startsInThinking(renderedPrompt) needs the rendered prompt as a string, got ${got}`);
  }
  const turn = renderedPrompt.slice(Math.max(0, renderedPrompt.lastIndexOf(TURN_START)));
  const open = turn.lastIndexOf(THINK_OPEN);
  return open >= 0 && turn.indexOf(THINK_CLOSE, open) < 0;
}
