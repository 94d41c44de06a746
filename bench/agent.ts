/**
 * `node dist/bench/agent.js [--model DIR] [--session bench/data/agent-session.json] [--turns 10] [--max-tokens 16]
 * [--backend native] [--checkpoint-every 512]`: replays a recorded coding-agent session against `mimo serve`
 * (spawned as a child process) — each request is the conversation up to the next recorded assistant message —
 * twice per mode (thinking on with the reasoning echoed back; thinking off), with and without the prefix cache,
 * and the last turn once more on a server restarted on a `--cache-dir` written by a server that took every earlier
 * turn (its TTFT compared with the warm server's for that turn). Per turn: prompt, cached and
 * prefilled tokens, "new" tokens (the prompt after its longest common prefix with every earlier prompt of the
 * run), TTFT (server-side, `mimo.stats.ttft_s`) with and without the cache; and the cache's bytes (pages, SWA
 * snapshots, and what a full-size SWA cache of the same positions would take). Default model: the default small
 * random-weight checkpoint of `mimo serve`. Figures depend on the machine's load: measure on a quiet machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDefaultModel } from '../src/cli/default-model.js';
import { loadConfig } from '../src/model/mimo-v2/config.js';
import { MiMoTokenizer, type ChatMessage, type ChatTool } from '../src/tokenizer/tokenizer.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    session: { type: 'string', default: 'bench/data/agent-session.json' },
    turns: { type: 'string', default: '10' },
    'max-tokens': { type: 'string', default: '16' },
    backend: { type: 'string', default: 'native' },
    'checkpoint-every': { type: 'string', default: '512' },
  },
});
const dir = values.model ?? (await ensureDefaultModel((s) => process.stderr.write(`${s}\n`)));
const session = JSON.parse(fs.readFileSync(values.session!, 'utf8')) as { system: string; tools: ChatTool[]; messages: Array<ChatMessage & { reasoning_content?: string }> };
const maxTurns = Number(values.turns);
const tok = MiMoTokenizer.load(dir);
const cfg = loadConfig(path.join(dir, 'config.json'));
const cli = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'src', 'cli', 'main.js');

interface Server {
  url: string;
  child: ChildProcess;
}

/** Start `mimo serve` on a free port; resolves with its URL once it listens. */
function serve(extra: string[]): Promise<Server> {
  const child = spawn(process.execPath, [cli, 'serve', '--model', dir, '--port', '0', '--backend', values.backend!, '--no-request-log', '--cache-checkpoint-every', values['checkpoint-every']!, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = / on (http:\/\/[^\s]+) \(/.exec(err);
      if (m) resolve({ url: m[1]!, child });
    });
    child.on('exit', (code) => reject(new Error(`mimo serve exited with ${code}: ${err}`)));
  });
}

function stop(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.child.removeAllListeners('exit');
    s.child.on('exit', () => resolve());
    s.child.kill('SIGTERM');
  });
}

/** The requests of a mode: the conversation before each recorded assistant message. */
function requests(thinking: boolean): ChatMessage[][] {
  const out: ChatMessage[][] = [];
  const history: ChatMessage[] = [{ role: 'system', content: session.system }];
  for (const m of session.messages) {
    if (m.role === 'assistant') out.push([...history]);
    const copy = { ...m } as ChatMessage & { reasoning_content?: string };
    if (!thinking) delete copy.reasoning_content;
    history.push(copy);
  }
  return out.slice(0, maxTurns);
}

interface TurnFigures {
  prompt: number;
  cached: number;
  prefilled: number;
  ttftS: number;
}

