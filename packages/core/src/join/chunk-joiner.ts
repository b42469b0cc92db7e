import { KbatchError } from '../errors.js';
import type { SourceRecord } from '../records/source-record.js';
import type { JoinIssueHandler } from './join-issue.js';
import type { JoinPlan } from './join-plan.js';
import { joinPlanned, type JoinOutcome } from './join-record.js';
import { emptyJoinReport, type JoinReport } from './join-report.js';
import { indexResultFiles } from './result-file-index.js';
import { resultMap, type ResultLookup, type ResultSource } from './result-lookup.js';

/**
 * One chunk of a job: `requests` consecutive input records (in input order) and their results, given as
 * result files (indexed on disk, see `indexResultFiles`), as result lines/`BatchResult`s (held in memory) or as a lookup.
 * `requests` may be `Infinity` for "all remaining records" (a single-chunk join).
 */
export type JoinChunk = { requests: number } & (
  | { files: readonly string[] }
  | { results: ResultSource }
  /** An index built elsewhere (a job's latest attempts, see `attemptLookup`), opened when the chunk starts. */
  | { lookup: (onIssue: JoinIssueHandler, options: { lean: boolean }) => Promise<ResultLookup> }
);

/** Hooks of a join: every issue, every outcome. */
export interface JoinHooks {
  onIssue?: JoinIssueHandler;
  onOutcome?: (outcome: JoinOutcome) => void;
}

/**
 * The chunk-by-chunk join engine behind `joinStream` and `joinChunks`: holds one chunk's results at a
 * time, so memory is bounded by the largest chunk, not the dataset.
 */
export class ChunkJoiner {
  readonly report: JoinReport = emptyJoinReport();
  private readonly chunks: AsyncIterator<JoinChunk> | Iterator<JoinChunk>;
  private lookup: ResultLookup | null = null;
  private remaining = 0;
  private chunkNumber = 0;
  private exhausted = false;
  /** The custom_ids of the records expected next (see {@link expect}) and how many of them were joined. */
  private ahead: string[] = [];
  private aheadAt = 0;
  /** Records passed over (see {@link pass}) since the last one joined. */
  private passed = 0;

  constructor(
    private readonly plan: JoinPlan,
    chunks: AsyncIterable<JoinChunk> | Iterable<JoinChunk>,
    private readonly hooks: JoinHooks = {},
  ) {
    this.chunks = Symbol.asyncIterator in chunks ? chunks[Symbol.asyncIterator]() : (chunks as Iterable<JoinChunk>)[Symbol.iterator]();
  }

  /**
   * The custom_ids of the next records (in input order), as far as they can be computed: each chunk's lookup is asked
   * to `prefetch` those of its records when it opens (or now, for the open chunk). Pass each id to {@link join} so it
   * is not computed again. Only a read-ahead: a record left out (a reject) merely shifts what is prefetched.
   */
  expect(records: readonly SourceRecord[]): string[] {
    const ids: string[] = [];
    try {
      for (const record of records) ids.push(this.plan.customIdFor(record));
    } catch {
      // The record without an id fails when it is joined, after the rows before it.
    }
    this.ahead = ids;
    this.aheadAt = 0;
    this.passed = 0;
    this.prefetchAhead();
    return ids;
  }

  /** The next record of the last {@link expect} is left out of the join (a reject): the read-ahead moves past its id. */
  pass(knownId: string | undefined): void {
    if (knownId === undefined) return;
    this.aheadAt += 1;
    this.passed += 1;
  }

  /** Join the next input record (records must arrive in input order); `knownId` when {@link expect} gave it. */
  async join(record: SourceRecord, knownId?: string): Promise<JoinOutcome> {
    while (this.remaining <= 0 && !this.exhausted) await this.nextChunk();
    return this.joinNow(record, knownId)!;
  }

  /** {@link join} without a promise when the record's chunk is open (the usual case); null when a chunk must be opened first. */
  joinNow(record: SourceRecord, knownId?: string): JoinOutcome | null {
    if (this.remaining <= 0 && !this.exhausted) return null;
    const customId = knownId ?? this.plan.customIdFor(record);
    if (knownId !== undefined) {
      // The lookup's read-ahead steps over one id left out, not two in a row: it is handed the ids from here.
      if (this.passed > 1) this.prefetchAhead();
      this.passed = 0;
      this.aheadAt += 1;
    }
    const result = this.lookup?.take(customId);
    this.remaining -= 1;
    const outcome = joinPlanned(record, result, this.plan, customId);
    this.count(outcome, record);
    this.hooks.onOutcome?.(outcome);
    return outcome;
  }

