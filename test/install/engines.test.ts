/**
 * No EBADENGINE warning on the Node versions the README promises: every package in package-lock.json that declares
 * `engines.node` accepts the oldest Node our own `engines.node` allows (20.0.0) and the running Node (issue 14).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { packageRoot } from '../../src/util/package-root.js';

const semver = createRequire(import.meta.url)('semver') as {
  satisfies(version: string, range: string): boolean;
  minVersion(range: string): { version: string } | null;
};

interface LockFile {
  packages: Record<string, { version?: string; engines?: { node?: string } }>;
}

describe('package engines', () => {
  it('every locked package accepts Node 20 (no EBADENGINE on npm ci)', () => {
    const root = packageRoot();
    const own = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
    const oldest = semver.minVersion(own.engines.node)!.version;
    assert.equal(oldest.split('.')[0], '20');
    const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as LockFile;
    const refused: string[] = [];
    let checked = 0;
    for (const [name, pkg] of Object.entries(lock.packages)) {
      const range = pkg.engines?.node;
      if (name === '' || range === undefined) continue;
      checked++;
      for (const v of [oldest, process.version]) if (!semver.satisfies(v, range)) refused.push(`${name}@${pkg.version} requires node ${range}, refuses ${v}`);
    }
    assert.ok(checked > 10, `only ${checked} packages declare engines.node`);
    assert.deepEqual(refused, []);
  });
});
