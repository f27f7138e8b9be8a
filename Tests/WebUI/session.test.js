// The web UI's session state machine, without a browser: resume, the outbox, gaps, duplicates, backoff
// and the heartbeat, with the time handed in (a fake clock is just a number here).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { CloseCode } from '../../Sources/ParleyServer/Public/protocol.js';
import { ChatSession, HISTORY_PAGE, Status, Timing, TypingThrottle, backoffDelay, clientIdFrom } from '../../Sources/ParleyServer/Public/session.js';

/** Deterministic "random" bytes: 0, 1, 2, … across calls, so every client_id differs. */
function counterBytes() {
  let next = 0;
  return (n) => Uint8Array.from({ length: n }, () => next++ % 256);
}

const msg = (id, extra = {}) => ({ id, nick: 'bob', text: `m${id}`, ts: '2026-01-01T00:00:00Z', ...extra });

function welcome(session, fields = {}, now = 0) {
  const frame = { type: 'welcome', room: { code: session.room, name: null }, nick: 'ada', session: 'secret', members: ['ada'],
    history: [], last_id: 0, truncated: false, ...fields };
  return session.receive(JSON.stringify(frame), now);
}

const receive = (session, event, now = 0) => session.receive(JSON.stringify(event), now);
const ids = (messages) => messages.map((m) => m.id);

describe('resume', () => {
  test('the first connection asks for the nick only; later ones resume with since and session', () => {
    const s = new ChatSession('lobby', { nick: 'ada' });
    assert.deepEqual(s.connectionParams(), [['room', 'lobby'], ['nick', 'ada']]);
    welcome(s, { history: [msg(1), msg(2)], last_id: 2 });
    assert.deepEqual(s.connectionParams(), [['room', 'lobby'], ['nick', 'ada'], ['session', 'secret'], ['since', '2']]);
    receive(s, msg(3, { type: 'message' }));
    s.closed(CloseCode.goingAway);
    assert.deepEqual(s.connectionParams().at(-1), ['since', '3']);
  });

  test('a resumed welcome shows only what was missed and says so', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1), msg(2)] });
    s.closed(CloseCode.policyViolation);
    assert.equal(s.connecting(0).status, Status.reconnecting);
    const update = welcome(s, { history: [msg(2), msg(3), msg(4)] });
    assert.deepEqual(ids(update.fresh), [3, 4]);
    assert.deepEqual(update.lines.map((l) => l.text), ['Reconnected.']);
    assert.equal(update.lines[0].after, 2, 'the notice sits before the missed messages');
    assert.equal(update.status, Status.connected);
  });

  test('rev is sent with since once a server reports one, and changes replace the messages they name', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1)] });
    assert.ok(!s.connectionParams().some(([k]) => k === 'rev'), 'an older server reports no rev: none is sent');
    welcome(s, { history: [msg(1)], rev: 4 });
    receive(s, { type: 'update', rev: 5, message: msg(1, { text: 'edited', edited_at: '2026-01-01T00:01:00Z' }) });
    assert.deepEqual(s.connectionParams().slice(-2), [['since', '1'], ['rev', '5']]);
    const update = welcome(s, { history: [], rev: 6, updates: [msg(1, { text: '', deleted: true }), msg(99)] });
    assert.deepEqual(ids(update.changed), [1], 'a change to a message not held is not invented');
    assert.equal(s.messages.get(1).deleted, true);
  });

  test('the session secret and the nick come from welcome; a taken nick is explained', () => {
    const s = new ChatSession('lobby', { nick: 'ada' });
    const update = welcome(s, { nick: 'ada-2', members: ['ada', 'ada-2'] });
    assert.equal(s.nick, 'ada-2');
    assert.equal(s.session, 'secret');
    assert.match(update.lines[0].text, /“ada” is in use here, so you are “ada-2”/);
    assert.deepEqual(s.members, ['ada', 'ada-2']);
  });
});

