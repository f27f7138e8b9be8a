// A chat session's state across connections, with no DOM, socket, storage or clock of its own: the
// resume point (`since`, `rev`, `session`), the outbox of messages not yet echoed (each with its
// `client_id`, so a resend is never stored twice), the messages held (deduplicated by id, holes
// found and filled), the members, and the reconnect backoff. socket.js feeds it frames and the time;
// each method returns an Update saying what to send and show.

import { CLIENT_ID_BYTES, CloseCode, ErrorCode, HISTORY_MAX_LIMIT, NICK_MAX_SCALARS, Role, isValidReaction } from './protocol.js';
import { closeExplanation, refusalExplanation } from './auth.js';
import { NO_SETTINGS, canModerate, formatWait, isRole, leaveText, parseBans, postWaitMs, roomSettings, settingsText } from './moderation.js';

/** Our timings; none of them is the contract's. */
export const Timing = Object.freeze({
  backoffBaseMs: 300,
  backoffCapMs: 5000,
  welcomeTimeoutMs: 10000, // a socket that opens but never says welcome is as good as dead
  pingAfterIdleMs: 25000, // half-open TCP connections never fire `close`; a ping notices them
  closeAfterIdleMs: 45000,
  heartbeatEveryMs: 5000,
  retryAfterMs: 1500, // after `rate_limited` or `unavailable`
  typingSendEveryMs: 2100, // the server relays at most one per 2 s; a little slack for jitter
  typingShownMs: 3000, // how long a `typing` notice shows, and how long a pause ends typing
});

export const HISTORY_PAGE = 50;

export const Status = Object.freeze({
  connecting: 'connecting',
  reconnecting: 'reconnecting…',
  connected: 'connected',
  disconnected: 'disconnected',
});

/** The close codes after which reconnecting cannot help (it would only repeat the close). */
const FINAL_CLOSES = new Set([CloseCode.replaced, CloseCode.kicked, CloseCode.roomDeleted]);

/** Sockets refused before they opened, in a row, before the page asks the server why (and says so). */
export const PROBE_AFTER_FAILURES = 2;
export const EXPLAIN_AFTER_FAILURES = 4;

/** Exponential backoff with ±25 % jitter so a room does not stampede back; `random` in [0, 1). */
export function backoffDelay(attempt, random) {
  const exp = Math.min(Timing.backoffCapMs, Timing.backoffBaseMs * 2 ** attempt);
  return Math.min(exp * (0.75 + random * 0.5), Timing.backoffCapMs);
}

/** A `client_id` from CLIENT_ID_BYTES random bytes, as lowercase hex. */
export function clientIdFrom(bytes) {
  return Array.from(bytes, (x) => x.toString(16).padStart(2, '0')).join('');
}

export const sameNick = (a, b) => typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase();

export function isValidMessage(m) {
  return Boolean(m) && Number.isInteger(m.id) && typeof m.text === 'string' && typeof m.nick === 'string';
}

/** The message text mentions `nick` as `@nick` (case-insensitive, not inside a longer name). */
export function mentions(text, nick) {
  if (typeof text !== 'string' || !nick) return false;
  const lower = text.toLowerCase();
  const needle = '@' + nick.toLowerCase();
  for (let i = lower.indexOf(needle); i !== -1; i = lower.indexOf(needle, i + 1)) {
    const before = i === 0 ? '' : lower[i - 1];
    const after = lower.slice(i + needle.length, i + needle.length + 2);
    if (!/[\p{L}\p{N}_]/u.test(before) && !/^[\p{L}\p{N}_-]/u.test(after)) return true;
  }
  return false;
}

/** Whether `nick` is among those who reacted to `m` with `emoji`. */
export function hasReacted(m, emoji, nick) {
  const reaction = Array.isArray(m.reactions) ? m.reactions.find((r) => r.emoji === emoji) : null;
  return Boolean(reaction && Array.isArray(reaction.nicks) && reaction.nicks.some((n) => sameNick(n, nick)));
}

function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}

/**
 * When to tell the room we are typing. Leading edge: at once. Keystrokes inside the throttle window ask
 * for one trailing notice, so someone who keeps typing right after sending still shows as typing.
 */
