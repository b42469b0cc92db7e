import { expect } from 'vitest';
import { isKbatchError, type KbatchError, type KbatchErrorCode } from '../../src/errors.js';

/** Assert that `err` is a KbatchError with the given code and (optionally) matching fields. */
export function expectKbatchError(
  err: unknown,
  expected: { code: KbatchErrorCode; message?: string | RegExp } & Partial<Omit<KbatchError, 'code' | 'message'>>,
): asserts err is KbatchError {
  expect(isKbatchError(err), `expected a KbatchError, got ${String(err)}`).toBe(true);
  const { message, ...fields } = expected;
  expect(err).toMatchObject(fields);
  if (typeof message === 'string') expect((err as Error).message).toContain(message);
  if (message instanceof RegExp) expect((err as Error).message).toMatch(message);
}

/** Run `fn` and return what it threw (or rejected with); fails the test when it did not throw. */
export async function catchError(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw, it did not');
}
