/**
 * One loaded model's grammar engine: xgrammar's `TokenizerInfo` built once from the tokenizer's raw byte-level
 * vocabulary (ids past the tokenizer's vocabulary, padding up to the config's `vocab_size`, are never allowed;
 * special tokens are given no text, so only the stop tokens among them can appear, and only where the grammar may
 * end), a compiler, and compiled grammars cached by their source. Every new grammar is first compiled on a worker
 * thread (compile-worker.ts) under a time limit (`compileTimeoutMs`), so that a grammar xgrammar rejects, or one that
 * would take minutes, is refused with a RequestError while the event loop keeps serving; only then is it compiled
 * again on the runtime's own instance, which makes the matchers (xgrammar 0.1.27 cannot move a compiled grammar
 * between instances). Should that compile still fail (xgrammar aborts its WebAssembly instance), the runtime starts
 * a fresh instance for later compiles; grammars compiled before keep working on the old one. Source: xgrammar `TokenizerInfo.from_huggingface` (byte-level vocab, stop tokens).
 */
import { Worker } from 'node:worker_threads';
import { RequestError } from '../errors.js';
import { workerExecArgv } from '../util/worker-exec-argv.js';
import { compileFailure, compileOn, startCompilerInstance, type GrammarVocabulary, type XGrammarCompiled, type XGrammarCompilerInstance } from './compile.js';
import { validateGrammarSpec, type GrammarSpec } from './spec.js';
import { utf8Masks, type Utf8Masks } from './utf8-mask.js';
import type { MatcherHandle, XGrammarBinding } from './xgrammar-module.js';

export type { GrammarVocabulary } from './compile.js';

type Instance = XGrammarCompilerInstance;

