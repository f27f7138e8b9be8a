// Parley web client. Plain DOM, no framework, no build step.
//
// Ground rules that the rest of the file relies on:
// - User-supplied text only ever reaches the page through textContent / createTextNode,
//   never innerHTML, so a message cannot inject markup.
// - The socket may drop at any time. We keep the highest message id we hold and resume with
//   `since`, reclaim our nick with the `session` secret from `welcome`, and resend unacknowledged
//   messages with the same `client_id` so the server can drop duplicates.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  const ROOM_CODE = /^[A-Za-z0-9._-]{1,64}$/;
  const TYPING_SEND_INTERVAL_MS = 2100; // the server relays at most one per 2 s; a little slack for jitter
  const TYPING_SHOW_MS = 3000;
  const BACKOFF_BASE_MS = 300;
  const BACKOFF_CAP_MS = 5000;
  const WELCOME_TIMEOUT_MS = 10000;
  const GROUP_WINDOW_MS = 5 * 60 * 1000;
  const HISTORY_PAGE = 50;
  const HISTORY_MAX = 200;
  const AVATAR_HUES = 8;

  const state = {
    room: null,            // room code
    roomName: null,
    nick: null,            // our nick as the server knows it
    session: null,         // secret from welcome, reclaims the nick on reconnect
    ws: null,
    welcomed: false,       // the current socket has received welcome
    everWelcomed: false,   // decides between "connecting" and "reconnecting…"
    attempt: 0,
    reconnectTimer: null,
    welcomeTimer: null,
    stopped: false,        // replaced by another tab: do not fight it
    lastFrameAt: 0,
    messages: new Map(),   // id -> message, deduplicated
    renderedMaxId: 0,
    events: [],            // quiet lines (join/leave/...) anchored after a message id
    eventSeq: 0,
    outbox: [],            // [{client_id, text, ts}] sent but not yet echoed
    ownClientIds: new Set(),
    members: [],
    typers: new Map(),     // nick -> timeout handle
    lastTypingSent: 0,
    lastKeystroke: 0,
    typingTimer: null,
    historyInFlight: false,
    retryTimer: null,
    unread: 0,
    lastItem: null,        // what the last rendered line was, for grouping
    limits: null,          // welcome.limits: what this server allows (null until welcomed, or from an older server)
  };

  // ---------- storage (private browsing may throw; the app still works without it) ----------

  function storageGet(area, key) {
    try { return window[area].getItem(key); } catch { return null; }
  }
  function storageSet(area, key, value) {
    try {
      if (value === null) window[area].removeItem(key); else window[area].setItem(key, value);
    } catch { /* quota or disabled storage: keep going in memory */ }
  }
  const outboxKey = () => 'parley.outbox.' + state.room;
  // The session lives in sessionStorage so two tabs on one room do not keep replacing each other.
  const sessionKey = () => 'parley.session.' + state.room;

  function loadOutbox() {
    try {
      const list = JSON.parse(storageGet('localStorage', outboxKey()) || '[]');
      return Array.isArray(list) ? list.filter((m) => m && typeof m.client_id === 'string' && typeof m.text === 'string') : [];
    } catch { return []; }
  }
  function saveOutbox() {
    storageSet('localStorage', outboxKey(), state.outbox.length ? JSON.stringify(state.outbox) : null);
  }

  // 128 random bits from the CSPRNG, as 32 hex digits: nobody can guess the next id and post under it
  // first (the contract asks for at least 96). getRandomValues works without a secure context too.
  function newClientId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  // ---------- small DOM helpers ----------

  function el(tag, className, text) {
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

  const sameNick = (a, b) => typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase();

  // Only http(s) URLs become links, built through the DOM; everything else stays plain text,
  // so `javascript:` can never end up in an href.
  const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;

  function appendRichText(parent, text) {
    let last = 0;
    for (const match of text.matchAll(URL_PATTERN)) {
      let raw = match[0].replace(/[.,!?;:)\]}]+$/, '');
      const start = match.index;
      let url = null;
      try { url = new URL(raw); } catch { url = null; }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) continue;
      parent.append(document.createTextNode(text.slice(last, start)));
      const a = el('a', 'msg-link', raw);
      a.href = url.href;
      a.target = '_blank';
      a.rel = 'noopener noreferrer nofollow';
      parent.append(a);
      last = start + raw.length;
    }
    parent.append(document.createTextNode(text.slice(last)));
  }

  // ---------- connection status ----------

  function setStatus(status) {
    const pill = $('connection-status');
    pill.textContent = status;
    pill.className = 'status-pill ' + ({
      'connected': 'status-connected',
      'connecting': 'status-connecting',
      'reconnecting…': 'status-reconnecting',
    }[status] || 'status-offline');
    document.body.classList.toggle('is-offline', status !== 'connected');
    refreshPendingLabels();
  }

  const isLive = () => state.ws !== null && state.welcomed && state.ws.readyState === WebSocket.OPEN;

  // ---------- socket lifecycle ----------

  function wsUrl() {
    const params = new URLSearchParams({ room: state.room });
    if (state.nick) params.set('nick', state.nick);
    if (state.session) params.set('session', state.session);
    // After the first welcome we resume from the newest id we hold: nothing missed, nothing twice.
    if (state.everWelcomed) params.set('since', String(maxId()));
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/ws?${params}`;
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (state.ws || state.stopped) return;
    setStatus(state.everWelcomed ? 'reconnecting…' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    state.welcomed = false;
    state.lastFrameAt = Date.now();
    // A socket that opens but never says welcome is as good as dead.
    state.welcomeTimer = setTimeout(() => { if (state.ws === ws && !state.welcomed) ws.close(); }, WELCOME_TIMEOUT_MS);
    ws.onmessage = (e) => { if (state.ws === ws) onFrame(e.data); };
    ws.onclose = (e) => { if (state.ws === ws) onClose(e); };
  }

  function onClose(event) {
    clearTimeout(state.welcomeTimer);
    state.ws = null;
    state.welcomed = false;
    // A history request lost with the socket must not block paging and gap filling for good.
    state.historyInFlight = false;
    clearTypers();
    if (event.code === 4001) {
      // Another tab or device took over our session; reconnecting would just kick it out again.
      state.stopped = true;
      setStatus('disconnected');
      addNotice('This chat was opened somewhere else. Reload the page to continue here.', 'error');
      return;
    }
    setStatus(state.everWelcomed ? 'reconnecting…' : 'connecting');
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (state.reconnectTimer || state.stopped) return;
    const exp = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** state.attempt);
    const delay = exp * (0.75 + Math.random() * 0.5); // jitter so a room does not stampede back
    state.attempt += 1;
    state.reconnectTimer = setTimeout(connect, Math.min(delay, BACKOFF_CAP_MS));
  }

  // Skip the wait when the browser tells us the network or the tab is back.
  function reconnectNow() {
    if (!state.room || state.ws || state.stopped) return;
    state.attempt = 0;
    connect();
  }

  function send(command) {
    if (!isLive()) return false;
    state.ws.send(JSON.stringify(command));
    return true;
  }

  // Half-open TCP connections never fire `close`; a ping now and then notices them.
  function heartbeat() {
    if (!isLive()) return;
    const idle = Date.now() - state.lastFrameAt;
    if (idle > 45000) state.ws.close();
    else if (idle > 25000) send({ type: 'ping' });
  }

  // ---------- incoming events ----------

  function onFrame(data) {
    state.lastFrameAt = Date.now();
    let ev;
    try { ev = JSON.parse(data); } catch { return; }
    if (!ev || typeof ev.type !== 'string') return;
    const handler = handlers[ev.type];
    if (handler) handler(ev);
  }

  const handlers = {
    welcome(ev) {
      clearTimeout(state.welcomeTimer);
      const wanted = state.nick;
      const first = !state.everWelcomed;
      state.welcomed = true;
      state.everWelcomed = true;
      state.attempt = 0;
      state.session = ev.session || null;
      storageSet('sessionStorage', sessionKey(), state.session);
      setMyNick(ev.nick);
      setLimits(ev.limits);
      if (ev.room) setRoomName(ev.room.name);
      setMembers(Array.isArray(ev.members) ? ev.members : []);
      if (wanted && !sameNick(wanted, ev.nick)) {
        addNotice(`The name “${wanted}” is in use here, so you are “${ev.nick}”.`);
      } else if (!first) {
        addNotice('Reconnected.');
      }
      addMessages(Array.isArray(ev.history) ? ev.history : []);
      setStatus('connected');
      updateEmptyState();
      flushOutbox();
      fillGaps();
      updateLoadOlder();
    },

    message(ev) {
      addMessages([ev]);
      stopTyping(ev.nick);
    },

    history(ev) {
      state.historyInFlight = false;
      const held = state.messages.size;
      addMessages(Array.isArray(ev.messages) ? ev.messages : []);
      // Keep filling holes only while pages bring something new, so an unfillable hole cannot loop.
      if (state.messages.size > held) fillGaps();
      updateLoadOlder();
    },

    join(ev) {
      if (!state.members.some((m) => m === ev.nick)) setMembers([...state.members, ev.nick]);
      addEvent(`${ev.nick} joined`, 'join');
    },

    leave(ev) {
      setMembers(state.members.filter((m) => m !== ev.nick));
      stopTyping(ev.nick);
      addEvent(`${ev.nick} left`, 'leave');
    },

    nick(ev) {
      const mine = ev.from === state.nick;
      setMembers(state.members.map((m) => (m === ev.from ? ev.to : m)));
      stopTyping(ev.from);
      if (mine) {
        setMyNick(ev.to);
        storageSet('localStorage', 'parley.nick', ev.to);
        addEvent(`You are now ${ev.to}`, 'nick');
      } else {
        addEvent(`${ev.from} is now ${ev.to}`, 'nick');
      }
    },

    typing(ev) {
      if (typeof ev.nick === 'string' && ev.nick !== state.nick) startTyping(ev.nick);
    },

    pong() { /* lastFrameAt was already refreshed */ },

    error(ev) {
      const max = maxMessageBytes();
      const text = {
        nick_taken: 'That name is already taken in this room.',
        invalid_nick: 'That name cannot be used. Names are 1–32 characters.',
        too_large: max ? `That message is too long (the limit is ${max} bytes).` : 'That message is too long.',
      }[ev.code] || ev.message || 'The server refused that.';
      // An error answering a history request (e.g. a bad limit) also ends that request.
      if (ev.code === 'bad_request' && !ev.client_id) state.historyInFlight = false;
      if (ev.code === 'rate_limited' || ev.code === 'unavailable') {
        // Not stored; still in the outbox. One retry at a time, and resending is safe thanks to client_id.
        addNotice('Your message was not stored yet. It will be retried in a moment.', 'error');
        if (!state.retryTimer) {
          state.retryTimer = setTimeout(() => { state.retryTimer = null; flushOutbox(); }, 1500);
        }
        return;
      }
      // The server names the refused message: it will never be accepted, so stop resending it.
      if (ev.client_id && (ev.code === 'too_large' || ev.code === 'bad_request')) acknowledge(ev.client_id);
      addNotice(text, 'error');
    },
  };

  // ---------- messages ----------

  function maxId() {
    let max = 0;
    for (const id of state.messages.keys()) if (id > max) max = id;
    return max;
  }

  function minId() {
    let min = Infinity;
    for (const id of state.messages.keys()) if (id < min) min = id;
    return min === Infinity ? 0 : min;
  }

  function isValidMessage(m) {
    return m && Number.isInteger(m.id) && typeof m.text === 'string' && typeof m.nick === 'string';
  }

  function addMessages(list) {
    const fresh = [];
    for (const m of list) {
      if (!isValidMessage(m)) continue;
      if (m.client_id) acknowledge(m.client_id);
      if (state.messages.has(m.id)) continue; // a resend or a resumed history overlap
      state.messages.set(m.id, m);
      fresh.push(m);
    }
    if (!fresh.length) return;
    fresh.sort((a, b) => a.id - b.id);
    const inOrder = fresh[0].id > state.renderedMaxId;
    preservingScroll(inOrder ? 'append' : 'insert', () => {
      if (inOrder) fresh.forEach(appendMessageNode);
      else renderAll();
    });
    countUnread(fresh);
    updateEmptyState();
  }

  // Messages from others that arrive while the tab is hidden show up in the title.
  function countUnread(fresh) {
    if (!document.hidden || !state.everWelcomed) return;
    state.unread += fresh.filter((m) => !isOwn(m)).length;
    updateTitle();
  }

  function updateTitle() {
    const base = ($('room-name').textContent || 'Room') + ' · Parley';
    document.title = state.unread ? `(${state.unread}) ${base}` : base;
  }

  function isOwn(m) {
    return (m.client_id && state.ownClientIds.has(m.client_id)) || sameNick(m.nick, state.nick);
  }

  function messageNode(m, grouped, pending) {
    const date = new Date(m.ts);
    const li = el('li', 'msg');
    li.dataset.testid = 'message';
    if (grouped) li.classList.add('grouped');
    if (pending) li.classList.add('pending');
    if (isOwn(m)) li.classList.add('own');

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
    if (isOwn(m) && !grouped) meta.append(el('span', 'you-tag', 'you'));
    const time = el('time', 'msg-time', formatTime(date));
    if (!Number.isNaN(date.getTime())) {
      time.dateTime = date.toISOString();
      time.title = date.toLocaleString();
    }
    meta.append(time);
    const body = el('div', 'msg-text');
    appendRichText(body, m.text);
    main.append(meta, body);
    if (pending) main.append(el('div', 'pending-label'));
    li.append(gutter, main);
    return li;
  }

  function shouldGroup(m) {
    const prev = state.lastItem;
    if (!prev || prev.kind !== 'message' || !sameNick(prev.nick, m.nick)) return false;
    const t = Date.parse(m.ts);
    return t - prev.time < GROUP_WINDOW_MS && dayKey(new Date(t)) === prev.day;
  }

  function appendDaySeparator(date) {
    const sep = el('li', 'day-separator');
    sep.append(el('span', '', dayLabel(date)));
    $('messages').append(sep);
    state.lastItem = { kind: 'day', day: dayKey(date) };
  }

  function appendMessageNode(m) {
    const list = $('messages');
    const date = new Date(m.ts);
    if (!state.lastItem || state.lastItem.day !== dayKey(date)) appendDaySeparator(date);
    const node = messageNode(m, shouldGroup(m), false);
    node.dataset.id = String(m.id);
    list.append(node);
    state.lastItem = { kind: 'message', nick: m.nick, time: date.getTime(), day: dayKey(date) };
    state.renderedMaxId = Math.max(state.renderedMaxId, m.id);
  }

  function appendEventNode(e) {
    if (!state.lastItem) appendDaySeparator(e.date);
    const li = el('li', 'event event-' + e.kind);
    li.append(el('span', 'event-text', e.text));
    li.append(el('time', 'event-time', formatTime(e.date)));
    if (e.kind === 'error') li.setAttribute('role', 'alert');
    $('messages').append(li);
    state.lastItem = { kind: 'event', day: state.lastItem.day };
  }

  // Full rebuild, used when older messages arrive (load older, gap fill). Quiet events keep their
  // place after the message that was newest when they happened.
  function renderAll() {
    const list = $('messages');
    list.replaceChildren();
    state.lastItem = null;
    state.renderedMaxId = 0;
    const sorted = [...state.messages.values()].sort((a, b) => a.id - b.id);
    let ei = 0;
    const events = [...state.events].sort((a, b) => a.after - b.after || a.seq - b.seq);
    for (const m of sorted) {
      while (ei < events.length && events[ei].after < m.id) appendEventNode(events[ei++]);
      appendMessageNode(m);
    }
    while (ei < events.length) appendEventNode(events[ei++]);
  }

  function addEvent(text, kind) {
    const e = { text, kind, date: new Date(), after: maxId(), seq: state.eventSeq++ };
    state.events.push(e);
    if (state.events.length > 500) state.events.shift(); // quiet lines are not worth unbounded memory
    preservingScroll('append', () => appendEventNode(e));
    updateEmptyState();
  }

  function addNotice(text, kind) {
    addEvent(text, kind || 'notice');
  }

  // Stick to the bottom when the reader is there; keep their place when they scrolled up or when
  // older messages are inserted above.
  function preservingScroll(mode, mutate) {
    const box = $('message-list');
    const fromBottom = box.scrollHeight - box.scrollTop - box.clientHeight;
    const atBottom = fromBottom < 80;
    mutate();
    if (mode === 'append' && atBottom) box.scrollTop = box.scrollHeight;
    else if (mode === 'insert') box.scrollTop = box.scrollHeight - box.clientHeight - fromBottom;
  }

  function scrollToBottom() {
    const box = $('message-list');
    box.scrollTop = box.scrollHeight;
  }

  function updateEmptyState() {
    $('empty-state').hidden = state.messages.size > 0 || state.outbox.length > 0 || !state.everWelcomed;
  }

  // ---------- history paging and gap repair ----------

  function updateLoadOlder() {
    const button = $('load-older');
    button.hidden = !(minId() > 1);
    button.disabled = state.historyInFlight;
    button.textContent = state.historyInFlight ? 'Loading…' : 'Load older messages';
  }

  function requestHistory(before, limit) {
    if (state.historyInFlight) return;
    if (send({ type: 'history', before, limit: Math.max(1, Math.min(HISTORY_MAX, limit)) })) {
      state.historyInFlight = true;
      updateLoadOlder();
    }
  }

  function loadOlder() {
    const oldest = minId();
    if (oldest > 1) requestHistory(oldest, HISTORY_PAGE);
  }

  // Ids grow by exactly one, so a hole in the ids we hold is a hole in what we saw (e.g. a resume
  // that was truncated). Fetch the messages just below the hole's upper edge until it is closed.
  function fillGaps() {
    if (state.historyInFlight) return;
    const ids = [...state.messages.keys()].sort((a, b) => a - b);
    for (let i = ids.length - 1; i > 0; i--) {
      const gap = ids[i] - ids[i - 1] - 1;
      if (gap > 0) {
        requestHistory(ids[i], gap);
        return;
      }
    }
  }

  // ---------- sending and the outbox ----------

  // The server's limits arrive in welcome; without them (an older server) only the server checks.
  function setLimits(limits) {
    state.limits = limits && typeof limits === 'object' ? limits : null;
  }

  function maxMessageBytes() {
    const max = state.limits && state.limits.max_message_bytes;
    return Number.isInteger(max) && max > 0 ? max : null;
  }

  function utf8Length(text) {
    return new TextEncoder().encode(text).length;
  }

  function queueMessage(text) {
    const item = { client_id: newClientId(), text, ts: new Date().toISOString() };
    state.outbox.push(item);
    state.ownClientIds.add(item.client_id);
    saveOutbox();
    preservingScroll('append', () => renderPending(item));
    scrollToBottom();
    updateEmptyState();
    send({ type: 'message', text: item.text, client_id: item.client_id });
  }

  function flushOutbox() {
    for (const item of state.outbox) {
      if (!send({ type: 'message', text: item.text, client_id: item.client_id })) return;
    }
  }

  // The echo of our own message (same client_id) is the acknowledgement.
  function acknowledge(clientId) {
    const index = state.outbox.findIndex((m) => m.client_id === clientId);
    if (index === -1) return;
    state.outbox.splice(index, 1);
    saveOutbox();
    const node = $('pending').querySelector(`[data-client-id="${CSS.escape(clientId)}"]`);
    if (node) node.remove();
  }

  function renderPending(item) {
    const node = messageNode({ nick: state.nick || 'you', text: item.text, ts: item.ts }, false, true);
    node.classList.add('own');
    node.dataset.clientId = item.client_id;
    $('pending').append(node);
    refreshPendingLabels();
  }

  function refreshPendingLabels() {
    const label = isLive() ? 'Sending…' : 'Waiting for connection — will send automatically';
    for (const node of $('pending').querySelectorAll('.pending-label')) node.textContent = label;
  }

  // ---------- typing ----------

  // Leading edge: tell the room at once. Keystrokes inside the throttle window schedule one
  // trailing notice, so someone who keeps typing right after sending still shows as typing.
  function onComposerInput() {
    state.lastKeystroke = Date.now();
    const wait = state.lastTypingSent + TYPING_SEND_INTERVAL_MS - state.lastKeystroke;
    if (wait <= 0) sendTyping();
    else if (!state.typingTimer) state.typingTimer = setTimeout(sendTyping, wait);
  }

  function sendTyping() {
    clearTimeout(state.typingTimer);
    state.typingTimer = null;
    const text = $('message-input').value;
    if (!text.trim() || text.startsWith('/')) return;
    if (Date.now() - state.lastKeystroke > TYPING_SHOW_MS) return; // they stopped; do not revive it
    if (send({ type: 'typing' })) state.lastTypingSent = Date.now();
  }

  function startTyping(nick) {
    clearTimeout(state.typers.get(nick));
    state.typers.set(nick, setTimeout(() => stopTyping(nick), TYPING_SHOW_MS));
    renderTyping();
  }

  function stopTyping(nick) {
    if (!state.typers.has(nick)) return;
    clearTimeout(state.typers.get(nick));
    state.typers.delete(nick);
    renderTyping();
  }

  function clearTypers() {
    for (const t of state.typers.values()) clearTimeout(t);
    state.typers.clear();
    renderTyping();
  }

  function renderTyping() {
    const nicks = [...state.typers.keys()];
    const node = $('typing-indicator');
    if (nicks.length === 0) node.textContent = '';
    else if (nicks.length === 1) node.textContent = `${nicks[0]} is typing…`;
    else if (nicks.length === 2) node.textContent = `${nicks[0]} and ${nicks[1]} are typing…`;
    else node.textContent = 'Several people are typing…';
    node.classList.toggle('active', nicks.length > 0);
  }

  // ---------- members and identity ----------

  function setMembers(list) {
    const unique = [];
    for (const n of list) if (typeof n === 'string' && !unique.includes(n)) unique.push(n);
    if (state.nick && !unique.includes(state.nick)) unique.push(state.nick);
    state.members = unique;
    renderMembers();
  }

  function renderMembers() {
    const sorted = [...state.members].sort((a, b) => {
      if (a === state.nick) return -1;
      if (b === state.nick) return 1;
      return a.localeCompare(b, undefined, { sensitivity: 'base' });
    });
    const list = $('member-list');
    list.replaceChildren(...sorted.map((nick) => {
      const li = el('li', 'member');
      li.dataset.testid = 'member';
      li.append(avatar(nick), el('span', 'member-nick', nick));
      if (nick === state.nick) li.append(el('span', 'you-tag', 'you'));
      return li;
    }));
    $('member-count').textContent = String(sorted.length);
    $('members-toggle-count').textContent = String(sorted.length);
  }

  function setMyNick(nick) {
    const previous = state.nick;
    state.nick = nick;
    $('my-nick').textContent = nick;
    if (previous !== nick) setMembers(state.members.map((m) => (m === previous ? nick : m)));
  }

  // A named room shows its name over its code. Unnamed, a short hand-picked code ("lobby") is a fine
  // title, but a generated 32-character capability is not, so it moves to the subtitle.
  function setRoomName(name) {
    state.roomName = typeof name === 'string' && name.trim() ? name : null;
    const codeAsTitle = !state.roomName && state.room.length <= 20;
    $('room-name').textContent = state.roomName || (codeAsTitle ? state.room : 'Private room');
    $('room-code').textContent = codeAsTitle ? 'Room code' : state.room;
    $('room-code').classList.toggle('muted', codeAsTitle);
    updateTitle();
  }

  function requestNick(nick) {
    const trimmed = nick.trim();
    if (!trimmed) return;
    if (Array.from(trimmed).length > 32) {
      addNotice('Names can be at most 32 characters.', 'error');
      return;
    }
    if (!send({ type: 'nick', nick: trimmed })) {
      addNotice('You are offline. Change your name once the connection is back.', 'error');
    }
  }

  // ---------- composer ----------

  function submitComposer() {
    const input = $('message-input');
    const text = input.value;
    if (!text.trim()) return;
    const command = /^\/nick(?:\s+(.*))?$/s.exec(text.trim());
    if (command) {
      if (command[1]) requestNick(command[1]);
      else addNotice('Usage: /nick new-name', 'error');
      input.value = '';
      return;
    }
    const max = maxMessageBytes();
    const length = utf8Length(text);
    if (max !== null && length > max) {
      addNotice(`That message is too long: ${length} bytes, and this server takes at most ${max} bytes.`, 'error');
      return;
    }
    queueMessage(text);
    input.value = '';
    input.focus();
  }

  function onComposerKey(e) {
    // Enter sends; Shift+Enter is a new line; never send in the middle of an IME composition.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submitComposer();
    }
  }

  // ---------- sidebar on narrow screens ----------

  function setSidebarOpen(open) {
    document.body.classList.toggle('sidebar-open', open);
    $('members-toggle').setAttribute('aria-expanded', String(open));
    $('sidebar-scrim').hidden = !open;
    if (open) $('copy-invite').focus();
  }

  // ---------- invite link ----------

  const inviteUrl = (code) => `${location.origin}/r/${encodeURIComponent(code)}`;

  async function copyInvite(button) {
    const url = $('invite-link').href;
    let ok = false;
    try {
      await navigator.clipboard.writeText(url);
      ok = true;
    } catch {
      // Clipboard API needs a secure context; fall back to selecting the link for a manual copy.
      const range = document.createRange();
      range.selectNodeContents($('invite-link'));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      ok = document.execCommand && document.execCommand('copy');
    }
    const label = button.textContent;
    button.textContent = ok ? 'Copied!' : 'Press Ctrl+C to copy';
    setTimeout(() => { button.textContent = label; }, 2000);
  }

  // ---------- lobby ----------

  function lobbyError(text) {
    const node = $('lobby-error');
    node.textContent = text || '';
    node.hidden = !text;
  }

  // An empty name is a valid choice: the server then hands out a guest name.
  function rememberLobbyNick() {
    const nick = $('nick-input').value.trim();
    if (nick) storageSet('localStorage', 'parley.nick', nick);
    return nick || null;
  }

  // Accept a bare code or a pasted invite link.
  function parseRoomInput(value) {
    const text = value.trim();
    const fromPath = (path) => {
      const m = /\/r\/([^/?#]+)/.exec(path);
      return m ? decodeURIComponent(m[1]) : null;
    };
    try {
      const url = new URL(text);
      return fromPath(url.pathname);
    } catch {
      return fromPath(text) || text;
    }
  }

  function onJoin(e) {
    e.preventDefault();
    lobbyError('');
    const code = parseRoomInput($('room-input').value);
    if (!code || !ROOM_CODE.test(code)) {
      lobbyError('Enter a room code (letters, digits, “.”, “_” or “-”) or paste an invite link.');
      $('room-input').focus();
      return;
    }
    enterRoom(code, null, rememberLobbyNick());
  }

  async function onCreate(e) {
    e.preventDefault();
    lobbyError('');
    const nick = rememberLobbyNick();
    const name = $('room-name-input').value.trim();
    const button = $('create-room-button');
    button.disabled = true;
    try {
      const response = await fetch('/api/rooms', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(name ? { name } : {}),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok || !body || typeof body.code !== 'string') {
        throw new Error((body && body.error && body.error.message) || `The server answered ${response.status}.`);
      }
      enterRoom(body.code, body.name, nick);
    } catch (err) {
      lobbyError(`Could not create the room. ${err.message || ''}`.trim());
    } finally {
      button.disabled = false;
    }
  }

  // Opened through /r/{code}: show who invited us where, or walk straight in with a remembered nick.
  async function showInvite(code) {
    $('room-input').value = code;
    $('invite-banner').hidden = false;
    $('invite-room-name').textContent = code;
    $('create-section').hidden = true;
    $('join-button').textContent = 'Join room';
    $('join-button').className = 'btn btn-primary';
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(code)}`);
      if (response.ok) {
        const room = await response.json();
        if (room && typeof room.name === 'string' && room.name) $('invite-room-name').textContent = room.name;
      }
    } catch { /* the name is only decoration */ }
  }

  function enterRoom(code, name, nick) {
    state.room = code;
    const path = '/r/' + encodeURIComponent(code);
    if (location.pathname !== path) history.pushState(null, '', path);
    state.session = storageGet('sessionStorage', sessionKey());
    state.outbox = loadOutbox();
    state.outbox.forEach((m) => state.ownClientIds.add(m.client_id));
    $('lobby').hidden = true;
    $('chat').hidden = false;
    setRoomName(name);
    const link = $('invite-link');
    link.href = inviteUrl(code);
    link.textContent = inviteUrl(code);
    state.nick = nick || null;
    $('my-nick').textContent = nick || '';
    state.outbox.forEach(renderPending);
    connect();
    $('message-input').focus();
  }

  // ---------- wiring ----------

  function init() {
    const remembered = storageGet('localStorage', 'parley.nick');
    if (remembered) $('nick-input').value = remembered;

    $('join-form').addEventListener('submit', onJoin);
    $('create-form').addEventListener('submit', onCreate);
    $('composer').addEventListener('submit', (e) => { e.preventDefault(); submitComposer(); });
    $('message-input').addEventListener('keydown', onComposerKey);
    $('message-input').addEventListener('input', onComposerInput);
    $('load-older').addEventListener('click', loadOlder);
    $('copy-invite').addEventListener('click', () => copyInvite($('copy-invite')));
    $('empty-copy').addEventListener('click', () => copyInvite($('empty-copy')));
    $('invite-link').addEventListener('click', (e) => { e.preventDefault(); copyInvite($('copy-invite')); });
    $('members-toggle').addEventListener('click', () => setSidebarOpen(!document.body.classList.contains('sidebar-open')));
    $('sidebar-scrim').addEventListener('click', () => setSidebarOpen(false));
    $('sidebar-close').addEventListener('click', () => { setSidebarOpen(false); $('members-toggle').focus(); });
    $('nick-edit').addEventListener('click', () => {
      $('nick-form').hidden = false;
      $('nick-edit').hidden = true;
      $('nick-edit-input').value = state.nick || '';
      $('nick-edit-input').select();
    });
    const closeNickForm = () => { $('nick-form').hidden = true; $('nick-edit').hidden = false; };
    $('nick-cancel').addEventListener('click', closeNickForm);
    $('nick-form').addEventListener('submit', (e) => {
      e.preventDefault();
      requestNick($('nick-edit-input').value);
      closeNickForm();
    });
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && document.body.classList.contains('sidebar-open')) setSidebarOpen(false);
    });
    window.addEventListener('online', reconnectNow);
    window.addEventListener('popstate', () => location.reload());
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) return;
      state.unread = 0;
      updateTitle();
      reconnectNow();
    });
    setInterval(heartbeat, 5000);

    const match = /^\/r\/([^/]+)\/?$/.exec(location.pathname);
    if (match) {
      let code = null;
      try { code = decodeURIComponent(match[1]); } catch { code = null; }
      if (code && ROOM_CODE.test(code)) {
        if (remembered) { enterRoom(code, null, remembered); return; }
        showInvite(code);
        $('nick-input').focus();
        return;
      }
      lobbyError('That invite link is not valid. Check it, or start a new room.');
    }
    $('nick-input').focus();
  }

  init();
})();
