import { Transform } from 'node:stream';
import { z } from 'zod';
import { isKbatchError } from '../errors.js';
import { parseOptions } from '../options.js';
import type { SourceRecord } from '../records/index.js';
import {
  createTrainingExampleBuilder,
  requireCompletionColumn,
  trainingExampleFields,
  type TrainingExample,
} from './to-training-example.js';

/** Per-record failure policy shared by the stream and prepareTrainingData. */
export const onInvalidSchema = z.enum(['error', 'skip'], { error: 'must be "error" or "skip"' }).default('error');

/** Options of {@link trainingStream}: the example options plus the per-record failure policy. */
export const TrainingStreamOptionsSchema = z
  .object({
    ...trainingExampleFields,
    /** `error` (default) fails the stream on the first invalid record; `skip` drops it and emits `skip`. */
    onInvalid: onInvalidSchema,
  })
  .refine(...requireCompletionColumn);
export type TrainingStreamOptions = z.input<typeof TrainingStreamOptionsSchema>;

/** What {@link trainingStream} emits per valid record. */
export interface TrainingItem {
  record: SourceRecord;
  example: TrainingExample;
  /** Estimated tokens (see `estimateExampleTokens`). */
  tokens: number;
}

/**
 * Object-mode Transform: `SourceRecord` in, {@link TrainingItem} out.
 * With `onInvalid: 'skip'` an invalid record is dropped and the stream emits `skip` (error, record).
 * @param options - see {@link TrainingStreamOptions}
 * @example
 * await pipeline(recordStream(...), trainingStream({ prompt: '{{q}}', completionColumn: 'a' }), sink);
 */
export function trainingStream(options: TrainingStreamOptions = {}): Transform {
  const { onInvalid, ...exampleOptions } = parseOptions(TrainingStreamOptionsSchema, options, 'trainingStream');
  const build = createTrainingExampleBuilder(exampleOptions);
  return new Transform({
    objectMode: true,
    transform(record: SourceRecord, _encoding, callback) {
      try {
        const { example, tokens } = build(record);
        callback(null, { record, example, tokens } satisfies TrainingItem);
      } catch (err) {
        if (onInvalid === 'skip' && isKbatchError(err) && err.code === 'FINETUNE_EXAMPLE_INVALID') {
          this.emit('skip', err, record);
          callback();
        } else {
          callback(err as Error);
        }
      }
    },
  });
}
