/**
 * SGLang and vLLM launch commands for a planned layout, built only from flags listed in `data/launch-flags.json`
 * (each with its engine, meaning and source; a flag missing there is an error). Per model family the data file gives
 * the reasoning / tool-call parsers and extra flags; the MTP settings come from its `speculative` section. Multi-node
 * commands are runnable as printed once `HEAD_IP` (node 0's address) is set in the shell; node 0's command is the
 * headline one, every node's is listed. Sources: data/launch-flags.json `sources`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MimoError } from '../errors.js';
import type { MiMoConfig } from '../model/mimo-v2/config.js';
import { packageRoot } from '../util/package-root.js';
import type { Layout, PlanKvDtype } from './planner.js';

export type Engine = 'sglang' | 'vllm';
export const ENGINES: readonly Engine[] = ['sglang', 'vllm'];
/** Key of a model family in the data file's `models`. */
export type ModelFamily = 'mimo_v2_flash' | 'mimo_v2' | 'mimo_v2_multimodal' | 'mimo_v2_6';

export interface FlagEntry {
  engine: Engine;
  flag: string;
  meaning: string;
  source: string;
}
interface EnvEntry {
  engine: Engine;
  name: string;
  meaning: string;
  source: string;
}
/** A flag with an optional value, as the data file lists a family's extra flags. */
interface DataArg {
  flag: string;
  value?: string;
}
interface FamilyEntry {
  sglang: {
    reasoningParser: string;
    toolCallParser: string;
    env: Record<string, string>;
    dpAttentionFlags: string[];
    /** Flags the family's recipe always sets (V2.6: its MoE backends). */
    extraFlags?: DataArg[];
    /** A separate drafter in the snapshot (V2.6's `dflash/`) instead of MTP speculation; DP attention then unsupported. */
    draft?: { algorithm: string; numDraftTokens: number; draftSubdir: string };
  };
  vllm: {
    reasoningParser: string;
    toolCallParser: string;
    extraFlags?: DataArg[];
    draft?: { method: string; numSpeculativeTokens: number; draftSubdir: string };
  };
}
/** The parsed data/launch-flags.json (the fields the builder uses). */
export interface LaunchData {
  sources: Record<string, string>;
  engines: Record<Engine, { executable: string }>;
  flags: FlagEntry[];
  env: EnvEntry[];
  hfRepos: Record<string, string>;
  models: Record<ModelFamily, FamilyEntry>;
  speculative: {
    sglang: { algorithm: string; numSteps: number; eagleTopk: number; numDraftTokens: number };
    vllm: { method: string; numSpeculativeTokens: number };
  };
  multiNode: { sglangInitPort: number; vllmRpcPort: number };
}

/** Path of the flag data file: `<package root>/data/launch-flags.json`. */
export function launchFlagsFile(): string {
  return path.join(packageRoot(), 'data', 'launch-flags.json');
}

let cached: LaunchData | undefined;

/**
 * Load data/launch-flags.json once.
 * @throws MimoError naming the file when it is unreadable or a flag lacks an engine, meaning or source
 */
export function loadLaunchData(): LaunchData {
  if (cached) return cached;
  const file = launchFlagsFile();
  let data: LaunchData;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8')) as LaunchData;
  } catch (e) {
    throw new MimoError(`${file}: cannot read the launch-flag table (${(e as Error).message})`);
  }
  for (const f of [...(data.flags ?? []), ...(data.env ?? [])]) {
    const name = 'flag' in f ? f.flag : f.name;
    if (!ENGINES.includes(f.engine) || !f.meaning || !f.source) throw new MimoError(`${file}: entry ${JSON.stringify(name)} needs engine, meaning and source`);
  }
  return (cached = data);
}

/** The family whose parsers and flags apply: Flash, V2.5-Pro (text), V2.5 (vision/audio towers), or V2.6 (MXFP4 experts). */
export function modelFamily(cfg: MiMoConfig, multimodal: boolean): ModelFamily {
  if (cfg.modelType === 'mimo_v2_flash') return 'mimo_v2_flash';
  if (cfg.expertStorage === 'mxfp4') return 'mimo_v2_6';
  return multimodal ? 'mimo_v2_multimodal' : 'mimo_v2';
}

