/**
 * The llama.cpp anchor (../shared/tools/llamacpp-anchor: node-llama-cpp 3.21.1 with prebuilt llama.cpp) as a
 * writable copy in <cache>/bench/llamacpp-anchor with its node_modules, installed with `npm ci` once per
 * package-lock (a SHA-256 stamp beside node_modules; a copy whose stamp differs is reinstalled). Used by
 * `npm run bench` and by the cross-engine tests (test/gguf/*llamacpp*), so a fresh machine installs it on the first
 * run instead of failing. Source: ../shared/tools/llamacpp-anchor/README.md ("shared/ is read-only … copy this
 * folder somewhere writable first").
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from '../../src/cli/default-model.js';

/** The anchor folder under ../shared beside this repository. */
export const ANCHOR_SOURCE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'shared', 'tools', 'llamacpp-anchor');

/** Where the writable, installed copy lives: `<cache>/bench/llamacpp-anchor`. */
export function anchorDir(): string {
  return path.join(cacheDir(), 'bench', 'llamacpp-anchor');
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/**
 * Copy the anchor folder to {@link anchorDir} and `npm ci` there unless its node_modules match the package-lock.
 * @param run runs `npm ci --no-audit --no-fund` in the folder (the bench prints and records it); default: spawnSync
 *   with the output on stderr
 * @returns the installed folder
 * @throws Error when the anchor folder is missing or npm ci fails
 */
export async function ensureAnchor(run?: (argv: string[], cwd: string) => Promise<void>, log: (line: string) => void = () => {}): Promise<string> {
  if (!fs.existsSync(path.join(ANCHOR_SOURCE, 'bench_llamacpp.mjs'))) throw new Error(`the llama.cpp anchor is missing: ${ANCHOR_SOURCE}/bench_llamacpp.mjs`);
  const dir = anchorDir();
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(ANCHOR_SOURCE)) {
    if (f === 'node_modules' || f === '.cache') continue;
    fs.cpSync(path.join(ANCHOR_SOURCE, f), path.join(dir, f), { recursive: true, preserveTimestamps: true });
  }
  const stamp = path.join(dir, 'node_modules', '.mimo-package-lock.sha256');
  const lock = sha256(path.join(dir, 'package-lock.json'));
  const installed = fs.existsSync(path.join(dir, 'node_modules', 'node-llama-cpp', 'package.json')) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === lock;
  if (installed) {
    log(`using llama.cpp (node-llama-cpp) installed in ${dir}`);
    return dir;
  }
  // One installer at a time (test files may run in parallel): the others wait for the lock, then use its result.
  const lockDir = `${dir}.installing`;
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (Date.now() > deadline) throw new Error(`${lockDir} has been held for 15 minutes: another install hung? remove it and retry`);
      await new Promise((r) => setTimeout(r, 1000));
      if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === lock) return dir;
    }
  }
  try {
    const argv = ['npm', 'ci', '--no-audit', '--no-fund'];
    if (run) await run(argv, dir);
    else {
      process.stderr.write(`mimo-ts: installing the llama.cpp anchor (node-llama-cpp) in ${dir}: ${argv.join(' ')}\n`);
      const r = spawnSync(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
      if (r.status !== 0) throw new Error(`npm ci in ${dir} failed (exit ${r.status ?? r.signal})`);
    }
    fs.writeFileSync(stamp, lock);
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
  return dir;
}
