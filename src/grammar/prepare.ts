/**
 * Library options → a sequence's ConstraintPlan: `responseFormat` / `grammar` compiled (cached) on the model's
 * GrammarRuntime, `logitBias` checked, whether the output starts inside `<think>` read from the prompt ids (the
 * last `<think>` comes after the last `</think>`), and the reasoning budget. Async because xgrammar starts and
 * compiles asynchronously; everything per token after that is synchronous.
 */
import { RequestError } from '../errors.js';
import type { MiMoTokenizer } from '../tokenizer/tokenizer.js';
import type { ConstraintPlan } from './output-constraint.js';
import { GrammarRuntime, type CompileResult } from './runtime.js';
import type { GrammarSpec } from './spec.js';

/** OpenAI-style response format of the library (`schema` is the JSON schema itself). */
export type ResponseFormat = { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; schema: Record<string, unknown> | boolean };

/** The constraint options of GenerateOptions. */
export interface ConstraintOptions {
  /** JSON mode or a JSON schema (OpenAI `response_format`). */
  responseFormat?: ResponseFormat;
  /** Any grammar: regex, EBNF, choice, JSON schema, structural tag. Exclusive with responseFormat. */
  grammar?: GrammarSpec;
  /** Reasoning tokens before `</think>` is forced when a grammar follows thinking (default: half of maxTokens). */
  reasoningBudget?: number;
  /** Token id → bias added to its logit, each in [-100, 100] (OpenAI `logit_bias`). */
  logitBias?: Record<number, number>;
}

/** What `prepareConstraint` compiled, for reporting. */
export interface PreparedConstraint {
  plan: ConstraintPlan;
  compile?: CompileResult;
}

/** A model's grammar runtime built from its tokenizer (null without a tokenizer: grammars need token bytes). */
export function runtimeFor(tokenizer: MiMoTokenizer | null, vocabSize: number, stopIds: number[]): GrammarRuntime | null {
  if (!tokenizer) return null;
  const { tokens, special } = tokenizer.rawVocabulary();
  // Special tokens get no text: xgrammar then never allows them, except the stop ids where the grammar may end.
  return new GrammarRuntime({ encoded: tokens.map((t, i) => (special[i] ? '' : t)), vocabSize, stopIds });
}

/**
 * @param param prefix of the parameter names in errors ('' for the library, e.g. 'response_format' on the server)
 * @returns undefined when the options ask for no constraint
 * @throws RequestError naming the option (responseFormat, grammar, reasoningBudget, logitBias) or the compile error
 */
export async function prepareConstraint(
  runtime: GrammarRuntime | null,
  tokenizer: MiMoTokenizer | null,
  promptIds: readonly number[],
  opts: ConstraintOptions,
  stopIds: readonly number[],
  vocabSize: number,
  names: { grammar?: string } = {},
): Promise<PreparedConstraint | undefined> {
  const spec = grammarOf(opts);
  const bias = logitBiasOf(opts.logitBias, vocabSize);
  if (opts.reasoningBudget !== undefined && (!Number.isSafeInteger(opts.reasoningBudget) || opts.reasoningBudget < 0)) {
    throw new RequestError('reasoning_budget', `must be an integer ≥ 0, got ${JSON.stringify(opts.reasoningBudget)}`);
  }
  if (!spec && !bias) return undefined;
  const thinkStart = tokenizer?.tokenId('<think>');
  const thinkEnd = tokenizer?.tokenId('</think>');
  const plan: ConstraintPlan = { startsInThinking: endsInsideThink(promptIds, thinkStart, thinkEnd), stopIds };
  if (opts.reasoningBudget !== undefined) plan.reasoningBudget = opts.reasoningBudget;
  if (thinkEnd !== undefined) plan.thinkEndId = thinkEnd;
  if (bias) plan.logitBias = bias;
  if (!spec) return { plan };
  if (!runtime) throw new RequestError(names.grammar ?? 'grammar', 'structured output needs the model\'s tokenizer.json (token bytes); this model has none');
  const compile = await runtime.compile(spec, names.grammar ?? (opts.grammar ? 'grammar' : 'responseFormat'));
  plan.grammar = compile.grammar;
  return { plan, compile };
}

function grammarOf(opts: ConstraintOptions): GrammarSpec | undefined {
  const rf = opts.responseFormat;
  if (rf !== undefined && opts.grammar !== undefined && rf.type !== 'text') throw new RequestError('grammar', 'give either responseFormat or grammar, not both');
  if (opts.grammar !== undefined) return opts.grammar;
  if (rf === undefined || rf.type === 'text') return undefined;
  if (rf.type === 'json_object') return { type: 'json_object' };
  if (rf.type === 'json_schema') return { type: 'json_schema', schema: rf.schema };
  throw new RequestError('responseFormat', `type must be text, json_object or json_schema, got ${JSON.stringify((rf as { type: unknown }).type)}`);
}

function logitBiasOf(b: Record<number, number> | undefined, vocabSize: number): Map<number, number> | undefined {
  if (b === undefined || b === null) return undefined;
  if (typeof b !== 'object' || Array.isArray(b)) throw new RequestError('logit_bias', 'must be an object mapping token ids to biases');
  const out = new Map<number, number>();
  for (const [k, v] of Object.entries(b)) {
    const id = Number(k);
    if (!/^\d+$/.test(k) || id >= vocabSize) throw new RequestError('logit_bias', `key ${JSON.stringify(k)} is not a token id in [0, ${vocabSize})`);
    if (typeof v !== 'number' || !(v >= -100 && v <= 100)) throw new RequestError('logit_bias', `bias of token ${k} must be a number in [-100, 100], got ${JSON.stringify(v)}`);
    if (v !== 0) out.set(id, v);
  }
  return out.size ? out : undefined;
}

/** Does the prompt end inside an open `<think>` (its last `<think>` after its last `</think>`)? */
export function endsInsideThink(ids: readonly number[], thinkStart: number | undefined, thinkEnd: number | undefined): boolean {
  if (thinkStart === undefined) return false;
  for (let i = ids.length - 1; i >= 0; i--) {
    if (ids[i] === thinkEnd) return false;
    if (ids[i] === thinkStart) return true;
  }
  return false;
}
