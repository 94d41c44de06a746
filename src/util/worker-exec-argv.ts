/**
 * Node options for our worker threads: the process's own (`process.execArgv`) without those that only make sense
 * for the main script and make a worker fail to start (`--input-type`, `-e`/`--eval` and `-p`/`--print` with their
 * code), so that a library caller started as `node --input-type=module -e …` can still use the GGUF reader and
 * grammar compiles.
 */
export function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--input-type')) continue;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print') {
      i++;
      continue;
    }
    if (a.startsWith('--eval=') || a.startsWith('--print=')) continue;
    out.push(a);
  }
  return out;
}
