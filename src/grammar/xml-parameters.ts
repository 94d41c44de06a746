/**
 * MiMo's XML tool-call parameters as an xgrammar structural-tag format with bounded whitespace. xgrammar's own
 * `qwen_xml_parameter` format admits any run of whitespace between parameters, so a model at temperature 1 can
 * write whitespace until max_tokens; this expansion writes each property of the tool's schema, in schema order, as
 * `<parameter=KEY>VALUE</parameter>` separated by exactly one newline. Every property is written (values present
 * satisfy the schema, so `required` holds too). VALUE, as the output parser reads it (tool-arguments.ts): a
 * string-typed property is raw text without `<`, `&` or newlines (its enum / const as literals, its `pattern` as a
 * regex, else its minLength … maxLength); any other schema is compact JSON from xgrammar's JSON-schema grammar.
 * A string property's `format` (email, date, …) is not enforced inside a tool call.
 */

/** Turns a JSON schema into EBNF text (xgrammar's converter, compact JSON, strict). */
export type SchemaToEbnf = (schema: Record<string, unknown> | boolean) => Promise<string>;

type Format = Record<string, unknown>;

/**
 * Replace every `{type: 'qwen_xml_parameter', json_schema}` node of a structural-tag format by the bounded form
 * above; other nodes are copied.
 */
export async function expandXmlParameters(node: unknown, toEbnf: SchemaToEbnf): Promise<unknown> {
  if (Array.isArray(node)) return Promise.all(node.map((n) => expandXmlParameters(n, toEbnf)));
  if (node === null || typeof node !== 'object') return node;
  const f = node as Format;
  if (f.type === 'qwen_xml_parameter') return parametersFormat(f.json_schema as Format, toEbnf);
  const out: Format = {};
  for (const [k, v] of Object.entries(f)) out[k] = await expandXmlParameters(v, toEbnf);
  return out;
}

async function parametersFormat(schema: Format, toEbnf: SchemaToEbnf): Promise<Format> {
  const props = (schema?.properties ?? {}) as Record<string, Format | boolean>;
  const elements: Format[] = [];
  for (const [key, sub] of Object.entries(props)) {
    if (elements.length) elements.push({ type: 'const_string', value: '\n' });
    elements.push({ type: 'tag', begin: `<parameter=${key}>`, content: await valueFormat(sub, toEbnf), end: '</parameter>' });
  }
  if (elements.length === 0) throw new Error('qwen_xml_parameter: the schema has no properties');
  return elements.length === 1 ? elements[0]! : { type: 'sequence', elements };
}

const ESCAPE = /[\\^$.*+?()[\]{}|]/g;

async function valueFormat(sub: Format | boolean, toEbnf: SchemaToEbnf): Promise<Format> {
  if (typeof sub !== 'object' || sub === null) return { type: 'regex', pattern: '[^<&\\n]*' };
  const types = Array.isArray(sub.type) ? sub.type : [sub.type];
  const literals = sub.const !== undefined ? [sub.const] : Array.isArray(sub.enum) ? sub.enum : undefined;
  if (literals && literals.every((v) => typeof v === 'string' && v.length > 0 && !/[<&\n]/.test(v))) {
    return { type: 'regex', pattern: (literals as string[]).map((v) => v.replace(ESCAPE, '\\$&')).join('|') };
  }
  if (types.includes('string') && !literals) {
    if (typeof sub.pattern === 'string') return { type: 'regex', pattern: sub.pattern };
    const min = typeof sub.minLength === 'number' ? sub.minLength : 0;
    const max = typeof sub.maxLength === 'number' ? String(sub.maxLength) : '';
    return { type: 'regex', pattern: `[^<&\\n]{${min},${max}}` };
  }
  return { type: 'grammar', grammar: await toEbnf(sub) };
}