export class TypingThrottle {
  constructor() {
    this.lastSent = null;
    this.lastKeystroke = null;
    this.waiting = false;
  }

  /** A keystroke: 0 to check at once, a wait in ms before checking, or null when a check is already due. */
  keystroke(now) {
    this.lastKeystroke = now;
    const wait = this.lastSent === null ? 0 : this.lastSent + Timing.typingSendEveryMs - now;
    if (wait <= 0) return 0;
    if (this.waiting) return null;
    this.waiting = true;
    return wait;
  }

  /** The check: whether to send `typing` for this draft now (never for an empty line or a command,
   * nor once the typist has paused long enough for the notice to end). Call sent() if it went out. */
  shouldSend(now, draft) {
    this.waiting = false;
    if (!draft.trim() || draft.startsWith('/')) return false;
    return now - this.lastKeystroke <= Timing.typingShownMs;
  }

  sent(now) {
    this.lastSent = now;
  }
}

/** What the page does after a transition. Lines come before messages: they are anchored after `after`. */
export class Update {
  constructor() {
    /** Commands to write now, in order. */
    this.frames = [];
    /** New messages, in id order. */
    this.fresh = [];
    /** Messages whose content changed (edits, deletions, reactions): redraw them. */
    this.changed = [];
    /** Quiet lines: {text, kind, after}, `after` the newest message id held when they happened. */
    this.lines = [];
    /** client_ids no longer waiting (echoed or refused for good). */
    this.acknowledged = [];
    /** The outbox changed: persist it. */
    this.outboxChanged = false;
    /** A new status to show, or null. */
    this.status = null;
    this.membersChanged = false;
    /** Typing indicators: a nick started, nicks stopped, or all of them stop. */
    this.typing = null;
    this.stoppedTyping = [];
    this.clearTyping = false;
    /** Call retry() after this many ms, or null. */
    this.retryAfterMs = null;
    /** Close the socket (it went quiet). */
    this.close = false;
    /** Our own rename: {from, to}. */
    this.renamed = null;
    /** welcome only: the room's name as the server has it. */
    this.room = null;
    /** A message to queue in the pending list ({client_id, text, ts}). */
    this.queued = null;
    /** This was the socket's welcome. */
    this.welcomed = false;
    /** Everything held was replaced (a resume whose updates were truncated): redraw all. */
    this.reloaded = false;
    /** Show this message id in context: it is held now. */
    this.jump = null;
    /** Messages from others that mention us. */
    this.mentioned = [];
    /** The role, the room's settings or the ban list changed: redraw what depends on them. */
    this.rulesChanged = false;
    this.bansChanged = false;
    /** A new moderator link {key, url} to show the owner. */
    this.moderatorLink = null;
    /** The token expired (4005) or was refused: ask the embedding page for a fresh one. */
    this.needToken = false;
    /** Sockets keep failing before they open: ask the server why (see auth.js probeRefusal). */
    this.probe = false;
    /** The room was deleted (4004): forget what was kept for it. */
    this.roomGone = false;
  }
}

