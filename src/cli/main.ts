#!/usr/bin/env node
/**
 * `mimo` command line: run, inspect, init, bench, serve, plan, quantize. Every user mistake ends with one clear line on stderr
 * in one style for every command, `mimo: <message>` (a bad flag or argument adds a second line, the `--help` hint),
 * and a non-zero exit code; stack traces are printed only for internal bugs (or with MIMO_DEBUG=1).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { MimoError, RequestError } from '../errors.js';
import { packageRoot } from '../util/package-root.js';
import { listChoicesInHelp } from './options.js';
import { registerBench } from './commands/bench.js';
import { registerInit } from './commands/init.js';
import { registerInspect } from './commands/inspect.js';
import { registerPlan } from './commands/plan.js';
import { registerQuantize } from './commands/quantize.js';
import { registerRun } from './commands/run.js';
import { registerServe } from './commands/serve.js';

// `mimo run … | head`: the reader went away; stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

/**
 * commander's error text in our style: `error: option '--max-tokens <n>' argument 'x' is invalid. expected …` →
 * `--max-tokens: expected …`; other messages lose their `error: ` prefix.
 */
export function commanderMessage(text: string): string {
  const t = text.trim().replace(/^error: /, '');
  const invalid = /^option '(-[^ ',]+(?:, )?[^ ']*)[^']*' argument '.*' is invalid\. ([\s\S]*)$/.exec(t);
  if (invalid) return `${invalid[1]!.split(', ').pop()}: ${invalid[2]}`;
  const argument = /^command-argument value '.*' is invalid for argument '([^']+)'\. ([\s\S]*)$/.exec(t);
  if (argument) return `${argument[1]}: ${argument[2]}`;
  return t;
}

const version = (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
const program = new Command();
program
  .name('mimo')
  .description('Run Xiaomi MiMo-V2 models (MiMo-V2-Flash, MiMo-V2.5, MiMo-V2.5-Pro) from official checkpoints')
  .version(version, '-v, --version', 'print the mimo-ts version')
  .configureOutput({ outputError: (text, write) => write(`mimo: ${commanderMessage(text)}\n`) })
  .exitOverride();
registerRun(program);
registerInspect(program);
registerInit(program);
registerBench(program);
registerServe(program);
registerPlan(program);
registerQuantize(program);
listChoicesInHelp(program);
// Preset names are case-insensitive (`--preset MiMo-V2-Flash`), as `--gpu` is: one hook for every command.
for (const cmd of program.commands) {
  const opt = cmd.options.find((o) => o.long === '--preset');
  if (opt) opt.description = `${opt.description} (any case)`;
}
program.hook('preAction', (_root, action) => {
  const preset = action.getOptionValue('preset') as unknown;
  if (typeof preset === 'string') action.setOptionValue('preset', preset.toLowerCase());
});

/** The --help hint for the command being run. */
function helpHint(): string {
  const sub = program.commands.find((c) => c.name() === process.argv[2]);
  return `(run 'mimo${sub ? ` ${sub.name()}` : ''} --help' for usage)`;
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // commander already printed its one-line message (or help/version output).
    if (e.exitCode !== 0) process.stderr.write(`${helpHint()}\n`);
    process.exitCode = e.exitCode;
  } else if (e instanceof MimoError) {
    process.stderr.write(`mimo: ${e.message}\n`);
    // A flag's value is wrong: say where the usage is (file, checkpoint and backend errors need no usage).
    if (e instanceof RequestError && e.param.startsWith('--')) process.stderr.write(`${helpHint()}\n`);
    if (process.env['MIMO_DEBUG']) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  } else {
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) {
      // A system error (ENOENT, ENOSPC, EFBIG, EACCES, …): the user's environment, not a bug.
      process.stderr.write(`mimo: ${err.path ? `${err.path}: ` : ''}${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`mimo: internal error: ${err?.stack ?? String(e)}\n`);
      process.exitCode = 2;
    }
  }
}
