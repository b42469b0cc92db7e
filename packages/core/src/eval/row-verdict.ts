import { cleanLabelAnswer, matchLabel, normalizeLabels } from '../answers/labels.js';
import { KbatchError } from '../errors.js';
import type { ResolvedEvaluateOptions } from './eval-options.js';
import type { UnscoredReason } from './eval-result.js';

/** How one row counts: a gold/prediction pair (with its confidence, if any), or the reason it is not scored. */
export type RowVerdict =
  | { scored: true; gold: string; pred: string; correct: boolean; confidence: number | null }
  | { scored: false; reason: UnscoredReason };

/** Where a row came from, for error messages: its 1-based record number (0: a CSV header), and line and file when read from one. */
export interface RowPlace {
  record: number;
  line?: number;
  file?: string;
}

/** Turns a cell into a label as spelled in `labels` (or, without labels, as first seen); null when it is none of them. */
export type LabelMatcher = (text: string, place: RowPlace) => string | null;

/** Most distinct labels without a `labels` list: the confusion matrix is labels², and more means a free-text column. */
export const MAX_LABELS = 1000;

/**
 * The label comparison `--labels` applies: with `labels`, `matchLabel` (case, whitespace, quotes, trailing
 * punctuation); without, the same cleaning and case folding, each label spelled as it was first seen.
 */
export function labelMatcher(labels: readonly string[] | undefined): LabelMatcher {
  return remembered(labels === undefined ? firstSpelling() : listedLabel(normalizeLabels(labels)));
}

/** Most distinct cell texts whose label is remembered: a label column repeats a few spellings. */
const REMEMBERED = 4096;

// The same answer per text, looked up once (the cleaning regexes cost more than the rest of a row's judging).
function remembered(match: LabelMatcher): LabelMatcher {
  const known = new Map<string, string | null>();
  return (text, place) => {
    const hit = known.get(text);
    if (hit !== undefined) return hit;
    const label = match(text, place);
    if (known.size < REMEMBERED) known.set(text, label);
    return label;
  };
}

function listedLabel(allowed: readonly string[]): LabelMatcher {
  return (text) => {
    try {
      return matchLabel(text, allowed);
    } catch {
      return null;
    }
  };
}

function firstSpelling(): LabelMatcher {
  const spelling = new Map<string, string>();
  return (text, place) => {
    const clean = cleanLabelAnswer(text);
    const key = clean.toLowerCase();
    const known = spelling.get(key);
    if (known !== undefined) return known;
    if (spelling.size === MAX_LABELS) {
      throw new KbatchError('EVAL_TOO_MANY_LABELS', `${where(place)}: more than ${MAX_LABELS} distinct labels in the gold and prediction columns; are they label columns? (give the labels with --labels)`, place);
    }
    spelling.set(key, clean);
    return clean;
  };
}

/**
 * Judge one output row (pure but for the matcher's first-seen spellings).
 * @throws KbatchError EVAL_COLUMN_MISSING when the row lacks the gold or prediction column (naming the row's columns),
 *   RECORD_INVALID when its confidence is not a number in [0, 1]
 */
export function judgeRow(row: Record<string, unknown>, options: ResolvedEvaluateOptions, match: LabelMatcher, place: RowPlace): RowVerdict {
  requireColumn(row, options.gold, '--gold', place);
  requireColumn(row, options.pred, '--pred', place);
  const error = cellText(row[options.error]);
  if (error !== '') return { scored: false, reason: errorReason(error) };
  const goldText = cellText(row[options.gold]);
  if (cleanLabelAnswer(goldText) === '') return { scored: false, reason: 'no_gold' };
  const predText = cellText(row[options.pred]);
  if (cleanLabelAnswer(predText) === '') return { scored: false, reason: 'empty' };
  const gold = match(goldText, place);
  if (gold === null) return { scored: false, reason: 'gold_not_a_label' };
  const pred = match(predText, place);
  if (pred === null) return { scored: false, reason: 'not_a_label' };
  const confidence = confidenceOf(row[options.confidence], options.confidence, place);
  return { scored: true, gold, pred, correct: gold === pred, confidence };
}

/** Fail on a CSV header without the gold, prediction or `by` column, before any row is read. */
export function checkHeader(columns: readonly string[], options: Pick<ResolvedEvaluateOptions, 'gold' | 'pred' | 'by'>, place: RowPlace): void {
  const row = Object.fromEntries(columns.map((column) => [column, '']));
  requireColumn(row, options.gold, '--gold', place);
  requireColumn(row, options.pred, '--pred', place);
  if (options.by !== undefined) requireColumn(row, options.by, '--by', place);
}

/** Fail on a row without `column`, listing the columns it has. */
export function requireColumn(row: Record<string, unknown>, column: string, flag: string, place: RowPlace): void {
  if (Object.hasOwn(row, column)) return;
  throw new KbatchError('EVAL_COLUMN_MISSING', `${where(place)} has no column "${column}" (${flag}); its columns are: ${Object.keys(row).join(', ')}`, {
    ...place,
    field: column,
  });
}

/** "reviews.csv line 4 (row 3)", "reviews.csv line 1 (header)" (record 0), or "row 3" for rows not read from a file. */
export function where(place: RowPlace): string {
  if (place.file === undefined) return `row ${place.record}`;
  return `${place.file} line ${place.line ?? '?'} (${place.record === 0 ? 'header' : `row ${place.record}`})`;
}

/** A cell as text: strings as they are, numbers and booleans printed, null/undefined empty, anything else as JSON. */
export function cellText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

// The join writes these messages (join/join-record.ts); anything else in the error column is a failed request.
function errorReason(error: string): UnscoredReason {
  if (error.startsWith('invalid answer:')) return 'invalid';
  if (error.endsWith('(JOIN_MISSING_RESULT)')) return 'missing';
  return 'failed';
}

// A decimal number, maybe with an exponent ("0.97", ".5", "1e-3"); Number() alone would also take "0x1", "0b1" or "Infinity".
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function confidenceOf(value: unknown, column: string, place: RowPlace): number | null {
  if (value === null || value === undefined || (typeof value === 'string' && value.trim() === '')) return null;
  const text = typeof value === 'string' ? value.trim() : '';
  const n = typeof value === 'number' ? value : DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (Number.isFinite(n) && n >= 0 && n <= 1) return n;
  throw new KbatchError('RECORD_INVALID', `${where(place)}: column "${column}" must be a confidence between 0 and 1, got ${JSON.stringify(value)}`, {
    ...place,
    field: column,
  });
}
