// RoomSocket with the session, against a fake WebSocket and a fake clock: what goes on the wire across
// drops, when reconnects happen, and when a quiet or unwelcomed socket is given up.

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import { CloseCode } from '../../Sources/ParleyServer/Public/protocol.js';
import { ChatSession, Timing } from '../../Sources/ParleyServer/Public/session.js';
import { RoomSocket } from '../../Sources/ParleyServer/Public/socket.js';

/** Timers that run only when the test advances the clock. */
class FakeClock {
  constructor() {
    this.now = 0;
    this.timers = new Map();
    this.nextId = 1;
  }
  setTimeout(fn, ms) {
    const id = this.nextId++;
    this.timers.set(id, { fn, at: this.now + ms });
    return id;
  }
  setInterval(fn, ms) {
    const id = this.nextId++;
    this.timers.set(id, { fn, at: this.now + ms, every: ms });
    return id;
  }
  clearTimeout(id) {
    this.timers.delete(id);
  }
  /** Moves time forward, running every timer that falls due, in time order. */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let next = null;
      for (const [id, t] of this.timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
      if (!next) break;
      const [id, t] = next;
      this.now = t.at;
      if (t.every) t.at += t.every; else this.timers.delete(id);
      t.fn();
    }
    this.now = end;
  }
  pending() {
    return [...this.timers.values()].filter((t) => !t.every).map((t) => t.at - this.now);
  }
}

/** Records every socket the page opens; the test plays the server. */
function fakeWebSocketClass(opened) {
  return class FakeWebSocket {
    static OPEN = 1;
    constructor(url) {
      this.url = new URL(url);
      this.readyState = FakeWebSocket.OPEN;
      this.sent = [];
      this.closedByPage = false;
      opened.push(this);
    }
    send(text) { this.sent.push(JSON.parse(text)); }
    close() { this.closedByPage = true; }
    /** The server side. */
    deliver(event) { this.onmessage({ data: JSON.stringify(event) }); }
    drop(code) {
      this.readyState = 3;
      this.onclose({ code });
    }
  };
}

function welcomeFrame(fields = {}) {
  return { type: 'welcome', room: { code: 'lobby', name: null }, nick: 'ada', session: 'secret', members: ['ada'],
    history: [], last_id: 0, truncated: false, ...fields };
}

const msg = (id, extra = {}) => ({ type: 'message', id, nick: 'bob', text: `m${id}`, ts: '2026-01-01T00:00:00Z', ...extra });

let clock, opened, session, updates, socket;

beforeEach(() => {
  clock = new FakeClock();
  opened = [];
  session = new ChatSession('lobby', { nick: 'ada' });
  updates = [];
  socket = new RoomSocket(session, (u) => updates.push(u), {
    WebSocket: fakeWebSocketClass(opened),
    now: () => clock.now,
    random: () => 0.5,
    location: { protocol: 'http:', host: 'chat.test' },
    timers: clock,
  });
  socket.start();
});

describe('RoomSocket', () => {
  test('connects with the room and nick, then resumes with since and session after a drop', () => {
    assert.equal(opened.length, 1);
    assert.equal(opened[0].url.href, 'ws://chat.test/ws?room=lobby&nick=ada');
    opened[0].deliver(welcomeFrame({ history: [msg(1), msg(2)] }));
    opened[0].drop(CloseCode.goingAway);
    assert.equal(updates.at(-1).status, 'reconnecting…');
    assert.deepEqual(clock.pending(), [300]);
    clock.advance(299);
    assert.equal(opened.length, 1, 'waits out the backoff');
    clock.advance(1);
    assert.equal(opened.length, 2);
    assert.deepEqual([...opened[1].url.searchParams], [['room', 'lobby'], ['nick', 'ada'], ['session', 'secret'], ['since', '2']]);
  });

  test('a message typed during the outage is sent once welcomed again, with the client_id it got offline', () => {
    opened[0].deliver(welcomeFrame());
    opened[0].drop(CloseCode.policyViolation);
    const typed = session.say('while away', { ts: 't', randomBytes: (n) => new Uint8Array(n).fill(7) });
    socket.handle(typed);
    assert.deepEqual(opened[0].sent, [], 'nothing written to a closed socket');
    clock.advance(300);
    assert.deepEqual(opened[1].sent, [], 'nothing before welcome');
    opened[1].deliver(welcomeFrame());
    assert.deepEqual(opened[1].sent, [{ type: 'message', text: 'while away', client_id: '07'.repeat(16) }]);
    opened[1].deliver(msg(1, { nick: 'ada', text: 'while away', client_id: '07'.repeat(16) }));
    assert.deepEqual(session.outbox, []);
  });

  test('failed attempts back off 300, 600, 1200 ms … up to 5 s; welcome starts over', () => {
    const waits = [];
    for (let i = 0; i < 6; i++) {
      opened.at(-1).drop(CloseCode.goingAway);
      waits.push(clock.pending()[0]);
      clock.advance(clock.pending()[0]);
    }
    assert.deepEqual(waits, [300, 600, 1200, 2400, 4800, 5000]);
    opened.at(-1).deliver(welcomeFrame());
    opened.at(-1).drop(CloseCode.goingAway);
    assert.deepEqual(clock.pending(), [300]);
  });

  test('a socket that never says welcome is closed after 10 s', () => {
    clock.advance(Timing.welcomeTimeoutMs - 1);
    assert.equal(opened[0].closedByPage, false);
    clock.advance(1);
    assert.equal(opened[0].closedByPage, true);
  });

  test('a quiet socket is pinged, then closed; frames keep it alive', () => {
    opened[0].deliver(welcomeFrame());
    clock.advance(25_000);
    assert.deepEqual(opened[0].sent, []);
    clock.advance(5_000);
    assert.deepEqual(opened[0].sent, [{ type: 'ping' }]);
    opened[0].deliver({ type: 'pong' });
    clock.advance(40_000);
    assert.equal(opened[0].closedByPage, false);
    clock.advance(10_000);
    assert.equal(opened[0].closedByPage, true);
  });

  test('replaced by another tab (4001): no reconnect, not even when the network comes back', () => {
    opened[0].deliver(welcomeFrame());
    opened[0].drop(CloseCode.replaced);
    assert.deepEqual(clock.pending(), []);
    socket.reconnectNow();
    clock.advance(60_000);
    assert.equal(opened.length, 1);
    assert.equal(updates.at(-1).status, 'disconnected');
  });

  test('the network coming back skips the wait', () => {
    opened[0].drop(CloseCode.goingAway);
    socket.reconnectNow();
    assert.equal(opened.length, 2);
  });

  test('rate_limited: the outbox is resent once after the pause', () => {
    opened[0].deliver(welcomeFrame());
    socket.handle(session.say('slow', { ts: 't', randomBytes: (n) => new Uint8Array(n) }));
    opened[0].deliver({ type: 'error', code: 'rate_limited', message: 'slow down' });
    opened[0].deliver({ type: 'error', code: 'rate_limited', message: 'slow down' });
    assert.equal(opened[0].sent.length, 1);
    clock.advance(Timing.retryAfterMs);
    assert.deepEqual(opened[0].sent.map((f) => f.text), ['slow', 'slow']);
    clock.advance(Timing.retryAfterMs * 4);
    assert.equal(opened[0].sent.filter((f) => f.type === 'message').length, 2);
  });
});
