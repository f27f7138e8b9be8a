// Living messages in the web UI's session (PROTOCOL §11, §15): replies, edits, deletions, reactions,
// resume with `since` and `rev`, reloading after `updates_truncated`, jumping to a message, mentions.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { CloseCode, isValidReaction } from '../../Sources/ParleyServer/Public/protocol.js';
import { ChatSession, mentions } from '../../Sources/ParleyServer/Public/session.js';

const msg = (id, extra = {}) => ({ id, nick: 'bob', text: `m${id}`, ts: '2026-01-01T00:00:00Z', ...extra });
const bytes = () => (n) => new Uint8Array(n).fill(7);

function welcome(session, fields = {}) {
  const frame = { type: 'welcome', room: { code: session.room, name: null }, nick: 'ada', session: 'secret', members: ['ada'],
    history: [], last_id: 0, truncated: false, ...fields };
  return session.receive(JSON.stringify(frame), 0);
}

const receive = (session, event) => session.receive(JSON.stringify(event), 0);
const ids = (messages) => messages.map((m) => m.id);

/** The view a client ends with: every held message in its current state. */
const view = (s) => JSON.stringify(s.sortedMessages());

describe('commands', () => {
  test('a reply carries reply_to, also when it is resent after a reconnect', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1)] });
    const said = s.say('yes', { ts: 't', randomBytes: bytes(), replyTo: 1 });
    assert.deepEqual(said.frames, [{ type: 'message', text: 'yes', client_id: said.queued.client_id, reply_to: 1 }]);
    s.closed(CloseCode.goingAway);
    const resumed = welcome(s, { history: [] });
    assert.deepEqual(resumed.frames, said.frames);
  });

  test('edit, delete and react are sent only while connected, and refused politely offline', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1, { nick: 'ada' })] });
    assert.deepEqual(s.edit(1, 'new').frames, [{ type: 'edit', id: 1, text: 'new' }]);
    assert.deepEqual(s.edit(1, 'm1').frames, [], 'an unchanged text is not sent');
    assert.equal(s.edit(1, '   ').lines[0].kind, 'error');
    assert.deepEqual(s.remove(1).frames, [{ type: 'delete', id: 1 }]);
    s.closed(CloseCode.goingAway);
    const offline = s.remove(1);
    assert.deepEqual(offline.frames, []);
    assert.equal(offline.lines[0].kind, 'error');
  });

  test('a reaction toggles: react when we have not, unreact when we have', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1, { reactions: [{ emoji: '👍', nicks: ['bob', 'ADA'] }] })] });
    assert.deepEqual(s.toggleReaction(1, '👍').frames, [{ type: 'unreact', id: 1, emoji: '👍' }]);
    assert.deepEqual(s.toggleReaction(1, '🎉').frames, [{ type: 'react', id: 1, emoji: '🎉' }]);
    assert.equal(s.toggleReaction(1, 'two words').lines[0].kind, 'error');
  });

  test('a reply to a message that is gone is dropped from the outbox, not resent', () => {
    const s = new ChatSession('lobby');
    welcome(s);
    const said = s.say('to nothing', { ts: 't', randomBytes: bytes(), replyTo: 9 });
    const refused = receive(s, { type: 'error', code: 'not_found', message: 'no such message', client_id: said.queued.client_id });
    assert.deepEqual(refused.acknowledged, [said.queued.client_id]);
    assert.match(refused.lines[0].text, /replied to is not there/);
    assert.deepEqual(s.outbox, []);
  });

  test('a change refused for being too fast says so and does not touch the outbox', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1)] });
    const said = s.say('queued', { ts: 't', randomBytes: bytes() });
    s.toggleReaction(1, '👍');
    const refused = receive(s, { type: 'error', code: 'rate_limited', message: 'slow down' });
    assert.match(refused.lines[0].text, /change was not made/);
    assert.equal(refused.retryAfterMs, null);
    assert.deepEqual(s.outbox.map((m) => m.client_id), [said.queued.client_id]);
  });

  test('reaction emoji follow the contract: joined emoji yes, white space and controls no', () => {
    assert.ok(isValidReaction('👩‍💻'));
    assert.ok(isValidReaction('+1'));
    assert.ok(!isValidReaction(''));
    assert.ok(!isValidReaction('a b'));
    assert.ok(!isValidReaction('x\u200b'));
    assert.ok(!isValidReaction('12345678901234567'));
  });

  test('the last own message is the one the up arrow edits; deleted ones are skipped', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1, { nick: 'ada' }), msg(2), msg(3, { nick: 'ada', text: '', deleted: true })] });
    assert.equal(s.lastOwnMessage().id, 1);
  });
});

