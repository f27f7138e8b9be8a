// Keys and tokens in the web UI without a browser (§12, §13): secrets read from the address and taken
// out of it, the token on the connection, 4005 and the embedding page's hook, refusals in plain words.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { TokenHook, addressWithoutSecrets, closeExplanation, keyFromFragment, probeRefusal, refusalExplanation, tokenFromQuery }
  from '../../Sources/ParleyServer/Public/auth.js';
import { CloseCode } from '../../Sources/ParleyServer/Public/protocol.js';
import { ChatSession, Status } from '../../Sources/ParleyServer/Public/session.js';

const welcome = (s, fields = {}) => s.receive(JSON.stringify({ type: 'welcome', room: { code: s.room, name: null }, nick: 'ada',
  session: 'secret', members: ['ada'], history: [], last_id: 0, truncated: false, ...fields }), 0);

describe('secrets in the address', () => {
  test('the key comes from the fragment only, and both secrets leave the address', () => {
    assert.equal(keyFromFragment('#key=abc-123'), 'abc-123');
    assert.equal(keyFromFragment('#x=1&key=abc'), 'abc');
    assert.equal(keyFromFragment('#key=<script>'), null);
    assert.equal(keyFromFragment(''), null);
    assert.equal(tokenFromQuery('?auth=aaa.bbb.ccc'), 'aaa.bbb.ccc');
    assert.equal(tokenFromQuery('?auth=a b'), null);
    assert.equal(addressWithoutSecrets('http://h/r/room#key=abc'), '/r/room');
    assert.equal(addressWithoutSecrets('http://h/r/room?auth=a.b.c&x=1'), '/r/room?x=1');
    assert.equal(addressWithoutSecrets('http://h/r/room#top'), '/r/room#top');
  });
});

describe('tokens', () => {
  test('the token goes on the connection as auth; a verified welcome and join mark their members', () => {
    const s = new ChatSession('r1', { token: 'aaa.bbb.ccc' });
    assert.deepEqual(s.connectionParams(), [['room', 'r1'], ['auth', 'aaa.bbb.ccc']]);
    welcome(s, { verified: true, nick: 'ada' });
    assert.ok(s.verifiedMembers.has('ada'));
    const joined = s.receive(JSON.stringify({ type: 'join', nick: 'grace', ts: 't', verified: true }), 0);
    assert.ok(joined.membersChanged && s.verifiedMembers.has('grace'));
    s.receive(JSON.stringify({ type: 'leave', nick: 'grace', ts: 't' }), 0);
    assert.ok(!s.verifiedMembers.has('grace'));
  });

  test('4005 waits for a fresh token, then resumes with since and the new token', () => {
    const s = new ChatSession('r1', { token: 'old.old.old' });
    welcome(s, { history: [{ id: 7, nick: 'bob', text: 'hi', ts: 't' }] });
    const update = s.closed(CloseCode.tokenExpired, 'token expired', true);
    assert.ok(update.needToken && s.paused && !s.stopped);
    assert.equal(update.status, Status.disconnected);
    assert.match(update.lines[0].text, /sign-in expired/);
    const resumed = s.setToken('new.new.new');
    assert.ok(!s.paused);
    assert.match(resumed.lines[0].text, /Signed in again/);
    const params = Object.fromEntries(s.connectionParams());
    assert.equal(params.auth, 'new.new.new');
    assert.equal(params.since, '7');
  });

  test('a 401 after failed sockets asks for a token when one was used, and stops otherwise', () => {
    const withToken = new ChatSession('r1', { token: 'a.b.c' });
    assert.ok(withToken.refused(401).needToken && withToken.paused && !withToken.stopped);
    const without = new ChatSession('r1');
    const update = without.refused(401);
    assert.ok(without.stopped);
    assert.match(update.lines[0].text, /sign-in/);
    const fine = new ChatSession('r1');
    assert.equal(fine.refused(400).lines.length, 0, 'nothing refused (the probe is no upgrade): keep trying quietly');
    assert.ok(!fine.stopped);
  });

  test('repeated refusals before the upgrade are explained once, in plain words', () => {
    const s = new ChatSession('r1');
    const lines = [];
    for (let i = 0; i < 6; i++) lines.push(...s.closed(1006, '', false).lines);
    assert.equal(lines.length, 1);
    assert.match(lines[0].text, /banned from this room/);
  });

  test('the hook asks the window that embeds or opened the UI, and takes tokens only from it', () => {
    const posted = [];
    const parent = { postMessage: (m, origin) => posted.push([m, origin]) };
    let listener = null;
    const win = { parent, opener: null, self: {}, addEventListener: (type, fn) => { listener = fn; } };
    const got = [];
    const hook = new TokenHook(win, (t) => got.push(t));
    assert.ok(hook.request('r1'));
    assert.deepEqual(posted, [[{ type: 'parley:token-expired', room: 'r1' }, '*']]);
    listener({ source: {}, data: { type: 'parley:token', token: 'evil.x.y' } });
    listener({ source: parent, data: { type: 'parley:token', token: 'bad token' } });
    listener({ source: parent, data: { type: 'other', token: 'a.b.c' } });
    listener({ source: parent, data: { type: 'parley:token', token: 'good.x.y' } });
    assert.deepEqual(got, ['good.x.y']);

    const posted2 = [];
    const app = { postMessage: (m) => posted2.push(m) };
    const top = { opener: app, addEventListener() {} };
    top.parent = top.self = top;
    assert.ok(new TokenHook(top, () => {}).request('r2'), 'a window the app opened asks its opener');
    assert.deepEqual(posted2, [{ type: 'parley:token-expired', room: 'r2' }]);

    const alone = { self: null, opener: null, addEventListener() {} };
    alone.parent = alone.self = alone;
    assert.equal(new TokenHook(alone, () => {}).request('r1'), false, 'a top-level page with no opener has nobody to ask');
  });

  test('closes and refusals are explained in plain words', () => {
    assert.match(closeExplanation(CloseCode.kicked, 'kicked'), /removed you/);
    assert.match(closeExplanation(CloseCode.kicked, 'banned'), /banned you/);
    assert.match(closeExplanation(CloseCode.roomDeleted, ''), /deleted/);
    assert.match(closeExplanation(CloseCode.tokenExpired, ''), /expired/);
    assert.equal(closeExplanation(1001, ''), null);
    assert.match(refusalExplanation(401, null), /sign-in/);
    assert.match(refusalExplanation(403, null), /banned/);
    assert.match(refusalExplanation(413, null), /larger/);
    assert.equal(refusalExplanation(500, null), null);
  });

  test('the probe asks a plain GET /ws with the socket\'s own parameters and reports the status', async () => {
    const calls = [];
    const status = await probeRefusal(async (url) => { calls.push(url); return { status: 403 }; }, [['room', 'r1'], ['key', 'k 1']]);
    assert.equal(status, 403);
    assert.deepEqual(calls, ['/ws?room=r1&key=k+1']);
    assert.equal(await probeRefusal(async () => { throw new Error('offline'); }, [['room', 'r1']]), 0);
  });
});
