// Records rejected before any request was built: each still ends as one output row, saying why.
import { readFileLines } from '../job/lines.js';
import type { RejectedRecord } from '../records/rejected-record.js';
import type { JoinPlan } from './join-plan.js';
import type { JoinStatus } from './join-record.js';

/** One output row of a job's join and how it came out (`skipped`: rejected before any request was built). */
export interface JoinedRow {
  row: Record<string, unknown>;
  status: JoinStatus | 'skipped';
  customId: string | null;
  /** A skipped malformed record's source text (written to the rejects as `raw_line`, not to the output). */
  rawLine?: string;
}

/** Every record read ends as one output row: a skipped one keeps its fields (when it had any) and names why. */
export function skippedRow(plan: JoinPlan, r: RejectedRecord): JoinedRow {
  // A ragged CSV row keeps the fields it had (by header position); its source text goes to the rejects.
  const parsed = r.data ?? rawFields(r.raw);
  const row: Record<string, unknown> = { ...parsed };
  for (const field of plan.fields) row[field] = null;
  row[plan.name('error')] = `${r.code}: ${r.reason} (record ${r.record}, line ${r.line})`;
  return { row, status: 'skipped', customId: null, ...(r.data !== undefined || parsed === null ? { rawLine: r.raw } : {}) };
}

/** The records of a rejects file (JSON lines, input order); none when there is no file. */
export async function* readRejects(file: string): AsyncGenerator<RejectedRecord> {
  try {
    for await (const { text } of readFileLines(file)) yield JSON.parse(text) as RejectedRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** A rejected record's fields: its parsed data when `raw` is a JSON object, else null (a malformed row). */
function rawFields(raw: string): Record<string, unknown> | null {
  try {
    const data: unknown = JSON.parse(raw);
    return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
