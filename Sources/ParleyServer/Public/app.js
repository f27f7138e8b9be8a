// Parley web client: ES modules, plain DOM, no framework, no build step.
//
//   protocol.js  the contract's values (close codes, error codes, room code and nick rules)
//   session.js   the session state machine: resume, outbox, gaps, backoff (no DOM; node --test)
//   socket.js    the WebSocket and its timers, driven by the session
//   view.js      the chat's DOM
//   lobby.js     choosing a nick and a room
//   storage.js   what survives a reload
//   app.js       this file: wires them together, the composer and the sidebar

import { ChatSession, TypingThrottle } from './session.js';
import { startLobby } from './lobby.js';
import { RoomSocket } from './socket.js';
import * as storage from './storage.js';
import { $, ChatView } from './view.js';

let session = null;
let view = null;
let socket = null;

function enterRoom(code, name, nick) {
  const path = '/r/' + encodeURIComponent(code);
  if (location.pathname !== path) history.pushState(null, '', path);
  session = new ChatSession(code, { nick, session: storage.sessionSecret.load(code), outbox: storage.outbox.load(code) });
  view = new ChatView(session);
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
  if (update.outboxChanged) storage.outbox.save(session.room, session.outbox);
  if (update.welcomed) storage.sessionSecret.save(session.room, session.session);
  if (update.renamed) storage.rememberedNick.save(update.renamed.to);
}

/** Something the user did: draw it, and send what it asks for. */
function act(update) {
  socket.handle(update);
}

// ---------- composer ----------

function submitComposer() {
  const input = $('message-input');
  const text = input.value;
  if (!text.trim()) return;
  const command = /^\/nick(?:\s+(.*))?$/s.exec(text.trim());
  if (command) {
    if (command[1]) act(session.rename(command[1]));
    else view.notice('Usage: /nick new-name', 'error');
    input.value = '';
    return;
  }
  const update = session.say(text, { ts: new Date().toISOString(), randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)) });
  act(update);
  if (!update.queued) return;
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
    if (e.key === 'Escape' && document.body.classList.contains('sidebar-open')) setSidebarOpen(false);
  });
  window.addEventListener('online', () => { if (socket) socket.reconnectNow(); });
  window.addEventListener('popstate', () => location.reload());
  document.addEventListener('visibilitychange', () => {
    if (document.hidden || !socket) return;
    view.seen();
    socket.reconnectNow();
  });
  startLobby(enterRoom);
}

init();
