/**
 * `mimo run` output-constraint flags → the library's `grammar` option: `--json-schema FILE` (a JSON schema file),
 * `--grammar FILE` (an EBNF grammar file, xgrammar's dialect, rule `root`), `--regex RE`; at most one.
 */
import * as fs from 'node:fs';
import { RequestError } from '../errors.js';
import type { GrammarSpec } from '../grammar/spec.js';

export interface GrammarFlags {
  jsonSchema?: string;
  grammar?: string;
  regex?: string;
}

/**
 * @returns the grammar the flags ask for, or undefined
 * @throws RequestError naming the flag: several given, a file missing or unreadable, a schema that is not JSON
 */
export function grammarFromFlags(f: GrammarFlags): GrammarSpec | undefined {
  const given = (['jsonSchema', 'grammar', 'regex'] as const).filter((k) => f[k] !== undefined);
  if (given.length > 1) throw new RequestError('--json-schema', 'give at most one of --json-schema, --grammar, --regex');
  const read = (flag: string, file: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new RequestError(flag, `cannot read ${JSON.stringify(file)}: ${(e as Error).message}`);
    }
  };
  if (f.jsonSchema !== undefined) {
    const text = read('--json-schema', f.jsonSchema);
    let schema: unknown;
    try {
      schema = JSON.parse(text);
    } catch (e) {
      throw new RequestError('--json-schema', `${f.jsonSchema} is not JSON: ${(e as Error).message}`);
    }
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) throw new RequestError('--json-schema', `${f.jsonSchema} must hold a JSON schema object`);
    return { type: 'json_schema', schema: schema as Record<string, unknown> };
  }
  if (f.grammar !== undefined) return { type: 'ebnf', grammar: read('--grammar', f.grammar) };
  if (f.regex !== undefined) return { type: 'regex', pattern: f.regex };
  return undefined;
}
