/**
 * Parsers for CLI option values: each rejects a bad value with commander's InvalidArgumentError, which commander
 * prints as one line naming the flag.
 */
import { InvalidArgumentError } from 'commander';

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

export function parseChoice<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}, got "${value}"`);
    return value as T;
  };
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
