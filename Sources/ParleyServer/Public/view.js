// The chat's DOM: messages, quiet lines, pending messages, members, typing, status. It draws what the
// session holds and keeps only drawing state of its own (what the last line was, for grouping).
//
// User-supplied text only ever reaches the page through textContent / createTextNode, never innerHTML,
// so a message cannot inject markup.

import { Timing, hasReacted, sameNick } from './session.js';
import { attachmentsNode } from './files-view.js';

export const $ = (id) => document.getElementById(id);

const GROUP_WINDOW_MS = 5 * 60 * 1000;
const AVATAR_HUES = 8;
const MAX_LINES = 500; // quiet lines are not worth unbounded memory

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function hueClass(nick) {
  let h = 0;
  for (const ch of nick.toLowerCase()) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return 'hue-' + (h % AVATAR_HUES);
}

function avatar(nick) {
  const first = Array.from(nick.trim())[0] || '?';
  const node = el('span', 'avatar ' + hueClass(nick), first.toUpperCase());
  node.setAttribute('aria-hidden', 'true');
  return node;
}

function formatTime(date) {
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function dayKey(date) {
  return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
}

function dayLabel(date) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(date) === dayKey(today)) return 'Today';
  if (dayKey(date) === dayKey(yesterday)) return 'Yesterday';
  return date.toLocaleDateString([], { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });
}

// Only http(s) URLs become links, built through the DOM; everything else stays plain text,
// so `javascript:` can never end up in an href.
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;

// `@name` is highlighted; `@` + our own nick more so.
const MENTION_PATTERN = /(^|[^\p{L}\p{N}_])(@[\p{L}\p{N}._-]*[\p{L}\p{N}_])/gu;

function appendMentions(parent, text, me) {
  let last = 0;
  for (const match of text.matchAll(MENTION_PATTERN)) {
    const start = match.index + match[1].length;
    parent.append(document.createTextNode(text.slice(last, start)));
    const mine = me && sameNick(match[2].slice(1), me);
    parent.append(el('span', mine ? 'mention mention-me' : 'mention', match[2]));
    last = start + match[2].length;
  }
  parent.append(document.createTextNode(text.slice(last)));
}

/** A one-line preview of a message, for replies and search results. */
export function preview(m, max = 90) {
  if (m.deleted) return 'deleted message';
  const files = Array.isArray(m.attachments) ? m.attachments.length : 0;
  if (!m.text.trim() && files) return files === 1 ? `a file: ${m.attachments[0].name}` : `${files} files`;
  const flat = m.text.replace(/\s+/g, ' ').trim();
  const scalars = Array.from(flat);
  return scalars.length > max ? scalars.slice(0, max - 1).join('') + '…' : flat;
}

function appendRichText(parent, text, me) {
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const raw = match[0].replace(/[.,!?;:)\]}]+$/, '');
    const start = match.index;
    let url = null;
    try { url = new URL(raw); } catch { url = null; }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) continue;
    appendMentions(parent, text.slice(last, start), me);
    const a = el('a', 'msg-link', raw);
    a.href = url.href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    parent.append(a);
    last = start + raw.length;
  }
  appendMentions(parent, text.slice(last), me);
}

/** The mark beside a verified member's nick (§13): an app vouched for who they are. */
export function verifiedMark() {
  const mark = el('span', 'verified-mark', '✓');
  mark.dataset.testid = 'verified-mark';
  mark.setAttribute('role', 'img');
  mark.setAttribute('aria-label', 'verified');
  mark.title = 'Verified: the app this chat belongs to vouches for this name';
  return mark;
}

function button(className, text, action, label) {
  const b = el('button', className, text);
  b.type = 'button';
  b.dataset.action = action;
  if (label) b.setAttribute('aria-label', label);
  return b;
}

export class ChatView {
  /** @param {import('./session.js').ChatSession} session what to draw */
  constructor(session) {
    this.session = session;
    this.lastItem = null; // what the last rendered line was, for grouping
    this.renderedMaxId = 0;
    this.lines = []; // quiet lines (join/leave/notices), anchored after a message id
    this.lineSeq = 0;
    this.typers = new Map(); // nick -> timeout handle
    this.unread = 0;
    /** Messages fetched over HTTP because a reply quotes them and they are not held: id → message. */
    this.parents = new Map();
    this.fetchingParents = new Set();
    /** The first message that arrived while the tab was hidden: the "new messages" divider goes above it. */
    this.dividerBefore = null;
    this.flashTimer = null;
  }

