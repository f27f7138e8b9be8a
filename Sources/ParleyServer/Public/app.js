// Parley web client: ES modules, plain DOM, no framework, no build step.
//
//   protocol.js  the contract's values (close codes, error codes, room code and nick rules)
//   session.js   the session state machine: resume, outbox, gaps, backoff (no DOM; node --test)
//   socket.js    the WebSocket and its timers, driven by the session
//   view.js      the chat's DOM
//   lobby.js     choosing a nick and a room
//   storage.js   what survives a reload
//   moderation.js, moderation-view.js, menu.js   owners and moderators (§12)
//   auth.js      keys, tokens and the embedding page's hook (§12, §13)
//   files.js, files-view.js   uploads and attachments (§14)
//   app.js       this file: wires them together, the composer and the sidebar

import { SEARCH_MAX_LIMIT } from './protocol.js';
import { ChatSession, TypingThrottle } from './session.js';
import { inviteCode, startLobby } from './lobby.js';
import { RoomSocket } from './socket.js';
import * as storage from './storage.js';
import { $, ChatView, el, preview } from './view.js';
import { TokenHook, addressWithoutSecrets, keyFromFragment, probeRefusal, tokenFromQuery } from './auth.js';
import { RoomAdmin } from './moderation-view.js';
import { Upload, UploadTray, fileRefusal, filesOf, pastedName } from './files.js';
import { drawUpload } from './files-view.js';

let session = null;
let view = null;
let socket = null;
let admin = null;
let token = null; // the signed token (§13), in memory only
const tray = new UploadTray();
const tokenHook = new TokenHook(window, (fresh) => {
  token = fresh;
  if (!session) return;
  act(session.setToken(fresh));
  socket.reconnectNow();
});

function enterRoom(code, name, nick) {
  const path = '/r/' + encodeURIComponent(code);
  if (location.pathname !== path) history.pushState(null, '', path);
  session = new ChatSession(code, {
    nick, session: storage.sessionSecret.load(code), outbox: storage.outbox.load(code), key: storage.roomKey.load(code), token,
  });
  view = new ChatView(session);
  admin = new RoomAdmin(session, act, view, { copy: (text, b) => copyText(text, b, $('moderator-link')) });
  admin.wire();
  admin.refresh();
  $('lobby').hidden = true;
  $('chat').hidden = false;
  view.setRoomName(name);
  const link = $('invite-link');
  link.href = inviteUrl(code);
  link.textContent = inviteUrl(code);
  $('my-nick').textContent = nick || '';
  session.outbox.forEach((item) => view.renderPending(item));
  socket = new RoomSocket(session, applyUpdate);
  socket.start();
  $('message-input').focus();
}

/** Draws an update and keeps what must survive a reload. */
function applyUpdate(update) {
  view.apply(update);
  if (admin.apply(update)) {
    view.renderAll(); // the role changed: the moderation buttons come or go
    view.renderMembers();
  }
  if (update.needToken && !tokenHook.request(session.room)) {
    view.notice('Open this chat again from the app you came from to sign in again.', 'error');
  }
  if (update.probe) {
    probeRefusal(fetch, session.connectionParams()).then((status) => act(session.refused(status)));
  }
  if (update.mentioned.length) notifyMentions(update.mentioned);
  if (update.outboxChanged) storage.outbox.save(session.room, session.outbox);
  if (update.welcomed) storage.sessionSecret.save(session.room, session.session);
  if (update.roomGone) {
    storage.roomKey.save(session.room, null);
    storage.outbox.save(session.room, []);
  }
  if (update.renamed) storage.rememberedNick.save(update.renamed.to);
}

/** Something the user did: draw it, and send what it asks for. */
function act(update) {
  socket.handle(update);
}

// ---------- composer ----------

// The composer also edits a message or writes a reply; `mode` says which, and a line above it shows it.
let mode = null; // null, {kind: 'reply', id} or {kind: 'edit', id, draft}

function setMode(next) {
  const input = $('message-input');
  if (mode && mode.kind === 'edit') input.value = mode.draft; // leaving an edit brings the draft back
  mode = next;
  const m = next ? session.messages.get(next.id) : null;
  if (!next || !m) {
    mode = null;
    $('composer-context').hidden = true;
    input.setAttribute('aria-label', 'Message');
    return;
  }
  const what = next.kind === 'edit' ? 'Editing your message' : `Replying to ${m.nick}: ${preview(m, 60)}`;
  $('composer-context-text').textContent = what;
  $('composer-context').hidden = false;
  input.setAttribute('aria-label', next.kind === 'edit' ? 'Edit message' : `Reply to ${m.nick}`);
  if (next.kind === 'edit') {
    input.value = m.text;
    input.setSelectionRange(m.text.length, m.text.length);
  }
  input.focus();
}

