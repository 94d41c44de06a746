/**
 * Worker side of the runtime's bounded compile: its own xgrammar instance for the vocabulary in `workerData`;
 * each message `{ id, spec }` is compiled and answered `{ id, ok: true, ms }` or `{ id, ok: false, message }`
 * (xgrammar's reason). After a failure the aborted instance is dropped and the next compile starts a fresh one.
 * The compiled grammar itself stays here (xgrammar 0.1.27 cannot serialise it): the runtime compiles again on its
 * own instance once this one has shown the compile finishes in time. The runtime terminates this thread when a
 * compile runs past its limit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compileFailure, compileOn, startCompilerInstance, type GrammarVocabulary, type XGrammarCompilerInstance } from './compile.js';
import type { GrammarSpec } from './spec.js';

const vocabulary = workerData as GrammarVocabulary;
let instance: Promise<XGrammarCompilerInstance> | null = null;

parentPort!.on('message', (msg: { id: number; spec: GrammarSpec }) => {
  void (async () => {
    instance ??= startCompilerInstance(vocabulary);
    let inst: XGrammarCompilerInstance | undefined;
    try {
      inst = await instance;
      const t0 = performance.now();
      const compiled = await compileOn(inst, msg.spec);
      const ms = performance.now() - t0;
      (compiled as unknown as { dispose?: () => void }).dispose?.();
      parentPort!.postMessage({ id: msg.id, ok: true, ms });
    } catch (e) {
      instance = null;
      parentPort!.postMessage({ id: msg.id, ok: false, message: inst ? compileFailure(inst, e) : `xgrammar did not start: ${(e as Error)?.message ?? e}` });
    }
  })();
});
