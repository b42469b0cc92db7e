import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** An object-mode readable over the given items. */
export function fromArray<T>(items: readonly T[]): Readable {
  return Readable.from(items, { objectMode: true });
}

/** Collect everything a readable emits. Only for small test streams. */
export async function collect<T = unknown>(stream: NodeJS.ReadableStream | Readable): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream as AsyncIterable<T>) out.push(item);
  return out;
}

/** Pipe `source` through `stages` and collect the output. */
export async function run<T = unknown>(source: Readable, ...stages: NodeJS.ReadWriteStream[]): Promise<T[]> {
  const out: T[] = [];
  const sink = async function* (items: AsyncIterable<T>) {
    for await (const item of items) out.push(item);
  };
  await pipeline([source, ...stages, sink] as unknown as [Readable, ...Writable[]]);
  return out;
}
