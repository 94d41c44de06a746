/**
 * What a constrained request asks for, independent of any API: a `GrammarSpec` (JSON object, JSON schema, regex,
 * choice, EBNF, or an xgrammar structural tag), checked here before xgrammar sees it (its own errors abort its
 * WebAssembly instance, so the common mistakes are caught in TypeScript first, with the JSON pointer inside the
 * schema), and the structural tag of MiMo's XML tool calls. Source: xgrammar's JSON schema converter and structural
 * tag formats (`qwen_xml_parameter`: `<parameter=KEY>VALUE</parameter>` per property); the chat template's tool-call
 * format `<tool_call>\n<function=NAME>\n<parameter=…>…</parameter>\n</function>\n</tool_call>` (spec §5.2).
 */
import { RequestError } from '../errors.js';

/** JSON written by a JSON grammar: compact separators, no whitespace between tokens (output bounded by the schema). */
export type GrammarSpec =
  /** Any JSON object (OpenAI JSON mode). */
  | { type: 'json_object' }
  /** JSON valid under a JSON schema (draft 2020-12 subset xgrammar supports). */
  | { type: 'json_schema'; schema: Record<string, unknown> | boolean }
  /** Text matching a regular expression (whole output). */
  | { type: 'regex'; pattern: string }
  /** Exactly one of these strings. */
  | { type: 'choice'; choices: string[] }
  /** A GBNF-like EBNF grammar (xgrammar's dialect, root rule `root`). */
  | { type: 'ebnf'; grammar: string }
  /** An xgrammar structural tag (`{type: 'structural_tag', format}`), e.g. tool calls; see toolCallGrammar. */
  | { type: 'structural_tag'; format: Record<string, unknown> };

/** Largest schema / grammar / regex text accepted (characters): compile time grows with it. */
export const MAX_GRAMMAR_CHARS = 65536;

const NUMBER_BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const;
const JSON_TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null']);

/**
 * Check a spec's shape and the parts xgrammar would reject fatally: schema `type` names, `pattern` regexes (as
 * JavaScript `u` regexes), `enum`/`const` shapes, sizes.
 * @param param the request parameter the spec came from (named in errors), e.g. `response_format.json_schema.schema`
 * @throws RequestError naming `param` and, inside a schema, the JSON pointer (`…: at /properties/age/type: …`)
 */
export function validateGrammarSpec(spec: GrammarSpec, param: string): void {
  if (spec === null || typeof spec !== 'object') throw new RequestError(param, 'must be an object with a type');
  switch (spec.type) {
    case 'json_object':
      return;
    case 'json_schema': {
      const s = spec.schema;
      if (typeof s !== 'boolean' && (s === null || typeof s !== 'object' || Array.isArray(s))) throw new RequestError(param, 'the JSON schema must be an object (or a boolean)');
      if (s === false) throw new RequestError(param, 'the JSON schema false admits no output');
      if (JSON.stringify(s).length > MAX_GRAMMAR_CHARS) throw new RequestError(param, `the JSON schema is longer than ${MAX_GRAMMAR_CHARS} characters`);
      if (typeof s === 'object') checkSchema(s, '', param);
      return;
    }
    case 'regex':
      if (typeof spec.pattern !== 'string' || spec.pattern.length === 0) throw new RequestError(param, 'the regex must be a non-empty string');
      if (spec.pattern.length > MAX_GRAMMAR_CHARS) throw new RequestError(param, `the regex is longer than ${MAX_GRAMMAR_CHARS} characters`);
      checkRegex(spec.pattern, param, '');
      return;
    case 'choice':
      if (!Array.isArray(spec.choices) || spec.choices.length === 0 || spec.choices.some((c) => typeof c !== 'string' || c.length === 0)) {
        throw new RequestError(param, 'choices must be a non-empty list of non-empty strings');
      }
      return;
    case 'ebnf':
      if (typeof spec.grammar !== 'string' || !/\broot\s*::=/.test(spec.grammar)) throw new RequestError(param, 'the grammar must be EBNF text with a rule `root ::= …`');
      if (spec.grammar.length > MAX_GRAMMAR_CHARS) throw new RequestError(param, `the grammar is longer than ${MAX_GRAMMAR_CHARS} characters`);
      return;
    case 'structural_tag':
      if (spec.format === null || typeof spec.format !== 'object') throw new RequestError(param, 'a structural tag needs a format object');
      return;
    default:
      throw new RequestError(param, `unknown grammar type ${JSON.stringify((spec as { type: unknown }).type)} (valid: json_object, json_schema, regex, choice, ebnf, structural_tag)`);
  }
}

