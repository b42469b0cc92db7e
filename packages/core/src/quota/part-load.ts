import { estimateLineTokens } from '../chunk/line-tokens.js';
import type { JobPart } from '../state/manifest.js';
import { jobPath } from '../job/create-job.js';
import { readFileLines } from '../job/lines.js';

/** What a part's batch puts in the queue: its estimated prompt tokens and requests, and its model (of its first line). */
export interface PartLoad {
  /** Undefined: not known and not counted (`count: false`). */
  tokens: number | undefined;
  requests: number;
  model: string;
}

/**
 * The load of a part's batch. Its tokens come from the manifest (`promptTokens`, measured as its chunk was written);
 * a part without them (no limit applied when it was prepared, an older manifest, a file given to `kbatch submit`) is
 * read once to estimate them, unless `count` is false (then they stay undefined). Only the first line is read for the
 * model otherwise.
 */
export async function partLoad(jobDir: string, part: Pick<JobPart, 'path' | 'requests' | 'promptTokens'>, { count = true }: { count?: boolean } = {}): Promise<PartLoad> {
  let model: string | undefined;
  let tokens = 0;
  const known = part.promptTokens;
  for await (const { text } of readFileLines(jobPath(jobDir, part.path))) {
    model ??= modelOf(text);
    if (known !== undefined || !count) break;
    tokens += lineTokens(text);
  }
  return { tokens: known ?? (count ? tokens : undefined), requests: part.requests, model: model ?? '' };
}

// A line without a model (a file made elsewhere, for a server with a default model) is counted under the empty model.
function modelOf(text: string): string {
  try {
    const model = (JSON.parse(text) as { body?: { model?: unknown } }).body?.model;
    return typeof model === 'string' ? model : '';
  } catch {
    return '';
  }
}

// A line whose messages cannot be read still takes room in the queue: counted by its size, as the estimate would.
function lineTokens(text: string): number {
  const line = Buffer.from(text);
  try {
    return estimateLineTokens(line);
  } catch {
    return Math.ceil(line.length / 4);
  }
}
