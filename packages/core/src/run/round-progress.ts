// A retry round's progress, out of the job's progress.
import type { JobEvent } from '../job/job-types.js';

type ProgressEvent = Extract<JobEvent, { type: 'progress' }>;

/**
 * The job's progress event narrowed to one retry round: its parts (index `firstPart` and later — the round's parts
 * and their resubmits; every earlier part is finished before a round starts), counted against the round's requests.
 * @example roundProgress(event, 1, 300, '00004') // { ..., round: 1, total: 300, completed: 120, parts: [00004, 00005] }
 */
export function roundProgress(event: ProgressEvent, round: number, requests: number, firstPart: string): ProgressEvent {
  const first = Number(firstPart);
  const parts = event.parts.filter((p) => Number(p.index) >= first);
  // An expired part and its resubmit split the requests between them, so their counts add up.
  const completed = Math.min(requests, parts.reduce((n, p) => n + p.completed, 0));
  const failed = Math.min(requests - completed, parts.reduce((n, p) => n + p.failed, 0));
  return { ...event, round, total: requests, completed, failed, parts };
}
