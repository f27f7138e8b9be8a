// Owners and moderation in the web UI without a browser (§12): roles and settings from welcome and
// `room`, the locked / slow-mode rules with the time handed in, the commands' frames, bans, kicks and
// the closes that end a session, and keys on the connection.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { banFrame, formatWait, leaveText, parseBans, postWaitMs, roomChange, rulesHint } from '../../Sources/ParleyServer/Public/moderation.js';
import { CloseCode, Role } from '../../Sources/ParleyServer/Public/protocol.js';
import { ChatSession, Status } from '../../Sources/ParleyServer/Public/session.js';

const bytes = () => { let n = 0; return (k) => Uint8Array.from({ length: k }, () => n++ % 256); };

function welcome(session, fields = {}, now = 0) {
  const frame = { type: 'welcome', room: { code: session.room, name: null, topic: null, locked: false, slow_mode: 0 }, nick: 'ada',
    session: 'secret', members: ['ada', 'bob'], history: [], last_id: 0, truncated: false, ...fields };
  return session.receive(JSON.stringify(frame), now);
}
const receive = (session, event, now = 0) => session.receive(JSON.stringify(event), now);
const say = (s, text, now) => s.say(text, { ts: 't', randomBytes: bytes(), now });

describe('roles and settings', () => {
  test('the key goes on the connection; welcome gives the role and the room settings', () => {
    const s = new ChatSession('r1', { nick: 'ada', key: 'owner-key-1' });
    assert.deepEqual(s.connectionParams(), [['room', 'r1'], ['nick', 'ada'], ['key', 'owner-key-1']]);
    const update = welcome(s, { role: 'owner', room: { code: 'r1', name: 'Plans', topic: 'Q3', locked: true, slow_mode: 30 } });
    assert.equal(s.role, Role.owner);
    assert.ok(s.moderates);
    assert.deepEqual(s.settings, { name: 'Plans', topic: 'Q3', locked: true, slow_mode: 30 });
    assert.ok(update.rulesChanged);
  });

  test('an older server without roles leaves everyone a member; an unknown role is a member', () => {
    const s = new ChatSession('r1');
    welcome(s, { room: { code: 'r1', name: null } });
    assert.equal(s.role, Role.member);
    welcome(s, { role: 'superuser' });
    assert.equal(s.role, Role.member);
    assert.ok(!s.moderates);
  });

  test('a room event changes only the fields it carries and says what changed to everyone', () => {
    const s = new ChatSession('r1');
    welcome(s, { room: { code: 'r1', name: 'Plans', topic: null, locked: false, slow_mode: 0 } });
    const update = receive(s, { type: 'room', room: { topic: 'Launch on Friday', locked: true } });
    assert.deepEqual(s.settings, { name: 'Plans', topic: 'Launch on Friday', locked: true, slow_mode: 0 });
    assert.deepEqual(update.lines.map((l) => l.text), ['A moderator set the topic: “Launch on Friday”, locked the room.']);
    assert.equal(update.room.name, 'Plans');
  });

  test('the settings form sends only what changed, and refuses out-of-range values in plain words', () => {
    const current = { name: 'Plans', topic: null, locked: false, slow_mode: 0 };
    assert.equal(roomChange(current, { name: ' Plans ', topic: '', locked: false, slow_mode: '0' }), null);
    assert.deepEqual(roomChange(current, { name: 'Plans', topic: 'Hi', locked: true, slow_mode: '10' }),
      { type: 'room', topic: 'Hi', locked: true, slow_mode: 10 });
    assert.deepEqual(roomChange({ ...current, topic: 'Hi' }, { name: '', topic: '', locked: false, slow_mode: 0 }),
      { type: 'room', name: null, topic: null });
    assert.match(roomChange(current, { name: 'x', topic: '', locked: false, slow_mode: '3601' }).error, /0 \(off\) to 3600/);
    assert.match(roomChange(current, { name: 'x', topic: '', locked: false, slow_mode: '1.5' }).error, /whole number/);
    assert.match(roomChange(current, { name: 'x', topic: 'é'.repeat(301), locked: false, slow_mode: 0 }).error, /300 characters/);
  });
});

