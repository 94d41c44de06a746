/**
 * Types tool-call parameter values by the tool's JSON schema. The model writes every value as text
 * (`<parameter=days>3</parameter>`, spec §5.2: non-string values JSON-encoded); the OpenAI `arguments` string needs
 * JSON, so each value becomes a JSON string, number, boolean, null, object or array here. Follows the conversion
 * of vLLM's `qwen3_xml`/`qwen3_coder` tool parsers (type names matched by prefix, nested unions resolved), except
 * that a value with no schema stays a string and Python literals (`{'a': 1}`) are not accepted.
 */
import type { ChatTool } from '../tokenizer/tokenizer.js';

/** JSON-schema type names, plus the exact aliases vLLM's Qwen3 parsers accept, mapped to the JSON-schema name. */
const TYPE_ALIASES: Readonly<Record<string, string>> = {
  string: 'string', str: 'string', text: 'string', varchar: 'string', char: 'string', enum: 'string',
  integer: 'integer', int: 'integer', uint: 'integer', long: 'integer', short: 'integer', unsigned: 'integer',
  number: 'number', float: 'number', double: 'number', num: 'number',
  boolean: 'boolean', bool: 'boolean', binary: 'boolean',
  object: 'object', dict: 'object', array: 'array', list: 'array', null: 'null',
};

/**
 * Name prefixes of sized types (`int64`, `uint32`, `float64`, `number_like`…), as vLLM matches integer and number
 * types with `startswith`; tried only when the whole name is not in {@link TYPE_ALIASES}.
 */
const TYPE_PREFIXES: readonly (readonly [string, string])[] = [
  ['uint', 'integer'], ['int', 'integer'], ['long', 'integer'], ['short', 'integer'], ['unsigned', 'integer'],
  ['float', 'number'], ['double', 'number'], ['num', 'number'],
];

const INTEGER_TEXT = /^[-+]?\d+$/;
const NUMBER_TEXT = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
/** How deep `anyOf`/`oneOf`/`allOf`/`$ref` nesting is followed; deeper (or cyclic `$ref`) parts are ignored. */
const MAX_SCHEMA_DEPTH = 16;

type Schema = Record<string, unknown>;

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A type name as written in a schema → its JSON-schema name, or undefined when unknown. */
function typeNameOf(name: string): string | undefined {
  const lower = name.toLowerCase();
  const exact = TYPE_ALIASES[lower];
  if (exact !== undefined) return exact;
  for (const [prefix, type] of TYPE_PREFIXES) if (lower.startsWith(prefix)) return type;
  return undefined;
}

