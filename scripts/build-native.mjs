#!/usr/bin/env node
/**
 * Builds the native addon (build/Release/mimo_native.node) with node-gyp — the package's `install` script and
 * `npm run build:native` (issue 14).
 *
 * - Node's own C headers are used when they are installed beside the running node (`<prefix>/include/node`, e.g.
 *   `/usr/include/node` from Debian's nodejs), passed as `--nodedir`, so no headers tarball is downloaded (an
 *   offline machine with an empty npm cache builds too). `npm_config_nodedir` set by the user wins.
 * - As the `install` script (no `--force`) it builds only when no addon that loads under this node exists or the
 *   existing one was built from other sources (a SHA-256 of binding.gyp and native/src/* is kept beside it in
 *   build/Release/mimo_native.sources.sha256), so `npm install /path/to/clone` from another project leaves the
 *   clone's working addon alone, and `git pull && npm ci` rebuilds an addon whose C++ changed.
 * - A working addon is never lost: it is moved aside before node-gyp (which wipes build/) and put back when the
 *   build fails.
 * - On failure it names the cause (Node headers, compiler / make, Python, or the build log's first error line) in
 *   one line on stderr and in build/native-build-failure.txt (read by the addon loader's error), and keeps the
 *   whole node-gyp output in build/native-build.log.
 *
 * Usage: node scripts/build-native.mjs [--force]
 * Exit status: 0 when an addon is in place, or when the build failed as the install script (npm install then goes
 * on and mimo falls back to the TypeScript backend); 1 when the build failed with --force.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = path.join(root, 'build');
const addon = path.join(buildDir, 'Release', 'mimo_native.node');
const failureFile = path.join(buildDir, 'native-build-failure.txt');
const logFile = path.join(buildDir, 'native-build.log');
const force = process.argv.includes('--force');
const stampFile = path.join(buildDir, 'Release', 'mimo_native.sources.sha256');

/** SHA-256 over binding.gyp and every file of native/src (names and contents, sorted). */
function sourcesHash() {
  const h = createHash('sha256');
  const files = ['binding.gyp', ...fs.readdirSync(path.join(root, 'native', 'src')).sort().map((f) => path.join('native', 'src', f))];
  for (const f of files) {
    h.update(`${f}\0`);
    h.update(fs.readFileSync(path.join(root, f)));
  }
  return h.digest('hex');
}

/** True when the addon's recorded sources are the current ones. */
function builtFromCurrentSources() {
  try {
    return fs.readFileSync(stampFile, 'utf8').trim() === sourcesHash();
  } catch {
    return false;
  }
}

/** True when `file` loads as this node's addon (in a child, so a crashing or foreign binary cannot take us down). */
function addonLoads(file) {
  if (!fs.existsSync(file)) return false;
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)}).getThreads()`], { stdio: 'ignore', timeout: 30_000 });
  return r.status === 0;
}

/** `<prefix>` whose include/node holds headers of this node's major version, or null. */
function installedNodeDir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const include = path.join(prefix, 'include', 'node');
  const versionH = path.join(include, 'node_version.h');
  if (!fs.existsSync(path.join(include, 'node_api.h')) || !fs.existsSync(path.join(include, 'common.gypi')) || !fs.existsSync(versionH)) return null;
  const major = /#define NODE_MAJOR_VERSION (\d+)/.exec(fs.readFileSync(versionH, 'utf8'))?.[1];
  return major === process.versions.node.split('.')[0] ? prefix : null;
}

/** The node-gyp command: npm's own (npm_config_node_gyp, or the one bundled with this node's npm), else PATH's. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const c of candidates) if (c && fs.existsSync(c)) return [process.execPath, c];
  return ['node-gyp'];
}

/** One line naming why node-gyp failed, from its output. */
export function failureCause(output, nodeDir) {
  const headers = /gyp http GET|node-v[\d.]+-headers\.tar\.gz|getaddrinfo|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|common\.gypi not found/i;
  if (nodeDir === null && headers.test(output)) {
    return `Node's C headers are missing: none are installed at ${path.resolve(path.dirname(process.execPath), '..', 'include', 'node')} and node-gyp could not download node-v${process.versions.node}-headers.tar.gz (offline?); install them (Debian/Ubuntu: apt install libnode-dev, or a Node from nodejs.org, which ships include/node) or set npm_config_nodedir to a directory holding include/node`;
  }
  const tool = /(?:^|\s|')((?:g\+\+|c\+\+|cc|gcc|make))(?:'|:)?\s*(?::\s*)?(?:not found|No such file or directory|command not found)/m.exec(output) ?? /not found: (make|g\+\+|c\+\+)/.exec(output);
  if (tool) return `the build tool ${tool[1]} is missing: install g++ and make (Debian/Ubuntu: apt install g++ make)`;
  if (/gyp ERR! find Python|Could not find any Python/.test(output)) return 'node-gyp needs Python 3: install python3';
  const line = output.split('\n').find((l) => /\berror\b[: ]/i.test(l) && !/^gyp ERR! (stack|cwd|node -v|node-gyp -v|System|command)/.test(l));
  return `node-gyp failed: ${(line ?? output.trim().split('\n').pop() ?? 'no output').trim()}`;
}

function main() {
  if (!force && addonLoads(addon) && builtFromCurrentSources()) {
    console.log(`mimo-ts: the native addon ${addon} is built from these sources and loads under node ${process.version}; not rebuilding (npm run build:native forces it)`);
    return 0;
  }
  // Keep a loading addon aside: node-gyp rebuild deletes build/ first.
  let kept = null;
  if (addonLoads(addon)) {
    kept = path.join(os.tmpdir(), `mimo_native.node.${process.pid}.bak`);
    fs.copyFileSync(addon, kept);
  }
  const nodeDir = process.env.npm_config_nodedir ? null : installedNodeDir();
  const [cmd, ...pre] = nodeGyp();
  const args = [...pre, 'rebuild', ...(nodeDir ? [`--nodedir=${nodeDir}`] : [])];
  const where = nodeDir ? ` against the Node headers in ${path.join(nodeDir, 'include', 'node')}` : process.env.npm_config_nodedir ? ` against npm_config_nodedir=${process.env.npm_config_nodedir}` : '';
  console.log(`mimo-ts: building the native addon${where}`);
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', env: process.env, maxBuffer: 64 * 1024 * 1024 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`;
  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(logFile, `$ ${[cmd, ...args].join(' ')}\n${output}`);
  if (r.status === 0 && addonLoads(addon)) {
    fs.writeFileSync(stampFile, `${sourcesHash()}\n`);
    fs.rmSync(failureFile, { force: true });
    if (kept) fs.rmSync(kept, { force: true });
    console.log(`mimo-ts: native addon built: ${addon}`);
    return 0;
  }
  const cause = r.status === 0 ? `the built addon ${addon} does not load under node ${process.version}` : failureCause(output, nodeDir);
  if (kept) {
    fs.mkdirSync(path.dirname(addon), { recursive: true });
    fs.copyFileSync(kept, addon);
    fs.rmSync(kept, { force: true });
  }
  fs.writeFileSync(failureFile, `${cause} (full log: ${logFile})\n`);
  const fallback = kept ? 'the previous addon was kept' : 'mimo will use the slower TypeScript backend (about 10× slower decode)';
  console.warn(`mimo-ts: the native addon could not be built: ${cause}; ${fallback}. Full log: ${logFile}; retry with \`npm run build:native\``);
  return force ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exit(main());