function checkRegex(pattern: string, param: string, where: string): void {
  if (/\(\?<[=!]/.test(pattern)) throw new RequestError(param, `${where}regex ${JSON.stringify(pattern)}: lookbehind is not supported`);
  try {
    new RegExp(pattern, 'u');
  } catch (e) {
    throw new RequestError(param, `${where}regex ${JSON.stringify(pattern)} does not compile: ${(e as Error).message}`);
  }
}

const SUBSCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions'] as const;
const SUBSCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const;
const SUBSCHEMA_ONE = ['items', 'additionalProperties', 'not', 'contains', 'propertyNames', 'unevaluatedProperties', 'unevaluatedItems', 'if', 'then', 'else'] as const;

/** Walk a schema; `ptr` is the JSON pointer of `s` (RFC 6901). */
function checkSchema(s: Record<string, unknown>, ptr: string, param: string): void {
  const at = (key: string) => `at ${ptr}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}: `;
  const t = s.type;
  if (t !== undefined) {
    const names = Array.isArray(t) ? t : [t];
    for (const n of names) if (typeof n !== 'string' || !JSON_TYPES.has(n)) throw new RequestError(param, `${at('type')}unknown type ${JSON.stringify(n)} (valid: ${[...JSON_TYPES].join(', ')})`);
  }
  if (s.pattern !== undefined) {
    if (typeof s.pattern !== 'string') throw new RequestError(param, `${at('pattern')}must be a string`);
    checkRegex(s.pattern, param, at('pattern'));
  }
  // Known xgrammar 0.1.27 defects that would give schema-invalid output silently: refused instead.
  const types = Array.isArray(t) ? t : [t];
  if (types.includes('number') && NUMBER_BOUNDS.some((k) => s[k] !== undefined)) {
    const k = NUMBER_BOUNDS.find((b) => s[b] !== undefined)!;
    throw new RequestError(param, `${at(k)}${k} on a "number" is not supported: xgrammar 0.1.27 does not enforce number ranges correctly (e.g. [-1, 1] admits -1.5 and refuses -0.5); use "integer", or drop the bound`);
  }
  if (s.format !== undefined && (s.minLength !== undefined || s.maxLength !== undefined)) {
    throw new RequestError(param, `${at('format')}"format" together with minLength/maxLength is not supported: xgrammar applies the format and ignores the length (output could exceed maxLength); drop one of them`);
  }
  if (s.enum !== undefined && (!Array.isArray(s.enum) || s.enum.length === 0)) throw new RequestError(param, `${at('enum')}must be a non-empty array`);
  if (s.required !== undefined && (!Array.isArray(s.required) || s.required.some((r) => typeof r !== 'string'))) throw new RequestError(param, `${at('required')}must be an array of property names`);
  for (const [lo, hi] of [['minLength', 'maxLength'], ['minItems', 'maxItems'], ['minimum', 'maximum'], ['minProperties', 'maxProperties']] as const) {
    for (const k of [lo, hi]) if (s[k] !== undefined && typeof s[k] !== 'number') throw new RequestError(param, `${at(k)}must be a number`);
    if (typeof s[lo] === 'number' && typeof s[hi] === 'number' && (s[lo] as number) > (s[hi] as number)) throw new RequestError(param, `${at(lo)}${lo} ${s[lo]} exceeds ${hi} ${s[hi]}: no value satisfies the schema`);
  }
  for (const key of SUBSCHEMA_MAPS) {
    const m = s[key];
    if (m === undefined) continue;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new RequestError(param, `${at(key)}must be an object of schemas`);
    for (const [name, sub] of Object.entries(m)) checkSub(sub, `${ptr}/${key}/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`, param);
  }
  for (const key of SUBSCHEMA_LISTS) {
    const l = s[key];
    if (l === undefined) continue;
    if (!Array.isArray(l) || l.length === 0) throw new RequestError(param, `${at(key)}must be a non-empty array of schemas`);
    l.forEach((sub, i) => checkSub(sub, `${ptr}/${key}/${i}`, param));
  }
  for (const key of SUBSCHEMA_ONE) if (s[key] !== undefined) checkSub(s[key], `${ptr}/${key}`, param);
}

function checkSub(sub: unknown, ptr: string, param: string): void {
  if (typeof sub === 'boolean') return;
  if (sub === null || typeof sub !== 'object' || Array.isArray(sub)) throw new RequestError(param, `at ${ptr}: must be a schema (an object or a boolean)`);
  checkSchema(sub as Record<string, unknown>, ptr, param);
}

/** A tool as the grammar sees it: its name, its parameters' JSON schema, and whether calls must satisfy it. */
export interface GrammarTool {
  name: string;
  parameters?: Record<string, unknown>;
  /** Constrain this tool's arguments to its schema (always, for forced calls). */
  strict?: boolean;
}

/** How tool calls are constrained: `required` (≥ 1 call, any tool), a named tool, or `auto` (strict tools only). */
export type ToolGrammarMode = { kind: 'required' } | { kind: 'named'; name: string } | { kind: 'auto' };

const CALL_OPEN = '<tool_call>';

/**
 * The structural tag of MiMo's XML tool calls. Each call is the tag `<tool_call>\n<function=NAME>\n`, the
 * parameters in Qwen's XML parameter format under the tool's schema, then `\n</function>\n</tool_call>`; calls are
 * separated by a newline. `required` / named: the output is one or more calls and nothing else (one exactly when
 * `parallel` is false) and every tool's arguments follow its schema; `auto`: free text, and from the moment
 * `<tool_call>` starts a call is constrained (strict tools by their schema, the others to well-formed XML);
 * undefined when `auto` has no strict tool (nothing to constrain).
 * @param tools the offered tools (non-empty)
 */
export function toolCallGrammar(tools: readonly GrammarTool[], mode: ToolGrammarMode, parallel: boolean): GrammarSpec | undefined {
  const forced = mode.kind !== 'auto';
  if (!forced && !tools.some((t) => t.strict)) return undefined;
  const chosen = mode.kind === 'named' ? tools.filter((t) => t.name === mode.name) : tools;
  const tags = chosen.map((t) => callTag(t, forced || t.strict === true));
  if (forced) return { type: 'structural_tag', format: { type: 'tags_with_separator', tags, separator: '\n', at_least_one: true, stop_after_first: !parallel } };
  return { type: 'structural_tag', format: { type: 'triggered_tags', triggers: [CALL_OPEN], tags, at_least_one: false, stop_after_first: !parallel } };
}

/**
 * One call's tag. Constrained: the parameters in Qwen's XML format under the tool's schema (a tool without
 * properties has none: `<function=NAME>\n</function>`); unconstrained (a non-strict tool under `auto`): any text up
 * to `</function>` (xgrammar's qwen_xml_parameter needs at least one property).
 */
function callTag(t: GrammarTool, constrained: boolean): Record<string, unknown> {
  const begin = `${CALL_OPEN}\n<function=${t.name}>`;
  const end = '\n</function>\n</tool_call>';
  const props = t.parameters?.properties;
  const hasProps = props !== null && typeof props === 'object' && Object.keys(props).length > 0;
  if (!constrained) return { type: 'tag', begin: `${begin}\n`, content: { type: 'any_text' }, end };
  if (!hasProps) return { type: 'tag', begin, content: { type: 'const_string', value: '\n' }, end: '</function>\n</tool_call>' };
  return { type: 'tag', begin: `${begin}\n`, content: { type: 'qwen_xml_parameter', json_schema: t.parameters }, end };
}
