/**
 * The installed package's root directory (the folder holding `presets/`, `templates/` and `package.json`), found by
 * walking up from this module to the first directory whose `package.json` has `"name": "mimo-ts"`. Works from
 * `src/` under a TypeScript loader and from the compiled `dist/src/`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MimoError } from '../errors.js';

const PACKAGE_NAME = 'mimo-ts';
let cached: string | undefined;

/**
 * Absolute path of the mimo-ts package root; computed once, then cached.
 * @throws MimoError when no enclosing directory has a package.json named "mimo-ts" (a broken install).
 */
export function packageRoot(): string {
  if (cached !== undefined) return cached;
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        if ((JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return (cached = dir);
      } catch {
        // an unreadable or foreign package.json on the way up: keep walking
      }
    }
    if (path.dirname(dir) === dir) break;
  }
  throw new MimoError(`cannot find the ${PACKAGE_NAME} package root above ${start} (no package.json with "name": "${PACKAGE_NAME}"); reinstall the package`);
}
