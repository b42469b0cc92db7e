import type { Writable } from 'node:stream';
import type { JobEvent, PartProgress } from '@kbatch/core';

/** How progress is shown on stderr: auto = bar on a TTY, plain lines otherwise. */
export type ProgressMode = 'auto' | 'bar' | 'plain' | 'json' | 'none';

/** Options of {@link createProgressReporter}. */
export interface ProgressReporterOptions {
  stream: Writable;
  mode: ProgressMode;
  /** Whether `stream` is a terminal (for `auto`); defaults to `stream.isTTY`. */
  isTTY?: boolean;
  now?: () => number;
}

/** Receives job events and renders them; `done()` finishes a live bar. */
export interface ProgressReporter {
  onEvent(event: JobEvent): void;
  /** Print a message line on stderr above a live bar (the bar is redrawn below it). */
  log(text: string): void;
  done(): void;
}

/**
 * Render job events on stderr: a live bar on a TTY (total, completed, failed, per-batch status, elapsed, ETA),
 * one plain line per change otherwise, JSON lines with `json`, nothing with `none`.
 * @example
 * const progress = createProgressReporter({ stream: process.stderr, mode: 'auto' });
 * await runBatchJob({ ..., onProgress: progress.onEvent });
 * progress.done();
 */
export function createProgressReporter(options: ProgressReporterOptions): ProgressReporter {
  const { stream } = options;
  const now = options.now ?? Date.now;
  const tty = options.isTTY ?? (stream as { isTTY?: boolean }).isTTY === true;
  const mode = options.mode === 'auto' ? (tty ? 'bar' : 'plain') : options.mode;
  const plainLog = (text: string) => void stream.write(`${text}\n`);
  if (mode === 'none') return { onEvent: () => {}, log: plainLog, done: () => {} };
  if (mode === 'json') {
    return { onEvent: (e) => stream.write(`${JSON.stringify({ time: new Date(now()).toISOString(), ...e })}\n`), log: plainLog, done: () => {} };
  }
  const eta = etaEstimator(now);
  let barShown = false;
  let lastBar = '';
  const clearBar = () => {
    if (barShown) stream.write('\r\x1b[2K');
    barShown = false;
  };
  const line = (text: string) => {
    clearBar();
    stream.write(`${text}\n`);
    if (mode === 'bar' && lastBar) {
      stream.write(lastBar);
      barShown = true;
    }
  };
  return {
    onEvent(e) {
      if (e.type === 'progress') {
        const etaMs = eta(e.completed + e.failed, e.total);
        if (mode === 'bar') {
          clearBar();
          lastBar = renderBar(e, etaMs);
          stream.write(lastBar);
          barShown = true;
        } else line(renderProgressLine(e, etaMs));
        return;
      }
      const text = describeEvent(e);
      if (text) line(text);
    },
    log: line,
    done() {
      if (mode === 'bar' && barShown) stream.write('\n');
      barShown = false;
      lastBar = '';
    },
  };
}

function describeEvent(e: JobEvent): string | undefined {
  switch (e.type) {
    case 'job':
      return `kbatch: ${e.resumed ? 'resuming' : 'job'} ${e.jobId} (${e.parts} part${e.parts === 1 ? '' : 's'}, ${e.requests} requests) in ${e.jobDir}`;
    case 'uploaded':
      return `part ${e.part}: uploaded as ${e.fileId} (${e.bytes} bytes)`;
    case 'created':
      return `part ${e.part}: batch ${e.batchId} ${e.adopted ? 'adopted (created before a crash)' : 'created'}`;
    case 'finished':
      if (e.causes && e.causes.length > 0) return describeValidationFailure(e.part, e.status, e.causes, e.lineErrors ?? []);
      return `part ${e.part}: ${e.status}, ${e.succeeded} succeeded, ${e.failed} failed${e.unresolved > 0 ? `, ${e.unresolved} without result` : ''}`;
    case 'resubmitted':
      return `part ${e.part}: ${e.requests} never-run requests resubmitted as part ${e.newPart}`;
    case 'retry':
      return `retrying ${e.operation}${e.part ? ` of part ${e.part}` : ''} in ${formatDuration(e.delayMs)} (attempt ${e.attempt}): ${e.message}`;
    case 'stragglers':
      return `part ${e.part}: ${e.message}`;
    case 'warning':
      return `warning${e.part ? ` (part ${e.part})` : ''}: ${e.message}`;
    default:
      return undefined;
  }
}

/** `part 00001: failed — model_not_found: … (3 requests)` and its first line errors, indented (at most 3). */
function describeValidationFailure(
  part: string,
  status: string,
  causes: Array<{ code: string | null; message: string | null; requests: number }>,
  lineErrors: Array<{ line: number | null; customId: string | null; code: string | null }>,
): string {
  const why = causes
    .map((c) => `${c.code ?? 'error'}: ${c.message ?? 'no message'}${c.requests > 0 ? ` (${c.requests} request${c.requests === 1 ? '' : 's'})` : ''}`)
    .join('; ');
  const lines = lineErrors
    .filter((l) => l.line !== null)
    .slice(0, 3)
    .map((l) => `\n  line ${l.line}${l.customId ? ` (custom_id ${l.customId})` : ''}: ${l.code ?? 'error'}`);
  return `part ${part}: ${status} — ${why}${lines.join('')}`;
}

function statusCounts(parts: PartProgress[]): string {
  const by = new Map<string, number>();
  for (const p of parts) by.set(p.status, (by.get(p.status) ?? 0) + 1);
  return [...by].map(([s, n]) => `${n} ${s}`).join(', ');
}

function renderProgressLine(e: Extract<JobEvent, { type: 'progress' }>, etaMs: number | undefined): string {
  return (
    `progress: ${e.completed}/${e.total} completed, ${e.failed} failed | batches: ${statusCounts(e.parts)} | ` +
    `elapsed ${formatDuration(e.elapsedMs)}${etaMs === undefined ? '' : `, ETA ${formatDuration(etaMs)}`}`
  );
}

function renderBar(e: Extract<JobEvent, { type: 'progress' }>, etaMs: number | undefined): string {
  const width = 24;
  const ratio = e.total > 0 ? Math.min(1, (e.completed + e.failed) / e.total) : 0;
  const filled = Math.round(ratio * width);
  const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
  return (
    `${bar} ${Math.floor(ratio * 100)}% ${e.completed}/${e.total}` +
    `${e.failed ? ` (${e.failed} failed)` : ''} | ${statusCounts(e.parts)} | ${formatDuration(e.elapsedMs)}` +
    `${etaMs === undefined ? '' : ` ETA ${formatDuration(etaMs)}`}`
  );
}

// ETA from the rate since the first request finished (batches often sit in validation first).
function etaEstimator(now: () => number) {
  let first: { t: number; done: number } | undefined;
  return (done: number, total: number): number | undefined => {
    if (done <= 0 || total <= 0) return undefined;
    if (!first) {
      first = { t: now(), done };
      return undefined;
    }
    const rate = (done - first.done) / Math.max(1, now() - first.t);
    if (rate <= 0) return undefined;
    return Math.round((total - done) / rate);
  };
}

/** `1h02m`, `3m05s`, `12s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