describe('outbox', () => {
  test('a message typed offline waits, and is sent after welcome with its client_id', () => {
    const s = new ChatSession('lobby');
    const typed = s.say('hello', { ts: 't', randomBytes: counterBytes() });
    assert.deepEqual(typed.frames, []);
    assert.equal(typed.queued.text, 'hello');
    assert.ok(typed.outboxChanged);
    const update = welcome(s);
    assert.deepEqual(update.frames, [{ type: 'message', text: 'hello', client_id: typed.queued.client_id }]);
  });

  test('a message typed online is sent at once, and its echo acknowledges it', () => {
    const s = new ChatSession('lobby');
    welcome(s);
    const typed = s.say('hi', { ts: 't', randomBytes: counterBytes() });
    const clientId = typed.queued.client_id;
    assert.deepEqual(typed.frames, [{ type: 'message', text: 'hi', client_id: clientId }]);
    const echo = receive(s, { type: 'message', ...msg(1, { nick: 'ada', text: 'hi', client_id: clientId }) });
    assert.deepEqual(echo.acknowledged, [clientId]);
    assert.deepEqual(s.outbox, []);
    assert.ok(s.isOwn(echo.fresh[0]));
  });

  test('what was unacknowledged when the socket dropped is resent, in order, under the same client_ids', () => {
    const s = new ChatSession('lobby');
    const bytes = counterBytes();
    welcome(s);
    const first = s.say('one', { ts: 't', randomBytes: bytes }).queued;
    const second = s.say('two', { ts: 't', randomBytes: bytes }).queued;
    assert.notEqual(first.client_id, second.client_id);
    s.closed(CloseCode.goingAway);
    // The server stored "one" before the drop: its echo comes in the resumed history, and only "two" is resent.
    const update = welcome(s, { history: [{ ...msg(1, { nick: 'ada', text: 'one', client_id: first.client_id }) }] });
    assert.deepEqual(update.acknowledged, [first.client_id]);
    assert.deepEqual(update.frames, [{ type: 'message', text: 'two', client_id: second.client_id }]);
  });

  test('an outbox kept by a reloaded page is resent under its own client_ids; malformed entries are dropped', () => {
    const saved = [{ client_id: 'c0ffee', text: 'kept', ts: 't' }, { text: 'no id' }, null, { client_id: 'x', text: 7 }];
    const s = new ChatSession('lobby', { outbox: saved });
    assert.deepEqual(s.outbox, [saved[0]]);
    assert.deepEqual(welcome(s).frames, [{ type: 'message', text: 'kept', client_id: 'c0ffee' }]);
    assert.ok(s.isOwn({ id: 1, nick: 'someone', text: 'kept', client_id: 'c0ffee' }));
  });

  test('client_ids are 128 random bits as 32 hex digits', () => {
    assert.equal(clientIdFrom(Uint8Array.from([0, 1, 171, 255])), '0001abff');
    const s = new ChatSession('lobby');
    const id = s.say('x', { ts: 't', randomBytes: counterBytes() }).queued.client_id;
    assert.match(id, /^[0-9a-f]{32}$/);
  });

  test('a message over welcome.limits is refused before it is sent; without limits only the server judges', () => {
    const s = new ChatSession('lobby');
    const bytes = counterBytes();
    assert.ok(s.say('x'.repeat(5000), { ts: 't', randomBytes: bytes }).queued, 'no limits known yet');
    welcome(s, { limits: { max_message_bytes: 4, max_file_bytes: 0, rate_burst: 20, rate_per_second: 5 } });
    const refused = s.say('héllo', { ts: 't', randomBytes: bytes });
    assert.equal(refused.queued, null);
    assert.deepEqual(refused.frames, []);
    assert.match(refused.lines[0].text, /6 bytes, and this server takes at most 4 bytes/);
    assert.equal(s.say('héé', { ts: 't', randomBytes: bytes }).queued, null, 'counted in UTF-8 bytes: 5 > 4');
    assert.ok(s.say('abcd', { ts: 't', randomBytes: bytes }).queued, 'the limit itself is allowed');
  });

  test('rate_limited keeps the message and retries once after a pause; a refusal naming the message drops it', () => {
    const s = new ChatSession('lobby');
    welcome(s);
    const item = s.say('again', { ts: 't', randomBytes: counterBytes() }).queued;
    const limited = receive(s, { type: 'error', code: 'rate_limited', message: 'slow down' });
    assert.equal(limited.retryAfterMs, Timing.retryAfterMs);
    assert.equal(receive(s, { type: 'error', code: 'rate_limited', message: 'slow down' }).retryAfterMs, null, 'one retry at a time');
    assert.deepEqual(s.retry().frames, [{ type: 'message', text: 'again', client_id: item.client_id }]);
    const refused = receive(s, { type: 'error', code: 'bad_request', message: 'no', client_id: item.client_id });
    assert.deepEqual(refused.acknowledged, [item.client_id]);
    assert.deepEqual(s.outbox, []);
  });
});

