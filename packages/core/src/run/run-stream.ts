import { Duplex } from 'node:stream';
import { runRecords } from './run-job.js';
import type { RunJobOptions, RunSummary } from './run-options.js';

/** Options of {@link runStream}: everything of `runJob` but the input (the records written to the stream). */
export type RunStreamOptions = Omit<RunJobOptions, 'input'> & {
  /** Receives the run's summary once the last joined record was pushed. */
  onSummary?: (summary: RunSummary) => void;
};

/**
 * Object-mode duplex for `pipeline()`: plain record objects in, joined records out (input order).
 * The records are spooled into the job directory, so output starts once the input has ended and the
 * batches are done (realtime mode: as each chunk's answers are final); use `runRecords` to get the summary.
 * @example
 * await pipeline(Readable.from(rows), runStream({ model, prompt: '{{text}}', labels: ['a', 'b'], client }),
 *   outputStream({ format: 'csv' }), process.stdout);
 */
export function runStream(options: RunStreamOptions): Duplex {
  const { onSummary, ...rest } = options;
  return Duplex.from(async function* (source: AsyncIterable<Record<string, unknown>>) {
    const run = runRecords({ ...rest, input: source });
    for (;;) {
      const next = await run.next();
      if (next.done) {
        onSummary?.(next.value);
        return;
      }
      yield next.value;
    }
  });
}
