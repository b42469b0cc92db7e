import type { Writable } from 'node:stream';
import type { JobEvent, PartProgress, RunEvent } from '@kbatch/core';

/** How progress is shown on stderr: auto = bar on a TTY, plain lines otherwise. */
export type ProgressMode = 'auto' | 'bar' | 'plain' | 'json' | 'none';

/** Options of {@link createProgressReporter}. */
export interface ProgressReporterOptions {
  stream: Writable;
  mode: ProgressMode;
  /** Whether `stream` is a terminal (for `auto`); defaults to `stream.isTTY`. */
  isTTY?: boolean;
  /** Terminal width for the bar; defaults to `stream.columns` (read at each redraw, so a resize is followed), else 80. */
  columns?: number;
  /** Draw the bar in ASCII; defaults to true on a CJK locale ({@link isCjkLocale}), where █ ░ … take two cells. */
  ascii?: boolean;
  now?: () => number;
}

/** What the reporter renders: a job's events, and a run's phase and retry-round lines. */
export type ReporterEvent = JobEvent | Extract<RunEvent, { type: 'phase' | 'retry-round' }>;

type ProgressEvent = Extract<JobEvent, { type: 'progress' }>;

/** Receives job events and renders them; `done()` finishes a live bar. */
export interface ProgressReporter {
  onEvent(event: ReporterEvent): void;
  /** Print a message line on stderr above a live bar (the bar is redrawn below it). */
  log(text: string): void;
  /** Finish the live bar; from now on only message lines are printed (nothing is drawn after the summary). */
  done(): void;
}

/**
 * Render job events on stderr: a live bar on a TTY (total, completed, failed, per-batch status, elapsed, ETA)
 * fitted to the terminal's width, one plain line per change otherwise, JSON lines with `json`, nothing with `none`.
 * A retry round's progress is shown as that round's (`retry round 1: 120/300`); elapsed counts from the reporter's start.
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
  const started = now();
  const columns = () => options.columns ?? (stream as { columns?: number }).columns ?? 80;
  const glyphs = options.ascii ?? isCjkLocale(process.env) ? ASCII_GLYPHS : BLOCK_GLYPHS;
  let eta = etaEstimator(now);
  let etaRound: number | undefined;
  let announcedRound: number | undefined;
  let barShown = false;
  let lastBar: ProgressEvent | undefined;
  let finished = false;
  const drawBar = (e: ProgressEvent) => {
    const elapsedMs = Math.max(e.elapsedMs, now() - started);
    stream.write(fitLine(renderBar(e, elapsedMs, eta(counts(e).done, e.total), columns(), glyphs), columns(), glyphs.more));
    barShown = true;
  };
  const clearBar = () => {
    if (barShown) stream.write('\r\x1b[2K');
    barShown = false;
  };
  const line = (text: string) => {
    clearBar();
    stream.write(`${text}\n`);
    if (mode === 'bar' && lastBar && !finished) drawBar(lastBar);
  };
  return {
    onEvent(e) {
      if (e.type === 'progress') {
        if (finished) return;
        // A new round's rate is its own: the ETA starts over.
        if (e.round !== etaRound) {
          etaRound = e.round;
          eta = etaEstimator(now);
        }
        if (mode === 'bar') {
          clearBar();
          lastBar = e;
          drawBar(e);
        } else line(renderProgressLine(e, Math.max(e.elapsedMs, now() - started), eta(counts(e).done, e.total)));
        return;
      }
      // A round announced by its retry-round event gets no second line when it starts (a resumed one does).
      if (e.type === 'retry-round') announcedRound = e.round;
      else if (e.type === 'phase' && e.round !== undefined && e.round === announcedRound) return;
      // A new round or phase ends the bar: its last state stays as a line, and it is not redrawn below.
      if ((e.type === 'retry-round' || e.type === 'phase') && lastBar) {
        if (barShown) stream.write('\n');
        barShown = false;
        lastBar = undefined;
      }
      const text = describeEvent(e);
      if (text) line(text);
    },
    log: line,
    done() {
      if (mode === 'bar' && barShown) stream.write('\n');
      barShown = false;
      lastBar = undefined;
      finished = true;
    },
  };
}

function describeEvent(e: ReporterEvent): string | undefined {
  switch (e.type) {
    case 'phase':
      return e.message;
    case 'retry-round':
      return `retry round ${e.round}: ${e.requests} requests ${e.via === 'realtime' ? 'realtime' : `in ${e.parts} batch${e.parts === 1 ? '' : 'es'}`}`;
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

// Never more than the total: a count past it would only come from parts outside what is counted.
function counts(e: ProgressEvent): { done: number; completed: number; failed: number; total: number } {
  const completed = Math.min(e.completed, e.total);
  const failed = Math.min(e.failed, e.total - completed);
  return { done: completed + failed, completed, failed, total: e.total };
}

function renderProgressLine(e: ProgressEvent, elapsedMs: number, etaMs: number | undefined): string {
  const c = counts(e);
  return (
    `${e.round === undefined ? 'progress' : `retry round ${e.round}`}: ${c.completed}/${c.total} completed, ${c.failed} failed | batches: ${statusCounts(e.parts)} | ` +
    `elapsed ${formatDuration(elapsedMs)}${etaMs === undefined ? '' : `, ETA ${formatDuration(etaMs)}`}`
  );
}

interface Glyphs {
  full: string;
  empty: string;
  more: string;
}
const BLOCK_GLYPHS: Glyphs = { full: '█', empty: '░', more: '…' };
const ASCII_GLYPHS: Glyphs = { full: '#', empty: '-', more: '~' };

/**
 * True when the locale is Chinese, Japanese or Korean: terminals there draw East Asian ambiguous-width characters
 * (█ ░ …) two cells wide, so a bar counted in code points would wrap.
 */
