/**
 * Whether `v` can be consumed with `for await` — shared by option schemas that accept records or request lines
 * as a sync or async iterable.
 *
 * @example
 * isIterable([1, 2]); // true
 * isIterable((async function* () {})()); // true
 * isIterable({}); // false
 */
export function isIterable(v: unknown): v is Iterable<unknown> | AsyncIterable<unknown> {
  return (
    v != null &&
    (typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' ||
      typeof (v as Iterable<unknown>)[Symbol.iterator] === 'function')
  );
}