export class ChatSession {
  /**
   * @param {string} room the room code
   * @param {{nick?: string|null, session?: string|null, outbox?: Array}} saved what the page kept: the
   *   nick to ask for, the session secret, and messages typed but never echoed
   */
  constructor(room, { nick = null, session = null, outbox = [], key = null, token = null } = {}) {
    this.room = room;
    /** An owner or moderator key (§12), sent as `key`. */
    this.key = key || null;
    /** A signed token (§13), sent as `auth`. */
    this.token = token || null;
    /** Our role in the room (§12) and its settings, as the server last said. */
    this.role = Role.member;
    this.settings = { ...NO_SETTINGS };
    /** The ban list of the last `bans` reply: [{nick, until}]. */
    this.bans = [];
    /** When the server last stored a message of ours (for slow mode), on the clock handed in. */
    this.lastPostAt = null;
    /** Members the server said are verified identities (§13). */
    this.verifiedMembers = new Set();
    /** Closed with 4005 (or refused with 401): waiting for setToken() before connecting again. */
    this.awaitingToken = false;
    /** Sockets refused before they opened since the last welcome. */
    this.failedOpens = 0;
    this.nick = nick || null;
    this.session = session || null;
    /** Messages sent but not yet echoed, oldest first: [{client_id, text, ts, attachments?}]. */
    this.outbox = outbox.filter((m) => m && typeof m.client_id === 'string' && typeof m.text === 'string');
    this.ownClientIds = new Set(this.outbox.map((m) => m.client_id));
    /** id → message, each id once. */
    this.messages = new Map();
    this.members = [];
    /** What this server allows (`welcome.limits`); null before welcome or from an older server. */
    this.limits = null;
    /** The room's newest revision seen (§11); null until a server reports one. */
    this.rev = null;
    this.connected = false; // the current socket has received welcome
    this.everWelcomed = false; // resume from here on, and say "reconnecting…"
    this.stopped = false; // closed for good (replaced by another tab, kicked): do not fight it
    this.attempt = 0;
    this.historyInFlight = false;
    this.retryPending = false;
    this.lastFrameAt = 0;
    /** While reloading after `updates_truncated`: the oldest id to reload down to. */
    this.reloadDownTo = null;
    /** A message to show in context once history reaches it. */
    this.jumpTarget = null;
    /** The type of the last change sent, to word a refusal that does not name its command. */
    this.lastChange = null;
  }

  // ---------- what the page asks ----------

  maxId() {
    let max = 0;
    for (const id of this.messages.keys()) if (id > max) max = id;
    return max;
  }

  minId() {
    let min = Infinity;
    for (const id of this.messages.keys()) if (id < min) min = id;
    return min === Infinity ? 0 : min;
  }

  sortedMessages() {
    return [...this.messages.values()].sort((a, b) => a.id - b.id);
  }

  /** Older messages exist below the oldest we hold. */
  get canLoadOlder() {
    return this.minId() > 1;
  }

  isOwn(m) {
    return Boolean(m.client_id && this.ownClientIds.has(m.client_id)) || sameNick(m.nick, this.nick);
  }

  /** Our newest message that can still be edited (for the up arrow), or null. */
  lastOwnMessage() {
    const own = this.sortedMessages().filter((m) => !m.deleted && this.isOwn(m));
    return own.length ? own.at(-1) : null;
  }

  maxMessageBytes() {
    const max = this.limits && this.limits.max_message_bytes;
    return Number.isInteger(max) && max > 0 ? max : null;
  }

  /** Query parameters for the next socket. After the first welcome we resume from the newest id we
   * hold: nothing missed, nothing twice. */
  connectionParams() {
    const params = [['room', this.room]];
    if (this.nick) params.push(['nick', this.nick]);
    if (this.session) params.push(['session', this.session]);
    if (this.key) params.push(['key', this.key]);
    if (this.token) params.push(['auth', this.token]);
    if (this.everWelcomed) {
      params.push(['since', String(this.maxId())]);
      if (this.rev !== null) params.push(['rev', String(this.rev)]);
    }
    return params;
  }

  // ---------- the connection ----------

  /** A socket is being opened. */
  connecting(now) {
    this.connected = false;
    this.lastFrameAt = now;
    const update = new Update();
    update.status = this.everWelcomed ? Status.reconnecting : Status.connecting;
    return update;
  }

  /**
   * The socket closed with `code` and `reason`; `opened` says whether it ever opened (a refusal before
   * the upgrade never does). Unless the close is final, reconnect after nextReconnectDelay().
   */
  closed(code, reason = '', opened = true) {
    const wasConnected = this.connected;
    this.connected = false;
    // A history request lost with the socket must not block paging and gap filling for good.
    this.historyInFlight = false;
    const update = new Update();
    update.clearTyping = true;
    if (FINAL_CLOSES.has(code)) {
      this.stopped = true;
      update.roomGone = code === CloseCode.roomDeleted;
      update.status = Status.disconnected;
      this.line(update, closeExplanation(code, reason), 'error');
      return update;
    }
    if (code === CloseCode.tokenExpired) {
      this.awaitingToken = true;
      update.needToken = true;
      update.status = Status.disconnected;
      this.line(update, closeExplanation(code, reason), 'error');
      return update;
    }
    update.status = this.everWelcomed ? Status.reconnecting : Status.connecting;
    if (!opened && !wasConnected) {
      this.failedOpens += 1;
      if (this.failedOpens === PROBE_AFTER_FAILURES) update.probe = true;
      if (this.failedOpens === EXPLAIN_AFTER_FAILURES) {
        this.line(update, 'The server is not letting this page in. It may be down, you may have been banned from this room, or your link may no longer be valid. Still trying…', 'error');
      }
    }
    return update;
  }