/** Hugging Face repo of a preset (`XiaomiMiMo/MiMo-V2-Flash`), or undefined. */
export function hfRepoOf(preset: string): string | undefined {
  return loadLaunchData().hfRepos[preset];
}

/** One argument: a flag with an optional value; `raw` values go into the command unquoted (shell expansions). */
interface Arg {
  flag: string;
  value?: string;
  raw?: boolean;
}

/** Single-quote a word for a POSIX shell unless it is made of safe characters only. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Split a command line into words as a POSIX shell would for the quoting used here (single quotes, double quotes,
 * backslash escapes and backslash-newline continuations outside quotes); expansions are left as written.
 */
export function shellWords(command: string): string[] {
  const words: string[] = [];
  let cur: string | null = null;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      cur ??= '';
    } else if (c === '\\' && i + 1 < command.length) {
      i++;
      if (command[i] !== '\n') cur = (cur ?? '') + command[i];
    } else if (/\s/.test(c)) {
      if (cur !== null) words.push(cur);
      cur = null;
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) words.push(cur);
  return words;
}

/** What a command needs to know about the deployment. */
export interface CommandInput {
  /** Hugging Face repo or checkpoint directory. */
  modelPath: string;
  config: MiMoConfig;
  multimodal: boolean;
  numMtpLayers: number;
  layout: Layout;
  contextTokens: number;
  kvDtype: PlanKvDtype;
  /** Fraction of GPU memory the engine may use for weights + KV cache (1 − reserved). */
  memoryFraction: number;
}

/** One engine's launch: the command of every node (node 0 first). */
export interface EngineLaunch {
  engine: Engine;
  perNode: string[];
}

function render(engine: Engine, env: Record<string, string>, exe: string, positional: string[], args: Arg[], data: LaunchData): string {
  const known = new Set(data.flags.filter((f) => f.engine === engine).map((f) => f.flag));
  const knownEnv = new Set(data.env.filter((e) => e.engine === engine).map((e) => e.name));
  const words: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!knownEnv.has(k)) throw new MimoError(`${launchFlagsFile()}: environment variable ${k} is used for ${engine} but not listed`);
    words.push(`${k}=${shellQuote(v)}`);
  }
  words.push(exe, ...positional.map(shellQuote));
  for (const a of args) {
    if (!known.has(a.flag)) throw new MimoError(`${launchFlagsFile()}: flag ${a.flag} is used for ${engine} but not listed`);
    words.push(a.flag);
    if (a.value !== undefined) words.push(a.raw ? a.value : shellQuote(a.value));
  }
  return words.join(' ');
}

/** MTP drafts per step: the data file's setting, at most the checkpoint's MTP layers. */
const draftSteps = (wanted: number, numMtpLayers: number): number => Math.min(wanted, numMtpLayers);

/** The SGLang command of every node (`python3 -m sglang.launch_server …`). */
export function sglangLaunch(c: CommandInput): EngineLaunch {
  const data = loadLaunchData();
  const fam = data.models[modelFamily(c.config, c.multimodal)].sglang;
  const { tp, dp, ep, nodes } = c.layout;
  const spec = data.speculative.sglang;
  const steps = draftSteps(spec.numSteps, c.numMtpLayers);
  const perNode: string[] = [];
  for (let rank = 0; rank < nodes; rank++) {
    const args: Arg[] = [{ flag: '--model-path', value: c.modelPath }, { flag: '--trust-remote-code' }, { flag: '--tp-size', value: String(tp * dp) }];
    if (dp > 1) args.push({ flag: '--dp-size', value: String(dp) }, { flag: '--enable-dp-attention' }, ...fam.dpAttentionFlags.map((flag) => ({ flag })));
    if (ep > 1) args.push({ flag: '--ep-size', value: String(ep) });
    if (nodes > 1) {
      args.push({ flag: '--nnodes', value: String(nodes) }, { flag: '--node-rank', value: String(rank) });
      args.push({ flag: '--dist-init-addr', value: `"$HEAD_IP:${data.multiNode.sglangInitPort}"`, raw: true });
    }
    args.push({ flag: '--context-length', value: String(c.contextTokens) }, { flag: '--mem-fraction-static', value: String(c.memoryFraction) });
    if (c.kvDtype === 'fp8') args.push({ flag: '--kv-cache-dtype', value: 'fp8_e4m3' });
    args.push(...(fam.extraFlags ?? []));
    // The family's drafter (V2.6 DFlash) cannot run beside DP attention in SGLang (its cookbook): no speculation then.
    if (fam.draft && steps > 0 && dp === 1) {
      args.push(
        { flag: '--speculative-algorithm', value: fam.draft.algorithm },
        { flag: '--speculative-draft-model-path', value: `${c.modelPath}/${fam.draft.draftSubdir}` },
        { flag: '--speculative-num-draft-tokens', value: String(fam.draft.numDraftTokens) },
      );
    } else if (steps > 0 && !fam.draft) {
      args.push(
        { flag: '--speculative-algorithm', value: spec.algorithm },
        { flag: '--speculative-num-steps', value: String(steps) },
        { flag: '--speculative-eagle-topk', value: String(spec.eagleTopk) },
        { flag: '--speculative-num-draft-tokens', value: String(steps === spec.numSteps ? spec.numDraftTokens : steps + 1) },
        { flag: '--enable-multi-layer-eagle' },
      );
    }
    args.push({ flag: '--reasoning-parser', value: fam.reasoningParser }, { flag: '--tool-call-parser', value: fam.toolCallParser });
    perNode.push(render('sglang', steps > 0 ? fam.env : {}, data.engines.sglang.executable, [], args, data));
  }
  return { engine: 'sglang', perNode };
}

