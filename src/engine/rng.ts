/**
 * Seeded pseudo-random numbers: xoshiro128** (Blackman & Vigna, 2018) over four 32-bit words, seeded through the
 * murmur3 `fmix32` finalizer. Only 32-bit integer operations (`Math.imul`, shifts) are used, so a seed gives the
 * same sequence on every platform and Node version. Used by the sampler (one draw per sampled token) and by
 * scripts that make random weights (`fillNormal`).
 * Source: https://prng.di.unimi.it/xoshiro128starstar.c ; Box–Muller transform for normals.
 */
import { randomFillSync } from 'node:crypto';

const TWO_POW_32 = 4294967296;
const INV_TWO_POW_32 = 1 / TWO_POW_32;
const TWO_PI = 2 * Math.PI;
/** 2^32 / golden ratio: spreads consecutive seeds before mixing, as splitmix does. */
const GOLDEN = 0x9e3779b9;

/** murmur3's 32-bit finalizer: a bijection on uint32 with full avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A xoshiro128** generator. Not cryptographic; not safe to share between requests that need independent streams. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Start from four raw state words (uint32); an all-zero state, which xoshiro cannot leave, is replaced. */
  constructor(s0: number, s1: number, s2: number, s3: number) {
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s3 = GOLDEN;
  }

  /**
   * Generator for an integer seed. Distinct seeds give distinct states (the low and high 32-bit halves of the seed
   * each go through a bijection), so different seeds give different sequences.
   * @param seed any safe integer, negative allowed (taken modulo 2^64 as two 32-bit halves)
   * @throws RangeError when `seed` is not a safe integer (request parameters are validated before this, as `seed`)
   */
  static fromSeed(seed: number): Rng {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Rng.fromSeed: seed must be a safe integer, got ${seed}`);
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    // Every state word depends on both halves (the first output of xoshiro128** reads s1 only, so s1 must vary
    // with every seed); (s0, s1) is a bijection of (lo, hi), so distinct seeds still give distinct states.
    const s0 = fmix32((lo + GOLDEN) >>> 0);
    const s1 = fmix32((hi ^ fmix32((lo + 2 * GOLDEN) >>> 0)) >>> 0);
    return new Rng(s0, s1, fmix32((s0 + s1 + 3 * GOLDEN) >>> 0), fmix32(((s1 ^ s0) + 4 * GOLDEN) >>> 0));
  }

  /** Generator seeded from the operating system's entropy (`crypto.randomFillSync`): for requests without a seed. */
  static fromEntropy(): Rng {
    const w = randomFillSync(new Uint32Array(4));
    return new Rng(w[0]!, w[1]!, w[2]!, w[3]!);
  }

  /** Next output as a uint32 in [0, 2^32). */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform number in [0, 1) with 32 random bits (steps of 2^-32). */
  next(): number {
    return this.nextUint32() * INV_TWO_POW_32;
  }

  /**
   * Standard normal sample (mean 0, std 1) by Box–Muller from two uniform draws; the cosine branch only, so the
   * result equals `fillNormal` of a one-element array from the same state. Tails reach about ±6.7.
   */
  nextNormal(): number {
    const u1 = (this.nextUint32() + 1) * INV_TWO_POW_32; // (0, 1]: log stays finite
    const u2 = this.nextUint32() * INV_TWO_POW_32;
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(TWO_PI * u2);
  }

  /**
   * Fill `out` with normal samples `mean + std · N(0, 1)` in place, two per Box–Muller pair (cosine then sine); an
   * odd last element uses a full pair. The generator is inlined on local state, for random weights of many MB.
   * @returns `out`
   */
  fillNormal(out: Float32Array, std = 1, mean = 0): Float32Array {
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    const n = out.length;
    for (let i = 0; i < n; i += 2) {
      // Two xoshiro128** steps, written out (same arithmetic as nextUint32).
      let r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      let t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      const u1 = (r + 1) * INV_TWO_POW_32;
      r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
      t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      const angle = TWO_PI * (r * INV_TWO_POW_32);
      const radius = std * Math.sqrt(-2 * Math.log(u1));
      out[i] = mean + radius * Math.cos(angle);
      if (i + 1 < n) out[i + 1] = mean + radius * Math.sin(angle);
    }
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
