// kbatch's custom_ids (any non-empty string with --id-column) ↔ Anthropic's `^[a-zA-Z0-9_-]{1,64}$`, reversibly,
// each behind its chunk's tag so a batch's results prove which chunk they answer (Anthropic batches have no metadata).
import { KbatchError } from '../../errors.js';

/** What Anthropic accepts as a custom_id (API reference, Message Batches create). */
export const ANTHROPIC_CUSTOM_ID = /^[a-zA-Z0-9_-]{1,64}$/;

/** A chunk's tag: the first 8 hex digits of its sha256, then `_`, in front of every custom_id sent. */
const TAG = /^[0-9a-f]{8}_/;
const TAG_LENGTH = 9;
/** Marks an encoded id: an id sent as it is never starts with it, so decoding is unambiguous. */
const ENCODED = '__';
/** Room for the id after the tag (64 − 9). */
const ROOM = 64 - TAG_LENGTH;
/** The most UTF-8 bytes an encoded id carries: base64url of 39 bytes is 52 characters, plus the marker (≤ 55). */
const MAX_ENCODED_BYTES = 39;

/**
 * The ids {@link encodeCustomId} can send, as a lint pattern (for the profile's `customIdPattern`): a valid id of at
 * most 55 characters not starting with `__` is sent as is; any other id of at most 9 UTF-16 units or 39 ASCII
 * characters (both at most 39 UTF-8 bytes) is sent base64url-encoded behind `__`. Others are refused at lint.
 */
export const ENCODABLE_CUSTOM_ID = '^(?:(?!__)[a-zA-Z0-9_-]{1,55}|[\\s\\S]{1,9}|[\\x00-\\x7f]{1,39})$';

/** The tag of a chunk whose sha256 (hex) is given. */
export const chunkTag = (sha256: string): string => sha256.slice(0, 8).toLowerCase();

/**
 * The custom_id sent to Anthropic for kbatch's `id` in the chunk tagged `tag`: `<tag>_` + the id itself when valid
 * (at most 55 characters, not `__`-prefixed), else `<tag>___` + base64url(UTF-8 of id). Reversed by
 * {@link decodeCustomId}, so the join key is never lost.
 * @throws KbatchError LINT_FAILED when the id cannot be encoded in 64 characters (or is not valid Unicode)
 * @example encodeCustomId('row-1', '0a1b2c3d') // '0a1b2c3d_row-1'; encodeCustomId('a b', '0a1b2c3d') // '0a1b2c3d___YSBi'
 */
export function encodeCustomId(id: string, tag: string): string {
  if (id.length <= ROOM && ANTHROPIC_CUSTOM_ID.test(id) && !id.startsWith(ENCODED)) return `${tag}_${id}`;
  const bytes = Buffer.from(id, 'utf8');
  if (id === '' || bytes.length > MAX_ENCODED_BYTES || bytes.toString('utf8') !== id) {
    throw new KbatchError(
      'LINT_FAILED',
      `custom_id ${JSON.stringify(id)} cannot be sent to provider anthropic: it takes ^[a-zA-Z0-9_-]{1,64}$ and kbatch needs 9 of them for the chunk's tag; other ids are encoded only up to ${MAX_ENCODED_BYTES} UTF-8 bytes (shorten the ids, or run without --id-column)`,
      { customId: id },
    );
  }
  return `${tag}_${ENCODED}${bytes.toString('base64url')}`;
}

/** The tag of a sent custom_id (null when it has none: not sent by kbatch). */
export const tagOf = (sent: string): string | null => (TAG.test(sent) ? sent.slice(0, TAG_LENGTH - 1) : null);

/** kbatch's custom_id back from the one sent (see {@link encodeCustomId}); an untagged id is returned as it is. */
export function decodeCustomId(sent: string): string {
  if (!TAG.test(sent)) return sent;
  const id = sent.slice(TAG_LENGTH);
  return id.startsWith(ENCODED) ? Buffer.from(id.slice(ENCODED.length), 'base64url').toString('utf8') : id;
}
