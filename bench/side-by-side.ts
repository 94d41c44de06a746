/**
 * `npm run bench`: mimo.ts side by side with llama.cpp (node-llama-cpp, ../shared/tools/llamacpp-anchor) on the
 * bench checkpoint, on this machine, in one run. Steps (each command is printed as it runs):
 * 1. the bench checkpoint (`mimo init --preset bench`), created once in <cache>/bench/mimo-v2-flash-bench;
 * 2. the anchor folder copied to <cache>/bench/llamacpp-anchor (shared/ is read-only) and `npm ci` there, once;
 * 3. f16 and q8_0 GGUFs converted with the anchor's hf_to_gguf.py (cached; needs Debian's python3-numpy), and a
 *    Q4_K_M GGUF written by `mimo quantize --type q4_k_m` (the anchor's converter does not write K-quants);
 * 4. llama.cpp's figures: bench_llamacpp.mjs with flash attention on and off, on each GGUF;
 * 5. ours: `mimo bench --json` on the native backend and on the TypeScript backend (fewer generated tokens, one run),
 *    and the native backend on each GGUF llama.cpp ran (our GGUF reader on the very same file, compared with llama.cpp
 *    on it; its bound from the file's bytes per token);
 * 6. the machine's memory read bandwidth (native addon, ≥ 1 GiB buffer) and the decode bound it implies.
 * Prints one table and writes it to bench/results/latest.md (raw figures in latest.json). <cache> is
 * $MIMO_CACHE_DIR, else ~/.cache/mimo-ts. Run it on an idle machine: other load makes every figure meaningless.
 *
 *   npm run bench -- [--runs 3] [--threads 2] [--prompt-tokens 512] [--gen-tokens 128] [--ts-gen-tokens 16]
 *                    [--max-foreign 0.05] [--skip-llamacpp] [--skip-ts] [--wide DIR ...] [--skip-bench-checkpoint]
 * `--wide DIR` (repeatable) adds a table per `mimo init --scale wide` checkpoint: llama.cpp on its weights as q8_0
 * (converted once by hf_to_gguf.py) and as Q4_K_M (`mimo quantize`) against ours on the checkpoint as released and
 * ours on each of those files (delete the GGUFs afterwards, they are large).
 * Source: issue 3 (Build 6); ../shared/tools/llamacpp-anchor/README.md; STYLE.md habit 12.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { cacheDir } from '../src/cli/default-model.js';
import { ensureAnchor as ensureAnchorCopy } from './lib/anchor.js';
import { parseFloatOption, parseIntOption } from '../src/cli/options.js';
import { decodeWeightBytes, type DecodeWeightBytes } from '../src/engine/bench.js';
import { loadConfig } from '../src/model/mimo-v2/config.js';
import { formatBytes } from '../src/model/mimo-v2/inspect-report.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const mimoBin = 'dist/src/cli/main.js';
const PYTHON = '/usr/bin/python3';
const GGUF_TYPES = ['f16', 'q8_0'] as const;
/** Buffer of the bandwidth pass (the issue asks for ≥ 1 GB) and passes over it. */
const BANDWIDTH_BYTES = 2 ** 30;
const BANDWIDTH_REPEATS = 5;

interface Options {
  runs: number;
  threads: number;
  promptTokens: number;
  genTokens: number;
  tsGenTokens: number;
  maxForeign: number;
  skipLlamacpp: boolean;
  skipTs: boolean;
  skipBenchCheckpoint: boolean;
  /** `--scale wide` checkpoints (FP8 as released, MXFP4) compared with llama.cpp on the same weights as q8_0. */
  wide: string[];
}

interface Spread {
  min: number;
  median: number;
  max: number;
}

/** One row of the table: figures, or why there are none. */
interface Row {
  engine: string;
  weights: string;
  flashAttention: string;
  threads: number | null;
  genTokens: number;
  runs: number;
  prefill?: Spread;
  decode?: Spread;
  /** Reads the BF16 checkpoint's bytes per token (the bound applies; the TypeScript backend holds f32 copies). */
  twoBytesPerWeight: boolean;
  /** Compared with llama.cpp f16 (ours). */
  ours: boolean;
  /** Ours on a GGUF file (its ggml type): compared with llama.cpp on the same file. */
  ggufType?: string;
  /** Weight bytes this row reads per decoded token, when not the checkpoint's (a GGUF's blocks). */
  bytesPerToken?: number;
  maxForeignCores?: number | null;
  /** Ours: load seconds, RSS after load and peak RSS, bytes. */
  memory?: { loadSeconds: number; rssAfterLoadBytes: number; peakRssBytes: number };
  error?: string;
}

