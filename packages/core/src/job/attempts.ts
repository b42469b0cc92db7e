// The attempts at a job's requests and which one wins ("last attempt wins"): the one place that decides it.
import { jobPath } from './create-job.js';
import { customIdOf, readFileLines } from './lines.js';
import { isUnrunLine } from './classify.js';
import { ancestorsOf, type JobManifest, type JobPart } from '../state/manifest.js';
import { parseResultText } from './retry-owners.js';
import type { BatchResultLine } from './job-types.js';
import { customIdOfLine, scanResultFile } from '../join/result-file-index.js';
import { parseResultLine, type BatchResult } from '../join/result-line.js';
import { realtimeResultFile } from '../realtime/run-realtime-job.js';
import type { RunState } from '../state/run-state.js';
import { validationResults } from './validation-results.js';
import { readVerdictFile } from '../join/verdict-file.js';
import { recordCustomId } from '../join/verdict-store.js';

/**
 * The result files of one run of some requests: a batch part (output + error file; never-run markers
 * skipped when it was resubmitted), or a realtime results file.
 */
export interface AttemptSource {
  /** Job-relative (or absolute) result files. */
  files: string[];
  /** The part's never-run requests went to a resubmit part: skip its never-run marker lines. */
  resubmitted: boolean;
  /** A batch that failed validation (no result files): its requests' results are made from its errors, see {@link validationResults}. */
  failedBatch?: JobPart;
  /** Job-relative request file: only results of its custom_ids belong to this source (a retry batch merged several chunks). */
  only?: string;
  /** Its requests were sent one by one (realtime mode, straggler leftovers, realtime retry rounds): paid at realtime prices. */
  realtime?: boolean;
}

/** A part and every resubmit part descending from it (an expired batch's leftovers ran there). */
export function partFamily(manifest: JobManifest, root: string): JobPart[] {
  return manifest.parts.filter((p) => p.index === root || ancestorsOf(manifest, p).some((q) => q.index === root));
}

/**
 * The result sources of a batch part and its resubmits, each followed by the realtime results of its leftovers
 * when it was a straggler batch (disjoint from its own results: only requests without one were sent).
 */
export function partSources(manifest: JobManifest, root: string, stragglers: RunState['stragglers'] = []): AttemptSource[] {
  return partFamily(manifest, root).flatMap((p) => {
    const own: AttemptSource = {
      files: [p.outputPath, p.errorPath].filter((f): f is string => typeof f === 'string' && f !== ''),
      // Never-run markers of a part whose leftovers ran elsewhere are not its results.
      resubmitted: Boolean(p.resubmittedAs || p.straggler),
    };
    // A batch that failed validation has no result files: its errors stand in for them.
    if (p.status === 'failed' && p.done && own.files.length === 0) own.failedBatch = p;
    const leftovers = stragglers.find((s) => s.part === p.index && s.finished && s.requests > 0);
    return leftovers ? [own, { files: [leftovers.results], resubmitted: false, realtime: true }] : [own];
  });
}

/** Job-relative results file of original chunk number `index` (0-based) in realtime mode. */
export function realtimeChunkResults(index: number): string {
  return realtimeResultFile('', index); // runRealtimeJob's own naming, relative to the job directory
}

/** The first attempt at a chunk: its batch part (and resubmits), or its realtime results file. */
export function chunkSources(state: RunState, manifest: JobManifest, chunkPart: string): AttemptSource[] {
  if (state.mode === 'realtime') return [{ files: [realtimeChunkResults(state.chunks.findIndex((c) => c.part === chunkPart))], resubmitted: false, realtime: true }];
  return partSources(manifest, chunkPart, state.stragglers);
}

/** The result sources of one retry part (none while a batch part is not yet added). */
export function retrySources(manifest: JobManifest, retry: RunState['rounds'][number]['parts'][number], stragglers: RunState['stragglers'] = []): AttemptSource[] {
  if (retry.results !== undefined) return [{ files: [retry.results], resubmitted: false, realtime: true }];
  if (retry.part === null) return [];
  // A merged retry batch holds other chunks' requests too: keep this entry's own.
  return partSources(manifest, retry.part, stragglers).map((source) => (retry.batch === undefined ? source : { ...source, only: retry.file }));
}

/**
 * The attempts at one chunk's requests, oldest first: the chunk's own run (batch part and resubmits,
 * or realtime results), then the retry part of each round that re-ran some of them.
 */
export function attemptGroups(state: RunState, manifest: JobManifest, chunkPart: string): AttemptSource[][] {
  const groups = [chunkSources(state, manifest, chunkPart)];
  for (const round of state.rounds) {
    for (const retry of round.parts) {
      if (retry.chunk !== chunkPart) continue;
      const sources = retrySources(manifest, retry, state.stragglers);
      if (sources.length > 0) groups.push(sources);
    }
  }
  return groups;
}

