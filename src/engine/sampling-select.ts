/**
 * Ordering and selection over one logits row `[V]` float32, shared by `Sampler` and the reference helpers: the
 * unnormalized weight of a logit, the id order (larger logit first, lower id first among equals; NaN counts as
 * -Infinity), a comparator-free key sort, the naive full sort and a size-k heap for top-k. Conventions follow the
 * sampler.ts module docstring (vLLM / llama.cpp definitions).
 */
/** Beyond this many nats below the max, exp underflows float64 (weight 0). Also rejects NaN. */
export const MAX_NATS = 745;

/** Unnormalized probability `exp((l - m) / T)` of logit `l` given the row max `m`; 0 for -Infinity and NaN. */
export function weight(l: number, m: number, T: number): number {
  const d = (m - l) / T;
  return d <= MAX_NATS ? Math.exp(-d) : 0;
}

/** Logit value for ordering: NaN counts as -Infinity. */
function orderValue(x: Float32Array, i: number): number {
  const v = x[i]!;
  return v === v ? v : -Infinity;
}

/** Comparator of ids: larger logit first, lower id first among equals. */
function byLogitDescending(x: Float32Array): (a: number, b: number) => number {
  return (a, b) => {
    const va = orderValue(x, a);
    const vb = orderValue(x, b);
    return va > vb ? -1 : va < vb ? 1 : a - b;
  };
}

const ID_SCALE = 2 ** 21;
const keyF32 = new Float32Array(1);
const keyU32 = new Uint32Array(keyF32.buffer);

/**
 * Sort `ids` in place by `byLogitDescending` without a comparator: each id becomes one float64 key, the
 * order-reversed bits of its float32 logit times 2^21 plus the id (exact below 2^53), and the keys are sorted
 * numerically by the engine's native sort, several times faster than a JS comparator over 10^5 candidates.
 * Falls back to the comparator for rows longer than 2^21. `keys` is scratch of at least `ids.length`.
 */
export function sortByLogitDescending(x: Float32Array, ids: Int32Array, keys: Float64Array): void {
  if (x.length > ID_SCALE) {
    ids.sort(byLogitDescending(x));
    return;
  }
  const count = ids.length;
  for (let j = 0; j < count; j++) {
    const id = ids[j]!;
    const v = x[id]!;
    keyF32[0] = v === v ? v + 0 : -Infinity; // NaN → -Infinity; -0 + 0 → +0 so ±0 tie by id
    const u = keyU32[0]!;
    const ascending = u & 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0; // monotone in the float value
    keys[j] = (0xffffffff - ascending) * ID_SCALE + id;
  }
  const sorted = keys.subarray(0, count).sort();
  for (let j = 0; j < count; j++) ids[j] = sorted[j]! % ID_SCALE;
}

/** All ids of `x[0..n)` sorted by `byLogitDescending` (the naive full sort of the reference helpers). */
export function sortedIds(x: Float32Array, n: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort(byLogitDescending(x));
}

/**
 * The k best ids of `x[0..n)` (larger logit, then lower id) into `out[0..k)`, sorted best first. A binary min-heap
 * holds the k best so far with the worst at the root: O(n) compares when most tokens lose to the root, O(n log k)
 * at worst. Scanning ids in increasing order means a later equal logit never displaces the root.
 */
export function selectTopK(x: Float32Array, n: number, k: number, out: Int32Array, keys: Float64Array): number {
  const worse = (a: number, b: number): boolean => {
    const va = orderValue(x, a);
    const vb = orderValue(x, b);
    return va < vb || (va === vb && a > b);
  };
  const siftDown = (pos: number): void => {
    for (;;) {
      const left = 2 * pos + 1;
      if (left >= k) return;
      const right = left + 1;
      const child = right < k && worse(out[right]!, out[left]!) ? right : left;
      if (!worse(out[child]!, out[pos]!)) return;
      const t = out[pos]!;
      out[pos] = out[child]!;
      out[child] = t;
      pos = child;
    }
  };
  for (let i = 0; i < k; i++) out[i] = i;
  for (let pos = (k >> 1) - 1; pos >= 0; pos--) siftDown(pos);
  let rootValue = orderValue(x, out[0]!);
  for (let i = k; i < n; i++) {
    if (x[i]! > rootValue) {
      out[0] = i;
      siftDown(0);
      rootValue = orderValue(x, out[0]!);
    }
  }
  sortByLogitDescending(x, out.subarray(0, k), keys);
  return k;
}