/** The schema a local `$ref` (`#/$defs/X`, `#/definitions/X`, any `#/a/b` JSON pointer) names in `root`. */
function resolveRef(ref: string, root: unknown): unknown {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isSchema(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

/**
 * Type names a parameter schema allows, JSON-schema spelling, deduplicated, in the order met: from `type` (a name
 * or a list of names) and, recursively, from every `anyOf`/`oneOf`/`allOf` branch and local `$ref` (resolved in
 * `root`, the tool's whole `parameters` schema, so `#/$defs/X` works). [] when the schema says nothing about the
 * type. Unknown names are dropped; sized names (`uint32`, `float64`) count as integer / number.
 * @param root the schema `$ref`s are resolved in; defaults to `schema` itself
 */
export function schemaTypes(schema: unknown, root: unknown = schema): string[] {
  const names: string[] = [];
  const visit = (node: unknown, depth: number, refs: readonly string[]): void => {
    if (!isSchema(node) || depth > MAX_SCHEMA_DEPTH) return;
    for (const name of Array.isArray(node.type) ? node.type : [node.type]) {
      const known = typeof name === 'string' ? typeNameOf(name) : undefined;
      if (known !== undefined && !names.includes(known)) names.push(known);
    }
    for (const key of ['anyOf', 'oneOf', 'allOf']) {
      const branches = node[key];
      if (Array.isArray(branches)) for (const branch of branches) visit(branch, depth + 1, refs);
    }
    if (typeof node.$ref === 'string' && !refs.includes(node.$ref)) visit(resolveRef(node.$ref, root), depth + 1, [...refs, node.$ref]);
  };
  visit(schema, 0, []);
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
 * 2. `null` allowed and the value is `null` (any case, as both peers compare lower-cased) → `null`;
 * 3. `string` allowed → JSON string, verbatim (so "null", "123", " x " stay strings);
 * 4. the value is `null` (any case), or `None` while `null` is allowed (a Python-trained model's spelling) → `null`,
 *    as both peers give for a non-string parameter;
 * 5. `integer` → an integer, or a number with an integral value ("3.0" → 3); big integers stay exact;
 * 6. `number` → any decimal number ("1e3", ".5", "-2"), as JS prints it (integers exact);
 * 7. `boolean` → `true`/`false`, case-insensitively;
 * 8. `object` / `array` → the value parsed as JSON when it is one of that kind, printed compactly;
 * 9. otherwise → JSON string of the value, verbatim.
 * Steps 2 and 4–8 look at the value with surrounding whitespace trimmed. Never throws.
 */
export function typedValueJson(value: string, types: readonly string[]): string {
  const verbatim = JSON.stringify(value);
  if (types.length === 0) return verbatim;
  const trimmed = value.trim();
  const isNull = trimmed.toLowerCase() === 'null';
  if (types.includes('null') && isNull) return 'null';
  if (types.includes('string')) return verbatim;
  if (isNull || (trimmed === 'None' && types.includes('null'))) return 'null';
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

/** One offered tool: its whole `parameters` schema (for `$ref`) and its `properties`. */
interface ToolSchema {
  root: unknown;
  properties: Schema;
}

/**
 * The parameter schemas of the tools offered in a request, looked up by tool and parameter name. A tool that is
 * not offered, a parameter its schema does not list, and a parameter schema without a type all give string
 * values. With duplicate tool names the first tool wins.
 */
export class ToolParameterTypes {
  private readonly byTool = new Map<string, ToolSchema>();

  /** @param tools OpenAI tools (`{type: 'function', function: {name, parameters}}`); malformed entries are skipped. */
  constructor(tools: readonly ChatTool[] = []) {
    for (const tool of tools) {
      const fn: unknown = isSchema(tool) ? tool.function : undefined;
      if (!isSchema(fn) || typeof fn.name !== 'string' || this.byTool.has(fn.name)) continue;
      const properties = isSchema(fn.parameters) ? fn.parameters.properties : undefined;
      this.byTool.set(fn.name, { root: fn.parameters, properties: isSchema(properties) ? properties : {} });
    }
  }

  /** Number of distinct tool names offered (0: no tools, so any tool name is plausible). */
  get toolCount(): number {
    return this.byTool.size;
  }

  /** Whether a tool of this name was offered. */
  hasTool(toolName: string): boolean {
    return this.byTool.has(toolName);
  }

  /**
   * The parameter names tool `toolName` declares (its schema's `properties` keys), or undefined when that is not
   * known: the tool was not offered, or its schema lists no properties. Used to tell a real `<parameter=NAME>`
   * from tag text inside a value.
   */
  parameterNames(toolName: string): ReadonlySet<string> | undefined {
    const tool = this.byTool.get(toolName);
    const names = tool === undefined ? [] : Object.keys(tool.properties);
    return names.length > 0 ? new Set(names) : undefined;
  }

  /** JSON text of parameter `parameterName` of tool `toolName` with text `value` (see {@link typedValueJson}). */
  valueJson(toolName: string, parameterName: string, value: string): string {
    const tool = this.byTool.get(toolName);
    const known = tool !== undefined && Object.hasOwn(tool.properties, parameterName);
    return typedValueJson(value, known ? schemaTypes(tool.properties[parameterName], tool.root) : []);
  }
}
