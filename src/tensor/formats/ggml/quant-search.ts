/**
 * The scale searches of ggml's reference quantizers (ggml-quants.c: `nearest_int`, `best_index_int8`,
 * `make_qx_quants`, `make_q3_quants`, `make_qkx2_quants`), re-derived here with every arithmetic step rounded to
 * float32 (`Math.fround`) as the C code computes it, so the codes and scales come out as llama-quantize's do
 * (without an importance matrix) up to the compiler's choice of fused multiply-adds.
 */

const f = Math.fround;

/** Groups whose largest magnitude is below this are all-zero (ggml's GROUP_MAX_EPS). */
export const GROUP_MAX_EPS = f(1e-15);

/** Round a float32 to the nearest integer, ties to even (ggml's `nearest_int`, the 1.5·2^23 trick). */
export function nearestInt(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r & 1 ? r - 1 : r;
}

/**
 * Index of the level of the sorted table `values` nearest to x, a tie going to the upper level (ggml's
 * `best_index_int8`).
 */
export function bestIndexInt8(values: Int8Array, x: number): number {
  const x2 = f(x + x);
  let idx = 0;
  for (let step = values.length >> 1; step > 0; step >>= 1) {
    const j = idx + step;
    if (x2 >= values[j - 1]! + values[j]!) idx = j;
  }
  return idx;
}

/** The first of x[o … o + n) with the largest magnitude (0 when all are 0), as ggml's max/amax loops pick it. */
function largestByMagnitude(x: Float32Array, o: number, n: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[o + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[o + i]!;
    }
  }
  return max;
}

/**
 * Symmetric codes in [−nmax, nmax) for n values at x[o …] with the least weighted squared error over 19 trial scales
 * around −nmax / max (ggml's `make_qx_quants` with rmse_type 1: weights qw, or x² when qw is undefined). Writes
 * L[lo …] = code + nmax (0 for an all-zero group) and returns the scale.
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, o: number, L: Uint8Array, lo: number, qw?: Float32Array, qo = 0): number {
  const max = largestByMagnitude(x, o, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[o + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * xi))));
    L[lo + i] = l + nmax;
    const w = qw ? qw[qo + i]! : f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[o + i]!;
      // nearest_int inlined (1.5·2^23 added in float32 rounds ties to even; |v| ≤ nmax + 1 here)
      let l = f(f(iscale * xi) + 12582912) - 12582912;
      l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
      const w = qw ? qw[qo + i]! : f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * x[o + i]!))));
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/**
 * Symmetric 3-bit-style codes in [−nmax, nmax) refined by up to 5 passes of coordinate descent on the x²-weighted
 * error (ggml's `make_q3_quants` with do_rmse). Writes L[lo …] = code + nmax (0 for an all-zero group), returns the
 * scale.
 */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, o: number, L: Int8Array, lo: number): number {
  const max = largestByMagnitude(x, o, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[o + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * xi))));
    L[lo + i] = l;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[o + i]!;
      const w = f(xi * xi);
      const li = L[lo + i]!;
      let slx = f(sumlx - f(f(w * xi) * li));
      if (slx > 0) {
        let sl2 = f(suml2 - f(f(w * li) * li));
        const nl = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(f(xi * sl2) / slx))));
        if (nl !== li) {
          slx = f(slx + f(f(w * xi) * nl));
          sl2 = f(sl2 + f(f(w * nl) * nl));
          if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[lo + i] = nl;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] = L[lo + i]! + nmax;
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

/**
 * Asymmetric codes in [0, nmax] with a scale and a min (x ≈ scale·L − min), the min fit by weighted least squares
 * over nstep + 1 trial scales (nmax + rmin + rdelta·is) / (max − min) (ggml's `make_qkx2_quants`). Writes
 * L[lo …], returns [scale, min] with min ≥ 0 (ggml's `the_min`).
 */
export function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  o: number,
  weights: Float32Array,
  L: Uint8Array,
  lo: number,
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): [number, number] {
  let min = x[o]!;
  let max = x[o]!;
  let sumW = weights[0]!;
  let sumX = f(sumW * x[o]!);
  for (let i = 1; i < n; i++) {
    const xi = x[o + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    return [0, -min];
  }
  const range = f(max - min);
  let iscale = f(nmax / range);
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[o + i]!;
    const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(xi - min)))));
    L[lo + i] = l;
    let diff = f(f(f(scale * l) + min) - xi);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    bestError = f(bestError + f(weights[i]! * diff));
  }
  if (nstep < 1) return [scale, -min];
  for (let is = 0; is <= nstep; is++) {
    // max − min with the best min so far, as ggml's loop does (min changes when a trial wins)
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[o + i]!;
      // nearest_int inlined: adding 1.5·2^23 in float32 rounds to an integer, ties to even (|v| < 2^22 here)
      let l = f(f(iscale * f(xi - min)) + 12582912) - 12582912;
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      Laux[i] = l;
      const wl = f(weights[i]! * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * xi));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(f(f(thisScale * Laux[i]!) + thisMin) - x[o + i]!);
        diff = useMad ? Math.abs(diff) : f(diff * diff);
        curError = f(curError + f(weights[i]! * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i]!;
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}
