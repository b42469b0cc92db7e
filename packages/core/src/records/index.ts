// The records area's public surface: reading CSV/TSV/JSONL/JSON inputs as a stream of SourceRecord.
export type { InputFormat, SourceRecord } from './source-record.js';
export { detectFormat } from './detect-format.js';
export { recordStream } from './record-stream.js';
export { recordBatches } from './record-batches.js';
export { ReadRecordsOptionsSchema, InputFormatSchema, InputEncodingSchema } from './read-options.js';
export type { ReadRecordsOptions, ResolvedReadRecordsOptions, InputEncoding } from './read-options.js';
export type { RejectedRecord, RejectHandler, OnInvalidRecord } from './rejected-record.js';
export { drawSample, sampleFilter, recordDraw, shares, SampleOptionsSchema, DEFAULT_SEED, MAX_SAMPLE_SIZE, MAX_STRATA } from './sample-records.js';
export type { SampleOptions, ResolvedSampleOptions, SampleDraw, SampleReadOptions } from './sample-records.js';
