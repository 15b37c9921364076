/** Small statistics helpers. */

/**
 * The median of a list (mean of the two middle values for an even count).
 *
 * @param values - Numbers, in any order.
 * @returns The median, or NaN for an empty list.
 * @example
 * ```ts
 * median([3, 1, 2]); // 2
 * ```
 */
export function median(values: readonly number[]): number {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const middle = finite.length >> 1;
  return finite.length % 2 === 1 ? finite[middle]! : (finite[middle - 1]! + finite[middle]!) / 2;
}

/**
 * Rounds to a number of decimals.
 *
 * @param value - The number.
 * @param decimals - Decimals to keep.
 * @returns The rounded number.
 * @example
 * ```ts
 * round(1.2345, 2); // 1.23
 * ```
 */
export function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}