const commandsRun: string[] = [];
const log = (line: string) => process.stderr.write(`${line}\n`);

function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** Print and record a command the way a user would type it. */
function announce(argv: string[], cwd: string): void {
  const shown = [argv[0] === process.execPath ? 'node' : argv[0]!, ...argv.slice(1)].map(shellQuote).join(' ');
  const line = cwd === repoRoot ? shown : `(cd ${shellQuote(cwd)} && ${shown})`;
  commandsRun.push(line);
  log(`$ ${line}`);
}

/** Run a command with stderr passed through (and its tail kept); stdout captured or passed through. */
function runCommand(argv: string[], cwd: string, captureStdout = false): Promise<{ code: number; stdout: string; stderrTail: string }> {
  announce(argv, cwd);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ['ignore', captureStdout ? 'pipe' : 'inherit', 'pipe'] });
    let stdout = '';
    let stderrTail = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      process.stderr.write(d);
      stderrTail = (stderrTail + d.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderrTail }));
  });
}

async function mustRun(argv: string[], cwd: string): Promise<void> {
  const r = await runCommand(argv, cwd);
  if (r.code !== 0) throw new Error(`command failed (exit ${r.code}): ${argv.join(' ')}`);
}

/** A command's error message: its last `mimo: …` line, else its last non-empty line of stderr. */
function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return [...lines].reverse().find((l) => l.startsWith('mimo: ')) ?? lines.pop() ?? '';
}

/** Average cores other processes keep busy over one second (this process idles meanwhile). */
async function foreignLoad(): Promise<number | null> {
  const snap = () => {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const own = process.cpuUsage();
    return { busy: (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0)) / 100, own: (own.user + own.system) / 1e6, t: performance.now() / 1000 };
  };
  try {
    const a = snap();
    await new Promise((r) => setTimeout(r, 1000));
    const b = snap();
    return Math.max(0, (b.busy - a.busy - (b.own - a.own)) / (b.t - a.t));
  } catch {
    return null;
  }
}

/** Wait until other processes use under `maxForeign` cores, as bench_llamacpp.mjs does before each run. */
async function waitIdle(maxForeign: number, what: string, maxWaitSeconds = 900): Promise<void> {
  const t0 = Date.now();
  let said = false;
  for (;;) {
    const f = await foreignLoad();
    if (f === null || f < maxForeign) return;
    if (!said) log(`bench: waiting for the machine to go idle before ${what} (other processes use ${f.toFixed(2)} cores)`);
    said = true;
    if ((Date.now() - t0) / 1000 > maxWaitSeconds) {
      log(`bench: warning: the machine did not go idle in ${maxWaitSeconds} s; measuring ${what} anyway`);
      return;
    }
  }
}

