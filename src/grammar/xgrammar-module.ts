/**
 * The one place that loads `@mlc-ai/web-xgrammar` (xgrammar compiled to WebAssembly). Its package.json says
 * `"type": "module"` but `lib/index.js` is a UMD bundle, so in Node an ES import yields no named exports; we read
 * the bundle and run its UMD wrapper with `exports`, `module`, `require`, `__filename`, `__dirname` (the CommonJS
 * branch), once per instance. Two exact, checked substitutions in the source give us (1) the Emscripten module
 * object (`binding`) so that masks are read synchronously (the package's `getNextTokenBitmask` is async only for
 * its lazy start-up) and (2) the module's `printErr`, so that xgrammar's `[FATAL] …` message (an invalid schema,
 * grammar or regex) becomes the text of our error instead of stderr noise.
 *
 * A `[FATAL]` in xgrammar aborts the WebAssembly instance (C++ stack not unwound, locks possibly held); callers
 * must not compile on an instance after that (see GrammarRuntime, which starts a fresh one).
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const require = createRequire(import.meta.url);

/** The typed surface of the package we use (see node_modules/@mlc-ai/web-xgrammar/lib/xgrammar.d.ts). */
export type XGrammarApi = typeof import('@mlc-ai/web-xgrammar');

/** Embind handle of a `std::vector<int32_t>` (the bitmask). */
export interface IntVectorHandle {
  size(): number;
  delete(): void;
}

/** The raw Emscripten module: embind classes and helpers. */
export interface XGrammarBinding {
  vecIntToView(v: IntVectorHandle): Int32Array;
}

/** Embind handle of a `GrammarMatcher` (methods as the C++ binding names them). */
export interface MatcherHandle {
  AcceptToken(tokenId: number, verbose: boolean): boolean;
  GetNextTokenBitmask(vocabSize: number): IntVectorHandle;
  IsTerminated(): boolean;
  Rollback(numTokens: number): void;
  FindJumpForwardString(): string;
  Reset(): void;
  delete(): void;
}

/** One loaded WebAssembly instance of xgrammar. */
export interface XGrammarInstance {
  api: XGrammarApi;
  /** The Emscripten module; null until the first API call has started the instance (all API calls await it). */
  binding(): XGrammarBinding | null;
  /** The most recent `[FATAL] …` line xgrammar printed on this instance (source position stripped), if any. */
  takeFatal(): string | undefined;
}

let source: string | null = null;
const BINDING_DECL = 'let binding = null;';
const BINDING_INIT = 'binding = await Module();';

/**
 * Evaluate a fresh copy of the bundle (a new WebAssembly instance; it starts on the first API call, which is async).
 * @throws Error when the installed bundle is not the pinned layout (the substitutions are not found)
 */
export function loadXGrammarInstance(): XGrammarInstance {
  const file = require.resolve('@mlc-ai/web-xgrammar/lib/index.js');
  if (source === null) {
    const text = fs.readFileSync(file, 'utf8');
    if (!text.includes(BINDING_DECL) || !text.includes(BINDING_INIT)) {
      throw new Error(`${file}: not the @mlc-ai/web-xgrammar 0.1.27 bundle this loader patches (expected '${BINDING_DECL}' and '${BINDING_INIT}'); reinstall with npm ci`);
    }
    source = text.replace(BINDING_DECL, `${BINDING_DECL} exports.__mimoBinding = () => binding;`).replace(BINDING_INIT, 'binding = await Module(__mimoModuleArg);');
  }
  let fatal: string | undefined;
  const moduleArg = {
    print: () => {},
    printErr: (line: string) => {
      const m = /\[FATAL\][^:]*:\d+:\s*(.*)$/s.exec(line);
      if (m) fatal = m[1]!.trim();
    },
  };
  const mod = { exports: {} as Record<string, unknown> };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the UMD wrapper needs CommonJS bindings
  new Function('exports', 'module', 'require', '__filename', '__dirname', '__mimoModuleArg', source)(mod.exports, mod, require, file, path.dirname(file), moduleArg);
  const exp = mod.exports as unknown as XGrammarApi & { __mimoBinding: () => XGrammarBinding | null };
  return {
    api: exp,
    binding: () => exp.__mimoBinding(),
    takeFatal: () => {
      const f = fatal;
      fatal = undefined;
      return f;
    },
  };
}
