// The lobby's reading of what the user pasted or opened.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { inviteCode, parseRoomInput } from '../../Sources/ParleyServer/Public/lobby.js';

test('a bare code, an invite link or an invite path all give the room code', () => {
  assert.equal(parseRoomInput('  lobby '), 'lobby');
  assert.equal(parseRoomInput('https://chat.example/r/Ab3_x?utm=1#top'), 'Ab3_x');
  assert.equal(parseRoomInput('chat.example/r/a%2Eb'), 'a.b');
  assert.equal(parseRoomInput('https://chat.example/elsewhere'), null);
});

test('invite paths: a valid code, a bad one (null), or not an invite at all (undefined)', () => {
  assert.equal(inviteCode('/r/lobby'), 'lobby');
  assert.equal(inviteCode('/r/lobby/'), 'lobby');
  assert.equal(inviteCode('/r/no%20spaces'), null);
  assert.equal(inviteCode('/r/%E0%A4%A'), null, 'a malformed escape');
  assert.equal(inviteCode('/r/' + 'a'.repeat(65)), null, 'longer than 64');
  assert.equal(inviteCode('/'), undefined);
});
