/**
 * Value typing by JSON schema (schemaTypes, typedValueJson), XML entity decoding, and parameter-value newline
 * stripping, as tables of input → expected output.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { schemaTypes, typedValueJson } from '../../src/parser/tool-arguments.js';
import { decodeXmlEntities } from '../../src/parser/xml-entities.js';
import { parameterValue } from '../../src/parser/tool-call-xml.js';

describe('schemaTypes', () => {
  const cases: [unknown, string[]][] = [
    [undefined, []],
    [{ description: 'no type' }, []],
    [{ type: 'string' }, ['string']],
    [{ type: ['integer', 'null'] }, ['integer', 'null']],
    [{ type: 'INT' }, ['integer']],
    [{ type: 'dict' }, ['object']],
    [{ anyOf: [{ type: 'number' }, { type: 'boolean' }, { type: 'number' }] }, ['number', 'boolean']],
    [{ type: 'no-such-type' }, []],
    [{ anyOf: [{ anyOf: [{ type: 'null' }, { anyOf: [{ type: 'array' }, { type: 'null' }] }] }, { type: 'null' }] }, ['null', 'array']],
    [{ oneOf: [{ allOf: [{ type: 'integer' }] }, { type: ['string', 'null'] }] }, ['integer', 'string', 'null']],
    [{ type: 'uint32' }, ['integer']],
    [{ type: 'int64' }, ['integer']],
    [{ type: 'float64' }, ['number']],
    [{ type: 'Double' }, ['number']],
    [{ type: 'tuple' }, []],
    [{ type: 'object', anyOf: [{ type: 'null' }] }, ['object', 'null']],
  ];
  for (const [schema, expected] of cases) {
    it(JSON.stringify(schema) ?? 'undefined', () => assert.deepEqual(schemaTypes(schema), expected));
  }
  it('$ref to $defs / definitions is resolved in the root schema; a cyclic or dangling $ref gives nothing', () => {
    const root = { $defs: { Limit: { anyOf: [{ type: 'integer' }, { type: 'null' }] }, Loop: { $ref: '#/$defs/Loop' } }, definitions: { Name: { type: 'string' } } };
    assert.deepEqual(schemaTypes({ $ref: '#/$defs/Limit' }, root), ['integer', 'null']);
    assert.deepEqual(schemaTypes({ $ref: '#/definitions/Name' }, root), ['string']);
    assert.deepEqual(schemaTypes({ $ref: '#/$defs/Loop' }, root), []);
    assert.deepEqual(schemaTypes({ $ref: '#/$defs/Missing' }, root), []);
    assert.deepEqual(schemaTypes({ $ref: 'https://example.com/s.json' }, root), []);
  });
});

describe('typedValueJson', () => {
  const cases: [string, string[], string][] = [
    ['x y', [], '"x y"'],
    ['42', [], '"42"'],
    ['null', ['string'], '"null"'],
    ['null', ['string', 'null'], 'null'],
    [' 12 ', ['string'], '" 12 "'],
    ['007', ['integer'], '7'],
    ['+5', ['integer'], '5'],
    ['3.0', ['integer'], '3'],
    ['3.5', ['integer'], '"3.5"'],
    ['3.5', ['integer', 'number'], '3.5'],
    ['.5', ['number'], '0.5'],
    ['1e400', ['number'], '"1e400"'],
    ['NaN', ['number'], '"NaN"'],
    ['TRUE', ['boolean'], 'true'],
    ['1', ['boolean'], '"1"'],
    ['{"a": [1, 2]}', ['object'], '{"a":[1,2]}'],
    ['[{"a": 1}]', ['array'], '[{"a":1}]'],
    ['[1]', ['object'], '"[1]"'],
    ['null', ['object'], 'null'],
    ['null', ['integer'], 'null'],
    ['None', ['integer', 'null'], 'null'],
    ['None', ['integer'], '"None"'],
    ['None', ['string', 'null'], '"None"'],
    ['{"a": 1', ['object'], '"{\\"a\\": 1"'],
    ['{"a": 1}', ['object', 'array'], '{"a":1}'],
    ['NULL', ['number'], 'null'],
    ['Null', ['string', 'null'], 'null'],
    ['NULL', ['string'], '"NULL"'],
  ];
  for (const [value, types, expected] of cases) {
    it(`${JSON.stringify(value)} as ${types.join('|') || 'no type'} → ${expected}`, () => assert.equal(typedValueJson(value, types), expected));
  }
});

describe('decodeXmlEntities', () => {
  const cases: [string, string][] = [
    ['plain', 'plain'],
    ['&lt;&gt;&amp;&quot;&apos;', '<>&"\''],
    ['&#65;&#x41;&#X1F600;', 'AA😀'],
    ['&amp;lt;', '&lt;'],
    ['&nbsp; & &lt &#0; &#xD800; &#x110000;', '&nbsp; & &lt &#0; &#xD800; &#x110000;'],
  ];
  for (const [text, expected] of cases) it(JSON.stringify(text), () => assert.equal(decodeXmlEntities(text), expected));
});

describe('parameterValue', () => {
  const cases: [string, string][] = [
    ['x', 'x'],
    ['\nx\n', 'x'],
    ['\n\nx\n\n', '\nx\n'],
    ['\n', ''],
    [' x ', ' x '],
    ['&#10;x', '\nx'],
  ];
  for (const [raw, expected] of cases) it(JSON.stringify(raw), () => assert.equal(parameterValue(raw), expected));
});
