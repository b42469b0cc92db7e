import { Readable } from 'node:stream';
import { z } from 'zod';
import { functionField, stdinField } from '../options.js';
import type { RejectHandler } from './rejected-record.js';

/** Input formats as a zod enum (shared by the CLI's --format). */
export const InputFormatSchema = z.enum(['csv', 'tsv', 'jsonl', 'json'], { error: 'must be one of csv, tsv, jsonl, json' });

/** How input bytes are decoded (shared by the CLI's --encoding and the run options). */
export const InputEncodingSchema = z.enum(['utf8', 'latin1'], { error: 'must be one of utf8, latin1' });
/** An input encoding: `utf8` (invalid bytes are reported, code INPUT_ENCODING) or `latin1` (ISO-8859-1, every byte a character). */
export type InputEncoding = z.infer<typeof InputEncodingSchema>;

/** How to read records: from a path, `-` (stdin) or a byte Readable. */
export const ReadRecordsOptionsSchema = z
  .object({
    /** A file path, `-` for standard input, or a Readable of bytes/strings. */
    input: z.union([z.string().min(1), z.instanceof(Readable)], { error: 'must be a path, "-" or a Readable' }),
    /** Defaults to the extension of `input` (required for stdin and streams). */
    format: InputFormatSchema.optional(),
    /** CSV field delimiter (default `,`; tab for tsv). One character, not a quote or newline. */
    delimiter: z
      .string()
      .length(1, { error: 'must be a single character' })
      .refine((d) => d !== '"' && d !== '\n' && d !== '\r', { error: 'must not be a quote or newline' })
      .optional(),
    /** `utf8` (default; a record with invalid UTF-8 is an INPUT_ENCODING error, or skipped) or `latin1`. */
    encoding: InputEncodingSchema.default('utf8'),
    /** `error` stops at the first malformed record; `skip` reports it through `onReject` and goes on. */
    onInvalidRecord: z.enum(['error', 'skip'], { error: 'must be "error" or "skip"' }).default('error'),
    /** Name used in messages and rejects when `input` is a stream (default `-`). */
    fileName: z.string().optional(),
    /** Where `-` reads from (default process.stdin); lets CLIs and tests inject their stdin. */
    stdin: stdinField().optional(),
    /** Called with a CSV/TSV header (its column names and line) as soon as it is read, even with no rows; throw to stop. */
    onHeader: functionField<(columns: string[], line: number) => void>().optional(),
    /** Receives skipped records. */
    onReject: functionField<RejectHandler>().optional(),
    /** Read only the records whose number this accepts (a sample): the others are neither yielded nor rejected. */
    keep: functionField<(record: number) => boolean>().optional(),
  })
  .strict();

/** Options of `recordStream` / `recordBatches`. */
export type ReadRecordsOptions = z.input<typeof ReadRecordsOptionsSchema>;
/** The same after defaults. */
export type ResolvedReadRecordsOptions = z.output<typeof ReadRecordsOptionsSchema>;