  /** Close the last chunk (its untaken results are JOIN_UNKNOWN_RESULT) and return the report. */
  async finish(): Promise<JoinReport> {
    const partial = this.remaining > 0 && Number.isFinite(this.remaining);
    await this.closeChunk();
    let extra = partial ? this.remaining : 0;
    while (!this.exhausted) {
      const next = await this.chunks.next();
      if (next.done) this.exhausted = true;
      else if (Number.isFinite(next.value.requests)) extra += next.value.requests;
      // A job chunk with no record left (all joined live) is still read: its unknown results, every line's tokens.
      if (!next.done && next.value.requests === 0 && 'lookup' in next.value) await this.openChunk(next.value);
    }
    await this.closeChunk();
    if (extra > 0) {
      throw new KbatchError(
        'JOB_MISMATCH',
        `the input ended after ${this.report.records} records but the chunks describe ${this.report.records + extra} requests; is this the input the batches were built from?`,
      );
    }
    return this.report;
  }

  /** Release result files (also after an error). */
  async close(): Promise<void> {
    await this.lookup?.close();
    this.lookup = null;
  }

  /** Whether results may come without their `body` (see `indexResultFiles`): nothing here reads it. */
  private get lean(): boolean {
    return !this.plan.keepRaw && this.hooks.onOutcome === undefined;
  }

  private async nextChunk(): Promise<void> {
    await this.closeChunk();
    const next = await this.chunks.next();
    if (next.done) {
      // Records beyond the last chunk have no results: each is emitted as missing.
      this.exhausted = true;
      this.remaining = Infinity;
      return;
    }
    await this.openChunk(next.value);
  }

  private async openChunk(chunk: JoinChunk): Promise<void> {
    await this.closeChunk();
    this.chunkNumber += 1;
    if (!(chunk.requests >= 0)) {
      throw new KbatchError('OPTION_INVALID', `Invalid option \`chunks.${this.chunkNumber - 1}.requests\`: must be a non-negative number, got ${String(chunk.requests)}`);
    }
    const onIssue = (issue: Parameters<JoinIssueHandler>[0]): void => {
      if (issue.code === 'JOIN_DUPLICATE_RESULT') this.report.duplicates += 1;
      this.hooks.onIssue?.(issue);
    };
    this.lookup = 'lookup' in chunk ? await chunk.lookup(onIssue, { lean: this.lean }) : 'files' in chunk ? await indexResultFiles(chunk.files, { onIssue, lean: this.lean }) : await resultMap(chunk.results, onIssue);
    this.remaining = chunk.requests;
    this.prefetchAhead();
  }

  /** Hand the open chunk's lookup the expected custom_ids that belong to it. */
  private prefetchAhead(): void {
    if (!this.lookup?.prefetch || !(this.remaining > 0)) return;
    const to = Math.min(this.ahead.length, this.aheadAt + this.remaining);
    if (to > this.aheadAt) this.lookup.prefetch(this.ahead.slice(this.aheadAt, to));
  }

  private async closeChunk(): Promise<void> {
    if (!this.lookup) return;
    for (const left of this.lookup.leftovers()) {
      this.report.unknown += 1;
      this.hooks.onIssue?.({
        code: 'JOIN_UNKNOWN_RESULT',
        customId: left.customId,
        file: left.file,
        line: left.line,
        message: `result for custom_id "${left.customId}"${left.file ? ` (${left.file}:${left.line})` : ''} matches no input record${this.chunkNumber > 1 ? ` of chunk ${this.chunkNumber}` : ''}`,
      });
    }
    await this.close();
  }

  private count(outcome: JoinOutcome, record: SourceRecord): void {
    const r = this.report;
    r.records += 1;
    r[outcome.status] += 1;
    r.promptTokens += outcome.result?.promptTokens ?? 0;
    r.completionTokens += outcome.result?.completionTokens ?? 0;
    if (outcome.status === 'missing') {
      this.hooks.onIssue?.({
        code: 'JOIN_MISSING_RESULT',
        customId: outcome.customId,
        record: record.index,
        message: `record ${record.index} (custom_id "${outcome.customId}") has no result`,
      });
    }
  }
}