/** Step 1: the bench checkpoint, written once through `mimo init --preset bench` (atomically renamed). */
async function ensureCheckpoint(benchRoot: string): Promise<string> {
  const dir = path.join(benchRoot, 'mimo-v2-flash-bench');
  if (fs.existsSync(path.join(dir, 'config.json'))) {
    log(`bench: using the bench checkpoint at ${dir}`);
    return dir;
  }
  const partial = `${dir}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  await mustRun([process.execPath, mimoBin, 'init', '--preset', 'bench', '--out', partial], repoRoot);
  fs.renameSync(partial, dir);
  return dir;
}

/** Step 2: a writable copy of the anchor folder with its node_modules (npm ci once per package-lock). */
function ensureAnchor(): Promise<string> {
  return ensureAnchorCopy(mustRun, (l) => log(`bench: ${l}`));
}

/** Step 3 needs numpy in the system Python; the fix is an apt command the user runs (never run from here). */
function ensureNumpy(): void {
  const r = spawnSync(PYTHON, ['-c', 'import numpy'], { stdio: 'ignore' });
  if (r.status === 0) return;
  log(`bench: ${PYTHON} cannot import numpy, which hf_to_gguf.py needs to convert the checkpoint for llama.cpp. Install it with`);
  log('  sudo apt-get install -y python3-numpy');
  log('then run `npm run bench` again (or pass --skip-llamacpp to measure mimo.ts alone).');
  process.exit(1);
}

/** Step 3: GGUF of `type`, reconverted when older than the checkpoint or the converter. */
async function ensureGguf(anchorDir: string, modelDir: string, benchRoot: string, type: string, name = 'mimo-v2-flash-bench'): Promise<string> {
  const out = path.join(benchRoot, 'gguf', `${name}.${type}.gguf`);
  const sources = [path.join(modelDir, 'config.json'), path.join(anchorDir, 'hf_to_gguf.py'), path.join(anchorDir, 'gguf_write.py')];
  const newest = Math.max(...sources.map((f) => fs.statSync(f).mtimeMs));
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= newest) {
    log(`bench: using ${out}`);
    return out;
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const partial = `${out}.partial`;
  await mustRun([PYTHON, 'hf_to_gguf.py', modelDir, partial, '--type', type, '-q'], anchorDir);
  fs.renameSync(partial, out);
  return out;
}

/**
 * A GGUF of `type` written by `mimo quantize` (types the anchor's hf_to_gguf.py does not write, e.g. q4_k_m with
 * llama-quantize's per-tensor choices), remade when older than the checkpoint's config or our quantizer build.
 */
async function ensureQuantized(modelDir: string, benchRoot: string, type: string, name: string): Promise<string> {
  const out = path.join(benchRoot, 'gguf', `${name}.${type}.gguf`);
  const sources = [path.join(modelDir, 'config.json'), path.join(repoRoot, 'dist', 'src', 'cli', 'commands', 'quantize.js')].filter((f) => fs.existsSync(f));
  const newest = Math.max(...sources.map((f) => fs.statSync(f).mtimeMs));
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= newest) {
    log(`bench: using ${out}`);
    return out;
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await mustRun([process.execPath, mimoBin, 'quantize', modelDir, out, '--type', type], repoRoot);
  return out;
}

/** llama.cpp (FA on and off) on one GGUF, as rows labelled `weights`. */
async function llamaRowsOn(anchorDir: string, gguf: string, weights: string, o: Options, outDir: string, key: string, raw: Record<string, unknown>): Promise<Row[]> {
  const rows: Row[] = [];
  for (const fa of ['on', 'off'] as const) {
    const jsonFile = path.join(outDir, `llamacpp-${key}-fa-${fa}.json`);
    fs.rmSync(jsonFile, { force: true });
    const argv = [process.execPath, 'bench_llamacpp.mjs', gguf, '--runs', String(o.runs), '--threads', String(o.threads), '--fa', fa,
      '--prompt', String(o.promptTokens), '--gen', String(o.genTokens), '--max-foreign', String(o.maxForeign), '--json', jsonFile];
    const r = await runCommand(argv, anchorDir);
    const base: Row = { engine: 'llama.cpp', weights, flashAttention: fa, threads: o.threads, genTokens: o.genTokens, runs: o.runs, ours: false, twoBytesPerWeight: false };
    if (r.code !== 0 || !fs.existsSync(jsonFile)) {
      rows.push({ ...base, error: `bench_llamacpp.mjs failed: ${lastLine(r.stderrTail)}` });
      continue;
    }
    const json = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as LlamaJson;
    raw[`${key}_llamacpp_fa_${fa}`] = json;
    const res = json.results[0]!;
    rows.push({ ...base, threads: res.threads, prefill: res.prefill_tps, decode: res.decode_tps, maxForeignCores: res.max_foreign_cores });
  }
  return rows;
}

interface LlamaJson {
  results: {
    model: string;
    threads: number;
    flash_attention: boolean;
    runs: number;
    prefill_tps: Spread;
    decode_tps: Spread;
    max_foreign_cores: number;
  }[];
  machine?: Record<string, unknown>;
}

/** Step 4: bench_llamacpp.mjs over the GGUFs with flash attention `fa`. */
async function runLlamacpp(anchorDir: string, ggufs: Record<string, string>, fa: 'on' | 'off', o: Options, outDir: string): Promise<{ rows: Row[]; json?: LlamaJson }> {
  const jsonFile = path.join(outDir, `llamacpp-fa-${fa}.json`);
  fs.rmSync(jsonFile, { force: true });
  const argv = [process.execPath, 'bench_llamacpp.mjs', ...GGUF_TYPES.map((t) => ggufs[t]!), '--runs', String(o.runs), '--threads', String(o.threads),
    '--fa', fa, '--prompt', String(o.promptTokens), '--gen', String(o.genTokens), '--max-foreign', String(o.maxForeign), '--json', jsonFile];
  const r = await runCommand(argv, anchorDir);
  const base = { engine: 'llama.cpp', flashAttention: fa, genTokens: o.genTokens, runs: o.runs, ours: false };
  if (r.code !== 0 || !fs.existsSync(jsonFile)) {
    return { rows: GGUF_TYPES.map((t) => ({ ...base, weights: t, threads: o.threads, twoBytesPerWeight: t === 'f16', error: `bench_llamacpp.mjs failed: ${lastLine(r.stderrTail)}` })) };
  }
  const json = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as LlamaJson;
  const rows = GGUF_TYPES.map((t, i): Row => {
    const res = json.results[i]!;
    return { ...base, weights: t, threads: res.threads, twoBytesPerWeight: t === 'f16', prefill: res.prefill_tps, decode: res.decode_tps, maxForeignCores: res.max_foreign_cores };
  });
  return { rows, json };
}

/** Step 5: `mimo bench --json` in a subprocess (a fresh process, so peak RSS is this backend's). */
async function runMimo(modelDir: string, backend: 'native' | 'ts', o: Options, gguf?: { type: string; bytesPerToken: number }): Promise<{ row: Row; json?: Record<string, unknown> }> {
  const ts = backend === 'ts';
  const genTokens = ts ? Math.min(o.tsGenTokens, o.genTokens) : o.genTokens;
  const runs = ts ? 1 : o.runs;
  await waitIdle(o.maxForeign, `mimo bench --backend ${backend}`);
  const argv = [process.execPath, mimoBin, 'bench', '--model', modelDir, '--backend', backend, ...(ts ? [] : ['--threads', String(o.threads)]),
    '--prompt-tokens', String(o.promptTokens), '--gen-tokens', String(genTokens), '--runs', String(runs), '--json'];
  const r = await runCommand(argv, repoRoot, true);
  const row: Row = {
    engine: ts ? 'mimo.ts TypeScript backend' : 'mimo.ts native backend',
    weights: 'bf16',
    flashAttention: '—',
    threads: ts ? 1 : o.threads,
    genTokens,
    runs,
    twoBytesPerWeight: !ts && !gguf,
    ours: true,
    ...(gguf ? { weights: `${gguf.type} (the same GGUF)`, ggufType: gguf.type, bytesPerToken: gguf.bytesPerToken } : {}),
  };
  if (r.code !== 0) return { row: { ...row, error: lastLine(r.stderrTail) || `exit ${r.code}` } };
  const json = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
  const s = (k: string): Spread => ({ min: json[`${k}_min`]!, median: json[k]!, max: json[`${k}_max`]! });
  const memory = { loadSeconds: json['load_seconds']!, rssAfterLoadBytes: json['rss_after_load_bytes']!, peakRssBytes: json['peak_rss_bytes']! };
  return { row: { ...row, threads: json['threads']!, prefill: s('prefill_tps'), decode: s('decode_tps'), maxForeignCores: json['max_foreign_cores'] ?? null, memory }, json };
}

/** Step 6: bytes/s of a multithreaded read pass over a 1 GiB buffer (native addon), or why not. */
async function measureBandwidth(o: Options): Promise<{ bytesPerSecond?: number; error?: string }> {
  await waitIdle(o.maxForeign, 'the memory-bandwidth pass');
  try {
    const { loadNativeAddon } = await import('../src/kernels/native/addon.js');
    const addon = loadNativeAddon();
    const bytesPerSecond = addon.memReadBandwidth(BANDWIDTH_BYTES, o.threads, BANDWIDTH_REPEATS);
    commandsRun.push(`(in-process) loadNativeAddon().memReadBandwidth(${BANDWIDTH_BYTES}, ${o.threads}, ${BANDWIDTH_REPEATS})`);
    return { bytesPerSecond };
  } catch (e) {
    return { error: `the native addon is not available (${(e as Error).message.split('\n')[0]}); no bandwidth figure` };
  }
}

const num = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const cell = (s: Spread | undefined) => (s ? `${num(s.median)} [${num(s.min)}–${num(s.max)}]` : '—');
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : '—');

/** The table (markdown) and the lines under it. */
function report(rows: Row[], o: Options, wb: DecodeWeightBytes, bw: { bytesPerSecond?: number; error?: string }, setup: string): string {
  const llama = (weights: string, fa: string) => rows.find((r) => r.engine === 'llama.cpp' && r.weights === weights && r.flashAttention === fa);
  const boundOf = (r: Row) => {
    const bytes = r.bytesPerToken ?? (r.twoBytesPerWeight ? wb.total : undefined);
    return bw.bytesPerSecond && bytes ? bw.bytesPerSecond / bytes : undefined;
  };
  const bound = bw.bytesPerSecond ? bw.bytesPerSecond / wb.total : undefined;
  const lines = [
    `| engine | weights | flash attention | threads | prefill tok/s (${o.promptTokens}) median [min–max] | decode tok/s (${o.genTokens}) median [min–max] | prefill ÷ llama.cpp f16 (a GGUF row: llama.cpp on that file), FA on / off | decode ÷ the same, FA on / off | decode ÷ bandwidth bound |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const label = `${r.engine}${r.genTokens !== o.genTokens || r.runs !== o.runs ? ` (${r.genTokens} decode tokens, ${r.runs} run${r.runs > 1 ? 's' : ''})` : ''}`;
    if (r.error) {
      lines.push(`| ${label} | ${r.weights} | ${r.flashAttention} | ${r.threads ?? '—'} | not run: ${r.error.replace(/\|/g, '/')} | — | — | — | — |`);
      continue;
    }
    const vs = (pick: (x: Row) => Spread | undefined) => {
      if (!r.ours) return '—';
      const [on, off] = [llama(r.ggufType ?? 'f16', 'on'), llama(r.ggufType ?? 'f16', 'off')].map((b) => (b ? pick(b)?.median : undefined));
      return `${ratio(pick(r)?.median, on)} / ${ratio(pick(r)?.median, off)}`;
    };
    const rb = boundOf(r);
    const ofBound = rb && r.decode ? `${((100 * r.decode.median) / rb).toFixed(0)}%${r.bytesPerToken ? ` (${formatBytes(r.bytesPerToken)}/token)` : ''}` : '—';
    const flagged = r.maxForeignCores != null && r.maxForeignCores > o.maxForeign ? ' ⚠' : '';
    lines.push(`| ${label}${flagged} | ${r.weights} | ${r.flashAttention} | ${r.threads ?? '—'} | ${cell(r.prefill)} | ${cell(r.decode)} | ${vs((x) => x.prefill)} | ${vs((x) => x.decode)} | ${ofBound} |`);
  }
  lines.push('');
  for (const r of rows) {
    if (r.memory) lines.push(`${r.engine}: load ${r.memory.loadSeconds.toFixed(2)} s, RSS after load ${formatBytes(r.memory.rssAfterLoadBytes)}, peak RSS ${formatBytes(r.memory.peakRssBytes)}.`);
  }
  lines.push(setup);
  lines.push(
    `Weights read per decoded token: ${wb.total.toLocaleString('en-US')} bytes (${formatBytes(wb.total)}) = non-expert trunk ${formatBytes(wb.nonExpert)} ` +
      `+ active experts ${formatBytes(wb.activeExperts)} + LM head ${formatBytes(wb.lmHead)} + one embedding row ${formatBytes(wb.embeddingRow)}, ` +
      'from the checkpoint\'s safetensors headers (BF16; llama.cpp f16 reads the same bytes).',
  );
  if (bw.bytesPerSecond && bound) {
    lines.push(
      `Memory read bandwidth: ${(bw.bytesPerSecond / 1e9).toFixed(1)} GB/s (${o.threads} threads, ${BANDWIDTH_BYTES / 2 ** 30} GiB buffer, best of ${BANDWIDTH_REPEATS} passes) ` +
        `→ decode bound ${bound.toFixed(1)} tok/s; "decode ÷ bandwidth bound" is each row's median over it.`,
    );
  } else {
    lines.push(`Memory read bandwidth: not measured: ${bw.error}.`);
  }
  lines.push(
    `Prefill = time to first token of a ${o.promptTokens}-token prompt (same random ids, xorshift32 seed 1234, in both engines); decode = greedy tokens after the first, ` +
      'one at a time through the KV cache; median [min–max] over the runs after one warm-up. Ratios compare medians at equal precision (our BF16 weights vs llama.cpp f16).',
  );
  if (rows.some((r) => r.maxForeignCores != null && r.maxForeignCores > o.maxForeign)) {
    lines.push(`⚠ other processes kept more than ${o.maxForeign} cores busy during a run of this row: its figures are not representative.`);
  }
  return lines.join('\n');
}