  /** Draws everything an update from the session says changed. */
  apply(update) {
    for (const line of update.lines) this.addLine(line);
    if (update.membersChanged) this.renderMembers();
    if (update.room) this.setRoomName(update.room.name);
    if (update.fresh.length) this.addMessages(update.fresh);
    if (update.reloaded) this.preservingScroll('insert', () => this.renderAll());
    else if (update.changed.length) this.preservingScroll('insert', () => update.changed.forEach((m) => this.replaceMessage(m)));
    if (update.jump !== null) this.jump(update.jump);
    for (const clientId of update.acknowledged) this.removePending(clientId);
    if (update.queued) {
      this.preservingScroll('append', () => this.renderPending(update.queued));
      this.scrollToBottom();
    }
    for (const nick of update.stoppedTyping) this.stopTyping(nick);
    if (update.clearTyping) this.clearTypers();
    if (update.typing) this.startTyping(update.typing);
    if (update.status) this.setStatus(update.status);
    this.updateEmptyState();
    this.updateLoadOlder();
  }

  // ---------- room and status ----------

  // A named room shows its name over its code. Unnamed, a short hand-picked code ("lobby") is a fine
  // title, but a generated 32-character capability is not, so it moves to the subtitle.
  setRoomName(name) {
    const room = this.session.room;
    const roomName = typeof name === 'string' && name.trim() ? name : null;
    const codeAsTitle = !roomName && room.length <= 20;
    $('room-name').textContent = roomName || (codeAsTitle ? room : 'Private room');
    $('room-code').textContent = codeAsTitle ? 'Room code' : room;
    $('room-code').classList.toggle('muted', codeAsTitle);
    this.updateTitle();
  }

  setTopic(topic) {
    const node = $('room-topic');
    node.textContent = topic || '';
    node.title = topic || '';
    node.hidden = !topic;
  }

  setStatus(status) {
    const pill = $('connection-status');
    pill.textContent = status;
    pill.className = 'status-pill ' + ({
      'connected': 'status-connected',
      'connecting': 'status-connecting',
      'reconnecting…': 'status-reconnecting',
    }[status] || 'status-offline');
    document.body.classList.toggle('is-offline', status !== 'connected');
    this.refreshPendingLabels();
  }

  updateTitle() {
    const base = ($('room-name').textContent || 'Room') + ' · Parley';
    document.title = this.unread ? `(${this.unread}) ${base}` : base;
  }

  /** The tab is visible again. */
  seen() {
    this.unread = 0;
    this.updateTitle();
  }

  // ---------- messages ----------

  addMessages(fresh) {
    const inOrder = fresh[0].id > this.renderedMaxId;
    this.preservingScroll(inOrder ? 'append' : 'insert', () => {
      if (inOrder) fresh.forEach((m) => this.appendMessageNode(m));
      else this.renderAll();
    });
    // Messages from others that arrive while the tab is hidden show up in the title, below a divider.
    if (document.hidden && this.session.everWelcomed) {
      const others = fresh.filter((m) => !this.session.isOwn(m));
      if (others.length && this.unread === 0) this.placeDivider(others[0].id);
      this.unread += others.length;
      this.updateTitle();
    }
  }

  placeDivider(id) {
    this.dividerBefore = id;
    const old = $('messages').querySelector('.new-divider');
    if (old) old.remove();
    const node = $('messages').querySelector(`[data-id="${id}"]`);
    if (node) node.before(this.dividerNode());
  }

  dividerNode() {
    const li = el('li', 'new-divider');
    li.dataset.testid = 'new-messages-divider';
    li.append(el('span', '', 'New messages'));
    return li;
  }

