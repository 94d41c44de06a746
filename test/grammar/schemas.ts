/**
 * JSON schemas for the structured-output tests. Every one bounds every string (maxLength, enum, const or a bounded
 * pattern), every array (maxItems) and every integer (a range), so that any valid output is short: a constrained
 * reply must then finish with `stop` well within 512 tokens whatever the model writes. Numbers have no range
 * (refused: xgrammar 0.1.27 gets number ranges wrong); their digits are single tokens, so they end soon. Left out:
 * formats whose xgrammar regex is looser than ajv-formats (`date` admits 06-31, `time` second 60) and `email`
 * (unbounded; a length limit with a format is refused).
 */
type Schema = Record<string, unknown>;

const s = (maxLength: number, extra: Schema = {}): Schema => ({ type: 'string', maxLength, ...extra });
const int = (minimum: number, maximum: number): Schema => ({ type: 'integer', minimum, maximum });
const obj = (properties: Record<string, Schema>, required = Object.keys(properties), extra: Schema = {}): Schema => ({ type: 'object', properties, required, additionalProperties: false, ...extra });

export const BOUNDED_SCHEMAS: Array<{ name: string; schema: Schema }> = [
  { name: 'flat object', schema: obj({ name: s(12), age: int(0, 150) }) },
  { name: 'booleans and null', schema: obj({ ok: { type: 'boolean' }, nothing: { type: 'null' } }) },
  { name: 'optional properties', schema: obj({ a: int(0, 9), b: s(5), c: { type: 'boolean' } }, ['a']) },
  { name: 'nested object', schema: obj({ user: obj({ id: int(1, 1000), tag: s(6) }), active: { type: 'boolean' } }) },
  { name: 'deeply nested', schema: obj({ a: obj({ b: obj({ c: obj({ d: int(0, 3) }) }) }) }) },
  { name: 'array of integers', schema: obj({ xs: { type: 'array', items: int(-5, 5), maxItems: 4 } }) },
  { name: 'array with min/max items', schema: obj({ xs: { type: 'array', items: { type: 'boolean' }, minItems: 2, maxItems: 3 } }) },
  { name: 'array of objects', schema: obj({ items: { type: 'array', maxItems: 2, items: obj({ k: s(4), v: int(0, 99) }) } }) },
  { name: 'top-level array', schema: { type: 'array', items: s(3), minItems: 1, maxItems: 3 } },
  { name: 'string enum', schema: obj({ color: { type: 'string', enum: ['red', 'green', 'blue'] } }) },
  { name: 'mixed enum', schema: obj({ v: { enum: ['a', 1, true, null] } }) },
  { name: 'const', schema: obj({ kind: { const: 'point' }, x: int(0, 9) }) },
  { name: 'anyOf', schema: obj({ v: { anyOf: [int(0, 9), s(4), { type: 'null' }] } }) },
  { name: 'oneOf objects', schema: obj({ shape: { oneOf: [obj({ r: int(1, 9) }), obj({ w: int(1, 9), h: int(1, 9) })] } }) },
  { name: 'integer range', schema: obj({ n: int(100, 200) }) },
  { name: 'negative integer range', schema: obj({ n: int(-50, -10) }) },
  { name: 'number', schema: obj({ x: { type: 'number' } }) },
  { name: 'exclusive bounds', schema: obj({ x: { type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 10 } }) },
  { name: 'string pattern', schema: obj({ code: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{2}$' } }) },
  { name: 'string min and max length', schema: obj({ word: s(6, { minLength: 3 }) }) },
  { name: 'string format uuid', schema: obj({ id: { type: 'string', format: 'uuid' } }) },
  { name: 'string format ipv4', schema: obj({ ip: { type: 'string', format: 'ipv4' } }) },
  { name: 'enum and integer', schema: obj({ level: { enum: ['low', 'high'] }, n: int(0, 3) }) },
  { name: 'string pattern with alternatives', schema: obj({ v: { type: 'string', pattern: '^(v[0-9]\\.[0-9]|latest)$' } }) },
  { name: 'array of numbers', schema: obj({ xs: { type: 'array', items: { type: 'number' }, maxItems: 3 } }) },
  { name: 'type list', schema: obj({ v: { type: ['integer', 'null'], minimum: 0, maximum: 5 } }) },
  { name: 'tuple (prefixItems)', schema: { type: 'array', prefixItems: [int(0, 9), s(3), { type: 'boolean' }], items: false } },
  { name: 'refs and defs', schema: { $defs: { pt: obj({ x: int(0, 9), y: int(0, 9) }) }, type: 'object', properties: { a: { $ref: '#/$defs/pt' }, b: { $ref: '#/$defs/pt' } }, required: ['a', 'b'], additionalProperties: false } },
  { name: 'all required, many types', schema: obj({ s: s(4), i: int(0, 9), n: { type: 'number' }, b: { type: 'boolean' }, z: { type: 'null' }, e: { enum: ['x', 'y'] } }) },
  { name: 'array of enums unique-ish', schema: obj({ tags: { type: 'array', items: { enum: ['a', 'b', 'c'] }, maxItems: 3 } }) },
  { name: 'nested arrays', schema: obj({ m: { type: 'array', maxItems: 2, items: { type: 'array', maxItems: 2, items: int(0, 9) } } }) },
  { name: 'object with optional nested', schema: obj({ id: int(0, 9), meta: obj({ note: s(8) }) }, ['id']) },
  { name: 'min/max properties', schema: { type: 'object', properties: { a: int(0, 9), b: int(0, 9), c: int(0, 9) }, required: ['a'], minProperties: 2, maxProperties: 2, additionalProperties: false } },
];