describe('changes', () => {
  test('update replaces the held message; applying it twice or late is harmless', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1), msg(2)], rev: 0 });
    const edited = msg(1, { text: 'fixed', edited_at: '2026-01-01T00:01:00Z' });
    assert.deepEqual(ids(receive(s, { type: 'update', rev: 2, message: edited }).changed), [1]);
    receive(s, { type: 'update', rev: 1, message: msg(1, { text: 'older' }) });
    assert.equal(s.rev, 2, 'rev never goes back');
    receive(s, { type: 'update', rev: 3, message: msg(2, { text: '', deleted: true }) });
    receive(s, { type: 'update', rev: 3, message: msg(2, { text: '', deleted: true }) });
    assert.deepEqual(s.messages.get(2), msg(2, { text: '', deleted: true }));
  });

  test('a resumed client ends with the same view as a fresh one', () => {
    const current = [msg(1, { text: 'one!', edited_at: 'x' }), msg(2, { text: '', deleted: true }), msg(3, { reactions: [{ emoji: '👍', nicks: ['bob'] }] }), msg(4)];
    const fresh = new ChatSession('lobby');
    welcome(fresh, { history: current, rev: 5 });

    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(1), msg(2), msg(3)], rev: 1 });
    s.closed(CloseCode.goingAway);
    assert.deepEqual(s.connectionParams().slice(-2), [['since', '3'], ['rev', '1']]);
    welcome(s, { history: [current[3]], rev: 5, updates: current.slice(0, 3) });
    assert.equal(view(s), view(fresh));
    assert.equal(s.rev, 5);
  });

  test('updates_truncated reloads everything held, page by page, in its current state', () => {
    const s = new ChatSession('lobby');
    const old = Array.from({ length: 300 }, (_, i) => msg(i + 1));
    welcome(s, { history: old.slice(250) });
    receive(s, { type: 'history', messages: old.slice(0, 250).slice(-200), has_more: true });
    receive(s, { type: 'history', messages: old.slice(0, 50), has_more: false });
    assert.equal(s.minId(), 1);
    s.closed(CloseCode.goingAway);
    const current = old.map((m) => ({ ...m, text: m.text + ' edited', edited_at: 'x' }));
    const w = welcome(s, { history: [msg(301)], rev: 9000, updates: current.slice(-1000), updates_truncated: true });
    assert.deepEqual(w.frames, [{ type: 'history', before: 301, limit: 200 }]);
    const p1 = receive(s, { type: 'history', messages: current.slice(100, 300), has_more: true });
    assert.deepEqual(p1.frames, [{ type: 'history', before: 101, limit: 200 }]);
    const p2 = receive(s, { type: 'history', messages: current.slice(0, 100), has_more: false });
    assert.deepEqual(p2.frames, []);
    assert.ok(p2.reloaded);
    assert.equal(view(s), JSON.stringify([...current, msg(301)]));
  });

  test('a history page redraws only the messages whose state it changes', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: [msg(5)] });
    receive(s, { type: 'message', ...msg(6) });
    receive(s, { type: 'message', ...msg(7) });
    const page = receive(s, { type: 'history', messages: [msg(4), msg(5), msg(6), msg(7, { text: 'm7 edited', edited_at: 'x' })], has_more: true });
    assert.deepEqual(ids(page.fresh), [4]);
    assert.deepEqual(ids(page.changed), [7], 'an unchanged message held from a live event is not redrawn');
  });
});

describe('jumping to a message', () => {
  test('a held message is shown at once; an older one after history reaches it', () => {
    const s = new ChatSession('lobby');
    welcome(s, { history: Array.from({ length: 50 }, (_, i) => msg(i + 451)) });
    assert.equal(s.jumpTo(460).jump, 460);
    assert.deepEqual(s.jumpTo(100).frames, [{ type: 'history', before: 451, limit: 200 }]);
    const page = receive(s, { type: 'history', messages: Array.from({ length: 200 }, (_, i) => msg(i + 251)), has_more: true });
    assert.deepEqual(page.frames, [{ type: 'history', before: 251, limit: 161 }]);
    const last = receive(s, { type: 'history', messages: Array.from({ length: 161 }, (_, i) => msg(i + 90)), has_more: true });
    assert.equal(last.jump, 100);
    assert.deepEqual(last.frames, []);
  });
});

describe('mentions', () => {
  test('@nick counts only as a whole name, in any case', () => {
    assert.ok(mentions('hi @Ada!', 'ada'));
    assert.ok(mentions('@ada', 'ada'));
    assert.ok(!mentions('hi @adam', 'ada'));
    assert.ok(!mentions('mail ada@example.org', 'example'), 'an e-mail address is not a mention');
    assert.ok(!mentions('hi ada', 'ada'));
  });

  test('a new message from someone else mentioning us is reported; old history and our own are not', () => {
    const s = new ChatSession('lobby', { nick: 'ada' });
    assert.deepEqual(welcome(s, { history: [msg(1, { text: '@ada old' })] }).mentioned, []);
    assert.deepEqual(ids(receive(s, { type: 'message', ...msg(2, { text: 'hey @ada' }) }).mentioned), [2]);
    assert.deepEqual(receive(s, { type: 'message', ...msg(3, { nick: 'ada', text: '@ada note to self' }) }).mentioned, []);
  });
});
