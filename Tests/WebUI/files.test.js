// Files in the web UI without a browser (§14): the size check against welcome.limits before a byte is
// sent, an upload's request, progress, success, refusal and cancel against a fake XMLHttpRequest, the
// tray the next message attaches, and attachments on the message frame.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Upload, UploadTray, boundedSize, cleanAttachment, fileRefusal, filesOf, formatBytes, isInlineImage, pastedName }
  from '../../Sources/ParleyServer/Public/files.js';
import { ChatSession } from '../../Sources/ParleyServer/Public/session.js';

class FakeXHR {
  static made = [];
  constructor() {
    this.headers = {};
    this.upload = {};
    this.aborted = false;
    FakeXHR.made.push(this);
  }
  open(method, url) { this.method = method; this.url = url; }
  setRequestHeader(k, v) { this.headers[k] = v; }
  send(body) { this.body = body; }
  abort() { this.aborted = true; if (this.onabort) this.onabort(); }
  /** The server side. */
  progress(loaded) { this.upload.onprogress({ loaded }); }
  answer(status, body) { this.status = status; this.responseText = JSON.stringify(body); this.onload(); }
}

const file = (name, size, type) => ({ name, size, type });
const stored = { id: 'f'.repeat(32), name: 'cat.png', type: 'image/png', size: 2000, url: `/files/${'f'.repeat(32)}/cat.png`, width: 800, height: 600 };

describe('before uploading', () => {
  test('a file over max_file_bytes is refused here with the sizes in words; an older server sets no limit', () => {
    assert.equal(fileRefusal(file('a.bin', 10, ''), { max_file_bytes: 10 }), null);
    assert.equal(fileRefusal(file('big.mov', 25_000_000, 'video/mp4'), { max_file_bytes: 10 * 1024 * 1024 }),
      '“big.mov” is 25 MB; this server takes files up to 10 MB.');
    assert.equal(fileRefusal(file('big.mov', 25_000_000, ''), null), null);
    assert.match(fileRefusal(file('a', 1, ''), null, 10), /at most 10 files/);
  });

  test('sizes, names of pasted images and the files of a paste or drop', () => {
    assert.equal(formatBytes(1), '1 byte');
    assert.equal(formatBytes(999), '999 bytes');
    assert.equal(formatBytes(1500), '1.5 KB');
    assert.equal(formatBytes(10 * 1024 * 1024), '10 MB');
    assert.equal(pastedName('image/png', Date.UTC(2026, 11, 6, 10, 30, 5)), 'pasted-2026-12-06T10-30-05.png');
    const png = file('image.png', 3, 'image/png');
    const txt = file('notes.txt', 3, 'text/plain');
    const items = [png, txt].map((f) => ({ kind: 'file', getAsFile: () => f }));
    assert.deepEqual(filesOf({ items: [...items, { kind: 'string' }] }, { imagesOnly: true }), [png]);
    assert.deepEqual(filesOf({ items: [], files: [png, txt] }), [png, txt]);
    assert.deepEqual(filesOf(null), []);
  });
});

