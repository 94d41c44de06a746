/**
 * The native addon for tests: loaded once, or the reason it cannot load, so a test can skip loudly with that reason.
 */
import type { TestContext } from 'node:test';
import { loadNativeAddon, type NativeAddon } from '../../src/kernels/native/addon.js';

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

/** The addon, or undefined after marking the test skipped with the reason. */
export function needNative(t: TestContext): NativeAddon | undefined {
  if (!loaded) t.skip(`native addon not built: ${reason}`);
  return loaded;
}
