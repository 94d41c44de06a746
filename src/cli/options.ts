/**
 * Parsers for CLI option values: each rejects a bad value with commander's InvalidArgumentError, which commander
 * prints as one line naming the flag.
 */
import { InvalidArgumentError, type Command } from 'commander';

export function parseIntOption(min: number, max = Number.MAX_SAFE_INTEGER) {
  const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`;
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected a whole number written in decimal digits (${range}), got "${value}"`);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer ${range}, got "${value}"`);
    return n;
  };
}

export function parseFloatOption(min: number, max: number, opts: { exclusiveMin?: boolean } = {}) {
  const range = `${opts.exclusiveMin ? '(' : '['}${min}, ${max}]`;
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (opts.exclusiveMin && n === min)) throw new InvalidArgumentError(`expected a number in ${range}, got "${value}"`);
    return n;
  };
}

/** A parser that also carries its choices, so --help can list them (see {@link listChoicesInHelp}). */
export type ChoiceParser<T extends string> = ((value: string) => T) & { choices: readonly T[] };

/** One of `choices`, matched case-insensitively (`--gpu H200`, `--preset MiMo-V2-Flash`), returned as listed. */
export function parseChoice<T extends string>(choices: readonly T[]): ChoiceParser<T> {
  const parse = (value: string): T => {
    const hit = choices.find((c) => c.toLowerCase() === value.trim().toLowerCase());
    if (hit === undefined) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got "${value}"`);
    return hit;
  };
  return Object.assign(parse, { choices });
}

/**
 * Append `(choices: a, b, c)` to the --help text of every option parsed by {@link parseChoice} whose description
 * does not name all its choices already, in every command under `program`.
 */
export function listChoicesInHelp(program: Command): void {
  for (const cmd of [program, ...program.commands]) {
    for (const opt of cmd.options) {
      const choices = (opt.parseArg as Partial<ChoiceParser<string>> | undefined)?.choices;
      if (!choices || choices.every((c) => opt.description.includes(c))) continue;
      opt.description = `${opt.description} (choices: ${choices.join(', ')})`;
    }
  }
}

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

/** A byte size such as `4mb`, `512kb`, `1048576` (binary units: 1 kb = 1024 bytes). */
export function parseSizeOption(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError(`expected a size like 4mb, 512kb or a byte count, got "${value}"`);
  const n = Math.floor(Number(m[1]) * unit);
  if (n < 1 || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected a size of at least 1 byte, got "${value}"`);
  return n;
}
