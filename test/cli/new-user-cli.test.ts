/**
 * The `mimo` command line as a new user meets it (issue 14): `--version`; one error style for every command
 * (`mimo: <message>`, then the `--help` hint for a bad flag); `mimo run -` and a piped stdin read the prompt;
 * `--preset` is case-insensitive; every option with a fixed set of values lists it in `--help`; numeric defaults are
 * shown as numbers; `mimo run` prints thinking apart from the answer.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initCheckpoint } from '../../src/model/mimo-v2/init.js';
import { repoRoot } from '../helpers/fixtures.js';

const bin = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const COMMANDS = ['run', 'inspect', 'init', 'bench', 'serve', 'plan'];

function mimo(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', input, env: { ...process.env, MIMO_CACHE_DIR: path.join(os.tmpdir(), 'mimo-cli-unused') } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('mimo CLI polish', () => {
  let tmp = '';
  let dir = '';
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-cli-new-'));
    dir = path.join(tmp, 'tiny');
    await initCheckpoint({ preset: 'mimo-v2-flash', scale: 'tiny', outDir: dir, seed: 7 });
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('--version prints the package version', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const r = mimo([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), version);
    }
  });

  it('one error style: mimo: <message>, and the --help hint of the command for a bad flag', () => {
    const cases: Array<[string[], RegExp, string | null]> = [
      [['run', '--max-tokens', 'x', 'hi'], /^mimo: --max-tokens: expected a whole number/, "(run 'mimo run --help' for usage)"],
      [['run', '--model', path.join(tmp, 'nope'), 'hi'], /^mimo: --model: ".*nope" does not exist$/, "(run 'mimo run --help' for usage)"],
      [['inspect', '--kv-dtype', 'f64', '--preset', 'mimo-v2-flash'], /^mimo: --kv-dtype: expected one of/, "(run 'mimo inspect --help' for usage)"],
      [['init', '--preset', 'mimo-v2-flash'], /^mimo: required option '--out <dir>' not specified$/, "(run 'mimo init --help' for usage)"],
      [['serve', '--port', '99999'], /^mimo: --port: expected an integer in \[0, 65535\]/, "(run 'mimo serve --help' for usage)"],
      [['plan', '--preset', 'mimo-v2-flash', '--gpu', 'h300', '--cpu-bandwidth', '50'], /^mimo: --gpu: unknown GPU "h300"/, "(run 'mimo plan --help' for usage)"],
      [['frob'], /^mimo: unknown command 'frob'$/, "(run 'mimo --help' for usage)"],
      [['inspect', '--preset', 'gpt-5'], /^mimo: preset: unknown preset "gpt-5"/, null],
    ];
    for (const [args, first, hint] of cases) {
      const r = mimo(args);
      assert.notEqual(r.code, 0, args.join(' '));
      const lines = r.stderr.trim().split('\n');
      assert.match(lines[0]!, first, `${args.join(' ')}:\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /Error:|error: |\n\s+at /, `${args.join(' ')}: class names, commander's prefix or a stack:\n${r.stderr}`);
      assert.deepEqual(lines.slice(1), hint === null ? [] : [hint], args.join(' '));
    }
  });

  it('mimo run - and a piped stdin read the prompt (one trailing newline dropped)', () => {
    const args = ['run', '--model', dir, '--max-tokens', '5', '--temperature', '0', '--no-think'];
    const direct = mimo([...args, 'Why is the sky blue?']);
    assert.equal(direct.code, 0, direct.stderr);
    const dash = mimo([...args, '-'], 'Why is the sky blue?\n');
    const piped = mimo(args, 'Why is the sky blue?');
    for (const r of [dash, piped]) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, direct.stdout);
      assert.equal(r.stderr.match(/prefill: (\d+) tokens/)![1], direct.stderr.match(/prefill: (\d+) tokens/)![1]);
    }
    const empty = mimo([...args, '-'], '');
    assert.notEqual(empty.code, 0);
    assert.match(empty.stderr, /^mimo: prompt: is empty \(nothing was read from stdin\)/);
  });

  it('mimo run shows thinking apart from the answer', () => {
    const r = mimo(['run', '--model', dir, '--max-tokens', '6', '--seed', '2', 'Hi']);
    assert.equal(r.code, 0, r.stderr);
    // Thinking is on: random text stays inside <think>, so all of it is labelled reasoning.
    assert.match(r.stdout, /^Thinking\.\.\.\n[\s\S]+\n\.\.\.done thinking\.\n/);
    assert.doesNotMatch(r.stdout, /<think>|<\/think>/);
    const off = mimo(['run', '--model', dir, '--max-tokens', '6', '--seed', '2', '--no-think', 'Hi']);
    assert.doesNotMatch(off.stdout, /Thinking\.\.\./);
    const raw = mimo(['run', '--model', dir, '--max-tokens', '6', '--seed', '2', '--raw', 'Hi']);
    assert.doesNotMatch(raw.stdout, /Thinking\.\.\./, '--raw prints the text as generated');
  });

  it('--preset names are case-insensitive', () => {
    const lower = mimo(['inspect', '--preset', 'mimo-v2-flash', '--json']);
    const mixed = mimo(['inspect', '--preset', 'MiMo-V2-Flash', '--json']);
    assert.equal(mixed.code, 0, mixed.stderr);
    assert.equal(mixed.stdout, lower.stdout);
    const plan = mimo(['plan', '--preset', 'MIMO-V2-FLASH', '--gpu', 'H200', '--cpu-bandwidth', '50', '--json']);
    assert.equal(plan.code, 0, plan.stderr);
    const backend = mimo(['run', '--model', dir, '--backend', 'TS', '--max-tokens', '1', '--no-think', 'x']);
    assert.equal(backend.code, 0, backend.stderr);
  });

  it("the README's usage lines list every flag of serve and plan, and the curl example uses the served name", () => {
    const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    for (const cmd of ['serve', 'plan', 'run']) {
      const usage = new RegExp(`^### \`mimo ${cmd} (.*)\`$`, 'm').exec(readme)?.[1];
      assert.ok(usage, `no usage heading for mimo ${cmd}`);
      const flags = [...mimo([cmd, '--help']).stdout.matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!).filter((f) => f !== '--help');
      const missing = flags.filter((f) => !new RegExp(`${f}(?![a-z-])`).test(usage!));
      if (cmd !== 'run') assert.deepEqual(missing, [], `README's mimo ${cmd} usage line lacks ${missing.join(', ')}`);
    }
    const example = /npx mimo serve [^\n]*--served-model-name (\S+)[^\n]*\ncurl [^\n]*\n[^\n]*"model": "([^"]+)"/.exec(readme);
    assert.ok(example, 'the serve example names --served-model-name and is followed by a curl request');
    assert.equal(example[2], example[1], 'the curl example uses the served name');
    const gpuList = /--gpu ([a-z0-9|-]+)/.exec(/^### `mimo plan (.*)`$/m.exec(readme)![1]!)![1]!.split('|');
    for (const id of ['h200', 'h20', 'mi300x', 'mi325x']) assert.ok(gpuList.includes(id), `README's mimo plan --gpu list lacks ${id}`);
  });

  it('every --help lists the choices of its options and shows numeric defaults as numbers', () => {
    const mustList: Record<string, string[]> = { run: ['auto', 'ts', 'native'], inspect: ['bf16', 'fp8'], init: ['tiny', 'small', 'bench'], bench: ['auto', 'ts', 'native'], serve: ['auto', 'ts', 'native', 'text', 'json'], plan: ['h200', 'fp8', 'bf16', 'int4'] };
    for (const cmd of COMMANDS) {
      const r = mimo([cmd, '--help']);
      assert.equal(r.code, 0, r.stderr);
      const help = r.stdout.replace(/\s+/g, ' ');
      for (const c of mustList[cmd]!) assert.ok(help.includes(c), `mimo ${cmd} --help does not list ${c}`);
      assert.doesNotMatch(help, /\(default: "\d+(\.\d+)?"\)/, `mimo ${cmd} --help shows a number as a string`);
    }
    assert.match(mimo(['inspect', '--help']).stdout.replace(/\s+/g, ' '), /KV-cache element type \(choices: [a-z0-9, ]+\)/);
  });
});
