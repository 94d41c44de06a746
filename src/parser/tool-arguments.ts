/**
 * Types tool-call parameter values by the tool's JSON schema. The model writes every value as text
 * (`<parameter=days>3</parameter>`, spec §5.2: non-string values JSON-encoded); the OpenAI `arguments` string needs
 * JSON, so each value becomes a JSON string, number, boolean, null, object or array here. Follows the conversion
 * of vLLM's `qwen3_xml`/`qwen3_coder` tool parsers, except that a value with no schema stays a string and Python
 * literals (`{'a': 1}`) are not accepted.
 */
import type { ChatTool } from '../tokenizer/tokenizer.js';

/** JSON-schema type names, plus the aliases vLLM's Qwen3 parsers accept, mapped to the JSON-schema name. */
const TYPE_ALIASES: Readonly<Record<string, string>> = {
  string: 'string', str: 'string', text: 'string', varchar: 'string', char: 'string', enum: 'string',
  integer: 'integer', int: 'integer', uint: 'integer', long: 'integer', short: 'integer', unsigned: 'integer',
  number: 'number', float: 'number', double: 'number', num: 'number',
  boolean: 'boolean', bool: 'boolean', binary: 'boolean',
  object: 'object', dict: 'object', array: 'array', list: 'array', null: 'null',
};

const INTEGER_TEXT = /^[-+]?\d+$/;
const NUMBER_TEXT = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

type Schema = Record<string, unknown>;

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Type names a parameter schema allows, JSON-schema spelling, deduplicated: from `type` (a name or a list of
 * names), else from the `type` of each `anyOf`/`oneOf` branch. [] when the schema says nothing about the type.
 * Unknown names are dropped.
 */
export function schemaTypes(schema: unknown): string[] {
  if (!isSchema(schema)) return [];
  const names: string[] = [];
  const add = (type: unknown): void => {
    for (const name of Array.isArray(type) ? type : [type]) {
      const known = typeof name === 'string' ? TYPE_ALIASES[name.toLowerCase()] : undefined;
      if (known !== undefined && !names.includes(known)) names.push(known);
    }
  };
  if (schema.type !== undefined) {
    add(schema.type);
  } else {
    for (const key of ['anyOf', 'oneOf']) {
      const branches = schema[key];
      if (Array.isArray(branches)) for (const branch of branches) if (isSchema(branch)) add(branch.type);
    }
  }
  return names;
}

/** Integer text → canonical JSON integer text, exact at any size ("007" → "7", "+5" → "5"). */
function integerJson(text: string): string {
  return BigInt(text).toString();
}

/**
 * JSON text of one parameter value, typed by the allowed type names (from {@link schemaTypes}), tried in this
 * order; the first that fits wins:
 * 1. no types → JSON string of the value, verbatim;
 * 2. `null` allowed and the value is `null` → `null`;
 * 3. `string` allowed → JSON string, verbatim (so "null", "123", " x " stay strings);
 * 4. `integer` → an integer, or a number with an integral value ("3.0" → 3); big integers stay exact;
 * 5. `number` → any decimal number ("1e3", ".5", "-2"), as JS prints it (integers exact);
 * 6. `boolean` → `true`/`false`, case-insensitively;
 * 7. `object` / `array` → the value parsed as JSON when it is one of that kind, printed compactly;
 * 8. otherwise → JSON string of the value, verbatim.
 * Steps 2 and 4–7 look at the value with surrounding whitespace trimmed. Never throws.
 */
export function typedValueJson(value: string, types: readonly string[]): string {
  const verbatim = JSON.stringify(value);
  if (types.length === 0) return verbatim;
  const trimmed = value.trim();
  if (types.includes('null') && trimmed === 'null') return 'null';
  if (types.includes('string')) return verbatim;
  const numeric = NUMBER_TEXT.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (types.includes('integer')) {
    if (INTEGER_TEXT.test(trimmed)) return integerJson(trimmed);
    if (Number.isSafeInteger(numeric)) return String(numeric);
  }
  if (types.includes('number')) {
    if (INTEGER_TEXT.test(trimmed)) return integerJson(trimmed);
    if (Number.isFinite(numeric)) return String(numeric);
  }
  if (types.includes('boolean')) {
    const lower = trimmed.toLowerCase();
    if (lower === 'true' || lower === 'false') return lower;
  }
  if (types.includes('object') || types.includes('array')) {
    const parsed = parseJson(trimmed);
    if (types.includes('object') && isSchema(parsed)) return JSON.stringify(parsed);
    if (types.includes('array') && Array.isArray(parsed)) return JSON.stringify(parsed);
  }
  return verbatim;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The parameter schemas of the tools offered in a request, looked up by tool and parameter name. A tool that is
 * not offered, a parameter its schema does not list, and a parameter schema without a type all give string
 * values. With duplicate tool names the first tool wins.
 */
export class ToolParameterTypes {
  private readonly byTool = new Map<string, Schema>();

  /** @param tools OpenAI tools (`{type: 'function', function: {name, parameters}}`); malformed entries are skipped. */
  constructor(tools: readonly ChatTool[] = []) {
    for (const tool of tools) {
      const fn: unknown = isSchema(tool) ? tool.function : undefined;
      if (!isSchema(fn) || typeof fn.name !== 'string' || this.byTool.has(fn.name)) continue;
      const properties = isSchema(fn.parameters) ? fn.parameters.properties : undefined;
      this.byTool.set(fn.name, isSchema(properties) ? properties : {});
    }
  }

  /** JSON text of parameter `parameterName` of tool `toolName` with text `value` (see {@link typedValueJson}). */
  valueJson(toolName: string, parameterName: string, value: string): string {
    const properties = this.byTool.get(toolName);
    const known = properties !== undefined && Object.hasOwn(properties, parameterName);
    return typedValueJson(value, schemaTypes(known ? properties[parameterName] : undefined));
  }
}
