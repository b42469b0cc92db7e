/**
 * google.rpc.Code names by number (a batch line's or an Operation's `error.code` is one of these, not an HTTP status).
 * @see https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto
 */
const RPC_NAMES: readonly string[] = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

// The HTTP status of each code, as code.proto's comments give it.
const HTTP_OF_NAME: Readonly<Record<string, number>> = {
  CANCELLED: 499, UNKNOWN: 500, INVALID_ARGUMENT: 400, DEADLINE_EXCEEDED: 504, NOT_FOUND: 404, ALREADY_EXISTS: 409, PERMISSION_DENIED: 403,
  RESOURCE_EXHAUSTED: 429, FAILED_PRECONDITION: 400, ABORTED: 409, OUT_OF_RANGE: 400, UNIMPLEMENTED: 501, INTERNAL: 500, UNAVAILABLE: 503,
  DATA_LOSS: 500, UNAUTHENTICATED: 401,
};

/** A Google `Status`: a failed request's line, an Operation's error, or an HTTP error body's `error`. */
export interface GoogleStatus {
  code?: number;
  message?: string;
  status?: string;
}

/**
 * The status name of a Google status: its `status` string where present, else its `code` read as a google.rpc.Code
 * (below 100); null when neither says (an HTTP-looking code without a name).
 */
export function statusNameOf(status: GoogleStatus): string | null {
  if (typeof status.status === 'string' && status.status !== '') return status.status.toUpperCase();
  const code = status.code;
  return typeof code === 'number' && Number.isInteger(code) && code > 0 && code < RPC_NAMES.length ? RPC_NAMES[code]! : null;
}

/**
 * The HTTP status of a Google status: from its name (status string or rpc code, see {@link statusNameOf}), else its
 * code when that is an HTTP error status (400–599), else 500 (nothing deterministic said: sent again).
 */
export function httpStatusOf(status: GoogleStatus): number {
  const name = statusNameOf(status);
  if (name !== null && HTTP_OF_NAME[name] !== undefined) return HTTP_OF_NAME[name];
  const code = status.code;
  return typeof code === 'number' && Number.isInteger(code) && code >= 400 && code <= 599 ? code : 500;
}
