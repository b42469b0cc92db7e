// The request cache's key: what changes an answer (provider, model, the request body), never the custom_id.
import { createHash } from 'node:crypto';

/** Bumped when the key's recipe changes: old entries then simply miss. */
const KEY_VERSION = 'kbatch-cache-1';

/**
 * JSON with every object's keys sorted (recursively) and one form per number (as `JSON.stringify` writes a parsed
 * number: `1.0` and `1e0` are `1`), so two bodies that mean the same request read the same.
 * @example canonicalJson({ b: 1, a: [{ d: 2.0, c: 'x' }] }) // '{"a":[{"c":"x","d":2}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  const object = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(object).sort()) {
    if (object[key] === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(object[key])}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * The sha256 (32 bytes) a request's answer is cached under: the provider's profile name, the model and the canonical
 * request body (messages, parameters, response_format…, the model included).
 * @example requestKey({ provider: 'kluster', body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] } })
 */
export function requestKey(request: { provider: string; body: Record<string, unknown> }): Buffer {
  const model = typeof request.body['model'] === 'string' ? request.body['model'] : '';
  return createHash('sha256').update(`${KEY_VERSION}\n${request.provider}\n${model}\n${canonicalJson(request.body)}`).digest();
}