/** Rows and a table for one `--scale wide` checkpoint: llama.cpp on its weights as q8_0 (FA on and off) and ours on
 * the checkpoint as released, with the bytes per decoded token and decode ÷ the bandwidth bound of each engine. */
async function wideSection(anchorDir: string | null, dir: string, benchRoot: string, o: Options, outDir: string, raw: Record<string, unknown>): Promise<string> {
  const config = loadConfig(path.join(dir, 'config.json'));
  const wb = decodeWeightBytes(dir, config);
  const name = path.basename(path.resolve(dir));
  const stored = (() => {
    const q = (JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { quantization_config?: { store_dtype?: string; quant_method?: string } }).quantization_config;
    return q?.store_dtype === 'mxfp4' ? 'mxfp4 experts, fp8 trunk' : q ? 'fp8 (as released)' : 'bf16';
  })();
  const rows: Row[] = [];
  let ggufBytes: number | undefined;
  let ggufFile: string | undefined;
  let q4File: string | undefined;
  if (anchorDir) {
    const gguf = await ensureGguf(anchorDir, dir, benchRoot, 'q8_0', name);
    ggufFile = gguf;
    // q8_0 reads its blocks' bytes: the tensors' share of the file, experts scaled by the active fraction.
    ggufBytes = fs.statSync(gguf).size;
    rows.push(...(await llamaRowsOn(anchorDir, gguf, 'q8_0', o, outDir, `wide_${name}`, raw)));
    q4File = await ensureQuantized(dir, benchRoot, 'q4_k_m', name);
    rows.push(...(await llamaRowsOn(anchorDir, q4File, 'q4_k_m', o, outDir, `wide_${name}_q4_k_m`, raw)));
  }
  const native = await runMimo(dir, 'native', o);
  rows.push({ ...native.row, weights: stored });
  raw[`wide_${name}_mimo_native`] = native.json;
  if (ggufFile) {
    const g = await runMimo(ggufFile, 'native', o, { type: 'q8_0', bytesPerToken: decodeWeightBytes(ggufFile, config).total });
    rows.push(g.row);
    raw[`wide_${name}_mimo_native_gguf_q8_0`] = g.json;
  }
  if (q4File) {
    const g = await runMimo(q4File, 'native', o, { type: 'q4_k_m', bytesPerToken: decodeWeightBytes(q4File, config).total });
    rows.push(g.row);
    raw[`wide_${name}_mimo_native_gguf_q4_k_m`] = g.json;
  }
  const bw = await measureBandwidth(o);
  const ll = (fa: string, weights: string) => rows.find((r) => r.engine === 'llama.cpp' && r.flashAttention === fa && r.weights === weights);
  const lines = [
    `### ${name}: hidden ${config.hiddenSize}, ${config.numHiddenLayers} layers, ${config.nRoutedExperts} experts top-${config.numExpertsPerTok}, vocab ${config.vocabSize}`,
    '',
    `| engine | weights | flash attention | threads | prefill tok/s (${o.promptTokens}) median [min–max] | decode tok/s (${o.genTokens}) median [min–max] | prefill ÷ llama.cpp on q8_0 (a GGUF row: on that file), FA on / off | decode ÷ the same, FA on / off | decode ÷ bandwidth bound (ours: bytes read per token) |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const bound = bw.bytesPerSecond ? bw.bytesPerSecond / wb.total : undefined;
  for (const r of rows) {
    if (r.error) {
      lines.push(`| ${r.engine} | ${r.weights} | ${r.flashAttention} | ${r.threads ?? '—'} | not run: ${r.error.replace(/\|/g, '/')} | — | — | — | — |`);
      continue;
    }
    // Ours on a GGUF against llama.cpp on that file; ours on the checkpoint against llama.cpp's q8_0 of it.
    const vs = (pick: (x: Row) => Spread | undefined) => {
      if (!r.ours) return '—';
      const [on, off] = [ll('on', r.ggufType ?? 'q8_0'), ll('off', r.ggufType ?? 'q8_0')].map((b) => (b ? pick(b)?.median : undefined));
      return `${ratio(pick(r)?.median, on)} / ${ratio(pick(r)?.median, off)}`;
    };
    const rBound = r.bytesPerToken && bw.bytesPerSecond ? bw.bytesPerSecond / r.bytesPerToken : bound;
    const ofBound = r.ours && rBound && r.decode ? `${((100 * r.decode.median) / rBound).toFixed(0)}%${r.bytesPerToken ? ` (${formatBytes(r.bytesPerToken)}/token)` : ''}` : '—';
    const flagged = r.maxForeignCores != null && r.maxForeignCores > o.maxForeign ? ' ⚠' : '';
    lines.push(`| ${r.engine}${flagged} | ${r.weights} | ${r.flashAttention} | ${r.threads ?? '—'} | ${cell(r.prefill)} | ${cell(r.decode)} | ${vs((x) => x.prefill)} | ${vs((x) => x.decode)} | ${ofBound} |`);
  }
  lines.push('');
  lines.push(
    `Ours reads ${formatBytes(wb.total)} per decoded token (trunk ${formatBytes(wb.nonExpert)} + active experts ${formatBytes(wb.activeExperts)} + LM head ${formatBytes(wb.lmHead)}); ` +
      (ggufBytes ? `llama.cpp's q8_0 file is ${formatBytes(ggufBytes)} (its per-token bytes are the q8_0 blocks of the same tensors, ≈ 1.06 × the FP8 bytes). ` : '') +
      (bw.bytesPerSecond && bound ? `Read bandwidth ${(bw.bytesPerSecond / 1e9).toFixed(1)} GB/s (same run) → our decode bound ${bound.toFixed(2)} tok/s.` : `Bandwidth not measured: ${bw.error}.`),
  );
  return lines.join('\n');
}

