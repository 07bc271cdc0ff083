/**
 * Element-wise comparison of numeric arrays with a helpful failure message.
 *
 *   expectClose(grads.dx, numericDx, { atol: 1e-8, rtol: 1e-6 }, 'lstm dx');
 */

/** Tolerances: an element passes when |actual - expected| <= atol + rtol * |expected|. */
export interface Tolerance {
  /** Absolute tolerance. Default 0. */
  readonly atol?: number;
  /** Relative tolerance (relative to the expected value). Default 0. */
  readonly rtol?: number;
}

/** The largest |a[i] - b[i]| (NaN when any pair involves NaN; the arrays must have equal lengths). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return NaN;
    if (d > worst) worst = d;
  }
  return worst;
}

/**
 * Throws unless `actual` and `expected` have the same length and every element is within
 * `atol + rtol * |expected|` (NaN never matches, equal infinities do). The message names `label`,
 * the number of mismatches, and the worst index with both values.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, label: string): void {
  const atol = tol.atol ?? 0;
  const rtol = tol.rtol ?? 0;
  if (actual.length !== expected.length) {
    throw new Error(`${label}: length ${actual.length}, expected ${expected.length}`);
  }
  let bad = 0;
  let worstIndex = -1;
  let worstExcess = -Infinity; // how far past its allowance the worst element is
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === e) continue; // covers equal infinities
    const allowed = atol + rtol * Math.abs(e);
    const diff = Math.abs(a - e);
    if (diff <= allowed) continue; // NaN diffs fall through as mismatches
    bad++;
    const excess = Number.isNaN(diff) ? Infinity : diff - allowed;
    if (excess > worstExcess || worstIndex < 0) {
      worstExcess = excess;
      worstIndex = i;
    }
  }
  if (bad > 0) {
    const a = actual[worstIndex];
    const e = expected[worstIndex];
    throw new Error(
      `${label}: ${bad} of ${actual.length} elements differ (atol ${atol}, rtol ${rtol}); ` +
        `worst at index ${worstIndex}: actual ${a}, expected ${e}, |diff| ${Math.abs(a - e)}`,
    );
  }
}