describe('gaps and duplicates', () => {
  test('a message seen twice is shown once', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1)] });
    assert.deepEqual(ids(receive(s, { type: 'message', ...msg(2) }).fresh), [2]);
    assert.deepEqual(ids(receive(s, { type: 'message', ...msg(2) }).fresh), []);
    assert.deepEqual(ids(receive(s, { type: 'history', messages: [msg(1), msg(2)], has_more: false }).fresh), []);
    assert.deepEqual(ids(s.sortedMessages()), [1, 2]);
  });

  test('frames that are not events are ignored', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1)] });
    for (const frame of ['not json', 'null', '[]', '{"type":7}', '{"type":"message","id":"2","nick":"x","text":"y"}']) {
      const update = s.receive(frame, 0);
      assert.deepEqual(update.fresh, []);
    }
    assert.deepEqual(ids(s.sortedMessages()), [1]);
  });

  test('a truncated resume leaves a hole that history pages fill, one request at a time, from the top', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1), msg(2)] });
    s.closed(CloseCode.goingAway);
    const resumed = welcome(s, { history: [msg(250), msg(251)], truncated: true });
    assert.deepEqual(resumed.frames, [{ type: 'history', before: 250, limit: 200 }], 'at most 200 per page');
    assert.ok(s.historyInFlight);
    assert.deepEqual(s.loadOlder().frames, [], 'nothing more while a page is on its way');
    const page = Array.from({ length: 200 }, (_, i) => msg(50 + i));
    const next = receive(s, { type: 'history', messages: page, has_more: true });
    assert.deepEqual(next.frames, [{ type: 'history', before: 50, limit: 47 }]);
    const last = receive(s, { type: 'history', messages: Array.from({ length: 47 }, (_, i) => msg(3 + i)), has_more: true });
    assert.deepEqual(last.frames, []);
    assert.equal(s.historyInFlight, false);
    assert.deepEqual(ids(s.sortedMessages()), Array.from({ length: 251 }, (_, i) => i + 1));
  });

  test('a hole that a page cannot fill is not asked for again', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1), msg(5)] });
    assert.deepEqual(receive(s, { type: 'history', messages: [], has_more: false }).frames, []);
  });

  test('a lost socket or a refused history request does not block paging for good', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(100)] });
    assert.deepEqual(s.loadOlder().frames, [{ type: 'history', before: 100, limit: HISTORY_PAGE }]);
    s.closed(CloseCode.goingAway);
    assert.equal(s.historyInFlight, false);
    welcome(s, { history: [] });
    assert.equal(s.loadOlder().frames.length, 1);
    receive(s, { type: 'error', code: 'bad_request', message: 'bad limit' });
    assert.equal(s.loadOlder().frames.length, 1);
  });

  test('nothing is sent before welcome', () => {
    const s = new ChatSession('lobby');
    assert.deepEqual(s.loadOlder().frames, []);
    assert.deepEqual(s.rename('x').frames, []);
    assert.match(s.rename('x').lines[0].text, /offline/);
  });
});