  /** Shows message `id` in context: scrolled to the middle, focused, and briefly highlighted. */
  jump(id) {
    const node = $('messages').querySelector(`[data-id="${id}"]`);
    if (!node) return;
    for (const other of $('messages').querySelectorAll('.msg.flash')) other.classList.remove('flash');
    node.tabIndex = -1;
    node.scrollIntoView({ block: 'center' });
    node.focus({ preventScroll: true });
    node.classList.add('flash');
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => node.classList.remove('flash'), 2500);
  }

  /** Redraws one changed message in place (and the quotes of it), keeping the keyboard focus inside it. */
  replaceMessage(m) {
    const old = $('messages').querySelector(`.msg[data-id="${m.id}"]`);
    if (!old) return;
    const active = old.contains(document.activeElement) ? document.activeElement : null;
    const node = this.messageNode(m, old.classList.contains('grouped'), false);
    node.dataset.id = String(m.id);
    old.replaceWith(node);
    for (const quote of $('messages').querySelectorAll(`.reply-preview[data-target="${m.id}"]`)) this.fillPreview(quote, m.id);
    if (!active) return;
    // The same control in the new node, else the node itself.
    const { action, emoji } = active.dataset || {};
    let target = null;
    if (action) target = [...node.querySelectorAll(`[data-action="${action}"]`)].find((b) => (b.dataset.emoji || '') === (emoji || ''));
    if (!target) {
      node.tabIndex = -1;
      target = node;
    }
    target.focus({ preventScroll: true });
  }

  // ---------- replies ----------

  replyPreview(id) {
    const b = button('reply-preview', undefined, 'jump');
    b.dataset.testid = 'reply-preview';
    b.dataset.target = String(id);
    this.fillPreview(b, id);
    return b;
  }

  fillPreview(node, id) {
    const parent = this.session.messages.get(id) || this.parents.get(id);
    const arrow = el('span', 'reply-arrow', '↳');
    arrow.setAttribute('aria-hidden', 'true');
    const parts = [arrow, el('span', 'visually-hidden', 'In reply to ')];
    if (parent) parts.push(el('span', 'reply-nick', parent.nick), el('span', 'reply-text', preview(parent)));
    else parts.push(el('span', 'reply-text', `message #${id}`));
    node.replaceChildren(...parts);
    if (!parent) this.fetchParent(id);
  }

  /** A reply quotes a message that is not held (older than what is loaded): fetch just that one. */
  async fetchParent(id) {
    if (this.fetchingParents.has(id)) return;
    this.fetchingParents.add(id);
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(this.session.room)}/messages/${id}`);
      if (!response.ok) return;
      const message = await response.json();
      if (!message || message.id !== id || typeof message.text !== 'string') return;
      this.parents.set(id, message);
      for (const node of $('messages').querySelectorAll(`.reply-preview[data-target="${id}"]`)) this.fillPreview(node, id);
    } catch {
      // Offline: the preview keeps its "message #id" until the next redraw tries again.
    } finally {
      this.fetchingParents.delete(id);
    }
  }

  // ---------- reactions and actions ----------

  reactionsNode(m) {
    const row = el('div', 'reactions');
    for (const r of m.reactions) {
      if (!r || typeof r.emoji !== 'string' || !Array.isArray(r.nicks) || r.nicks.length === 0) continue;
      const mine = hasReacted(m, r.emoji, this.session.nick);
      const b = button('reaction', undefined, 'toggle-reaction');
      b.dataset.testid = 'reaction';
      b.dataset.emoji = r.emoji;
      b.setAttribute('aria-pressed', String(mine));
      b.title = r.nicks.join(', ');
      b.append(el('span', 'reaction-emoji', r.emoji), el('span', 'reaction-count', String(r.nicks.length)),
        el('span', 'visually-hidden', ` by ${r.nicks.join(', ')}`));
      row.append(b);
    }
    return row;
  }

  actionsNode(m, own) {
    const bar = el('div', 'msg-actions');
    const reply = button('msg-action', 'Reply', 'reply', `Reply to ${m.nick}`);
    reply.dataset.testid = 'reply-button';
    const react = button('msg-action', 'React', 'react', `React to ${m.nick}’s message`);
    react.dataset.testid = 'react-button';
    react.setAttribute('aria-haspopup', 'dialog');
    bar.append(reply, react);
    if (own) {
      const edit = button('msg-action', 'Edit', 'edit', 'Edit your message');
      edit.dataset.testid = 'edit-button';
      const remove = button('msg-action msg-action-danger', 'Delete', 'delete', 'Delete your message');
      remove.dataset.testid = 'delete-button';
      bar.append(edit, remove);
    } else if (this.session.moderates) {
      const more = button('msg-action', 'Moderate', 'moderate', `Moderate ${m.nick}’s message`);
      more.dataset.testid = 'moderate-button';
      more.setAttribute('aria-haspopup', 'menu');
      more.setAttribute('aria-expanded', 'false');
      bar.append(more);
    }
    return bar;
  }

  messageNode(m, grouped, pending) {
    const date = new Date(m.ts);
    const own = this.session.isOwn(m);
    const li = el('li', 'msg');
    li.dataset.testid = 'message';
    if (grouped) li.classList.add('grouped');
    if (pending) li.classList.add('pending');
    if (own) li.classList.add('own');

    const gutter = el('div', 'msg-gutter');
    if (grouped) {
      const t = el('time', 'gutter-time', formatTime(date));
      t.setAttribute('aria-hidden', 'true');
      gutter.append(t);
    } else {
      gutter.append(avatar(m.nick));
    }

    const main = el('div', 'msg-main');
    // Grouped messages keep their nick for tests and screen readers, hidden only visually.
    const meta = el('div', grouped ? 'msg-meta visually-hidden' : 'msg-meta');
    meta.append(el('span', 'msg-nick', m.nick));
    if (m.verified === true) meta.append(verifiedMark());
    if (own && !grouped) meta.append(el('span', 'you-tag', 'you'));
    const time = el('time', 'msg-time', formatTime(date));
    if (!Number.isNaN(date.getTime())) {
      time.dateTime = date.toISOString();
      time.title = date.toLocaleString();
    }
    meta.append(time);
    main.append(meta);
    if (Number.isInteger(m.reply_to)) main.append(this.replyPreview(m.reply_to));
    const body = el('div', 'msg-text');
    if (m.deleted) {
      const mark = el('span', 'msg-deleted', 'This message was deleted.');
      mark.dataset.testid = 'deleted-mark';
      body.append(mark);
    } else {
      appendRichText(body, m.text, this.session.nick);
      if (m.edited_at) {
        const mark = el('span', 'msg-edited', ' (edited)');
        mark.dataset.testid = 'edited-mark';
        const edited = new Date(m.edited_at);
        if (!Number.isNaN(edited.getTime())) mark.title = `Edited ${edited.toLocaleString()}`;
        body.append(mark);
      }
    }
    main.append(body);
    if (!m.deleted && Array.isArray(m.attachments) && m.attachments.length) main.append(attachmentsNode(m.attachments));
    if (pending && Array.isArray(m.files) && m.files.length) main.append(el('div', 'pending-files', m.files.length === 1 ? '1 file' : `${m.files.length} files`));
    if (!m.deleted && Array.isArray(m.reactions) && m.reactions.length) main.append(this.reactionsNode(m));
    if (pending) main.append(el('div', 'pending-label'));

    li.append(gutter, main);
    if (!pending && !m.deleted) li.append(this.actionsNode(m, own));
    return li;
  }

  shouldGroup(m) {
    const prev = this.lastItem;
    if (!prev || prev.kind !== 'message' || !sameNick(prev.nick, m.nick)) return false;
    const t = Date.parse(m.ts);
    return t - prev.time < GROUP_WINDOW_MS && dayKey(new Date(t)) === prev.day;
  }

  appendDaySeparator(date) {
    const sep = el('li', 'day-separator');
    sep.append(el('span', '', dayLabel(date)));
    $('messages').append(sep);
    this.lastItem = { kind: 'day', day: dayKey(date) };
  }

  appendMessageNode(m) {
    const date = new Date(m.ts);
    if (!this.lastItem || this.lastItem.day !== dayKey(date)) this.appendDaySeparator(date);
    const divider = m.id === this.dividerBefore;
    if (divider) $('messages').append(this.dividerNode());
    const node = this.messageNode(m, !divider && this.shouldGroup(m), false);
    node.dataset.id = String(m.id);
    $('messages').append(node);
    this.lastItem = { kind: 'message', nick: m.nick, time: date.getTime(), day: dayKey(date) };
    this.renderedMaxId = Math.max(this.renderedMaxId, m.id);
  }

  appendLineNode(line) {
    if (!this.lastItem) this.appendDaySeparator(line.date);
    const li = el('li', 'event event-' + line.kind);
    li.append(el('span', 'event-text', line.text));
    li.append(el('time', 'event-time', formatTime(line.date)));
    if (line.kind === 'error') li.setAttribute('role', 'alert');
    $('messages').append(li);
    this.lastItem = { kind: 'event', day: this.lastItem.day };
  }

  // Full rebuild, used when older messages arrive (load older, gap fill). Quiet lines keep their
  // place after the message that was newest when they happened.
  renderAll() {
    $('messages').replaceChildren();
    this.lastItem = null;
    this.renderedMaxId = 0;
    let li = 0;
    const lines = [...this.lines].sort((a, b) => a.after - b.after || a.seq - b.seq);
    for (const m of this.session.sortedMessages()) {
      while (li < lines.length && lines[li].after < m.id) this.appendLineNode(lines[li++]);
      this.appendMessageNode(m);
    }
    while (li < lines.length) this.appendLineNode(lines[li++]);
  }

  addLine({ text, kind, after }) {
    const line = { text, kind, after, date: new Date(), seq: this.lineSeq++ };
    this.lines.push(line);
    if (this.lines.length > MAX_LINES) this.lines.shift();
    this.preservingScroll('append', () => this.appendLineNode(line));
  }

  /** A line the page says itself, not the session (e.g. a usage hint). */
  notice(text, kind = 'notice') {
    this.addLine({ text, kind, after: this.session.maxId() });
    this.updateEmptyState();
  }

  // Stick to the bottom when the reader is there; keep their place when they scrolled up or when
  // older messages are inserted above.
  preservingScroll(mode, mutate) {
    const box = $('message-list');
    const fromBottom = box.scrollHeight - box.scrollTop - box.clientHeight;
    const atBottom = fromBottom < 80;
    mutate();
    if (mode === 'append' && atBottom) box.scrollTop = box.scrollHeight;
    else if (mode === 'insert') box.scrollTop = box.scrollHeight - box.clientHeight - fromBottom;
  }

  scrollToBottom() {
    const box = $('message-list');
    box.scrollTop = box.scrollHeight;
  }

  updateEmptyState() {
    const s = this.session;
    $('empty-state').hidden = s.messages.size > 0 || s.outbox.length > 0 || !s.everWelcomed;
  }

  updateLoadOlder() {
    const button = $('load-older');
    button.hidden = !this.session.canLoadOlder;
    button.disabled = this.session.historyInFlight;
    button.textContent = this.session.historyInFlight ? 'Loading…' : 'Load older messages';
  }

  // ---------- pending messages ----------

  renderPending(item) {
    const node = this.messageNode({ nick: this.session.nick || 'you', text: item.text, ts: item.ts, reply_to: item.reply_to, files: item.attachments }, false, true);
    node.classList.add('own');
    node.dataset.clientId = item.client_id;
    $('pending').append(node);
    this.refreshPendingLabels();
  }

  removePending(clientId) {
    const node = $('pending').querySelector(`[data-client-id="${CSS.escape(clientId)}"]`);
    if (node) node.remove();
  }

  refreshPendingLabels() {
    const label = this.session.connected ? 'Sending…' : 'Waiting for connection — will send automatically';
    for (const node of $('pending').querySelectorAll('.pending-label')) node.textContent = label;
  }

  // ---------- typing ----------

  startTyping(nick) {
    clearTimeout(this.typers.get(nick));
    this.typers.set(nick, setTimeout(() => this.stopTyping(nick), Timing.typingShownMs));
    this.renderTyping();
  }

  stopTyping(nick) {
    if (!this.typers.has(nick)) return;
    clearTimeout(this.typers.get(nick));
    this.typers.delete(nick);
    this.renderTyping();
  }

  clearTypers() {
    for (const t of this.typers.values()) clearTimeout(t);
    this.typers.clear();
    this.renderTyping();
  }

  renderTyping() {
    const nicks = [...this.typers.keys()];
    const node = $('typing-indicator');
    if (nicks.length === 0) node.textContent = '';
    else if (nicks.length === 1) node.textContent = `${nicks[0]} is typing…`;
    else if (nicks.length === 2) node.textContent = `${nicks[0]} and ${nicks[1]} are typing…`;
    else node.textContent = 'Several people are typing…';
    node.classList.toggle('active', nicks.length > 0);
  }

  // ---------- members and identity ----------

  renderMembers() {
    const me = this.session.nick;
    $('my-nick').textContent = me || '';
    const sorted = [...this.session.members].sort((a, b) => {
      if (a === me) return -1;
      if (b === me) return 1;
      return a.localeCompare(b, undefined, { sensitivity: 'base' });
    });
    $('member-list').replaceChildren(...sorted.map((nick) => {
      const li = el('li', 'member');
      li.dataset.testid = 'member';
      li.append(avatar(nick), el('span', 'member-nick', nick));
      if (this.session.verifiedMembers.has(nick)) li.append(verifiedMark());
      if (nick === me) li.append(el('span', 'you-tag', 'you'));
      else if (this.session.moderates) {
        const more = el('button', 'btn btn-icon member-menu-button', '⋯');
        more.type = 'button';
        more.dataset.testid = 'member-menu-button';
        more.dataset.nick = nick;
        more.setAttribute('aria-label', `Moderate ${nick}`);
        more.setAttribute('aria-haspopup', 'menu');
        more.setAttribute('aria-expanded', 'false');
        li.append(more);
      }
      return li;
    }));
    $('member-count').textContent = String(sorted.length);
    $('members-toggle-count').textContent = String(sorted.length);
  }
}
