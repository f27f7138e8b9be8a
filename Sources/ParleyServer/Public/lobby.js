// The lobby: choose a nick, then create a room or join one by code or invite link.

import { keyFromFragment } from './auth.js';
import { ROOM_CODE } from './protocol.js';
import { rememberedNick, roomKey } from './storage.js';
import { $ } from './view.js';

/** A bare code or a pasted invite link → the room code. */
export function parseRoomInput(value) {
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

/** The room code of an invite path `/r/{code}`; undefined for another path, null for a bad code. */
export function inviteCode(pathname) {
  const match = /^\/r\/([^/]+)\/?$/.exec(pathname);
  if (!match) return undefined;
  let code = null;
  try { code = decodeURIComponent(match[1]); } catch { code = null; }
  return code && ROOM_CODE.test(code) ? code : null;
}

function lobbyError(text) {
  const node = $('lobby-error');
  node.textContent = text || '';
  node.hidden = !text;
}

// An empty name is a valid choice: the server then hands out a guest name.
function chosenNick() {
  const nick = $('nick-input').value.trim();
  if (nick) rememberedNick.save(nick);
  return nick || null;
}

/**
 * Wires the lobby's forms. `enterRoom(code, name, nick)` is called once the user picked a room.
 */
export function startLobby(enterRoom, { autoJoin = false } = {}) {
  const remembered = rememberedNick.load();
  if (remembered) $('nick-input').value = remembered;

  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    lobbyError('');
    const code = parseRoomInput($('room-input').value);
    if (!code || !ROOM_CODE.test(code)) {
      lobbyError('Enter a room code (letters, digits, “.”, “_” or “-”) or paste an invite link.');
      $('room-input').focus();
      return;
    }
    enterRoom(code, null, chosenNick());
  });

  $('create-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    lobbyError('');
    const nick = chosenNick();
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
      // The owner key travels in the owner URL's fragment (never to the server in a URL): keep it.
      const key = typeof body.owner_url === 'string' ? keyFromFragment(new URL(body.owner_url, location.href).hash) : null;
      if (key) roomKey.save(body.code, key);
      enterRoom(body.code, body.name, nick);
    } catch (err) {
      lobbyError(`Could not create the room. ${err.message || ''}`.trim());
    } finally {
      button.disabled = false;
    }
  });

  // Opened through /r/{code}: show who invited us where, or walk straight in with a remembered nick.
  const code = inviteCode(location.pathname);
  if (code) {
    if (remembered || autoJoin) {
      enterRoom(code, null, remembered);
      return;
    }
    showInvite(code);
  } else if (code === null) {
    lobbyError('That invite link is not valid. Check it, or start a new room.');
  }
  $('nick-input').focus();
}

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
