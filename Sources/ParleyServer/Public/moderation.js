// Room owners and moderation (§12) without DOM: who may do what, the room's settings as the server
// states them, the frames the moderation commands send, and when a member may post again in a locked
// room or under slow mode. session.js applies the events; moderation-view.js draws them.

import { Role, ROOM_NAME_MAX_SCALARS, SLOW_MODE_MAX_SECONDS, TOPIC_MAX_SCALARS } from './protocol.js';

export const isRole = (role) => role === Role.owner || role === Role.moderator || role === Role.member;

/** Owners and moderators may kick, ban, delete any message and change the room's settings. */
export const canModerate = (role) => role === Role.owner || role === Role.moderator;

/** Room settings as `welcome.room` and the `room` event carry them; absent fields keep their old value. */
export function roomSettings(previous, room) {
  const out = { ...previous };
  if (!room || typeof room !== 'object') return out;
  if (room.name === null || typeof room.name === 'string') out.name = room.name;
  if (room.topic === null || typeof room.topic === 'string') out.topic = room.topic || null;
  if (typeof room.locked === 'boolean') out.locked = room.locked;
  if (Number.isInteger(room.slow_mode) && room.slow_mode >= 0) out.slow_mode = room.slow_mode;
  return out;
}

export const NO_SETTINGS = Object.freeze({ name: null, topic: null, locked: false, slow_mode: 0 });

/**
 * How long (ms) until this member may post: 0 now, Infinity while the room is locked to them.
 * `lastPostAt` is when our last message was accepted (ms on the same clock as `now`), or null.
 */
export function postWaitMs(settings, role, lastPostAt, now) {
  if (canModerate(role)) return 0;
  if (settings.locked) return Infinity;
  if (!settings.slow_mode || lastPostAt === null) return 0;
  return Math.max(0, lastPostAt + settings.slow_mode * 1000 - now);
}

/** Whole seconds as the hint shows them: "45 s", "2 min 5 s". */
export function formatWait(ms) {
  const total = Math.ceil(ms / 1000);
  if (total < 60) return `${total} s`;
  const min = Math.floor(total / 60);
  const s = total % 60;
  return s ? `${min} min ${s} s` : `${min} min`;
}

/** The line near the composer that says what the room's rules mean for us now, or '' when none apply. */
export function rulesHint(settings, role, lastPostAt, now) {
  if (settings.locked) {
    return canModerate(role) ? 'The room is locked: only you and the other moderators can post.'
      : 'This room is locked. Only its owner and moderators can post; you can still read along.';
  }
  if (!settings.slow_mode) return '';
  const every = formatWait(settings.slow_mode * 1000);
  if (canModerate(role)) return `Slow mode is on (one message per ${every} for members); it does not apply to you.`;
  const wait = postWaitMs(settings, role, lastPostAt, now);
  return wait > 0 ? `Slow mode: you can send again in ${formatWait(wait)}.` : `Slow mode is on: one message per ${every}.`;
}

const scalars = (text) => Array.from(text).length;

/**
 * The `room` command for the settings form: only the fields that differ from `current`, or an
 * `{error}` in plain words, or null when nothing changed.
 */
export function roomChange(current, form) {
  const frame = { type: 'room' };
  const name = form.name.trim();
  const topic = form.topic.trim();
  const slow = Number(form.slow_mode);
  if (scalars(name) > ROOM_NAME_MAX_SCALARS) return { error: `A room name can be at most ${ROOM_NAME_MAX_SCALARS} characters.` };
  if (scalars(topic) > TOPIC_MAX_SCALARS) return { error: `A topic can be at most ${TOPIC_MAX_SCALARS} characters.` };
  if (!Number.isInteger(slow) || slow < 0 || slow > SLOW_MODE_MAX_SECONDS) {
    return { error: `Slow mode is a whole number of seconds from 0 (off) to ${SLOW_MODE_MAX_SECONDS}.` };
  }
  if ((name || null) !== (current.name || null)) frame.name = name || null;
  if ((topic || null) !== (current.topic || null)) frame.topic = topic || null;
  if (Boolean(form.locked) !== Boolean(current.locked)) frame.locked = Boolean(form.locked);
  if (slow !== (current.slow_mode || 0)) frame.slow_mode = slow;
  return Object.keys(frame).length > 1 ? frame : null;
}

/** `ban` for `seconds` (a positive integer), or until unbanned when `seconds` is null. */
export function banFrame(nick, seconds = null) {
  const frame = { type: 'ban', nick };
  if (Number.isInteger(seconds) && seconds > 0) frame.seconds = seconds;
  return frame;
}

/** The ban list of a `bans` reply, cleaned: [{nick, until}] with `until` a Date or null (for good). */
export function parseBans(list) {
  if (!Array.isArray(list)) return [];
  return list.filter((b) => b && typeof b.nick === 'string').map((b) => {
    const until = typeof b.until === 'string' ? new Date(b.until) : null;
    return { nick: b.nick, until: until && !Number.isNaN(until.getTime()) ? until : null };
  });
}

/** The quiet line for a `leave`, which names a moderator's reason (§12: moderation is never silent). */
export function leaveText(ev) {
  if (ev.reason === 'kicked') return `${ev.nick} was removed from the room by a moderator`;
  if (ev.reason === 'banned') return `${ev.nick} was banned from the room by a moderator`;
  return `${ev.nick} left`;
}

/** What changed in the settings, as a line for everyone (null when nothing the room sees changed). */
export function settingsText(before, after) {
  const parts = [];
  if ((before.name || null) !== (after.name || null)) parts.push(after.name ? `renamed the room “${after.name}”` : 'removed the room’s name');
  if ((before.topic || null) !== (after.topic || null)) parts.push(after.topic ? `set the topic: “${after.topic}”` : 'cleared the topic');
  if (before.locked !== after.locked) parts.push(after.locked ? 'locked the room' : 'unlocked the room');
  if (before.slow_mode !== after.slow_mode) {
    parts.push(after.slow_mode ? `turned on slow mode (one message per ${formatWait(after.slow_mode * 1000)})` : 'turned off slow mode');
  }
  if (!parts.length) return null;
  const text = 'A moderator ' + parts.join(', ') + '.';
  return text;
}
