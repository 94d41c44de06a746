/**
 * Parsers for CLI option values: each rejects a bad value with commander's InvalidArgumentError, which commander
 * prints as one line naming the flag.
 */
import { InvalidArgumentError } from 'commander';

export function parseIntOption(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected a whole number written in decimal digits (≥ ${min}), got "${value}"`);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}, got "${value}"`);
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