  /** What the server's plain `GET /ws` answered after sockets kept failing (see auth.js probeRefusal). */
  refused(status) {
    const update = new Update();
    if (this.connected || this.stopped) return update;
    if (this.key && status === 403) {
      // A revoked moderator key is refused before the upgrade: carry on as a member (the key stays
      // stored, so a reload tries it again; a ban is then refused without a key too).
      this.key = null;
      this.failedOpens = 0;
      this.attempt = 0;
      this.line(update, 'Your owner or moderator link is not accepted here any more. Joining as a member.', 'error');
      return update;
    }
    if (status === 401 && this.token) {
      this.awaitingToken = true;
      update.needToken = true;
    } else if (status === 401 || status === 403 || status === 404) {
      this.stopped = true;
    } else {
      return update;
    }
    update.status = Status.disconnected;
    this.line(update, refusalExplanation(status, null), 'error');
    return update;
  }

  /** A fresh token from the embedding page: connect again (resuming with `since`). */
  setToken(token) {
    const update = new Update();
    this.token = token;
    if (this.awaitingToken) {
      this.awaitingToken = false;
      this.attempt = 0;
      this.failedOpens = 0;
      if (!this.stopped) this.line(update, 'Signed in again. Reconnecting…');
    }
    return update;
  }

  /** Closed for good, or waiting for a token: the socket must not reconnect by itself. */
  get paused() {
    return this.stopped || this.awaitingToken;
  }

  /** How long until we may post (ms; Infinity while the room is locked to us). */
  postWait(now) {
    return postWaitMs(this.settings, this.role, this.lastPostAt, now);
  }

  get moderates() {
    return canModerate(this.role);
  }

  /** The wait before the next attempt; each call counts one attempt. */
  nextReconnectDelay(random) {
    const delay = backoffDelay(this.attempt, random);
    this.attempt += 1;
    return delay;
  }

  /** The network or the tab is back: skip the wait. */
  reconnectNow() {
    this.attempt = 0;
  }

  /** Called every Timing.heartbeatEveryMs. */
  heartbeat(now) {
    const update = new Update();
    if (!this.connected) return update;
    const idle = now - this.lastFrameAt;
    if (idle > Timing.closeAfterIdleMs) update.close = true;
    else if (idle > Timing.pingAfterIdleMs) update.frames.push({ type: 'ping' });
    return update;
  }

  /** One frame from the server (text). Frames that are not JSON objects with a type are ignored. */
  receive(data, now) {
    this.lastFrameAt = now;
    let ev;
    try { ev = JSON.parse(data); } catch { return new Update(); }
    if (!ev || typeof ev.type !== 'string') return new Update();
    const handler = EVENTS[ev.type];
    return handler ? handler.call(this, ev) : new Update();
  }

  // ---------- what the user does ----------

  /**
   * A message typed by the user: refused here when it is over the server's limit, else queued with a
   * new client_id and sent when connected.
   */
  say(text, { ts, randomBytes, replyTo = null, attachments = [], now = null }) {
    const update = new Update();
    const max = this.maxMessageBytes();
    const length = utf8Length(text);
    if (max !== null && length > max) {
      this.line(update, `That message is too long: ${length} bytes, and this server takes at most ${max} bytes.`, 'error');
      return update;
    }
    if (this.connected && now !== null) {
      const wait = this.postWait(now);
      if (wait === Infinity) {
        this.line(update, 'Not sent: this room is locked, and only its owner and moderators can post.', 'error');
        return update;
      }
      if (wait > 0) {
        this.line(update, `Not sent: slow mode is on, and you can send again in ${formatWait(wait)}.`, 'error');
        return update;
      }
    }
    const item = { client_id: clientIdFrom(randomBytes(CLIENT_ID_BYTES)), text, ts };
    if (Number.isInteger(replyTo) && replyTo > 0) item.reply_to = replyTo;
    if (attachments.length) item.attachments = [...attachments];
    this.outbox.push(item);
    this.ownClientIds.add(item.client_id);
    update.outboxChanged = true;
    update.queued = item;
    if (this.connected) update.frames.push(messageFrame(item));
    return update;
  }