function startEdit(id) {
  setMode(null);
  setMode({ kind: 'edit', id, draft: $('message-input').value });
}

function submitComposer() {
  const input = $('message-input');
  const text = input.value;
  const files = tray.ids();
  if (mode && mode.kind === 'edit') {
    const update = session.edit(mode.id, text);
    act(update);
    if (update.lines.length) return; // refused here: keep the text to fix
    setMode(null);
    input.focus();
    return;
  }
  if (tray.busy) {
    view.notice('Wait for the files to finish uploading, or cancel them.', 'error');
    return;
  }
  if (!text.trim() && !files.length) return;
  const command = /^\/nick(?:\s+(.*))?$/s.exec(text.trim());
  if (command) {
    if (command[1]) act(session.rename(command[1]));
    else view.notice('Usage: /nick new-name', 'error');
    input.value = '';
    return;
  }
  const replyTo = mode && mode.kind === 'reply' ? mode.id : null;
  const update = session.say(files.length && !text.trim() ? '' : text, {
    ts: new Date().toISOString(), randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)), replyTo, attachments: files, now: Date.now(),
  });
  act(update);
  if (!update.queued) return;
  tray.clear();
  drawTray();
  input.value = '';
  setMode(null);
  input.focus();
}

function onComposerKey(e) {
  // Enter sends; Shift+Enter is a new line; never send in the middle of an IME composition.
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    submitComposer();
  } else if (e.key === 'Escape' && mode) {
    e.preventDefault();
    setMode(null);
  } else if (e.key === 'ArrowUp' && !mode && !e.target.value) {
    const last = session.lastOwnMessage();
    if (last) {
      e.preventDefault();
      startEdit(last.id);
    }
  }
}

// ---------- message actions ----------

function onMessageAction(e) {
  const b = e.target.closest('button[data-action]');
  if (!b) return;
  const li = b.closest('.msg');
  const id = li ? Number(li.dataset.id) : NaN;
  switch (b.dataset.action) {
    case 'jump':
      act(session.jumpTo(Number(b.dataset.target)));
      break;
    case 'reply':
      setMode(null);
      setMode({ kind: 'reply', id });
      break;
    case 'edit':
      startEdit(id);
      break;
    case 'delete':
      if (window.confirm('Delete this message for everyone? This cannot be undone.')) act(session.remove(id));
      break;
    case 'react':
      openPicker(id, b);
      break;
    case 'toggle-reaction':
      act(session.toggleReaction(id, b.dataset.emoji));
      break;
    case 'moderate':
      if (session.messages.has(id)) admin.openMessageMenu(b, session.messages.get(id));
      break;
  }
}

// ---------- files ----------

/** Files picked, pasted or dropped: checked against the server's limits, then uploaded at once. */
function addFiles(files, pasted = false) {
  if (!session) return;
  if (session.postWait(Date.now()) === Infinity) {
    view.notice('This room is locked: only its owner and moderators can share files.', 'error');
    return;
  }
  for (const file of files) {
    const refusal = fileRefusal(file, session.limits, tray.count);
    if (refusal) {
      view.notice(refusal, 'error');
      continue;
    }
    const name = pasted || !file.name ? pastedName(file.type, Date.now()) : file.name;
    tray.add(new Upload(file, name, { room: session.room, bearer: session.token || session.key, onChange: (u) => drawUpload($('upload-tray'), u) }));
  }
  drawTray();
}

function drawTray() {
  const node = $('upload-tray');
  for (const row of [...node.children]) if (!tray.uploads.some((u) => String(u.key) === row.dataset.key)) row.remove();
  for (const u of tray.uploads) drawUpload(node, u);
  node.hidden = tray.uploads.length === 0;
}

function wireFiles() {
  $('attach-button').addEventListener('click', () => $('file-input').click());
  $('file-input').addEventListener('change', () => {
    addFiles([...$('file-input').files]);
    $('file-input').value = '';
    $('message-input').focus();
  });
  $('upload-tray').addEventListener('click', (e) => {
    const b = e.target.closest('.upload-cancel');
    if (!b) return;
    tray.remove(Number(b.dataset.key));
    drawTray();
    $('message-input').focus();
  });
  $('message-input').addEventListener('paste', (e) => {
    const files = filesOf(e.clipboardData, { imagesOnly: true });
    if (!files.length) return; // text pastes as text
    e.preventDefault();
    addFiles(files, true);
  });
  const zone = document.querySelector('.conversation');
  let depth = 0;
  const carriesFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  zone.addEventListener('dragenter', (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    depth += 1;
    $('drop-hint').hidden = false;
  });
  zone.addEventListener('dragover', (e) => { if (carriesFiles(e)) e.preventDefault(); });
  zone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) $('drop-hint').hidden = true;
  });
  zone.addEventListener('drop', (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    depth = 0;
    $('drop-hint').hidden = true;
    addFiles(filesOf(e.dataTransfer));
  });
}

