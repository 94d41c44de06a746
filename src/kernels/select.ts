/**
 * Chooses the compute backend: `--backend` / `MIMO_BACKEND` = auto (native when the addon loads, otherwise the
 * TypeScript reference with a one-line warning), native (or BackendUnavailableError), ts (the reference).
 */
import { BackendUnavailableError, RequestError } from '../errors.js';
import type { Backend } from './backend.js';
import { createNativeBackend } from './native/backend.js';
import { referenceBackend } from './reference/ops.js';

export type BackendChoice = 'auto' | 'ts' | 'native';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'ts', 'native'];

export interface SelectedBackend {
  backend: Backend;
  /** Set when 'auto' fell back to the TypeScript backend: why, in one line. */
  warning?: string;
}

/**
 * @param choice 'auto' | 'ts' | 'native' (default: `MIMO_BACKEND`, else 'auto')
 * @param opts.threads kernel threads of the native backend (ignored by the TypeScript one)
 * @throws RequestError('--backend') for any other choice; BackendUnavailableError for 'native' without the addon.
 */
export function selectBackend(choice: string = process.env.MIMO_BACKEND ?? 'auto', opts: { threads?: number } = {}): SelectedBackend {
  switch (choice) {
    case 'ts':
      return { backend: referenceBackend };
    case 'native':
      return { backend: createNativeBackend(opts) };
    case 'auto':
      try {
        return { backend: createNativeBackend(opts) };
      } catch (e) {
        if (!(e instanceof BackendUnavailableError)) throw e;
        return {
          backend: referenceBackend,
          warning: `using the TypeScript backend, which is much slower (about 10× on decode): ${e.message}`,
        };
      }
    default:
      throw new RequestError('--backend', `must be one of ${BACKEND_CHOICES.join(', ')}, got '${choice}'`);
  }
}
