import { describe, expect, it } from 'vitest';
import { KbatchError } from '@kbatch/core';
import { EXIT } from '../src/exit-error.js';
import { withInterrupt } from '../src/interrupt.js';
import { reportError } from '../src/report-error.js';

// What a command run through withInterrupt stopped with, and the exit code the reporter gives it.
async function exitCodeOf(fn: (signal: AbortSignal) => Promise<void>): Promise<number> {
  const err = await withInterrupt(fn).then(
    () => undefined,
    (e: unknown) => e,
  );
  return reportError(err, { write: () => true });
}

describe('withInterrupt', () => {
  it('exits 143 after SIGTERM and 130 after SIGINT, and a later abort without a signal in the same process exits 130', async () => {
    const stopOn = (name: NodeJS.Signals) => async (signal: AbortSignal) => {
      process.emit(name, name);
      expect(signal.aborted).toBe(true);
      throw new KbatchError('ABORTED', 'Interrupted; the run is saved');
    };
    expect(await exitCodeOf(stopOn('SIGTERM'))).toBe(EXIT.terminated);
    expect(await exitCodeOf(async () => Promise.reject(new KbatchError('ABORTED', 'The operation was aborted')))).toBe(EXIT.interrupted);
    expect(await exitCodeOf(stopOn('SIGINT'))).toBe(EXIT.interrupted);
  });
});
