// Who we are to the server (§12 keys, §13 tokens) and why it turned us away: the owner or moderator key
// of a room's `#key=` fragment, the first signed token from `?auth=`, the embedding page's hook for a
// fresh token after 4005, and plain words for the closes and refusals. No DOM beyond what is handed in.

import { CloseCode } from './protocol.js';

/** The key in a location fragment `#key=KEY` (§12 owner and moderator links), or null. */
export function keyFromFragment(hash) {
  const match = /^#(?:.*&)?key=([A-Za-z0-9-]{1,200})(?:&|$)/.exec(hash || '');
  return match ? match[1] : null;
}

/** The token of a `?auth=JWT` query (the embedding page's first token), or null. */
export function tokenFromQuery(search) {
  const token = new URLSearchParams(search || '').get('auth');
  return token && /^[A-Za-z0-9_.-]+$/.test(token) ? token : null;
}

/** The page's address with the secrets taken out (`#key=`, `?auth=`), for history.replaceState. */
export function addressWithoutSecrets(url) {
  const u = new URL(url);
  u.searchParams.delete('auth');
  if (keyFromFragment(u.hash)) u.hash = '';
  return u.pathname + u.search + u.hash;
}

/** Plain words for a close after which the page does not reconnect by itself (null for the others). */
export function closeExplanation(code, reason) {
  switch (code) {
    case CloseCode.kicked:
      return reason === 'banned'
        ? 'A moderator banned you from this room. You cannot rejoin it until the ban is lifted.'
        : 'A moderator removed you from this room. You can rejoin by reloading the page.';
    case CloseCode.roomDeleted:
      return 'This room was deleted by its owner. Its messages and files are gone.';
    case CloseCode.tokenExpired:
      return 'Your sign-in expired. Waiting for the app to sign you in again…';
    case CloseCode.replaced:
      return 'This chat was opened somewhere else. Reload the page to continue here.';
    default:
      return null;
  }
}

/** Plain words for an HTTP refusal (before the upgrade, or of an upload or a room deletion). */
export function refusalExplanation(status, code) {
  if (status === 401 || code === 'unauthorized') {
    return 'The server did not accept your sign-in: it is missing, expired, or not for this room. Open the chat again from the app.';
  }
  if (status === 403 || code === 'forbidden') {
    return 'The server refused you here: you may be banned from this room, the room may be locked, or your owner or moderator link is no longer valid.';
  }
  if (status === 404) return 'This room does not exist (any more).';
  if (status === 413 || code === 'too_large') return 'That is larger than this server accepts.';
  if (status === 429) return 'Too many requests from here. Wait a moment and try again.';
  return null;
}

/**
 * Why a socket that never opened was refused. Browsers hide a failed upgrade's status, so the page asks
 * a plain `GET /ws` with the socket's own parameters: the server runs the upgrade's checks and answers
 * their refusal (401 sign-in, 403 key or ban, 404 room, 429 limits), or 400 when nothing would be refused
 * (the request is no upgrade). Resolves to that status (0 when the server could not be reached).
 */
export async function probeRefusal(fetchFn, params) {
  try {
    const response = await fetchFn(`/ws?${new URLSearchParams(params)}`, { cache: 'no-store' });
    return response.status;
  } catch {
    return 0;
  }
}

/**
 * The embedding page's hook for tokens (docs/PROTOCOL.md "Web UI hooks"): on 4005 the UI posts
 * `{type: "parley:token-expired", room}` to the window that embeds it (its parent frame) or opened it
 * (`window.opener`), and takes a new token from a `{type: "parley:token", token}` message posted by that
 * same window, at any time (not only when asked).
 */
export class TokenHook {
  /** @param {{parent: object, opener: object, self: object, addEventListener: Function}} win the window, replaceable in tests */
  constructor(win, onToken) {
    this.win = win;
    this.onToken = onToken;
    this.listener = (e) => {
      const app = this.app;
      if (!app || e.source !== app) return;
      const data = e.data;
      if (data && data.type === 'parley:token' && typeof data.token === 'string' && /^[A-Za-z0-9_.-]+$/.test(data.token)) {
        this.onToken(data.token);
      }
    };
    win.addEventListener('message', this.listener);
  }

  /** The window of the app that embeds or opened the UI, or null when there is none. */
  get app() {
    const { parent, opener, self } = this.win;
    if (parent && parent !== self) return parent;
    return opener || null;
  }

  /** Asks the app for a fresh token; false when there is none to ask. */
  request(room) {
    const app = this.app;
    if (!app) return false;
    app.postMessage({ type: 'parley:token-expired', room }, '*');
    return true;
  }
}
