import { jobPath } from '../job/create-job.js';
import { customIdOf, readFileLines } from '../job/lines.js';
import { isUnrunLine } from '../job/classify.js';
import { ancestorsOf, type JobManifest, type JobPart } from '../job/manifest.js';
import type { BatchResultLine } from '../job/types.js';
import { KbatchError } from '../errors.js';
import { realtimeResultFile } from '../realtime/run-realtime-job.js';
import type { RunState } from './run-state.js';
import { validationResults } from './validation-results.js';

/** One result line of an attempt, with its parsed form. */
export interface AttemptLine {
  text: string;
  line: BatchResultLine;
}

/**
 * The result files of one run of some requests: a batch part (output + error file; never-run markers
 * skipped when it was resubmitted), or a realtime results file.
 */
export interface ResultSource {
  /** Job-relative (or absolute) result files. */
  files: string[];
  /** The part's never-run requests went to a resubmit part: skip its never-run marker lines. */
  resubmitted: boolean;
  /** A batch that failed validation (no result files): its requests' results are made from its errors, see {@link validationResults}. */
  failedBatch?: JobPart;
  /** Job-relative request file: only results of its custom_ids belong to this source (a retry batch merged several chunks). */
  only?: string;
}

/** A part and every resubmit part descending from it (an expired batch's leftovers ran there). */
export function partFamily(manifest: JobManifest, root: string): JobPart[] {
  return manifest.parts.filter((p) => p.index === root || ancestorsOf(manifest, p).some((q) => q.index === root));
}

/**
 * The result sources of a batch part and its resubmits, each followed by the realtime results of its leftovers
 * when it was a straggler batch (disjoint from its own results: only requests without one were sent).
 */
export function partSources(manifest: JobManifest, root: string, stragglers: RunState['stragglers'] = []): ResultSource[] {
  return partFamily(manifest, root).flatMap((p) => {
    const own: ResultSource = {
      files: [p.outputPath, p.errorPath].filter((f): f is string => typeof f === 'string' && f !== ''),
      // Never-run markers of a part whose leftovers ran elsewhere are not its results.
      resubmitted: Boolean(p.resubmittedAs || p.straggler),
    };
    // A batch that failed validation has no result files: its errors stand in for them.
    if (p.status === 'failed' && p.done && own.files.length === 0) own.failedBatch = p;
    const leftovers = stragglers.find((s) => s.part === p.index && s.finished && s.requests > 0);
    return leftovers ? [own, { files: [leftovers.results], resubmitted: false }] : [own];
  });
}

/** Job-relative results file of original chunk number `index` (0-based) in realtime mode. */
export function realtimeChunkResults(index: number): string {
  return realtimeResultFile('', index); // runRealtimeJob's own naming, relative to the job directory
}

/** The first attempt at a chunk: its batch part (and resubmits), or its realtime results file. */
export function chunkSources(state: RunState, manifest: JobManifest, chunkPart: string): ResultSource[] {
  if (state.mode === 'realtime') return [{ files: [realtimeChunkResults(state.chunks.findIndex((c) => c.part === chunkPart))], resubmitted: false }];
  return partSources(manifest, chunkPart, state.stragglers);
}

/** The result sources of one retry part (none while a batch part is not yet added). */
export function retrySources(manifest: JobManifest, retry: RunState['rounds'][number]['parts'][number], stragglers: RunState['stragglers'] = []): ResultSource[] {
  if (retry.results !== undefined) return [{ files: [retry.results], resubmitted: false }];
  if (retry.part === null) return [];
  // A merged retry batch holds other chunks' requests too: keep this entry's own.
  return partSources(manifest, retry.part, stragglers).map((source) => (retry.batch === undefined ? source : { ...source, only: retry.file }));
}

/**
 * The attempts at one chunk's requests, oldest first: the chunk's own run (batch part and resubmits,
 * or realtime results), then the retry part of each round that re-ran some of them.
 */
export function attemptGroups(state: RunState, manifest: JobManifest, chunkPart: string): ResultSource[][] {
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

/**
 * Each request's result from the latest attempt that has one ("last attempt wins"), one line at a time.
 * Never-run markers of resubmitted parts are skipped (their resubmit holds the real result). Duplicates
 * within one attempt are passed on, so the join reports them. Memory: the custom_ids of one chunk.
 * @param onLine - sees every line read, superseded ones included (for token totals)
 */
export async function* latestResults(
  jobDir: string,
  groups: readonly ResultSource[][],
  onLine?: (line: BatchResultLine) => void,
): AsyncGenerator<AttemptLine> {
  const seen = new Set<string>();
  // A merged retry part's sources (its resubmits, straggler leftovers) share one filter file: read it once.
  let filter = null as { rel: string; ids: Set<string> } | null;
  for (let g = groups.length - 1; g >= 0; g--) {
    const seenHere: string[] = [];
    for (const source of groups[g]!) {
      if (source.only !== undefined && filter?.rel !== source.only) filter = { rel: source.only, ids: await customIdsOf(jobDir, source.only) };
      const only = source.only === undefined ? null : filter!.ids;
      if (source.failedBatch) {
        for await (const attempt of validationResults(jobDir, source.failedBatch)) {
          const id = String(attempt.line.custom_id);
          if (seen.has(id) || (only && !only.has(id))) continue;
          seenHere.push(id);
          yield attempt;
        }
      }
      for (const rel of source.files) {
        for await (const { line: n, text } of readFileLines(jobPath(jobDir, rel))) {
          let line: BatchResultLine;
          try {
            line = JSON.parse(text) as BatchResultLine;
          } catch (cause) {
            throw new KbatchError('RESPONSE_INVALID', `Result file ${rel} line ${n} is not JSON`, { file: rel, line: n, cause });
          }
          onLine?.(line);
          if (source.resubmitted && isUnrunLine(line)) continue;
          const id = String(line.custom_id);
          if (seen.has(id) || (only && !only.has(id))) continue;
          seenHere.push(id);
          yield { text, line };
        }
      }
    }
    for (const id of seenHere) seen.add(id);
  }
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

/** Prompt and completion tokens of a result line (0 when it has no usage). */
export function lineTokens(line: BatchResultLine): { prompt: number; completion: number } {
  const usage = (line.response?.body as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | undefined)?.usage;
  return {
    prompt: typeof usage?.prompt_tokens === 'number' ? usage.prompt_tokens : 0,
    completion: typeof usage?.completion_tokens === 'number' ? usage.completion_tokens : 0,
  };
}