export function isCjkLocale(env: NodeJS.ProcessEnv): boolean {
  const locale = env['LC_ALL'] || env['LC_CTYPE'] || env['LANG'] || '';
  return /^(ja|zh|ko)([_.@-]|$)/i.test(locale);
}

function renderBar(e: ProgressEvent, elapsedMs: number, etaMs: number | undefined, columns: number, glyphs: Glyphs): string {
  const c = counts(e);
  const ratio = c.total > 0 ? c.done / c.total : 0;
  const label = e.round === undefined ? '' : `retry round ${e.round}: `;
  const numbers = `${Math.floor(ratio * 100)}% ${c.completed}/${c.total}${c.failed ? ` (${c.failed} failed)` : ''}`;
  const time = `${formatDuration(elapsedMs)}${etaMs === undefined ? '' : ` ETA ${formatDuration(etaMs)}`}`;
  // The bar takes what the text leaves of the line, from 24 cells down to 10.
  const width = Math.max(10, Math.min(24, columns - 1 - lengthOf(`${label} ${numbers} | ${time}`)));
  const filled = Math.round(ratio * width);
  const bar = `${glyphs.full.repeat(filled)}${glyphs.empty.repeat(width - filled)}`;
  return `${label}${bar} ${numbers} | ${time} | ${statusCounts(e.parts)}`;
}

/** Cut a bar line to fit one terminal row (one cell short of it: a full row would wrap on some terminals). */
export function fitLine(text: string, columns: number, more = '…'): string {
  const max = Math.max(1, columns - 1);
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}${more}`;
}

function lengthOf(text: string): number {
  return [...text].length;
}

// ETA from the rate since the first request finished (batches often sit in validation first).
function etaEstimator(now: () => number) {
  let first: { t: number; done: number } | undefined;
  return (done: number, total: number): number | undefined => {
    if (done <= 0 || total <= 0 || done >= total) return undefined;
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
