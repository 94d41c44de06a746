/**
 * Discovery and reading of the golden fixture cases (../shared/fixtures/mimo-v2 or $MIMO_FIXTURES).
 * No case names in code: every directory with a golden.safetensors is a case.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../../src/loader/safetensors.js';
import { decodeToF32 } from '../../src/tensor/dtype.js';
import { numel } from '../../src/loader/safetensors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Repository root (dist/test/helpers → ../../..). */
export const repoRoot = path.resolve(here, '..', '..', '..');

export function fixturesDir(): string {
  return process.env['MIMO_FIXTURES'] ?? path.resolve(repoRoot, '..', 'shared', 'fixtures', 'mimo-v2');
}

/** Directories under the fixtures folder that contain a golden.safetensors. */
export function discoverCases(): string[] {
  const dir = fixturesDir();
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((d) => path.join(dir, d))
    .filter((d) => fs.existsSync(path.join(d, 'golden.safetensors')))
    .sort();
}

export interface Golden {
  json: { tolerance: { hidden_states_max_abs_diff: number; [k: string]: unknown }; [k: string]: unknown };
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

export function readGolden(caseDir: string): Golden {
  const f = new SafetensorsFile(path.join(caseDir, 'golden.safetensors'));
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, info] of f.tensors) tensors.set(name, { shape: info.shape, data: decodeToF32(f.readBytes(name), info.dtype!, numel(info.shape)) });
  f.close();
  const json = JSON.parse(fs.readFileSync(path.join(caseDir, 'golden.json'), 'utf8'));
  return { json, tensors };
}

/** max |a − b| over all elements. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d; // NaN propagates as a failure
  }
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export function argmax(a: ArrayLike<number>, from = 0, to = a.length): number {
  let best = from;
  for (let i = from + 1; i < to; i++) if (a[i]! > a[best]!) best = i;
  return best - from;
}
