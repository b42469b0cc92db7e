import { jobPath } from '../job/create-job.js';
import { readFileLines } from '../job/lines.js';
import { isUnrunLine } from '../job/classify.js';
import type { JobManifest, JobPart } from '../job/manifest.js';
import type { BatchResultLine } from '../job/types.js';
import { KbatchError } from '../errors.js';
import type { RunState } from './run-state.js';

/** One result line of an attempt, with its parsed form. */
export interface AttemptLine {
  text: string;
  line: BatchResultLine;
}

/** A part and every resubmit part descending from it (an expired batch's leftovers ran there). */
export function partFamily(manifest: JobManifest, root: string): JobPart[] {
  const byIndex = new Map(manifest.parts.map((p) => [p.index, p]));
  return manifest.parts.filter((p) => {
    for (let q: JobPart | undefined = p; q; q = q.kind === 'resubmit' && q.parent ? byIndex.get(q.parent) : undefined) {
      if (q.index === root) return true;
    }
    return false;
  });
}

/**
 * The attempts at one chunk's requests, oldest first: the chunk's own part (and its resubmits), then the
 * retry part of each round that re-ran some of them.
 */
export function attemptGroups(state: RunState, manifest: JobManifest, chunkPart: string): JobPart[][] {
  const groups = [partFamily(manifest, chunkPart)];
  for (const round of state.rounds) {
    for (const retry of round.parts) if (retry.chunk === chunkPart && retry.part !== null) groups.push(partFamily(manifest, retry.part));
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
  groups: readonly JobPart[][],
  onLine?: (line: BatchResultLine) => void,
): AsyncGenerator<AttemptLine> {
  const seen = new Set<string>();
  for (let g = groups.length - 1; g >= 0; g--) {
    const seenHere: string[] = [];
    for (const part of groups[g]!) {
      for (const rel of [part.outputPath, part.errorPath]) {
        if (!rel) continue;
        for await (const { line: n, text } of readFileLines(jobPath(jobDir, rel))) {
          let line: BatchResultLine;
          try {
            line = JSON.parse(text) as BatchResultLine;
          } catch (cause) {
            throw new KbatchError('RESPONSE_INVALID', `Result file ${rel} line ${n} is not JSON`, { file: rel, line: n, cause });
          }
          onLine?.(line);
          if (part.resubmittedAs && isUnrunLine(line)) continue;
          const id = String(line.custom_id);
          if (seen.has(id)) continue;
          seenHere.push(id);
          yield { text, line };
        }
      }
    }
    for (const id of seenHere) seen.add(id);
  }
}

/** Prompt and completion tokens of a result line (0 when it has no usage). */
export function lineTokens(line: BatchResultLine): { prompt: number; completion: number } {
  const usage = (line.response?.body as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | undefined)?.usage;
  return {
    prompt: typeof usage?.prompt_tokens === 'number' ? usage.prompt_tokens : 0,
    completion: typeof usage?.completion_tokens === 'number' ? usage.completion_tokens : 0,
  };
}