describe('locked rooms and slow mode', () => {
  test('a locked room refuses a member’s message here, keeps the text, and says why', () => {
    const s = new ChatSession('r1');
    welcome(s, { room: { code: 'r1', locked: true } });
    const update = say(s, 'hello', 1000);
    assert.equal(update.queued, null);
    assert.equal(update.frames.length, 0);
    assert.match(update.lines[0].text, /locked/);
    assert.equal(postWaitMs(s.settings, s.role, null, 0), Infinity);
    assert.match(rulesHint(s.settings, s.role, null, 0), /Only its owner and moderators can post/);
  });

  test('owners and moderators are exempt from both rules', () => {
    for (const role of ['owner', 'moderator']) {
      const s = new ChatSession('r1');
      welcome(s, { role, room: { code: 'r1', locked: true, slow_mode: 60 } });
      assert.equal(say(s, 'one', 0).frames.length, 1);
      assert.equal(say(s, 'two', 1).frames.length, 1);
      assert.match(rulesHint(s.settings, s.role, 0, 1), /only you and the other moderators/);
    }
  });

  test('slow mode counts from our own echo, and the hint counts down to the next allowed send', () => {
    const s = new ChatSession('r1');
    welcome(s, { room: { code: 'r1', slow_mode: 30 } }, 0);
    const first = say(s, 'one', 1000);
    assert.equal(first.frames.length, 1);
    receive(s, { type: 'message', id: 1, nick: 'ada', text: 'one', ts: 't', client_id: first.queued.client_id }, 2000);
    assert.equal(s.lastPostAt, 2000);
    assert.equal(s.postWait(12000), 20000);
    assert.equal(rulesHint(s.settings, s.role, s.lastPostAt, 12000), 'Slow mode: you can send again in 20 s.');
    const early = say(s, 'two', 12000);
    assert.equal(early.queued, null);
    assert.match(early.lines[0].text, /send again in 20 s/);
    assert.equal(s.postWait(32000), 0);
    assert.equal(say(s, 'two', 32000).frames.length, 1);
    assert.equal(rulesHint(s.settings, s.role, s.lastPostAt, 32000), 'Slow mode is on: one message per 30 s.');
  });

  test('a rate_limited refusal under slow mode retries after the whole interval, not at once', () => {
    const s = new ChatSession('r1');
    welcome(s, { room: { code: 'r1', slow_mode: 90 } });
    const sent = say(s, 'one', 0);
    const update = receive(s, { type: 'error', code: 'rate_limited', message: 'slow mode', client_id: sent.queued.client_id });
    assert.equal(update.retryAfterMs, 90000);
    assert.equal(s.outbox.length, 1, 'still waiting to be sent');
    assert.match(update.lines[0].text, /1 min 30 s/);
  });

  test('a message refused as forbidden (the room was locked meanwhile) leaves the outbox for good', () => {
    const s = new ChatSession('r1');
    welcome(s);
    const sent = say(s, 'one', 0);
    receive(s, { type: 'room', room: { locked: true } });
    const update = receive(s, { type: 'error', code: 'forbidden', message: 'locked', client_id: sent.queued.client_id });
    assert.deepEqual(update.acknowledged, [sent.queued.client_id]);
    assert.equal(s.outbox.length, 0);
    assert.match(update.lines[0].text, /locked/);
  });

  test('waits read as people say them', () => {
    assert.equal(formatWait(1), '1 s');
    assert.equal(formatWait(59000), '59 s');
    assert.equal(formatWait(60000), '1 min');
    assert.equal(formatWait(125000), '2 min 5 s');
  });
});

