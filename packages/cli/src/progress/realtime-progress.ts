import type { RunEvent } from '@kbatch/core';
import type { ProgressMode } from './progress-reporter.js';

/**
 * Realtime progress on stderr: a plain line at every tenth of the requests (and when the adaptive
 * limit changes), the same as JSON lines with --progress json; nothing with --quiet.
 * @example const onRealtime = realtimeProgress(io.stderr, progressMode(flags));
 */
export function realtimeProgress(stderr: NodeJS.WritableStream, mode: ProgressMode): (event: Extract<RunEvent, { type: 'realtime' }>) => void {
  let retries = 0;
  let lastStep = -1;
  let lastDone = 0;
  // The limit last reported in this run (each run, and each realtime retry round, starts again from the maximum).
  let limit: number | undefined;
  return (e) => {
    if (mode === 'none') return;
    if (e.done < lastDone) limit = undefined;
    lastDone = e.done;
    if (e.event.type === 'retry') retries++;
    const step = e.total === 0 ? 10 : Math.floor((e.done * 10) / e.total);
    const counted = (e.event.type === 'answered' || e.event.type === 'failed') && (step !== lastStep || e.done === e.total);
    if (!counted && e.event.type !== 'concurrency') return;
    if (counted) lastStep = step;
    const previous = limit;
    if (e.event.type === 'concurrency') limit = e.event.limit;
    if (mode === 'json') {
      stderr.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'realtime', done: e.done, failed: e.failed, total: e.total, retries, ...(e.event.type === 'concurrency' ? { concurrency: e.event.limit } : {}) })}\n`);
    } else if (e.event.type === 'concurrency') {
      const up = previous !== undefined && e.event.limit > previous;
      stderr.write(up ? `realtime: concurrency back up to ${e.event.limit}\n` : `realtime: concurrency now ${e.event.limit} (adapting to 429s)\n`);
    } else {
      stderr.write(`realtime: ${e.done}/${e.total} done, ${e.failed} failed, ${retries} retries\n`);
    }
  };
}
