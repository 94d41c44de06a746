/**
 * The native addon for tests: loaded once, or the reason it cannot load, so a test can skip loudly with that reason.
 * Under CI (`CI` set to anything but `false`/`0`/empty) a missing or unloadable addon is a failure, not a skip: a CI
 * run must not pass with every native test skipped (issue 14).
 */
import { after, type TestContext } from 'node:test';
import { DISPATCH_LEVELS, loadNativeAddon, type DispatchLevel, type NativeAddon } from '../../src/kernels/native/addon.js';

let loaded: NativeAddon | undefined;
let reason = '';
try {
  loaded = loadNativeAddon();
} catch (e) {
  reason = (e as Error).message;
}

/** The addon, or undefined when it is not built (see {@link nativeUnavailableReason}). */
export const nativeAddon: NativeAddon | undefined = loaded;

/** Why the addon did not load ('' when it did). */
export const nativeUnavailableReason = reason;

/** True when the tests run under CI (`CI=true`, as GitHub Actions and most CI services set it). */
export function underCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env['CI'];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/**
 * What a native test passes as its `skip` option: false when the addon loaded, and false under CI too (the test then
 * runs and fails on the missing addon); otherwise the reason it is skipped.
 */
export const nativeSkip: string | false = loaded || underCi() ? false : `native addon not built: ${reason}`;

/**
 * The addon, or undefined after marking the test skipped with the reason.
 * @throws Error naming the reason under CI, where a missing addon fails the test instead of skipping it
 */
export function needNative(t: TestContext): NativeAddon | undefined {
  if (!loaded && underCi()) throw new Error(`CI is set, so native tests must run, but the native addon did not load: ${reason}`);
  if (!loaded) t.skip(`native addon not built: ${reason}`);
  return loaded;
}

/** The addon's kernel thread count when the test file loaded (1 without the addon). */
export const initialThreads: number = loaded?.getThreads() ?? 1;

/** Registers an `after` hook that puts the addon's thread count and dispatch level back as the file found them. */
export function restoreNativeAfterAll(): void {
  after(() => {
    loaded?.setThreads(initialThreads);
    loaded?.setDispatch(loaded.bestDispatch());
  });
}

/** The dispatch levels this CPU runs, best first (the best one and every level below it). */
export function dispatchLevels(a: NativeAddon): DispatchLevel[] {
  return DISPATCH_LEVELS.slice(DISPATCH_LEVELS.indexOf(a.bestDispatch()));
}