/** One result line of an attempt at a chunk, as {@link walkAttempts} meets it. */
export interface AttemptLine {
  customId: string;
  /** The attempt (index into the groups) it belongs to: a higher one was run later. */
  group: number;
  /** A later attempt has a result for this request: the line does not count (only its tokens do). */
  superseded: boolean;
  /** Its source was sent realtime (see `AttemptSource.realtime`). */
  realtime: boolean;
  /** Where the line is: `buf[start, end)` (valid during the visit only), absolute file, byte offset and line number. */
  at?: { buf: Buffer; start: number; end: number; file: string; offset: number; line: number };
  /** A result made from a failed batch's errors (no line on disk), see {@link validationResults}. */
  result?: BatchResult;
  /**
   * With `verdicts`: the line's verdict as the download kept it (`page[at…]`, see `VerdictFileWriter`; valid during the
   * visit only). The line was not read: `at.buf` is empty, `at.offset` and `at.end` (its length) say where it is.
   */
  verdict?: { page: Buffer; at: number };
}

/** Options of {@link walkAttempts}. */
export interface WalkAttemptsOptions {
  /** Visit a result file's kept verdicts instead of its lines where the download kept them (every line a usual success). */
  verdicts?: boolean;
}

const NO_LINE = Buffer.alloc(0);

/**
 * Visit every result line of a chunk's attempts, newest attempt first ("last attempt wins": a line is `superseded`
 * when a later attempt has a result for its custom_id). Never-run markers of resubmitted parts are skipped (their
 * resubmit holds the real result), and so are other chunks' results in a merged retry batch. Duplicates within one
 * attempt are all visited, so the join reports them. Lines are not parsed (custom_ids are read from the bytes).
 * Memory: the custom_ids of one chunk.
 */
export async function walkAttempts(jobDir: string, groups: readonly AttemptSource[][], visit: (line: AttemptLine) => void, options: WalkAttemptsOptions = {}): Promise<void> {
  const seen = new Set<string>();
  // A merged retry part's sources (its resubmits, straggler leftovers) share one filter file: read it once.
  let filter = null as { rel: string; ids: Set<string> } | null;
  for (let g = groups.length - 1; g >= 0; g--) {
    const seenHere: string[] = [];
    // The oldest attempt is the last walked: nothing later asks whether its ids were seen.
    const remember = g > 0;
    let realtime = false;
    const meet = (customId: string, at: AttemptLine['at'], result?: BatchResult, verdict?: AttemptLine['verdict']): void => {
      const superseded = seen.size > 0 && seen.has(customId);
      if (!superseded && remember) seenHere.push(customId);
      visit({ customId, group: g, superseded, realtime, at, result, verdict });
    };
    for (const source of groups[g]!) {
      realtime = source.realtime === true;
      if (source.only !== undefined && filter?.rel !== source.only) filter = { rel: source.only, ids: await customIdsOf(jobDir, source.only) };
      const only = source.only === undefined ? null : filter!.ids;
      if (source.failedBatch) {
        for await (const { line } of validationResults(jobDir, source.failedBatch)) {
          const id = String(line.custom_id);
          if (!only || only.has(id)) meet(id, undefined, parseResultLine(line));
        }
      }
      for (const rel of source.files) {
        const file = jobPath(jobDir, rel);
        // Kept verdicts are all successes: never a never-run marker.
        const kept =
          options.verdicts === true &&
          (await readVerdictFile(file, (page, at, { offset, length, line }) => {
            const id = recordCustomId(page, at);
            if (!only || only.has(id)) meet(id, { buf: NO_LINE, start: 0, end: length, file, offset, line }, undefined, { page, at });
          }));
        if (kept) continue;
        await scanResultFile(file, (buf, { start, end, offset, line: n }) => {
          const id = customIdOfLine(buf, { start, end, file: rel, line: n });
          if (only && !only.has(id)) return;
          if (source.resubmitted && isUnrunText(buf.toString('utf8', start, end), rel, n)) return;
          meet(id, { buf, start, end, file, offset, line: n });
        });
      }
    }
    for (const id of seenHere) seen.add(id);
  }
}

/** Whether a result line is a never-run marker (see isUnrunLine); parsed only when it names an expiry or a cancel. */
function isUnrunText(text: string, rel: string, line: number): boolean {
  return /expired|cancel/i.test(text) && isUnrunLine(parseResultText(text, rel, line));
}

/**
 * Each request's result from the latest attempt that has one ("last attempt wins"), parsed once and handed to
 * `visit` with the parsed line (for its tokens). Duplicates within one attempt are all passed on.
 */
export async function latestResults(jobDir: string, groups: readonly AttemptSource[][], visit: (result: BatchResult) => void): Promise<void> {
  await walkAttempts(jobDir, groups, (attempt) => {
    if (attempt.superseded) return;
    const at = attempt.at!;
    visit(attempt.result ?? parseResultLine(at.buf.toString('utf8', at.start, at.end), { file: at.file, line: at.line }));
  });
}

/** The custom_ids of a job-relative request file (one retry entry's requests: at most one chunk). */
async function customIdsOf(jobDir: string, rel: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const { text } of readFileLines(jobPath(jobDir, rel))) {
    const id = customIdOf(text);
    if (id !== null) ids.add(id);
  }
  return ids;
}

/** Prompt and completion tokens of a parsed result line (0 when it has no usage). */
export function lineTokens(line: Pick<BatchResultLine, 'response'>): { prompt: number; completion: number } {
  const usage = (line.response?.body as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | undefined)?.usage;
  return {
    prompt: typeof usage?.prompt_tokens === 'number' ? usage.prompt_tokens : 0,
    completion: typeof usage?.completion_tokens === 'number' ? usage.completion_tokens : 0,
  };
}
