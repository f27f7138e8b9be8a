// The contract's values the web UI needs (docs/PROTOCOL.md), in one place. Limits a server may change
// are not here: they arrive in `welcome.limits` (see session.js).

/** WebSocket close codes the server sends. */
export const CloseCode = Object.freeze({
  goingAway: 1001,
  unsupportedData: 1003,
  invalidPayload: 1007,
  policyViolation: 1008, // rate limit or slow consumer: resume with `since`
  tooBig: 1009,
  replaced: 4001, // the same `session` connected elsewhere
  kicked: 4003, // kicked or banned by a moderator
  roomDeleted: 4004,
  tokenExpired: 4005,
});

/** `error.code` values the page reacts to. */
export const ErrorCode = Object.freeze({
  badRequest: 'bad_request',
  tooLarge: 'too_large',
  rateLimited: 'rate_limited',
  unavailable: 'unavailable',
  nickTaken: 'nick_taken',
  invalidNick: 'invalid_nick',
  notFound: 'not_found',
  forbidden: 'forbidden',
  unauthorized: 'unauthorized',
});

/** The role a connection holds in its room (§12); `member` when the server names none. */
export const Role = Object.freeze({ owner: 'owner', moderator: 'moderator', member: 'member' });

/** Room settings (§12): topic length in Unicode scalars, slow mode bounds in seconds. */
export const TOPIC_MAX_SCALARS = 300;
export const ROOM_NAME_MAX_SCALARS = 100;
export const SLOW_MODE_MAX_SECONDS = 3600;

/** A message carries at most this many attachments (§14). */
export const ATTACHMENTS_MAX = 10;

/** Files served with their own type and shown inline as images (§14); every other type is a download. */
export const INLINE_IMAGE_TYPES = Object.freeze(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** Room codes: 1–64 of letters, digits, `.`, `_`, `-`. */
export const ROOM_CODE = /^[A-Za-z0-9._-]{1,64}$/;

/** A nick is at most this many Unicode scalars after trimming. */
export const NICK_MAX_SCALARS = 32;

/** The largest `limit` a `history` command may ask for. */
export const HISTORY_MAX_LIMIT = 200;

/** Bytes of randomness in a `client_id` (the contract asks for at least 96 bits). */
export const CLIENT_ID_BYTES = 16;

/** A reaction's emoji: 1–16 Unicode scalars, no white space, no control or format character but the
 * zero-width joiner (so joined emoji work). */
export const REACTION_MAX_SCALARS = 16;

export function isValidReaction(emoji) {
  if (typeof emoji !== 'string') return false;
  const scalars = Array.from(emoji);
  return scalars.length >= 1 && scalars.length <= REACTION_MAX_SCALARS && !/[\s\p{Cc}]/u.test(emoji) && !/[\p{Cf}]/u.test(emoji.replaceAll('\u200d', ''));
}

/** At most this many distinct emoji per message. */
export const REACTIONS_MAX_DISTINCT = 20;

/** Search: `q` is at most this many bytes; `limit` at most this. */
export const SEARCH_MAX_QUERY_BYTES = 200;
export const SEARCH_MAX_LIMIT = 100;
