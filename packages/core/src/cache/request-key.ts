// The request cache's key: what changes an answer (provider, model, the request body), never the custom_id.
import { hash } from 'node:crypto';

/** Bumped when the key's recipe changes: old entries then simply miss. */
const KEY_VERSION = 'kbatch-cache-1';

/**
 * JSON with every object's keys sorted (recursively) and one form per number (as `JSON.stringify` writes a parsed
 * number: `1.0` and `1e0` are `1`), so two bodies that mean the same request read the same.
 * @example canonicalJson({ b: 1, a: [{ d: 2.0, c: 'x' }] }) // '{"a":[{"c":"x","d":2}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null';
  // Built by concatenation (no array per level): it runs once per request of a run.
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + (value[i] === undefined ? 'null' : canonicalJson(value[i]));
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  if (keys.length > 1) keys.sort();
  let out = '{';
  for (const key of keys) {
    const item = object[key];
    if (item === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${out}}`;
}

/**
 * The sha256 (32 bytes) a request's answer is cached under: the provider's profile name, the model and the canonical
 * request body (messages, parameters, response_format…, the model included).
 * @example requestKey({ provider: 'kluster', body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] } })
 */
export function requestKey(request: { provider: string; body: Record<string, unknown> }): Buffer {
  const model = typeof request.body['model'] === 'string' ? request.body['model'] : '';
  return hash('sha256', `${KEY_VERSION}\n${request.provider}\n${model}\n${canonicalJson(request.body)}`, 'buffer') as unknown as Buffer;
}