/** A compiled grammar ready to make matchers. */
export class CompiledGrammar {
  constructor(
    readonly spec: GrammarSpec,
    private readonly instance: Instance,
    private readonly compiled: XGrammarCompiled,
    /** Compile wall time, seconds (of the first compile; a cache hit reports the original figure). */
    readonly compileSeconds: number,
    readonly vocabSize: number,
    /**
     * Ids allowed on top of xgrammar's mask `[ceil(V / 32)]` int32 bitmask, or null. For JSON grammars: tokens
     * without raw control bytes (0x00–0x1F), which compact JSON never contains; xgrammar 0.1.27 admits a raw tab
     * inside strings that have a maxLength.
     */
    readonly allowMask: Int32Array | null = null,
    /** Tokens valid per UTF-8 state (utf8-mask.ts), ANDed with xgrammar's mask; null = no UTF-8 check. */
    readonly utf8: Utf8Masks | null = null,
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

/** Default limit of one grammar's compile time (`--grammar-compile-timeout`), ms. */
export const DEFAULT_COMPILE_TIMEOUT_MS = 10_000;

/** Most compiled grammars kept (least recently used dropped first). */
const CACHE_SIZE = 256;

export class GrammarRuntime {
  private instance: Promise<Instance> | null = null;
  private readonly cache = new Map<string, CompiledGrammar>();
  /** Seconds the vocabulary took to preprocess on the current instance (0 before `ready`). */
  preprocessSeconds = 0;

  /**
   * Longest a grammar may take to compile, in ms (default 10 000): past it the request fails with a RequestError
   * naming its parameter.
   */
  compileTimeoutMs = DEFAULT_COMPILE_TIMEOUT_MS;

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

  private utf8: Utf8Masks | null = null;

  /** The vocabulary's UTF-8 masks (built on the first compile, ~0.1 s for 152K tokens). */
  private utf8Masks(): Utf8Masks {
    return (this.utf8 ??= utf8Masks(this.vocabulary.encoded, this.vocabulary.vocabSize));
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
    const inst = await startCompilerInstance(this.vocabulary);
    this.preprocessSeconds = inst.preprocessSeconds;
    return inst;
  }

  /** The compile worker and its calls waiting for an answer (by id). */
  private worker: { thread: Worker; calls: Map<number, (r: { ok: true; ms: number } | { ok: false; message: string }) => void> } | null = null;
  private nextCall = 0;
  /** Compiles waiting for the worker, one at a time (each one's time limit starts when it is sent). */
  private probeQueue: Promise<unknown> = Promise.resolve();

  private compileWorker(): NonNullable<GrammarRuntime['worker']> {
    if (this.worker) return this.worker;
    const thread = new Worker(new URL('./compile-worker.js', import.meta.url), { workerData: this.vocabulary, execArgv: workerExecArgv() });
    const w = { thread, calls: new Map() as NonNullable<GrammarRuntime['worker']>['calls'] };
    const failAll = (message: string) => {
      if (this.worker === w) this.worker = null;
      for (const done of w.calls.values()) done({ ok: false, message });
      w.calls.clear();
    };
    thread.on('message', (m: { id: number; ok: boolean; ms?: number; message?: string }) => {
      const done = w.calls.get(m.id);
      w.calls.delete(m.id);
      done?.(m.ok ? { ok: true, ms: m.ms! } : { ok: false, message: m.message! });
    });
    thread.on('error', (e) => failAll(`the compile worker failed: ${e.message}`));
    thread.on('exit', () => failAll('the compile worker stopped'));
    // After the listeners: adding a 'message' listener refs the worker's port again. Unref'd, an idle worker does
    // not keep the process alive (a caller that never closes its engine still exits).
    thread.unref();
    return (this.worker = w);
  }

  /**
   * Compile `spec` on the worker thread first, within `compileTimeoutMs`: a grammar that xgrammar rejects or that
   * takes too long never reaches the runtime's own instance, and the event loop (every running stream) keeps going
   * meanwhile. On time-out the worker is terminated (a fresh one starts for the next compile).
   * @returns null when it compiled in time, else the reason
   */
  private probe(spec: GrammarSpec): Promise<string | null> {
    const run = async (): Promise<string | null> => {
      const w = this.compileWorker();
      const id = this.nextCall++;
      const limit = this.compileTimeoutMs;
      return new Promise<string | null>((resolve) => {
        const timer = setTimeout(() => {
          w.calls.delete(id);
          if (this.worker === w) this.worker = null;
          void w.thread.terminate();
          resolve(`xgrammar did not compile it within ${limit} ms (the compile time limit); simplify the grammar or schema`);
        }, limit);
        w.calls.set(id, (r) => {
          clearTimeout(timer);
          resolve(r.ok ? null : `xgrammar cannot compile it: ${r.message}`);
        });
        w.thread.postMessage({ id, spec });
      });
    };
    const p = this.probeQueue.then(run, run);
    this.probeQueue = p;
    return p;
  }

  /** Stop the compile worker (a later compile starts a new one). */
  close(): void {
    const w = this.worker;
    this.worker = null;
    if (w) void w.thread.terminate();
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
    const refused = await this.probe(spec);
    if (refused !== null) throw new RequestError(param, refused);
    const again = this.cache.get(key);
    if (again) return { grammar: again, cached: true };
    const inst = await this.current();
    const t0 = performance.now();
    let compiled;
    try {
      compiled = await compileOn(inst, spec);
    } catch (e) {
      const reason = compileFailure(inst, e);
      // The instance aborted: later compiles get a fresh one (grammars already compiled keep their instance).
      this.instance = null;
      this.cache.clear();
      throw new RequestError(param, `xgrammar cannot compile it: ${reason}`);
    }
    const json = spec.type === 'json_object' || spec.type === 'json_schema';
    const grammar = new CompiledGrammar(spec, inst, compiled, (performance.now() - t0) / 1000, this.vocabulary.vocabSize, json ? this.noControlBytes() : null, this.utf8Masks());
    this.cache.set(key, grammar);
    if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    return { grammar, cached: false };
  }
}

