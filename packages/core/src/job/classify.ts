import type { BatchResultLine } from './job-types.js';

/** True when a result line is a successful chat completion. */
export function isSuccessLine(line: BatchResultLine): boolean {
  const status = line.response?.status_code;
  return !line.error && typeof status === 'number' && status >= 200 && status < 300;
}

/**
 * True when a result line says the request was never run (the batch expired or was cancelled first):
 * such a request has no real result and is the one to resubmit.
 */
export function isUnrunLine(line: BatchResultLine): boolean {
  if (isSuccessLine(line)) return false;
  const body = line.response?.body as { error?: { code?: unknown; type?: unknown } } | undefined;
  const codes = [line.error?.code, body?.error?.code, body?.error?.type].filter((c): c is string => typeof c === 'string');
  return codes.some((c) => /expired|cancel/i.test(c));
}