/** The vLLM command of every node (`vllm serve MODEL …`; worker nodes are `--headless`). */
export function vllmLaunch(c: CommandInput): EngineLaunch {
  const data = loadLaunchData();
  const fam = data.models[modelFamily(c.config, c.multimodal)].vllm;
  const { tp, dp, ep, nodes, gpusPerNode } = c.layout;
  const steps = draftSteps(data.speculative.vllm.numSpeculativeTokens, c.numMtpLayers);
  const dpLocal = Math.max(1, gpusPerNode / tp);
  const perNode: string[] = [];
  for (let rank = 0; rank < nodes; rank++) {
    const args: Arg[] = [{ flag: '--trust-remote-code' }, { flag: '--tensor-parallel-size', value: String(tp) }];
    if (dp > 1) args.push({ flag: '--data-parallel-size', value: String(dp) });
    if (ep > 1) args.push({ flag: '--enable-expert-parallel' });
    if (nodes > 1) {
      if (rank > 0) args.push({ flag: '--headless' }, { flag: '--data-parallel-start-rank', value: String(rank * dpLocal) });
      args.push({ flag: '--data-parallel-size-local', value: String(dpLocal) });
      args.push({ flag: '--data-parallel-address', value: '"$HEAD_IP"', raw: true }, { flag: '--data-parallel-rpc-port', value: String(data.multiNode.vllmRpcPort) });
    }
    args.push({ flag: '--max-model-len', value: String(c.contextTokens) }, { flag: '--gpu-memory-utilization', value: String(c.memoryFraction) });
    if (c.kvDtype === 'fp8') args.push({ flag: '--kv-cache-dtype', value: 'fp8' });
    args.push(...(fam.extraFlags ?? []));
    if (fam.draft && steps > 0) {
      const cfg = { method: fam.draft.method, model: `${c.modelPath}/${fam.draft.draftSubdir}`, num_speculative_tokens: fam.draft.numSpeculativeTokens, draft_tensor_parallel_size: tp };
      args.push({ flag: '--speculative-config', value: JSON.stringify(cfg) });
    } else if (steps > 0) {
      args.push({ flag: '--speculative-config', value: JSON.stringify({ method: data.speculative.vllm.method, num_speculative_tokens: steps }) });
    }
    args.push({ flag: '--reasoning-parser', value: fam.reasoningParser }, { flag: '--enable-auto-tool-choice' }, { flag: '--tool-call-parser', value: fam.toolCallParser });
    perNode.push(render('vllm', {}, data.engines.vllm.executable, [c.modelPath], args, data));
  }
  return { engine: 'vllm', perNode };
}

/** A one-line command wrapped at each flag with backslash continuations, for reading. */
export function wrapCommand(command: string): string {
  return command.replace(/ (--[a-z])/g, ' \\\n    $1');
}
