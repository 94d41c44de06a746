/**
 * Request parameters of structured output → one GrammarSpec (and the parameter it came from, for errors):
 * OpenAI `response_format` (`json_object`, `json_schema`), vLLM/SGLang `structured_outputs` {json, regex, choice,
 * grammar, json_object, structural_tag} and the older `guided_json` / `guided_regex` / `guided_choice` /
 * `guided_grammar`, Anthropic `output_format`; and the tool-call grammar of `tool_choice` (`required`, a named
 * function; Anthropic `any` / `tool`) or of `strict` tools under `auto`, with `parallel_tool_calls`. At most one
 * of them may constrain a request. Sources: OpenAI API reference (Structured Outputs, function calling `strict`);
 * vLLM structured outputs docs; Anthropic structured outputs.
 */
import { toolCallGrammar, type GrammarSpec, type GrammarTool } from '../grammar/spec.js';
import { invalidParam } from './errors.js';

/** A constraint and the request parameter it came from. */
export interface RequestedGrammar {
  spec: GrammarSpec;
  param: string;
}

/** The structured-output fields the OpenAI endpoints accept (validated shapes, see schemas.ts). */
export interface StructuredFields {
  response_format?: { type: string; json_schema?: { name?: string; schema?: Record<string, unknown>; strict?: boolean | null } } | null;
  structured_outputs?: { json?: Record<string, unknown> | string; regex?: string; choice?: string[]; grammar?: string; json_object?: boolean; structural_tag?: Record<string, unknown> | string } | null;
  guided_json?: Record<string, unknown> | string | null;
  guided_regex?: string | null;
  guided_choice?: string[] | null;
  guided_grammar?: string | null;
}

/** A JSON schema given as an object or as JSON text. @throws ApiError 400 naming `param` */
function schemaValue(v: Record<string, unknown> | string, param: string): Record<string, unknown> {
  if (typeof v !== 'string') return v;
  try {
    const parsed: unknown = JSON.parse(v);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw invalidParam(param, `${param}: expected a JSON schema (an object, or its JSON text)`);
}

function structuralTag(v: Record<string, unknown> | string, param: string): GrammarSpec {
  const tag = schemaValue(v, param);
  const format = tag.format;
  if (format === null || typeof format !== 'object') throw invalidParam(param, `${param}: expected {"type": "structural_tag", "format": {…}}`);
  return { type: 'structural_tag', format: format as Record<string, unknown> };
}

/**
 * The output grammar a request asks for, if any.
 * @throws ApiError 400 when two parameters both constrain the output, or one is malformed
 */
export function requestedGrammar(f: StructuredFields): RequestedGrammar | undefined {
  const found: RequestedGrammar[] = [];
  const rf = f.response_format;
  if (rf && rf.type === 'json_object') found.push({ spec: { type: 'json_object' }, param: 'response_format' });
  else if (rf && rf.type === 'json_schema') {
    const schema = rf.json_schema?.schema;
    // OpenAI: a json_schema without schema is any JSON object.
    found.push({ spec: schema ? { type: 'json_schema', schema } : { type: 'json_object' }, param: 'response_format.json_schema.schema' });
  }
  const so = f.structured_outputs;
  if (so) {
    const keys = (['json', 'regex', 'choice', 'grammar', 'json_object', 'structural_tag'] as const).filter((k) => so[k] !== undefined && so[k] !== null && so[k] !== false);
    if (keys.length !== 1) throw invalidParam('structured_outputs', `structured_outputs: give exactly one of json, regex, choice, grammar, json_object, structural_tag (got ${keys.length ? keys.join(', ') : 'none'})`);
    const k = keys[0]!;
    const param = `structured_outputs.${k}`;
    if (k === 'json') found.push({ spec: { type: 'json_schema', schema: schemaValue(so.json!, param) }, param });
    else if (k === 'regex') found.push({ spec: { type: 'regex', pattern: so.regex! }, param });
    else if (k === 'choice') found.push({ spec: { type: 'choice', choices: so.choice! }, param });
    else if (k === 'grammar') found.push({ spec: { type: 'ebnf', grammar: so.grammar! }, param });
    else if (k === 'json_object') found.push({ spec: { type: 'json_object' }, param });
    else found.push({ spec: structuralTag(so.structural_tag!, param), param });
  }
  if (f.guided_json != null) found.push({ spec: { type: 'json_schema', schema: schemaValue(f.guided_json, 'guided_json') }, param: 'guided_json' });
  if (f.guided_regex != null) found.push({ spec: { type: 'regex', pattern: f.guided_regex }, param: 'guided_regex' });
  if (f.guided_choice != null) found.push({ spec: { type: 'choice', choices: f.guided_choice }, param: 'guided_choice' });
  if (f.guided_grammar != null) found.push({ spec: { type: 'ebnf', grammar: f.guided_grammar }, param: 'guided_grammar' });
  if (found.length > 1) throw invalidParam(found[1]!.param, `${found[1]!.param}: only one output constraint per request (${found.map((g) => g.param).join(' and ')} both given)`);
  return found[0];
}

/** tool_choice after the route's translation ('required' also stands for Anthropic's `any`). */
export type ToolChoice = 'none' | 'auto' | 'required' | { name: string } | undefined;

/**
 * The tool-call grammar of a request: forced calls (`required`, a named function) always follow each tool's
 * parameter schema; under `auto` (or no tool_choice) calls of `strict` tools are constrained from `<tool_call>` on.
 * @throws ApiError 400 when a tool grammar and an output constraint (`other`) would both apply
 */
export function toolGrammar(tools: readonly GrammarTool[] | undefined, choice: ToolChoice, parallel: boolean, other: RequestedGrammar | undefined): RequestedGrammar | undefined {
  if (!tools?.length || choice === 'none') return undefined;
  const mode = choice === 'required' ? ({ kind: 'required' } as const) : typeof choice === 'object' ? ({ kind: 'named', name: choice.name } as const) : ({ kind: 'auto' } as const);
  const spec = toolCallGrammar(tools, mode, parallel);
  if (!spec) return undefined;
  if (other) throw invalidParam('tool_choice', `tool_choice: constrained tool calls (${mode.kind === 'auto' ? 'strict tools' : 'a forced call'}) cannot be combined with ${other.param} in one request`);
  return { spec, param: 'tools' };
}
