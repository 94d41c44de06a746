#!/usr/bin/env node
/**
 * `mimo` command line: run, inspect, init. Every user mistake ends with one clear line on stderr and a non-zero
 * exit code; stack traces are printed only for internal bugs (or with MIMO_DEBUG=1).
 */
import { Command, CommanderError } from 'commander';
import { MimoError } from '../errors.js';
import { registerBench } from './commands/bench.js';
import { registerInit } from './commands/init.js';
import { registerInspect } from './commands/inspect.js';
import { registerPlan } from './commands/plan.js';
import { registerRun } from './commands/run.js';
import { registerServe } from './commands/serve.js';

// `mimo run … | head`: the reader went away; stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const program = new Command();
program
  .name('mimo')
  .description('Run Xiaomi MiMo-V2 models (MiMo-V2-Flash, MiMo-V2.5, MiMo-V2.5-Pro) from official checkpoints')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();
registerRun(program);
registerInspect(program);
registerInit(program);
registerBench(program);
registerServe(program);
registerPlan(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // commander already printed its one-line message (or help/version output).
    process.exitCode = e.exitCode;
  } else if (e instanceof MimoError) {
    process.stderr.write(`mimo: ${e.name}: ${e.message}\n`);
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