// ---------- reaction picker ----------

let picking = null; // {id, opener}

function openPicker(id, opener) {
  picking = { id, opener };
  const m = session.messages.get(id);
  $('react-picker').setAttribute('aria-label', m ? `React to ${m.nick}’s message` : 'Add a reaction');
  $('react-picker').hidden = false;
  $('react-input').value = '';
  $('react-picker').querySelector('.react-choice').focus();
}

function closePicker(refocus = true) {
  if (!picking) return;
  const { opener } = picking;
  picking = null;
  $('react-picker').hidden = true;
  if (refocus && opener.isConnected) opener.focus();
  else $('message-input').focus();
}

function pick(emoji) {
  if (!picking) return;
  const update = session.toggleReaction(picking.id, emoji);
  act(update);
  if (!update.lines.length) closePicker();
}

// ---------- search ----------

let searchSeq = 0;
let searched = null; // {words, found: [message…], hasMore}

const SEARCH_PAGE = Math.min(20, SEARCH_MAX_LIMIT);

/** A new search (`more` false) or the next page of the last one, further back. */
async function search(q, more = false) {
  const status = $('search-status');
  const words = more && searched ? searched.words : q.trim();
  if (!words) {
    searched = null;
    $('search-results').replaceChildren();
    $('search-more').hidden = true;
    status.textContent = '';
    return;
  }
  const seq = ++searchSeq;
  status.textContent = 'Searching…';
  let url = `/api/rooms/${encodeURIComponent(session.room)}/search?q=${encodeURIComponent(words)}&limit=${SEARCH_PAGE}`;
  if (more && searched.found.length) url += `&before=${searched.found.at(-1).id}`;
  let body = null;
  try {
    const response = await fetch(url);
    body = await response.json();
    if (!response.ok) throw new Error(body && body.error ? body.error.message : 'search failed');
  } catch (error) {
    if (seq === searchSeq) status.textContent = `Search did not work: ${error.message}`;
    return;
  }
  if (seq !== searchSeq) return; // a newer search is under way
  const page = Array.isArray(body.messages) ? body.messages.filter((m) => m && Number.isInteger(m.id)) : [];
  searched = { words, found: more ? [...searched.found, ...page] : page, hasMore: Boolean(body.has_more) };
  const count = searched.found.length;
  status.textContent = count ? `${count}${searched.hasMore ? '+' : ''} found, newest first` : 'Nothing found.';
  $('search-more').hidden = !searched.hasMore;
  const items = page.map((m) => {
    const li = el('li');
    const b = el('button', 'search-result');
    b.type = 'button';
    b.dataset.testid = 'search-result';
    b.dataset.target = String(m.id);
    b.append(el('span', 'search-nick', m.nick), el('span', 'search-text', preview(m, 120)));
    li.append(b);
    return li;
  });
  if (more) $('search-results').append(...items);
  else $('search-results').replaceChildren(...items);
}

function onSearchResult(e) {
  const b = e.target.closest('.search-result');
  if (!b) return;
  if (document.body.classList.contains('sidebar-open')) setSidebarOpen(false);
  act(session.jumpTo(Number(b.dataset.target)));
}

// ---------- mentions ----------

/** Asked once, from a click on the sidebar's button, so the browser never prompts out of the blue. */
function updateNotifyButton() {
  $('notify-button').hidden = !('Notification' in window) || Notification.permission !== 'default';
}

function notifyMentions(list) {
  if (!document.hidden || !('Notification' in window) || Notification.permission !== 'granted') return;
  const m = list.at(-1);
  const note = new Notification(`${m.nick} mentioned you`, { body: preview(m, 140), tag: 'parley-' + session.room });
  note.onclick = () => {
    window.focus();
    act(session.jumpTo(m.id));
    note.close();
  };
}

// ---------- typing ----------

const typing = new TypingThrottle();
let typingTimer = null;

function onComposerInput() {
  const wait = typing.keystroke(Date.now());
  if (wait === 0) sendTyping();
  else if (wait !== null) typingTimer = setTimeout(sendTyping, wait);
}

function sendTyping() {
  clearTimeout(typingTimer);
  typingTimer = null;
  if (typing.shouldSend(Date.now(), $('message-input').value) && socket.send({ type: 'typing' })) typing.sent(Date.now());
}

// ---------- sidebar on narrow screens ----------

function setSidebarOpen(open) {
  document.body.classList.toggle('sidebar-open', open);
  $('members-toggle').setAttribute('aria-expanded', String(open));
  $('sidebar-scrim').hidden = !open;
  // The drawer covers the conversation: keep focus, clicks and screen readers out of what it covers.
  document.querySelector('.conversation').inert = open;
  if (open) $('copy-invite').focus();
}

