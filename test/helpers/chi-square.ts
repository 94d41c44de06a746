/**
 * Pearson's chi-square goodness-of-fit test with the p-value from the regularised upper incomplete gamma function
 * (Numerical Recipes' series / continued fraction). Cells with expected count < 5 are pooled.
 */

function logGamma(x: number): number {
  const c = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
  let y = x;
  const tmp = x + 5.5 - (x + 0.5) * Math.log(x + 5.5);
  let ser = 1.000000000190015;
  for (const ci of c) ser += ci / ++y;
  return -tmp + Math.log((2.5066282746310005 * ser) / x);
}

/** Q(a, x) = Γ(a, x) / Γ(a): the chi-square survival function is Q(df/2, χ²/2). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  if (x < a + 1) {
    let sum = 1 / a;
    let del = sum;
    for (let n = 1; n < 1000; n++) {
      del *= x / (a + n);
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
  }
  let b = x + 1 - a;
  let c = 1 / 1e-300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/**
 * p-value of observed counts against expected probabilities (which sum to 1).
 * @returns { chi2, df, p }
 */
export function chiSquareTest(observed: ArrayLike<number>, probs: ArrayLike<number>): { chi2: number; df: number; p: number } {
  let total = 0;
  for (let i = 0; i < observed.length; i++) total += observed[i]!;
  const cells: Array<[number, number]> = [];
  let poolO = 0;
  let poolE = 0;
  for (let i = 0; i < observed.length; i++) {
    const e = probs[i]! * total;
    if (e < 5) {
      poolO += observed[i]!;
      poolE += e;
    } else cells.push([observed[i]!, e]);
  }
  if (poolE > 0 || poolO > 0) cells.push([poolO, poolE]);
  let chi2 = 0;
  for (const [o, e] of cells) chi2 += e > 0 ? ((o - e) * (o - e)) / e : o > 0 ? Infinity : 0;
  const df = cells.length - 1;
  return { chi2, df, p: Number.isFinite(chi2) ? gammaQ(df / 2, chi2 / 2) : 0 };
}
