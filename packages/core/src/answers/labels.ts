import { KbatchError } from '../errors.js';

/** The exact phrase the emulator's responder (and readers of the prompt) look for. */
const LABEL_PHRASE = 'Answer with exactly one of these labels: ';

// Wrapping characters a model may put around a label: quotes, backticks, markdown emphasis, brackets.
const WRAPPERS = /^[\s"'`“”‘’«»*_([{<]+|[\s"'`“”‘’«»*_)\]}>]+$/g;
// Trailing sentence punctuation after the label.
const TRAILING = /[\s.,;:!?。…]+$/;

/**
 * Check a label list once: non-empty, trimmed, unique ignoring case (else answers would be ambiguous).
 * @param labels - the allowed labels, e.g. `['positive', 'negative', 'neutral']`
 * @returns the trimmed labels in the given order
 */
export function normalizeLabels(labels: readonly string[]): string[] {
  if (!Array.isArray(labels) || labels.length === 0) {
    throw new KbatchError('OPTION_INVALID', 'Invalid option `labels`: must list at least one label', { field: 'labels' });
  }
  const seen = new Map<string, string>();
  const out: string[] = [];
  for (const raw of labels) {
    const label = typeof raw === 'string' ? raw.trim() : '';
    if (label === '') {
      throw new KbatchError('OPTION_INVALID', `Invalid option \`labels\`: must not contain empty labels, got ${JSON.stringify(labels)}`, {
        field: 'labels',
      });
    }
    const key = label.toLowerCase();
    const before = seen.get(key);
    if (before !== undefined) {
      throw new KbatchError('OPTION_INVALID', `Invalid option \`labels\`: must be unique ignoring case, got "${before}" and "${label}"`, {
        field: 'labels',
      });
    }
    seen.set(key, label);
    out.push(label);
  }
  return out;
}

/**
 * The instruction appended to the user prompt under `--labels`.
 * @example buildLabelInstruction(['a', 'b', 'c']) // 'Answer with exactly one of these labels: a, b, c'
 */
export function buildLabelInstruction(labels: readonly string[]): string {
  return LABEL_PHRASE + normalizeLabels(labels).join(', ');
}

/**
 * Reduce an answer to the bare candidate label: trims whitespace, surrounding quotes/backticks/`**`
 * and trailing punctuation (repeatedly, so `"Positive."` and `**positive**!` both become `positive`).
 */
export function cleanLabelAnswer(answer: string): string {
  let text = answer;
  for (;;) {
    const next = text.replace(TRAILING, '').replace(WRAPPERS, '');
    if (next === text) return text;
    text = next;
  }
}

/**
 * Parse a model answer to exactly one of `labels`: tolerant of case, whitespace, quotes and trailing
 * punctuation; anything else (another word, two labels, an explanation) is ANSWER_INVALID.
 * @returns the label as spelled in `labels`
 * @example parseLabel(' "Positive." ', ['positive', 'negative']) // 'positive'
 */
export function parseLabel(answer: string | null | undefined, labels: readonly string[]): string {
  return matchLabel(answer, normalizeLabels(labels));
}

/** {@link parseLabel} for labels already checked by `normalizeLabels` (no per-answer validation). */
export function matchLabel(answer: string | null | undefined, allowed: readonly string[]): string {
  if (typeof answer === 'string') {
    // Exact (ignoring case) first, so labels that themselves contain quotes or punctuation still match.
    const exact = answer.trim().toLowerCase();
    const cleaned = cleanLabelAnswer(answer).toLowerCase();
    const match =
      allowed.find((label) => label.toLowerCase() === exact) ??
      allowed.find((label) => cleanLabelAnswer(label).toLowerCase() === cleaned);
    if (match !== undefined && cleaned !== '') return match;
  }
  const shown = typeof answer === 'string' ? JSON.stringify(answer.length > 80 ? `${answer.slice(0, 77)}...` : answer) : 'no answer';
  throw new KbatchError('ANSWER_INVALID', `answer ${shown} is not one of the labels ${allowed.join(', ')}`);
}