// ---------- invite link ----------

const inviteUrl = (code) => `${location.origin}/r/${encodeURIComponent(code)}`;

function copyInvite(button) {
  return copyText($('invite-link').href, button, $('invite-link'));
}

async function copyText(text, button, shown) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    // Clipboard API needs a secure context; fall back to selecting the text for a manual copy.
    if (shown instanceof HTMLInputElement) {
      shown.select();
    } else {
      const range = document.createRange();
      range.selectNodeContents(shown);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
    ok = document.execCommand && document.execCommand('copy');
  }
  const label = button.textContent;
  button.textContent = ok ? 'Copied!' : 'Press Ctrl+C to copy';
  setTimeout(() => { button.textContent = label; }, 2000);
}

// ---------- wiring ----------

function init() {
  $('composer').addEventListener('submit', (e) => { e.preventDefault(); submitComposer(); });
  $('message-input').addEventListener('keydown', onComposerKey);
  $('message-input').addEventListener('input', onComposerInput);
  $('load-older').addEventListener('click', () => act(session.loadOlder()));
  $('copy-invite').addEventListener('click', () => copyInvite($('copy-invite')));
  $('empty-copy').addEventListener('click', () => copyInvite($('empty-copy')));
  $('invite-link').addEventListener('click', (e) => { e.preventDefault(); copyInvite($('copy-invite')); });
  $('members-toggle').addEventListener('click', () => setSidebarOpen(!document.body.classList.contains('sidebar-open')));
  $('sidebar-scrim').addEventListener('click', () => setSidebarOpen(false));
  $('sidebar-close').addEventListener('click', () => { setSidebarOpen(false); $('members-toggle').focus(); });
  $('nick-edit').addEventListener('click', () => {
    $('nick-form').hidden = false;
    $('nick-edit').hidden = true;
    $('nick-edit-input').value = session.nick || '';
    $('nick-edit-input').select();
  });
  const closeNickForm = () => { $('nick-form').hidden = true; $('nick-edit').hidden = false; };
  $('nick-cancel').addEventListener('click', closeNickForm);
  $('nick-form').addEventListener('submit', (e) => {
    e.preventDefault();
    act(session.rename($('nick-edit-input').value));
    closeNickForm();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && admin && admin.escape()) e.preventDefault();
    else if (e.key === 'Escape' && picking) closePicker();
    else if (e.key === 'Escape' && document.body.classList.contains('sidebar-open')) setSidebarOpen(false);
  });
  $('message-list').addEventListener('click', onMessageAction);
  $('composer-cancel').addEventListener('click', () => { setMode(null); $('message-input').focus(); });
  for (const choice of $('react-picker').querySelectorAll('.react-choice')) {
    choice.addEventListener('click', () => pick(choice.dataset.emoji));
  }
  $('react-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const emoji = $('react-input').value.trim();
    if (emoji) pick(emoji);
  });
  $('react-close').addEventListener('click', () => closePicker());
  $('search-form').addEventListener('submit', (e) => { e.preventDefault(); search($('search-input').value); });
  $('search-results').addEventListener('click', onSearchResult);
  $('search-more').addEventListener('click', () => search('', true));
  updateNotifyButton();
  $('notify-button').addEventListener('click', async () => {
    try { await Notification.requestPermission(); } catch { /* an older browser: the callback form is not worth it */ }
    updateNotifyButton();
  });
  // Grown past the drawer's width (a rotated phone): the sidebar is no drawer, so nothing may stay inert.
  matchMedia('(min-width: 761px)').addEventListener('change', (e) => {
    if (e.matches && document.body.classList.contains('sidebar-open')) setSidebarOpen(false);
  });
  window.addEventListener('online', () => { if (socket) socket.reconnectNow(); });
  window.addEventListener('popstate', () => location.reload());
  document.addEventListener('visibilitychange', () => {
    if (document.hidden || !socket) return;
    view.seen();
    socket.reconnectNow();
  });
  wireFiles();
  // Secrets in the address: the owner or moderator key (`#key=`) and the first token (`?auth=`). Keep
  // them, then take them out of the address bar (and so out of bookmarks, history and screen shares).
  const key = keyFromFragment(location.hash);
  const code = inviteCode(location.pathname);
  if (key && code) storage.roomKey.save(code, key);
  token = tokenFromQuery(location.search) || token;
  const clean = addressWithoutSecrets(location.href);
  if (clean !== location.pathname + location.search + location.hash) history.replaceState(null, '', clean);
  startLobby(enterRoom, { autoJoin: Boolean(token) });
}

init();
