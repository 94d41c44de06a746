/**
 * The native build as a new user meets it (issue 14), in a copy of the package's build inputs (binding.gyp,
 * native/, scripts/build-native.mjs, node_modules linked) so the checkout's own addon is never touched:
 * - with an empty HOME (no node-gyp header cache) and no npm configuration, the addon builds against the Node
 *   headers installed beside node (`<prefix>/include/node`), downloading nothing;
 * - the `install` script run again (as `npm install /path/to/clone` runs it) leaves a working addon byte-identical,
 *   even when the toolchain is broken; a forced rebuild that fails puts the working addon back and names the cause;
 * - the failure cause names the headers, a missing compiler, or the log's first error line.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';

const root = packageRoot();
const headersDir = path.join(path.resolve(path.dirname(process.execPath), '..'), 'include', 'node');
const headersInstalled = fs.existsSync(path.join(headersDir, 'node_api.h')) && fs.existsSync(path.join(headersDir, 'common.gypi'));
const builtAddon = path.join(root, 'build', 'Release', 'mimo_native.node');

/** The environment without any npm configuration, with HOME (and the caches under it) empty. */
function cleanEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'NODE_TEST_CONTEXT') env[k] = v;
  return { ...env, HOME: home, XDG_CACHE_HOME: path.join(home, '.cache'), ...extra };
}

/** A package-shaped folder holding what the native build reads. */
function copyBuildInputs(dir: string): void {
  for (const f of ['package.json', 'binding.gyp']) fs.copyFileSync(path.join(root, f), path.join(dir, f));
  fs.cpSync(path.join(root, 'native'), path.join(dir, 'native'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(path.join(root, 'scripts', 'build-native.mjs'), path.join(dir, 'scripts', 'build-native.mjs'));
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
}

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('native build', () => {
  let tmp = '';
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-native-build-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('builds with an empty HOME and no npm config, against the installed Node headers', { skip: headersInstalled ? false : `no Node headers at ${headersDir}` }, () => {
    const dir = path.join(tmp, 'fresh');
    const home = path.join(tmp, 'home-fresh');
    fs.mkdirSync(dir);
    fs.mkdirSync(home);
    copyBuildInputs(dir);
    const r = spawnSync(process.execPath, ['scripts/build-native.mjs'], { cwd: dir, env: cleanEnv(home), encoding: 'utf8', timeout: 600_000 });
    const log = fs.readFileSync(path.join(dir, 'build', 'native-build.log'), 'utf8');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /native addon built/, r.stdout + r.stderr);
    assert.ok(log.includes(`--nodedir=${path.dirname(path.dirname(headersDir))}`), log.slice(0, 400));
    assert.doesNotMatch(log, /gyp http GET/);
    const load = spawnSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(path.join(dir, 'build', 'Release', 'mimo_native.node'))}).getThreads())`], { encoding: 'utf8' });
    assert.equal(load.status, 0, load.stderr);
    assert.ok(Number(load.stdout) >= 1);
    assert.equal(fs.readdirSync(home).length, 0, 'nothing was downloaded into HOME');
  });

  it('the install script leaves a working addon intact; a failed forced rebuild puts it back', { skip: fs.existsSync(builtAddon) ? false : `this checkout has no addon at ${builtAddon}` }, () => {
    const dir = path.join(tmp, 'clone');
    const home = path.join(tmp, 'home-clone');
    fs.mkdirSync(dir);
    fs.mkdirSync(home);
    copyBuildInputs(dir);
    const addon = path.join(dir, 'build', 'Release', 'mimo_native.node');
    fs.mkdirSync(path.dirname(addon), { recursive: true });
    fs.copyFileSync(builtAddon, addon);
    const stamp = path.join(dir, 'build', 'Release', 'mimo_native.sources.sha256');
    fs.copyFileSync(path.join(path.dirname(builtAddon), 'mimo_native.sources.sha256'), stamp);
    const before = sha(addon);
    // A broken toolchain (CXX=/bin/false) and no headers cache: a rebuild would fail.
    const env = cleanEnv(home, { CXX: '/bin/false', CC: '/bin/false' });
    const install = spawnSync('npm', ['run', 'install'], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
    assert.equal(install.status, 0, install.stdout + install.stderr);
    assert.match(install.stdout, /not rebuilding/);
    assert.equal(sha(addon), before);

    // Sources changed since the addon was built (a stale stamp): the install script tries to rebuild; the build
    // fails here, so the working addon is kept and npm install goes on.
    fs.writeFileSync(stamp, 'stale\n');
    const stale = spawnSync('npm', ['run', 'install'], { cwd: dir, env, encoding: 'utf8', timeout: 600_000 });
    assert.equal(stale.status, 0, stale.stdout + stale.stderr);
    assert.doesNotMatch(stale.stdout, /not rebuilding/);
    assert.match(stale.stderr, /could not be built: .*; the previous addon was kept/);
    assert.equal(sha(addon), before);

    const forced = spawnSync(process.execPath, ['scripts/build-native.mjs', '--force'], { cwd: dir, env, encoding: 'utf8', timeout: 600_000 });
    assert.equal(forced.status, 1, forced.stdout + forced.stderr);
    assert.match(forced.stderr, /could not be built: .*; the previous addon was kept/);
    assert.equal(sha(addon), before);
    const cause = fs.readFileSync(path.join(dir, 'build', 'native-build-failure.txt'), 'utf8');
    assert.match(cause, /node-gyp failed: .*(Error|error)/);
  });

  it("the loader's error quotes the failed build's cause (what mimo run's fallback warning prints)", () => {
    // A package copy with the compiled loader, a recorded failure and no addon.
    const dir = path.join(tmp, 'no-addon');
    fs.mkdirSync(path.join(dir, 'build'), { recursive: true });
    fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
    fs.cpSync(path.join(root, 'dist', 'src'), path.join(dir, 'dist', 'src'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'build', 'native-build-failure.txt'), "Node's C headers are missing: test cause (full log: build/native-build.log)\n");
    const code = `import(${JSON.stringify(path.join(dir, 'dist', 'src', 'kernels', 'native', 'addon.js'))}).then((m) => { try { m.loadNativeAddon(); } catch (e) { console.log(e.message); } })`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: cleanEnv(tmp) });
    assert.match(r.stdout, /native addon not built: .*mimo_native\.node is missing: the build failed: Node's C headers are missing: test cause/);
    assert.match(r.stdout, /run `npm run build:native`; it needs g\+\+, make and Node's C headers/);
  });

  it('names the cause of a failed build', async () => {
    const { failureCause } = (await import(path.join(root, 'scripts', 'build-native.mjs'))) as { failureCause: (out: string, nodeDir: string | null) => string };
    const offline = 'gyp http GET https://nodejs.org/download/release/v20.20.2/node-v20.20.2-headers.tar.gz\ngyp ERR! stack Error: getaddrinfo EAI_AGAIN nodejs.org\ngyp ERR! not ok';
    assert.match(failureCause(offline, null), /Node's C headers are missing: .*npm_config_nodedir/);
    assert.match(failureCause('/bin/sh: 1: g++: not found\nmake: *** [x.o] Error 127', '/usr'), /build tool g\+\+ is missing: install g\+\+ and make/);
    assert.match(failureCause('gyp ERR! find Python\ngyp ERR! not ok', '/usr'), /needs Python 3/);
    assert.equal(failureCause('../native/src/moe.cc:12:3: error: expected ; before }\nmake: *** Error 1', '/usr'), 'node-gyp failed: ../native/src/moe.cc:12:3: error: expected ; before }');
  });
});