  /** Changes to a message (§11) are sent only while connected: unlike messages they are not queued,
   * since the message may have changed meanwhile. */
  change(frame) {
    const update = new Update();
    if (this.connected) {
      update.frames.push(frame);
      this.lastChange = frame.type;
    }
    else this.line(update, 'You are offline. Try again once the connection is back.', 'error');
    return update;
  }

  edit(id, text) {
    const max = this.maxMessageBytes();
    const length = utf8Length(text);
    if (!text.trim() || (max !== null && length > max)) {
      const update = new Update();
      const why = text.trim() ? `That message is too long: ${length} bytes, and this server takes at most ${max} bytes.` : 'A message cannot be empty; delete it instead.';
      this.line(update, why, 'error');
      return update;
    }
    const held = this.messages.get(id);
    if (held && held.text === text) return new Update();
    return this.change({ type: 'edit', id, text });
  }

  remove(id) {
    return this.change({ type: 'delete', id });
  }

  /** A moderation command (§12): kick, ban, unban, bans, room, moderator_key, revoke_moderator_keys. */
  moderate(frame) {
    return this.change(frame);
  }

  /** Adds our reaction, or takes it back when we already reacted with that emoji. */
  toggleReaction(id, emoji) {
    if (!isValidReaction(emoji)) {
      const update = new Update();
      this.line(update, 'A reaction is one emoji (up to 16 characters, no spaces).', 'error');
      return update;
    }
    const held = this.messages.get(id);
    const type = held && hasReacted(held, emoji, this.nick) ? 'unreact' : 'react';
    return this.change({ type, id, emoji });
  }

  /** Show message `id` in context: at once when held, else after loading older history down to it. */
  jumpTo(id) {
    const update = new Update();
    if (!Number.isInteger(id) || id < 1) return update;
    if (this.messages.has(id)) {
      update.jump = id;
      return update;
    }
    this.jumpTarget = id;
    const oldest = this.minId();
    if (oldest > id) this.requestHistory(update, oldest, oldest - id + 10);
    return update;
  }

  /** A rename asked for by the user. */
  rename(nick) {
    const update = new Update();
    const trimmed = nick.trim();
    if (!trimmed) return update;
    if (Array.from(trimmed).length > NICK_MAX_SCALARS) {
      this.line(update, `Names can be at most ${NICK_MAX_SCALARS} characters.`, 'error');
    } else if (this.connected) {
      update.frames.push({ type: 'nick', nick: trimmed });
    } else {
      this.line(update, 'You are offline. Change your name once the connection is back.', 'error');
    }
    return update;
  }

  loadOlder() {
    const update = new Update();
    const oldest = this.minId();
    if (oldest > 1) this.requestHistory(update, oldest, HISTORY_PAGE);
    return update;
  }

  /** The pause after `rate_limited` or `unavailable` is over: resend what waits. */
  retry() {
    this.retryPending = false;
    const update = new Update();
    this.flushOutbox(update);
    return update;
  }

  // ---------- internals ----------

  line(update, text, kind = 'notice') {
    update.lines.push({ text, kind, after: this.maxId() });
  }

  flushOutbox(update) {
    if (!this.connected) return;
    for (const item of this.outbox) update.frames.push(messageFrame(item));
  }

  requestHistory(update, before, limit) {
    if (this.historyInFlight || !this.connected) return;
    update.frames.push({ type: 'history', before, limit: Math.max(1, Math.min(HISTORY_MAX_LIMIT, limit)) });
    this.historyInFlight = true;
  }

  // Ids grow by exactly one, so a hole in the ids we hold is a hole in what we saw (e.g. a resume that
  // was truncated). Fetch the messages just below the hole's upper edge until it is closed.
  fillGaps(update) {
    if (this.historyInFlight) return;
    const ids = [...this.messages.keys()].sort((a, b) => a - b);
    for (let i = ids.length - 1; i > 0; i--) {
      const gap = ids[i] - ids[i - 1] - 1;
      if (gap > 0) {
        this.requestHistory(update, ids[i], gap);
        return;
      }
    }
  }

