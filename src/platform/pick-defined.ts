/**
 * The entries of `source` named in `keys` whose value is not undefined (`null` is kept). A value
 * left out stays absent rather than a key holding undefined: a partial update changes only what
 * it names, and the AI SDK warns about settings that are present, not about missing ones.
 */
export function pickDefined<T extends object, K extends keyof T>(
  source: T,
  keys: readonly K[],
): { [P in K]?: Exclude<T[P], undefined> } {
  const picked: { [P in K]?: Exclude<T[P], undefined> } = {};
  for (const key of keys) {
    const value = source[key];
    if (value !== undefined) picked[key] = value as Exclude<T[K], undefined>;
  }
  return picked;
}
