import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { createJob, type FileSummary } from '../job/create-job.js';
import { lintRunChunks } from '../providers/lint-run-chunks.js';
import { jobPath } from '../job/create-job.js';
import type { JobStore } from '../state/job-store.js';
import { prepareRequests } from '../request/prepare-requests.js';
import type { RequestOptions } from '../request/request-options.js';
import { splitRequests } from '../chunk/split-requests.js';
import { PREPARE_REJECTS_FILE } from './run-phases.js';
import { readFileLines } from '../job/lines.js';
import type { RunSettings } from '../state/run-state.js';
import { recordBatches } from '../records/record-batches.js';
import { assertNoCollision, type JoinPlan } from '../join/join-plan.js';
import { KbatchError } from '../errors.js';
import { fingerprintingRead, type InputFingerprint } from './input-fingerprint.js';
import type { AnswerCache } from '../cache/answer-cache.js';
import { CACHED_RESULTS_FILE, divertCached, REQUEST_KEYS_FILE } from '../cache/divert-cached.js';

/** What preparing a run produced: the job's chunks (input order) and the record counts. */
export interface PreparedRun {
  chunks: Array<{ part: string; requests: number }>;
  recordsRead: number;
  skipped: number;
  /** Requests the request cache answered (not in any chunk: their results are in the job's CACHED_RESULTS_FILE). */
  cached: number;
  /** The input's fingerprint, taken from prepare's own read (absent when it did not read the whole file). */
  fingerprint?: InputFingerprint;
}

/** How a run is prepared besides its settings: its signal, and the request cache that may answer some requests. */
export interface PrepareRunOptions {
  signal?: AbortSignal;
  cache?: { answers: AnswerCache; provider: string } | null;
  /** A sample: only the records whose number it accepts are prepared. */
  keep?: (record: number) => boolean;
  /** A database job under a quota limit: count each part's prompt tokens as its chunk is written (default: any database job). */
  countTokens?: boolean;
}

/**
 * Records → request lines → chunk files in `<jobDir>/chunks` → a job manifest, streamed in one pass
 * (prepare writes into a pipe the splitter reads). When a crash left a manifest behind, it is reused.
 * Before anything is sent, the CSV header and the records are checked against the fields the join adds (JOIN_FIELD_COLLISION).
 * A request the cache answers goes to no chunk (see `divertCached`): its result line is in the job before anything is sent.
 * @param plan - the run's join: its answer instruction is appended to the prompt (labels/schema)
 */