async function turn(s: Server, messages: ChatMessage[], thinking: boolean): Promise<TurnFigures> {
  const res = await fetch(`${s.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: path.basename(dir), messages, tools: session.tools, max_tokens: Number(values['max-tokens']), temperature: 0, chat_template_kwargs: { enable_thinking: thinking } }),
  });
  const body = (await res.json()) as { usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } }; mimo: { stats: Array<{ ttft_s: number; prefilled_tokens: number }> } };
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
  return { prompt: body.usage.prompt_tokens, cached: body.usage.prompt_tokens_details.cached_tokens, prefilled: body.mimo.stats[0]!.prefilled_tokens, ttftS: body.mimo.stats[0]!.ttft_s };
}

async function metric(s: Server, name: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Tokens of `ids` after their longest common prefix with any of `earlier`. */
function newTokens(ids: number[], earlier: number[][]): number {
  let best = 0;
  for (const e of earlier) {
    let i = 0;
    while (i < ids.length && i < e.length && ids[i] === e[i]) i++;
    best = Math.max(best, i);
  }
  return ids.length - best;
}

function fullSwaBytes(positions: number): number {
  let s = 0;
  for (const l of cfg.layers) if (l.attention.window !== null) s += positions * l.attention.numKvHeads * (l.attention.headDim + l.attention.vHeadDim) * 4;
  return s;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
console.log(`model ${dir}, backend ${values.backend}, session ${values.session}, max_tokens ${values['max-tokens']}, checkpoint every ${values['checkpoint-every']}`);
for (const thinking of [true, false]) {
  const reqs = requests(thinking);
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-agent-bench-'));
  const cached = await serve(['--cache-dir', cacheDir]);
  const plain = await serve(['--no-prefix-cache']);
  console.log(`\n## thinking ${thinking ? 'on, reasoning echoed back' : 'off'}`);
  console.log('turn | prompt | new | cached | prefilled | prefilled − new | TTFT cached s | TTFT uncached s | target TTFT s');
  const earlier: number[][] = [];
  let worst = -Infinity;
  /** The warm (never restarted) cached server's TTFT of the last turn. */
  let warmTtft = NaN;
  try {
    for (let i = 0; i < reqs.length; i++) {
      const ids = tok.encode(tok.applyChatTemplate(reqs[i]!, { enableThinking: thinking, tools: session.tools }));
      const fresh = newTokens(ids, earlier);
      earlier.push(ids);
      const a = await turn(cached, reqs[i]!, thinking);
      const b = await turn(plain, reqs[i]!, thinking);
      if (i > 0) worst = Math.max(worst, a.prefilled - fresh);
      const target = 1.5 * b.ttftS * (a.prefilled / a.prompt);
      warmTtft = a.ttftS;
      console.log(`${i + 1} | ${a.prompt} | ${fresh} | ${a.cached} | ${a.prefilled} | ${a.prefilled - fresh} | ${a.ttftS.toFixed(3)} | ${b.ttftS.toFixed(3)} | ${target.toFixed(3)}`);
    }
    const pages = await metric(cached, 'mimo_prefix_cache_page_bytes');
    const snaps = await metric(cached, 'mimo_prefix_cache_snapshot_bytes');
    const positions = earlier[earlier.length - 1]!.length;
    console.log(`worst prefilled − new from turn 2: ${worst}`);
    console.log(`cache bytes: pages ${mib(pages)}, SWA snapshots ${mib(snaps)}; a full-size SWA cache of ${positions} positions would take ${mib(fullSwaBytes(positions))}`);
  } finally {
    await stop(cached);
    await stop(plain);
  }
  // Restart: a server with its own --cache-dir takes every turn but the last, is stopped (writing its entries) and
  // started again on the same directory; its TTFT of the last turn is compared with the warm server's.
  const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-agent-bench-restart-'));
  const before = await serve(['--cache-dir', persistDir]);
  try {
    for (let i = 0; i < reqs.length - 1; i++) await turn(before, reqs[i]!, thinking);
  } finally {
    await stop(before);
  }
  const restarted = await serve(['--cache-dir', persistDir]);
  try {
    const r = await turn(restarted, reqs[reqs.length - 1]!, thinking);
    console.log(`after a restart with --cache-dir: turn ${reqs.length} cached ${r.cached} of ${r.prompt}, prefilled ${r.prefilled}, TTFT ${r.ttftS.toFixed(3)} s; the warm server's TTFT of that turn ${warmTtft.toFixed(3)} s (restart ÷ warm ${(r.ttftS / warmTtft).toFixed(2)}, target ≤ 2)`);
  } finally {
    await stop(restarted);
    fs.rmSync(persistDir, { recursive: true, force: true });
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
}
