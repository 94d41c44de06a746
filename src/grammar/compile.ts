/**
 * Starting an xgrammar instance for a vocabulary and compiling a grammar spec on it: the code shared by the
 * runtime (whose instance makes the matchers) and the compile worker (which compiles first, off the event loop and
 * under a time limit; see compile-worker.ts). Source: xgrammar `TokenizerInfo.from_huggingface` (byte-level vocab,
 * stop tokens) and `GrammarCompiler`.
 */
import type { GrammarSpec } from './spec.js';
import { expandXmlParameters } from './xml-parameters.js';
import { loadXGrammarInstance, type XGrammarBinding, type XGrammarInstance } from './xgrammar-module.js';

/** The tokenizer's vocabulary as xgrammar reads it. */
export interface GrammarVocabulary {
  /** Byte-level token strings by id `[tokenizer vocab]` (GPT-2 byte alphabet); '' for special tokens. */
  encoded: string[];
  /** Logits width V (config `vocab_size`, ≥ encoded.length). */
  vocabSize: number;
  /** Ids that end generation (`<|im_end|>`, `<|endoftext|>`, EOS): allowed exactly where the grammar may end. */
  stopIds: number[];
}

/** One started xgrammar WebAssembly instance with the vocabulary preprocessed and a compiler. */
export interface XGrammarCompilerInstance {
  xg: XGrammarInstance;
  binding: XGrammarBinding;
  compiler: Awaited<ReturnType<XGrammarInstance['api']['GrammarCompiler']['createGrammarCompiler']>>;
  /** Seconds to preprocess the vocabulary (TokenizerInfo). */
  preprocessSeconds: number;
}

/** An xgrammar compiled grammar (its embind handle wrapper). */
export type XGrammarCompiled = Awaited<ReturnType<XGrammarCompilerInstance['compiler']['compileJSONSchema']>>;

/**
 * Start a fresh xgrammar instance and preprocess `v` (TokenizerInfo; ~0.3 s for a 152K vocabulary).
 * @throws Error when xgrammar does not start
 */
export async function startCompilerInstance(v: GrammarVocabulary): Promise<XGrammarCompilerInstance> {
  const t0 = performance.now();
  const xg = loadXGrammarInstance();
  const info = await xg.api.TokenizerInfo.createTokenizerInfo(v.encoded, 'byte_level', false, v.vocabSize, v.stopIds);
  const compiler = await xg.api.GrammarCompiler.createGrammarCompiler(info, true);
  const binding = xg.binding();
  if (!binding) throw new Error('xgrammar did not start');
  return { xg, binding, compiler, preprocessSeconds: (performance.now() - t0) / 1000 };
}

/** JSON output: no whitespace between tokens, `,` and `:` separators (xgrammar's compact form). */
const COMPACT: [string, string] = [',', ':'];

/**
 * Compile a (validated) spec on an instance. A rejection aborts the instance (xgrammar's `[FATAL]`): its message
 * is then in `inst.xg.takeFatal()`, and the instance must not compile again.
 */
export async function compileOn(inst: XGrammarCompilerInstance, spec: GrammarSpec): Promise<XGrammarCompiled> {
  const c = inst.compiler;
  switch (spec.type) {
    case 'json_object':
      return c.compileJSONSchema(JSON.stringify({ type: 'object' }), false, -1, COMPACT, false);
    case 'json_schema':
      return c.compileJSONSchema(JSON.stringify(spec.schema), false, -1, COMPACT, true);
    case 'regex':
      return c.compileStructuralTag({ type: 'structural_tag', format: { type: 'regex', pattern: spec.pattern } });
    case 'choice':
      return c.compileGrammar(`root ::= ${spec.choices.map((s) => JSON.stringify(s)).join(' | ')}`);
    case 'ebnf':
      return c.compileGrammar(spec.grammar);
    case 'structural_tag':
    {
      const toEbnf = (schema: Record<string, unknown> | boolean) => inst.xg.api.Testings._jsonSchemaToEBNF(JSON.stringify(schema), false, -1, COMPACT, true);
      const format = await expandXmlParameters(spec.format, toEbnf);
      return c.compileStructuralTag(JSON.stringify({ type: 'structural_tag', format }));
    }
  }
}

/** The reason a failed compile gives: xgrammar's `[FATAL]` line, else the thrown message. */
export function compileFailure(inst: XGrammarCompilerInstance, e: unknown): string {
  const fatal = inst.xg.takeFatal();
  return fatal ?? (typeof (e as Error)?.message === 'string' ? (e as Error).message : 'rejected without a message');
}