export async function prepareRun(store: JobStore, settings: RunSettings, plan: JoinPlan, options: PrepareRunOptions = {}): Promise<PreparedRun> {
  const { signal, cache, keep } = options;
  const jobDir = store.dir;
  const existing = await store.readManifest().catch(() => null);
  if (existing) {
    const chunks = existing.parts.filter((p) => p.kind === 'chunk').map((p) => ({ part: p.index, requests: p.requests }));
    const skipped = await countLines(jobPath(jobDir, PREPARE_REJECTS_FILE));
    const cached = await countLines(jobPath(jobDir, CACHED_RESULTS_FILE));
    return { chunks, recordsRead: chunks.reduce((n, c) => n + c.requests, 0) + skipped + cached, skipped, cached };
  }
  const chunkDir = join(jobDir, 'chunks');
  await rm(chunkDir, { recursive: true, force: true });
  for (const file of [PREPARE_REJECTS_FILE, CACHED_RESULTS_FILE, REQUEST_KEYS_FILE]) await rm(jobPath(jobDir, file), { force: true });
  await mkdir(chunkDir, { recursive: true });
  const request = settings.request as RequestOptions;
  const instruction = plan.answers.instruction;
  const diversion = cache
    ? divertCached({ cache: cache.answers, provider: cache.provider, resultsFile: jobPath(jobDir, CACHED_RESULTS_FILE), keysFile: jobPath(jobDir, REQUEST_KEYS_FILE) })
    : null;
  // With a cache, prepare writes into the diversion, and only the requests it cannot answer reach the splitter.
  const into = diversion?.stream ?? new PassThrough({ highWaterMark: 1 << 20 });
  // The input is hashed as prepare reads it (the run's fingerprint, without a second read of the file).
  const tapped = settings.inputFingerprint ? undefined : await fingerprintingRead(settings.input);
  const prepared = prepareRequests({
    ...request,
    prompt: instruction ? `${String(request.prompt).replace(/\s+$/, '')}\n\n${instruction}` : request.prompt,
    ...(tapped ? { input: tapped.stream, fileName: settings.input } : { input: settings.input }),
    format: settings.format,
    ...(settings.delimiter ? { delimiter: settings.delimiter } : {}),
    ...(settings.encoding ? { encoding: settings.encoding } : {}),
    onInvalidRecord: settings.onInvalidRecord,
    ...(keep ? { keep } : {}),
    onHeader: (columns, line) => assertHeaderFree(columns, line, plan, settings),
    checkRecord: (record, file) => assertNoCollision(record, plan, plan.customIdFor(record), file),
    output: into,
    ...(settings.onInvalidRecord === 'skip' ? { rejects: jobPath(jobDir, PREPARE_REJECTS_FILE) } : {}),
    ...(signal ? { signal } : {}),
  }).then(
    (summary) => {
      into.end();
      return summary;
    },
    (err: unknown) => {
      into.destroy(err as Error);
      tapped?.stream.destroy(); // closes the file, however little of it was read
      throw err;
    },
  );
  // The splitter hashes each chunk as it writes it: the job records it without reading the file again.
  const written = new Map<string, FileSummary>();
  const split = splitRequests({
    input: into,
    onChunk: (chunk, { sha256, ids }) => written.set(resolve(chunk.path), { sha256, bytes: chunk.bytes, lines: chunk.requests, ids, tokens: chunk.tokens }),
    outDir: chunkDir,
    prefix: 'part',
    overwrite: true,
    // A job in a database shares the provider's quota: under a limit, each part's tokens are counted as its chunk is written.
    countTokens: store.jobId !== undefined && (options.countTokens ?? true),
    ...(settings.maxRequests !== undefined ? { maxRequests: settings.maxRequests } : {}),
    ...(settings.maxBytes !== undefined ? { maxBytes: settings.maxBytes } : {}),
    ...(settings.maxBatchTokens !== undefined ? { maxBatchTokens: settings.maxBatchTokens } : {}),
  });
  const [summary, chunks] = await Promise.allSettled([prepared, split]).then(([a, b]) => {
    if (a.status === 'rejected') throw a.reason;
    if (b.status === 'rejected') throw b.reason;
    return [a.value, b.value] as const;
  });
  const fingerprint = tapped?.fingerprint();
  // The hits' result lines are on disk before the job (and so any batch) exists: a resume finds them whatever the cache holds then.
  const { cached } = (await diversion?.finish()) ?? { cached: 0 };
  const read = { recordsRead: summary.recordsRead, skipped: summary.rejected, cached, ...(fingerprint ? { fingerprint } : {}) };
  if (chunks.chunks.length === 0) return { chunks: [], ...read };
  // A fresh job id (not the derived directory's name): two jobs with the same requests never take each other's batches or files.
  await lintRunChunks(chunks.chunks.map((c) => c.path), settings);
  const record = { ...(settings.provider ? { provider: settings.provider } : {}), ...(settings.baseURL ? { baseURL: settings.baseURL } : {}) };
  const { manifest } = await createJob({ chunks: chunks.chunks.map((c) => c.path), jobDir, window: settings.window, outputExpiresAfter: settings.outputExpiresAfter, written, ...record, store });
  return { chunks: manifest.parts.map((p) => ({ part: p.index, requests: p.requests })), ...read };
}

/**
 * A CSV header names every row's fields: a column named like an added field collides on every row, so it is refused
 * from the header alone (even with no rows, and whatever a later row holds). A `custom_id` column is fine only when
 * it is the id column (then its value is the id itself).
 * @throws KbatchError JOIN_FIELD_COLLISION
 */
function assertHeaderFree(columns: string[], line: number, plan: JoinPlan, settings: RunSettings): void {
  for (const field of plan.fields) {
    if (!columns.includes(field)) continue;
    if (field === plan.name('custom_id') && settings.request.idColumn === field) continue;
    const suggestion = plan.prefix === '' ? 'kb_' : `kb_${plan.prefix}`;
    const orId = field === plan.name('custom_id') ? ` (or use it as the id: --id-column ${field})` : '';
    throw new KbatchError(
      'JOIN_FIELD_COLLISION',
      `${settings.input}: input field "${field}" (the header, line ${line}) would be overwritten by the field kbatch adds; set a prefix for added fields, e.g. --prefix ${suggestion} (option \`prefix: '${suggestion}'\`) to name it "${suggestion}${field.slice(plan.prefix.length)}"${orId}`,
      { field, line, file: settings.input },
    );
  }
}

async function countLines(path: string): Promise<number> {
  let n = 0;
  try {
    for await (const _ of readFileLines(path)) n++;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return n;
}

/**
 * With no records there is no first row to give an output its header: the join's columns then follow the
 * input's header (CSV/TSV; other formats have none), so a CSV output still names every column.
 */
export async function withInputColumns(plan: JoinPlan, settings: RunSettings): Promise<JoinPlan> {
  if (settings.format !== 'csv' && settings.format !== 'tsv') return plan;
  let columns: string[] = [];
  const batches = recordBatches({
    input: settings.input,
    format: settings.format,
    onInvalidRecord: 'skip',
    ...(settings.delimiter ? { delimiter: settings.delimiter } : {}),
    ...(settings.encoding ? { encoding: settings.encoding } : {}),
    onHeader: (header) => (columns = header),
  });
  for await (const _ of batches);
  return { ...plan, columns: [...columns, ...plan.columns] };
}
