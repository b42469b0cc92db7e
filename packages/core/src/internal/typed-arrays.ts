type TypedArray = Uint8Array | Uint16Array | Int32Array | Uint32Array | Float64Array;

/**
 * A copy of `array` with room for `capacity` entries, for the off-heap indexes that grow by doubling.
 * @example offsets = grown(offsets, cap *= 2);
 */
export function grown<T extends TypedArray>(array: T, capacity: number): T {
  const next = new (array.constructor as new (length: number) => T)(capacity);
  next.set(array);
  return next;
}