function gitDescribe(): string {
  const r = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: repoRoot, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

function parseOptions(argv: string[]): Options {
  const program = new Command()
    .name('npm run bench --')
    .description('mimo.ts side by side with llama.cpp on the bench checkpoint')
    .option('--runs <n>', 'timed runs per configuration', parseIntOption(1), 3)
    .option('--threads <n>', 'threads of llama.cpp, of the native backend and of the bandwidth pass', parseIntOption(1), 2)
    .option('--prompt-tokens <n>', 'prompt length', parseIntOption(1), 512)
    .option('--gen-tokens <n>', 'decode tokens', parseIntOption(1), 128)
    .option('--ts-gen-tokens <n>', 'decode tokens of the (slow) TypeScript backend, which runs once', parseIntOption(1), 16)
    .option('--max-foreign <cores>', 'other load tolerated during a run (bench_llamacpp.mjs --max-foreign)', parseFloatOption(0, 64), 0.05)
    .option('--skip-llamacpp', 'measure mimo.ts only', false)
    .option('--skip-ts', 'skip the TypeScript backend', false)
    .option('--wide <dir>', 'also a `mimo init --scale wide` checkpoint (FP8 or MXFP4; repeatable) against llama.cpp on its weights as q8_0', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--skip-bench-checkpoint', 'only the --wide rows', false)
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    process.exit(e instanceof CommanderError ? e.exitCode : 2);
  }
  return program.opts<Options>();
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const benchRoot = path.join(cacheDir(), 'bench');
  const outDir = path.join(benchRoot, 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const raw: Record<string, unknown> = { options: o };
  const sections: string[] = [];
  let anchorDir: string | null = null;
  if (!o.skipLlamacpp) {
    ensureNumpy();
    anchorDir = await ensureAnchor();
  }
  let failed = false;
  if (!o.skipBenchCheckpoint) {
    const modelDir = await ensureCheckpoint(benchRoot);
    const config = loadConfig(path.join(modelDir, 'config.json'));
    const wb = decodeWeightBytes(modelDir, config);
    const rows: Row[] = [];
    const ggufFiles: Record<string, string> = {};
    if (anchorDir) {
      const ggufs: Record<string, string> = {};
      for (const t of GGUF_TYPES) ggufs[t] = await ensureGguf(anchorDir, modelDir, benchRoot, t);
      Object.assign(ggufFiles, ggufs);
      for (const fa of ['on', 'off'] as const) {
        const { rows: r, json } = await runLlamacpp(anchorDir, ggufs, fa, o, outDir);
        rows.push(...r);
        raw[`llamacpp_fa_${fa}`] = json;
      }
      const order = (r: Row) => GGUF_TYPES.indexOf(r.weights as (typeof GGUF_TYPES)[number]) * 2 + (r.flashAttention === 'on' ? 0 : 1);
      rows.sort((a, b) => order(a) - order(b));
      // Q4_K_M, the most downloaded community quant, written by `mimo quantize` (llama-quantize's per-tensor types).
      const q4 = await ensureQuantized(modelDir, benchRoot, 'q4_k_m', 'mimo-v2-flash-bench');
      rows.push(...(await llamaRowsOn(anchorDir, q4, 'q4_k_m', o, outDir, 'bench_q4_k_m', raw)));
      ggufFiles['q4_k_m'] = q4;
    }
    const native = await runMimo(modelDir, 'native', o);
    rows.push(native.row);
    raw['mimo_native'] = native.json;
    // Ours on the very files llama.cpp ran (issue 15: the GGUF reader side by side).
    for (const [t, file] of Object.entries(ggufFiles)) {
      const g = await runMimo(file, 'native', o, { type: t, bytesPerToken: decodeWeightBytes(file, config).total });
      rows.push(g.row);
      raw[`mimo_native_gguf_${t}`] = g.json;
    }
    if (!o.skipTs) {
      const ts = await runMimo(modelDir, 'ts', o);
      rows.push(ts.row);
      raw['mimo_ts'] = ts.json;
    }
    const bw = await measureBandwidth(o);
    raw['bandwidth_bytes_per_second'] = bw.bytesPerSecond ?? null;
    raw['decode_weight_bytes'] = wb;
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    const llamaMachine = (raw['llamacpp_fa_on'] ?? raw['llamacpp_fa_off']) as LlamaJson | undefined;
    const llamaRelease = llamaMachine?.machine?.['llama_cpp_release'];
    const setup =
      `Bench checkpoint ${modelDir} (MiMo-V2-Flash at bench scale: hidden ${config.hiddenSize}, ${config.numHiddenLayers} layers, ${config.nRoutedExperts} experts top-${config.numExpertsPerTok}, vocab ${config.vocabSize}, BF16). ` +
      `Machine: ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; mimo.ts ${gitDescribe()}` +
      `${llamaRelease ? `; llama.cpp ${String(llamaRelease)} (node-llama-cpp, prebuilt CPU binaries)` : ''}; ${new Date().toISOString()}.`;
    sections.push(report(rows, o, wb, bw, setup));
    failed = rows.some((r) => r.error) || bw.error !== undefined;
  }
  for (const dir of o.wide) {
    const text = await wideSection(anchorDir, dir, benchRoot, o, outDir, raw);
    sections.push(text);
    failed = failed || text.includes('not run:');
  }
  const md = `# mimo.ts side by side with llama.cpp\n\n${sections.join('\n\n')}\n\nCommands run:\n\n\`\`\`\n${commandsRun.join('\n')}\n\`\`\`\n`;
  const resultsDir = path.join(repoRoot, 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'latest.md'), md);
  fs.writeFileSync(path.join(resultsDir, 'latest.json'), `${JSON.stringify(raw, null, 1)}\n`);
  process.stdout.write(`\n${md}\n(written to bench/results/latest.md)\n`);
  if (failed) process.exitCode = 1;
}

await main();