describe('moderation commands and events', () => {
  test('kick, ban and unban are sent only while connected and word their refusals', () => {
    const s = new ChatSession('r1');
    assert.equal(s.moderate({ type: 'kick', nick: 'bob' }).frames.length, 0);
    welcome(s, { role: 'moderator' });
    assert.deepEqual(s.moderate({ type: 'kick', nick: 'bob' }).frames, [{ type: 'kick', nick: 'bob' }]);
    assert.deepEqual(banFrame('bob', 3600), { type: 'ban', nick: 'bob', seconds: 3600 });
    assert.deepEqual(banFrame('bob'), { type: 'ban', nick: 'bob' });
    s.moderate({ type: 'unban', nick: 'zed' });
    assert.match(receive(s, { type: 'error', code: 'not_found', message: 'x' }).lines[0].text, /Nobody by that name/);
    s.moderate({ type: 'kick', nick: 'bob' });
    assert.match(receive(s, { type: 'error', code: 'forbidden', message: 'x' }).lines[0].text, /owner and moderators/);
  });

  test('the bans reply becomes the ban list; kicks and bans are never silent', () => {
    const s = new ChatSession('r1');
    welcome(s, { role: 'owner' });
    const update = receive(s, { type: 'bans', bans: [{ nick: 'bob', until: null }, { nick: 'eve', until: '2026-12-06T12:00:00.000Z' }, { until: null }] });
    assert.ok(update.bansChanged);
    assert.deepEqual(s.bans.map((b) => [b.nick, b.until && b.until.toISOString()]), [['bob', null], ['eve', '2026-12-06T12:00:00.000Z']]);
    const left = receive(s, { type: 'leave', nick: 'bob', ts: 't', reason: 'banned' });
    assert.deepEqual(left.lines.map((l) => l.text), ['bob was banned from the room by a moderator']);
    assert.ok(left.bansChanged, 'a moderator’s ban list is refreshed');
    assert.equal(leaveText({ nick: 'x', reason: 'kicked' }), 'x was removed from the room by a moderator');
    assert.equal(leaveText({ nick: 'x' }), 'x left');
    assert.deepEqual(parseBans('nope'), []);
  });

  test('the owner’s moderator link arrives as an update', () => {
    const s = new ChatSession('r1');
    welcome(s, { role: 'owner' });
    const update = receive(s, { type: 'moderator_key', key: 'mk', url: 'http://h/r/r1#key=mk' });
    assert.deepEqual(update.moderatorLink, { key: 'mk', url: 'http://h/r/r1#key=mk' });
  });

  test('kicked, banned and deleted rooms end the session with their own words', () => {
    for (const [code, reason, words] of [[CloseCode.kicked, 'kicked', /removed you/], [CloseCode.kicked, 'banned', /banned you/],
      [CloseCode.roomDeleted, 'room deleted', /deleted by its owner/]]) {
      const s = new ChatSession('r1');
      welcome(s);
      const update = s.closed(code, reason, true);
      assert.ok(s.stopped && s.paused);
      assert.equal(update.status, Status.disconnected);
      assert.match(update.lines[0].text, words);
      assert.equal(update.roomGone, code === CloseCode.roomDeleted, 'only a deleted room forgets its key');
    }
  });

  test('a key refused before the upgrade (revoked) is dropped and the page joins as a member', () => {
    const s = new ChatSession('r1', { key: 'mod-key' });
    welcome(s, { role: 'moderator' });
    s.closed(1006, '', true);
    assert.ok(!s.closed(1006, '', false).probe, 'one failure is not yet worth a question');
    assert.ok(s.closed(1006, '', false).probe);
    const update = s.refused(403);
    assert.equal(s.key, null);
    assert.ok(!s.stopped);
    assert.match(update.lines[0].text, /Joining as a member/);
    assert.ok(!s.connectionParams().some(([k]) => k === 'key'));
    assert.ok(s.refused(403).status === Status.disconnected && s.stopped, 'refused again without a key: banned, stop');
  });
});