describe('uploading', () => {
  test('the request names the file, carries its type and the credential; progress, then the attachment', () => {
    FakeXHR.made = [];
    const seen = [];
    const up = new Upload(file('cat photo.png', 2000, 'image/png'), 'cat photo.png', { room: 'r1', bearer: 'key1', XHR: FakeXHR, onChange: (u) => seen.push([u.state, u.progress]) });
    const xhr = FakeXHR.made[0];
    assert.equal(xhr.method, 'POST');
    assert.equal(xhr.url, '/api/rooms/r1/files?name=cat%20photo.png');
    assert.deepEqual(xhr.headers, { 'Content-Type': 'image/png', Authorization: 'Bearer key1' });
    xhr.progress(500);
    xhr.progress(2000);
    xhr.answer(201, stored);
    assert.deepEqual(seen, [['uploading', 0.25], ['uploading', 1], ['done', 1]]);
    assert.equal(up.attachment.id, stored.id);
  });

  test('a refusal is explained; an untyped file goes as octet-stream; cancel aborts and ignores the rest', () => {
    FakeXHR.made = [];
    const refused = new Upload(file('x', 5, ''), 'x', { room: 'r1', XHR: FakeXHR });
    assert.equal(FakeXHR.made[0].headers['Content-Type'], 'application/octet-stream');
    assert.equal(FakeXHR.made[0].headers.Authorization, undefined);
    FakeXHR.made[0].answer(413, { error: { code: 'too_large', message: 'file over the limit' } });
    assert.equal(refused.state, 'failed');
    assert.match(refused.error, /larger than this server accepts/);

    const cancelled = new Upload(file('y', 5, 'text/plain'), 'y', { room: 'r1', XHR: FakeXHR });
    cancelled.cancel();
    assert.ok(FakeXHR.made[1].aborted);
    FakeXHR.made[1].answer(201, stored);
    assert.equal(cancelled.state, 'cancelled');

    const odd = new Upload(file('z', 5, 'text/plain'), 'z', { room: 'r1', XHR: FakeXHR });
    FakeXHR.made[2].answer(201, { ...stored, url: 'javascript:alert(1)' });
    assert.equal(odd.state, 'failed', 'an attachment whose URL is not a file URL is not trusted');
  });

  test('the tray attaches finished uploads only, knows when one is still under way, and starts afresh', () => {
    FakeXHR.made = [];
    const tray = new UploadTray();
    const a = new Upload(file('a.png', 10, 'image/png'), 'a.png', { room: 'r1', XHR: FakeXHR });
    const b = new Upload(file('b.txt', 10, 'text/plain'), 'b.txt', { room: 'r1', XHR: FakeXHR });
    tray.add(a);
    tray.add(b);
    FakeXHR.made[0].answer(201, { ...stored, id: 'a'.repeat(32) });
    assert.ok(tray.busy);
    assert.deepEqual(tray.ids(), ['a'.repeat(32)]);
    tray.remove(b.key);
    assert.ok(FakeXHR.made[1].aborted && !tray.busy);
    assert.equal(tray.count, 1);
    tray.clear();
    assert.equal(tray.uploads.length, 0);
  });
});

describe('attachments in messages', () => {
  test('the message frame carries the ids, text may then be empty, and a resend carries them again', () => {
    const s = new ChatSession('r1');
    s.receive(JSON.stringify({ type: 'welcome', room: { code: 'r1' }, nick: 'ada', session: 's', members: [], history: [], last_id: 0, truncated: false }), 0);
    let n = 0;
    const update = s.say('', { ts: 't', randomBytes: (k) => Uint8Array.from({ length: k }, () => n++), attachments: ['a'.repeat(32)], now: 0 });
    assert.deepEqual(update.frames[0].attachments, ['a'.repeat(32)]);
    assert.equal(update.frames[0].text, '');
    assert.deepEqual(s.retry().frames[0].attachments, ['a'.repeat(32)]);
  });

  test('attachments shown are our server’s files only; images are bounded keeping their shape', () => {
    assert.ok(cleanAttachment(stored));
    assert.equal(cleanAttachment({ ...stored, url: 'https://evil.example/x.png' }), null);
    assert.equal(cleanAttachment({ ...stored, url: 'javascript:alert(1)' }), null);
    assert.equal(cleanAttachment({ id: 1 }), null);
    assert.ok(isInlineImage(stored));
    assert.ok(!isInlineImage({ ...stored, type: 'image/svg+xml' }), 'SVG is a download, never inline');
    assert.deepEqual(boundedSize(stored, 320, 240), { width: 320, height: 240 });
    assert.deepEqual(boundedSize({ width: 100, height: 1000 }, 320, 240), { width: 24, height: 240 });
    assert.deepEqual(boundedSize({ width: 50, height: 40 }, 320, 240), { width: 50, height: 40 });
    assert.equal(boundedSize({}, 320, 240), null);
  });
});