describe('closing and reconnecting', () => {
  test('the backoff doubles from 300 ms to at most 5 s, with ±25 % jitter', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, 0.5)), [300, 600, 1200, 2400, 4800, 5000]);
    assert.equal(backoffDelay(0, 0), 225);
    assert.equal(backoffDelay(2, 0.999999) < 1500, true);
    assert.equal(backoffDelay(4, 0.999999), 5000, 'the jitter never passes the cap');
  });

  test('each attempt waits longer; welcome and a returning network start over', () => {
    const s = new ChatSession('lobby');
    assert.deepEqual([1, 2, 3].map(() => s.nextReconnectDelay(0.5)), [300, 600, 1200]);
    s.reconnectNow();
    assert.equal(s.nextReconnectDelay(0.5), 300);
    s.nextReconnectDelay(0.5);
    welcome(s);
    assert.equal(s.nextReconnectDelay(0.5), 300);
  });

  test('replaced by another tab (4001), kicked or the room deleted: stop, do not reconnect', () => {
    for (const code of [CloseCode.replaced, CloseCode.kicked, CloseCode.roomDeleted]) {
      const s = new ChatSession('lobby');
      welcome(s);
      const update = s.closed(code);
      assert.ok(s.stopped, `close ${code}`);
      assert.equal(update.status, Status.disconnected);
      assert.equal(update.lines[0].kind, 'error');
    }
    const s = new ChatSession('lobby');
    assert.equal(s.closed(CloseCode.policyViolation).status, Status.connecting);
    assert.equal(s.stopped, false);
  });

  test('a quiet connection is pinged after 25 s and closed after 45 s; any frame counts as life', () => {
    let now = 1_000_000; // the fake clock
    const s = new ChatSession('lobby');
    s.connecting(now);
    assert.equal(s.heartbeat(now + 60_000).close, false, 'no heartbeat before welcome (the welcome timer covers it)');
    welcome(s, {}, now);
    now += Timing.pingAfterIdleMs;
    assert.deepEqual(s.heartbeat(now).frames, [], 'exactly 25 s is not yet idle');
    now += 1;
    assert.deepEqual(s.heartbeat(now).frames, [{ type: 'ping' }]);
    receive(s, { type: 'pong' }, now);
    now += Timing.pingAfterIdleMs;
    assert.deepEqual(s.heartbeat(now).frames, []);
    now += Timing.closeAfterIdleMs - Timing.pingAfterIdleMs + 1;
    const update = s.heartbeat(now);
    assert.ok(update.close);
    assert.deepEqual(update.frames, []);
  });
});

describe('members', () => {
  test('joins, leaves and renames keep one entry per nick, ours included', () => {
    const s = new ChatSession('lobby', { nick: 'ada' });
    welcome(s, { members: ['ada', 'bob'] });
    receive(s, { type: 'join', nick: 'cy', ts: 't' });
    receive(s, { type: 'join', nick: 'cy', ts: 't' });
    receive(s, { type: 'leave', nick: 'bob', ts: 't' });
    const renamed = receive(s, { type: 'nick', from: 'ada', to: 'ada2', ts: 't' });
    assert.deepEqual(renamed.renamed, { from: 'ada', to: 'ada2' });
    assert.deepEqual(s.members, ['ada2', 'cy']);
    assert.equal(s.nick, 'ada2');
    assert.equal(receive(s, { type: 'typing', nick: 'ada2' }).typing, null, 'our own typing is not shown');
    assert.equal(receive(s, { type: 'typing', nick: 'cy' }).typing, 'cy');
  });

  test('a rename is checked against the contract before it is sent', () => {
    const s = new ChatSession('lobby');
    welcome(s);
    assert.deepEqual(s.rename('  new  ').frames, [{ type: 'nick', nick: 'new' }]);
    assert.deepEqual(s.rename('é'.repeat(33)).frames, []);
    assert.deepEqual(s.rename('🙂'.repeat(32)).frames.length, 1, 'counted in scalars, not UTF-16 units');
  });
});

describe('typing notices', () => {
  test('the first keystroke tells the room at once; later ones within 2.1 s ask for one trailing notice', () => {
    const t = new TypingThrottle();
    let now = 50_000;
    assert.equal(t.keystroke(now), 0);
    assert.ok(t.shouldSend(now, 'h'));
    t.sent(now);
    now += 500;
    assert.equal(t.keystroke(now), Timing.typingSendEveryMs - 500);
    now += 100;
    assert.equal(t.keystroke(now), null, 'one trailing check is already due');
    now += Timing.typingSendEveryMs - 600;
    assert.ok(t.shouldSend(now, 'hello'), 'still typing 1.5 s ago: notify again');
    t.sent(now);
    now += Timing.typingSendEveryMs;
    assert.equal(t.keystroke(now), 0);
  });

  test('no notice for an empty draft, a command, or after a pause long enough for the notice to end', () => {
    const t = new TypingThrottle();
    assert.equal(t.keystroke(0), 0);
    assert.equal(t.shouldSend(0, '   '), false);
    assert.equal(t.shouldSend(0, '/nick x'), false);
    t.sent(0);
    t.keystroke(100);
    assert.equal(t.shouldSend(100 + Timing.typingShownMs + 1, 'draft'), false);
  });
});
