// What the join needs of the usual result line (a 2xx chat completion), read from its bytes in the index pass.
import { Scan, scanLine, type LineVerdict } from './verdict-scan.js';
import { VerdictTemplates } from './verdict-template.js';

export { emptyVerdict, type LineVerdict } from './verdict-scan.js';

/**
 * Read a result line's verdict from its bytes `buf[start, end)` without JSON.parse, when the line is valid JSON of the
 * usual shape: a string custom_id, `error` null or absent, a response with an integer 2xx status and a chat completion
 * body with exactly one choice whose message content is a string or null, no logprobs, `finish_reason` and
 * `request_id` strings or null, integer token counts. Any other line — malformed, an escaped or repeated deciding
 * key, a failure, several choices, logprobs, content parts — returns false and takes `parseResultLine`, so
 * whatever this accepts, the full parse would judge the same (the tests hold the two side by side). A line of the shape
 * of a line read before (the usual case: a file's lines differ in their values only) is read by comparing bytes with
 * it (see `VerdictTemplates`, held to the scanner by the tests), in about 70% of the scanner's time (measured: ~730 vs
 * ~1,030 ns a line on `pnpm bench:join`'s lines, ~64% on a short line).
 */
export function readVerdict(buf: Buffer, start: number, end: number, out: LineVerdict): boolean {
  if (templates.match(buf, start, end, out)) return true;
  const ok = scanVerdict(buf, start, end, out);
  if (ok) templates.learn(buf, start, end, out);
  return ok;
}

/** {@link readVerdict} by the scanner alone, without the learned shapes (the reference the shapes are tested against). */
export function scanVerdict(buf: Buffer, start: number, end: number, out: LineVerdict): boolean {
  return scanLine(scan, buf, start, end, out);
}

const scan = new Scan();
/** The shapes of the last lines read: a line of one of them is read by comparing bytes (see `VerdictTemplates`). */
const templates = new VerdictTemplates(scan);