  /** Our own echo (same client_id) is the acknowledgement; a refusal for good is one too. */
  acknowledge(update, clientId) {
    const index = this.outbox.findIndex((m) => m.client_id === clientId);
    if (index === -1) return;
    this.outbox.splice(index, 1);
    update.acknowledged.push(clientId);
    update.outboxChanged = true;
  }

  /** `current`: the messages are in their current state (history replies), so they replace what is held. */
  addMessages(update, list, current = false) {
    for (const m of list) {
      if (!isValidMessage(m)) continue;
      if (m.client_id) this.acknowledge(update, m.client_id);
      const held = this.messages.get(m.id);
      if (held) {
        // A resend or a resumed history overlap; a history page may also show a change we missed.
        if (current && JSON.stringify(held) !== JSON.stringify(m)) {
          this.messages.set(m.id, m);
          update.changed.push(m);
        }
        continue;
      }
      this.messages.set(m.id, m);
      update.fresh.push(m);
      if (!current && !this.isOwn(m) && mentions(m.text, this.nick)) update.mentioned.push(m);
    }
    update.fresh.sort((a, b) => a.id - b.id);
  }

  // More changes were missed than a welcome carries: reload every message held up to `since` from the
  // newest down, page by page (history pages show current state).
  startReload(update, since) {
    const oldest = this.minId();
    if (oldest === 0 || oldest > since) return;
    this.reloadDownTo = oldest;
    this.historyInFlight = false;
    this.requestHistory(update, since + 1, HISTORY_MAX_LIMIT);
  }

  /** After a history page: reload further, or jump once the target is held. */
  continuePaging(update, page) {
    const first = page.length ? page[0].id : null;
    if (this.reloadDownTo !== null) {
      if (first !== null && first > this.reloadDownTo) {
        this.requestHistory(update, first, HISTORY_MAX_LIMIT);
        return;
      }
      this.reloadDownTo = null;
      update.reloaded = true;
    }
    if (this.jumpTarget !== null) {
      if (this.messages.has(this.jumpTarget)) {
        update.jump = this.jumpTarget;
        this.jumpTarget = null;
      } else if (first !== null && first > this.jumpTarget) {
        this.requestHistory(update, first, first - this.jumpTarget + 10);
        return;
      } else {
        this.jumpTarget = null; // gone (never existed): nothing to show
      }
    }
  }

  /** Changes to messages (§11): each carries the message's current state, so order does not matter. */
  applyChanges(update, list) {
    for (const m of list) {
      if (!isValidMessage(m) || !this.messages.has(m.id)) continue;
      this.messages.set(m.id, m);
      update.changed.push(m);
    }
  }

  noteRev(rev) {
    if (Number.isInteger(rev) && rev >= 0 && (this.rev === null || rev > this.rev)) this.rev = rev;
  }

  setMembers(update, list) {
    const unique = [];
    for (const n of list) if (typeof n === 'string' && !unique.includes(n)) unique.push(n);
    if (this.nick && !unique.includes(this.nick)) unique.push(this.nick);
    this.members = unique;
    update.membersChanged = true;
  }

  setNick(update, nick) {
    const previous = this.nick;
    this.nick = nick;
    if (previous !== nick) this.setMembers(update, this.members.map((m) => (m === previous ? nick : m)));
  }
}

function messageFrame(item) {
  const frame = { type: 'message', text: item.text, client_id: item.client_id };
  if (item.reply_to) frame.reply_to = item.reply_to;
  if (Array.isArray(item.attachments) && item.attachments.length) frame.attachments = item.attachments;
  return frame;
}

const MODERATION_COMMANDS = new Set(['kick', 'ban', 'unban', 'bans', 'room', 'moderator_key', 'revoke_moderator_keys']);

