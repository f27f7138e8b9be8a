// The WebSocket and its timers: opens it with the session's resume parameters, hands every frame and
// close to the session, writes the frames the session asks for, and reconnects with its backoff.
// Everything it decides comes from session.js; this file only does the I/O.

import { Timing } from './session.js';

export class RoomSocket {
  /**
   * @param {import('./session.js').ChatSession} session
   * @param {(update: import('./session.js').Update) => void} onUpdate draws and stores what changed
   * @param {{WebSocket?: typeof WebSocket, now?: () => number, random?: () => number, location?: Location,
   *   timers?: {setTimeout, clearTimeout, setInterval}}} env what the browser provides, replaceable in tests
   */
  constructor(session, onUpdate, env = {}) {
    this.session = session;
    this.onUpdate = onUpdate;
    this.WebSocket = env.WebSocket || globalThis.WebSocket;
    this.now = env.now || Date.now;
    this.random = env.random || Math.random;
    this.location = env.location || globalThis.location;
    this.timers = env.timers || globalThis;
    this.ws = null;
    this.reconnectTimer = null;
    this.welcomeTimer = null;
    this.retryTimer = null;
    this.heartbeatTimer = null;
  }

  url() {
    const scheme = this.location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${this.location.host}/ws?${new URLSearchParams(this.session.connectionParams())}`;
  }

  start() {
    this.heartbeatTimer = this.timers.setInterval(() => {
      const update = this.session.heartbeat(this.now());
      if (update.frames.length || update.close) this.handle(update);
    }, Timing.heartbeatEveryMs);
    this.connect();
  }

  connect() {
    this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.ws || this.session.paused) return;
    this.handle(this.session.connecting(this.now()));
    let ws;
    try {
      ws = new this.WebSocket(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.welcomeTimer = this.timers.setTimeout(() => {
      if (this.ws === ws && !this.session.connected) ws.close();
    }, Timing.welcomeTimeoutMs);
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onmessage = (e) => { if (this.ws === ws) this.handle(this.session.receive(e.data, this.now())); };
    ws.onclose = (e) => { if (this.ws === ws) this.closed(e.code, e.reason || '', opened); };
  }

  closed(code, reason = '', opened = true) {
    this.timers.clearTimeout(this.welcomeTimer);
    this.ws = null;
    this.handle(this.session.closed(code, reason, opened));
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.reconnectTimer || this.session.paused) return;
    this.reconnectTimer = this.timers.setTimeout(() => this.connect(), this.session.nextReconnectDelay(this.random()));
  }

  /** Skip the wait when the browser tells us the network or the tab is back. */
  reconnectNow() {
    if (this.ws || this.session.paused) return;
    this.session.reconnectNow();
    this.connect();
  }

  /** Draws an update, then carries out what it asks of the socket. */
  handle(update) {
    if (update.welcomed) this.timers.clearTimeout(this.welcomeTimer);
    this.onUpdate(update);
    for (const frame of update.frames) this.send(frame);
    if (update.retryAfterMs !== null) {
      this.retryTimer = this.timers.setTimeout(() => this.handle(this.session.retry()), update.retryAfterMs);
    }
    if (update.close && this.ws) this.ws.close();
  }

  /** Writes a command on a welcomed, open socket; anything else is dropped (the session resends what matters). */
  send(command) {
    if (!this.session.connected || !this.ws || this.ws.readyState !== this.WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(command));
    return true;
  }
}
