// kbatch's custom_ids (any non-empty string with --id-column) ↔ Anthropic's `^[a-zA-Z0-9_-]{1,64}$`, reversibly.
import { KbatchError } from '../../errors.js';

/** What Anthropic accepts as a custom_id (API reference, Message Batches create). */
export const ANTHROPIC_CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;

/** Marks an encoded id: an id sent as it is never starts with it, so decoding is unambiguous. */
const ENCODED = '__';
/** The most UTF-8 bytes an encoded id carries: base64url of 46 bytes is 62 characters, plus the marker. */
const MAX_ENCODED_BYTES = 46;

/**
 * The ids {@link encodeCustomId} can send, as a lint pattern (for the profile's `customIdPattern`): a valid id not
 * starting with `__` is sent as is; any other id of at most 11 UTF-16 units or 46 ASCII characters (both at most
 * 46 UTF-8 bytes) is sent base64url-encoded behind `__`. Longer ids with other characters are refused at lint.
 */
export const ENCODABLE_CUSTOM_ID = '^(?:(?!__)[a-zA-Z0-9_-]{1,64}|[\\s\\S]{1,11}|[\\x00-\\x7f]{1,46})$';

/**
 * The custom_id sent to Anthropic for kbatch's `id`: itself when valid (and not `__`-prefixed), else `__` +
 * base64url(UTF-8 of id). Reversed by {@link decodeCustomId}, so the join key is never lost.
 * @throws KbatchError LINT_FAILED when the id cannot be encoded in 64 characters (or is not valid Unicode)
 * @example encodeCustomId('row-1') // 'row-1'; encodeCustomId('a b') // '__YSBi'
 */
export function encodeCustomId(id: string): string {
  if (ANTHROPIC_CUSTOM_ID.test(id) && !id.startsWith(ENCODED)) return id;
  const bytes = Buffer.from(id, 'utf8');
  if (id === '' || bytes.length > MAX_ENCODED_BYTES || bytes.toString('utf8') !== id) {
    throw new KbatchError(
      'LINT_FAILED',
      `custom_id ${JSON.stringify(id)} cannot be sent to provider anthropic: it takes ^[a-zA-Z0-9_-]{1,64}$, and other ids are encoded only up to ${MAX_ENCODED_BYTES} UTF-8 bytes (shorten the ids, or run without --id-column)`,
      { customId: id },
    );
  }
  return ENCODED + bytes.toString('base64url');
}

/** kbatch's custom_id back from the one sent (see {@link encodeCustomId}). */
export function decodeCustomId(sent: string): string {
  return sent.startsWith(ENCODED) ? Buffer.from(sent.slice(ENCODED.length), 'base64url').toString('utf8') : sent;
}
