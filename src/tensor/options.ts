/** Rejects option keys an op does not know, naming the op, the key and the known ones. */
export function checkOptions<T extends object>(
  op: string,
  options: T | undefined,
  known: readonly string[],
): T {
  if (options === undefined || options === null) return {} as T;
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(
      `${op}: options must be an object, got ${Array.isArray(options) ? "an array" : typeof options}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`${op}: unknown option "${key}"; known options: ${known.join(", ") || "(none)"}`);
    }
  }
  return options;
}
