/**
 * One loaded model's grammar engine: xgrammar's `TokenizerInfo` built once from the tokenizer's raw byte-level
 * vocabulary (ids past the tokenizer's vocabulary, padding up to the config's `vocab_size`, are never allowed;
 * special tokens are given no text, so only the stop tokens among them can appear, and only where the grammar may
 * end), a compiler, and compiled grammars cached by their source. After a compile fails (xgrammar aborts its
 * WebAssembly instance) the runtime starts a fresh instance for later compiles; grammars compiled before keep
 * working on the old one. Source: xgrammar `TokenizerInfo.from_huggingface` (byte-level vocab, stop tokens).
 */
import { RequestError } from '../errors.js';
import { validateGrammarSpec, type GrammarSpec } from './spec.js';
import { expandXmlParameters } from './xml-parameters.js';
import { loadXGrammarInstance, type MatcherHandle, type XGrammarBinding, type XGrammarInstance } from './xgrammar-module.js';

/** The tokenizer's vocabulary as xgrammar reads it. */
export interface GrammarVocabulary {
  /** Byte-level token strings by id `[tokenizer vocab]` (GPT-2 byte alphabet); '' for special tokens. */
  encoded: string[];
  /** Logits width V (config `vocab_size`, ≥ encoded.length). */
  vocabSize: number;
  /** Ids that end generation (`<|im_end|>`, `<|endoftext|>`, EOS): allowed exactly where the grammar may end. */
  stopIds: number[];
}

type Instance = {
  xg: XGrammarInstance;
  binding: XGrammarBinding;
  compiler: Awaited<ReturnType<XGrammarInstance['api']['GrammarCompiler']['createGrammarCompiler']>>;
  /** Seconds to preprocess the vocabulary (TokenizerInfo). */
  preprocessSeconds: number;
};

/** A compiled grammar ready to make matchers. */
export class CompiledGrammar {
  constructor(
    readonly spec: GrammarSpec,
    private readonly instance: Instance,
    private readonly compiled: Awaited<ReturnType<Instance['compiler']['compileJSONSchema']>>,
    /** Compile wall time, seconds (of the first compile; a cache hit reports the original figure). */
    readonly compileSeconds: number,
    readonly vocabSize: number,
    /**
     * Ids allowed on top of xgrammar's mask `[ceil(V / 32)]` int32 bitmask, or null. For JSON grammars: tokens
     * without raw control bytes (0x00–0x1F), which compact JSON never contains; xgrammar 0.1.27 admits a raw tab
     * inside strings that have a maxLength.
     */
    readonly allowMask: Int32Array | null = null,
  ) {}

  /** A new matcher at the grammar's start (one per sequence); free it with `delete()`. */
  newMatcher(): { handle: MatcherHandle; binding: XGrammarBinding } {
    // The package's createGrammarMatcher is async only for its start-up, done by now: call the binding directly.
    const Binding = this.instance.binding as unknown as { GrammarMatcher: new (c: unknown, stop: unknown, terminateWithoutStop: boolean, maxRollback: number) => MatcherHandle };
    const handle = new Binding.GrammarMatcher((this.compiled as unknown as { handle: unknown }).handle, undefined, false, -1);
    return { handle, binding: this.instance.binding };
  }
}

/** Result of `compile`: the grammar and whether it came from the cache. */
export interface CompileResult {
  grammar: CompiledGrammar;
  cached: boolean;
}

/** Most compiled grammars kept (least recently used dropped first). */
const CACHE_SIZE = 256;

export class GrammarRuntime {
  private instance: Promise<Instance> | null = null;
  private readonly cache = new Map<string, CompiledGrammar>();
  /** Seconds the vocabulary took to preprocess on the current instance (0 before `ready`). */
  preprocessSeconds = 0;

  constructor(readonly vocabulary: GrammarVocabulary) {
    if (vocabulary.encoded.length > vocabulary.vocabSize) throw new RequestError('vocab_size', `tokenizer has ${vocabulary.encoded.length} tokens, more than the logits' ${vocabulary.vocabSize}`);
  }

  private noControl: Int32Array | null = null;

  /** Bitmask of ids whose bytes hold no control byte 0x00–0x1F (byte-level alphabet: U+0100 … U+011F). */
  private noControlBytes(): Int32Array {
    if (this.noControl) return this.noControl;
    const V = this.vocabulary.vocabSize;
    const bits = new Int32Array(Math.ceil(V / 32));
    this.vocabulary.encoded.forEach((t, id) => {
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i);
        if (c >= 0x100 && c < 0x120) return;
      }
      bits[id >>> 5]! |= 1 << (id & 31);
    });
    // Ids past the tokenizer stay 0: never allowed (xgrammar refuses them too).
    return (this.noControl = bits);
  }

  /** Start xgrammar and preprocess the vocabulary (once; later calls return the same promise). */
  ready(): Promise<void> {
    return this.current().then(() => undefined);
  }

  private current(): Promise<Instance> {
    this.instance ??= this.start();
    return this.instance;
  }

  private async start(): Promise<Instance> {
    const t0 = performance.now();
    const xg = loadXGrammarInstance();
    const v = this.vocabulary;
    const info = await xg.api.TokenizerInfo.createTokenizerInfo(v.encoded, 'byte_level', false, v.vocabSize, v.stopIds);
    const compiler = await xg.api.GrammarCompiler.createGrammarCompiler(info, true);
    const binding = xg.binding();
    if (!binding) throw new Error('xgrammar did not start');
    this.preprocessSeconds = (performance.now() - t0) / 1000;
    return { xg, binding, compiler, preprocessSeconds: this.preprocessSeconds };
  }

  /**
   * Compile (or fetch from the cache) the grammar of `spec`.
   * @param param the request parameter named in errors
   * @throws RequestError when the spec is invalid or xgrammar cannot compile it (its message, e.g.
   *   `Unsupported type "strin"` or `Regex parsing error at position 4: Unclosed '['`)
   */
  async compile(spec: GrammarSpec, param: string): Promise<CompileResult> {
    validateGrammarSpec(spec, param);
    const key = JSON.stringify(spec);
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return { grammar: hit, cached: true };
    }
    const inst = await this.current();
    const t0 = performance.now();
    let compiled;
    try {
      compiled = await compileOn(inst, spec);
    } catch (e) {
      const fatal = inst.xg.takeFatal();
      // The instance aborted: later compiles get a fresh one (grammars already compiled keep their instance).
      this.instance = null;
      this.cache.clear();
      throw new RequestError(param, `xgrammar cannot compile it: ${fatal ?? (typeof (e as Error)?.message === 'string' ? (e as Error).message : 'rejected without a message')}`);
    }
    const json = spec.type === 'json_object' || spec.type === 'json_schema';
    const grammar = new CompiledGrammar(spec, inst, compiled, (performance.now() - t0) / 1000, this.vocabulary.vocabSize, json ? this.noControlBytes() : null);
    this.cache.set(key, grammar);
    if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    return { grammar, cached: false };
  }
}

/** JSON output: no whitespace between tokens, `,` and `:` separators (xgrammar's compact form). */
const COMPACT: [string, string] = [',', ':'];

async function compileOn(inst: Instance, spec: GrammarSpec) {
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