/** One handler per server event type, called on the session. */
const EVENTS = {
  welcome(ev) {
    const update = new Update();
    update.welcomed = true;
    const wanted = this.nick;
    const first = !this.everWelcomed;
    this.connected = true;
    this.everWelcomed = true;
    this.attempt = 0;
    this.failedOpens = 0;
    this.session = ev.session || null;
    this.role = isRole(ev.role) ? ev.role : Role.member;
    this.settings = roomSettings(NO_SETTINGS, ev.room);
    update.rulesChanged = true;
    if (Array.isArray(ev.verified_members)) this.verifiedMembers = new Set(ev.verified_members.filter((n) => typeof n === 'string'));
    if (ev.verified === true && typeof ev.nick === 'string') this.verifiedMembers.add(ev.nick);
    this.setNick(update, ev.nick);
    this.limits = ev.limits && typeof ev.limits === 'object' ? ev.limits : null;
    this.noteRev(ev.rev);
    if (ev.room) update.room = ev.room;
    this.setMembers(update, Array.isArray(ev.members) ? ev.members : []);
    if (wanted && !sameNick(wanted, ev.nick)) {
      this.line(update, `The name “${wanted}” is in use here, so you are “${ev.nick}”.`);
    } else if (!first) {
      this.line(update, 'Reconnected.');
    }
    const since = first ? null : this.maxId();
    this.reloadDownTo = null;
    this.jumpTarget = null;
    this.addMessages(update, Array.isArray(ev.history) ? ev.history : []);
    if (first) update.mentioned = []; // old mentions are history, not news
    if (Array.isArray(ev.updates)) this.applyChanges(update, ev.updates);
    update.status = Status.connected;
    this.flushOutbox(update);
    if (ev.updates_truncated === true && since !== null) this.startReload(update, since);
    else this.fillGaps(update);
    return update;
  },

  message(ev) {
    const update = new Update();
    const { type, ...message } = ev; // held as the message object alone, the same shape as in history
    // Our own echo starts the slow-mode wait (the server counts from when it stored the message).
    if (ev.client_id && this.outbox.some((m) => m.client_id === ev.client_id)) {
      this.lastPostAt = this.lastFrameAt;
      update.rulesChanged = true;
    }
    this.addMessages(update, [message]);
    update.stoppedTyping.push(ev.nick);
    return update;
  },

  update(ev) {
    const update = new Update();
    this.noteRev(ev.rev);
    if (ev.message) this.applyChanges(update, [ev.message]);
    return update;
  },

  history(ev) {
    const update = new Update();
    this.historyInFlight = false;
    const held = this.messages.size;
    const page = (Array.isArray(ev.messages) ? ev.messages : []).filter(isValidMessage).sort((a, b) => a.id - b.id);
    this.addMessages(update, page, true);
    this.continuePaging(update, page);
    // Keep filling holes only while pages bring something new, so an unfillable hole cannot loop.
    if (this.messages.size > held) this.fillGaps(update);
    return update;
  },

  join(ev) {
    const update = new Update();
    if (!this.members.some((m) => m === ev.nick)) this.setMembers(update, [...this.members, ev.nick]);
    if (ev.verified === true) {
      this.verifiedMembers.add(ev.nick);
      update.membersChanged = true;
    }
    this.line(update, `${ev.nick} joined`, 'join');
    return update;
  },

  leave(ev) {
    const update = new Update();
    this.setMembers(update, this.members.filter((m) => m !== ev.nick));
    this.verifiedMembers.delete(ev.nick);
    update.stoppedTyping.push(ev.nick);
    this.line(update, leaveText(ev), 'leave');
    if (ev.reason === 'banned' && this.moderates) update.bansChanged = true;
    return update;
  },

  room(ev) {
    const update = new Update();
    const before = this.settings;
    this.settings = roomSettings(before, ev.room);
    update.rulesChanged = true;
    if (ev.room) update.room = { ...ev.room, name: this.settings.name };
    const text = settingsText(before, this.settings);
    if (text) this.line(update, text, 'notice');
    return update;
  },

  bans(ev) {
    const update = new Update();
    this.bans = parseBans(ev.bans);
    update.bansChanged = true;
    return update;
  },

  // Not in the contract's tables: a server that tells a connection its role changed (e.g. after
  // revoke_moderator_keys) may send {type: "role", role}; the page follows it.
  role(ev) {
    const update = new Update();
    if (isRole(ev.role) && ev.role !== this.role) {
      this.role = ev.role;
      update.rulesChanged = true;
      this.line(update, ev.role === Role.member ? 'You are no longer a moderator of this room.' : `You are now ${ev.role === Role.owner ? 'the owner' : 'a moderator'} of this room.`);
    }
    return update;
  },

  moderator_key(ev) {
    const update = new Update();
    if (typeof ev.url === 'string') update.moderatorLink = { key: typeof ev.key === 'string' ? ev.key : null, url: ev.url };
    return update;
  },

  nick(ev) {
    const update = new Update();
    const mine = ev.from === this.nick;
    this.setMembers(update, this.members.map((m) => (m === ev.from ? ev.to : m)));
    update.stoppedTyping.push(ev.from);
    if (mine) {
      this.setNick(update, ev.to);
      update.renamed = { from: ev.from, to: ev.to };
      this.line(update, `You are now ${ev.to}`, 'nick');
    } else {
      this.line(update, `${ev.from} is now ${ev.to}`, 'nick');
    }
    return update;
  },

  typing(ev) {
    const update = new Update();
    if (typeof ev.nick === 'string' && ev.nick !== this.nick) update.typing = ev.nick;
    return update;
  },

  pong() {
    return new Update(); // lastFrameAt was already refreshed
  },

  error(ev) {
    const update = new Update();
    const max = this.maxMessageBytes();
    const text = {
      [ErrorCode.nickTaken]: 'That name is already taken in this room.',
      [ErrorCode.invalidNick]: `That name cannot be used. Names are 1–${NICK_MAX_SCALARS} characters.`,
      [ErrorCode.tooLarge]: !ev.client_id && this.lastChange === 'react' ? 'That message has as many different reactions as it can take.'
        : max ? `That message is too long (the limit is ${max} bytes).` : 'That message is too long.',
      [ErrorCode.notFound]: ev.client_id ? 'Not sent: the message you replied to is not there any more, or one of its files expired.'
        : MODERATION_COMMANDS.has(this.lastChange) ? 'Nobody by that name is in the room (or on the ban list).' : 'That message is not there any more.',
      [ErrorCode.forbidden]: this.settings.locked && !this.moderates ? 'Not done: this room is locked, and only its owner and moderators can post or react.'
        : MODERATION_COMMANDS.has(this.lastChange) ? 'Only the room’s owner and moderators can do that.' : 'You cannot do that to this message.',
    }[ev.code] || ev.message || 'The server refused that.';
    // An error answering a history request (e.g. a bad limit) also ends that request.
    if (ev.code === ErrorCode.badRequest && !ev.client_id) this.historyInFlight = false;
    if ((ev.code === ErrorCode.rateLimited || ev.code === ErrorCode.unavailable) && !ev.client_id && this.lastChange) {
      // Our messages always carry a client_id, so this refused a change, which is not queued.
      this.line(update, `That change was not made (${ev.message || 'the server is busy'}). Try again in a moment.`, 'error');
      return update;
    }
    if (ev.code === ErrorCode.rateLimited || ev.code === ErrorCode.unavailable) {
      // Not stored; still in the outbox. One retry at a time, and resending is safe thanks to client_id.
      // Under slow mode the retry waits for the whole slow-mode interval, which the server counts.
      const slow = ev.code === ErrorCode.rateLimited && this.settings.slow_mode > 0 && !this.moderates ? this.settings.slow_mode * 1000 : 0;
      this.line(update, slow ? `Slow mode: your message will be sent in ${formatWait(slow)}.` : 'Your message was not stored yet. It will be retried in a moment.', 'error');
      if (!this.retryPending) {
        this.retryPending = true;
        update.retryAfterMs = Math.max(Timing.retryAfterMs, slow);
      }
      return update;
    }
    // The server names the refused message: it will never be accepted, so stop resending it (a locked
    // room refuses it with `forbidden`).
    const forGood = [ErrorCode.tooLarge, ErrorCode.badRequest, ErrorCode.notFound, ErrorCode.forbidden];
    if (ev.client_id && forGood.includes(ev.code)) {
      this.acknowledge(update, ev.client_id);
    }
    this.line(update, text, 'error');
    return update;
  },
};
