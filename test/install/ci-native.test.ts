/**
 * Under CI a missing native addon fails the native tests instead of skipping them (issue 14): the native I/O test
 * file is run in a child with the addon made unloadable (`MIMO_NATIVE_DISABLE=1`), once with `CI=true` (it must
 * fail) and once without CI (its native tests are skipped and the file passes).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const testFile = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'kernels', 'native-io.test.js');

function runWithoutAddon(ci: string | undefined) {
  const env: NodeJS.ProcessEnv = { ...process.env, MIMO_NATIVE_DISABLE: '1' };
  delete env['CI'];
  delete env['NODE_TEST_CONTEXT'];
  if (ci !== undefined) env['CI'] = ci;
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', testFile], { env, encoding: 'utf8', timeout: 120_000 });
  const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? NaN);
  return { status: r.status, fail: count('fail'), skipped: count('skipped'), out: r.stdout + r.stderr };
}

describe('native tests under CI', () => {
  it('CI=true: a missing addon fails the native tests', () => {
    const r = runWithoutAddon('true');
    assert.notEqual(r.status, 0, r.out);
    assert.ok(r.fail > 0, r.out);
    assert.equal(r.skipped, 0, r.out);
    assert.match(r.out, /CI is set, so native tests must run/);
  });

  it('without CI: the same tests are skipped with the reason', () => {
    const r = runWithoutAddon(undefined);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.fail, 0, r.out);
    assert.ok(r.skipped > 0, r.out);
    assert.match(r.out, /MIMO_NATIVE_DISABLE=1/);
  });
});
