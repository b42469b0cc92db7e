import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { KbatchError, isKbatchError } from '../src/errors.js';
import { parseOptions } from '../src/options.js';
import { catchError, expectKbatchError } from './helpers/errors.js';

describe('KbatchError', () => {
  it('keeps its code, context fields and cause', () => {
    const cause = new Error('boom');
    const err = new KbatchError('BATCH_FAILED', 'batch failed', { batchId: 'b1', line: 3, cause });
    expect(err.code).toBe('BATCH_FAILED');
    expect(err.batchId).toBe('b1');
    expect(err.line).toBe(3);
    expect(err.cause).toBe(cause);
    expect(err).toBeInstanceOf(Error);
  });

  it('is recognised by isKbatchError and other errors are not', () => {
    expect(isKbatchError(new KbatchError('ABORTED', 'x'))).toBe(true);
    expect(isKbatchError(new Error('x'))).toBe(false);
    expect(isKbatchError(null)).toBe(false);
  });
});

describe('parseOptions', () => {
  const Schema = z.object({
    maxBytes: z.number({ message: 'must be a positive integer' }).int('must be a positive integer').positive('must be a positive integer').default(10),
  });

  it('returns parsed options with defaults applied', () => {
    expect(parseOptions(Schema, {}, 'chunkWriter')).toEqual({ maxBytes: 10 });
  });

  it('names the option, the rule and the value given with OPTION_INVALID', async () => {
    const err = await catchError(() => parseOptions(Schema, { maxBytes: -1 }, 'chunkWriter'));
    expectKbatchError(err, { code: 'OPTION_INVALID', field: 'maxBytes' });
    expect((err as Error).message).toBe('Invalid option `maxBytes`: must be a positive integer, got -1');
  });
});
